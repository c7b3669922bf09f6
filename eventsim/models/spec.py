"""What every neuron model shares: the :class:`ModelSpec` record and the generic value checks.

Kept apart from :mod:`eventsim.models` (the registry) so that model modules can import it without
a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventsim.errors import ValidationError
from eventsim.timebase import MAX_MS

__all__ = ["ModelSpec", "MAX_VALUE", "check_magnitude", "check_time_scales", "source"]


@dataclass(frozen=True)
class ModelSpec:
    """Parameters of a neuron model: names, units and defaults (NEST's names and units).

    Attributes
    ----------
    name : str
        The model's name in the API and in scenario files.
    units : dict
        Parameter name -> unit; the keys are every parameter the user may give.
    defaults : dict
        Parameter name -> default value (every resolved parameter, ``tau_m`` included).
    aliases : dict
        Alternative name -> parameter name (``V_m`` -> ``V_init``).
    bounded : tuple
        Parameters whose magnitude is limited to :data:`MAX_VALUE` (potentials and currents).
    threshold : str
        The parameter that is stored in ``Prepared.V_th`` (``V_th``, or ``V_peak`` for ``qif``).
    doc : str
        One-line description.
    """

    name: str
    units: dict
    defaults: dict
    aliases: dict
    bounded: tuple
    threshold: str
    doc: str


MAX_VALUE = 1e100
"""Largest magnitude of a potential or a weight (mV) and of a current (pA): sums of many inputs,
and currents times ``tau_m / C_m``, must stay finite in float64 (1e308 jumps overflowed)."""

_MAX_TREF_TAUS = 300.0  # the compiled engine's frame needs exp(t_ref / tau_m) to stay finite
MIN_TAU_MS = 1e-6  # 1 ns, the clock's tick; the compiled engine loses spikes below ~1e-8 ms (measured)
MIN_PERIOD_MS = 1e-12
"""A neuron with ``t_ref = 0`` that would fire again sooner than this after a spike (the resolution of
crossing times) fires without end at one time: both engines stop the run (:func:`eventsim.workload.runaway_error`)."""


def check_magnitude(values, where: str, unit: str) -> None:
    """Raise ValidationError if a (finite) value exceeds :data:`MAX_VALUE` in magnitude."""
    a = np.atleast_1d(np.asarray(values, dtype=np.float64))
    bad = np.flatnonzero(np.abs(a) > MAX_VALUE)
    if bad.size:
        raise ValidationError(where, f"must be at most {MAX_VALUE:g} {unit} in magnitude, got {a[bad[0]]:g}")


def source(key: str, given: dict) -> str:
    """The parameter the user gave for ``key`` (``g_L`` when ``tau_m`` was computed from it)."""
    return "g_L" if key == "tau_m" and "g_L" in given else key


def check_time_scales(values: dict, given: dict, where: str, max_tref_taus: float = _MAX_TREF_TAUS) -> None:
    """``tau_m`` at least 1 ns and ``t_ref`` in [0, 1e11] ms and at most ``max_tref_taus`` ``tau_m``
    (300 by default: the compiled engine's frame); blames the parameter that was given
    (``tau_m``/``g_L`` unless only ``t_ref`` was)."""
    tau, t_ref = values["tau_m"], values["t_ref"]
    if np.any(tau < MIN_TAU_MS):
        raise ValidationError(f"{where}.{source('tau_m', given)}", f"tau_m must be at least {MIN_TAU_MS:g} ms "
                                                                   f"(1 ns), got {tau.min():g} ms")
    if np.any(t_ref < 0) or np.any(t_ref > MAX_MS):
        bad = t_ref[(t_ref < 0) | (t_ref > MAX_MS)][0]
        raise ValidationError(f"{where}.t_ref", f"must be in [0, {MAX_MS:g}] ms, got {bad:g}")
    bad = t_ref / tau > max_tref_taus  # (not t_ref > 300 tau: that overflows for tau_m near 1e308)
    if bad.any():
        k = int(np.argmax(bad))
        only_t_ref = "t_ref" in given and "tau_m" not in given and "g_L" not in given
        key = "t_ref" if only_t_ref else source("tau_m", given)
        raise ValidationError(f"{where}.{key}", f"t_ref ({t_ref[k]:g} ms) must be at most {max_tref_taus:g} tau_m "
                                                f"({max_tref_taus:g} * {tau[k]:g} ms)")
