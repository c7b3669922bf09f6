"""The compiled loop: :func:`advance` simulates windows of the minimum delay up to a stop time,
each delivered through buckets or directly; :func:`start` sets the state at t = 0,
:func:`flush_window` queues a window's spikes, :func:`rebase` moves the frame's origin.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine import generic as G
from eventsim.engine.buckets import gather_window, process_window
from eventsim.engine.calendar import next_window, open_window, push_row
from eventsim.engine.clock import draw_next_arrival, refresh_next_poisson
from eventsim.engine.cycles import cycle_counter
from eventsim.engine.direct import run_window_direct
from eventsim.engine.heap import heap_push, next_kind
from eventsim.engine.lif_frame import fire, predict_clean_crossing, set_v_inf
from eventsim.engine.records import FRAME_LIF, NEVER, REBASE_EXPONENT, Buffers, _OPTS, grown
from eventsim.engine.wakeups import set_wake, update_wake


@njit(**_OPTS)
def flush_window(net, st, h, out, cal):
    """Queue the spikes of the finished window (a heap entry per projection with one delay, a
    calendar run per distinct delay otherwise) and record those of recorded neurons; returns the
    (possibly regrown) heap, output and calendar."""
    c = st.ctl[0]
    n_spk = c.win_n
    n = c.heap_n
    h = grown(h, n, n + n_spk * c.max_out_proj)
    n_out = c.out_n
    out = grown(out, n_out, n_out + n_spk)
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
            if pj.delay < 0:
                cal = push_row(cal, c, tick, frac, j, lo, rowptr[row + 1], syn_delay, pj.delay_shift, net.syn_target,
                               net.syn_weight, pj.weight, pj.weight_shift)
                continue
            heap_push(h, n, tick + pj.delay, frac, i, j, lo)
            n += 1
            c.heap_pushes += 1
    c.win_n = 0
    c.out_n = n_out
    c.heap_n = n
    if n > c.heap_peak:
        c.heap_peak = n
    return h, out, cal


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
    c = st.ctl[0]
    t_call = cycle_counter()
    if c.started == 0:
        start(net, st)
    W = c.window
    max_q = net.cls_q.max()
    nrn_n = st.nrn.size
    now = c.now
    while now < stop_tick:
        k = now // W
        if c.cal_window != k:  # the window's calendar runs, sorted, become its due list
            cal = open_window(buf.cal, c, k)
            buf = Buffers(buf.heap, buf.out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w, buf.side, cal)
        if now == k * W:
            end = (k + 1) * W
            # NOTE: in busy networks the heap's top shows at once that the window is not idle,
            # sparing the call to next_kind (~300 ns for its Net argument) per window
            if (c.win_n == 0 and c.wake_min >= end and (c.heap_n == 0 or buf.heap[0].tick >= end)
                    and c.due_p == c.due_n):
                kind, tick, frac = next_kind(net, c, buf.heap)
                nxt = tick if tick < c.wake_min else c.wake_min
                k_cal = next_window(buf.cal, c, k)
                if k_cal >= 0 and k_cal * W < nxt:
                    nxt = k_cal * W
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
            side = run_window_direct(net, st, buf.heap, buf.cal, t_end, buf.side)
            buf = Buffers(buf.heap, buf.out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w, side, buf.cal)
            c.direct_windows += 1
        else:
            t0 = cycle_counter()
            buf, n_g = gather_window(net, st, buf, t_end)
            c.cyc_gather += cycle_counter() - t0
            buf = process_window(net, st, buf, n_g, t_end)
        c.windows += 1
        # NOTE: the next window's mode follows this one's synaptic inputs (both modes give the
        # same results, so the prediction only matters for speed)
        c.direct = 1 if nrn_n <= c.direct_max_neurons or c.syn_events - syn_before <= c.direct_max_entries else 0
        if c.overflow or c.runaway:
            break
        t0 = cycle_counter()
        h, out, cal = flush_window(net, st, buf.heap, buf.out, buf.cal)
        c.cyc_queue += cycle_counter() - t0
        buf = Buffers(h, out, buf.grp, buf.times, buf.time_E, buf.ent, buf.ent_w, buf.side, cal)
        now = t_end
        c.now = now
    c.cyc_total += cycle_counter() - t_call
    return buf
