"""A bucket's entries worked neuron by neuron (:func:`bucket_by_neuron`): a stable counting sort of
the bucket's entries by target gives each neuron its entries in time order; a plain LIF neuron
below threshold by itself with at most one Poisson stream then runs its whole window's inputs,
merged with its Poisson arrivals, in one loop with its state in locals (:func:`inputs_in_locals`).
Every other neuron, and a neuron from its first entry that is not an input on, takes
:func:`~eventsim.engine.buckets.process_entries` on its own entries.

Within a window neurons are independent, and each neuron goes through the same floating-point
operations in the same order as entry by entry in time order, so the spikes are the same; only
the order in which a window's spikes reach the spike buffer changes (sorted when flushed).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim.engine.clock import time_lt
from eventsim.engine.cycles import ACT_DELIVER, ACT_POISSON, mark_activity
from eventsim.engine.exact_sum import add_inexact, exact_two_sum
from eventsim.engine.lif_frame import arrivals_in_locals, fire, frame_band, reaches_in_v_space
from eventsim.engine.records import BATCH_NONE, BATCH_OPEN, BATCH_REFRACTORY, FALSE, FRAME_LIF, NEVER, _OPTS
from eventsim.engine.wakeups import set_wake_inline

TIMED = np.int64(1) << 31  # buckets.TIMED (not imported: buckets imports this module)
TI_MASK = TIMED - 1


@njit(inline="always", **_OPTS)
def sort_by_neuron(ent, ent_w, j0, j1, i0, cnt, s_ent, s_w, with_w):
    """Stable counting sort of the entries ``j0:j1`` (targets ``i0:i0 + cnt.size - 1``) by target
    into ``s_ent[:j1 - j0]``, and their weights into ``s_w`` if ``with_w`` (else no entry's weight is
    in ``ent_w``): afterwards neuron ``i0 + l``'s entries are ``s_ent[cnt[l]:cnt[l + 1]]``, in their
    order in ``ent``."""
    nl = cnt.size - 1
    cnt[0] = 0
    for l in range(nl):
        cnt[l + 1] = 0
    for j in range(j0, j1):
        cnt[(ent[j] >> 32) - i0 + 1] += 1
    for l in range(1, nl + 1):
        cnt[l] += cnt[l - 1]
    for j in range(j0, j1):
        x = ent[j]
        l = (x >> 32) - i0
        p = cnt[l]
        s_ent[p] = x
        if with_w:
            s_w[p] = ent_w[j]
        cnt[l] = p + 1
    # cnt[l] is now the end of neuron l's entries (the start of l + 1's): shift back by one
    for l in range(nl, 0, -1):
        cnt[l] = cnt[l - 1]
    cnt[0] = 0


@njit(inline="always", **_OPTS)
def _reaches(r, nr, u0, u, s, e_t, thr):
    """:func:`~eventsim.engine.lif_frame.reaches` with ``r.thr`` in a local (same floats)."""
    d = u - thr * e_t
    if abs(d) > frame_band(r, u0, s, e_t):
        return d >= 0.0
    return reaches_in_v_space(r, nr, u0, s, e_t)


@njit(inline="always", **_OPTS)
def _add_batch(r, nr, bw, u, e, thr):
    """Neuron r's open batch (exact sum bw, E(t) = e) added to U on locals: ``(U + bw E, reaches V_th)``
    (:func:`_reaches`).

    NOTE: takes no array: an array handed to an inlined function from one the caller does not
    borrow (here the window's time table) costs two atomic reference counts per call (~13 % of Brunel)."""
    u0 = u
    u = u0 + bw * e
    return u, _reaches(r, nr, u0, u, bw, e, thr)


@njit(inline="always", **_OPTS)
def _arrivals(r, nr, i, tick, frac, u, ref_tick, ref_frac, pt, pf, state, pw, rate, stop, n_ps, ps_discarded, q, c,
              win):
    """Neuron i's Poisson arrivals before t, the first one due (:func:`~eventsim.engine.lif_frame.arrivals_in_locals`,
    as :func:`~eventsim.engine.lif_frame.poisson_run`), counted into ``n_ps`` and ``ps_discarded``."""
    mark_activity(c, ACT_POISSON)
    u, ref_tick, ref_frac, pt, pf, state, n, d = arrivals_in_locals(r, nr, i, tick, frac, u, ref_tick, ref_frac, pt,
                                                                    pf, state, pw, rate, stop, q, c, win)
    mark_activity(c, ACT_DELIVER)
    return u, ref_tick, ref_frac, pt, pf, state, n_ps + n, ps_discarded + d


@njit(inline="always", **_OPTS)
def inputs_in_locals(r, nr, i, s_ent, s_w, a, b, gin, times, time_E, n_cls, q, c, stream, win, side, t_end, wake,
                     block_min):
    """Neuron i's entries ``s_ent[a:b]`` (time order), while they are inputs: what
    :func:`~eventsim.engine.buckets.process_entries` does with them (batches, their exact sums,
    refractoriness, Poisson arrivals before each batch as :func:`~eventsim.engine.lif_frame.poisson_run`,
    firing), with the neuron's state in locals, read once and written once. For a plain LIF
    neuron (``FRAME_LIF``) with ``thr >= 0``, at most one Poisson stream, no batch yet in the
    window. When they all are, also what :func:`~eventsim.engine.buckets.finish_neurons` does:
    the last batch closed, the arrivals before t_end, the wake-up. Returns the index of the first
    entry not done (``b``: the neuron is finished; else its first non-input, the rest left to
    :func:`~eventsim.engine.buckets.process_entries`, the neuron to ``finish_neurons``).

    NOTE: through the record, each entry re-read the batch state, U and the Poisson arrival's
    time, and each catch-up wrote them back (see docs/architecture.md, "Lazy autonomous dynamics").
    """
    cls = r.cls
    thr = r.thr
    u = r.U
    ref_tick, ref_frac = r.ref_tick, r.ref_frac
    m = r.ps_m
    if m >= 0:
        pt, pf = r.ps_tick, r.ps_frac
        sr = stream[m]
        pw, rate, stop, state = sr.weight, sr.rate, sr.stop, sr.state
    else:  # no arrival pending
        pt, pf = NEVER, 0.0
        pw, rate, stop, state = 0.0, 1.0, NEVER, np.uint64(0)
    bt = -1
    bflag = BATCH_NONE
    bw = 0.0
    batches = 0
    discarded = 0
    n_ps = 0
    ps_discarded = 0
    j = a
    while j < b:
        x = s_ent[j]
        if x & TIMED:
            ti = x & TI_MASK
            w = s_w[j]
        else:
            it = gin[x & 0xFFFFFFFF]  # (buckets.input_table)
            ti = it.ti
            if ti < 0:  # not an input
                break
            w = it.w
            if np.isnan(w):
                w = s_w[j]
        j += 1
        if ti == bt:  # same batch
            if bflag == BATCH_REFRACTORY:
                discarded += 1
                continue
            if bflag == BATCH_OPEN:  # add_exactly on locals
                t, exact = exact_two_sum(bw, w)
                if exact:
                    bw = t
                    continue
            r.bw, r.bflag = bw, bflag
            add_inexact(r, w, side, c)
            bw, bflag = r.bw, r.bflag
            continue
        batches += 1
        if bt >= 0 and bflag != BATCH_REFRACTORY:  # close the batch (OPEN or MULTI)
            u, fires = _add_batch(r, nr, bw, u, time_E[bt * n_cls + cls], thr)
            if fires:
                r.U = u
                fire(r, nr, i, times[bt].tick, times[bt].frac, FALSE, q, c, win)
                u, ref_tick, ref_frac = r.U, r.ref_tick, r.ref_frac
        tick, frac = times[ti].tick, times[ti].frac
        bt = ti
        if time_lt(pt, pf, tick, frac):  # Poisson arrivals before t
            u, ref_tick, ref_frac, pt, pf, state, n_ps, ps_discarded = _arrivals(
                r, nr, i, tick, frac, u, ref_tick, ref_frac, pt, pf, state, pw, rate, stop, n_ps, ps_discarded, q,
                c, win)
        if time_lt(tick, frac, ref_tick, ref_frac):
            bflag = BATCH_REFRACTORY
            discarded += 1
        else:
            bw = w
            bflag = BATCH_OPEN
    if j == b:  # all done: finish_neurons in locals
        if bt >= 0 and bflag != BATCH_REFRACTORY and bflag != BATCH_NONE:
            u, fires = _add_batch(r, nr, bw, u, time_E[bt * n_cls + cls], thr)
            if fires:
                r.U = u
                fire(r, nr, i, times[bt].tick, times[bt].frac, FALSE, q, c, win)
                u, ref_tick, ref_frac = r.U, r.ref_tick, r.ref_frac
        bt = -1
        bflag = BATCH_NONE
        if time_lt(pt, pf, t_end, 0.0):
            u, ref_tick, ref_frac, pt, pf, state, n_ps, ps_discarded = _arrivals(
                r, nr, i, t_end, 0.0, u, ref_tick, ref_frac, pt, pf, state, pw, rate, stop, n_ps, ps_discarded, q,
                c, win)
        # inlined (crossing_bound is NEVER while thr >= 0): a call with two arrays costs ~24 ns
        set_wake_inline(wake, block_min, i, pt)
    r.U = u
    r.bt = bt
    r.bflag = bflag
    r.bw = bw
    if m >= 0:
        sr = stream[m]
        sr.state = state
        sr.next_tick = pt
        sr.next_frac = pf
        r.ps_m = m if pt != NEVER else -1
        r.ps_tick = pt
        r.ps_frac = pf
    c.ext_events += n_ps
    c.discarded += discarded + ps_discarded
    c.batches += batches
    return j


@njit(inline="always", **_OPTS)
def in_locals(r):
    """Can neuron record r's entries start in :func:`inputs_in_locals`?"""
    return (r.model == FRAME_LIF and r.thr >= 0.0 and (r.ps_one or r.ps_m < 0) and r.bt < 0
            and r.bflag == BATCH_NONE)
