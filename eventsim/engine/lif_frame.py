"""Neuron operations of plain LIF in the time-invariant frame.

A neuron stores ``U = (V - V_inf) exp((t - base)/tau_m)``, constant between events, so a batch of
inputs summing to S is ``U += S E(t)`` with ``E(t) = exp((t - base)/tau_m)`` computed once per distinct
time and time-constant class, and the threshold test is ``U >= (V_th - V_inf) E(t)``, redone in
V-space when its margin is within rounding (:func:`add_inputs`). Poisson arrivals and
constant-current crossings are caught up lazily (:func:`catch_up`).

``r`` is the neuron's NSTATE record, ``nr`` its NEURON record, ``c`` the CTL record,
``q = 1 tick / tau_m`` of its class.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.clock import (add_ms, add_ticks, draw_next_arrival, exponential_draw, frame_exp,
                                   refresh_next_poisson, set_next_poisson, time_lt)
from eventsim.engine.cycles import ACT_CROSSING, ACT_POISSON, activity_of, mark_activity
from eventsim.engine.records import (BATCH_MULTI, BATCH_NONE, BATCH_OPEN, DIRTY, FALSE, FRAME_BAND, NEVER, TICKS_PER_MS,
                                     TRUE, _OPTS, record_spike)


@njit(**_OPTS)
def predict_clean_crossing(r, nr, tick, frac, v0):
    """Remember the crossing time of a neuron that is at v0 at t with no input since.

    Computed exactly as the reference engine computes it, ``t + tau_m ln((v0 - V_inf)/(V_th - V_inf))``
    in the same float64 operations, so that crossings of identical neurons that are simultaneous in
    exact arithmetic (a neuron firing from reset at the arrival time of an identical neuron's spike)
    are simultaneous in both engines, and the tie rule "crossing first" applies.
    """
    r.ctick = DIRTY
    v_inf = r.V_inf
    if v_inf > nr.V_th and v0 < nr.V_th:
        x = nr.tau_m * np.log((v0 - v_inf) / (nr.V_th - v_inf))
        if np.isfinite(x):
            r.ctick, r.cfrac = add_ms(tick, frac, max(0.0, x))


@njit(**_OPTS)
def crossing_due(r, tick, frac, e_t):
    """Has neuron r (not refractory at t) reached V_th by t under its constant current?"""
    if r.thr >= 0.0:
        return False
    if r.ctick != DIRTY:
        return not time_lt(tick, frac, r.ctick, r.cfrac)
    return r.U >= r.thr * e_t


@njit(**_OPTS)
def crossing_bound(r, nr, tick, e_t):
    """A lower bound, in ticks, on when neuron r (at time ``tick``, E(t) = e_t) can reach V_th by itself.

    Exact when the neuron is clean (its crossing is cached); otherwise from
    ``ln(1 + x) >= x / (1 + x)``: the crossing is at least ``tau_m (V_th - V) / (V_inf - V)`` away,
    which in frame values is ``tau_m (U - thr E) / U``: one division instead of a log.
    """
    if r.thr >= 0.0:
        return NEVER
    if r.ctick != DIRTY:
        return r.ctick
    return dirty_bound(r, tick, e_t, nr.tau_m * TICKS_PER_MS)


@njit(inline="always", **_OPTS)
def dirty_bound(r, tick, e_t, tau_ticks):
    """:func:`crossing_bound` of a neuron with ``V_inf > V_th`` whose crossing is not cached, ``tau_ticks``
    its tau_m in ticks (``tau_m * TICKS_PER_MS``: the neuron's record, or its class's ``Net.cls_tau``)."""
    if time_lt(tick, 0.0, r.ref_tick, r.ref_frac):
        return r.ref_tick
    u = r.U
    ahead = u - r.thr * e_t  # (V - V_th) E: negative while below threshold
    if ahead >= 0.0 or u >= 0.0:
        return tick
    return tick + np.int64(tau_ticks * (ahead / u))


@njit(**_OPTS)
def fire(r, nr, i, tick, frac, crossing, q, c, win):
    """Neuron i spikes at (tick, frac): reset, start refractoriness, remember the spike."""
    record_spike(i, tick, frac, crossing, c, win)
    rt = tick + nr.t_ref
    r.ref_tick = rt
    r.ref_frac = frac
    r.U = (nr.V_reset - r.V_inf) * frame_exp(rt, frac, c.base, q)
    predict_clean_crossing(r, nr, rt, frac, nr.V_reset)


@njit(**_OPTS)
def fire_at_crossing(r, nr, i, limit_tick, limit_frac, inclusive, q, c, win):
    """Fire at the constant-current threshold crossing, known to be at or before the limit.

    With ``inclusive`` False a crossing at the limit itself is left for later (returns False):
    a window's end belongs to the next window, as a run's stop time belongs to the next run.
    The crossing time is kept at or after ``c.now`` (the window's start), so that a rounding of
    the frame cannot move a spike before a time that has already been reported as reached.
    """
    was = activity_of(c)
    mark_activity(c, ACT_CROSSING)
    if r.ctick != DIRTY:
        tick, frac = r.ctick, r.cfrac
    else:
        # V_inf + U exp(-(t - base)/tau) = V_th  <=>  t = base + tau ln(U / (V_th - V_inf))
        x = np.log(r.U / r.thr) / q
        if x < 0.0:
            x = 0.0
        tick, frac = add_ticks(c.base, 0.0, x)
        if time_lt(limit_tick, limit_frac, tick, frac):
            tick, frac = limit_tick, limit_frac
        if time_lt(tick, frac, r.ref_tick, r.ref_frac):
            tick, frac = r.ref_tick, r.ref_frac
        if tick < c.now:
            tick, frac = c.now, 0.0
    if not inclusive and not time_lt(tick, frac, limit_tick, limit_frac):
        mark_activity(c, was)
        return False
    fire(r, nr, i, tick, frac, TRUE, q, c, win)
    mark_activity(c, was)
    return True


@njit(**_OPTS)
def needs_catch_up(r, tick, frac, e_t):
    """Cheap test: may neuron r have a Poisson arrival before t or a crossing by t?"""
    return time_lt(r.ps_tick, r.ps_frac, tick, frac) or crossing_due(r, tick, frac, e_t)


@njit(inline="always", **_OPTS)
def catch_up(r, nr, i, tick, frac, e_t, q, c, stream, win, inclusive):
    """Advance neuron i through its Poisson arrivals before t and its crossings up to t
    (:func:`catch_up_general`), the common case inlined: due arrivals of one stream while
    V_inf < V_th (:func:`poisson_run`).

    NOTE: inlined so that the common case makes no call with array arguments: each costs ~12 ns
    of reference counting per array, as much as a Poisson arrival (perf/RESULTS.md, "Poisson
    arrivals in registers"); the rest of the catch-up stays a call.
    """
    m = r.ps_m
    if (r.thr >= 0.0 and r.ps_one and m >= 0
            and time_lt(r.ps_tick, r.ps_frac, tick, frac)):
        poisson_run(r, nr, i, m, stream[m], tick, frac, q, c, win)
    else:
        catch_up_general(r, nr, i, tick, frac, e_t, q, c, stream, win, inclusive)


@njit(**_OPTS)
def catch_up_general(r, nr, i, tick, frac, e_t, q, c, stream, win, inclusive):
    """Advance neuron i through its Poisson arrivals before t and its crossings up to t.

    A crossing at exactly t is fired only when ``inclusive`` (before an input or sample at t),
    not at a window's end (it belongs to the next window: docs/semantics.md, "Runs").

    ``e_t`` is ``E(t)``. Each Poisson arrival costs the frame's ``exp``, a threshold test and the
    next gap's draw (inlined; no call with an array per arrival: perf/RESULTS.md, "Poisson catch-up").
    """
    was = activity_of(c)
    while True:
        m = r.ps_m
        if m >= 0 and time_lt(r.ps_tick, r.ps_frac, tick, frac):
            mark_activity(c, ACT_POISSON)
            pt, pf = r.ps_tick, r.ps_frac
            sr = stream[m]
            if time_lt(pt, pf, r.ref_tick, r.ref_frac):
                c.discarded += 1
            else:
                e = frame_exp(pt, pf, c.base, q)
                if crossing_due(r, pt, pf, e):
                    fire_at_crossing(r, nr, i, pt, pf, TRUE, q, c, win)
                    continue  # the arrival is examined again, now against the new state
                if r.thr < 0.0:
                    r.ctick = DIRTY
                if add_inputs(r, nr, sr.weight, e):
                    fire(r, nr, i, pt, pf, FALSE, q, c, win)
            c.ext_events += 1
            draw_next_arrival(sr, pt, pf)
            if r.ps_one:
                set_next_poisson(r, m, sr)
            else:
                refresh_next_poisson(r, nr, stream)
            continue
        if (not time_lt(tick, frac, r.ref_tick, r.ref_frac) and crossing_due(r, tick, frac, e_t)
                and fire_at_crossing(r, nr, i, tick, frac, inclusive, q, c, win)):
            continue
        mark_activity(c, was)
        return


@njit(inline="always", **_OPTS)
def poisson_run(r, nr, i, m, sr, tick, frac, q, c, win):
    """Neuron i's arrivals before t from its only Poisson stream m (record sr), the first one due,
    while V_inf < V_th (no crossing of its own, ``ctick`` untouched): :func:`catch_up`'s loop
    with the same floating-point operations, in the same order (:func:`arrivals_in_locals`).

    NOTE: the run's state (time of the next arrival, U, the SplitMix64 state, the counters) stays
    in locals and is written back once: through the records, each arrival's time went through
    four store-to-load round trips (stream record, neuron record) on the chain from one arrival to
    the next (perf/RESULTS.md, "Poisson arrivals in registers").
    """
    was = activity_of(c)
    mark_activity(c, ACT_POISSON)
    u, ref_tick, ref_frac, pt, pf, state, n, discarded = arrivals_in_locals(
        r, nr, i, tick, frac, r.U, r.ref_tick, r.ref_frac, r.ps_tick, r.ps_frac, sr.state, sr.weight, sr.rate,
        sr.stop, q, c, win)
    r.U = u
    sr.state = state
    sr.next_tick = pt
    sr.next_frac = pf
    set_next_poisson(r, m, sr)
    c.ext_events += n
    c.discarded += discarded
    mark_activity(c, was)


@njit(inline="always", **_OPTS)
def arrivals_in_locals(r, nr, i, tick, frac, u, ref_tick, ref_frac, pt, pf, state, w, rate, stop, q, c, win):
    """The loop of a neuron's Poisson arrivals before t from its only stream, the first one (pt, pf) due,
    while V_inf < V_th, on locals: U, the refractory end, the next arrival and the SplitMix64 state
    in, the same out with the numbers of arrivals and of those discarded (refractory). Each arrival:
    its E, U + w E, the threshold test of :func:`reaches` (same floats), :func:`fire` through the
    record when it reaches V_th, the next gap. The one definition for :func:`poisson_run` and the
    neuron-by-neuron bucket pass (:mod:`eventsim.engine.neuron_pass`)."""
    # NOTE: what the threshold test (reaches) reads of the records, fixed for the run, kept in locals:
    # the libm exp per arrival clobbers every float register, and a field read after it is a load
    base, thr = c.base, r.thr
    band_w = FRAME_BAND * abs(w) + r.slack  # frame_band's per-input term (the same floats)
    n = 0
    discarded = 0
    while True:
        n += 1
        if time_lt(pt, pf, ref_tick, ref_frac):
            discarded += 1
        else:
            e = frame_exp(pt, pf, base, q)
            u0 = u
            u = u0 + w * e
            d = u - thr * e
            if abs(d) > FRAME_BAND * abs(u0) + e * band_w:
                fires = d >= 0.0
            else:
                fires = reaches_in_v_space(r, nr, u0, w, e)
            if fires:
                r.U = u
                fire(r, nr, i, pt, pf, FALSE, q, c, win)
                u, ref_tick, ref_frac = r.U, r.ref_tick, r.ref_frac
        state, gap = exponential_draw(state, rate)
        pt, pf = add_ms(pt, pf, gap)
        if pt >= stop:
            pt, pf = NEVER, 0.0
            break
        if not time_lt(pt, pf, tick, frac):
            break
    return u, ref_tick, ref_frac, pt, pf, state, n, discarded


@njit(**_OPTS)
def potential(r, nr, tick, frac, q, base):
    """Membrane potential at t (after catch-up), in mV."""
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        return nr.V_reset
    return frame_potential(r.V_inf, r.U, frame_exp(tick, frac, base, q))


@njit(inline="always", **_OPTS)
def frame_potential(v_inf, u, e_t):
    """The engine's V at t from frame value u, E(t) = e_t: ``V_inf + U / E(t)`` in float64 (mV).

    This is what a voltage sample reports and the V that threshold decisions in the tight band
    use (docs/semantics.md, "Same-time inputs").
    """
    return v_inf + u / e_t


@njit(inline="always", **_OPTS)
def add_inputs(r, nr, s, e_t):
    """Add the summed inputs s (mV) of a batch at E(t) = e_t to U; True if V reaches V_th.

    The decision is the one docs/semantics.md defines: ``V + s >= V_th`` in float64, V the
    engine's potential before the batch (:func:`frame_potential`). The frame test
    ``U + s E >= thr E`` agrees with it whenever its margin exceeds the roundings of both
    computations (at most ~8 units of 2**-53 of the terms' magnitudes; FRAME_BAND allows 16).
    """
    u0 = r.U
    u = u0 + s * e_t
    r.U = u
    return reaches(r, nr, u0, u, s, e_t)


@njit(inline="always", **_OPTS)
def reaches(r, nr, u0, u, s, e_t):
    """:func:`add_inputs`' threshold decision for frame value u0 and u = u0 + s E(t), E(t) = e_t."""
    d = u - r.thr * e_t
    # NOTE: a few flops per batch, all from the record's first cache line (slack holds the
    # V_inf and thr terms), keep the frame's speed; only a margin within rounding of zero (ties
    # of the sum with V_th) pays for the division of the V-space test.
    if abs(d) > frame_band(r, u0, s, e_t):
        return d >= 0.0
    return reaches_in_v_space(r, nr, u0, s, e_t)


@njit(inline="always", **_OPTS)
def frame_band(r, u0, s, e_t):
    """Rounding allowance of the frame's threshold test for inputs s (mV) at E(t) = e_t from frame value u0."""
    return FRAME_BAND * abs(u0) + e_t * (FRAME_BAND * abs(s) + r.slack)


@njit(inline="always", **_OPTS)
def clearly_below(r, u0, s, e_t):
    """True when inputs s (mV) at E(t) = e_t leave frame value u0 below threshold by more than the
    rounding band: exactly when :func:`add_inputs` would return False without the V-space test (same floats)."""
    d = (u0 + s * e_t) - r.thr * e_t
    return d < 0.0 and -d > frame_band(r, u0, s, e_t)


@njit(**_OPTS)
def reaches_in_v_space(r, nr, u0, s, e_t):
    """``V + s >= V_th`` with V the potential of frame value u0 at E(t) = e_t (docs/semantics.md).

    NOTE: a call, not inlined: the rare tie path kept inline made Brunel's Poisson and bucket
    loops ~10 % slower (measured with perf/ab.py).
    """
    return frame_potential(r.V_inf, u0, e_t) + s >= nr.V_th


@njit(**_OPTS)
def set_v_inf(r, nr, v_inf):
    """Neuron r's asymptotic potential is now v_inf (mV): V_inf, thr = V_th - V_inf and the
    V-space terms of :func:`add_inputs`' band, ``FRAME_BAND (|V_inf| + |thr|)``."""
    r.V_inf = v_inf
    r.thr = nr.V_th - v_inf
    r.slack = FRAME_BAND * (abs(v_inf) + abs(r.thr))


@njit(inline="always", **_OPTS)
def open_batch(r, w):
    """Neuron r's first (non-discarded) input of a batch, w mV; added when the batch closes."""
    r.bw = w
    r.bflag = BATCH_OPEN
    if r.thr < 0.0:
        # NOTE: ctick only matters while V_inf > V_th; not writing it otherwise keeps a delivery
        # within the record's first cache line.
        r.ctick = DIRTY


@njit(inline="always", **_OPTS)
def close_batch(r, nr, i, tick, frac, e_t, q, c, win):
    """End neuron i's batch at (tick, frac), E(t) = e_t: add its sum ``bw``, test the threshold once.

    Returns True when the neuron's wake-up may have come earlier (it fired, or excitation while
    V_inf > V_th); inlined because a call with array arguments costs ~20 ns per delivery.
    """
    flag = r.bflag
    r.bflag = BATCH_NONE
    if flag != BATCH_OPEN and flag != BATCH_MULTI:
        return False
    s = r.bw
    if add_inputs(r, nr, s, e_t):
        fire(r, nr, i, tick, frac, FALSE, q, c, win)
        return True
    return s > 0.0 and r.thr < 0.0


@njit(**_OPTS)
def change_current(r, nr, i, tick, frac, delta, q, c, stream, win):
    """Add ``delta`` pA to neuron i's injected current from t on."""
    e_t = frame_exp(tick, frac, c.base, q)
    catch_up(r, nr, i, tick, frac, e_t, q, c, stream, win, TRUE)
    r.I += delta
    v_inf = nr.E_L + r.I * nr.R_m
    refractory = time_lt(tick, frac, r.ref_tick, r.ref_frac)
    if refractory:
        r.U = (nr.V_reset - v_inf) * frame_exp(r.ref_tick, r.ref_frac, c.base, q)
    else:
        r.U = (r.V_inf + r.U / e_t - v_inf) * e_t
    set_v_inf(r, nr, v_inf)
    r.ctick = DIRTY
    if refractory:  # it restarts from V_reset at the end of the refractory period: clean
        predict_clean_crossing(r, nr, r.ref_tick, r.ref_frac, nr.V_reset)
