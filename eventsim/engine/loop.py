"""The compiled loop: :func:`advance` simulates windows of the minimum delay up to a stop time,
each delivered through buckets or directly (:func:`work_window`); :func:`start` sets the state at
t = 0, :func:`flush_window` queues a window's spikes (:func:`queue_spike` each), :func:`rebase`
moves the frame's origin. :func:`part_next`, :func:`part_window` and :func:`part_queue` step a
distributed run's part window by window (:mod:`eventsim.distributed`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine import generic as G
from eventsim.engine.borrowed import borrowed
from eventsim.engine.buckets import gather_window, process_window
from eventsim.engine.calendar import due_list, next_window, open_window, push_row, reset_window, sort_due
from eventsim.engine.clock import draw_next_arrival, refresh_next_poisson
from eventsim.engine.cycles import PH_GATHER, PH_LOOP, PH_OUTSIDE, PH_QUEUE, cycle_counter, mark_phase
from eventsim.engine.direct import run_window_direct
from eventsim.engine.heap import heap_push, next_kind
from eventsim.engine.items import deliver_window_in_parts
from eventsim.engine.lif_frame import fire, predict_clean_crossing, set_v_inf
from eventsim.engine.prefetch import prefetch_read
from eventsim.engine.records import BLOCK_SHIFT, FALSE, FRAME_LIF, NEVER, REBASE_EXPONENT, ZERO, _OPTS, Buffers, grown
from eventsim.engine.wakeups import set_wake, update_wake


@njit(inline="always", **_OPTS)
def row_of(pj, i, pop_start, rowptr):
    """The synapses ``lo:hi`` of source neuron ``i`` (global id) in the projection whose record is ``pj``."""
    row = pj.rowptr_start + i - pop_start[pj.pre_pop]
    return rowptr[row], rowptr[row + 1]


@njit(inline="always", **_OPTS)
def record_spike(out, n_out, i, tick, frac):
    """Neuron ``i``'s spike at (tick, frac) as the output's record ``n_out``; returns the new count."""
    o = out[n_out]
    o.id, o.tick, o.frac = i, tick, frac
    return n_out + 1


@njit(inline="always", **_OPTS)
def flushed(out, c, n_out, n):
    """A window's spikes queued: its recorded ones (``c.out_n:n_out``) put in time order, the window's
    spike buffer emptied, the heap's count ``n`` (and its peak) kept."""
    time_order(out, c.out_n, n_out)
    c.win_n = 0
    c.out_n = n_out
    c.heap_n = n
    if n > c.heap_peak:
        c.heap_peak = n


@njit(inline="always", **_OPTS)
def queue_spike(proj, rowptr, syn_delay, syn_target, syn_weight, pop_start, pop_proj_ptr, pop_proj, h, n, cal, c, i,
                p, tick, frac):
    """Queue the deliveries of neuron ``i`` (global id, population ``p``) spiking at (tick, frac): per
    outgoing projection whose row of ``i`` holds synapses, one heap entry (one delay) or a calendar
    run per distinct delay (per-synapse delays); returns the new heap entry count (room for
    ``max_out_proj`` more is the caller's) and the (possibly regrown) calendar. Shared by the
    single-process queueing (:func:`flush_window`) and a part's queueing of exchanged spikes
    (:func:`part_queue`)."""
    # NOTE: the arrays come one by one, pulled out of Net once per window: taking them from the
    # tuple here, per spike, doubled the queueing phase's cycles (reference counting)
    for k in range(pop_proj_ptr[p], pop_proj_ptr[p + 1]):
        j = pop_proj[k]
        pj = proj[j]
        lo, hi = row_of(pj, i, pop_start, rowptr)
        if lo == hi:
            continue
        if pj.delay < 0:
            cal = push_row(cal, c, tick, frac, j, lo, hi, syn_delay, pj.delay_shift, syn_target,
                           syn_weight, pj.weight, pj.weight_shift)
            continue
        heap_push(h, n, tick + pj.delay, frac, i, j, lo)
        n += 1
        c.heap_pushes += 1
    return n, cal


@njit(inline="always", **_OPTS)
def _after(r, tick, frac, i):
    """Does recorded spike ``r`` come after neuron i's spike at (tick, frac) in (time, id) order?"""
    return r.tick > tick or (r.tick == tick and (r.frac > frac or (r.frac == frac and r.id > i)))


@njit(**_OPTS)
def time_order(out, lo, hi):
    """Sort the recorded spikes ``out[lo:hi]`` (one window's, in the order neurons were worked) by
    time, then neuron id. Windows follow each other in time, so the whole output stays in that order
    and reading it needs no sort (:meth:`~eventsim.engine.numba_engine.NumbaEngine.spikes`).

    NOTE: sorting each window's few spikes here, while they are in cache, replaced a sort of all of
    them on every read of the results (``Network.run`` returns them): 79 ms of Benchmark 4's ~1.1 s
    (393 k spikes by three keys), n log n, so 13 % of a 60 s run. Insertion for up to 16, else three
    stable passes (id, frac, tick).
    """
    n = hi - lo
    if n <= 16:
        for k in range(lo + 1, hi):
            i, tick, frac = out[k].id, out[k].tick, out[k].frac
            j = k - 1
            while j >= lo and _after(out[j], tick, frac, i):
                out[j + 1].id, out[j + 1].tick, out[j + 1].frac = out[j].id, out[j].tick, out[j].frac
                j -= 1
            out[j + 1].id, out[j + 1].tick, out[j + 1].frac = i, tick, frac
        return
    ids, ticks, fracs = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n)
    for k in range(n):
        ids[k], ticks[k], fracs[k] = out[lo + k].id, out[lo + k].tick, out[lo + k].frac
    order = np.argsort(ids, kind="mergesort")
    order = order[np.argsort(fracs[order], kind="mergesort")]
    order = order[np.argsort(ticks[order], kind="mergesort")]
    for k in range(n):
        j = order[k]
        out[lo + k].id, out[lo + k].tick, out[lo + k].frac = ids[j], ticks[j], fracs[j]


@njit(**_OPTS)
def flush_window(net, st, h, out, cal):
    """Queue the spikes of the finished window (:func:`queue_spike`) and record those of recorded
    neurons; returns the (possibly regrown) heap, output and calendar."""
    c = st.ctl[0]
    n_spk = c.win_n
    n = c.heap_n
    h = grown(h, n, n + n_spk * c.max_out_proj)
    n_out = c.out_n
    out = grown(out, n_out, n_out + n_spk)
    neuron, proj, rowptr, syn_delay = net.neuron, net.proj, net.rowptr, net.syn_delay
    syn_target, syn_weight = net.syn_target, net.syn_weight
    pop_start, pop_proj_ptr, pop_proj, win = net.pop_start, net.pop_proj_ptr, net.pop_proj, st.win
    for q in range(n_spk):
        sp = win[q]
        i, tick, frac = sp.id, sp.tick, sp.frac
        if neuron[i].record:
            n_out = record_spike(out, n_out, i, tick, frac)
        n, cal = queue_spike(proj, rowptr, syn_delay, syn_target, syn_weight, pop_start, pop_proj_ptr, pop_proj, h, n,
                             cal, c, i, neuron[i].pop, tick, frac)
    flushed(out, c, n_out, n)
    return h, out, cal


@njit(inline="always", **_OPTS)
def queue_heap_spike(proj, rowptr, pop_start, pop_proj_ptr, pop_proj, h, n, c, i, p, tick, frac):
    """:func:`queue_spike` for a network whose projections all have one delay: one heap entry per
    outgoing projection whose row of ``i`` holds synapses; returns the new heap entry count."""
    for k in range(pop_proj_ptr[p], pop_proj_ptr[p + 1]):
        j = pop_proj[k]
        pj = proj[j]
        lo, hi = row_of(pj, i, pop_start, rowptr)
        if lo == hi:
            continue
        heap_push(h, n, tick + pj.delay, frac, i, j, lo)
        n += 1
        c.heap_pushes += 1
    return n


@njit(**_OPTS)
def flush_heap(net, st, h, out):
    """:func:`flush_window` for a network without per-synapse delays (no calendar), the heap ``h`` and
    the output ``out`` borrowed, with room for the window's spikes (the caller's, :func:`advance`).

    NOTE: flush_window takes and returns the heap, the output and the Calendar (19 arrays), each an
    atomic reference count or two per window: Benchmark 4 has 80,000 windows of ~5 spikes each."""
    c = st.ctl[0]
    n_spk = c.win_n
    n = c.heap_n
    n_out = c.out_n
    neuron, proj, rowptr = net.neuron, net.proj, net.rowptr
    pop_start, pop_proj_ptr, pop_proj, win = net.pop_start, net.pop_proj_ptr, net.pop_proj, st.win
    for q in range(n_spk):  # NOTE: the spikers' NEURON records (pop, record) are misses: all at once
        prefetch_read(neuron, win[q].id)
    for q in range(n_spk):
        sp = win[q]
        i, tick, frac = sp.id, sp.tick, sp.frac
        if neuron[i].record:
            n_out = record_spike(out, n_out, i, tick, frac)
        n = queue_heap_spike(proj, rowptr, pop_start, pop_proj_ptr, pop_proj, h, n, c, i, neuron[i].pop, tick, frac)
    flushed(out, c, n_out, n)


@njit(**_OPTS)
def start(net, st):
    """Set the initial state at t = 0: frame values (generic path: model states), first Poisson
    arrivals, V_init >= V_th."""
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
        if r.model != FRAME_LIF:
            refresh_next_poisson(r, nr, stream)
            G.start(r, nr, st.gen[i], i, c, st.win)
            set_wake(st.wake, st.block_min, i, G.wake_tick(r))
            continue
        set_v_inf(r, nr, r.V_inf)
        refresh_next_poisson(r, nr, stream)
        r.U = nr.V_init - r.V_inf
        predict_clean_crossing(r, nr, np.int64(0), 0.0, nr.V_init)
        if nr.V_init >= nr.V_th:
            fire(r, nr, i, np.int64(0), 0.0, FALSE, net.cls_q[r.cls], c, st.win)
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


@njit(inline="always", **_OPTS)
def work_window(net, st, buf, t_end):
    """Simulate the window from ``ctl.now`` to ``t_end`` (its spikes left in ``st.win``), through
    buckets or directly as ``ctl.direct`` says, and predict the next window's mode from this one's
    synaptic inputs; returns the (possibly regrown) buffers."""
    c = st.ctl[0]
    syn_before = c.syn_events
    # a window split by a stop time (a chunk's end: wall-time dependent) is counted once, at its start
    first = c.now % c.window == 0
    if c.direct:
        # NOTE: the buffers borrowed (buf owns them); the side buffer is regrown here, the window resumed
        while True:
            need = run_window_direct(net, st, borrowed(buf.heap), borrowed(buf.cal), t_end, borrowed(buf.side))
            if need == 0:
                break
            buf = Buffers(buf.heap, buf.out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w,
                          grown(buf.side, c.side_n, need), buf.cal)
        c.direct_windows += first
    else:
        t0 = cycle_counter()
        mark_phase(c, PH_GATHER)
        buf, n_g = gather_window(net, st, buf, t_end)
        c.cyc_gather += cycle_counter() - t0
        if c.item_parts and c.win_n == 0:
            buf = deliver_window_in_parts(net, st, buf, n_g, t_end)
        else:
            buf = process_window(net, st, buf, n_g, t_end)
    c.windows += first
    c.direct = next_mode(c, st.nrn.size, syn_before)
    return buf


@njit(inline="always", **_OPTS)
def next_mode(c, nrn_n, syn_before):
    """The next window's mode (``ctl.direct``) after a window that began with ``syn_before`` synaptic inputs.

    NOTE: it follows this window's synaptic inputs (both modes give the same results, so the
    prediction only matters for speed)."""
    return 1 if nrn_n <= c.direct_max_neurons or c.syn_events - syn_before <= c.direct_max_entries else 0


@njit(**_OPTS)
def exact_wake_min(st, end):
    """Some neuron's wake-up before ``end`` if there is one, else a lower bound (at or after ``end``)
    of every neuron's, left in ``ctl.wake_min``: whether the window ending at ``end`` is idle is
    decided from exact wake-ups.

    A block's minimum is a lower bound (raising a neuron's wake-up does not raise it), which depends
    on how neurons are grouped in blocks: a distributed run's parts group them otherwise than one
    process does. Which windows are worked must not depend on that (a window worked is a possible
    frame rebase, which rounds), so blocks whose bound falls before ``end`` are rescanned (their
    bounds made exact). An idle window's skip may then stop short of the next wake-up: the window
    it lands in is tested again, so the windows worked are those holding an exact wake-up or event.
    O(blocks) plus 64 per rescanned block, only when the heap leaves the window idle."""
    c = st.ctl[0]
    if c.wake_min >= end:
        return c.wake_min
    wake, block_min = st.wake, st.block_min
    n = wake.size
    bound = NEVER
    for b in range(block_min.size):
        m = block_min[b]
        if m < end:
            m = NEVER
            for i in range(b << BLOCK_SHIFT, min(n, (b + 1) << BLOCK_SHIFT)):
                if wake[i] < m:
                    m = wake[i]
            block_min[b] = m
            if m < end:
                return m
        if m < bound:
            bound = m
    c.wake_min = bound
    return bound


@njit(inline="always", **_OPTS)
def opened(buf, c, k):
    """The buffers with window k opened in the calendar (:func:`open_window`, once per window); when
    the window (or the rest of it) is delivered directly, with its due runs moved into the due list
    (:func:`due_list`) and sorted by time (:func:`sort_due`). The buckets take them from the slot and
    sort each bucket's own."""
    s = k % buf.cal.slot.shape[0]
    if c.cal_window != k and buf.cal.slot[s, 0] < 0 and (buf.cal.etot.size == 0 or buf.cal.etot[s] == 0):
        # NOTE: window k's slot is empty, no runs and no stream entries (always, without per-synapse
        # delays): open_window's resets here, sparing a call that takes and returns the Calendar's
        # arrays (reference counts)
        reset_window(c, k)
    if c.cal_window == k and not (c.direct and (c.due_in_slot or not c.cal_sorted)):
        return buf
    cal = buf.cal
    if c.cal_window != k:
        cal = open_window(cal, c, k)
    if c.direct and c.due_in_slot:
        cal = due_list(cal, c)
    if c.direct and not c.cal_sorted:
        cal = sort_due(cal, c)
    return Buffers(buf.heap, buf.out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w, buf.side, cal)


FW_DONE, FW_SIDE, FW_QUEUE, FW_STOP = 0, 1, 2, 3
"""What :func:`direct_windows` stopped for: the run's end or a bucket window next (the caller looks at
``ctl.direct``), the side buffer's room (mid-window: regrow it and call again with ``resume``), the
heap's or the output's room before queueing the window's spikes, an overflow or a runaway."""


@njit(**_OPTS)
def direct_windows(net, st, hb, ob, sb, cb, stop_tick, resume, syn_before):
    """:func:`advance`'s windows for a network without per-synapse delays (no calendar) while they are
    delivered directly, on the buffers' borrowed arrays: their idle skips, rebases, the direct
    delivery and the queueing of their spikes (:func:`flush_heap`), as advance does them.

    Returns ``(FW_*, need, syn_before)``: it stops before a window that goes through buckets, at
    ``stop_tick``, when the side buffer must hold ``need`` records (the window not finished: the caller
    regrows it and calls again with ``resume`` and ``syn_before``), when the heap or the output must be
    regrown before the window's spikes are queued (``ctl.now`` is still the window's start), or on an
    overflow or a runaway.

    NOTE: advance reassigns its Buffers (25 arrays) when one is regrown; any such assignment in the
    loop of its windows makes Numba copy the tuple at the loop's joins, an atomic reference count per
    array each: ~107 per window in Benchmark 4 (gdb on NRT_incref/decref), 8 % of its samples. This
    loop has no Buffers at all; advance reassigns them only when this returns."""
    c = st.ctl[0]
    W = c.window
    max_q = net.cls_q.max()
    nrn_n = st.nrn.size
    now = c.now
    while now < stop_tick:
        k = now // W
        if not resume:
            if c.direct == 0:
                return FW_DONE, ZERO, ZERO
            if c.cal_window != k:  # the calendar stays empty: opened()'s resets
                reset_window(c, k)
            if now == k * W:
                end = (k + 1) * W
                if c.win_n == 0 and (c.heap_n == 0 or hb[0].tick >= end) and c.due_p == c.due_n and (
                        c.wake_min >= end or exact_wake_min(st, end) >= end):
                    kind, tick, frac = next_kind(net, c, hb)
                    nxt = tick if tick < c.wake_min else c.wake_min
                    if nxt >= end:  # as advance: skip to nxt's window
                        now = min(nxt // W * W, stop_tick)
                        c.now = now
                        c.direct = 1 if nrn_n <= c.direct_max_neurons or 0 <= c.direct_max_entries else 0
                        continue
                if np.float64(now - c.base) * max_q > REBASE_EXPONENT:
                    rebase(net, st, now)
            syn_before = c.syn_events
        resume = False
        t_end = min((k + 1) * W, stop_tick)
        first = c.now % c.window == 0
        need = run_window_direct(net, st, hb, cb, t_end, sb)
        if need > 0:
            return FW_SIDE, need, syn_before
        c.direct_windows += first
        c.windows += first
        c.direct = next_mode(c, nrn_n, syn_before)
        if c.overflow or c.runaway:
            return FW_STOP, ZERO, ZERO
        if c.heap_n + c.win_n * c.max_out_proj > hb.size or c.out_n + c.win_n > ob.size:
            return FW_QUEUE, ZERO, ZERO
        t0 = cycle_counter()
        mark_phase(c, PH_QUEUE)
        flush_heap(net, st, hb, ob)
        mark_phase(c, PH_LOOP)
        c.cyc_queue += cycle_counter() - t0
        now = t_end
        c.now = now
    return FW_DONE, ZERO, ZERO


@njit(**_OPTS)
def advance(net, st, buf, stop_tick):
    """Simulate every event before ``stop_tick``; returns the (possibly regrown) buffers.

    A window is worked through buckets (:func:`gather_window`, :func:`process_window`), or, when
    the network is small (``ctl.direct_max_neurons``) or the previous window held few synaptic
    inputs (``ctl.direct_max_entries``), delivered directly (:func:`run_window_direct`).

    Windows are aligned on multiples of the window length whatever the stop times, so splitting a
    run gives bit-identical results. Windows in which nothing can happen (no queued event, no
    neuron's wake-up) are skipped. Returns early, with ``ctl.overflow`` set, if a window emitted
    more spikes than the window buffer holds (the caller simulates again with a larger one), and
    with ``ctl.runaway`` set if a neuron would fire without end (the caller raises).
    """
    # NOTE: Net and State (owned by the caller, fixed for the call) borrowed: every function they
    # reach compiles without reference counting of their arrays (eventsim.engine.borrowed), which
    # took about a fifth of Benchmark 4's simulation time (perf/RESULTS.md, 2026-12-02)
    net, st = borrowed(net), borrowed(st)
    c = st.ctl[0]
    t_call = cycle_counter()
    mark_phase(c, PH_LOOP)
    if c.started == 0:
        start(net, st)
    W = c.window
    max_q = net.cls_q.max()
    nrn_n = st.nrn.size
    # NOTE: without per-synapse delays the calendar stays empty: its window is opened without looking
    # at it and the spikes are queued by flush_heap, no call taking the Calendar per window
    no_cal = True
    for j in range(net.proj.size):
        if net.proj[j].delay < 0:
            no_cal = False
    now = c.now
    # NOTE: the buffers' arrays as borrowed views, taken again whenever buf changes (rarely: a regrown
    # buffer, a bucket window, the calendar's window): buf reassigned per window cost ~120 atomic
    # reference counts per window (its 25 arrays, in and out), 98 % of those left in Benchmark 4
    hb, ob, sb, cb = borrowed(buf.heap), borrowed(buf.out), borrowed(buf.side), borrowed(buf.cal)
    resume = False
    syn_before = ZERO
    while now < stop_tick:
        if no_cal and (c.direct or resume):
            code, need, syn_before = direct_windows(net, st, hb, ob, sb, cb, stop_tick, resume, syn_before)
            now = c.now
            resume = code == FW_SIDE
            if code == FW_SIDE:
                buf = Buffers(buf.heap, buf.out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w,
                              grown(buf.side, c.side_n, need), buf.cal)
                sb = borrowed(buf.side)
            elif code == FW_QUEUE:
                t0 = cycle_counter()
                mark_phase(c, PH_QUEUE)
                buf = Buffers(grown(buf.heap, c.heap_n, c.heap_n + c.win_n * c.max_out_proj),
                              grown(buf.out, c.out_n, c.out_n + c.win_n), buf.grp, buf.times, buf.time_E, buf.ent,
                              buf.ent_w, buf.side, buf.cal)
                hb, ob = borrowed(buf.heap), borrowed(buf.out)
                flush_heap(net, st, hb, ob)
                mark_phase(c, PH_LOOP)
                c.cyc_queue += cycle_counter() - t0
                now = min((now // W + 1) * W, stop_tick)
                c.now = now
            elif code == FW_STOP:
                break
            continue
        k = now // W
        if no_cal:
            if c.cal_window != k:  # the calendar stays empty: opened()'s resets
                reset_window(c, k)
        else:
            buf = opened(buf, c, k)
            hb, ob, sb, cb = borrowed(buf.heap), borrowed(buf.out), borrowed(buf.side), borrowed(buf.cal)
        if now == k * W:
            end = (k + 1) * W
            # NOTE: in busy networks the heap's top shows at once that the window is not idle,
            # sparing the call to next_kind (~300 ns for its Net argument) per window
            if c.win_n == 0 and (c.heap_n == 0 or hb[0].tick >= end) and c.due_p == c.due_n and (
                    c.wake_min >= end or exact_wake_min(st, end) >= end):
                kind, tick, frac = next_kind(net, c, hb)
                nxt = tick if tick < c.wake_min else c.wake_min
                k_cal = -1 if no_cal else next_window(buf.cal, c, k)
                if k_cal >= 0 and k_cal * W < nxt:
                    nxt = k_cal * W
                if nxt >= end:
                    # nothing can happen before nxt (a lower bound): skip to its window (idle networks,
                    # long runs), tested again there; skipped windows are not rebased, whatever the
                    # stop times, so results stay the same
                    now = min(nxt // W * W, stop_tick)
                    c.now = now
                    c.direct = 1 if nrn_n <= c.direct_max_neurons or 0 <= c.direct_max_entries else 0
                    continue
            if np.float64(now - c.base) * max_q > REBASE_EXPONENT:
                rebase(net, st, now)
        t_end = min((k + 1) * W, stop_tick)
        if c.direct:  # work_window's direct branch, on the views
            syn_before = c.syn_events
            first = c.now % c.window == 0
            while True:
                need = run_window_direct(net, st, hb, cb, t_end, sb)
                if need == 0:
                    break
                buf = Buffers(buf.heap, buf.out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w,
                              grown(buf.side, c.side_n, need), buf.cal)
                sb = borrowed(buf.side)
            c.direct_windows += first
            c.windows += first
            c.direct = next_mode(c, nrn_n, syn_before)
        else:
            buf = work_window(net, st, buf, t_end)
            hb, ob, sb, cb = borrowed(buf.heap), borrowed(buf.out), borrowed(buf.side), borrowed(buf.cal)
        if c.overflow or c.runaway:
            break
        t0 = cycle_counter()
        mark_phase(c, PH_QUEUE)
        if no_cal:
            need_h = c.heap_n + c.win_n * c.max_out_proj
            need_o = c.out_n + c.win_n
            if need_h > hb.size or need_o > ob.size:
                buf = Buffers(grown(buf.heap, c.heap_n, need_h), grown(buf.out, c.out_n, need_o), buf.grp, buf.times,
                              buf.time_E, buf.ent, buf.ent_w, buf.side, buf.cal)
                hb, ob = borrowed(buf.heap), borrowed(buf.out)
            flush_heap(net, st, hb, ob)
        else:
            h, out, cal = flush_window(net, st, buf.heap, buf.out, buf.cal)
            buf = Buffers(h, out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w, buf.side, cal)
            hb, ob, sb, cb = borrowed(buf.heap), borrowed(buf.out), borrowed(buf.side), borrowed(buf.cal)
        mark_phase(c, PH_LOOP)
        c.cyc_queue += cycle_counter() - t0
        now = t_end
        c.now = now
    mark_phase(c, PH_OUTSIDE)
    c.cyc_total += cycle_counter() - t_call
    return buf


# ----------------------------------------------------------------------------- parts in lockstep
# A distributed run's part (eventsim.distributed) works the windows one at a time: the driver asks
# every part for its next possible event (part_next) and skips windows only when all are idle; a
# part simulates a window (part_window) and hands its spikes out instead of queueing them; the
# spikes of every part are then queued by every part (part_queue).


@njit(**_OPTS)
def part_next(net, st, buf):
    """When this part may next act, called at a window's start, and the buffers (the window's
    calendar runs opened): ``ctl.now`` if spikes wait in the window buffer or runs are due in the
    window, else the earlier of its next timed event and of a wake-up that is exact when in
    this window, a lower bound otherwise (:func:`exact_wake_min`, as :func:`advance` decides)."""
    c = st.ctl[0]
    if c.started == 0:
        start(net, st)
    k = c.now // c.window
    buf = opened(buf, c, k)  # as advance opens each window before its idle test
    if c.win_n > 0 or c.due_p < c.due_n:
        return c.now, buf
    kind, tick, frac = next_kind(net, c, buf.heap)
    wake = exact_wake_min(st, c.now + c.window)
    nxt = tick if tick < wake else wake
    k_cal = next_window(buf.cal, c, k)
    if k_cal >= 0 and k_cal * c.window < nxt:
        nxt = k_cal * c.window
    return nxt, buf


@njit(**_OPTS)
def part_pending(net, st, buf, t_end):
    """At the end ``t_end`` of a window worked to its end, before its spikes are queued: when this
    part may next act without them, exactly as :func:`part_next` will find it at ``t_end`` if they
    add nothing (the next timed event; a wake-up, exact when in the next window; the calendar's
    next window of runs), or -1 when that is not known without opening the next window (runs wait
    in its slot, perhaps of later laps only). Opens nothing."""
    c = st.ctl[0]
    W = c.window
    kind, tick, frac = next_kind(net, c, buf.heap)
    wake = exact_wake_min(st, t_end + W)
    nxt = tick if tick < wake else wake
    if nxt < t_end + W:
        return nxt
    k = t_end // W
    k_cal = next_window(buf.cal, c, k - 1)
    if k_cal == k:
        return -1
    if k_cal >= 0 and k_cal * W < nxt:
        nxt = k_cal * W
    return nxt


@njit(**_OPTS)
def part_window(net, st, buf, t_end, max_q):
    """Simulate this part from ``ctl.now`` to ``t_end`` (within one window), rebasing first at a
    window's start as :func:`advance` does but with the whole network's largest ``max_q``; the
    window's spikes stay in ``st.win`` (local ids) for the driver to hand out. Leaves in
    ``ctl.pending`` :func:`part_pending` at ``t_end`` when it starts a window (NEVER otherwise)."""
    net, st = borrowed(net), borrowed(st)  # NOTE: as in advance: no reference counting of their arrays
    c = st.ctl[0]
    t_call = cycle_counter()
    mark_phase(c, PH_LOOP)
    if c.started == 0:
        start(net, st)
    buf = opened(buf, c, c.now // c.window)
    if c.now % c.window == 0 and np.float64(c.now - c.base) * max_q > REBASE_EXPONENT:
        rebase(net, st, c.now)
    buf = work_window(net, st, buf, t_end)
    # NOTE: here rather than in a call of its own: a compiled call costs the driver ~15 us per window
    c.pending = part_pending(net, st, buf, t_end) if t_end % c.window == 0 and not c.overflow else NEVER
    mark_phase(c, PH_OUTSIDE)
    c.cyc_total += cycle_counter() - t_call
    return buf


@njit(**_OPTS)
def part_queue(net, st, buf, spikes, lo, t_end):
    """Queue the spikes of every part (global ids, in the exchange's order), record those of this
    part's recorded neurons (global ids ``lo ..``), empty the window buffer and move to ``t_end``."""
    c = st.ctl[0]
    t0 = cycle_counter()
    mark_phase(c, PH_QUEUE)
    n_spk = spikes.size
    n = c.heap_n
    h = grown(buf.heap, n, n + n_spk * c.max_out_proj)
    n_out = c.out_n
    out = grown(buf.out, n_out, n_out + n_spk)
    neuron, proj, rowptr, syn_delay = net.neuron, net.proj, net.rowptr, net.syn_delay
    syn_target, syn_weight = net.syn_target, net.syn_weight
    pop_start, pop_proj_ptr, pop_proj = net.pop_start, net.pop_proj_ptr, net.pop_proj
    cal = buf.cal
    hi = lo + neuron.size
    for q in range(n_spk):
        sp = spikes[q]
        g, tick, frac = sp.id, sp.tick, sp.frac
        if lo <= g < hi:
            p = neuron[g - lo].pop
            if neuron[g - lo].record:
                n_out = record_spike(out, n_out, g, tick, frac)
        else:
            p = np.searchsorted(pop_start, g, side="right") - 1
        n, cal = queue_spike(proj, rowptr, syn_delay, syn_target, syn_weight, pop_start, pop_proj_ptr, pop_proj, h, n,
                             cal, c, g, p, tick, frac)
    flushed(out, c, n_out, n)
    c.now = t_end
    mark_phase(c, PH_OUTSIDE)
    t1 = cycle_counter()
    c.cyc_queue += t1 - t0
    c.cyc_total += t1 - t0
    return Buffers(h, out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w, buf.side, cal)
