"""Neuron models: the registry, and the parameter resolver that every model shares.

A neuron model is one module in this package holding everything about it: its parameters
(``SPEC``: names, units, defaults; ``validate``: its own checks), its closed forms in plain Python
(one definition each), and ``ReferenceOps``, the operations the reference engine calls (advance
the state to t, apply a batch of inputs, test / fire / reset, time to the next autonomous spike).
Adding a model is one new module plus its line in :data:`REGISTRY`, its tests and its docs.

* ``lif`` (:mod:`eventsim.models.lif`): leaky integrate-and-fire, delta synapses, optional
  adaptive threshold; ``delta_theta = 0`` is NEST's ``iaf_psc_delta_ps``.
* ``qif`` (:mod:`eventsim.models.qif`): quadratic integrate-and-fire, delta synapses.
* ``lif_psc_exp`` (:mod:`eventsim.models.lif_psc_exp`): leaky integrate-and-fire, exponential current
  synapses (NEST's ``iaf_psc_exp_ps``, with lossless crossing detection); weights onto it are currents in pA.

A weight's unit is that of its target's model: a jump of V in mV onto ``lif`` and ``qif``, a current
in pA onto ``lif_psc_exp``. Both engines run every model.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from eventsim.distributions import describe, draw
from eventsim.errors import ValidationError, did_you_mean
from eventsim.models import lif, lif_psc_exp, qif
from eventsim.models.spec import MAX_VALUE, ModelSpec, check_magnitude, source
from eventsim.timebase import ms_to_ticks

__all__ = ["ModelSpec", "REGISTRY", "MODELS", "LIF", "QIF", "LIF_PSC_EXP", "MAX_VALUE", "check_magnitude", "model_module",
           "resolve_parameters", "lif_period", "lif_free_potential", "lif_crossing_time"]

REGISTRY: dict[str, ModuleType] = {"lif": lif, "qif": qif, "lif_psc_exp": lif_psc_exp}
"""Model name -> its module (``SPEC``, ``validate``, closed forms, ``ReferenceOps``); the order
gives each model its id (``Prepared.model_id``)."""

MODELS: dict[str, ModelSpec] = {name: m.SPEC for name, m in REGISTRY.items()}
"""Model name -> :class:`ModelSpec`."""

LIF, QIF, LIF_PSC_EXP = lif.SPEC, qif.SPEC, lif_psc_exp.SPEC

# The public closed forms of the LIF model, under their historical names.
lif_period, lif_free_potential, lif_crossing_time = lif.period, lif.free_potential, lif.crossing_time

EXTRA_PARAMETERS = {"V_c": np.nan, "delta_theta": 0.0, "tau_theta": np.inf, "tau_syn_ex": np.nan,
                    "tau_syn_in": np.nan}
"""Per-neuron parameters that not every model has, with the value stored for the others."""


def model_module(model, where: str) -> ModuleType:
    """The module of model ``model``; ValidationError at ``<where>.model`` listing the known models."""
    if not isinstance(model, str) or model not in REGISTRY:
        shown = repr(model) if isinstance(model, str) else describe(model)
        raise ValidationError(f"{where}.model", f"unknown model {shown}; known models: {', '.join(REGISTRY)}"
                              + did_you_mean(model, REGISTRY))
    return REGISTRY[model]


def _given(spec: ModelSpec, params: dict, where: str) -> dict:
    """User values by canonical name; unknown names and one parameter given twice are refused."""
    given, names_given = {}, {}
    for name, value in params.items():
        key = spec.aliases.get(name, name)
        if key not in spec.units:
            raise ValidationError(f"{where}.{key}", f"unknown parameter of model {spec.name!r}; known: "
                                  + ", ".join(spec.units) + did_you_mean(key, spec.units))
        if key in given:
            raise ValidationError(f"{where}.{name}", f"{names_given[key]} and {name} are the same parameter "
                                                     f"({key}); give only one of them")
        given[key], names_given[key] = value, name
    if "g_L" in given and "tau_m" in given:
        raise ValidationError(f"{where}.g_L", "give either tau_m (ms) or g_L (nS), not both")
    return given


def _draw_all(spec: ModelSpec, n: int, given: dict, rng: np.random.Generator, where: str) -> dict:
    """Per-neuron float64 arrays of every parameter (``tau_m`` last: it may be ``C_m / g_L``)."""
    values = {}
    for key in [k for k in spec.defaults if k != "tau_m"] + ["tau_m"]:
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
    return values


def resolve_parameters(model: str, n: int, params: dict, rng: np.random.Generator, where: str) -> dict:
    """Validate a population's parameters and return per-neuron arrays.

    Parameters
    ----------
    model : str
        Model name, a key of :data:`REGISTRY` (``"lif"``, ``"qif"``, ``"lif_psc_exp"``).
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
        float64 arrays of every parameter of the model (``V_peak`` of ``qif`` also as ``V_th``),
        int64 ``t_ref`` (ticks), and ``model_id`` (int, the model's index in :data:`REGISTRY`).

    Raises
    ------
    ValidationError
        Unknown model (the message lists the known ones) or parameter (or one given under two
        names, ``V_m`` and ``V_init``), a non-finite value, a potential or current above
        :data:`MAX_VALUE`, ``C_m`` or ``tau_m`` not positive, and the model's own checks (its
        ``validate``: for ``lif`` ``V_reset >= V_th``, ``t_ref`` outside [0, 1e11] ms or more than
        300 ``tau_m``, ``delta_theta < 0``...). The error names the parameter that was given
        (``tau_m``/``g_L`` rather than a default ``t_ref``, ``V_th`` rather than a default ``V_reset``).
    """
    module = model_module(model, where)
    spec = module.SPEC
    given = _given(spec, params, where)
    values = _draw_all(spec, n, given, rng, where)
    for key, arr in values.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValidationError(f"{where}.{key}", f"must be finite, got {arr[bad][0]}")
    for key in spec.bounded:
        check_magnitude(values[key], f"{where}.{key}", spec.units[key])
    for key in ("C_m", "tau_m"):
        if np.any(values[key] <= 0):
            raise ValidationError(f"{where}.{source(key, given)}",
                                  f"must be > 0 {spec.units[key]}, got {values[key].min()}")
    module.validate(values, given, where)
    values["V_th"] = values[spec.threshold]
    values["t_ref"] = ms_to_ticks(values["t_ref"])
    for key, fill in EXTRA_PARAMETERS.items():
        values.setdefault(key, np.full(n, fill))
    values["model_id"] = list(REGISTRY).index(model)
    return values
