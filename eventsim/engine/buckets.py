"""Bucket delivery of a window: gather everything due in it off the heap and the scheduled arrays in
time order (:func:`gather_window`), append each item's targets to the bucket of their neuron range
(:func:`fill_entries`) and then each due calendar delivery, with its own time and weight
(:func:`fill_due`), then work the buckets one at a time with their neurons' states in cache
(:func:`process_window`), each bucket's calendar entries first sorted and merged with its items
(:func:`order_timed`), or, in a bucket without items, put straight into neuron order
(:func:`calendar_by_neuron`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from eventsim.engine import generic as G
from eventsim.engine.borrowed import borrowed
from eventsim.engine.calendar import (BLOCK, EB, ENTRY, free_streams, prefetch_stream, release_taken,
                                     spill_streams, tick_bits)
from eventsim.engine.clock import frame_exp, time_lt
from eventsim.engine.cycles import (ACT_DELIVER, ACT_NONE, PH_BUCKETS, PH_LOOP, PH_SCATTER, PH_WINDOW_END, cycle_counter,
                                   mark_activity, mark_phase)
from eventsim.engine.exact_sum import add_exactly, add_inexact
from eventsim.engine.heap import next_kind, pop_group, take_scheduled
from eventsim.engine.lif_frame import (add_inputs, catch_up, change_current, close_batch, crossing_bound, fire,
                                       needs_catch_up, open_batch, potential)
from eventsim.engine.neuron_pass import in_locals, inputs_in_locals, sort_by_neuron
from eventsim.engine.parts import merge_parts, part_done, part_window_end, start_parts
from eventsim.engine.prefetch import prefetch_read, prefetch_write
from eventsim.engine.records import (BATCH_NONE, BATCH_REFRACTORY, BLOCK_SHIFT, CURRENT, FALSE, FRAME_LIF,
                                     GEN_LIF_PSC_EXP, INPUT, INPUTS, NEVER, SAMPLE, SIDE_SCRATCH, TRUE, ZERO, _OPTS,
                                     Buffers, grown)
from eventsim.engine.wakeups import end_of_window, set_wake, set_window_end_E, wake_blocks

TIMED = np.int64(1) << 31
"""Flag of a bucket entry from the calendar: its low 31 bits are a time index, not an item's."""
TI_MASK = TIMED - 1


@njit(**_OPTS)
def _count_targets(bcnt, shift, targets, lo, hi):
    """One more entry in the bucket of each of ``targets[lo:hi]``.

    NOTE: counted by runs of one bucket (a row's targets are sorted, so its entries come in a few
    runs): the run's length stays in a register, where a store per target to one bucket's counter
    made each increment wait on the one before."""
    if lo >= hi:
        return
    b = targets[lo] >> shift
    k = 0
    for s in range(lo, hi):
        bs = targets[s] >> shift
        if bs != b:
            bcnt[b] += k
            b = bs
            k = 0
        k += 1
    bcnt[b] += k


@njit(**_OPTS)
def _add_item(grp, n_g, ti, kind, w, lo, hi, wsh, src, aux):
    grp = grown(grp, n_g, n_g + 1)
    g = grp[n_g]
    g.ti, g.kind, g.w, g.lo, g.hi, g.wsh, g.src, g.aux = ti, kind, w, lo, hi, wsh, src, aux
    return grp


@njit(inline="always", **_OPTS)
def _time_index(times, time_E, n_t, tick, frac, base, cls_q):
    """The window's time index of (tick, frac): the last one if equal, else a new one with its ``E``
    per time-constant class (room for it made by the caller). Returns the new time count."""
    if n_t == 0 or times[n_t - 1].tick != tick or times[n_t - 1].frac != frac:
        n_cls = cls_q.size
        times[n_t].tick, times[n_t].frac = tick, frac
        for k in range(n_cls):
            time_E[n_t * n_cls + k] = frame_exp(tick, frac, base, cls_q[k])
        n_t += 1
    return n_t


@njit(**_OPTS)
def gather_window(net, st, buf, t_end):
    """Take every event before t_end off the heap and the scheduled arrays, in time order, as the
    window's items.

    Each distinct time gets an index and its ``E`` per time-constant class (their count is left in
    ``ctl.win_times``); each item adds one entry per target to its target's bucket count ``st.bcnt``
    (with one thread; with several, :func:`count_in_parallel` counts). A spike group of the heap is
    one item. The calendar's due runs are not items: :func:`fill_due` puts them into the buckets
    directly. Returns (buf, items).
    """
    c = st.ctl[0]
    h, grp, times, time_E = buf.heap, buf.grp, buf.times, buf.time_E
    cls_q, bcnt, shift = net.cls_q, st.bcnt, c.bucket_shift
    # with threads, the parts count (and scatter) the entries themselves, or deliver the items in parts
    counting = st.ctls.size == 1 and c.item_parts == 0
    if counting:  # (left at zero by the buckets' work, but not by a window simulated again)
        for b in range(bcnt.size):
            bcnt[b] = 0
    rowptr, proj, pop_start, syn_target = net.rowptr, net.proj, net.pop_start, net.syn_target
    n_g = 0
    n_t = 0
    while True:
        kind, tick, frac = next_kind(net, c, h)
        if kind < 0 or tick >= t_end:
            break
        times = grown(times, n_t, n_t + 1)
        time_E = grown(time_E, n_t * cls_q.size, (n_t + 1) * cls_q.size)
        n_t = _time_index(times, time_E, n_t, tick, frac, c.base, cls_q)
        ti = n_t - 1
        if kind == INPUTS:
            n = c.heap_n
            while n > 0 and h[0].tick == tick and h[0].frac == frac:
                n, src, j, lo, hi = pop_group(h, n, proj, rowptr, pop_start, c)
                pj = proj[j]
                grp = _add_item(grp, n_g, ti, INPUTS, pj.weight, lo, hi, pj.weight_shift, 0, j)
                n_g += 1
                if counting:
                    _count_targets(bcnt, shift, syn_target, lo, hi)
            c.heap_n = n
            lo, hi = take_scheduled(net.sa_tick, net.sa_frac, c, tick, frac)
            if hi > lo:
                grp = _add_item(grp, n_g, ti, INPUTS, np.nan, lo, hi, 0, 1, 0)
                n_g += 1
                if counting:
                    _count_targets(bcnt, shift, net.sa_target, lo, hi)
        else:
            tl = net.cc if kind == CURRENT else net.vs
            p = c.cc_p if kind == CURRENT else c.vs_p
            while p < tl.size and tl[p].tick == tick and tl[p].frac == frac:
                i = tl[p].target
                grp = _add_item(grp, n_g, ti, kind, 0.0, i, i + 1, 0, 0, p)
                n_g += 1
                if counting:
                    bcnt[i >> shift] += 1
                p += 1
            if kind == CURRENT:
                c.cc_p = p
            else:
                c.vs_p = p
    c.win_times = n_t
    return Buffers(h, buf.out, grp, times, time_E, buf.ent, buf.ent_w, buf.side, buf.cal), n_g


@njit(**_OPTS)
def fill_entries(net, grp, g0, g1, bpos, shift, ent, ent_w):
    """Append the entries ``target << 32 | item`` (and per-synapse weights) of items ``g0:g1`` to
    their targets' buckets, in item order, so that each bucket comes out sorted by time with
    same-time inputs in queue order. ``bpos[b]`` is bucket b's write cursor (it ends past the
    entries written).

    A few hundred buckets keep the writes in a few hundred streams (cache-friendly) where one
    slice per neuron would scatter them over the whole table.
    """
    for g in range(g0, g1):
        it = grp[g]
        if it.kind != INPUTS:  # one target
            b = it.lo >> shift
            ent[bpos[b]] = (it.lo << 32) | g
            bpos[b] += 1
            continue
        targets = net.syn_target if it.src == 0 else net.sa_target
        heterogeneous = np.isnan(it.w)
        weights = net.syn_weight if it.src == 0 else net.sa_weight
        # NOTE: by runs of one bucket (rows sorted by target), the cursor in a register: a load and a
        # store of bpos per target made each wait on the previous one's store
        s, hi, wsh = it.lo, it.hi, it.wsh
        while s < hi:
            b = np.int64(targets[s]) >> shift
            k = bpos[b]
            while True:
                i = np.int64(targets[s])
                ent[k] = (i << 32) | g
                if heterogeneous:
                    ent_w[k] = weights[s + wsh]
                k += 1
                s += 1
                if s == hi or (np.int64(targets[s]) >> shift) != b:
                    break
            bpos[b] = k


@njit(**_OPTS)
def input_table(grp, n_g):
    """Items ``0:n_g`` as the neuron pass reads them per entry (``INPUT``: time index, -1 when not
    INPUTS, and weight).

    NOTE: 16 bytes an item where ``GROUP`` has 64: a window's items stay in L1, where the per-entry
    load of a ``GROUP`` line was ~10 % of Brunel's bucket samples (an L2 hit the entry waited on)."""
    gin = np.empty(n_g, INPUT)
    for g in range(n_g):
        it = grp[g]
        gin[g].ti = it.ti if it.kind == INPUTS else -1
        gin[g].w = it.w
    return gin


@njit(**_OPTS)
def count_entries(net, grp, g0, g1, cnt, shift):
    """Add the entries of items ``g0:g1`` to their buckets' counts ``cnt`` (as :func:`gather_window` counts)."""
    for g in range(g0, g1):
        it = grp[g]
        if it.kind != INPUTS:
            cnt[it.lo >> shift] += 1
        else:
            _count_targets(cnt, shift, net.syn_target if it.src == 0 else net.sa_target, it.lo, it.hi)


@njit(inline="always", **_OPTS)
def _first_segment(cal, c):
    """The open window's due runs as segments of one RUN array: the blocks of its slot's chain (while
    they are in the slot) or the rest of the due list. Returns (array, lo, hi, block): the first
    segment ``array[lo:hi]`` and its block (-1: the due list, one segment)."""
    if c.due_in_slot:
        b = cal.slot[c.cal_window % cal.slot.shape[0], 0]
        if b < 0:
            return cal.runs, 0, 0, b
        return cal.runs, b * BLOCK, b * BLOCK + cal.fill[b], b
    return cal.due, c.due_p, c.due_n, np.int64(-1)


@njit(**_OPTS)
def count_due(cal, c, t_end, bcnt, shift, syn_target):
    """Add the synapses of the open window's due runs before t_end (in its slot or in the due list)
    to their buckets' counts ``bcnt`` and to the synaptic events; returns their number (the
    window's calendar entries)."""
    src, lo, hi, b = _first_segment(cal, c)
    n = 0
    while True:
        for q in range(lo, hi):
            r = src[q]
            if r.tick >= t_end:
                continue
            if r.n == 1:  # one synapse: its target is in the run
                bcnt[np.int64(r.aux) >> shift] += 1
            else:
                _count_targets(bcnt, shift, syn_target, r.lo, r.lo + r.n)
            n += r.n
        if b < 0 or cal.link[b] < 0:
            break
        b = cal.link[b]
        lo, hi = b * BLOCK, b * BLOCK + cal.fill[b]
    c.syn_events += n
    return n


@njit(**_OPTS)
def fill_due(cal, c, t_end, bpos, shift, ent, ent_w, times, syn_target, syn_weight, proj):
    """Append one entry per synapse of the open window's due runs before t_end to its target's
    bucket, after the bucket's item entries: ``target << 32 | TIMED`` in ``ent[k]``, its weight in
    ``ent_w[k]``, its time at ``times[ctl.win_times + k]`` (:func:`order_timed` then sorts each
    bucket's and gives them time indices). The runs are taken from the window's slot (then
    :func:`~eventsim.engine.calendar.release_taken`) or from the due list, whose runs left (a window
    cut by a stop time) move to its start, in order. O(runs + synapses), sequential reads."""
    # NOTE: the entries carry their time and weight, so the bucket loop reads them in order (as
    # items, each delivery read its item, time and E at random in tables far larger than L2); the
    # runs are taken where they are (copying them out of the slot first cost ~9 ns per event); the
    # loop is written out: through an inlined helper taking the run it ran ~8x slower
    n_t = c.win_times
    in_slot = c.due_in_slot
    src, lo, hi, b = _first_segment(cal, c)
    taken = 0
    keep = 0
    while True:
        for q in range(lo, hi):
            r = src[q]
            if r.tick >= t_end:
                if not in_slot:  # the due list's rest moves to its start
                    src[keep] = src[q]
                    keep += 1
                continue
            taken += 1
            tick, frac = r.tick, r.frac
            if r.n == 1:  # one synapse: its target and weight are in the run
                i = np.int64(r.aux)
                bk = i >> shift
                k = bpos[bk]
                ent[k] = (i << 32) | TIMED
                ent_w[k] = r.w
                times[n_t + k].tick, times[n_t + k].frac = tick, frac
                bpos[bk] = k + 1
                continue
            w = r.w
            wsh = proj[r.aux].weight_shift
            for s in range(r.lo, r.lo + r.n):
                i = np.int64(syn_target[s])
                bk = i >> shift
                k = bpos[bk]
                ent[k] = (i << 32) | TIMED
                ent_w[k] = w if not np.isnan(w) else syn_weight[s + wsh]
                times[n_t + k].tick, times[n_t + k].frac = tick, frac
                bpos[bk] = k + 1
        if b < 0 or cal.link[b] < 0:
            break
        b = cal.link[b]
        lo, hi = b * BLOCK, b * BLOCK + cal.fill[b]
    if in_slot:
        release_taken(cal, c, t_end, taken)
    else:
        c.due_p = 0
        c.due_n = keep


@njit(inline="always", **_OPTS)
def timed_start(ent, j0, j1):
    """The first calendar entry of a bucket's entries ``j0:j1`` (its items' entries come first);
    O(log) by bisection, O(1) for a bucket without any."""
    if j1 == j0 or (ent[j1 - 1] & TIMED) == 0:
        return j1
    lo, hi = j0, j1 - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if ent[mid] & TIMED:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(**_OPTS)
def order_timed(ent, ent_w, times, time_E, grp, j0, j1, c, cls_q):
    """:func:`order_calendar` of a bucket whose calendar entries are all in ``ent`` (no stream)."""
    order_calendar(ent, ent_w, times, time_E, grp, j0, j1, c, cls_q, np.empty(0, ENTRY), np.empty(0, np.int64),
                   np.int64(-1), ZERO, np.int64(-1), ZERO, ZERO)


@njit(**_OPTS)
def order_calendar(ent, ent_w, times, time_E, grp, j0, j1, c, cls_q, epool, elink, head, ns, nxt_head, nxt_n, nxt_j1):
    """Sort the calendar entries of a bucket's entries ``j0:j1`` by time (target in ``ent``, weight in
    ``ent_w``, time at ``times[ctl.win_times + k]``), give each a time index and merge them with the
    bucket's item entries (before them, in time order) by time. The time index is an item's (``times[:ctl.win_times]``) at the same time, so that a neuron's same-time
    inputs form one batch whichever queue they come from; else the previous entry's at an equal
    time; else its own, ``win_times + k``, with its ``E`` per time-constant class (computed once per
    distinct time, as for items).

    At one time, calendar entries (inputs) come after current changes and before samples, the order
    :func:`~eventsim.engine.heap.next_kind` gives the items. O(m) for m entries (and the items'),
    all in the bucket's own (cached) slices: one counting pass into about m bins of the window by
    tick, then an insertion pass by (tick, frac) that moves little (a bin holds about one entry).

    The last ``ns`` of them are not in ``ent`` yet: they are the bucket's stream of the window's
    slot (:data:`~eventsim.engine.calendar.ENTRY` records from block ``head`` of ``epool``, chained
    by ``elink``), read from there by both passes (written into ``ent[j1 - ns:j1]``, ``ent_w``,
    ``times`` as they are placed). The stream of the next bucket (``nxt_n`` entries from block
    ``nxt_head``, to be written before ``nxt_j1``) is prefetched meanwhile, a line per entry of the
    pass that computes ``E``.
    """
    # NOTE: reading the stream here, where the bucket's slices are in cache, replaced a count pass
    # and a fill pass over the window's runs (40-byte records, ~23 MB a window at Brunel's scale)
    # and a copy of the bucket's entries
    jf = j1 - ns
    jm = timed_start(ent, j0, jf)
    m = j1 - jm
    if m == 0:
        return
    n_t = c.win_times
    t0 = c.cal_window * c.window
    bits = tick_bits(c.window)
    hb = 0
    while (1 << hb) < m and hb < bits:
        hb += 1
    sh = bits - hb
    mf = jf - jm  # the entries fill_due wrote (runs of several synapses, a window cut by a stop time)
    src_e, src_w, src_t = ent[jm:jf].copy(), ent_w[jm:jf].copy(), times[n_t + jm:n_t + jf].copy()
    cnt = np.zeros((1 << hb) + 1, np.int64)
    for q in range(mf):
        cnt[((src_t[q].tick - t0) >> sh) + 1] += 1
    blk = head
    for q in range(ns):
        if q > 0 and q & (EB - 1) == 0:
            blk = elink[blk]
        cnt[(epool[blk * EB + (q & (EB - 1))].key >> (32 + sh)) + 1] += 1
    for d in range(1, cnt.size):
        cnt[d] += cnt[d - 1]
    for q in range(mf):
        d = (src_t[q].tick - t0) >> sh
        p = jm + cnt[d]
        cnt[d] += 1
        ent[p], ent_w[p] = src_e[q] & ~TI_MASK, src_w[q]
        times[n_t + p] = src_t[q]
    blk = head
    for q in range(ns):
        if q > 0 and q & (EB - 1) == 0:
            blk = elink[blk]
        en = epool[blk * EB + (q & (EB - 1))]
        key = en.key
        off = key >> 32
        d = off >> sh
        p = jm + cnt[d]
        cnt[d] += 1
        ent[p], ent_w[p] = ((key & 0xFFFFFFFF) << 32) | TIMED, en.w
        times[n_t + p].tick, times[n_t + p].frac = t0 + off, en.frac
    _insertion_by_time(ent, ent_w, times, n_t, jm, j1)
    n_cls = cls_q.size
    a = 0  # the items' times before the entry's
    ti = -1
    # NOTE: the next bucket's stream, and the slices its entries will be written to, are prefetched
    # here, a line per entry of this pass (an exp per entry): the stream prefetched all at once
    # (~5 % of the samples), or 3 lines an entry, stalled on the memory queue
    pb, pq, step = nxt_head, 0, 0
    wj = nxt_j1 - nxt_n  # where the next bucket's stream entries will be written
    for p in range(jm, j1):
        if pq < nxt_n:  # one line an entry; 8 entries: 3 lines of stream, 1 of ent and ent_w, 2 of times
            if step < 3:
                prefetch_read(epool, pb * EB + (pq & (EB - 1)) + 3 * step)
            elif step == 3:
                prefetch_write(ent, wj + pq)
            elif step == 4:
                prefetch_write(ent_w, wj + pq)
            else:
                prefetch_write(times, n_t + wj + pq + 4 * (step - 5))
            step += 1
            if step == 7:
                step = 0
                pq += 8
                if pq & (EB - 1) == 0 and pq < nxt_n:
                    pb = elink[pb]
        tick, frac = times[n_t + p].tick, times[n_t + p].frac
        if ti < 0 or times[ti].tick != tick or times[ti].frac != frac:
            while a < n_t and time_lt(times[a].tick, times[a].frac, tick, frac):
                a += 1
            if a < n_t and times[a].tick == tick and times[a].frac == frac:
                ti = a
            else:
                ti = n_t + p
                for k in range(n_cls):
                    time_E[ti * n_cls + k] = frame_exp(tick, frac, c.base, cls_q[k])
        ent[p] |= ti
    if pq < nxt_n:
        prefetch_stream(epool, elink, pb, pq, nxt_n)
    if jm > j0:
        _merge_with_items(ent, ent_w, times, grp, j0, jm, j1)


@njit(**_OPTS)
def calendar_by_neuron(ent, ent_w, times, time_E, j0, j1, c, cls_q, epool, elink, head, ns, nxt_head, nxt_n, nxt_j1,
                       i0, cnt, s_ent, s_w):
    """A bucket whose entries ``j0:j1`` all come from the calendar (no item's), put straight into
    neuron order, each neuron's in time order: what :func:`order_calendar` and then
    :func:`~eventsim.engine.neuron_pass.sort_by_neuron` give, in one counting sort by (target, tick
    bin). Afterwards neuron ``i0 + l``'s entries are ``s_ent[cnt[l]:cnt[l + 1]]`` (target ``<< 32 |
    TIMED |`` time index), their weights in ``s_w``, their times at ``times[ctl.win_times + j0 + p]``.

    The bucket's first ``j1 - j0 - ns`` entries are in ``ent`` (:func:`fill_due`), the last ``ns`` in
    its stream (as :func:`order_calendar`). A neuron's entries at one time share a time index (one
    batch); equal times of different neurons each get their own, with the same ``E``. O(m) for m
    entries: one counting pass into about m bins (a neuron's range of bins by tick), one pass placing
    each entry's index, one writing the entries in that order, an insertion pass by (target, tick,
    frac) that moves little, one pass for the time indices. A bucket holds fewer than 2**31 entries.
    """
    # NOTE: one sort where order_calendar sorted the bucket by time and sort_by_neuron then sorted
    # it by neuron (two more passes over its entries and weights); a bucket with item entries keeps
    # that path, which merges them by time
    nl = cnt.size - 1
    m = j1 - j0
    jf = j1 - ns
    mf = jf - j0
    n_t = c.win_times
    tb = n_t + j0  # the bucket's entries' times: times[tb + p]
    t0 = c.cal_window * c.window
    bits = tick_bits(c.window)
    hb = 0  # bits of a neuron's bins: about one entry a bin
    while (nl << hb) < m and hb < bits:
        hb += 1
    sh = bits - hb
    bins = np.zeros((nl << hb) + 1, np.int64)
    src_t = times[tb:tb + mf].copy()  # fill_due's entries' times, whose slots the placing overwrites
    for q in range(mf):
        bins[((((ent[j0 + q] >> 32) - i0) << hb) | ((src_t[q].tick - t0) >> sh)) + 1] += 1
    blk = head
    for q in range(ns):
        if q > 0 and q & (EB - 1) == 0:
            blk = elink[blk]
        key = epool[blk * EB + (q & (EB - 1))].key
        bins[((((key & 0xFFFFFFFF) - i0) << hb) | ((key >> 32) >> sh)) + 1] += 1
    for d in range(1, bins.size):
        bins[d] += bins[d - 1]
    for l in range(nl):
        cnt[l] = bins[l << hb]
    cnt[nl] = m
    # NOTE: the placing pass writes only where each entry goes (4 bytes, in L1); a pass in that
    # order then reads the entries (in L2) and writes them in order: placing the 32 bytes of an
    # entry, weight and time at random stalled on the stores (~40 % of this function's samples)
    perm = np.empty(m, np.int32)
    for q in range(mf):
        d = (((ent[j0 + q] >> 32) - i0) << hb) | ((src_t[q].tick - t0) >> sh)
        p = bins[d]
        bins[d] = p + 1
        perm[p] = q
    blocks = np.empty((ns + EB - 1) // EB, np.int64)  # the stream's chain of blocks
    blk = head
    for q in range(ns):
        if q & (EB - 1) == 0:
            if q > 0:
                blk = elink[blk]
            blocks[q // EB] = blk
        key = epool[blk * EB + (q & (EB - 1))].key
        d = (((key & 0xFFFFFFFF) - i0) << hb) | ((key >> 32) >> sh)
        p = bins[d]
        bins[d] = p + 1
        perm[p] = mf + q
    for p in range(m):
        q = np.int64(perm[p])
        if q < mf:
            s_ent[p], s_w[p] = ent[j0 + q] & ~TI_MASK, ent_w[j0 + q]
            times[tb + p] = src_t[q]
        else:
            q -= mf
            en = epool[blocks[q // EB] * EB + (q & (EB - 1))]
            key = en.key
            s_ent[p], s_w[p] = ((key & 0xFFFFFFFF) << 32) | TIMED, en.w
            times[tb + p].tick, times[tb + p].frac = t0 + (key >> 32), en.frac
    # by (target, tick, frac): entries of one target are equal in s_ent here (no time index yet)
    for q in range(1, m):
        x = s_ent[q]
        tick, frac = times[tb + q].tick, times[tb + q].frac
        if s_ent[q - 1] != x or not time_lt(tick, frac, times[tb + q - 1].tick, times[tb + q - 1].frac):
            continue
        w = s_w[q]
        p = q
        while p > 0 and s_ent[p - 1] == x and time_lt(tick, frac, times[tb + p - 1].tick, times[tb + p - 1].frac):
            s_w[p] = s_w[p - 1]
            times[tb + p] = times[tb + p - 1]
            p -= 1
        s_w[p] = w
        times[tb + p].tick, times[tb + p].frac = tick, frac
    n_cls = cls_q.size
    ti = -1
    prev = np.int64(-1)
    # NOTE: the next bucket's stream, and the times its entries will be written to, are prefetched
    # here, a line per entry of this pass (an exp per entry), as in order_calendar. The lines are
    # written out in both: one inlined helper for both, with the calendar's arrays borrowed, ran
    # brunel_delays 1.055x slower (CPU ABBA, 4 of 4 pairs, 2026-12-03)
    pb, pq, step = nxt_head, 0, 0
    wj = nxt_j1 - nxt_n
    for p in range(m):
        if pq < nxt_n:  # one line an entry; 8 entries: 3 lines of stream, 1 of ent and ent_w, 2 of times
            if step < 3:
                prefetch_read(epool, pb * EB + (pq & (EB - 1)) + 3 * step)
            elif step == 3:
                prefetch_write(ent, wj + pq)
            elif step == 4:
                prefetch_write(ent_w, wj + pq)
            else:
                prefetch_write(times, n_t + wj + pq + 4 * (step - 5))
            step += 1
            if step == 7:
                step = 0
                pq += 8
                if pq & (EB - 1) == 0 and pq < nxt_n:
                    pb = elink[pb]
        x = s_ent[p]
        tick, frac = times[tb + p].tick, times[tb + p].frac
        if x != prev or times[ti].tick != tick or times[ti].frac != frac:
            ti = tb + p
            for k in range(n_cls):
                time_E[ti * n_cls + k] = frame_exp(tick, frac, c.base, cls_q[k])
        prev = x
        s_ent[p] = x | ti
    if pq < nxt_n:
        prefetch_stream(epool, elink, pb, pq, nxt_n)


@njit(**_OPTS)
def _merge_with_items(ent, ent_w, times, grp, j0, jm, j1):
    """Merge a bucket's item entries ``j0:jm`` and its sorted calendar entries ``jm:j1`` by time (at
    one time: a calendar entry after a current change, before a sample)."""
    me, mw = np.empty(j1 - j0, np.int64), np.empty(j1 - j0)
    ja, jb = j0, jm
    for o in range(j1 - j0):
        timed = jb < j1
        if timed and ja < jm:
            ti = ent[jb] & TI_MASK
            it = grp[ent[ja] & 0xFFFFFFFF]
            if ti == it.ti:
                timed = it.kind == SAMPLE
            else:
                timed = time_lt(times[ti].tick, times[ti].frac, times[it.ti].tick, times[it.ti].frac)
        j = jb if timed else ja
        me[o], mw[o] = ent[j], ent_w[j]
        if timed:
            jb += 1
        else:
            ja += 1
    ent[j0:j1] = me
    ent_w[j0:j1] = mw


@njit(**_OPTS)
def _insertion_by_time(ent, ent_w, times, n_t, j0, j1):
    """Order the calendar entries ``j0:j1`` by (tick, frac), moving entry, weight and time: an
    insertion sort, O(m) when they are nearly in order (after the binning of :func:`order_timed`)."""
    for q in range(j0 + 1, j1):
        tick, frac = times[n_t + q].tick, times[n_t + q].frac
        if not time_lt(tick, frac, times[n_t + q - 1].tick, times[n_t + q - 1].frac):
            continue
        x, w = ent[q], ent_w[q]
        p = q
        while p > j0 and time_lt(tick, frac, times[n_t + p - 1].tick, times[n_t + p - 1].frac):
            ent[p], ent_w[p] = ent[p - 1], ent_w[p - 1]
            times[n_t + p] = times[n_t + p - 1]
            p -= 1
        ent[p], ent_w[p] = x, w
        times[n_t + p].tick, times[n_t + p].frac = tick, frac


@njit(inline="always", **_OPTS)
def process_entries(nrn, neuron, gen, ent, ent_w, j0, j1, grp, times, time_E, cls_q, c, stream, win, cc, vs,
                    voltages, touched, n_touched, side):
    """Advance the neurons of one bucket through its entries ``j0:j1``, in time order.

    Item entries name their item; calendar entries (``TIMED``) are inputs with their own time index
    and weight, sorted and merged with the items by :func:`order_timed`. An input at the time of its target's open
    batch is only added to the batch; any other entry first closes that batch (sum and threshold
    test, :func:`close_batch`), then brings the neuron to the entry's time (its Poisson arrivals and
    crossings before it, :func:`catch_up`) and opens a new batch (counted in ``ctl.batches``),
    changes the current or samples the potential. Neurons met for the first time in the window are
    appended to ``touched``; returns the new count. Neurons on the generic path (``r.model``) take
    the same steps through :mod:`eventsim.engine.generic`.
    """
    n_cls = cls_q.size
    discarded = 0
    batches = 0
    for j in range(j0, j1):
        x = ent[j]
        if x & TIMED:  # a calendar entry: an input at its own time index, its weight in ent_w
            ti, kind, w, aux = x & TI_MASK, INPUTS, ent_w[j], 0
        else:
            it = grp[x & 0xFFFFFFFF]
            ti, kind, w, aux = it.ti, it.kind, it.w, it.aux  # w: NaN when per synapse, in ent_w
        i = x >> 32
        r = nrn[i]
        if kind == INPUTS and r.bt == ti and r.bflag != BATCH_NONE:  # same batch
            if r.bflag == BATCH_REFRACTORY:
                discarded += 1
                continue
            if np.isnan(w):
                w = ent_w[j]
            if w < 0.0 and r.model == GEN_LIF_PSC_EXP:  # its second sum
                G.add_inhibitory(gen[i], w, side, c)
            elif not add_exactly(r, w):
                add_inexact(r, w, side, c)
            continue
        if kind == INPUTS:
            batches += 1
        nr = neuron[i]
        if r.model != FRAME_LIF:
            # NOTE: a neuron on the generic path takes one call here, so that the frame's loop body
            # below keeps the code (and register use) it had before the generic path existed
            if r.bt < 0:
                touched[n_touched] = i
                n_touched += 1
            v_in = w if kind == INPUTS else (cc[aux].value if kind == CURRENT else 0.0)
            if kind == INPUTS and np.isnan(v_in):
                v_in = ent_w[j]
            bt = r.bt if r.bt >= 0 else ti
            v = G.bucket_entry(r, nr, gen[i], i, kind, ti, times[bt].tick, times[bt].frac, times[ti].tick,
                               times[ti].frac, v_in, c, stream, win, side)
            if kind == SAMPLE:
                voltages[vs[aux].slot] = v
            continue
        q = cls_q[r.cls]
        if r.bt < 0:
            touched[n_touched] = i
            n_touched += 1
        elif r.bflag != BATCH_NONE:  # close_batch, written out: inlined by Numba it ran 10 % slower here
            bt = r.bt
            if r.bflag != BATCH_REFRACTORY and add_inputs(r, nr, r.bw, time_E[bt * n_cls + r.cls]):
                fire(r, nr, i, times[bt].tick, times[bt].frac, FALSE, q, c, win)
            r.bflag = BATCH_NONE
        tick, frac = times[ti].tick, times[ti].frac
        e = time_E[ti * n_cls + r.cls]
        r.bt = ti
        if kind == INPUTS:
            if needs_catch_up(r, tick, frac, e):
                catch_up(r, nr, i, tick, frac, e, q, c, stream, win, TRUE)
            if time_lt(tick, frac, r.ref_tick, r.ref_frac):
                r.bflag = BATCH_REFRACTORY
                discarded += 1
            else:
                open_batch(r, ent_w[j] if np.isnan(w) else w)
        elif kind == CURRENT:
            change_current(r, nr, i, tick, frac, cc[aux].value, q, c, stream, win)
        else:
            catch_up(r, nr, i, tick, frac, e, q, c, stream, win, TRUE)
            voltages[vs[aux].slot] = potential(r, nr, tick, frac, q, c.base)
    c.discarded += discarded
    c.batches += batches
    return n_touched


@njit(inline="always", **_OPTS)
def finish_neurons(nrn, neuron, gen, ids, lo, hi, t_end, times, time_E, cls_q, class_E, c, stream, win, wake,
                   block_min, side):
    """Close the open batch of neurons ``ids[lo:hi]``, bring them to t_end, renew their wake-ups;
    empty the side buffer."""
    n_cls = cls_q.size
    for k in range(lo, hi):
        i = ids[k]
        r, nr = nrn[i], neuron[i]
        if r.model != FRAME_LIF:
            finish_generic(r, nr, gen[i], i, times[r.bt].tick, times[r.bt].frac, t_end, c, stream, win, wake,
                           block_min, side)
            continue
        q = cls_q[r.cls]
        bt = r.bt
        close_batch(r, nr, i, times[bt].tick, times[bt].frac, time_E[bt * n_cls + r.cls], q, c, win)
        r.bt = -1
        e = class_E[r.cls]
        if needs_catch_up(r, t_end, 0.0, e):
            catch_up(r, nr, i, t_end, 0.0, e, q, c, stream, win, FALSE)
        t = crossing_bound(r, nr, t_end, e)
        set_wake(wake, block_min, i, r.ps_tick if r.ps_tick < t else t)
    c.side_n = 0


@njit(**_OPTS)
def finish_generic(r, nr, g, i, tick, frac, t_end, c, stream, win, wake, block_min, side):
    """:func:`finish_neurons` for a neuron on the generic path, its batch at (tick, frac)."""
    if r.model == GEN_LIF_PSC_EXP:
        G.close_psc_batch(r, nr, g, i, tick, frac, c, win, side)
    else:
        G.close_batch(r, nr, g, i, tick, frac, c, win)
    r.bt = -1
    if G.needs_catch_up(r, t_end, 0.0):
        G.catch_up(r, nr, g, i, t_end, 0.0, c, stream, win, FALSE)
    set_wake(wake, block_min, i, G.wake_tick(r))


@njit(**_OPTS)
def work_buckets(nrn, neuron, gen, ent, ent_w, bcnt, bpos, b0, b1, grp, gin, times, time_E, cls_q, class_E, c, stream,
                 win, cc, vs, voltages, ids, side, wake, block_min, t_end, shift, epool, elink, ehead, ecnt, with_w):
    """:func:`_work_buckets` with the arrays borrowed (``with_w``: some entry's weight is in ``ent_w``).

    NOTE: the per-neuron functions inlined there (``inputs_in_locals`` and the sort) received the
    window's arrays, which the caller does not borrow: two atomic reference counts per array and
    call, once per neuron and window. None of them is regrown while the buckets are worked (only
    in :func:`process_window`, before), and this frame owns the scratch arrays for the whole call."""
    largest = 0
    for b in range(b0, b1):
        largest = max(largest, bcnt[b])
    s_ent, s_w = np.empty(largest, np.int64), np.empty(largest if with_w else 0)
    cnt = np.empty((1 << shift) + 1, np.int64)
    # NOTE: every array borrowed, the bucket counts and the calendar's streams too: a borrowed array's
    # indices are used without wraparound (engine/borrowed.py), a third of the sort's instructions
    _work_buckets(*borrowed((nrn, neuron, gen, ent, ent_w, bcnt, bpos)), b0, b1, *borrowed((grp, gin, times, time_E,
                  cls_q, class_E)), c, *borrowed((stream, win, cc, vs, voltages, ids, side, wake, block_min)), t_end, shift,
                  *borrowed((epool, elink, ehead, ecnt, s_ent, s_w, cnt)), with_w)


@njit(**_OPTS)
def _work_buckets(nrn, neuron, gen, ent, ent_w, bcnt, bpos, b0, b1, grp, gin, times, time_E, cls_q, class_E, c, stream,
                  win, cc, vs, voltages, ids, side, wake, block_min, t_end, shift, epool, elink, ehead, ecnt, s_ent, s_w,
                  cnt, with_w):
    """Work buckets ``b0:b1`` of the window: each bucket's entries in time order, then the neurons
    they touched up to ``t_end`` (listed in the bucket's own slice of ``ids``) and its other neurons
    that may act on their own before ``t_end`` (:func:`wake_blocks`), while the bucket's neuron states
    are in cache; leaves the bucket counts at zero. ``ehead``, ``ecnt``: the window's streams per
    bucket (empty: none), the last entries of their buckets (:func:`order_calendar`). ``s_ent``,
    ``s_w``, ``cnt``: the sort's scratch (a bucket's entries, their weights, ``(1 << shift) + 1`` counts).

    NOTE: a call (not inlined) per window, or per part of it (:func:`work_buckets_in_parallel`): the
    per-entry code is compiled once for both, where inlining it into the parallel loop too doubled
    the engine's compile time.
    """
    n = nrn.size
    n_cls = cls_q.size
    mark_activity(c, ACT_DELIVER)  # the Poisson arrivals and crossings within mark themselves
    for b in range(b0, b1):
        k = bcnt[b]
        if k > 0:
            bcnt[b] = 0
            touched = ids[b << shift:min(n, (b + 1) << shift)]
            ns = ecnt[b] if ecnt.size > 0 else 0
            # NOTE: the next bucket's stream loads while this one is worked: read in order_calendar's
            # first pass, its chain of blocks made it wait on memory (~1/3 of order_calendar's samples)
            nxt_head, nxt_n, nxt_j1 = np.int64(-1), np.int64(0), np.int64(0)
            if ecnt.size > 0 and b + 1 < b1:
                nxt_head, nxt_n, nxt_j1 = ehead[b + 1], ecnt[b + 1], bpos[b + 1]
            j0 = bpos[b] - k
            if ns == k or ent[j0] & TIMED:  # calendar entries only (items come first): neuron order at once
                calendar_by_neuron(ent, ent_w, times, time_E, j0, bpos[b], c, cls_q, epool, elink,
                                   ehead[b] if ns > 0 else -1, ns, nxt_head, nxt_n, nxt_j1, b << shift, cnt, s_ent,
                                   s_w)
            else:
                if ns > 0 or ent[bpos[b] - 1] & TIMED:  # calendar entries (last in the bucket) to sort
                    order_calendar(ent, ent_w, times, time_E, grp, j0, bpos[b], c, cls_q, epool, elink,
                                   ehead[b] if ns > 0 else -1, ns, nxt_head, nxt_n, nxt_j1)
                elif nxt_n > 0:
                    prefetch_stream(epool, elink, nxt_head, ZERO, nxt_n)
                # NOTE: neuron by neuron (neuron_pass), most neurons' whole windows with their states in locals
                sort_by_neuron(ent, ent_w, j0, bpos[b], b << shift, cnt, s_ent, s_w, with_w)
            n_touched = 0
            for l in range(cnt.size - 1):
                j, j1 = cnt[l], cnt[l + 1]
                if j == j1:
                    continue
                i = (b << shift) + l
                r = nrn[i]
                if in_locals(r):
                    j = inputs_in_locals(r, neuron[i], i, s_ent, s_w, j, j1, gin, times, time_E, n_cls,
                                         cls_q[r.cls], c, stream, win, side, t_end, wake, block_min)
                    if r.bt >= 0:  # begun in locals, to be finished by process_entries and finish_neurons
                        touched[n_touched] = i
                        n_touched += 1
                if j < j1:
                    n_touched = process_entries(nrn, neuron, gen, s_ent, s_w, j, j1, grp, times, time_E, cls_q, c,
                                                stream, win, cc, vs, voltages, touched, n_touched, side)
            finish_neurons(nrn, neuron, gen, touched, 0, n_touched, t_end, times, time_E, cls_q, class_E, c,
                           stream, win, wake, block_min, side)
            # NOTE: the bucket's other neurons due to act on their own (Poisson arrivals, crossings)
            # are brought to t_end here, their records still in cache from its entries, rather than
            # by the window's end pass (a miss per neuron at 1e6 neurons); that pass then skips these
            # blocks. A neuron's results do not depend on when in the window this is done.
            wake_blocks(nrn, neuron, gen, t_end, cls_q, class_E, c, stream, win, wake, block_min,
                        (b << shift) >> BLOCK_SHIFT, min(block_min.size, ((b + 1) << shift) >> BLOCK_SHIFT))
    mark_activity(c, ACT_NONE)


# ---------------------------------------------------------------------------------------------
# Threads: a window's buckets worked in parallel, with results bit-identical for any thread count.
#
# Within a window neurons are independent (a spike emitted in it arrives in a later one), and each
# bucket holds the entries of its own range of neurons, so the buckets can be worked in any order
# and on any thread: every neuron goes through exactly the same operations on the same floats. What
# threads would share is made private:
#
# * counters and the spike count (a ``CTL`` record per part, ``State.ctls``, copied from the run's at
#   the window's start; its counters added back at the end);
# * the window's spike buffer: a part writes into the slice of it that belongs to its neurons (a
#   neuron emits at most ``win.size // N`` spikes per window where that bound is used, so a slice of
#   that many per neuron cannot overflow; otherwise an overflow is handled as in one thread:
#   :meth:`~eventsim.engine.numba_engine.NumbaEngine._call` simulates the window again with a larger
#   buffer); the slices are then moved together in part order;
# * the side buffer of inexact batch sums (one slice per part) and the list of touched neurons (one
#   slice per bucket).
#
# Wake-up minima are kept per block of 64 neurons and a bucket holds whole blocks; Poisson streams,
# generic-model records and voltage-sample slots belong to one neuron each. The order in which a
# window's spikes reach the spike buffer may differ with the number of parts, but the heap orders
# spike groups by their full key and recorded spikes are sorted as each window is flushed, so nothing downstream
# sees it. Each part then brings its own neurons to the window's end. Gathering the window and
# scattering entries into the buckets stay on one thread.
# ---------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def split_buckets(bcnt, parts):
    """Boundaries of ``parts`` contiguous ranges of buckets holding about equal numbers of entries."""
    total = 0
    for b in range(bcnt.size):
        total += bcnt[b]
    bounds = np.empty(parts + 1, np.int64)
    bounds[0] = 0
    b = 0
    seen = 0
    for t in range(1, parts):
        goal = total * t // parts
        while b < bcnt.size and seen + bcnt[b] <= goal:
            seen += bcnt[b]
            b += 1
        bounds[t] = b
    bounds[parts] = bcnt.size
    return bounds


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def work_buckets_in_parallel(nrn, neuron, gen, ent, ent_w, bcnt, bpos, grp, gin, times, time_E, cls_q, class_E,
                             stream, win, cc, vs, voltages, ids, side, wake, block_min, t_end, ctl, ctls, shift, epool,
                             elink, ehead, ecnt, with_w):
    """Work every bucket of the window (entries, then the touched neurons up to ``t_end``), then the
    window's end (:func:`wake_blocks`), in ``ctls.size`` parts of neurons on Numba's threads;
    afterwards the run's ``ctl`` holds the counts and the smallest wake-up, and the window's spikes
    are at the start of ``win`` as if one thread had emitted them (comment above).

    ``side`` holds ``ctls.size`` equal slices, each large enough for one bucket's batches; ``ids`` one
    entry per neuron. The run's ``ctl`` must have no spikes pending in ``win`` (``win_n == 0``).
    """
    parts = ctls.size
    n = nrn.size
    bounds = split_buckets(bcnt, parts)
    per_neuron = win.size // n
    side_len = side.size // parts
    start_parts(ctl, ctls)
    for t in prange(parts):
        b0, b1 = bounds[t], bounds[t + 1]
        twin = win[min(n, b0 << shift) * per_neuron:min(n, b1 << shift) * per_neuron]
        work_buckets(nrn, neuron, gen, ent, ent_w, bcnt, bpos, b0, b1, grp, gin, times, time_E, cls_q, class_E,
                     ctls[t], stream, twin, cc, vs, voltages, ids, side[t * side_len:(t + 1) * side_len], wake, block_min,
                     t_end, shift, epool, elink, ehead, ecnt, with_w)
        # then the window's end of the part's own neurons (blocks of 64 within its buckets)
        k_lo = min(block_min.size, (b0 << shift) >> BLOCK_SHIFT)
        k_hi = block_min.size if t == parts - 1 else min(block_min.size, (b1 << shift) >> BLOCK_SHIFT)
        part_window_end(ctls[t])
        ctls[t].wake_min = wake_blocks(nrn, neuron, gen, t_end, cls_q, class_E, ctls[t], stream, twin, wake,
                                       block_min, k_lo, k_hi)
        part_done(ctls[t])
    for t in range(parts + 1):  # the parts' neurons
        bounds[t] = min(n, bounds[t] << shift)
    merge_parts(ctl, ctls, win, bounds, per_neuron)


@njit(cache=True, nogil=True)
def split_items(grp, n_g, parts):
    """Boundaries of ``parts`` contiguous ranges of the window's items holding about equal numbers of entries."""
    total = 0
    for g in range(n_g):
        total += grp[g].hi - grp[g].lo
    bounds = np.empty(parts + 1, np.int64)
    bounds[0] = 0
    g = 0
    seen = 0
    for t in range(1, parts):
        goal = total * t // parts
        while g < n_g and seen + grp[g].hi - grp[g].lo <= goal:
            seen += grp[g].hi - grp[g].lo
            g += 1
        bounds[t] = g
    bounds[parts] = n_g
    return bounds


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def count_in_parallel(net, grp, item_bounds, bcnt, part_cnt, shift):
    """Each part counts its items' entries per bucket (``part_cnt``, parts x buckets, flattened);
    ``bcnt`` becomes their sum."""
    parts = item_bounds.size - 1
    nb = bcnt.size
    for t in prange(parts):
        cnt = part_cnt[t * nb:(t + 1) * nb]
        cnt[:] = 0
        count_entries(net, grp, item_bounds[t], item_bounds[t + 1], cnt, shift)
    for b in range(nb):
        k = 0
        for t in range(parts):
            k += part_cnt[t * nb + b]
        bcnt[b] = k


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def fill_in_parallel(net, grp, item_bounds, bpos, part_cnt, shift, ent, ent_w):
    """:func:`fill_entries` of each part's items, into its own stretch of every bucket: part t writes
    after the entries of parts before it (earlier items), so the buckets come out exactly as one
    thread fills them. ``bpos`` holds the buckets' starts and ends at their ends; ``part_cnt`` is
    turned into the parts' write cursors."""
    parts = item_bounds.size - 1
    nb = bpos.size
    for b in range(nb):
        k = bpos[b]
        for t in range(parts):
            n = part_cnt[t * nb + b]
            part_cnt[t * nb + b] = k
            k += n
        bpos[b] = k
    for t in prange(parts):
        fill_entries(net, grp, item_bounds[t], item_bounds[t + 1], borrowed(part_cnt[t * nb:(t + 1) * nb]), shift,
                     *borrowed((ent, ent_w)))


@njit(**_OPTS)
def process_window(net, st, buf, n_g, t_end):
    """Advance every neuron that has entries or may act on its own through the window to t_end.

    Within a window neurons are independent, so the window is taken bucket by bucket: a bucket's
    entries in time order, then the neurons they touched (open batch closed, Poisson arrivals and
    crossings up to t_end), all while the bucket's neuron states are in cache. Then
    :func:`end_of_window` for the buckets that no entry reached.
    """
    c = st.ctl[0]
    nrn, neuron, cls_q, stream, win = st.nrn, net.neuron, net.cls_q, st.stream, st.win
    bcnt, bpos, wake, block_min, class_E = st.bcnt, st.bpos, st.wake, st.block_min, st.class_E
    grp, times, time_E, touched, gen = buf.grp, buf.times, buf.time_E, st.ids, st.gen
    t0 = cycle_counter()
    mark_phase(c, PH_SCATTER)
    threads = st.ctls.size
    if threads > 1:
        item_bounds = split_items(grp, n_g, threads)
        part_cnt = np.empty(threads * bcnt.size, np.int64)
        count_in_parallel(net, grp, item_bounds, bcnt, part_cnt, c.bucket_shift)
    cal = buf.cal
    if cal.etot.size > 0 and t_end < (c.cal_window + 1) * c.window:  # a window cut by a stop time: as runs
        cal = spill_streams(cal, c)
    n_timed = count_due(cal, c, t_end, bcnt, c.bucket_shift, net.syn_target)
    # the window's streams: their counts per bucket kept as they were queued
    s_cal = c.cal_window % cal.slot.shape[0]
    n_streams = cal.etot[s_cal] if cal.etot.size > 0 else 0
    nb = bcnt.size
    ehead, ecnt = cal.ehead[s_cal * nb:(s_cal + 1) * nb], cal.ecnt[s_cal * nb:(s_cal + 1) * nb]
    if n_streams > 0:
        for b in range(nb):
            bcnt[b] += ecnt[b]
        c.syn_events += n_streams
    else:
        ehead, ecnt = ehead[:0], ecnt[:0]
    total = 0
    largest = 0
    for b in range(bcnt.size):
        bpos[b] = total
        total += bcnt[b]
        largest = max(largest, bcnt[b])
    ent = grown(buf.ent, ZERO, total)
    ent_w = grown(buf.ent_w, ZERO, total)
    parts = threads if c.win_n == 0 else 1  # (spikes at t = 0 of V_init >= V_th: worked in one part)
    side = grown(buf.side, ZERO, parts * (largest + SIDE_SCRATCH))  # a bucket's batches: at most one entry per input
    if threads > 1:
        fill_in_parallel(net, grp, item_bounds, bpos, part_cnt, c.bucket_shift, ent, ent_w)
    else:
        # NOTE: the entries' arrays borrowed (this frame owns them): their stores without wraparound
        fill_entries(net, grp, ZERO, n_g, bpos, c.bucket_shift, *borrowed((ent, ent_w)))
    if n_timed + n_streams > 0:  # the calendar's entries after each bucket's items, their times after the items'
        n_t = c.win_times
        times = grown(times, n_t, n_t + total)
        time_E = grown(time_E, n_t * cls_q.size, (n_t + total) * cls_q.size)
    if n_timed > 0:
        fill_due(cal, c, t_end, bpos, c.bucket_shift, ent, ent_w, times, net.syn_target, net.syn_weight, net.proj)
    for b in range(ecnt.size):  # the streams' entries last: order_calendar reads them from the streams
        bpos[b] += ecnt[b]
    set_window_end_E(cls_q, class_E, st.class_stamp, c.base, t_end)
    # does any entry carry its weight in ent_w (per-synapse weights, calendar entries)? Else the
    # sort by neuron moves no weights
    with_w = n_timed + n_streams > 0
    for g in range(n_g):
        if np.isnan(grp[g].w):
            with_w = True
            break
    gin = input_table(grp, n_g)
    t1 = cycle_counter()
    mark_phase(c, PH_BUCKETS)
    if parts > 1:  # the buckets and then the window's end, in parts (cycles: all under buckets)
        work_buckets_in_parallel(nrn, neuron, gen, ent, ent_w, bcnt, bpos, grp, gin, times, time_E, cls_q, class_E,
                                 stream, win, net.cc, net.vs, st.voltages, touched, side, wake, block_min, t_end, st.ctl,
                                 st.ctls, c.bucket_shift, cal.epool, cal.elink, ehead, ecnt, with_w)
        t2 = cycle_counter()
    else:
        work_buckets(nrn, neuron, gen, ent, ent_w, bcnt, bpos, ZERO, bcnt.size, grp, gin, times, time_E, cls_q, class_E,
                     c, stream, win, net.cc, net.vs, st.voltages, touched, side, wake, block_min, t_end, c.bucket_shift,
                     cal.epool, cal.elink, ehead, ecnt, with_w)
        t2 = cycle_counter()
        mark_phase(c, PH_WINDOW_END)
        end_of_window(nrn, neuron, gen, t_end, cls_q, class_E, c, stream, win, wake, block_min)
    if n_streams > 0:  # taken
        c.due_n -= free_streams(cal, s_cal)
    c.cyc_scatter += t1 - t0
    c.cyc_buckets += t2 - t1
    mark_phase(c, PH_LOOP)
    c.cyc_window_end += cycle_counter() - t2
    return Buffers(buf.heap, buf.out, grp, times, time_E, ent, ent_w, side, cal)
