"""The ``qif`` model: quadratic integrate-and-fire, delta synapses.

``tau_m dV/dt = (V - E_L)(V - V_c)/(V_c - E_L) + R (I_e + I(t))``, ``R = tau_m / C_m``. ``E_L`` is
the stable and ``V_c > E_L`` the unstable fixed point at zero current; the neuron spikes when V
reaches ``V_peak``, then V is clamped at ``V_reset`` for ``t_ref``. A delta input adds its weight
(mV) to V; inputs at one time are summed, then tested against ``V_peak``.

Closed forms (Latham et al. 2000 for the form; Tonnelier, Belmabrouk and Martinez 2007 for exact
event-driven simulation). With ``D = V_c - E_L``, ``u = V - (E_L + V_c)/2`` and ``s = t / (tau_m D)``
the equation is the Riccati equation ``du/ds = u^2 - q``, ``q = D^2/4 - D R I`` (mV^2). Its solution
is, in every regime,

    ``V(t) = V0 + Phi(s) f0 / (1 - u0 Phi(s))``,  ``f0 = (V0 - E_L)(V0 - V_c) + D R I = u0^2 - q``,

with ``Phi(s) = tanh(sqrt(q) s)/sqrt(q)`` (q > 0, the tanh/coth branches), ``s`` (q = 0, rational),
``tan(sqrt(-q) s)/sqrt(-q)`` (q < 0, tan). ``Phi`` is analytic in ``q`` and is evaluated from
``tanh``/``tan`` of a small argument divided by that argument's scale, so nothing cancels at the
regime boundary q = 0; writing ``V - V0`` rather than ``u`` avoids subtracting the midpoint. The
time to reach ``V_peak`` inverts ``Phi``: ``Phi* = (V_peak - V0) / (u_p u0 - q)``, with the
products expanded as ``(a_p b0 + b_p a0)/2 + D R I`` (``a = V - E_L``, ``b = V - V_c``) and, for
q > 0, ``artanh`` written as ``log1p(2 k N / ((u_p + k)(u0 - k)))/2`` with each factor computed
without cancellation (``u - k = f / (u + k)`` when ``u > 0``).
Units: ms, mV, pA, pF.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from eventsim.errors import ValidationError
from eventsim.models.spec import ModelSpec, check_time_scales
from eventsim.timebase import TICK_MS

__all__ = ["SPEC", "validate", "drift", "free_potential", "time_to_peak", "period", "ReferenceOps"]

SPEC = ModelSpec(
    name="qif",
    units={"C_m": "pF", "tau_m": "ms", "E_L": "mV", "V_c": "mV", "V_peak": "mV", "V_reset": "mV",
           "V_init": "mV", "t_ref": "ms", "I_e": "pA"},
    defaults={"C_m": 250.0, "tau_m": 10.0, "E_L": -70.0, "V_c": -55.0, "V_peak": -40.0, "V_reset": -70.0,
              "V_init": -70.0, "t_ref": 2.0, "I_e": 0.0},
    aliases={"V_m": "V_init"},
    bounded=("E_L", "V_c", "V_peak", "V_reset", "V_init", "I_e"),
    threshold="V_peak",
    doc="Quadratic integrate-and-fire, delta synapses (weights are jumps in mV), exact spike times.",
)


def validate(values: dict, given: dict, where: str) -> None:
    """Model-specific checks on resolved per-neuron arrays (see :func:`eventsim.models.resolve_parameters`)."""
    check_time_scales(values, given, where, max_tref_taus=math.inf)
    bad = ~(values["V_c"] > values["E_L"])
    if bad.any():
        k = int(np.argmax(bad))
        raise ValidationError(f"{where}.V_c", f"must be above E_L, got V_c={values['V_c'][k]} <= "
                                              f"E_L={values['E_L'][k]} mV")
    bad = values["V_reset"] >= values["V_peak"]
    if bad.any():
        k = int(np.argmax(bad))
        raise ValidationError(f"{where}.V_reset", f"must be below V_peak, got V_reset={values['V_reset'][k]} >= "
                                                  f"V_peak={values['V_peak'][k]} mV")
    with np.errstate(over="ignore", invalid="ignore"):
        dri = (values["V_c"] - values["E_L"]) * (values["I_e"] * (values["tau_m"] / values["C_m"]))
    bad = ~np.isfinite(dri)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValidationError(f"{where}.I_e", f"(V_c - E_L) I_e tau_m / C_m overflows with I_e={values['I_e'][k]} pA")


# ---------------------------------------------------------------------------------------------
# Closed forms (ms, mV, pA, pF)
# ---------------------------------------------------------------------------------------------
@register_jitable
def _scaled(E_L: float, V_c: float, tau_m: float, C_m: float, I: float) -> tuple[float, float, float]:
    """``(D, D R I, q)`` in mV, mV^2, mV^2."""
    D = V_c - E_L
    dri = D * (I * (tau_m / C_m))
    return D, dri, D * (0.25 * D) - dri


@register_jitable
def drift(v: float, E_L: float, V_c: float, dri: float) -> float:
    """``(V - E_L)(V - V_c) + D R I`` in mV^2: ``D tau_m dV/dt`` (positive: V rises)."""
    return (v - E_L) * (v - V_c) + dri


@register_jitable
def _phi(s: float, q: float) -> float:
    """``s`` or ``tan(sqrt(-q) s)/sqrt(-q)`` (q <= 0): analytic in q (q > 0 is written out in
    :func:`free_potential`)."""
    if q < 0.0:
        w = math.sqrt(-q)
        return math.tan(w * s) / w
    return s


@register_jitable
def free_potential(t: float, v0: float, E_L: float, V_c: float, tau_m: float, C_m: float, I: float) -> float:
    """Potential in mV ``t`` ms after being ``v0`` with no input and current ``I`` (pA).

    Valid before the blow-up (the engine never asks past the time to reach ``V_peak``)."""
    D, dri, q = _scaled(E_L, V_c, tau_m, C_m, I)
    f0 = drift(v0, E_L, V_c, dri)
    if t == 0.0 or f0 == 0.0:
        return v0  # (at a fixed point V stays)
    s = t / (tau_m * D)
    u0 = 0.5 * ((v0 - E_L) + (v0 - V_c))
    if q > 0.0:
        # Phi = T / k; 1 - u0 Phi = (k (1 - T) - T (u0 - k)) / k, both terms without cancellation
        # (1 - T from exp(-2 k s), u0 - k from f0), so a saturated tanh (T = 1) stays exact
        k = math.sqrt(q)
        e = math.exp(-2.0 * k * s)
        T = (1.0 - e) / (1.0 + e) if k * s > 0.5 else math.tanh(k * s)
        phi = T / k
        v = v0 + T * f0 / (k * (2.0 * e / (1.0 + e)) - T * _minus_k(u0, k, f0))
    else:
        phi = _phi(s, q)
        v = v0 + phi * f0 / (1.0 - u0 * phi)
    if u0 < 0.0 and abs(v) < 0.5 * abs(v0):
        return _from_far_below(v, v0, u0, phi, q, E_L, V_c)
    return v


@register_jitable
def _from_far_below(v: float, v0: float, u0: float, phi: float, q: float, E_L: float, V_c: float) -> float:
    """``V(t)`` when ``v0 + (V - V0)`` cancelled (``v0`` far below the fixed points, V rising to them).

    ``u = (u0 - q Phi) / (1 - u0 Phi)``, written ``(1 - q Phi / u0) / (1 / u0 - Phi)``: for ``u0 < 0``
    the denominator's terms have one sign, so u keeps its relative precision whatever ``|u0|``
    (from V0 = -1e100 mV the sum ``v0 + (V - V0)`` lost every digit). Kept only where it is the
    more precise of the two (its error scales with ``|midpoint| + |u|``, the other's with ``|v0|``)."""
    mid = 0.5 * (E_L + V_c)
    u = (1.0 - q * phi / u0) / (1.0 / u0 - phi)
    return mid + u if abs(mid) + abs(u) < abs(v0) else v


@register_jitable
def _plus_k(u: float, k: float, f: float) -> float:
    """``u + k`` (k > 0, ``f = u^2 - k^2``) without cancellation."""
    return u + k if u >= 0.0 else f / (u - k)


@register_jitable
def _minus_k(u: float, k: float, f: float) -> float:
    """``u - k`` (k > 0, ``f = u^2 - k^2``) without cancellation."""
    return u - k if u <= 0.0 else f / (u + k)


@register_jitable
def time_to_peak(v0: float, v_peak: float, E_L: float, V_c: float, tau_m: float, C_m: float, I: float) -> float:
    """Time in ms for V to go from ``v0`` to ``v_peak`` with no input (0 if already there, inf if never).

    V is monotone between events (a one-dimensional autonomous equation): it reaches ``v_peak``
    iff it rises (``f0 > 0``) and its limit (``+inf`` after a finite-time blow-up, or the stable
    fixed point ``-k`` / 0) lies beyond ``v_peak``.
    """
    if v0 >= v_peak:
        return 0.0
    D, dri, q = _scaled(E_L, V_c, tau_m, C_m, I)
    f0 = drift(v0, E_L, V_c, dri)
    if not f0 > 0.0:
        return math.inf
    n = v_peak - v0
    u0 = 0.5 * ((v0 - E_L) + (v0 - V_c))
    up = 0.5 * ((v_peak - E_L) + (v_peak - V_c))
    den = 0.5 * ((v_peak - E_L) * (v0 - V_c) + (v_peak - V_c) * (v0 - E_L)) + dri  # u_p u0 - q
    if q > 0.0:
        k = math.sqrt(q)
        prod = _plus_k(up, k, drift(v_peak, E_L, V_c, dri)) * _minus_k(u0, k, f0)
        if not prod > 0.0:
            return math.inf  # v0 below the stable fixed point -k < v_peak: V never gets there
        s = 0.5 * math.log1p(2.0 * k * n / prod) / k
    elif q < 0.0:
        w = math.sqrt(-q)
        s = math.atan2(w * n, den) / w
    else:
        if not den > 0.0:
            return math.inf
        s = n / den
    return tau_m * D * s


def period(*, C_m: float, tau_m: float, E_L: float, V_c: float, V_peak: float, V_reset: float, t_ref: float,
           I_e: float) -> float:
    """Firing period in ms under constant current ``I_e`` (pA): ``t_ref`` plus the time from
    ``V_reset`` to ``V_peak`` (inf if the neuron does not fire)."""
    return t_ref + time_to_peak(V_reset, V_peak, E_L, V_c, tau_m, C_m, I_e)


def rate_bound(p, lo: int, hi: int) -> np.ndarray:
    """Firing rate of neurons ``lo..hi`` of ``p`` (a Prepared) under their constant current alone, in
    spikes per ms (``1 / period``; 0 if they do not fire), for the run-size estimate (eventsim.workload).
    One closed form per neuron, in Python: O(N), run once per estimate."""
    rate = np.zeros(hi - lo)
    for k, i in enumerate(range(lo, hi)):
        per = period(C_m=p.C_m[i], tau_m=p.tau_m[i], E_L=p.E_L[i], V_c=p.V_c[i], V_peak=p.V_th[i],
                     V_reset=p.V_reset[i], t_ref=p.t_ref[i] * TICK_MS, I_e=p.I_e[i])
        rate[k] = 1.0 / per if per > 0 else np.inf
    return rate


# ---------------------------------------------------------------------------------------------
# The reference engine's per-model interface
# ---------------------------------------------------------------------------------------------
class ReferenceOps:
    """The ``qif`` operations the reference engine calls; the state is the tuple ``(V,)`` (mV).

    Parameters
    ----------
    prepared : Prepared
        Per-neuron parameter arrays (``V_th`` holds ``V_peak``).
    """

    def __init__(self, prepared):
        for name in ("tau_m", "C_m", "E_L", "V_c", "V_th", "V_reset"):
            setattr(self, name, getattr(prepared, name).tolist())

    def initial_state(self, i: int, v: float) -> tuple:
        return (v,)

    def _args(self, i: int, I: float) -> tuple:
        """``(E_L, V_c, tau_m, C_m, I)`` of neuron i, in the closed forms' order."""
        return self.E_L[i], self.V_c[i], self.tau_m[i], self.C_m[i], I

    def advance(self, i: int, state: tuple, dt: float, I: float) -> tuple:
        """State ``dt`` ms later with no input and current ``I`` (pA)."""
        return (free_potential(dt, state[0], *self._args(i, I)),)

    def advance_clamped(self, i: int, state: tuple, dt: float) -> tuple:
        """State ``dt`` ms later while V is clamped (refractory): unchanged."""
        return state

    receives_while_refractory = False  # inputs during t_ref are discarded

    def receive(self, i: int, state: tuple, weights: list) -> tuple:
        """Delta inputs arriving together, their weights in mV: V jumps by their exact sum (``math.fsum``)."""
        return (state[0] + math.fsum(weights),)

    def fires(self, i: int, state: tuple) -> bool:
        return state[0] >= self.V_th[i]

    def reset(self, i: int, state: tuple) -> tuple:
        return (self.V_reset[i],)

    def time_to_spike(self, i: int, state: tuple, I: float) -> float:
        """Time in ms to the next spike with no input (inf if none)."""
        return time_to_peak(state[0], self.V_th[i], *self._args(i, I))
