"""Numba kernels of the compiled engine: the whole event loop, in one module.

Everything here is ``@njit(cache=True)`` and takes only arrays, scalars and the two namedtuples
built by :mod:`eventsim.engine.numba_engine` (``Net``: the static network, ``State``: everything
that changes). Kernels that call each other live together in this one module because Numba's
cache does not notice changes in other modules that a cached kernel calls.

The algorithm (docs/architecture.md has the long version):

* **Windows of the minimum delay.** Time advances in windows ``[k W, (k+1) W)`` with ``W`` at most
  the smallest synaptic delay, so a spike emitted in a window arrives in a later one. Within a
  window, neurons are independent: each one is advanced through its own inputs in time order.
  Spikes of a window are collected and scheduled at its end (the point where an MPI version would
  exchange them).
* **Queue of spike groups.** A binary heap holds one entry per (spike, projection) — or per (spike,
  projection, run of equal delays) for per-synapse delays — keyed by ``(arrival tick, frac,
  source, projection)``: O(log n) per entry, not per synapse, and a canonical order for ties.
* **Time-invariant frame.** A neuron stores ``U = (V - V_inf) exp((t - base) / tau_m)``, which is
  constant between events, so a delivery is ``U += w * E(t)`` with ``E(t) = exp((t - base)/tau_m)``
  computed once per arrival time and time-constant class, and the threshold test is
  ``U >= (V_th - V_inf) * E(t)``. ``base`` is moved forward (and all ``U`` rescaled) before the
  exponent can overflow.
* **Lazy autonomous dynamics.** Poisson arrivals and constant-current threshold crossings never
  enter the global queue: a neuron is advanced through them (exactly, in time order) when an input
  reaches it, when a current change or a voltage sample concerns it, and at each window's end.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Record layouts. Per-neuron state is one record (72 bytes) so a delivery touches one cache line.
NEURON = np.dtype([("tau_class", np.int64), ("pop", np.int64), ("ps_lo", np.int64), ("ps_hi", np.int64),
                   ("t_ref", np.int64), ("record", np.int64), ("E_L", np.float64), ("R_m", np.float64),
                   ("V_th", np.float64), ("V_reset", np.float64), ("V_init", np.float64)], align=True)
"""Static per-neuron parameters (t_ref in ticks; Poisson streams ps_lo..ps_hi)."""

NSTATE = np.dtype([("U", np.float64), ("thr", np.float64), ("V_inf", np.float64), ("I", np.float64),
                   ("ref_tick", np.int64), ("ref_frac", np.float64), ("touched", np.int64),
                   ("candidate", np.int64), ("cls", np.int64)], align=True)
"""Per-neuron state: U = (V - V_inf) exp((t - base)/tau_m), thr = V_th - V_inf, refractory end,
batch stamps, and a copy of the time-constant class."""

PROJ = np.dtype([("pre_pop", np.int64), ("rowptr_start", np.int64), ("weight", np.float64),
                 ("weight_shift", np.int64), ("delay", np.int64), ("delay_shift", np.int64)], align=True)
STREAM = np.dtype([("rate", np.float64), ("weight", np.float64), ("start", np.int64), ("stop", np.int64),
                   ("key", np.uint64)], align=True)
STREAM_STATE = np.dtype([("state", np.uint64), ("next_tick", np.int64), ("next_frac", np.float64)], align=True)
TIMED = np.dtype([("tick", np.int64), ("frac", np.float64), ("target", np.int64), ("value", np.float64),
                  ("slot", np.int64)], align=True)
"""Scheduled things: arrivals (value = weight mV), current changes (value = pA), samples (slot)."""
SPIKE = np.dtype([("id", np.int64), ("tick", np.int64), ("frac", np.float64)], align=True)
HEAP = np.dtype([("tick", np.int64), ("frac", np.float64), ("src", np.int64), ("proj", np.int64),
                 ("pos", np.int64)], align=True)
"""Pending spike group: arrival time, source neuron, projection, first synapse of the group."""

# Indices into Net.cfg (int64).
CFG_WINDOW = 0  # window length, ticks
CFG_MAX_OUT_PROJ = 1  # most projections leaving one population
# Indices into State.scalars (int64).
NOW = 0  # simulated up to here (ticks, exclusive)
BASE = 1  # tick at which the frame exponent is zero
BATCH = 2  # id of the current same-time input batch
HEAP_N = 3  # entries in the heap
WIN_N = 4  # spikes emitted in the current window
OUT_N = 5  # recorded spikes in the output buffer
SA_P = 6  # next scheduled arrival
CC_P = 7  # next current change
VS_P = 8  # next voltage sample
STARTED = 9  # initial state set up
OVERFLOW = 10  # a window emitted more spikes than the window buffer holds
N_SCALARS = 11

# Indices into State.counters (int64).
C_SYN = 0  # synaptic deliveries (including discarded ones)
C_EXT = 1  # Poisson and scheduled arrivals (including discarded ones)
C_DISCARDED = 2  # inputs dropped because the target was refractory
C_SPIKES = 3  # spikes of all neurons
C_CROSSING = 4  # spikes at constant-current threshold crossings
C_PUSHES = 5  # heap pushes
C_HEAP_PEAK = 6  # largest heap size
C_WINDOWS = 7  # windows processed
C_BATCHES = 8  # same-time input batches
N_COUNTERS = 9

TICKS_PER_MS = 1e6
NEVER = np.iinfo(np.int64).max
REBASE_EXPONENT = 100.0  # rebase the frame when exp() arguments would pass this
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)

_OPTS = dict(cache=True, nogil=True, error_model="numpy")


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
def exponential_gap(ps, m, rate_per_ms):
    """Advance the SplitMix64 stream of Poisson stream m and return an exponential gap in ms."""
    z = ps[m].state + _GOLDEN
    ps[m].state = z
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    u = (np.float64(z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)
    return -np.log(u) / rate_per_ms


@njit(**_OPTS)
def draw_next_arrival(net, st, m, tick, frac):
    """Schedule the next arrival of Poisson stream m after time (tick, frac)."""
    gap = exponential_gap(st.ps, m, net.stream[m].rate)
    nt, nf = add_ms(tick, frac, gap)
    if nt >= net.stream[m].stop:
        nt, nf = NEVER, 0.0
    st.ps[m].next_tick = nt
    st.ps[m].next_frac = nf


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
# Neuron updates
# ---------------------------------------------------------------------------------------------
@njit(**_OPTS)
def fire(net, st, i, tick, frac, crossing):
    """Neuron i spikes at (tick, frac): reset, start refractoriness, remember the spike."""
    n = st.scalars[WIN_N]
    if n < st.win.size:
        w = st.win[n]
        w.id, w.tick, w.frac = i, tick, frac
    else:
        st.scalars[OVERFLOW] = 1
    st.scalars[WIN_N] = n + 1
    st.counters[C_SPIKES] += 1
    if crossing:
        st.counters[C_CROSSING] += 1
    r = st.nrn[i]
    rt = tick + net.neuron[i].t_ref
    r.ref_tick = rt
    r.ref_frac = frac
    r.U = (net.neuron[i].V_reset - r.V_inf) * frame_exp(rt, frac, st.scalars[BASE], net.cls_q[r.cls])


@njit(**_OPTS)
def fire_at_crossing(net, st, i, limit_tick, limit_frac):
    """Fire neuron i at its constant-current threshold crossing, known to be <= limit."""
    r = st.nrn[i]
    # V_inf + U exp(-(t - base)/tau) = V_th  <=>  t = base + tau ln(U / (V_th - V_inf))
    x = np.log(r.U / r.thr) / net.cls_q[r.cls]
    if x < 0.0:
        x = 0.0
    tick, frac = add_ticks(st.scalars[BASE], 0.0, x)
    if time_lt(limit_tick, limit_frac, tick, frac):
        tick, frac = limit_tick, limit_frac
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        tick, frac = r.ref_tick, r.ref_frac
    fire(net, st, i, tick, frac, True)


@njit(**_OPTS)
def next_poisson(net, st, i):
    """Index of neuron i's Poisson stream with the earliest pending arrival, or -1."""
    best = -1
    for m in range(net.neuron[i].ps_lo, net.neuron[i].ps_hi):
        p = st.ps[m]
        if p.next_tick == NEVER:
            continue
        if best < 0 or time_lt(p.next_tick, p.next_frac, st.ps[best].next_tick, st.ps[best].next_frac):
            best = m
    return best


@njit(**_OPTS)
def catch_up(net, st, i, tick, frac, e_t):
    """Advance neuron i through its Poisson arrivals before t and crossings up to t.

    ``e_t`` is ``E(t)`` for neuron i's time-constant class. Each Poisson arrival costs one ``exp``
    and a threshold test; a crossing costs one ``log``.
    """
    r = st.nrn[i]
    q = net.cls_q[r.cls]
    base = st.scalars[BASE]
    while True:
        m = next_poisson(net, st, i)
        if m >= 0 and time_lt(st.ps[m].next_tick, st.ps[m].next_frac, tick, frac):
            pt, pf = st.ps[m].next_tick, st.ps[m].next_frac
            if time_lt(pt, pf, r.ref_tick, r.ref_frac):
                st.counters[C_DISCARDED] += 1
            else:
                e = frame_exp(pt, pf, base, q)
                if r.thr < 0.0 and r.U >= r.thr * e:
                    fire_at_crossing(net, st, i, pt, pf)
                    continue  # the arrival is examined again, now against the new state
                r.U += net.stream[m].weight * e
                if r.U >= r.thr * e:
                    fire(net, st, i, pt, pf, False)
            st.counters[C_EXT] += 1
            draw_next_arrival(net, st, m, pt, pf)
            continue
        if r.thr < 0.0 and not time_lt(tick, frac, r.ref_tick, r.ref_frac) and r.U >= r.thr * e_t:
            fire_at_crossing(net, st, i, tick, frac)
            continue
        return


@njit(**_OPTS)
def potential(net, st, i, tick, frac):
    """Membrane potential of neuron i at t (after catch-up), in mV."""
    r = st.nrn[i]
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        return net.neuron[i].V_reset
    return r.V_inf + r.U / frame_exp(tick, frac, st.scalars[BASE], net.cls_q[r.cls])


@njit(**_OPTS)
def change_current(net, st, i, tick, frac, delta):
    """Add ``delta`` pA to neuron i's injected current from t on."""
    r = st.nrn[i]
    nr = net.neuron[i]
    q = net.cls_q[r.cls]
    base = st.scalars[BASE]
    e_t = frame_exp(tick, frac, base, q)
    catch_up(net, st, i, tick, frac, e_t)
    r.I += delta
    v_inf = nr.E_L + r.I * nr.R_m
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        r.U = (nr.V_reset - v_inf) * frame_exp(r.ref_tick, r.ref_frac, base, q)
    else:
        r.U = (r.V_inf + r.U / e_t - v_inf) * e_t
    r.V_inf = v_inf
    r.thr = nr.V_th - v_inf


@njit(**_OPTS)
def class_exp(net, st, c, tick, frac, batch):
    """E(t) of class c for the current batch, computed once per batch and class."""
    if st.class_stamp[c] != batch:
        st.class_stamp[c] = batch
        st.class_E[c] = frame_exp(tick, frac, st.scalars[BASE], net.cls_q[c])
    return st.class_E[c]


@njit(**_OPTS)
def deliver(net, st, i, w, tick, frac, batch, n_cand):
    """One input of w mV to neuron i at the batch time; returns the new candidate count."""
    r = st.nrn[i]
    e = class_exp(net, st, r.cls, tick, frac, batch)
    if r.touched != batch:
        # NOTE: first input of this batch for i: bring i up to t once, so same-time inputs
        # after it are summed before the single threshold test.
        r.touched = batch
        catch_up(net, st, i, tick, frac, e)
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        st.counters[C_DISCARDED] += 1
        return n_cand
    r.U += w * e
    if r.U >= r.thr * e and r.candidate != batch:
        r.candidate = batch
        st.cand_list[n_cand] = i
        n_cand += 1
    return n_cand


@njit(**_OPTS)
def deliver_group(net, st, g, tick, frac, batch, n_cand):
    """Deliver the synapses of popped heap entry ``g``; returns (candidates, follow-up position).

    The follow-up position is -1, or the first synapse of the next run of equal delays in the
    row of a per-synapse-delay projection (the caller re-queues it).
    """
    pj = net.proj[g.proj]
    lo = g.pos
    k = g.src - net.pop_start[pj.pre_pop]
    hi = net.rowptr[pj.rowptr_start + k + 1]
    nxt = -1
    if pj.delay < 0:
        d0 = net.syn_delay[lo + pj.delay_shift]
        end = lo + 1
        while end < hi and net.syn_delay[end + pj.delay_shift] == d0:
            end += 1
        if end < hi:
            nxt = end
        hi = end
    st.counters[C_SYN] += hi - lo
    w_h = pj.weight
    if not np.isnan(w_h):
        for s in range(lo, hi):
            n_cand = deliver(net, st, np.int64(net.syn_target[s]), w_h, tick, frac, batch, n_cand)
    else:
        wsh = pj.weight_shift
        for s in range(lo, hi):
            n_cand = deliver(net, st, np.int64(net.syn_target[s]), net.syn_weight[s + wsh], tick, frac, batch, n_cand)
    return n_cand, nxt


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
    n_spk = st.scalars[WIN_N]
    n = st.scalars[HEAP_N]
    h = _grown(h, n, n + n_spk * net.cfg[CFG_MAX_OUT_PROJ])
    n_out = st.scalars[OUT_N]
    out = _grown(out, n_out, n_out + n_spk)
    for q in range(n_spk):
        sp = st.win[q]
        i, tick, frac = sp.id, sp.tick, sp.frac
        if net.neuron[i].record:
            o = out[n_out]
            o.id, o.tick, o.frac = i, tick, frac
            n_out += 1
        p = net.neuron[i].pop
        for r in range(net.pop_proj_ptr[p], net.pop_proj_ptr[p + 1]):
            j = net.pop_proj[r]
            pj = net.proj[j]
            k = i - net.pop_start[pj.pre_pop]
            lo = net.rowptr[pj.rowptr_start + k]
            if lo == net.rowptr[pj.rowptr_start + k + 1]:
                continue
            d = pj.delay
            if d < 0:
                d = np.int64(net.syn_delay[lo + pj.delay_shift])
            heap_push(h, n, tick + d, frac, i, j, lo)
            n += 1
            st.counters[C_PUSHES] += 1
    st.scalars[WIN_N] = 0
    st.scalars[OUT_N] = n_out
    st.scalars[HEAP_N] = n
    if n > st.counters[C_HEAP_PEAK]:
        st.counters[C_HEAP_PEAK] = n
    return h, out


@njit(**_OPTS)
def start(net, st):
    """Set the initial state at t = 0: frame values, first Poisson arrivals, V_init >= V_th."""
    st.scalars[BASE] = 0
    for m in range(net.stream.size):
        st.ps[m].state = net.stream[m].key
        if net.stream[m].start >= net.stream[m].stop:
            st.ps[m].next_tick = NEVER
        else:
            draw_next_arrival(net, st, m, net.stream[m].start, 0.0)
    for i in range(net.neuron.size):
        r = st.nrn[i]
        r.U = net.neuron[i].V_init - r.V_inf
        if net.neuron[i].V_init >= net.neuron[i].V_th:
            fire(net, st, i, np.int64(0), 0.0, False)
    st.scalars[STARTED] = 1


@njit(**_OPTS)
def rebase(net, st, new_base):
    """Move the frame origin to ``new_base`` (rescales every U; rounding only)."""
    factors = np.exp(-np.float64(new_base - st.scalars[BASE]) * net.cls_q)
    for i in range(st.nrn.size):
        st.nrn[i].U *= factors[st.nrn[i].cls]
    st.scalars[BASE] = new_base


@njit(**_OPTS)
def end_of_window(net, st, t_end):
    """Bring every neuron that can fire on its own (Poisson drive, V_inf > V_th) up to t_end."""
    base = st.scalars[BASE]
    for c in range(net.cls_q.size):
        st.class_E[c] = frame_exp(t_end, 0.0, base, net.cls_q[c])
        st.class_stamp[c] = -1
    for i in range(st.nrn.size):
        r = st.nrn[i]
        e = st.class_E[r.cls]
        # NOTE: a cheap filter first; catch_up itself is exact (it checks refractoriness).
        if net.neuron[i].ps_hi > net.neuron[i].ps_lo or (r.thr < 0.0 and r.U >= r.thr * e):
            catch_up(net, st, i, t_end, 0.0, e)


@njit(**_OPTS)
def _next_kind(net, st, h):
    """Kind and time of the earliest pending timed event: 0 current change, 1 inputs, 2 sample."""
    kind, tick, frac = -1, NEVER, 0.0
    cp = st.scalars[CC_P]
    if cp < net.cc.size:
        kind, tick, frac = 0, net.cc[cp].tick, net.cc[cp].frac
    if st.scalars[HEAP_N] > 0 and (kind < 0 or time_lt(h[0].tick, h[0].frac, tick, frac)):
        kind, tick, frac = 1, h[0].tick, h[0].frac
    sp = st.scalars[SA_P]
    if sp < net.sa.size and (kind < 0 or time_lt(net.sa[sp].tick, net.sa[sp].frac, tick, frac)):
        kind, tick, frac = 1, net.sa[sp].tick, net.sa[sp].frac
    vp = st.scalars[VS_P]
    if vp < net.vs.size and (kind < 0 or time_lt(net.vs[vp].tick, net.vs[vp].frac, tick, frac)):
        kind, tick, frac = 2, net.vs[vp].tick, net.vs[vp].frac
    return kind, tick, frac


@njit(**_OPTS)
def input_batch(net, st, h, tick, frac):
    """All inputs arriving at exactly (tick, frac): sum per neuron, then one threshold test."""
    batch = st.scalars[BATCH] + 1
    st.scalars[BATCH] = batch
    st.counters[C_BATCHES] += 1
    n_cand = 0
    n = st.scalars[HEAP_N]
    while n > 0 and h[0].tick == tick and h[0].frac == frac:
        heap_pop(h, n)
        g = h[n - 1]
        n_cand, nxt = deliver_group(net, st, g, tick, frac, batch, n_cand)
        if nxt >= 0:
            # next run of equal delays in the same row: same spike, later arrival
            pj = net.proj[g.proj]
            t_spike = tick - net.syn_delay[g.pos + pj.delay_shift]
            heap_push(h, n - 1, t_spike + net.syn_delay[nxt + pj.delay_shift], frac, g.src, g.proj, nxt)
            st.counters[C_PUSHES] += 1
        else:
            n -= 1
    st.scalars[HEAP_N] = n
    sp = st.scalars[SA_P]
    while sp < net.sa.size and net.sa[sp].tick == tick and net.sa[sp].frac == frac:
        st.counters[C_EXT] += 1
        n_cand = deliver(net, st, net.sa[sp].target, net.sa[sp].value, tick, frac, batch, n_cand)
        sp += 1
    st.scalars[SA_P] = sp
    for q in range(n_cand):
        i = st.cand_list[q]
        r = st.nrn[i]
        if not time_lt(tick, frac, r.ref_tick, r.ref_frac) and r.U >= r.thr * st.class_E[r.cls]:
            fire(net, st, i, tick, frac, False)


@njit(**_OPTS)
def run_window(net, st, h, t_end):
    """Process every timed event before t_end (all within one window), then the window's end."""
    while True:
        kind, tick, frac = _next_kind(net, st, h)
        if kind < 0 or tick >= t_end:
            break
        if kind == 0:
            cp = st.scalars[CC_P]
            while cp < net.cc.size and net.cc[cp].tick == tick and net.cc[cp].frac == frac:
                change_current(net, st, net.cc[cp].target, tick, frac, net.cc[cp].value)
                cp += 1
            st.scalars[CC_P] = cp
        elif kind == 1:
            input_batch(net, st, h, tick, frac)
        else:
            vp = st.scalars[VS_P]
            while vp < net.vs.size and net.vs[vp].tick == tick and net.vs[vp].frac == frac:
                i = net.vs[vp].target
                e = frame_exp(tick, frac, st.scalars[BASE], net.cls_q[st.nrn[i].cls])
                catch_up(net, st, i, tick, frac, e)
                st.voltages[net.vs[vp].slot] = potential(net, st, i, tick, frac)
                vp += 1
            st.scalars[VS_P] = vp
    end_of_window(net, st, t_end)
    st.counters[C_WINDOWS] += 1


@njit(**_OPTS)
def advance(net, st, h, out, stop_tick):
    """Simulate every event before ``stop_tick``; returns the (possibly regrown) heap and output.

    Windows are aligned on multiples of the window length whatever the stop times, so splitting a
    run gives bit-identical results. Returns early, with ``scalars[OVERFLOW]`` set, if a window
    emitted more spikes than the window buffer holds (the caller raises).
    """
    if st.scalars[STARTED] == 0:
        start(net, st)
    W = net.cfg[CFG_WINDOW]
    now = st.scalars[NOW]
    while now < stop_tick:
        k = now // W
        if now == k * W and np.float64(now - st.scalars[BASE]) * net.cls_q.max() > REBASE_EXPONENT:
            rebase(net, st, now)
        t_end = min((k + 1) * W, stop_tick)
        run_window(net, st, h, t_end)
        if st.scalars[OVERFLOW]:
            break
        h, out = flush_window(net, st, h, out)
        now = t_end
        st.scalars[NOW] = now
    return h, out
