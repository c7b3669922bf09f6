"""The queues of spike groups and timed events: a binary heap keyed by ``(tick, frac, source, projection)``,
and taking the next due events off it and off the scheduled arrays.

One heap entry per (spike, outgoing projection) of a projection with one delay: push and pop O(log n)
for n pending groups, not per synapse. Projections with per-synapse delays queue their spikes in the
calendar (:mod:`eventsim.engine.calendar`).
"""

from __future__ import annotations

from numba import njit

from eventsim.engine.clock import time_lt
from eventsim.engine.records import CURRENT, INPUTS, NEVER, SAMPLE, _OPTS


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


@njit(**_OPTS)
def next_kind(net, c, h):
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
def pop_group(h, n, proj, rowptr, pop_start, c):
    """Take the earliest of the n heap entries off the heap.

    Returns ``(n, src, proj, lo, hi)``: the new entry count and the group's synapses ``[lo, hi)``
    (the source's whole row of the projection).
    """
    heap_pop(h, n)
    g = h[n - 1]
    src, j, lo = g.src, g.proj, g.pos
    pj = proj[j]
    hi = rowptr[pj.rowptr_start + src - pop_start[pj.pre_pop] + 1]
    c.syn_events += hi - lo
    return n - 1, src, j, lo, hi


@njit(**_OPTS)
def synapses_at(h, n, proj, rowptr, pop_start, tick, frac):
    """The synapses of the heap's groups at exactly (tick, frac), no earlier than its earliest entry.

    Those entries form a subtree at the root (an entry's parent comes no later than it), walked
    in preorder without a stack: O(entries at that time and their children)."""
    total = 0
    k = 0
    while True:
        if k < n and h[k].tick == tick and h[k].frac == frac:
            pj = proj[h[k].proj]
            total += rowptr[pj.rowptr_start + h[k].src - pop_start[pj.pre_pop] + 1] - h[k].pos
            k = 2 * k + 1
            continue
        while k > 0 and k % 2 == 0:  # a right child: up to the first ancestor that is a left child
            k = (k - 1) >> 1
        if k == 0:
            return total
        k += 1


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
