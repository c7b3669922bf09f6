"""Neuron models: parameters, validation and closed forms.

One model today, ``lif`` (NEST's ``iaf_psc_delta_ps``: leaky integrate-and-fire with delta
synapses, exact spike times). A model is described by a :class:`ModelSpec` (its parameters, their
units and defaults) and a resolver that turns user values into per-neuron float64 arrays; its
closed forms live beside it, here in plain Python/numpy for the reference engine and the tests, and
in :mod:`eventsim.engine.kernels` for the compiled loop. Later models (quadratic IF, adaptive
threshold, exponential current synapses) add a spec, closed forms and a kernel branch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eventsim.distributions import describe, draw
from eventsim.errors import ValidationError, did_you_mean
from eventsim.timebase import MAX_MS, ms_to_ticks

__all__ = ["ModelSpec", "LIF", "MODELS", "MAX_VALUE", "check_magnitude", "resolve_parameters", "lif_period",
           "lif_free_potential", "lif_crossing_time"]


@dataclass(frozen=True)
class ModelSpec:
    """Parameters of a neuron model: names, units and defaults (NEST's names and units)."""

    name: str
    units: dict
    defaults: dict
    aliases: dict
    doc: str


LIF = ModelSpec(
    name="lif",
    units={"C_m": "pF", "tau_m": "ms", "g_L": "nS", "E_L": "mV", "V_th": "mV", "V_reset": "mV",
           "V_init": "mV", "t_ref": "ms", "I_e": "pA"},
    # NEST iaf_psc_delta / iaf_psc_delta_ps defaults
    defaults={"C_m": 250.0, "tau_m": 10.0, "E_L": -70.0, "V_th": -55.0, "V_reset": -70.0,
              "V_init": -70.0, "t_ref": 2.0, "I_e": 0.0},
    aliases={"V_m": "V_init"},
    doc="Leaky integrate-and-fire, delta synapses (weights are jumps in mV), exact spike times.",
)

MODELS = {"lif": LIF}

MAX_VALUE = 1e100
"""Largest magnitude of a potential or a weight (mV) and of a current (pA): sums of many inputs,
and currents times ``tau_m / C_m``, must stay finite in float64 (1e308 jumps overflowed)."""
_BOUNDED = ("E_L", "V_th", "V_reset", "V_init", "I_e")  # potentials and the current


def check_magnitude(values, where: str, unit: str) -> None:
    """Raise ValidationError if a (finite) value exceeds :data:`MAX_VALUE` in magnitude."""
    a = np.atleast_1d(np.asarray(values, dtype=np.float64))
    bad = np.flatnonzero(np.abs(a) > MAX_VALUE)
    if bad.size:
        raise ValidationError(where, f"must be at most {MAX_VALUE:g} {unit} in magnitude, got {a[bad[0]]:g}")

_MAX_TREF_TAUS = 300.0  # the compiled engine's frame needs exp(t_ref / tau_m) to stay finite
_MIN_TAU_MS = 1e-6  # 1 ns, the clock's tick; the compiled engine loses spikes below ~1e-8 ms (measured)


def _source(key: str, given: dict) -> str:
    """The parameter the user gave for ``key`` (``g_L`` when ``tau_m`` was computed from it)."""
    return "g_L" if key == "tau_m" and "g_L" in given else key


def _check_time_scales(values: dict, given: dict, where: str) -> None:
    """``tau_m`` at least 1 ns and ``t_ref`` in [0, 1e11] ms and at most 300 ``tau_m``; blames the
    parameter that was given (``tau_m``/``g_L`` unless only ``t_ref`` was)."""
    tau, t_ref = values["tau_m"], values["t_ref"]
    if np.any(tau < _MIN_TAU_MS):
        raise ValidationError(f"{where}.{_source('tau_m', given)}", f"tau_m must be at least {_MIN_TAU_MS:g} ms "
                                                                    f"(1 ns), got {tau.min():g} ms")
    if np.any(t_ref < 0) or np.any(t_ref > MAX_MS):
        bad = t_ref[(t_ref < 0) | (t_ref > MAX_MS)][0]
        raise ValidationError(f"{where}.t_ref", f"must be in [0, {MAX_MS:g}] ms, got {bad:g}")
    bad = t_ref / tau > _MAX_TREF_TAUS  # (not t_ref > 300 tau: that overflows for tau_m near 1e308)
    if bad.any():
        k = int(np.argmax(bad))
        only_t_ref = "t_ref" in given and "tau_m" not in given and "g_L" not in given
        key = "t_ref" if only_t_ref else _source("tau_m", given)
        raise ValidationError(f"{where}.{key}", f"t_ref ({t_ref[k]:g} ms) must be at most {_MAX_TREF_TAUS:g} tau_m "
                                                f"({_MAX_TREF_TAUS:g} * {tau[k]:g} ms)")


def resolve_parameters(model: str, n: int, params: dict, rng: np.random.Generator, where: str) -> dict:
    """Validate a population's parameters and return per-neuron arrays.

    Parameters
    ----------
    model : str
        Model name (``"lif"``).
    n : int
        Population size.
    params : dict
        User values: scalars, arrays of length ``n`` or distributions; ``g_L`` (nS) may replace
        ``tau_m`` (``tau_m = C_m / g_L``).
    rng : numpy.random.Generator
        Stream for distributed values.
    where : str
        Prefix for error messages, e.g. ``"populations.exc"``.

    Returns
    -------
    dict
        float64 arrays ``C_m, tau_m, E_L, V_th, V_reset, V_init, I_e`` and int64 ``t_ref`` (ticks).

    Raises
    ------
    ValidationError
        Unknown parameter (or one given under two names, ``V_m`` and ``V_init``), non-finite
        value, a potential or current above :data:`MAX_VALUE`, ``V_reset >= V_th``, ``C_m`` not
        positive, ``tau_m`` below 1e-6 ms (1 ns), ``t_ref`` outside [0, 1e11] ms or more than 300
        ``tau_m``, or ``E_L + I_e tau_m / C_m`` not finite.
        The error names the parameter that was given (``tau_m``/``g_L`` rather than a default
        ``t_ref``, ``V_th`` rather than a default ``V_reset``).
    """
    if not isinstance(model, str) or model not in MODELS:
        shown = repr(model) if isinstance(model, str) else describe(model)
        raise ValidationError(f"{where}.model", f"unknown model {shown}; available: {sorted(MODELS)}"
                              + did_you_mean(model, MODELS))
    spec = MODELS[model]
    given, names_given = {}, {}
    for name, value in params.items():
        key = spec.aliases.get(name, name)
        if key not in spec.units:
            raise ValidationError(f"{where}.{key}", f"unknown parameter of model {model!r}; known: "
                                  + ", ".join(spec.units) + did_you_mean(key, spec.units))
        if key in given:
            raise ValidationError(f"{where}.{name}", f"{names_given[key]} and {name} are the same parameter "
                                                     f"({key}); give only one of them")
        given[key], names_given[key] = value, name
    if "g_L" in given and "tau_m" in given:
        raise ValidationError(f"{where}.g_L", "give either tau_m (ms) or g_L (nS), not both")
    values = {}
    names = [k for k in spec.defaults if k != "tau_m"] + ["tau_m"]
    for key in names:
        if key == "tau_m" and "g_L" in given:
            g_L = draw(given["g_L"], n, rng, f"{where}.g_L")
            if np.any(~(g_L > 0)):
                raise ValidationError(f"{where}.g_L", f"must be > 0 nS, got {g_L[~(g_L > 0)][0]}")
            with np.errstate(over="ignore"):
                values["tau_m"] = values["C_m"] / g_L
            if not np.all(np.isfinite(values["tau_m"])):
                raise ValidationError(f"{where}.g_L", f"tau_m = C_m / g_L overflows, got g_L={g_L.min()} nS")
            continue
        values[key] = draw(given.get(key, spec.defaults[key]), n, rng, f"{where}.{key}")
    for key, arr in values.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValidationError(f"{where}.{key}", f"must be finite, got {arr[bad][0]}")
    for key in _BOUNDED:
        check_magnitude(values[key], f"{where}.{key}", spec.units[key])
    for key in ("C_m", "tau_m"):
        if np.any(values[key] <= 0):
            raise ValidationError(f"{where}.{_source(key, given)}",
                                  f"must be > 0 {spec.units[key]}, got {values[key].min()}")
    _check_time_scales(values, given, where)
    with np.errstate(over="ignore", invalid="ignore"):
        v_inf = lif_v_inf(values["E_L"], values["I_e"], values["tau_m"], values["C_m"])
    bad = ~np.isfinite(v_inf)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValidationError(f"{where}.I_e", f"V_inf = E_L + I_e tau_m / C_m overflows with I_e={values['I_e'][k]} "
                                              f"pA, tau_m={values['tau_m'][k]} ms, C_m={values['C_m'][k]} pF")
    bad = values["V_reset"] >= values["V_th"]
    if bad.any():
        k = int(np.argmax(bad))
        key, what = ("V_th", "must be above V_reset") if "V_th" in given and "V_reset" not in given else \
            ("V_reset", "must be below V_th")
        raise ValidationError(f"{where}.{key}", f"{what}, got V_reset={values['V_reset'][k]} >= "
                                                f"V_th={values['V_th'][k]} mV")
    values["t_ref"] = ms_to_ticks(values["t_ref"])
    return values


# ---------------------------------------------------------------------------------------------
# Closed forms of the LIF model (ms, mV, pA, pF)
# ---------------------------------------------------------------------------------------------
def lif_v_inf(E_L: float, I_e: float, tau_m: float, C_m: float) -> float:
    """Asymptotic potential ``E_L + I_e tau_m / C_m`` in mV."""
    return E_L + I_e * tau_m / C_m


def lif_free_potential(t: float, v0: float, v_inf: float, tau_m: float) -> float:
    """Potential ``t`` ms after being ``v0`` with no input: ``v_inf + (v0 - v_inf) exp(-t/tau_m)``."""
    return v_inf + (v0 - v_inf) * math.exp(-t / tau_m)


def lif_crossing_time(v0: float, v_inf: float, v_th: float, tau_m: float) -> float:
    """Time in ms for the free potential to go from ``v0`` to ``v_th`` (inf if it never does)."""
    if v_inf <= v_th or v0 >= v_th:
        return 0.0 if v0 >= v_th else math.inf
    return tau_m * math.log((v0 - v_inf) / (v_th - v_inf))


def lif_period(*, tau_m: float, V_th: float, V_reset: float, t_ref: float, v_inf: float) -> float:
    """Firing period in ms under constant suprathreshold drive: ``t_ref + tau_m ln((V_inf - V_reset)/(V_inf - V_th))``."""
    return t_ref + lif_crossing_time(V_reset, v_inf, V_th, tau_m)
