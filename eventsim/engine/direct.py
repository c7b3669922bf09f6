"""Direct delivery of a window: events straight from the queues in time order, no gathering or
bucketing; cheaper when a window holds few inputs, bit-identical to :mod:`~eventsim.engine.buckets`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine import generic as G
from eventsim.engine.calendar import due_first, due_run
from eventsim.engine.clock import frame_exp, time_lt
from eventsim.engine.cycles import (ACT_DELIVER, ACT_NONE, PH_DIRECT, PH_LOOP, PH_WINDOW_END, cycle_counter,
                                   mark_activity, mark_phase)
from eventsim.engine.exact_sum import add_exactly, add_inexact
from eventsim.engine.heap import next_kind, pop_group, synapses_at, take_scheduled
from eventsim.engine.lif_frame import (catch_up, change_current, clearly_below, close_batch, needs_catch_up, open_batch,
                                       potential)
from eventsim.engine.prefetch import prefetch_read_l1, prefetch_record_write
from eventsim.engine.records import (BATCH_NONE, BATCH_OPEN, BATCH_REFRACTORY, CURRENT, DIRTY, FRAME_LIF,
                                     GEN_LIF_PSC_EXP, INPUTS, SIDE_SCRATCH, TRUE, ZERO, _OPTS)
from eventsim.engine.wakeups import end_of_window, set_wake, set_window_end_E, update_wake, wake_after_input


PREFETCH_AHEAD = 8
"""Deliveries ahead of the current one whose target's NSTATE record is prefetched."""


@njit(inline="always", **_OPTS)
def deliver_run(nrn, neuron, gen, targets, weights, lo, hi, w_h, wsh, tick, frac, batch, cls_q, cls_tau, class_E,
                class_stamp, c, stream, win, opened, n_opened, batch_u0, n_applied, wake, block_min, side):
    """Deliver ``targets[lo:hi]`` at (tick, frac): weight ``w_h``, or ``weights[s + wsh]`` if NaN.

    One iteration per delivery (direct delivery, see :func:`advance`). A neuron's first input of
    the batch brings it up to t. Then a plain-LIF neuron that this input alone leaves clearly below
    threshold (beyond :func:`add_inputs`' rounding band) takes it at once, its frame value before it
    kept in ``batch_u0`` (index in ``r.chain``): the batch is then closed unless another input
    comes, which restores that value and reopens the batch. Every other first input opens a batch
    (appended to ``opened``, tested when the batch closes); later inputs are added to it
    (``lif_psc_exp``: negative weights to its second, inhibitory sum). Both ways give the same
    floats and decisions as closing every batch (:func:`close_batch`), without a second visit for
    the single, subthreshold inputs that most neurons get. It takes plain arrays and records only
    (no Net/State tuples), and calls out only for a neuron's catch-up and a batch's second input.
    Returns the counts of opened and of at-once batches.
    """
    homogeneous = not np.isnan(w_h)
    w = w_h
    discarded = 0
    batches = 0
    for s in range(lo, min(hi, lo + PREFETCH_AHEAD)):  # the run's first records: the loop prefetches the rest
        prefetch_record_write(nrn, np.int64(targets[s]))
    for s in range(lo, hi):
        if s + PREFETCH_AHEAD < hi:
            prefetch_record_write(nrn, np.int64(targets[s + PREFETCH_AHEAD]))
        i = np.int64(targets[s])
        if not homogeneous:
            w = weights[s + wsh]
        r = nrn[i]
        if r.touched == batch:
            if r.bflag == BATCH_NONE:  # a plain LIF neuron whose first input was discarded or taken at once
                if time_lt(tick, frac, r.ref_tick, r.ref_frac):
                    discarded += 1
                    continue
                r.U = batch_u0[r.chain]  # take the first input back: the batch is summed, then tested
                r.bflag = BATCH_OPEN
                opened[n_opened] = i
                n_opened += 1
            if r.bflag == BATCH_REFRACTORY:
                discarded += 1
            elif w < 0.0 and r.model == GEN_LIF_PSC_EXP:  # its second sum
                G.add_inhibitory(gen[i], w, side, c)
            elif not add_exactly(r, w):
                add_inexact(r, w, side, c)
            continue
        # NOTE: first input of this batch for i: bring i up to t once, so that the same-time
        # inputs after it are summed before the single threshold test.
        r.touched = batch
        batches += 1
        if r.model != FRAME_LIF:
            opened[n_opened] = i
            n_opened += 1
            if G.needs_catch_up(r, tick, frac):
                G.catch_up(r, neuron[i], gen[i], i, tick, frac, c, stream, win, TRUE)
                set_wake(wake, block_min, i, G.wake_tick(r))
            if r.model == GEN_LIF_PSC_EXP:  # refractory or not: its currents take the input
                G.open_psc_batch(r, gen[i], w)
            elif time_lt(tick, frac, r.ref_tick, r.ref_frac):
                r.bflag = BATCH_REFRACTORY
                discarded += 1
            else:
                open_batch(r, w)
            continue
        cl = r.cls
        if class_stamp[cl] != batch:
            class_stamp[cl] = batch
            class_E[cl] = frame_exp(tick, frac, c.base, cls_q[cl])
        e = class_E[cl]
        if needs_catch_up(r, tick, frac, e):
            catch_up(r, neuron[i], i, tick, frac, e, cls_q[cl], c, stream, win, TRUE)
            update_wake(r, neuron[i], i, tick, e, wake, block_min)
        if time_lt(tick, frac, r.ref_tick, r.ref_frac):
            r.bflag = BATCH_NONE
            discarded += 1
            continue
        u0 = r.U
        if clearly_below(r, u0, w, e):
            # NOTE: the same floats as add_inputs at the close, which would decide "no spike"
            r.U = u0 + w * e
            r.bw = w
            r.bflag = BATCH_NONE
            r.chain = n_applied
            batch_u0[n_applied] = u0
            n_applied += 1
            if r.thr < 0.0:
                r.ctick = DIRTY
                if w > 0.0:
                    wake_after_input(r, i, tick, e, cls_tau[cl], wake, block_min)
        else:
            opened[n_opened] = i
            n_opened += 1
            open_batch(r, w)
            prefetch_read_l1(neuron, i)  # NOTE: read if the batch fires (t_ref, V_reset): a miss per spike
    c.discarded += discarded
    c.batches += batches
    return n_opened, n_applied


@njit(inline="always", **_OPTS)
def batch_inputs(net, h, due, c, tick, frac):
    """How many inputs arrive at exactly (tick, frac), the earliest pending time: the heap's groups,
    the calendar's due runs ``due`` and the scheduled arrivals (an upper bound on the side buffer
    records the batch adds)."""
    m = synapses_at(h, c.heap_n, net.proj, net.rowptr, net.pop_start, tick, frac)
    p = c.due_p
    while p < c.due_n and due[p].tick == tick and due[p].frac == frac:
        m += due[p].n
        p += 1
    p = c.sa_p
    while p < net.sa_tick.size and net.sa_tick[p] == tick and net.sa_frac[p] == frac:
        m += 1
        p += 1
    return m


@njit(inline="always", **_OPTS)
def deliver_batch(net, st, h, due, tick, frac, side):
    """Direct delivery: all inputs arriving at exactly (tick, frac) (heap, the calendar's due runs
    ``due``, scheduled), summed per neuron, then one threshold test per neuron (as the buckets do:
    results are bit-identical). Returns 0, or, when the side buffer ``side`` cannot hold the
    batch's partials (one record per input, plus SIDE_SCRATCH), the size it needs, having done
    nothing: the caller grows it and calls again.

    NOTE: the heap ``h``, the due list and the side buffer come borrowed (never regrown here):
    each array a call receives or returns costs two atomic reference-count operations, which wait
    for the batch's outstanding cache misses; sampled with perf, NRT_incref/NRT_decref were ~20 %
    of Benchmark 4's simulation, 72 % of them here and in run_window_direct. Hence the side
    buffer's room is checked once per batch (:func:`batch_inputs`), not per group."""
    c = st.ctl[0]
    need = c.side_n + batch_inputs(net, h, due, c, tick, frac) + SIDE_SCRATCH
    if need > side.size:
        return need
    nrn, neuron, cls_q, class_E, class_stamp = st.nrn, net.neuron, net.cls_q, st.class_E, st.class_stamp
    cls_tau = net.cls_tau
    stream, win, opened, wake, block_min, gen = st.stream, st.win, st.ids, st.wake, st.block_min, st.gen
    syn_target, syn_weight, rowptr = net.syn_target, net.syn_weight, net.rowptr
    mark_activity(c, ACT_DELIVER)  # the whole batch (the Poisson arrivals and crossings within mark themselves)
    batch = c.batch + 1
    c.batch = batch
    n_opened = 0
    n_applied = 0
    batch_u0 = st.batch_u0
    n = c.heap_n
    while n > 0 and h[0].tick == tick and h[0].frac == frac:
        n, src, j, lo, hi = pop_group(h, n, net.proj, rowptr, net.pop_start, c)
        pj = net.proj[j]
        n_opened, n_applied = deliver_run(nrn, neuron, gen, syn_target, syn_weight, lo, hi, pj.weight,
                                          pj.weight_shift, tick, frac, batch, cls_q, cls_tau, class_E, class_stamp, c,
                                          stream, win, opened, n_opened, batch_u0, n_applied, wake, block_min, side)
    c.heap_n = n
    while c.due_p < c.due_n:
        r = due[c.due_p]
        if r.tick != tick or r.frac != frac:
            break
        c.due_p += 1
        lo, hi = r.lo, r.lo + r.n
        wsh = 0 if r.n == 1 else net.proj[r.aux].weight_shift  # one synapse: its weight is in the run
        c.syn_events += hi - lo
        n_opened, n_applied = deliver_run(nrn, neuron, gen, syn_target, syn_weight, lo, hi, r.w, wsh, tick, frac,
                                          batch, cls_q, cls_tau, class_E, class_stamp, c, stream, win, opened,
                                          n_opened, batch_u0, n_applied, wake, block_min, side)
    lo, hi = take_scheduled(net.sa_tick, net.sa_frac, c, tick, frac)
    if hi > lo:
        n_opened, n_applied = deliver_run(nrn, neuron, gen, net.sa_target, net.sa_weight, lo, hi, np.nan, 0, tick,
                                          frac, batch, cls_q, cls_tau, class_E, class_stamp, c, stream, win, opened,
                                          n_opened, batch_u0, n_applied, wake, block_min, side)
    close_opened(nrn, neuron, gen, opened, n_opened, tick, frac, cls_q, class_E, c, win, side, wake, block_min)
    mark_activity(c, ACT_NONE)
    return ZERO


@njit(inline="always", **_OPTS)
def close_opened(nrn, neuron, gen, opened, n_opened, tick, frac, cls_q, class_E, c, win, side, wake, block_min):
    """Close the batches at (tick, frac) of the neurons ``opened[:n_opened]`` (sum, one threshold
    test, wake-up renewed if it may have come earlier); empty the side buffer."""
    for k in range(n_opened):
        i = opened[k]
        r, nr = nrn[i], neuron[i]
        if r.model != FRAME_LIF:
            if r.model == GEN_LIF_PSC_EXP:
                changed = G.close_psc_batch(r, nr, gen[i], i, tick, frac, c, win, side)
            else:
                changed = G.close_batch(r, nr, gen[i], i, tick, frac, c, win)
            if changed:
                set_wake(wake, block_min, i, G.wake_tick(r))
            continue
        e = class_E[r.cls]
        if close_batch(r, nr, i, tick, frac, e, cls_q[r.cls], c, win):
            update_wake(r, nr, i, tick, e, wake, block_min)
    c.side_n = 0


@njit(**_OPTS)
def timed_actions(net, st, kind, tick, frac):
    """Direct delivery: current changes or voltage samples at exactly (tick, frac)."""
    c = st.ctl[0]
    nrn, neuron, gen, cls_q, stream, win = st.nrn, net.neuron, st.gen, net.cls_q, st.stream, st.win
    if kind == CURRENT:
        cc = net.cc
        while c.cc_p < cc.size and cc[c.cc_p].tick == tick and cc[c.cc_p].frac == frac:
            timed_current(nrn, neuron, gen, cc[c.cc_p].target, tick, frac, cc[c.cc_p].value, cls_q, c, stream, win,
                          st.wake, st.block_min)
            c.cc_p += 1
    else:
        vs = net.vs
        while c.vs_p < vs.size and vs[c.vs_p].tick == tick and vs[c.vs_p].frac == frac:
            st.voltages[vs[c.vs_p].slot] = timed_sample(nrn, neuron, gen, vs[c.vs_p].target, tick, frac, cls_q, c,
                                                        stream, win, st.wake, st.block_min)
            c.vs_p += 1


@njit(**_OPTS)
def timed_current(nrn, neuron, gen, i, tick, frac, delta, cls_q, c, stream, win, wake, block_min):
    """Neuron i's injected current changes by ``delta`` pA at (tick, frac); its wake-up renewed."""
    r = nrn[i]
    if r.model != FRAME_LIF:
        G.change_current(r, neuron[i], gen[i], i, tick, frac, delta, c, stream, win)
        set_wake(wake, block_min, i, G.wake_tick(r))
        return
    change_current(r, neuron[i], i, tick, frac, delta, cls_q[r.cls], c, stream, win)
    update_wake(r, neuron[i], i, tick, frame_exp(tick, frac, c.base, cls_q[r.cls]), wake, block_min)


@njit(**_OPTS)
def timed_sample(nrn, neuron, gen, i, tick, frac, cls_q, c, stream, win, wake, block_min):
    """Neuron i's membrane potential at (tick, frac), mV (brought up to it; wake-up renewed)."""
    r = nrn[i]
    if r.model != FRAME_LIF:
        v = G.potential(r, neuron[i], gen[i], i, tick, frac, c, stream, win)
        set_wake(wake, block_min, i, G.wake_tick(r))
        return v
    q = cls_q[r.cls]
    e = frame_exp(tick, frac, c.base, q)
    catch_up(r, neuron[i], i, tick, frac, e, q, c, stream, win, TRUE)
    update_wake(r, neuron[i], i, tick, e, wake, block_min)
    return potential(r, neuron[i], tick, frac, q, c.base)


@njit(inline="always", **_OPTS)
def prefetch_rows(h, n, proj, rowptr, pop_start, syn_target, t_end):
    """Prefetch the target lists of the heap's spike groups due before ``t_end`` (a window's, at its start).

    NOTE: a row's first lines were the delivery loop's top stall (the row's first prefetch ahead waits for
    them, and a short row ends before the hardware prefetcher has followed it)."""
    for k in range(n):
        g = h[k]
        if g.tick < t_end:
            pj = proj[g.proj]
            hi = rowptr[pj.rowptr_start + g.src - pop_start[pj.pre_pop] + 1]
            s = g.pos - (g.pos & 15)  # int32 targets: 16 a line
            while s < hi:
                prefetch_read_l1(syn_target, s)
                s += 16


@njit(**_OPTS)
def run_window_direct(net, st, h, cal, t_end, side):
    """The window without gathering: events delivered straight from the queues in time order.

    Cheaper than the buckets when a window holds few inputs (their targets' states are in cache
    anyway); gives bit-identical results. Returns 0 once the window is done (its end included), or
    the size the side buffer ``side`` must have for the next batch, that batch not started: the
    caller grows it and calls again, which goes on where the window stopped.

    NOTE: ``h``, ``cal`` and ``side`` come borrowed (the caller's buffers own them and only the caller
    regrows them): the heap and the calendar are only read and popped here, and no call of the window
    takes or returns an array with a reference count (``deliver_batch``'s NOTE); taking the Calendar
    (17 arrays) and the side buffer as ordinary arrays cost atomic reference counts per window.
    """
    c = st.ctl[0]
    t0 = cycle_counter()
    mark_phase(c, PH_DIRECT)
    prefetch_rows(h, c.heap_n, net.proj, net.rowptr, net.pop_start, net.syn_target, t_end)
    while True:
        kind, tick, frac = next_kind(net, c, h)
        if due_first(cal, c, kind, tick, frac):  # a batch of the calendar alone, before that event
            r = due_run(cal, c.due_p)
            kind, tick, frac = INPUTS, r.tick, r.frac
        if kind < 0 or tick >= t_end:
            break
        if kind == INPUTS:
            # NOTE: one call site, inlined: a call of deliver_batch passed the Net and State tuples
            # (about 250 words pushed per batch: 6 % of Benchmark 4's samples)
            need = deliver_batch(net, st, h, cal.due, tick, frac, side)
            if need > 0:
                c.cyc_direct += cycle_counter() - t0
                mark_phase(c, PH_LOOP)
                return need
        else:
            timed_actions(net, st, kind, tick, frac)
    t1 = cycle_counter()
    mark_phase(c, PH_WINDOW_END)
    set_window_end_E(net.cls_q, st.class_E, st.class_stamp, c.base, t_end)
    end_of_window(st.nrn, net.neuron, st.gen, t_end, net.cls_q, st.class_E, c, st.stream, st.win, st.wake,
                  st.block_min)
    c.cyc_direct += t1 - t0
    mark_phase(c, PH_LOOP)
    c.cyc_window_end += cycle_counter() - t1
    return ZERO
