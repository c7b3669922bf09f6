"""Delivery of a gathered window in parts of neurons, one part per thread, without buckets.

With threads, a window's items (:func:`~eventsim.engine.buckets.gather_window`: spike groups,
calendar runs, scheduled arrivals, current changes and samples, in time order) are delivered
straight to the neurons, as :mod:`~eventsim.engine.direct` delivers them from the queues, by every
part at once: part ``t`` owns the neurons ``[lo_t, hi_t)`` (whole blocks of 64) and takes from each
item only its own targets. Rows of synapses are sorted by target (:func:`rows_sorted` checks it
once), so a part's targets of an item are one slice, found by binary search: no entry is written,
copied or filtered, and nothing is shared between the parts but the items. Networks with
per-synapse delays (the calendar's runs go into the buckets directly) use the buckets in parts. The bucket path
(:mod:`~eventsim.engine.buckets`) writes every entry into a bucket first; on a machine whose cache
holds a part's neuron states that pass is the part of the window that did not scale with threads
(perf/RESULTS.md).

Every neuron meets its inputs in the same order, batched by the same times, through the same
functions (:func:`~eventsim.engine.direct.deliver_run`, :func:`~eventsim.engine.direct.close_opened`)
as with one thread, so spikes and voltages are bit-identical for any number of parts and to the
other delivery paths.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from eventsim.engine.cycles import ACT_DELIVER, ACT_NONE, PH_DIRECT, PH_LOOP, cycle_counter, mark_activity, mark_phase
from eventsim.engine.direct import close_opened, deliver_run, timed_current, timed_sample
from eventsim.engine.parts import merge_parts, part_done, part_window_end, start_parts
from eventsim.engine.records import BLOCK_SHIFT, CURRENT, INPUTS, SIDE_SCRATCH, ZERO, _OPTS, Buffers, grown
from eventsim.engine.wakeups import set_window_end_E, wake_blocks


@njit(**_OPTS)
def rows_sorted(rowptr, targets, proj, pop_start):
    """True if every row of every projection lists its targets in ascending order."""
    for j in range(proj.size):
        pj = proj[j]
        n_rows = pop_start[pj.pre_pop + 1] - pop_start[pj.pre_pop]
        for row in range(pj.rowptr_start, pj.rowptr_start + n_rows):
            for s in range(rowptr[row] + 1, rowptr[row + 1]):
                if targets[s] < targets[s - 1]:
                    return False
    return True


@njit(**_OPTS)
def runs_sorted(tick, frac, targets):
    """True if the scheduled arrivals of each time list their targets in ascending order."""
    for s in range(1, targets.size):
        if tick[s] == tick[s - 1] and frac[s] == frac[s - 1] and targets[s] < targets[s - 1]:
            return False
    return True


@njit(inline="always", **_OPTS)
def first_at_least(targets, lo, hi, i):
    """The first position in the ascending ``targets[lo:hi]`` whose target is at least ``i`` (hi if none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if targets[mid] < i:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(**_OPTS)
def deliver_items(net, nrn, gen, stream, voltages, wake, block_min, grp, n_g, times, batch0, n_lo, n_hi, cls_q,
                  class_E, class_stamp, c, win, opened, batch_u0, side):
    """Deliver items ``0:n_g`` of the window to the neurons ``[n_lo, n_hi)``, in item order.

    Consecutive inputs at one time index ``ti`` form one batch (stamp ``batch0 + ti``), summed per
    neuron and tested once when it closes, as :func:`~eventsim.engine.direct.deliver_batch` does;
    a current change or sample reaches its neuron if it is in the part. ``class_E`` and
    ``class_stamp`` are the part's own (the E of the batch's time per class), ``opened`` and
    ``batch_u0`` scratch of at least ``n_hi - n_lo`` entries. The items are spike groups (rows
    of the synapse table), scheduled arrivals, current changes and samples: no calendar runs
    (networks without per-synapse delays: :func:`~eventsim.engine.numba_engine.items_possible`).
    """
    syn_target, syn_weight, sa_target, sa_weight = net.syn_target, net.syn_weight, net.sa_target, net.sa_weight
    neuron = net.neuron
    mark_activity(c, ACT_DELIVER)  # the Poisson arrivals and crossings within mark themselves
    g = 0
    while g < n_g:
        it = grp[g]
        ti = it.ti
        tick, frac = times[ti].tick, times[ti].frac
        if it.kind != INPUTS:
            i = it.lo
            if n_lo <= i < n_hi:
                if it.kind == CURRENT:
                    timed_current(nrn, neuron, gen, i, tick, frac, net.cc[it.aux].value, cls_q, c, stream, win,
                                  wake, block_min)
                else:
                    voltages[net.vs[it.aux].slot] = timed_sample(nrn, neuron, gen, i, tick, frac, cls_q, c, stream,
                                                                 win, wake, block_min)
            g += 1
            continue
        batch = batch0 + ti
        n_opened = 0
        n_applied = 0
        while g < n_g and grp[g].ti == ti and grp[g].kind == INPUTS:
            it = grp[g]
            g += 1
            targets = syn_target if it.src == 0 else sa_target
            weights = syn_weight if it.src == 0 else sa_weight
            a = first_at_least(targets, it.lo, it.hi, n_lo)
            b = first_at_least(targets, a, it.hi, n_hi)
            if a == b:
                continue
            n_opened, n_applied = deliver_run(nrn, neuron, gen, targets, weights, a, b, it.w, it.wsh, tick, frac,
                                              batch, cls_q, net.cls_tau, class_E, class_stamp, c, stream, win, opened,
                                              n_opened, batch_u0, n_applied, wake, block_min, side)
        close_opened(nrn, neuron, gen, opened, n_opened, tick, frac, cls_q, class_E, c, win, side, wake, block_min)
    mark_activity(c, ACT_NONE)


@njit(**_OPTS)
def part_bounds(n, parts):
    """Neuron boundaries of ``parts`` parts of whole 64-neuron blocks, about equal in size."""
    blocks = (n >> BLOCK_SHIFT) + 1
    bounds = np.empty(parts + 1, np.int64)
    for t in range(parts + 1):
        bounds[t] = min(n, ((blocks * t) // parts) << BLOCK_SHIFT)
    return bounds


@njit(**_OPTS)
def largest_batch(grp, n_g):
    """The most inputs at one time index among items ``0:n_g`` (an upper bound on a part's batch)."""
    largest = 0
    size = 0
    ti = -1
    for g in range(n_g):
        it = grp[g]
        if it.kind != INPUTS:
            continue
        if it.ti != ti:
            ti = it.ti
            size = 0
        size += it.hi - it.lo
        largest = max(largest, size)
    return largest


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def deliver_items_in_parallel(net, nrn, gen, stream, voltages, wake, block_min, grp, n_g, times, batch0, class_E, win,
                              ids, batch_u0, side, t_end, ctl, ctls):
    """Deliver the window's items (:func:`deliver_items`), then its end (:func:`wake_blocks`), in
    ``ctls.size`` parts of neurons (:func:`part_bounds`) on Numba's threads; afterwards the run's
    ``ctl`` holds the counts and the smallest wake-up, and the window's spikes are at the start of
    ``win`` (:func:`~eventsim.engine.parts.merge_parts`). ``class_E`` holds E(t_end) per class;
    ``side`` ``ctls.size`` equal slices, each large enough for one batch; the run's ``ctl`` must
    have no spikes pending in ``win``."""
    parts = ctls.size
    n = nrn.size
    cls_q = net.cls_q
    n_cls = cls_q.size
    bounds = part_bounds(n, parts)
    per_neuron = win.size // n
    side_len = side.size // parts
    part_E = np.ones(parts * n_cls)
    part_stamp = np.full(parts * n_cls, -1, np.int64)
    start_parts(ctl, ctls)
    for t in prange(parts):
        lo, hi = bounds[t], bounds[t + 1]
        twin = win[lo * per_neuron:hi * per_neuron]
        deliver_items(net, nrn, gen, stream, voltages, wake, block_min, grp, n_g, times, batch0, lo, hi, cls_q,
                      part_E[t * n_cls:(t + 1) * n_cls], part_stamp[t * n_cls:(t + 1) * n_cls], ctls[t], twin,
                      ids[lo:hi], batch_u0[lo:hi], side[t * side_len:(t + 1) * side_len])
        k_hi = block_min.size if t == parts - 1 else hi >> BLOCK_SHIFT
        part_window_end(ctls[t])
        ctls[t].wake_min = wake_blocks(nrn, net.neuron, gen, t_end, cls_q, class_E, ctls[t], stream, twin, wake,
                                       block_min, lo >> BLOCK_SHIFT, k_hi)
        part_done(ctls[t])
    merge_parts(ctl, ctls, win, bounds, per_neuron)


@njit(**_OPTS)
def deliver_window_in_parts(net, st, buf, n_g, t_end):
    """Advance every neuron through the window to t_end from its gathered items ``buf.grp[:n_g]``,
    in ``st.ctls.size`` parts of neurons on threads (:func:`deliver_items_in_parallel`); returns the
    buffers (the side buffer regrown if needed)."""
    c = st.ctl[0]
    t0 = cycle_counter()
    mark_phase(c, PH_DIRECT)
    grp = buf.grp
    side = grown(buf.side, ZERO, st.ctls.size * (largest_batch(grp, n_g) + SIDE_SCRATCH))
    set_window_end_E(net.cls_q, st.class_E, st.class_stamp, c.base, t_end)
    batch0 = c.batch + 1
    n_t = grp[n_g - 1].ti + 1 if n_g > 0 else 0
    deliver_items_in_parallel(net, st.nrn, st.gen, st.stream, st.voltages, st.wake, st.block_min, grp, n_g, buf.times,
                              batch0, st.class_E, st.win, st.ids, st.batch_u0, side, t_end, st.ctl, st.ctls)
    c.batch = batch0 + n_t
    c.side_n = 0
    mark_phase(c, PH_LOOP)
    c.cyc_direct += cycle_counter() - t0
    return Buffers(buf.heap, buf.out, grp, buf.times, buf.time_E, buf.ent, buf.ent_w, side, buf.cal)
