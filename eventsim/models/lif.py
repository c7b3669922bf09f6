"""The ``lif`` model: leaky integrate-and-fire, delta synapses, optional adaptive threshold.

``tau_m dV/dt = -(V - E_L) + (tau_m / C_m) (I_e + I(t))``; a delta input adds its weight (mV) to V.
The neuron spikes at the first time ``V >= theta = V_th + a``; at a spike ``a += delta_theta`` (``a``
taken at the spike time) and V is clamped at ``V_reset`` for ``t_ref``; ``tau_theta da/dt = -a``
always, also while refractory. ``delta_theta = 0`` (the default) is NEST's ``iaf_psc_delta_ps``.

Everything about the model is here: its parameters (:data:`SPEC`, :func:`validate`), its closed
forms in plain Python (one definition each; the reference engine and the tests call them) and
:class:`ReferenceOps`, the per-model interface of the reference engine. The compiled engine's
frame-based version of plain LIF lives in :mod:`eventsim.engine.lif_frame`; neurons with an adaptive
threshold run there on the generic path (:mod:`eventsim.engine.generic`), which calls this module's
closed forms and state operations themselves (``register_jitable``: plain Python that Numba also compiles).
Units: ms, mV, pA, pF.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from eventsim.errors import ValidationError
from eventsim.models.spec import ModelSpec, check_time_scales, source
from eventsim.timebase import TICK_MS

__all__ = ["SPEC", "validate", "v_inf", "free_potential", "crossing_time", "period", "threshold_gap",
           "adaptive_crossing_time", "advance", "advance_clamped", "fires", "reset", "ReferenceOps"]

SPEC = ModelSpec(
    name="lif",
    units={"C_m": "pF", "tau_m": "ms", "g_L": "nS", "E_L": "mV", "V_th": "mV", "V_reset": "mV",
           "V_init": "mV", "t_ref": "ms", "I_e": "pA", "delta_theta": "mV", "tau_theta": "ms"},
    # NEST iaf_psc_delta / iaf_psc_delta_ps defaults; delta_theta = 0: no adaptation
    defaults={"C_m": 250.0, "tau_m": 10.0, "E_L": -70.0, "V_th": -55.0, "V_reset": -70.0,
              "V_init": -70.0, "t_ref": 2.0, "I_e": 0.0, "delta_theta": 0.0, "tau_theta": 100.0},
    aliases={"V_m": "V_init"},
    bounded=("E_L", "V_th", "V_reset", "V_init", "I_e", "delta_theta"),
    threshold="V_th",
    doc="Leaky integrate-and-fire, delta synapses (weights are jumps in mV), exact spike times; "
        "optional adaptive threshold (delta_theta, tau_theta).",
)

SOLVER_TOL_MS = 1e-12
"""Width (ms) of the bracket the adaptive-threshold crossing is refined to (and at most 4 ulp of t)."""


def validate(values: dict, given: dict, where: str) -> None:
    """Model-specific checks on resolved per-neuron arrays (see :func:`eventsim.models.resolve_parameters`)."""
    check_time_scales(values, given, where)
    check_v_inf_and_reset(values, given, where)
    if np.any(values["delta_theta"] < 0):
        raise ValidationError(f"{where}.delta_theta", f"must be >= 0 mV, got {values['delta_theta'].min()}")
    if np.any(~(values["tau_theta"] >= 1e-6)):
        raise ValidationError(f"{where}.tau_theta", f"must be at least 1e-06 ms (1 ns), got "
                                                    f"{values['tau_theta'].min()}")


def check_v_inf_and_reset(values: dict, given: dict, where: str) -> None:
    """The checks every LIF-like model makes: ``V_inf`` finite (blamed on ``I_e``) and ``V_reset < V_th``
    (blamed on the one of the two the user gave)."""
    with np.errstate(over="ignore", invalid="ignore"):
        vi = v_inf(values["E_L"], values["I_e"], values["tau_m"], values["C_m"])
    bad = ~np.isfinite(vi)
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


# ---------------------------------------------------------------------------------------------
# Closed forms (ms, mV, pA, pF)
# ---------------------------------------------------------------------------------------------
@register_jitable
def v_inf(E_L, I, tau_m, C_m):
    """Asymptotic potential ``E_L + I (tau_m / C_m)`` in mV (scalars or arrays).

    Written with ``tau_m / C_m`` first, the compiled engine's float64 operations, so that both
    engines predict bit-identical crossings."""
    return E_L + I * (tau_m / C_m)


@register_jitable
def free_potential(t: float, v0: float, v_inf: float, tau_m: float) -> float:
    """Potential ``t`` ms after being ``v0`` with no input: ``v_inf + (v0 - v_inf) exp(-t/tau_m)``."""
    return v_inf + (v0 - v_inf) * math.exp(-t / tau_m)


@register_jitable
def crossing_time(v0: float, v_inf: float, v_th: float, tau_m: float) -> float:
    """Time in ms for the free potential to go from ``v0`` to the fixed threshold ``v_th``.

    ``tau_m ln((v0 - v_inf)/(v_th - v_inf))``; 0 if ``v0 >= v_th``, inf if it never gets there
    (``v_inf <= v_th``, or ``v_inf`` above ``v_th`` by a subnormal amount)."""
    if v0 >= v_th:
        return 0.0
    if v_inf <= v_th:
        return math.inf
    # v < v_th < v_inf, and float subtraction is monotone, so the ratio is >= 1 and x >= 0.
    x = max(0.0, tau_m * math.log((v0 - v_inf) / (v_th - v_inf)))
    return x if math.isfinite(x) else math.inf


def period(*, tau_m: float, V_th: float, V_reset: float, t_ref: float, v_inf: float) -> float:
    """Firing period in ms under constant suprathreshold drive (no adaptation):
    ``t_ref + tau_m ln((V_inf - V_reset)/(V_inf - V_th))``."""
    return t_ref + crossing_time(V_reset, v_inf, V_th, tau_m)


def rate_bound(p, lo: int, hi: int) -> np.ndarray:
    """Firing rate of neurons ``lo..hi`` of ``p`` (a Prepared) under their constant current alone, in
    spikes per ms: ``1 / period`` where ``V_inf > V_th``, else 0; inf where the period rounds to 0
    (``t_ref = 0`` far above threshold). Without adaptation, so an upper bound when ``delta_theta > 0``.
    Vectorised :func:`period`, for the run-size estimate (eventsim.workload)."""
    tau_m, v_th, v_reset = p.tau_m[lo:hi], p.V_th[lo:hi], p.V_reset[lo:hi]
    vi = v_inf(p.E_L[lo:hi], p.I_e[lo:hi], tau_m, p.C_m[lo:hi])
    driven = vi > v_th
    rate = np.zeros(hi - lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = tau_m * np.log((v_reset - vi) / (v_th - vi))
        per = p.t_ref[lo:hi] * TICK_MS + np.where(np.isfinite(crossing), np.maximum(crossing, 0.0), np.inf)
        rate[driven] = 1.0 / per[driven]
    return rate


@register_jitable
def threshold_gap(t: float, v0: float, a0: float, v_inf: float, v_th: float, tau_m: float,
                  tau_theta: float) -> float:
    """``V(t) - theta(t)`` in mV, ``t`` ms after ``(V, a) = (v0, a0)`` with no input:
    ``(v_inf - v_th) + (v0 - v_inf) exp(-t/tau_m) - a0 exp(-t/tau_theta)``."""
    return (v_inf - v_th) + (v0 - v_inf) * math.exp(-t / tau_m) - a0 * math.exp(-t / tau_theta)


@register_jitable
def adaptive_crossing_time(v0: float, a0: float, v_inf: float, v_th: float, tau_m: float,
                           tau_theta: float) -> float:
    """First time in ms at which ``V(t) >= V_th + a(t)`` with no input, or inf.

    ``g(t) = c + A exp(-t/tau_m) - a0 exp(-t/tau_theta)`` (``c = v_inf - v_th``, ``A = v0 - v_inf``)
    has at most one extremum, at ``t*`` where ``A/tau_m exp(-t/tau_m) = a0/tau_theta exp(-t/tau_theta)``,
    so ``[0, t*]`` and ``[t*, inf)`` are monotone pieces. The first piece whose far end has
    ``g >= 0`` brackets the root (on the unbounded piece ``g`` tends to ``c``; it is >= 0 by
    ``t_up``, where both exponentials are below ``c/2``); a safeguarded Newton iteration refines it.
    The result ``b`` has ``g(b) >= 0`` and the first crossing lies in ``(b - 1e-12 ms, b]``
    (or within 4 ulp of ``b`` when that is wider).

    Plain Python that Numba compiles too (``register_jitable``): the compiled engine calls this very
    definition (:mod:`eventsim.engine.generic`), so both engines compute the same float64 operations.
    """
    if a0 == 0.0:
        return crossing_time(v0, v_inf, v_th, tau_m)
    if threshold_gap(0.0, v0, a0, v_inf, v_th, tau_m, tau_theta) >= 0.0:
        return 0.0
    if v_inf <= v_th and v0 < v_th:
        # V stays between v0 and v_inf, below V_th <= theta (a >= 0): no crossing. The common case
        # below threshold, decided without a log or an exp (the compiled engine asks after every input).
        return math.inf
    c, A = v_inf - v_th, v0 - v_inf
    t_star = math.nan  # the far end of the first monotone piece, if g has an extremum at t > 0
    rate = 1.0 / tau_theta - 1.0 / tau_m
    if A > 0.0 and rate != 0.0:
        # t* solves exp(t (1/tau_theta - 1/tau_m)) = a0 tau_m / (A tau_theta); in logs: nothing overflows
        x = (math.log(a0) + math.log(tau_m) - math.log(A) - math.log(tau_theta)) / rate
        if math.isfinite(x) and x > 0.0:
            t_star = x
    lo = 0.0
    if t_star == t_star:  # not NaN
        if threshold_gap(t_star, v0, a0, v_inf, v_th, tau_m, tau_theta) >= 0.0:
            return _refine(lo, t_star, v0, a0, v_inf, v_th, tau_m, tau_theta)
        lo = t_star
    if c > 0.0:
        t_up = max(0.0, tau_m * math.log(2.0 * abs(A) / c) if A != 0.0 else 0.0,
                   tau_theta * math.log(2.0 * a0 / c))
        t_up = max(t_up, lo)
        while threshold_gap(t_up, v0, a0, v_inf, v_th, tau_m, tau_theta) < 0.0:  # only rounding leaves g < 0
            t_up = 2.0 * t_up + tau_m
        return _refine(lo, t_up, v0, a0, v_inf, v_th, tau_m, tau_theta)
    return math.inf


@register_jitable
def _ulp(x: float) -> float:
    """``math.ulp`` of a non-negative x, written so that Numba compiles it."""
    return np.nextafter(x, np.inf) - x


@register_jitable
def _refine(lo: float, hi: float, v0: float, a0: float, v_inf: float, v_th: float, tau_m: float,
            tau_theta: float) -> float:
    """Safeguarded Newton on :func:`threshold_gap` over ``[lo, hi]`` (``g(lo) < 0 <= g(hi)``, g monotone
    there); returns ``hi`` once ``hi - lo <= max(SOLVER_TOL_MS, 4 ulp(hi))``."""
    A = v0 - v_inf
    t = 0.5 * (lo + hi)
    for _ in range(400):
        tol = max(SOLVER_TOL_MS, 4.0 * _ulp(hi))
        if hi - lo <= tol:
            break
        gt = threshold_gap(t, v0, a0, v_inf, v_th, tau_m, tau_theta)
        if gt >= 0.0:
            hi = t
        else:
            lo = t
        d = -A / tau_m * math.exp(-t / tau_m) + a0 / tau_theta * math.exp(-t / tau_theta)  # g'(t)
        nt = t - gt / d if d != 0.0 else math.nan
        if abs(nt - t) < tol / 4:
            # Newton has converged: step just past the root so that the bracket closes on it
            nt += math.copysign(tol / 4, nt - t) if nt != t else (tol / 4 if gt < 0.0 else -tol / 4)
        t = nt if lo < nt < hi else 0.5 * (lo + hi)  # the safeguard: bisect when Newton leaves the bracket
    return hi


# ---------------------------------------------------------------------------------------------
# The model's operations on its state (V, a), in plain floats: ReferenceOps and the compiled engine's
# generic path (eventsim.engine.generic) call these same definitions (Numba compiles them there).
# ---------------------------------------------------------------------------------------------
@register_jitable
def advance(v: float, a: float, dt: float, v_inf: float, tau_m: float, tau_theta: float) -> tuple:
    """State ``(V, a)`` ``dt`` ms later with no input, asymptotic potential ``v_inf`` (mV)."""
    if a != 0.0:
        a *= math.exp(-dt / tau_theta)
    return free_potential(dt, v, v_inf, tau_m), a


@register_jitable
def advance_clamped(v: float, a: float, dt: float, tau_theta: float) -> tuple:
    """State ``(V, a)`` ``dt`` ms later while V is clamped (refractory): only ``a`` relaxes."""
    return v, (a * math.exp(-dt / tau_theta) if a != 0.0 else a)


@register_jitable
def fires(v: float, a: float, v_th: float) -> bool:
    """``V >= theta = V_th + a``."""
    return v >= v_th + a


@register_jitable
def reset(a: float, v_reset: float, delta_theta: float) -> tuple:
    """State after a spike: V at ``V_reset``, ``a`` (taken at the spike) raised by ``delta_theta``."""
    return v_reset, a + delta_theta


# ---------------------------------------------------------------------------------------------
# The reference engine's per-model interface
# ---------------------------------------------------------------------------------------------
class ReferenceOps:
    """The ``lif`` operations the reference engine calls; the state is the tuple ``(V, a)`` (mV).

    Parameters
    ----------
    prepared : Prepared
        Per-neuron parameter arrays (read once into lists).
    """

    def __init__(self, prepared):
        for name in ("tau_m", "C_m", "E_L", "V_th", "V_reset", "delta_theta", "tau_theta"):
            setattr(self, name, getattr(prepared, name).tolist())

    def initial_state(self, i: int, v: float) -> tuple:
        return (v, 0.0)

    def _v_inf(self, i: int, I: float) -> float:
        return v_inf(self.E_L[i], I, self.tau_m[i], self.C_m[i])

    def advance(self, i: int, state: tuple, dt: float, I: float) -> tuple:
        """State ``dt`` ms later with no input and current ``I`` (pA)."""
        return advance(state[0], state[1], dt, self._v_inf(i, I), self.tau_m[i], self.tau_theta[i])

    def advance_clamped(self, i: int, state: tuple, dt: float) -> tuple:
        """State ``dt`` ms later while V is clamped (refractory): only ``a`` relaxes."""
        return advance_clamped(state[0], state[1], dt, self.tau_theta[i])

    receives_while_refractory = False  # inputs during t_ref are discarded

    def receive(self, i: int, state: tuple, weights: list) -> tuple:
        """Delta inputs arriving together, their weights in mV: V jumps by their exact sum (``math.fsum``)."""
        return state[0] + math.fsum(weights), state[1]

    def fires(self, i: int, state: tuple) -> bool:
        return fires(state[0], state[1], self.V_th[i])

    def reset(self, i: int, state: tuple) -> tuple:
        return reset(state[1], self.V_reset[i], self.delta_theta[i])

    def time_to_spike(self, i: int, state: tuple, I: float) -> float:
        """Time in ms to the next spike with no input (inf if none)."""
        v, a = state
        return adaptive_crossing_time(v, a, self._v_inf(i, I), self.V_th[i], self.tau_m[i], self.tau_theta[i])
