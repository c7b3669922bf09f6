"""A same-time batch's exact sum: its weights summed as :func:`math.fsum` sums them, rounded once,
whatever their order (docs/semantics.md, "Same-time inputs").

While the additions are exact (Knuth's TwoSum) the running sum ``r.bw`` is all there is
(:func:`add_exactly`, inlined); otherwise the batch's Shewchuk partials are chained through the
side buffer (:data:`~eventsim.engine.records.SIDE`) and re-rounded (:func:`add_inexact`).
"""

from __future__ import annotations

from numba import njit

from eventsim.engine.records import BATCH_MULTI, BATCH_OPEN, _OPTS


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
        t, exact = exact_two_sum(r.bw, w)
        if exact:
            r.bw = t
            return True
    return False


@njit(inline="always", **_OPTS)
def exact_two_sum(a, w):
    """``(a + w, whether that float is the exact sum)``: Knuth's TwoSum with a zero error term."""
    t = a + w
    b = t - a
    return t, (a - (t - b)) + (w - b) == 0.0


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
    return _round_scratch(side, p0, _copy_chain(side, head, p0))


@njit(**_OPTS)
def rounded_sum_with(side, head, p0, x):
    """The sum of the partials chained from ``side[head]`` and of ``x``, rounded once (``math.fsum``
    of the batch's weights and x: a ``lif_psc_exp`` current is the exact sum of its value before the
    batch and the batch's weights of its sign). The chain is left as it is; ``side[p0:p0 +
    SIDE_SCRATCH]`` is scratch. O(p) for p <= 40 partials."""
    n = _copy_chain(side, head, p0)
    i = 0
    for j in range(n):  # Shewchuk's step: x joins the partials, exactly
        y = side[p0 + j].w
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            side[p0 + i].w = lo
            i += 1
        x = hi
    side[p0 + i].w = x
    return _round_scratch(side, p0, i + 1)


@njit(inline="always", **_OPTS)
def _copy_chain(side, head, p0):
    """Copy the partials chained from ``side[head]`` to ``side[p0:]``; returns their number."""
    n = 0
    k = head
    while k >= 0:
        side[p0 + n].w = side[k].w
        n += 1
        k = side[k].next
    return n


@njit(inline="always", **_OPTS)
def _round_scratch(side, p0, n):
    """The sum of the ``n >= 1`` partials ``side[p0:p0 + n]`` (increasing magnitude), rounded once
    as :func:`math.fsum` rounds it."""
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
