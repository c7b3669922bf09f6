"""Leaky integrate-and-fire with exponential current synapses (NEST ``iaf_psc_exp_ps``): the mathematics.

The model ``lif_psc_exp`` (units ms, mV, pA, pF)::

    dV/dt    = -(V - E_L)/tau_m + (I_ex + I_in + I_e)/C_m
    dI_ex/dt = -I_ex/tau_syn_ex      dI_in/dt = -I_in/tau_syn_in

An input of weight ``w`` pA adds ``w`` to ``I_ex`` if ``w >= 0``, else to ``I_in`` (:func:`receive`).
The neuron spikes at the first time ``V(t) >= V_th`` (:func:`first_crossing`), then ``V`` is clamped at
``V_reset`` for ``t_ref`` while the currents keep decaying and receiving inputs
(:func:`propagate_refractory`); at the end of ``t_ref`` ``V`` restarts from ``V_reset``.

The closed forms are one definition for both engines: plain Python on scalars (``math``, fixed-size
locals, no lists, no callbacks), marked ``register_jitable`` so that the reference engine calls them in
Python and compiled code that calls them compiles the same text (``tests/test_psc_exp_jit.py`` checks
that both give bit-identical results). The derivations, the precision and the proof that
:func:`first_crossing` cannot miss a crossing are in ``docs/models_psc_exp.md``. The module also holds the model's parameters (:data:`SPEC`, :func:`validate`)
and :class:`ReferenceOps`, its operations on the reference engine (the compiled engine calls the closed
forms from ``eventsim/engine/generic.py``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba.extending import register_jitable

from eventsim.errors import ValidationError
from eventsim.models import lif
from eventsim.models.spec import MIN_TAU_MS, ModelSpec, check_time_scales

__all__ = ["SPEC", "validate", "PscExpParams", "syn_propagator", "propagate", "propagate_refractory", "receive",
           "receive_batch", "dv_dt", "no_crossing_possible", "first_crossing", "time_to_spike", "psp_peak", "dc_period",
           "simulate_neuron", "NeuronState", "run_neuron", "ReferenceOps", "TIME_TOL_MS"]

TIME_TOL_MS = 1e-12
"""Width (ms) to which crossing times are refined (or 4 ulp of the time, when that is larger)."""

_EPS = 2.0 ** -52
_MAX_ITER = 400  # bisection alone needs < 110 halvings from 1e20 ms to 1e-12 ms; Newton is faster
_HORIZON_DOUBLINGS = 12  # S = inf is searched up to 2**12 tau_max at most: all exponentials have underflowed
_EXCESS, _EXCESS_FROM_V_INF, _SLOPE = 0, 2, 1  # the functions whose roots _refine finds (see _target)

# NOTE: compiled code calls lif.v_inf through the functions below (one definition of V_inf, bit-identical
# in both engines); registering it again elsewhere is harmless.
register_jitable(lif.v_inf)


class PscExpParams(NamedTuple):
    """Parameters of one ``lif_psc_exp`` neuron (NEST ``iaf_psc_exp_ps`` names, units and defaults).

    Parameters
    ----------
    C_m : float
        Membrane capacitance, pF (> 0).
    tau_m : float
        Membrane time constant, ms (> 0).
    tau_syn_ex, tau_syn_in : float
        Decay time constants of the excitatory and inhibitory currents, ms (> 0; may equal ``tau_m``).
    E_L, V_th, V_reset : float
        Resting potential, threshold and reset potential, mV (``V_reset < V_th``).
    t_ref : float
        Refractory period, ms (>= 0).
    I_e : float
        Constant external current, pA.
    V_init : float
        Initial potential, mV (``V_init >= V_th`` spikes at t = 0).
    """

    C_m: float = 250.0
    tau_m: float = 10.0
    tau_syn_ex: float = 2.0
    tau_syn_in: float = 2.0
    E_L: float = -70.0
    V_th: float = -55.0
    V_reset: float = -70.0
    t_ref: float = 2.0
    I_e: float = 0.0
    V_init: float = -70.0


SPEC = ModelSpec(
    name="lif_psc_exp",
    units={"C_m": "pF", "tau_m": "ms", "tau_syn_ex": "ms", "tau_syn_in": "ms", "E_L": "mV", "V_th": "mV",
           "V_reset": "mV", "t_ref": "ms", "I_e": "pA", "V_init": "mV"},
    defaults=PscExpParams()._asdict(),  # NEST iaf_psc_exp_ps defaults
    aliases={"V_m": "V_init"},
    bounded=("E_L", "V_th", "V_reset", "V_init", "I_e"),
    threshold="V_th",
    doc="Leaky integrate-and-fire, exponential current synapses (weights are currents in pA; NEST "
        "iaf_psc_exp_ps), exact and lossless spike times.",
)


def validate(values: dict, given: dict, where: str) -> None:
    """Model-specific checks on resolved per-neuron arrays (see :func:`eventsim.models.resolve_parameters`).

    ``tau_m`` and ``tau_syn_ex``/``tau_syn_in`` at least 1e-6 ms, ``t_ref`` in [0, 1e11] ms, ``V_inf`` finite,
    ``V_reset < V_th``; ``C_m > 0`` and finiteness are checked for every model by the resolver."""
    check_time_scales(values, given, where, max_tref_taus=math.inf)
    for key in ("tau_syn_ex", "tau_syn_in"):
        if np.any(values[key] < MIN_TAU_MS):
            raise ValidationError(f"{where}.{key}", f"must be at least {MIN_TAU_MS:g} ms (1 ns), got "
                                                    f"{values[key].min():g} ms")
    lif.check_v_inf_and_reset(values, given, where)


# ---------------------------------------------------------------------------------------------
# Exact propagation
# ---------------------------------------------------------------------------------------------
@register_jitable
def syn_propagator(s: float, tau_m: float, tau_syn: float) -> float:
    """Membrane response (ms) to a unit current decaying with ``tau_syn``, ``s`` ms after it started.

    ``V`` gains ``I0 * syn_propagator(s, tau_m, tau_syn) / C_m`` mV from a current ``I0`` pA. The value is
    ``beta (exp(-s/tau_m) - exp(-s/tau_syn))`` with ``beta = tau_m tau_syn / (tau_m - tau_syn)``, and
    ``s exp(-s/tau_m)`` when ``tau_syn == tau_m``.

    Parameters
    ----------
    s : float
        Elapsed time, ms (>= 0, finite).
    tau_m, tau_syn : float
        Membrane and synaptic time constants, ms (> 0).

    Returns
    -------
    float
        The propagator in ms, >= 0. Relative error a few ulp times ``1 + s / tau_slow`` (the condition
        number of ``exp``) for every ratio of the time constants, including equal and nearly equal ones.
    """
    return _syn_response(s, tau_m, tau_syn, math.exp(-s / max(tau_m, tau_syn)))


@register_jitable
def _syn_response(s: float, tau_m: float, tau_syn: float, decay: float) -> float:
    """:func:`syn_propagator` (ms) given ``decay = exp(-s / max(tau_m, tau_syn))``, the slower decay, which
    the callers below have computed already (it is one of the state's own decay factors)."""
    if tau_m == tau_syn:
        return s * decay
    # NOTE: written as exp(-s/tau_slow) (1 - exp(-rate s)) / rate, rate = 1/tau_fast - 1/tau_slow computed as
    # |tau_m - tau_syn| / tau_m / tau_syn: no cancellation when the time constants nearly agree (the
    # difference of two close floats is exact), and no overflow of exp(+...) when tau_syn > tau_m.
    rate = abs(tau_m - tau_syn) / tau_m / tau_syn
    return decay * (-math.expm1(-rate * s) / rate)


@register_jitable
def _decays(p: PscExpParams, s: float) -> tuple[float, float, float]:
    """``(exp(-s/tau_m), exp(-s/tau_syn_ex), exp(-s/tau_syn_in))`` after ``s`` ms: every exponential decay of
    the state. Each closed form below takes them from here, so one evaluation of V, dV/dt and the currents
    at one time costs three ``exp`` and at most three ``expm1`` (it was 15 calls when each was evaluated apart)."""
    return math.exp(-s / p.tau_m), math.exp(-s / p.tau_syn_ex), math.exp(-s / p.tau_syn_in)


@register_jitable
def _current_response(p: PscExpParams, I_ex: float, I_in: float, s: float, e_m: float, e_ex: float,
                      e_in: float) -> float:
    """What the two currents add to ``V`` in ``s`` ms, mV, from the decays of :func:`_decays`."""
    # NOTE: max(tau_m, tau_syn) is tau_m when they are equal, as in syn_propagator (the two decays agree then)
    p_ex = _syn_response(s, p.tau_m, p.tau_syn_ex, e_m if p.tau_m >= p.tau_syn_ex else e_ex)
    p_in = _syn_response(s, p.tau_m, p.tau_syn_in, e_m if p.tau_m >= p.tau_syn_in else e_in)
    return (I_ex * p_ex + I_in * p_in) / p.C_m


@register_jitable
def _propagated_v(p: PscExpParams, V: float, s: float, e_m: float, response: float) -> float:
    """``V`` (mV) ``s`` ms later, from ``e_m = exp(-s/tau_m)`` and the currents' ``response`` (mV)."""
    return p.E_L + ((V - p.E_L) * e_m - (p.I_e * p.tau_m / p.C_m) * math.expm1(-(s / p.tau_m)) + response)


@register_jitable
def propagate(p: PscExpParams, V: float, I_ex: float, I_in: float, s: float) -> tuple[float, float, float]:
    """State ``s`` ms later with no input and no threshold: exact solution of the model's equations.

    Parameters
    ----------
    p : PscExpParams
        Neuron parameters.
    V : float
        Membrane potential now, mV.
    I_ex, I_in : float
        Synaptic currents now, pA.
    s : float
        Elapsed time, ms (>= 0, finite).

    Returns
    -------
    tuple of float
        ``(V, I_ex, I_in)`` after ``s`` ms, in mV, pA, pA. The error of ``V`` is a few ulp of the sum of
        the magnitudes of its terms (``|V - E_L| e^{-s/tau_m}``, the ``I_e`` term and the two current terms).
    """
    e_m, e_ex, e_in = _decays(p, s)
    response = _current_response(p, I_ex, I_in, s, e_m, e_ex, e_in)
    return _propagated_v(p, V, s, e_m, response), I_ex * e_ex, I_in * e_in


@register_jitable
def propagate_refractory(p: PscExpParams, I_ex: float, I_in: float, s: float) -> tuple[float, float, float]:
    """State ``s`` ms later while refractory: ``V`` clamped at ``V_reset``, the currents decay.

    Returns
    -------
    tuple of float
        ``(V_reset, I_ex, I_in)`` in mV, pA, pA.
    """
    return p.V_reset, I_ex * math.exp(-s / p.tau_syn_ex), I_in * math.exp(-s / p.tau_syn_in)


@register_jitable
def receive(I_ex: float, I_in: float, w: float) -> tuple[float, float]:
    """Currents (pA) after one input of weight ``w`` pA: to ``I_ex`` if ``w >= 0``, else to ``I_in``."""
    return (I_ex + w, I_in) if w >= 0.0 else (I_ex, I_in + w)


@register_jitable
def receive_batch(I_ex: float, I_in: float, weights) -> tuple[float, float]:
    """Currents (pA) after inputs arriving together, each as :func:`receive` would add it.

    Each weight goes to ``I_ex`` if it is >= 0, else to ``I_in`` (a same-time ``+w`` and ``-w`` do not
    cancel: they decay with different time constants). Each current is the exact sum of its old value and
    its weights rounded once (as ``math.fsum([I_ex, *exc])``), so the result does not depend on the order
    of the inputs.

    Parameters
    ----------
    I_ex, I_in : float
        Currents before the inputs, pA (finite).
    weights : sequence of float
        The weights, pA (finite; a list in Python, a float64 array in compiled code).

    Returns
    -------
    tuple of float
        ``(I_ex, I_in)`` in pA. O(k p) for k weights and p <= k + 1 partials (p is small: at most 40).
    """
    if len(weights) == 1:  # one input: its sum with the current is one rounding anyway
        i_ex, i_in = receive(I_ex, I_in, weights[0])
        # NOTE: "+ 0.0" turns -0.0 + -0.0 into fsum's +0.0 and changes nothing else
        return (i_ex + 0.0, i_in) if weights[0] >= 0.0 else (i_ex, i_in)
    return _signed_fsum(I_ex, weights, True), _signed_fsum(I_in, weights, False)


@register_jitable
def _signed_fsum(first: float, weights, excitatory: bool) -> float:
    """``math.fsum([first, *same])`` over the weights ``same`` that are >= 0 (``excitatory``) or < 0;
    ``first`` unchanged when there are none. Shewchuk's partials in an array (the one definition runs
    in compiled code too, where ``math.fsum`` does not exist)."""
    partials = np.empty(len(weights) + 1)
    n = _add_partial(partials, 0, first)
    any_same = False
    for w in weights:
        if (w >= 0.0) == excitatory:
            n = _add_partial(partials, n, w)
            any_same = True
    return _round_partials(partials, n) if any_same else first


@register_jitable
def _add_partial(partials, n: int, x: float) -> int:
    """Add ``x`` to the ``n`` non-overlapping partials (increasing magnitude) in place, exactly (TwoSum);
    returns their new number (at most ``n + 1``). As CPython's ``math.fsum``, zeros are not kept."""
    i = 0
    for j in range(n):
        y = partials[j]
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            partials[i] = lo
            i += 1
        x = hi
    if x != 0.0:
        partials[i] = x
        i += 1
    return i


@register_jitable
def _round_partials(partials, n: int) -> float:
    """The sum of ``n`` partials rounded once, half to even, as CPython's ``math.fsum`` rounds it."""
    hi = 0.0
    if n > 0:
        n -= 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            lo = y - (hi - x)
            if lo != 0.0:
                break
        # NOTE: a halfway lo with a same-sign partial below it is not a tie: round away, as fsum does
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            if y == x - hi:
                hi = x
    return float(hi)


@register_jitable
def dv_dt(p: PscExpParams, V: float, I_ex: float, I_in: float) -> float:
    """Slope of the membrane potential, mV/ms (free, not refractory)."""
    return -(V - p.E_L) / p.tau_m + (I_ex + I_in + p.I_e) / p.C_m


# ---------------------------------------------------------------------------------------------
# Threshold crossing
# ---------------------------------------------------------------------------------------------
@register_jitable
def no_crossing_possible(p: PscExpParams, V: float, I_ex: float, I_in: float, S: float) -> bool:
    """Cheap conservative test: True only if ``V < V_th`` throughout ``[0, S]`` for certain.

    False means "maybe": call :func:`first_crossing`. Cost: about 25 flops and one ``exp`` (none when
    ``S`` is infinite), against 7 (no crossing) to 19 (a crossing) propagations on average for
    :func:`first_crossing`.

    Parameters
    ----------
    p : PscExpParams
    V, I_ex, I_in : float
        State now, mV, pA, pA (free, not refractory).
    S : float
        Length of the interval, ms (>= 0, may be ``inf``).

    Returns
    -------
    bool

    Notes
    -----
    With ``y = V - V_inf`` (``V_inf = E_L + I_e tau_m / C_m``) and ``I+`` the sum of the positive currents,
    ``y(t)`` is below both ``max(y0, 0) + sum I_x+ min(tau_m, tau_x) / C_m`` (a current ``I0 e^{-t/tau_x}``
    adds at most ``I0 min(tau_m, tau_x) / C_m``) and the solution ``z(t) = u + (y0 - u) e^{-t/tau_m}``,
    ``u = tau_m I+ / C_m``, of the same equation under the constant current ``I+`` (comparison
    principle); ``z`` is monotone, so its maximum on ``[0, S]`` is ``max(y0, z(S))``. A margin of 64 ulp
    of the magnitudes involved covers the rounding of :func:`propagate`.
    """
    if V >= p.V_th:
        return False
    v_inf = lif.v_inf(p.E_L, p.I_e, p.tau_m, p.C_m)
    y0 = V - v_inf
    pos_ex, pos_in = max(I_ex, 0.0), max(I_in, 0.0)
    bound = max(y0, 0.0) + (pos_ex * min(p.tau_m, p.tau_syn_ex) + pos_in * min(p.tau_m, p.tau_syn_in)) / p.C_m
    u = p.tau_m * (pos_ex + pos_in) / p.C_m
    z_end = u if math.isinf(S) else u + (y0 - u) * math.exp(-S / p.tau_m)
    bound = min(bound, max(y0, z_end))
    margin = 64.0 * _EPS * (abs(p.V_th) + abs(v_inf) + abs(p.E_L) + abs(y0) + abs(bound) + u)
    return v_inf + bound < p.V_th - margin


@register_jitable
def first_crossing(p: PscExpParams, V: float, I_ex: float, I_in: float, S: float) -> float:
    """First time in ``[0, S]`` at which ``V(t) >= V_th``, or ``inf`` if there is none.

    Lossless: a crossing is found however briefly ``V`` stays above threshold (a trajectory peaking
    1e-9 mV above ``V_th`` is found, one peaking 1e-9 mV below is not). ``V - V_th`` is a constant plus
    up to three exponentials; the method splits ``[0, S]`` into at most four pieces on which ``V`` is
    monotone (``dV/dt`` has at most two zeros, each alone in a piece where ``dV/dt e^{t/tau_m}`` is
    monotone, that is between the zeros of ``dI/dt``, found in closed form), checks ``V`` at the ends
    of the pieces, and refines the first root by safeguarded Newton-bisection.

    Parameters
    ----------
    p : PscExpParams
    V, I_ex, I_in : float
        State at the start of the interval, mV, pA, pA (free, not refractory).
    S : float
        Length of the interval, ms (>= 0, may be ``inf``).

    Returns
    -------
    float
        Time in ms from the start: 0.0 if ``V >= V_th`` already, else a time ``t`` with
        ``propagate(p, V, I_ex, I_in, t)[0] >= V_th`` and ``V < V_th`` at ``t - tol`` (``tol`` =
        :data:`TIME_TOL_MS` or 4 ulp of ``t``); ``inf`` if there is no crossing. When ``S`` is infinite and
        ``V`` tends to ``V_th`` exactly (``V_inf == V_th``), only crossings before ``2**12`` of the longest
        time constant count, and the limit itself is not a crossing.
    """
    if V >= p.V_th:
        return 0.0
    # V_inf == V_th: V tends to V_th, and rounds onto it once the exponentials are below an ulp; that is
    # not a crossing (as for the delta LIF), so then the excess is evaluated as V - V_inf, without rounding.
    kind = _EXCESS_FROM_V_INF if lif.v_inf(p.E_L, p.I_e, p.tau_m, p.C_m) == p.V_th else _EXCESS
    if math.isinf(S):
        S = _horizon(p, V, I_ex, I_in, kind)
    t_turn = _current_turning_time(p, I_ex, I_in)
    cut = t_turn if 0.0 < t_turn < S else S
    # Pieces [0, cut], [cut, S] (one piece without a turn): on each, dV/dt e^{t/tau_m} is monotone, so
    # dV/dt changes sign at most once there; its zero splits the piece into two on which V is monotone.
    # The first monotone piece that ends at or above V_th holds the crossing.
    lo = last = 0.0  # start of the piece; last point checked
    g_lo = _target(p, V, I_ex, I_in, lo, _SLOPE)[0]
    for piece in range(2):
        hi = cut if piece == 0 else S
        if piece == 1 and not cut < S:
            break
        g_hi, dg_hi = _target(p, V, I_ex, I_in, hi, _SLOPE)
        if (g_lo < 0.0 < g_hi) or (g_hi < 0.0 < g_lo):
            extremum = _refine(p, V, I_ex, I_in, lo, hi, _SLOPE, g_hi > 0.0, g_hi, dg_hi)
            t = _crossing_in_monotone_piece(p, V, I_ex, I_in, last, extremum, kind)
            if t < math.inf:
                return t
            last = extremum
        t = _crossing_in_monotone_piece(p, V, I_ex, I_in, last, hi, kind)
        if t < math.inf:
            return t
        lo = last = hi
        g_lo = g_hi
    return math.inf


@register_jitable
def _crossing_in_monotone_piece(p: PscExpParams, V: float, I_ex: float, I_in: float, lo: float, hi: float,
                                kind: int) -> float:
    """The crossing (ms) in ``[lo, hi]``, where ``V`` is monotone and below threshold at ``lo``: there is
    one iff ``V(hi) >= V_th`` (``kind``, see :func:`_target`); ``inf`` otherwise or if the piece is empty."""
    if not hi > lo:
        return math.inf
    g_hi, dg_hi = _target(p, V, I_ex, I_in, hi, kind)
    return _refine(p, V, I_ex, I_in, lo, hi, kind, True, g_hi, dg_hi) if g_hi >= 0.0 else math.inf


@register_jitable
def time_to_spike(p: PscExpParams, V: float, I_ex: float, I_in: float) -> float:
    """Time in ms to the next threshold crossing with no input, ``inf`` if none: the cheap
    :func:`no_crossing_possible` first, then :func:`first_crossing` to infinity (both engines)."""
    if no_crossing_possible(p, V, I_ex, I_in, math.inf):
        return math.inf
    return first_crossing(p, V, I_ex, I_in, math.inf)


@register_jitable
def _horizon(p: PscExpParams, V: float, I_ex: float, I_in: float, kind: int) -> float:
    """A finite ``H`` (ms) such that a first crossing in ``[0, inf)`` lies in ``[0, H]``.

    Doubles ``H`` from the longest time constant until ``V(H) >= V_th`` (a crossing by then) or
    :func:`no_crossing_possible` holds from ``H`` on; stops at ``2**12`` time constants.
    """
    H = max(p.tau_m, p.tau_syn_ex, p.tau_syn_in)
    for _ in range(_HORIZON_DOUBLINGS):
        v, i_ex, i_in = propagate(p, V, I_ex, I_in, H)
        g = v - p.V_th if kind == _EXCESS else _target(p, V, I_ex, I_in, H, kind)[0]  # _target's g, bit for bit
        if g >= 0.0 or no_crossing_possible(p, v, i_ex, i_in, math.inf):
            return H
        H *= 2.0
    return H


@register_jitable
def _current_turning_time(p: PscExpParams, I_ex: float, I_in: float) -> float:
    """Time (ms) at which ``dI/dt = -(I_ex(t)/tau_syn_ex + I_in(t)/tau_syn_in)`` changes sign, else ``inf``.

    The two terms decay at different rates, so their sum changes sign at most once, where
    ``a e^{-t/tau_syn_ex} = b e^{-t/tau_syn_in}``; the result may be negative (no sign change for t > 0).
    """
    a, b = I_ex / p.tau_syn_ex, -I_in / p.tau_syn_in
    if not a * b > 0.0 or p.tau_syn_ex == p.tau_syn_in:
        return math.inf
    rate = (p.tau_syn_in - p.tau_syn_ex) / p.tau_syn_ex / p.tau_syn_in  # 1/tau_ex - 1/tau_in, no cancellation
    return (math.log(abs(a)) - math.log(abs(b))) / rate


@register_jitable
def _target(p: PscExpParams, V: float, I_ex: float, I_in: float, t: float, kind: int) -> tuple[float, float]:
    """``(g, dg/dt)`` at ``t`` ms after the state ``(V, I_ex, I_in)``, for ``g`` one of: ``V - V_th``
    (``_EXCESS``, mV), ``V - V_inf`` (``_EXCESS_FROM_V_INF``, mV, used when ``V_inf == V_th``) or ``dV/dt``
    (``_SLOPE``, mV/ms). One set of decays serves ``g`` and its slope (the same bits as :func:`propagate`)."""
    e_m, e_ex, e_in = _decays(p, t)
    response = _current_response(p, I_ex, I_in, t, e_m, e_ex, e_in)
    # NOTE: the slope comes from y = V - V_inf propagated on its own, not from the propagated V: once
    # |V - E_L| is below an ulp of V, V rounds onto E_L and dV/dt computed from it has the wrong sign.
    y = (V - lif.v_inf(p.E_L, p.I_e, p.tau_m, p.C_m)) * e_m + response
    i_ex, i_in = I_ex * e_ex, I_in * e_in
    slope = -y / p.tau_m + (i_ex + i_in) / p.C_m
    if kind == _SLOPE:
        return slope, -slope / p.tau_m - (i_ex / p.tau_syn_ex + i_in / p.tau_syn_in) / p.C_m
    if kind == _EXCESS:
        return _propagated_v(p, V, t, e_m, response) - p.V_th, slope
    return y, slope


@register_jitable
def _refine(p: PscExpParams, V: float, I_ex: float, I_in: float, lo: float, hi: float, kind: int,
            rising: bool, g: float, dg: float) -> float:
    """Shrink a bracket ``[lo, hi]`` (ms) of the sign change of ``g`` (``kind``, see :func:`_target`) to
    :data:`TIME_TOL_MS`; returns its upper end, where ``g >= 0`` if ``rising`` (``g <= 0`` otherwise).
    ``g, dg`` are :func:`_target` at ``hi``, which the caller has evaluated to find the bracket.

    Safeguarded Newton (as Numerical Recipes' ``rtsafe``): a Newton step when it lands inside the bracket
    and is at most half the step before last, else a bisection; the iterate is kept half a tolerance
    inside the bracket, so a converged Newton iterate closes the bracket from the other side.
    """
    sign = 1.0 if rising else -1.0
    x, step, step_before = hi, hi - lo, hi - lo
    for _ in range(_MAX_ITER):
        if sign * g >= 0.0:
            hi = x
        else:
            lo = x
        tol = max(TIME_TOL_MS, 4.0 * _EPS * abs(hi))
        if hi - lo <= tol:
            break
        x_new = x - g / dg if dg != 0.0 else math.nan
        if not lo < x_new < hi or abs(x_new - x) > 0.5 * step_before:
            x_new = 0.5 * (lo + hi)
        step_before, step = step, abs(x_new - x)
        x = min(max(x_new, lo + 0.5 * tol), hi - 0.5 * tol)
        g, dg = _target(p, V, I_ex, I_in, x, kind)
    return hi


# ---------------------------------------------------------------------------------------------
# Closed forms for tests and checks
# ---------------------------------------------------------------------------------------------
def psp_peak(p: PscExpParams, w: float, tau_syn: float) -> tuple[float, float]:
    """Time (ms) and amplitude (mV) of the peak of one PSP from the fixed point ``V_inf``.

    ``t_peak = tau_m ln(1 + d) / d`` with ``d = (tau_m - tau_syn)/tau_syn`` (``tau_m`` when equal), and
    the amplitude ``w tau_syn e^{-t_peak/tau_m} / C_m`` (at the peak ``e^{-t/tau_m}/tau_m = e^{-t/tau_syn}/tau_syn``).

    Parameters
    ----------
    p : PscExpParams
    w : float
        Weight of the input, pA.
    tau_syn : float
        Its current's time constant, ms (``p.tau_syn_ex`` or ``p.tau_syn_in``).
    """
    d = (p.tau_m - tau_syn) / tau_syn
    t_peak = p.tau_m if d == 0.0 else p.tau_m * math.log1p(d) / d
    return t_peak, w * tau_syn * math.exp(-t_peak / p.tau_m) / p.C_m


def dc_period(p: PscExpParams) -> float:
    """Firing period (ms) under ``I_e`` alone: ``t_ref + tau_m ln((V_inf - V_reset)/(V_inf - V_th))``, or ``inf``."""
    return lif.period(tau_m=p.tau_m, V_th=p.V_th, V_reset=p.V_reset, t_ref=p.t_ref,
                      v_inf=lif.v_inf(p.E_L, p.I_e, p.tau_m, p.C_m))


rate_bound = lif.rate_bound
"""Firing rate under ``I_e`` alone (spikes per ms, for eventsim.workload): with no input the synaptic
currents stay 0 and V follows the LIF closed form, so it is :func:`eventsim.models.lif.rate_bound`."""


def simulate_neuron(p: PscExpParams, times, weights, t_stop: float) -> list[float]:
    """Spike times (ms) of one neuron driven by inputs, from ``V_init`` at t = 0 (a test helper).

    Parameters
    ----------
    p : PscExpParams
    times : sequence of float
        Input times, ms, non-decreasing, in ``[0, t_stop]``.
    weights : sequence of float
        Input weights, pA.
    t_stop : float
        End of the simulation, ms.

    Returns
    -------
    list of float
        Spike times, ms. A crossing at the time of an input comes before that input.
    """
    return run_neuron(p, NeuronState(0.0, p.V_init, 0.0, 0.0, -math.inf), times, weights, t_stop)[0]


class NeuronState(NamedTuple):
    """State of one neuron for :func:`run_neuron`: time ``t`` (ms), ``V`` (mV, ``V_reset`` while refractory),
    ``I_ex``, ``I_in`` (pA) and the end of its refractory period ``ref_end`` (ms; ``-inf`` before any spike)."""

    t: float
    V: float
    I_ex: float
    I_in: float
    ref_end: float


def run_neuron(p: PscExpParams, state: NeuronState, times, weights, t_stop: float) -> tuple[list[float], NeuronState]:
    """Simulate one neuron from ``state`` to ``t_stop`` by the functions above, one input at a time (a test
    helper: an event-by-event simulation independent of the reference engine's queue).

    Parameters
    ----------
    p : PscExpParams
    state : NeuronState
        State at ``state.t`` ms.
    times : sequence of float
        Input times, ms, non-decreasing, in ``[state.t, t_stop]``.
    weights : sequence of float
        Input weights, pA; an input during the refractory period charges the currents.
    t_stop : float
        End of the stretch, ms.

    Returns
    -------
    spikes : list of float
        Spike times, ms. A crossing at the time of an input comes before that input.
    state : NeuronState
        State at ``t_stop``.
    """
    t, V, I_ex, I_in, ref_end = state
    spikes = []
    for t_next, w in list(zip(times, weights)) + [(t_stop, None)]:
        while True:
            if t < ref_end:
                V, I_ex, I_in = propagate_refractory(p, I_ex, I_in, min(t_next, ref_end) - t)
                t = min(t_next, ref_end)
                if t < ref_end:
                    break
            tc = first_crossing(p, V, I_ex, I_in, t_next - t)
            if math.isinf(tc):
                V, I_ex, I_in = propagate(p, V, I_ex, I_in, t_next - t)
                t = t_next
                break
            V, I_ex, I_in = propagate_refractory(p, I_ex, I_in, tc)
            t = min(t + tc, t_next)  # (a crossing at the end of the interval must not pass the input)
            spikes.append(t)
            ref_end = t + p.t_ref
        if w is not None:
            I_ex, I_in = receive(I_ex, I_in, w)
    return spikes, NeuronState(t, V, I_ex, I_in, ref_end)


# ---------------------------------------------------------------------------------------------
# The reference engine's per-model interface
# ---------------------------------------------------------------------------------------------
class ReferenceOps:
    """The ``lif_psc_exp`` operations the reference engine calls; the state is ``(V, I_ex, I_in)`` (mV, pA, pA).

    The engine passes the neuron's present injected current ``I`` (pA: ``I_e`` plus current steps) to
    :meth:`advance` and :meth:`time_to_spike`; it stands for ``I_e`` in the closed forms.

    Parameters
    ----------
    prepared : Prepared
        Per-neuron parameter arrays; only the neurons of ``lif_psc_exp`` populations are read.
    """

    receives_while_refractory = True
    """V is clamped during ``t_ref`` but the currents keep receiving inputs (NEST does the same)."""

    def __init__(self, prepared):
        self._p: list[PscExpParams | None] = [None] * prepared.n_neurons
        for model, lo, hi in zip(prepared.pop_model, prepared.pop_start[:-1], prepared.pop_start[1:]):
            if model != SPEC.name:
                continue
            for i in range(int(lo), int(hi)):
                self._p[i] = PscExpParams(**{key: float(getattr(prepared, key)[i]) for key in PscExpParams._fields
                                             if key != "t_ref"}, t_ref=0.0)  # t_ref: the engine's, in ticks

    def _params(self, i: int, I: float) -> PscExpParams:
        p = self._p[i]
        return p if p.I_e == I else p._replace(I_e=I)

    def initial_state(self, i: int, v: float) -> tuple:
        return (v, 0.0, 0.0)

    def advance(self, i: int, state: tuple, dt: float, I: float) -> tuple:
        """State ``dt`` ms later with no input and injected current ``I`` (pA)."""
        return propagate(self._params(i, I), *state, dt)

    def advance_clamped(self, i: int, state: tuple, dt: float) -> tuple:
        """State ``dt`` ms later while refractory: V stays at its clamped value, the currents decay."""
        return (state[0], *propagate_refractory(self._p[i], state[1], state[2], dt)[1:])

    def receive(self, i: int, state: tuple, weights: list) -> tuple:
        """Inputs arriving together, their weights in pA: each to ``I_ex`` or ``I_in`` by its sign."""
        return (state[0], *receive_batch(state[1], state[2], weights))

    def fires(self, i: int, state: tuple) -> bool:
        return state[0] >= self._p[i].V_th

    def reset(self, i: int, state: tuple) -> tuple:
        return (self._p[i].V_reset, state[1], state[2])

    def time_to_spike(self, i: int, state: tuple, I: float) -> float:
        """Time in ms to the next threshold crossing with no input (inf if none), by the lossless detector."""
        return time_to_spike(self._params(i, I), *state)
