"""Numba kernels of the compiled engine: the whole event loop, in one module.

Everything here is ``@njit(cache=True)`` and takes only arrays, scalars and the two namedtuples
built by :mod:`eventsim.engine.numba_engine` (``Net``: the static network, ``State``: everything
that changes). They are still one module, but need not stay one: :mod:`eventsim.engine.jit_cache`
keys Numba's cache by all engine sources, so kernels split over modules cannot load stale code.

The algorithm (docs/architecture.md has the long version):

* **Windows of the minimum delay.** Time advances in windows ``[k W, (k+1) W)`` with ``W`` at most
  the smallest synaptic delay, so a spike emitted in a window arrives in a later one. Within a
  window, neurons are independent. Spikes of a window are collected and queued at its end (the
  point where an MPI version would exchange them).
* **Queue of spike groups.** A binary heap holds one entry per (spike, projection) — or per (spike,
  projection, run of equal delays) for per-synapse delays — keyed by ``(arrival tick, frac,
  source, projection)``: O(log n) per entry, not per synapse, and a canonical order for ties.
* **Gather, bucket, advance.** At a window's start everything due in it is taken off the queues in
  time order (:func:`gather_window`); each item's targets get an entry in the bucket of their
  neuron range, in item order (:func:`fill_entries`), so each bucket is sorted by time. Buckets are
  then worked one at a time with their neurons' states in cache (:func:`process_entries`):
  same-time inputs of a neuron are summed exactly (whatever their order) and tested against
  threshold once. Small windows are
  delivered straight from the queues instead (:func:`run_window_direct`), with bit-identical
  results.
* **Time-invariant frame.** A neuron stores ``U = (V - V_inf) exp((t - base) / tau_m)``, which is
  constant between events, so a batch of inputs summing to S is ``U += S * E(t)`` with
  ``E(t) = exp((t - base)/tau_m)`` computed once per distinct time and time-constant class, and the
  threshold test is ``U >= (V_th - V_inf) * E(t)``, redone in V-space when its margin is within
  rounding (:func:`add_inputs`). ``base`` is moved forward (and all ``U`` rescaled) before the
  exponent can overflow.
* **Lazy autonomous dynamics.** Poisson arrivals and constant-current threshold crossings never
  enter the global queue: a neuron is advanced through them (exactly, in time order) when an entry
  reaches it and at each window's end if its wake-up bound says it may act.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from eventsim import rng as _rng

# Record layouts. Per-neuron state (NSTATE) keeps what an input reads in its first cache line.
NEURON = np.dtype([("tau_class", np.int64), ("pop", np.int64), ("ps_lo", np.int64), ("ps_hi", np.int64),
                   ("t_ref", np.int64), ("record", np.int64), ("E_L", np.float64), ("R_m", np.float64),
                   ("tau_m", np.float64),
                   ("V_th", np.float64), ("V_reset", np.float64), ("V_init", np.float64)], align=True)
"""Static per-neuron parameters (t_ref in ticks; Poisson streams ps_lo..ps_hi)."""

NSTATE = np.dtype([("U", np.float64), ("thr", np.float64), ("ref_tick", np.int64), ("ref_frac", np.float64),
                   ("bt", np.int32), ("bflag", np.int32), ("bw", np.float64), ("cls", np.int32), ("ps_m", np.int32),
                   ("slack", np.float64),
                   ("ps_tick", np.int64), ("ps_frac", np.float64), ("ctick", np.int64), ("cfrac", np.float64),
                   ("V_inf", np.float64), ("I", np.float64), ("touched", np.int64), ("chain", np.int64)],
                  align=True)
"""Per-neuron state, 128 bytes on two cache lines (arrays of it start on a line): the first holds
what an input reads: U = (V - V_inf) exp((t - base)/tau_m), thr = V_th - V_inf, refractory end,
the open input batch (time index bt of the window, -1 if none since the window began; bflag
BATCH_NONE / BATCH_OPEN / BATCH_MULTI / BATCH_REFRACTORY; bw its first weight, mV, added to U
when the batch closes), the time-constant class and the Poisson stream of the earliest pending
arrival (ps_m, -1 if none), and the frame's V-space rounding allowance ``slack`` (mV,
:func:`set_v_inf`). The second: that arrival's time, the clean crossing time (ctick,
cfrac; ctick = DIRTY when an input arrived since the last reset), V_inf (mV), the injected
current I (pA), the batch stamp of direct delivery (touched) and the first of the batch's
partials in the side buffer when its sum is not exact in float64 (chain, :func:`add_inexact`)."""

PROJ = np.dtype([("pre_pop", np.int64), ("rowptr_start", np.int64), ("weight", np.float64),
                 ("weight_shift", np.int64), ("delay", np.int64), ("delay_shift", np.int64)], align=True)
STREAM = np.dtype([("next_tick", np.int64), ("next_frac", np.float64), ("state", np.uint64), ("rate", np.float64),
                   ("weight", np.float64), ("stop", np.int64), ("start", np.int64), ("key", np.uint64)], align=True)
"""A Poisson stream: pending arrival, SplitMix64 state, rate (per ms), weight (mV), [start, stop) ticks."""
TIMED = np.dtype([("tick", np.int64), ("frac", np.float64), ("target", np.int64), ("value", np.float64),
                  ("slot", np.int64)], align=True)
"""Scheduled current changes (value = pA) and voltage samples (slot). Scheduled input arrivals are
plain arrays (sa_tick, sa_frac, sa_target int32, sa_weight) so that they share the delivery loop."""
SPIKE = np.dtype([("id", np.int64), ("tick", np.int64), ("frac", np.float64)], align=True)
HEAP = np.dtype([("tick", np.int64), ("frac", np.float64), ("src", np.int64), ("proj", np.int64),
                 ("pos", np.int64)], align=True)
"""Pending spike group: arrival time, source neuron, projection, first synapse of the group."""
GROUP = np.dtype([("ti", np.int64), ("w", np.float64), ("kind", np.int64), ("lo", np.int64), ("hi", np.int64),
                  ("wsh", np.int64), ("src", np.int64), ("aux", np.int64)], align=True)
"""One item of the current window, in time order: time index ti; kind INPUTS (targets ``[lo, hi)``
of the synapse table (src 0) or of the scheduled arrivals (src 1), weight w, NaN when per
synapse at ``s + wsh``), CURRENT (target lo, change net.cc[aux]) or SAMPLE (target lo, net.vs[aux])."""
SIDE = np.dtype([("w", np.float64), ("next", np.int64)], align=True)
"""A partial of a batch's exact sum (mV), chained per neuron (next: -1 ends it); :func:`add_inexact`."""
WTIME = np.dtype([("tick", np.int64), ("frac", np.float64)], align=True)
"""A distinct event time of the current window."""
CURRENT, INPUTS, SAMPLE = 0, 1, 2
BATCH_NONE, BATCH_OPEN, BATCH_REFRACTORY, BATCH_MULTI = 0, 1, 2, 3

Buffers = namedtuple("Buffers", "heap out grp times time_E ent ent_w side")
"""Arrays the loop may regrow (returned by :func:`advance`): the spike-group heap, recorded spikes,
the window's items, distinct times, ``E`` per (time, class) and per-target entries (item
index, and weight when per synapse), and the side buffer of batches with several inputs (SIDE)."""

CTL = np.dtype([
    ("now", np.int64),  # simulated up to here (ticks, exclusive)
    ("base", np.int64),  # tick at which the frame exponent is zero
    ("heap_n", np.int64),  # entries in the heap
    ("win_n", np.int64),  # spikes emitted in the current window
    ("out_n", np.int64),  # recorded spikes in the output buffer
    ("sa_p", np.int64), ("cc_p", np.int64), ("vs_p", np.int64),  # next scheduled arrival / change / sample
    ("started", np.int64),  # initial state set up
    ("overflow", np.int64),  # a window emitted more spikes than the window buffer holds
    ("window", np.int64),  # window length, ticks
    ("max_out_proj", np.int64),  # most projections leaving one population
    ("bucket_shift", np.int64),  # neurons i >> bucket_shift share an entry bucket
    ("batch", np.int64),  # id of the current same-time input batch (direct delivery)
    ("direct", np.int64),  # deliver the current window directly (1) or through buckets (0)
    ("direct_max_neurons", np.int64),  # networks up to this size always deliver directly
    ("direct_max_entries", np.int64),  # a window after one with at most this many inputs too
    ("side_n", np.int64),  # entries in the side buffer (emptied when the batches close)
    ("wake_min", np.int64),  # no neuron acts on its own before this tick (a lower bound)
    # counters
    ("syn_events", np.int64),  # synaptic deliveries (including discarded ones)
    ("ext_events", np.int64),  # Poisson and scheduled arrivals (including discarded ones)
    ("discarded", np.int64),  # inputs dropped because the target was refractory
    ("spikes", np.int64),  # spikes of all neurons
    ("crossing_spikes", np.int64),  # spikes at constant-current threshold crossings
    ("heap_pushes", np.int64),
    ("heap_peak", np.int64),
    ("windows", np.int64),
    ("batches", np.int64),  # same-time input batches
    ("direct_windows", np.int64),  # windows delivered directly
], align=True)
"""Control scalars and counters of a run, one record (passed by pointer: no reference counting)."""
COUNTER_NAMES = ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes", "heap_pushes",
                 "heap_peak", "windows", "batches", "direct_windows")

TICKS_PER_MS = 1e6
NEVER = np.iinfo(np.int64).max
DIRTY = -1  # ctick of a neuron whose crossing must be found from its frame value
BLOCK_SHIFT = 6  # wake-up minima are kept per block of 64 neurons
REBASE_EXPONENT = 100.0  # rebase the frame when exp() arguments would pass this
SIDE_SCRATCH = 64  # side-buffer records kept free after the chains, rounded_sum's scratch (<= 40 partials)
FRAME_BAND = 2.0 ** -49  # 16 float64 roundings: the frame's threshold margin is trusted beyond this
# NOTE: the ziggurat tables are frozen into the compiled code; Numba's cache does not see changes in
# eventsim/rng.py, but tests/test_rng.py compares both implementations bit for bit.
_ZIG_X, _ZIG_F, _ZIG_R = _rng.ZIG_X.copy(), _rng.ZIG_F.copy(), _rng.ZIG_R
_U53 = 1.0 / 9007199254740992.0
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)

_OPTS = dict(cache=True, nogil=True, error_model="numpy")
# NOTE: a call that LLVM does not inline costs ~12 ns per array argument (reference counting), and
# passing a Net or State tuple costs ~300 ns. Hence: functions on the per-delivery and
# per-Poisson-arrival path take records (plain pointers) and the few arrays they need, and loops
# pull arrays out of the tuples once, before the loop.


# ---------------------------------------------------------------------------------------------
# Time arithmetic on (tick, frac) pairs
# ---------------------------------------------------------------------------------------------
@njit(**_OPTS)
def time_lt(at, af, bt, bf):
    """(at, af) < (bt, bf)."""
    return at < bt or (at == bt and af < bf)


@njit(**_OPTS)
def add_ms(tick, frac, x_ms):
    """Add a non-negative duration in ms to a time; exact as docs/semantics.md defines it."""
    y = frac + x_ms * TICKS_PER_MS
    k = np.floor(y)
    return tick + np.int64(k), y - k


@njit(**_OPTS)
def add_ticks(tick, frac, x_ticks):
    """Add a non-negative float number of ticks to a time."""
    y = frac + x_ticks
    k = np.floor(y)
    return tick + np.int64(k), y - k


@njit(**_OPTS)
def frame_exp(tick, frac, base, q_over_tau):
    """E(t) = exp((t - base) / tau) with q_over_tau = 1 tick / tau."""
    return np.exp((np.float64(tick - base) + frac) * q_over_tau)


# ---------------------------------------------------------------------------------------------
# Per-stream random numbers (SplitMix64, identical to eventsim.rng in plain Python)
# ---------------------------------------------------------------------------------------------
@njit(**_OPTS)
def _splitmix_next(sr):
    """Advance the SplitMix64 state of stream record sr; return its output."""
    z = sr.state + _GOLDEN
    sr.state = z
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(**_OPTS)
def exponential_gap(sr, rate_per_ms):
    """Exponential gap in ms from stream record sr: ziggurat Exp(1) / rate, as eventsim.rng."""
    offset = 0.0
    while True:
        z = _splitmix_next(sr)
        i = np.int64(z & np.uint64(0xFF))
        x = np.float64(z >> np.uint64(11)) * _U53 * _ZIG_X[i]
        if x < _ZIG_X[i + 1]:
            return (offset + x) / rate_per_ms
        if i == 0:
            offset += _ZIG_R
            continue
        z = _splitmix_next(sr)
        if _ZIG_F[i] + np.float64(z >> np.uint64(11)) * _U53 * (_ZIG_F[i + 1] - _ZIG_F[i]) < np.exp(-x):
            return (offset + x) / rate_per_ms


@njit(**_OPTS)
def draw_next_arrival(sr, tick, frac):
    """Schedule the next arrival of stream record sr after time (tick, frac)."""
    nt, nf = add_ms(tick, frac, exponential_gap(sr, sr.rate))
    if nt >= sr.stop:
        nt, nf = NEVER, 0.0
    sr.next_tick = nt
    sr.next_frac = nf


@njit(**_OPTS)
def refresh_next_poisson(r, nr, stream):
    """Cache in neuron record r the earliest pending arrival among its Poisson streams."""
    if nr.ps_hi - nr.ps_lo == 1:  # the common case: one stream
        m = nr.ps_lo
        r.ps_m = m if stream[m].next_tick != NEVER else -1
        r.ps_tick = stream[m].next_tick
        r.ps_frac = stream[m].next_frac
        return
    best, bt, bf = -1, NEVER, 0.0
    for m in range(nr.ps_lo, nr.ps_hi):
        p = stream[m]
        if p.next_tick != NEVER and (best < 0 or time_lt(p.next_tick, p.next_frac, bt, bf)):
            best, bt, bf = m, p.next_tick, p.next_frac
    r.ps_m = best
    r.ps_tick = bt
    r.ps_frac = bf


# ---------------------------------------------------------------------------------------------
# Binary heap of spike groups, keyed by (tick, frac, source, projection)
# ---------------------------------------------------------------------------------------------
@njit(**_OPTS)
def _heap_less(h, a, b):
    if h[a].tick != h[b].tick:
        return h[a].tick < h[b].tick
    if h[a].frac != h[b].frac:
        return h[a].frac < h[b].frac
    if h[a].src != h[b].src:
        return h[a].src < h[b].src
    return h[a].proj < h[b].proj


@njit(**_OPTS)
def _heap_swap(h, a, b):
    ra, rb = h[a], h[b]
    ra.tick, rb.tick = rb.tick, ra.tick
    ra.frac, rb.frac = rb.frac, ra.frac
    ra.src, rb.src = rb.src, ra.src
    ra.proj, rb.proj = rb.proj, ra.proj
    ra.pos, rb.pos = rb.pos, ra.pos


@njit(**_OPTS)
def heap_push(h, n, tick, frac, src, proj, pos):
    """Insert an entry at index n (capacity checked by the caller); O(log n)."""
    r = h[n]
    r.tick, r.frac, r.src, r.proj, r.pos = tick, frac, src, proj, pos
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if _heap_less(h, i, parent):
            _heap_swap(h, i, parent)
            i = parent
        else:
            break


@njit(**_OPTS)
def heap_pop(h, n):
    """Move the smallest of n entries to index n-1 and restore the heap on 0..n-2; O(log n)."""
    last = n - 1
    _heap_swap(h, 0, last)
    i = 0
    while True:
        left = 2 * i + 1
        if left >= last:
            break
        child = left
        if left + 1 < last and _heap_less(h, left + 1, left):
            child = left + 1
        if _heap_less(h, child, i):
            _heap_swap(h, child, i)
            i = child
        else:
            break


@njit(**_OPTS)
def heap_check(h, n):
    """True when the first n entries satisfy the heap property (used by tests)."""
    for i in range(1, n):
        if _heap_less(h, i, (i - 1) >> 1):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Neuron updates: r is the neuron's NSTATE record, nr its NEURON record, c the CTL record,
# q = 1 tick / tau_m of its class.
# ---------------------------------------------------------------------------------------------
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
    if time_lt(tick, 0.0, r.ref_tick, r.ref_frac):
        return r.ref_tick
    ahead = r.U - r.thr * e_t  # (V - V_th) E: negative while below threshold
    if ahead >= 0.0 or r.U >= 0.0:
        return tick
    return tick + np.int64(nr.tau_m * TICKS_PER_MS * (ahead / r.U))


@njit(**_OPTS)
def set_wake(wake, block_min, i, t):
    """Neuron i may next act on its own at tick t (its Poisson arrival or crossing); O(1)."""
    wake[i] = t
    b = i >> BLOCK_SHIFT
    if t < block_min[b]:
        block_min[b] = t


@njit(**_OPTS)
def update_wake(r, nr, i, tick, e_t, wake, block_min):
    """Recompute neuron i's wake-up tick after its state changed at ``tick``."""
    t = crossing_bound(r, nr, tick, e_t)
    if r.ps_tick < t:
        t = r.ps_tick
    set_wake(wake, block_min, i, t)


@njit(**_OPTS)
def fire(r, nr, i, tick, frac, crossing, q, c, win):
    """Neuron i spikes at (tick, frac): reset, start refractoriness, remember the spike."""
    n = c.win_n
    if n < win.size:
        w = win[n]
        w.id, w.tick, w.frac = i, tick, frac
    else:
        c.overflow = 1
    c.win_n = n + 1
    c.spikes += 1
    if crossing:
        c.crossing_spikes += 1
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
        return False
    fire(r, nr, i, tick, frac, True, q, c, win)
    return True


@njit(**_OPTS)
def needs_catch_up(r, tick, frac, e_t):
    """Cheap test: may neuron r have a Poisson arrival before t or a crossing by t?"""
    return time_lt(r.ps_tick, r.ps_frac, tick, frac) or crossing_due(r, tick, frac, e_t)


@njit(**_OPTS)
def catch_up(r, nr, i, tick, frac, e_t, q, c, stream, win, inclusive):
    """Advance neuron i through its Poisson arrivals before t and its crossings up to t.

    A crossing at exactly t is fired only when ``inclusive`` (before an input or sample at t),
    not at a window's end (it belongs to the next window: docs/semantics.md, "Runs").

    ``e_t`` is ``E(t)``. Each Poisson arrival costs one ``exp``, one ``log`` and a threshold test.
    """
    while True:
        m = r.ps_m
        if m >= 0 and time_lt(r.ps_tick, r.ps_frac, tick, frac):
            pt, pf = r.ps_tick, r.ps_frac
            if time_lt(pt, pf, r.ref_tick, r.ref_frac):
                c.discarded += 1
            else:
                e = frame_exp(pt, pf, c.base, q)
                if crossing_due(r, pt, pf, e):
                    fire_at_crossing(r, nr, i, pt, pf, True, q, c, win)
                    continue  # the arrival is examined again, now against the new state
                if r.thr < 0.0:
                    r.ctick = DIRTY
                if add_inputs(r, nr, stream[m].weight, e):
                    fire(r, nr, i, pt, pf, False, q, c, win)
            c.ext_events += 1
            draw_next_arrival(stream[m], pt, pf)
            refresh_next_poisson(r, nr, stream)
            continue
        if (not time_lt(tick, frac, r.ref_tick, r.ref_frac) and crossing_due(r, tick, frac, e_t)
                and fire_at_crossing(r, nr, i, tick, frac, inclusive, q, c, win)):
            continue
        return


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
    d = u - r.thr * e_t
    # NOTE: a few flops per batch, all from the record's first cache line (slack holds the
    # V_inf and thr terms), keep the frame's speed; only a margin within rounding of zero (ties
    # of the sum with V_th) pays for the division of the V-space test.
    if abs(d) > FRAME_BAND * abs(u0) + e_t * (FRAME_BAND * abs(s) + r.slack):
        return d >= 0.0
    return reaches_in_v_space(r, nr, u0, s, e_t)


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
def add_exactly(r, w):
    """Add another input of w mV to neuron r's open batch if the sum stays exact; False if
    :func:`add_inexact` must add it. Either way ``r.bw`` stays the batch's exact sum rounded once
    (docs/semantics.md); O(1) while the additions are exact (equal weights of multapses, most
    grid values).

    NOTE: the caller calls add_inexact itself: passing the side buffer into an inlined function
    cost reference counting on every delivery (Benchmark 4: ~10 %).
    """
    if r.bflag == BATCH_OPEN:
        a = r.bw
        t = a + w
        b = t - a
        if (a - (t - b)) + (w - b) == 0.0:  # Knuth's TwoSum: t is the exact sum
            r.bw = t
            return True
    return False


@njit(**_OPTS)
def add_inexact(r, w, side, c):
    """Add w mV to neuron r's batch through its exact partials (Shewchuk, as math.fsum).

    The partials (non-overlapping, by increasing magnitude) are a list chained through the side
    buffer from ``r.chain``; a term changes them in place and adds at most one record, so a
    batch of k inputs holds at most k records (capacity checked by the caller, plus SIDE_SCRATCH
    free records after them). Then ``r.bw`` becomes their sum rounded once. O(p) for p <= 40
    partials.
    """
    if r.bflag == BATCH_OPEN:  # the sum so far is exact: it is the one partial
        r.bflag = BATCH_MULTI
        n = c.side_n
        side[n].w = r.bw
        side[n].next = -1
        r.chain = n
        c.side_n = n + 1
    x = w
    wk = r.chain  # next record to write a partial into (never after k)
    last = -1
    k = r.chain
    while k >= 0:
        y = side[k].w
        k = side[k].next
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            side[wk].w = lo
            last = wk
            wk = side[wk].next
        x = hi
    if wk >= 0:
        side[wk].w = x
        side[wk].next = -1
    else:
        n = c.side_n
        side[n].w = x
        side[n].next = -1
        side[last].next = n
        c.side_n = n + 1
    r.bw = rounded_sum(side, r.chain, c.side_n)


@njit(**_OPTS)
def rounded_sum(side, head, p0):
    """The sum of the partials chained from ``side[head]`` (increasing magnitude), rounded once
    as :func:`math.fsum` rounds it; ``side[p0:p0 + SIDE_SCRATCH]`` is scratch."""
    n = 0
    k = head
    while k >= 0:
        side[p0 + n].w = side[k].w
        n += 1
        k = side[k].next
    n -= 1
    hi = side[p0 + n].w
    lo = 0.0
    while n > 0:
        x = hi
        n -= 1
        y = side[p0 + n].w
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            break
    # round half to even across the partials below, as math.fsum does
    if n > 0 and ((lo < 0.0 and side[p0 + n - 1].w < 0.0) or (lo > 0.0 and side[p0 + n - 1].w > 0.0)):
        y = lo * 2.0
        x = hi + y
        if y == x - hi:
            hi = x
    return hi


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
        fire(r, nr, i, tick, frac, False, q, c, win)
        return True
    return s > 0.0 and r.thr < 0.0


@njit(**_OPTS)
def change_current(r, nr, i, tick, frac, delta, q, c, stream, win):
    """Add ``delta`` pA to neuron i's injected current from t on."""
    e_t = frame_exp(tick, frac, c.base, q)
    catch_up(r, nr, i, tick, frac, e_t, q, c, stream, win, True)
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


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------
@njit(**_OPTS)
def _grown(a, n, need):
    """``a`` if it holds ``need`` records, else a copy of its first n records with room to spare."""
    if need <= a.size:
        return a
    b = np.empty(max(need, 2 * a.size, 64), a.dtype)
    b[:n] = a[:n]
    return b


@njit(**_OPTS)
def flush_window(net, st, h, out):
    """Queue the spikes of the finished window and record those of recorded neurons."""
    c = st.ctl[0]
    n_spk = c.win_n
    n = c.heap_n
    h = _grown(h, n, n + n_spk * c.max_out_proj)
    n_out = c.out_n
    out = _grown(out, n_out, n_out + n_spk)
    neuron, proj, rowptr, syn_delay = net.neuron, net.proj, net.rowptr, net.syn_delay
    for q in range(n_spk):
        sp = st.win[q]
        i, tick, frac = sp.id, sp.tick, sp.frac
        if neuron[i].record:
            o = out[n_out]
            o.id, o.tick, o.frac = i, tick, frac
            n_out += 1
        p = neuron[i].pop
        for k in range(net.pop_proj_ptr[p], net.pop_proj_ptr[p + 1]):
            j = net.pop_proj[k]
            pj = proj[j]
            row = pj.rowptr_start + i - net.pop_start[pj.pre_pop]
            lo = rowptr[row]
            if lo == rowptr[row + 1]:
                continue
            d = pj.delay
            if d < 0:
                d = np.int64(syn_delay[lo + pj.delay_shift])
            heap_push(h, n, tick + d, frac, i, j, lo)
            n += 1
            c.heap_pushes += 1
    c.win_n = 0
    c.out_n = n_out
    c.heap_n = n
    if n > c.heap_peak:
        c.heap_peak = n
    return h, out


@njit(**_OPTS)
def start(net, st):
    """Set the initial state at t = 0: frame values, first Poisson arrivals, V_init >= V_th."""
    c = st.ctl[0]
    c.base = 0
    stream = st.stream
    for m in range(stream.size):
        sr = stream[m]
        sr.state = sr.key
        if sr.start >= sr.stop:
            sr.next_tick = NEVER
        else:
            draw_next_arrival(sr, sr.start, 0.0)
    for i in range(net.neuron.size):
        r, nr = st.nrn[i], net.neuron[i]
        set_v_inf(r, nr, r.V_inf)
        refresh_next_poisson(r, nr, stream)
        r.U = nr.V_init - r.V_inf
        predict_clean_crossing(r, nr, np.int64(0), 0.0, nr.V_init)
        if nr.V_init >= nr.V_th:
            fire(r, nr, i, np.int64(0), 0.0, False, net.cls_q[r.cls], c, st.win)
        update_wake(r, nr, i, np.int64(0), 1.0, st.wake, st.block_min)
    c.wake_min = st.block_min.min()
    c.started = 1


@njit(**_OPTS)
def rebase(net, st, new_base):
    """Move the frame origin to ``new_base`` (rescales every U; rounding only)."""
    c = st.ctl[0]
    factors = np.exp(-np.float64(new_base - c.base) * net.cls_q)
    nrn = st.nrn
    for i in range(nrn.size):
        nrn[i].U *= factors[nrn[i].cls]
    c.base = new_base


@njit(**_OPTS)
def _next_kind(net, c, h):
    """Kind and time of the earliest pending timed event (CURRENT, INPUTS or SAMPLE; -1 if none).

    At equal times current changes come first, then inputs, then voltage samples.
    """
    kind, tick, frac = -1, NEVER, 0.0
    if c.cc_p < net.cc.size:
        kind, tick, frac = CURRENT, net.cc[c.cc_p].tick, net.cc[c.cc_p].frac
    if c.heap_n > 0 and (kind < 0 or time_lt(h[0].tick, h[0].frac, tick, frac)):
        kind, tick, frac = INPUTS, h[0].tick, h[0].frac
    sp = c.sa_p
    if sp < net.sa_tick.size and (kind < 0 or time_lt(net.sa_tick[sp], net.sa_frac[sp], tick, frac)):
        kind, tick, frac = INPUTS, net.sa_tick[sp], net.sa_frac[sp]
    if c.vs_p < net.vs.size and (kind < 0 or time_lt(net.vs[c.vs_p].tick, net.vs[c.vs_p].frac, tick, frac)):
        kind, tick, frac = SAMPLE, net.vs[c.vs_p].tick, net.vs[c.vs_p].frac
    return kind, tick, frac


@njit(inline="always", **_OPTS)
def pop_group(h, n, tick, frac, proj, rowptr, pop_start, syn_delay, c):
    """Take the earliest of the n heap entries, due at (tick, frac), off the heap.

    Returns ``(n, src, proj, lo, hi)``: the new entry count and the group's synapses ``[lo, hi)``.
    With per-synapse delays the group is the run of equal delays and the rest of the row goes
    back to the heap at its next delay.
    """
    heap_pop(h, n)
    g = h[n - 1]
    src, j, lo = g.src, g.proj, g.pos
    pj = proj[j]
    hi = rowptr[pj.rowptr_start + src - pop_start[pj.pre_pop] + 1]
    n -= 1
    if pj.delay < 0:
        d0 = syn_delay[lo + pj.delay_shift]
        end = lo + 1
        while end < hi and syn_delay[end + pj.delay_shift] == d0:
            end += 1
        if end < hi:
            heap_push(h, n, tick - d0 + syn_delay[end + pj.delay_shift], frac, src, j, end)
            c.heap_pushes += 1
            n += 1
        hi = end
    c.syn_events += hi - lo
    return n, src, j, lo, hi


@njit(inline="always", **_OPTS)
def take_scheduled(sa_tick, sa_frac, c, tick, frac):
    """The scheduled input arrivals due at exactly (tick, frac): ``[lo, hi)``, taken (counted)."""
    lo = c.sa_p
    hi = lo
    while hi < sa_tick.size and sa_tick[hi] == tick and sa_frac[hi] == frac:
        hi += 1
    c.ext_events += hi - lo
    c.sa_p = hi
    return lo, hi


@njit(**_OPTS)
def _count_targets(bcnt, shift, targets, lo, hi):
    """One more entry in the bucket of each of ``targets[lo:hi]``."""
    for s in range(lo, hi):
        bcnt[targets[s] >> shift] += 1


@njit(**_OPTS)
def _add_item(grp, n_g, ti, kind, w, lo, hi, wsh, src, aux):
    grp = _grown(grp, n_g, n_g + 1)
    g = grp[n_g]
    g.ti, g.kind, g.w, g.lo, g.hi, g.wsh, g.src, g.aux = ti, kind, w, lo, hi, wsh, src, aux
    return grp


@njit(**_OPTS)
def gather_window(net, st, buf, t_end):
    """Take every event before t_end off the queues, in time order, as the window's items.

    Each distinct time gets an index and its ``E`` per time-constant class; each item adds one
    entry per target to its target's bucket count ``st.bcnt``. Per-synapse delays: a group is the
    run of equal delays, the rest of the row goes back to the heap. Returns (buf, items).
    """
    c = st.ctl[0]
    h, grp, times, time_E = buf.heap, buf.grp, buf.times, buf.time_E
    cls_q, bcnt, shift = net.cls_q, st.bcnt, c.bucket_shift
    n_cls = cls_q.size
    syn_delay, rowptr, proj, pop_start = net.syn_delay, net.rowptr, net.proj, net.pop_start
    n_g = 0
    n_t = 0
    while True:
        kind, tick, frac = _next_kind(net, c, h)
        if kind < 0 or tick >= t_end:
            break
        if n_t == 0 or times[n_t - 1].tick != tick or times[n_t - 1].frac != frac:
            times = _grown(times, n_t, n_t + 1)
            time_E = _grown(time_E, n_t * n_cls, (n_t + 1) * n_cls)
            times[n_t].tick, times[n_t].frac = tick, frac
            for k in range(n_cls):
                time_E[n_t * n_cls + k] = frame_exp(tick, frac, c.base, cls_q[k])
            n_t += 1
        ti = n_t - 1
        if kind == INPUTS:
            c.batches += 1
            n = c.heap_n
            while n > 0 and h[0].tick == tick and h[0].frac == frac:
                n, src, j, lo, hi = pop_group(h, n, tick, frac, proj, rowptr, pop_start, syn_delay, c)
                pj = proj[j]
                grp = _add_item(grp, n_g, ti, INPUTS, pj.weight, lo, hi, pj.weight_shift, 0, j)
                n_g += 1
                _count_targets(bcnt, shift, net.syn_target, lo, hi)
            c.heap_n = n
            lo, hi = take_scheduled(net.sa_tick, net.sa_frac, c, tick, frac)
            if hi > lo:
                grp = _add_item(grp, n_g, ti, INPUTS, np.nan, lo, hi, 0, 1, 0)
                n_g += 1
                _count_targets(bcnt, shift, net.sa_target, lo, hi)
        else:
            tl = net.cc if kind == CURRENT else net.vs
            p = c.cc_p if kind == CURRENT else c.vs_p
            while p < tl.size and tl[p].tick == tick and tl[p].frac == frac:
                i = tl[p].target
                grp = _add_item(grp, n_g, ti, kind, 0.0, i, i + 1, 0, 0, p)
                n_g += 1
                bcnt[i >> shift] += 1
                p += 1
            if kind == CURRENT:
                c.cc_p = p
            else:
                c.vs_p = p
    return Buffers(h, buf.out, grp, times, time_E, buf.ent, buf.ent_w, buf.side), n_g


@njit(**_OPTS)
def fill_entries(net, grp, n_g, bpos, shift, ent, ent_w):
    """Append every item's entries ``target << 32 | item`` (and per-synapse weights) to its targets'
    buckets, in item order, so that each bucket comes out sorted by time with same-time inputs
    in queue order. ``bpos[b]`` is bucket b's write cursor (it ends at the bucket's end).

    A few hundred buckets keep the writes in a few hundred streams (cache-friendly) where one
    slice per neuron would scatter them over the whole table.
    """
    for g in range(n_g):
        it = grp[g]
        if it.kind != INPUTS:
            b = it.lo >> shift
            ent[bpos[b]] = (it.lo << 32) | g
            bpos[b] += 1
            continue
        targets = net.syn_target if it.src == 0 else net.sa_target
        heterogeneous = np.isnan(it.w)
        weights = net.syn_weight if it.src == 0 else net.sa_weight
        for s in range(it.lo, it.hi):
            i = np.int64(targets[s])
            b = i >> shift
            k = bpos[b]
            ent[k] = (i << 32) | g
            if heterogeneous:
                ent_w[k] = weights[s + it.wsh]
            bpos[b] = k + 1


@njit(inline="always", **_OPTS)
def process_entries(nrn, neuron, ent, ent_w, j0, j1, grp, times, time_E, cls_q, c, stream, win, cc, vs,
                    voltages, touched, n_touched, side):
    """Advance the neurons of one bucket through its entries ``j0:j1``, in time order.

    An input at the time of its target's open batch is only added to the batch; any other entry
    first closes that batch (sum and threshold test, :func:`close_batch`), then brings the neuron
    to the entry's time (its Poisson arrivals and crossings before it, :func:`catch_up`) and opens
    a new batch, changes the current or samples the potential. Neurons met for the first time in
    the window are appended to ``touched``; returns the new count.
    """
    n_cls = cls_q.size
    discarded = 0
    for j in range(j0, j1):
        x = ent[j]
        i = x >> 32
        it = grp[x & 0xFFFFFFFF]
        r = nrn[i]
        ti = it.ti
        if it.kind == INPUTS and r.bt == ti and r.bflag != BATCH_NONE:  # same batch
            if r.bflag == BATCH_REFRACTORY:
                discarded += 1
            else:
                w = ent_w[j] if np.isnan(it.w) else it.w
                if not add_exactly(r, w):
                    add_inexact(r, w, side, c)
            continue
        nr = neuron[i]
        q = cls_q[r.cls]
        if r.bt < 0:
            touched[n_touched] = i
            n_touched += 1
        elif r.bflag != BATCH_NONE:  # close_batch, written out: inlined by Numba it ran 10 % slower here
            bt = r.bt
            if r.bflag != BATCH_REFRACTORY and add_inputs(r, nr, r.bw, time_E[bt * n_cls + r.cls]):
                fire(r, nr, i, times[bt].tick, times[bt].frac, False, q, c, win)
            r.bflag = BATCH_NONE
        tick, frac = times[ti].tick, times[ti].frac
        e = time_E[ti * n_cls + r.cls]
        r.bt = ti
        if it.kind == INPUTS:
            if needs_catch_up(r, tick, frac, e):
                catch_up(r, nr, i, tick, frac, e, q, c, stream, win, True)
            if time_lt(tick, frac, r.ref_tick, r.ref_frac):
                r.bflag = BATCH_REFRACTORY
                discarded += 1
            else:
                open_batch(r, ent_w[j] if np.isnan(it.w) else it.w)
        elif it.kind == CURRENT:
            change_current(r, nr, i, tick, frac, cc[it.aux].value, q, c, stream, win)
        else:
            catch_up(r, nr, i, tick, frac, e, q, c, stream, win, True)
            voltages[vs[it.aux].slot] = potential(r, nr, tick, frac, q, c.base)
    c.discarded += discarded
    return n_touched


@njit(inline="always", **_OPTS)
def finish_neurons(nrn, neuron, ids, lo, hi, t_end, times, time_E, cls_q, class_E, c, stream, win, wake,
                   block_min, side):
    """Close the open batch of neurons ``ids[lo:hi]``, bring them to t_end, renew their wake-ups;
    empty the side buffer."""
    n_cls = cls_q.size
    for k in range(lo, hi):
        i = ids[k]
        r, nr = nrn[i], neuron[i]
        q = cls_q[r.cls]
        bt = r.bt
        close_batch(r, nr, i, times[bt].tick, times[bt].frac, time_E[bt * n_cls + r.cls], q, c, win)
        r.bt = -1
        e = class_E[r.cls]
        if needs_catch_up(r, t_end, 0.0, e):
            catch_up(r, nr, i, t_end, 0.0, e, q, c, stream, win, False)
        t = crossing_bound(r, nr, t_end, e)
        set_wake(wake, block_min, i, r.ps_tick if r.ps_tick < t else t)
    c.side_n = 0


@njit(**_OPTS)
def set_window_end_E(cls_q, class_E, class_stamp, base, t_end):
    """``E(t_end)`` per time-constant class, for the window's end; forget direct delivery's
    per-batch values."""
    for k in range(cls_q.size):
        class_E[k] = frame_exp(t_end, 0.0, base, cls_q[k])
        class_stamp[k] = -1


@njit(**_OPTS)
def end_of_window(nrn, neuron, t_end, cls_q, class_E, c, stream, win, wake, block_min):
    """Bring every neuron that may act on its own before t_end (Poisson arrival, crossing) up to it.

    Only blocks of 64 neurons whose wake-up minimum is before t_end are looked at, so a window
    in which few neurons can fire by themselves costs little more than its block scan. Leaves
    the smallest wake-up of all in ``c.wake_min``.
    """
    n = nrn.size
    wake_min = NEVER
    for b in range(block_min.size):
        if block_min[b] >= t_end:
            if block_min[b] < wake_min:
                wake_min = block_min[b]
            continue
        m = NEVER
        for i in range(b << BLOCK_SHIFT, min(n, (b + 1) << BLOCK_SHIFT)):
            if wake[i] < t_end:
                r, nr = nrn[i], neuron[i]
                e = class_E[r.cls]
                if needs_catch_up(r, t_end, 0.0, e):
                    catch_up(r, nr, i, t_end, 0.0, e, cls_q[r.cls], c, stream, win, False)
                t = crossing_bound(r, nr, t_end, e)
                wake[i] = r.ps_tick if r.ps_tick < t else t
            if wake[i] < m:
                m = wake[i]
        block_min[b] = m
        if m < wake_min:
            wake_min = m
    c.wake_min = wake_min


@njit(**_OPTS)
def process_window(net, st, buf, n_g, t_end):
    """Advance every neuron that has entries or may act on its own through the window to t_end.

    Within a window neurons are independent, so the window is taken bucket by bucket: a bucket's
    entries in time order, then the neurons they touched (open batch closed, Poisson arrivals and
    crossings up to t_end), all while the bucket's neuron states are in cache. Then
    :func:`end_of_window` for the neurons that no entry touched.
    """
    c = st.ctl[0]
    nrn, neuron, cls_q, stream, win = st.nrn, net.neuron, net.cls_q, st.stream, st.win
    bcnt, bpos, wake, block_min, class_E = st.bcnt, st.bpos, st.wake, st.block_min, st.class_E
    grp, times, time_E, touched = buf.grp, buf.times, buf.time_E, st.ids
    total = 0
    largest = 0
    for b in range(bcnt.size):
        bpos[b] = total
        total += bcnt[b]
        largest = max(largest, bcnt[b])
    ent = _grown(buf.ent, 0, total)
    ent_w = _grown(buf.ent_w, 0, total)
    side = _grown(buf.side, 0, largest + SIDE_SCRATCH)  # a bucket's batches: at most one entry per input
    fill_entries(net, grp, n_g, bpos, c.bucket_shift, ent, ent_w)
    set_window_end_E(cls_q, class_E, st.class_stamp, c.base, t_end)
    for b in range(bcnt.size):
        k = bcnt[b]
        if k > 0:
            bcnt[b] = 0
            n_touched = process_entries(nrn, neuron, ent, ent_w, bpos[b] - k, bpos[b], grp, times, time_E, cls_q,
                                        c, stream, win, net.cc, net.vs, st.voltages, touched, 0, side)
            finish_neurons(nrn, neuron, touched, 0, n_touched, t_end, times, time_E, cls_q, class_E, c, stream,
                           win, wake, block_min, side)
    end_of_window(nrn, neuron, t_end, cls_q, class_E, c, stream, win, wake, block_min)
    return Buffers(buf.heap, buf.out, grp, times, time_E, ent, ent_w, side)


@njit(**_OPTS)
def deliver_run(nrn, neuron, targets, weights, lo, hi, w_h, wsh, tick, frac, batch, cls_q, class_E,
                class_stamp, c, stream, win, opened, n_opened, wake, block_min, side):
    """Deliver ``targets[lo:hi]`` at (tick, frac): weight ``w_h``, or ``weights[s + wsh]`` if NaN.

    One iteration per delivery (direct delivery, see :func:`advance`). A neuron's first input of
    the batch brings it up to t and opens its batch (appended to ``opened``); later ones are
    added to it. It takes plain arrays and records only (no Net/State tuples), and calls out only
    for a neuron's catch-up and a batch's second input. Returns the count of opened batches.
    """
    homogeneous = not np.isnan(w_h)
    w = w_h
    discarded = 0
    for s in range(lo, hi):
        i = np.int64(targets[s])
        if not homogeneous:
            w = weights[s + wsh]
        r = nrn[i]
        if r.touched == batch:
            if r.bflag == BATCH_REFRACTORY:
                discarded += 1
            elif not add_exactly(r, w):
                add_inexact(r, w, side, c)
            continue
        # NOTE: first input of this batch for i: bring i up to t once, so that the same-time
        # inputs after it are summed before the single threshold test.
        r.touched = batch
        opened[n_opened] = i
        n_opened += 1
        cl = r.cls
        if class_stamp[cl] != batch:
            class_stamp[cl] = batch
            class_E[cl] = frame_exp(tick, frac, c.base, cls_q[cl])
        e = class_E[cl]
        if needs_catch_up(r, tick, frac, e):
            catch_up(r, neuron[i], i, tick, frac, e, cls_q[cl], c, stream, win, True)
            update_wake(r, neuron[i], i, tick, e, wake, block_min)
        if time_lt(tick, frac, r.ref_tick, r.ref_frac):
            r.bflag = BATCH_REFRACTORY
            discarded += 1
        else:
            open_batch(r, w)
    c.discarded += discarded
    return n_opened


@njit(**_OPTS)
def deliver_batch(net, st, h, tick, frac, side):
    """Direct delivery: all inputs arriving at exactly (tick, frac), summed per neuron, then one
    threshold test per neuron (as the buckets do: results are bit-identical). Returns the side
    buffer (regrown if needed)."""
    c = st.ctl[0]
    nrn, neuron, cls_q, class_E, class_stamp = st.nrn, net.neuron, net.cls_q, st.class_E, st.class_stamp
    stream, win, opened, wake, block_min = st.stream, st.win, st.ids, st.wake, st.block_min
    syn_target, syn_weight, syn_delay, rowptr = net.syn_target, net.syn_weight, net.syn_delay, net.rowptr
    batch = c.batch + 1
    c.batch = batch
    c.batches += 1
    n_opened = 0
    n = c.heap_n
    while n > 0 and h[0].tick == tick and h[0].frac == frac:
        n, src, j, lo, hi = pop_group(h, n, tick, frac, net.proj, rowptr, net.pop_start, syn_delay, c)
        pj = net.proj[j]
        if c.side_n + hi - lo + SIDE_SCRATCH > side.size:  # NOTE: a call per group cost ~4 % (Benchmark 4)
            side = _grown(side, c.side_n, c.side_n + hi - lo + SIDE_SCRATCH)
        n_opened = deliver_run(nrn, neuron, syn_target, syn_weight, lo, hi, pj.weight, pj.weight_shift, tick, frac,
                               batch, cls_q, class_E, class_stamp, c, stream, win, opened, n_opened, wake,
                               block_min, side)
    c.heap_n = n
    lo, hi = take_scheduled(net.sa_tick, net.sa_frac, c, tick, frac)
    if hi > lo:
        if c.side_n + hi - lo + SIDE_SCRATCH > side.size:  # NOTE: a call per group cost ~4 % (Benchmark 4)
            side = _grown(side, c.side_n, c.side_n + hi - lo + SIDE_SCRATCH)
        n_opened = deliver_run(nrn, neuron, net.sa_target, net.sa_weight, lo, hi, np.nan, 0, tick, frac, batch,
                               cls_q, class_E, class_stamp, c, stream, win, opened, n_opened, wake, block_min, side)
    for k in range(n_opened):
        i = opened[k]
        r, nr = nrn[i], neuron[i]
        e = class_E[r.cls]
        if close_batch(r, nr, i, tick, frac, e, cls_q[r.cls], c, win):
            update_wake(r, nr, i, tick, e, wake, block_min)
    c.side_n = 0
    return side


@njit(**_OPTS)
def timed_actions(net, st, kind, tick, frac):
    """Direct delivery: current changes or voltage samples at exactly (tick, frac)."""
    c = st.ctl[0]
    nrn, neuron, cls_q, stream, win = st.nrn, net.neuron, net.cls_q, st.stream, st.win
    if kind == CURRENT:
        cc = net.cc
        while c.cc_p < cc.size and cc[c.cc_p].tick == tick and cc[c.cc_p].frac == frac:
            i = cc[c.cc_p].target
            r = nrn[i]
            change_current(r, neuron[i], i, tick, frac, cc[c.cc_p].value, cls_q[r.cls], c, stream, win)
            update_wake(r, neuron[i], i, tick, frame_exp(tick, frac, c.base, cls_q[r.cls]), st.wake, st.block_min)
            c.cc_p += 1
    else:
        vs = net.vs
        while c.vs_p < vs.size and vs[c.vs_p].tick == tick and vs[c.vs_p].frac == frac:
            i = vs[c.vs_p].target
            r = nrn[i]
            q = cls_q[r.cls]
            e = frame_exp(tick, frac, c.base, q)
            catch_up(r, neuron[i], i, tick, frac, e, q, c, stream, win, True)
            update_wake(r, neuron[i], i, tick, e, st.wake, st.block_min)
            st.voltages[vs[c.vs_p].slot] = potential(r, neuron[i], tick, frac, q, c.base)
            c.vs_p += 1


@njit(**_OPTS)
def run_window_direct(net, st, h, t_end, side):
    """The window without gathering: events delivered straight from the queues in time order.

    Cheaper than the buckets when a window holds few inputs (their targets' states are in cache
    anyway); gives bit-identical results. Returns the side buffer (regrown if needed).
    """
    c = st.ctl[0]
    while True:
        kind, tick, frac = _next_kind(net, c, h)
        if kind < 0 or tick >= t_end:
            break
        if kind == INPUTS:
            side = deliver_batch(net, st, h, tick, frac, side)
        else:
            timed_actions(net, st, kind, tick, frac)
    set_window_end_E(net.cls_q, st.class_E, st.class_stamp, c.base, t_end)
    end_of_window(st.nrn, net.neuron, t_end, net.cls_q, st.class_E, c, st.stream, st.win, st.wake, st.block_min)
    return side


@njit(**_OPTS)
def advance(net, st, buf, stop_tick):
    """Simulate every event before ``stop_tick``; returns the (possibly regrown) buffers.

    A window is worked through buckets (:func:`gather_window`, :func:`process_window`), or, when
    the network is small (``ctl.direct_max_neurons``) or the previous window held few synaptic
    inputs (``ctl.direct_max_entries``), delivered directly (:func:`run_window_direct`).

    Windows are aligned on multiples of the window length whatever the stop times, so splitting a
    run gives bit-identical results. Windows in which nothing can happen (no queued event, no
    neuron's wake-up) are skipped. Returns early, with ``ctl.overflow`` set, if a window emitted
    more spikes than the window buffer holds (the caller simulates again with a larger one).
    """
    c = st.ctl[0]
    if c.started == 0:
        start(net, st)
    W = c.window
    max_q = net.cls_q.max()
    nrn_n = st.nrn.size
    now = c.now
    while now < stop_tick:
        k = now // W
        if now == k * W:
            end = (k + 1) * W
            # NOTE: in busy networks the heap's top shows at once that the window is not idle,
            # sparing the call to _next_kind (~300 ns for its Net argument) per window
            if c.win_n == 0 and c.wake_min >= end and (c.heap_n == 0 or buf.heap[0].tick >= end):
                kind, tick, frac = _next_kind(net, c, buf.heap)
                nxt = tick if tick < c.wake_min else c.wake_min
                if nxt >= end:
                    # nothing can happen before nxt: skip to its window (idle networks, long runs);
                    # skipped windows are not rebased, whatever the stop times, so results stay the same
                    now = min(nxt // W * W, stop_tick)
                    c.now = now
                    c.direct = 1 if nrn_n <= c.direct_max_neurons or 0 <= c.direct_max_entries else 0
                    continue
            if np.float64(now - c.base) * max_q > REBASE_EXPONENT:
                rebase(net, st, now)
        t_end = min((k + 1) * W, stop_tick)
        syn_before = c.syn_events
        if c.direct:
            side = run_window_direct(net, st, buf.heap, t_end, buf.side)
            buf = Buffers(buf.heap, buf.out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w, side)
            c.direct_windows += 1
        else:
            buf, n_g = gather_window(net, st, buf, t_end)
            buf = process_window(net, st, buf, n_g, t_end)
        c.windows += 1
        # NOTE: the next window's mode follows this one's synaptic inputs (both modes give the
        # same results, so the prediction only matters for speed)
        c.direct = 1 if nrn_n <= c.direct_max_neurons or c.syn_events - syn_before <= c.direct_max_entries else 0
        if c.overflow:
            break
        h, out = flush_window(net, st, buf.heap, buf.out)
        buf = Buffers(h, out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w, buf.side)
        now = t_end
        c.now = now
    return buf
