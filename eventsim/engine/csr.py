"""Numba kernels of the connectivity builder: sampling rows, placing pairs into CSR rows, sorting rows.

:mod:`eventsim.connectivity` turns a connection rule into one projection's CSR arrays (``rowptr``
int64[n_pre+1], ``targets`` int32[S], optional per-synapse ``weight`` float64[S] and ``delay``
int32[S] ticks), one block of targets at a time, with these kernels. Each kernel takes fixed dtypes,
so it compiles one signature: row pointers, counts and positions are int64, neuron indices int32,
weights float64, delays int32 ticks, randomness a ``numpy.random.Generator``.

A block's synapses come by target: rows of sources, one row per target of the block, targets
ascending. :func:`count_sources` and :func:`place_block` turn the blocks of a projection, taken in
block order, into CSR by source with a stable counting sort (so each row is sorted by target);
per-synapse values move along; :func:`sort_rows_by_delay` then orders rows by (delay, target) where
delays are per synapse.

Complexities: ``S`` synapses, ``R`` rows, ``n`` the candidate range of a row, ``k`` a row's length.
Kernels that call each other live together here (Numba's cache does not notice changes in other
modules).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "bounded_int",
    "rowptr_from_counts",
    "sample_rows",
    "shift_past",
    "hypergeometric_draws",
    "by_column",
    "count_sources",
    "place_block",
    "sort_rows_by_delay",
]

_OPTS = dict(cache=True, nogil=True, error_model="numpy")


@njit(**_OPTS)
def bounded_int(rng, n):
    """Exactly uniform integer in ``[0, n)`` for ``1 <= n <= 2**52``, from 53 random bits.

    ``x = floor(random() * 2**53)`` is uniform on ``[0, 2**53)``; ``x`` is accepted when the whole
    block of ``n`` values containing it fits below ``2**53`` (rejection probability < n / 2**53).
    """
    # NOTE: Numba's Generator.integers costs ~35 ns per call; random() plus one modulo ~10 ns.
    two53 = np.int64(9007199254740992)
    while True:
        x = np.int64(rng.random() * 9007199254740992.0)
        r = x % n
        if x - r <= two53 - n:
            return r


@njit(**_OPTS)
def _below(rng, n):
    """Exactly uniform integer in ``[0, n)`` for ``1 <= n < 2**63``."""
    if n <= np.int64(4503599627370496):  # 2**52
        return bounded_int(rng, n)
    return rng.integers(0, n)


@njit(**_OPTS)
def rowptr_from_counts(counts):
    """Row pointers int64[R+1] of rows with ``counts`` int64[R] entries. Complexity: O(R)."""
    rowptr = np.zeros(counts.size + 1, np.int64)
    for r in range(counts.size):
        rowptr[r + 1] = rowptr[r] + counts[r]
    return rowptr


@njit(**_OPTS)
def _floyd(rng, mark, stamp, n, m, out, lo, write):
    """Mark ``m`` distinct values of ``[0, n)`` with ``stamp`` (Floyd's algorithm, ``m`` draws).

    The marked set is a uniform random ``m``-subset. With ``write``, the values are also stored in
    ``out[lo:lo+m]`` in draw order.
    """
    for j in range(n - m, n):
        t = bounded_int(rng, j + 1)
        if mark[t] == stamp:
            t = j
        mark[t] = stamp
        if write:
            out[lo] = t
            lo += 1


@njit(**_OPTS)
def _scan(mark, stamp, n, out, lo):
    """Write the values of ``[0, n)`` not marked with ``stamp`` at ``out[lo:]``, ascending."""
    for t in range(n):
        if mark[t] != stamp:
            out[lo] = t
            lo += 1


@njit(**_OPTS)
def sample_rows(rng, counts, n_range, excluded, mark, stamp):
    """Row ``r`` gets ``counts[r]`` distinct values, a uniform subset of ``[0, n_range)`` without
    ``excluded[r]``.

    Parameters
    ----------
    rng : numpy.random.Generator
    counts : int64[R]
        Values per row, at most the row's number of candidates.
    n_range : int64
        Size of the candidate range.
    excluded : int64[R]
        A value row ``r`` leaves out (then it has ``n_range - 1`` candidates), or -1.
    mark : int64[>= n_range]
        Work array of the distinct draws, reused across calls: it must hold no value in
        ``[stamp, stamp + R)`` (start it at -1 and give each call fresh stamps).
    stamp : int64
        Row ``r`` marks its values with ``stamp + r``.

    Returns
    -------
    rowptr : int64[R+1]
    values : int32[sum(counts)]
        In draw order within a row (ascending for dense rows).

    Complexity: O(k) per row of k values with ``2k <= n`` candidates, else O(n); no allocation but
    the result.
    """
    rowptr = rowptr_from_counts(counts)
    out = np.empty(rowptr[-1], np.int32)
    for r in range(counts.size):
        k, lo, x = counts[r], rowptr[r], excluded[r]
        if k == 0:
            continue
        n = n_range - 1 if x >= 0 else n_range
        # NOTE: a dense row marks the n - k values it leaves out and scans: n - k draws, not k.
        if 2 * k > n:
            _floyd(rng, mark, stamp + r, n, n - k, out, lo, False)
            _scan(mark, stamp + r, n, out, lo)
        else:
            _floyd(rng, mark, stamp + r, n, k, out, lo, True)
    shift_past(rowptr, out, excluded)
    return rowptr, out


@njit(**_OPTS)
def shift_past(rowptr, values, excluded):
    """In place, in each row ``r`` with ``excluded[r] >= 0``, add one to the values ``>= excluded[r]``.

    Turns values drawn from the ``n - 1`` candidates of a row into values of ``[0, n)`` without
    ``excluded[r]``, keeping their order. Complexity: O(R + S).
    """
    for r in range(rowptr.size - 1):
        x = excluded[r]
        if x >= 0:
            for s in range(rowptr[r], rowptr[r + 1]):
                if values[s] >= x:
                    values[s] += 1


@njit(**_OPTS)
def by_column(rows, rowptr, values, n_cols):
    """The pairs ``(rows[r], values[s])`` of CSR rows regrouped by value (a stable counting sort).

    Parameters
    ----------
    rows : int32[R]
    rowptr : int64[R+1]
    values : int32[S] in ``[0, n_cols)``
    n_cols : int64

    Returns
    -------
    colptr : int64[n_cols+1]
    row_of : int32[S]
        For each value ``v``, the rows holding it in row order, at ``colptr[v]:colptr[v+1]``.

    Complexity: O(S + R + n_cols).
    """
    count = np.zeros(n_cols, np.int64)
    for s in range(values.size):
        count[values[s]] += 1
    colptr = rowptr_from_counts(count)
    pos = colptr[:-1].copy()
    row_of = np.empty(values.size, np.int32)
    for r in range(rows.size):
        for s in range(rowptr[r], rowptr[r + 1]):
            v = values[s]
            row_of[pos[v]] = rows[r]
            pos[v] += 1
    return colptr, row_of


@njit(**_OPTS)
def hypergeometric_draws(rng, good, bad, n):
    """Hypergeometric variates by sequential draws: ``n[i]`` items taken without replacement from
    ``good[i] + bad[i] < 2**63`` items, ``out[i]`` of them good.

    For populations beyond numpy's limit (10**9). Complexity: O(min(n, good + bad - n)) per variate.
    """
    out = np.empty(good.size, np.int64)
    for i in range(good.size):
        g, b, m = good[i], bad[i], n[i]
        flip = 2 * m > g + b  # draw the items left out instead: fewer draws
        if flip:
            m = g + b - m
        x = 0
        for _ in range(m):
            if _below(rng, g + b) < g:
                x += 1
                g -= 1
            else:
                b -= 1
        out[i] = good[i] - x if flip else x
    return out


@njit(**_OPTS)
def count_sources(rowptr, sources, keep, count):
    """Add one to ``count[source]`` per synapse of a block (only where ``keep``, if non-empty).

    Parameters
    ----------
    rowptr : int64[R+1]
        The block's target rows.
    sources : int32[S]
    keep : bool[S] or bool[0]
    count : int64[n_pre], updated in place

    Complexity: O(S).
    """
    for s in range(sources.size):
        if keep.size == 0 or keep[s]:
            count[sources[s]] += 1


@njit(**_OPTS)
def place_block(targets_of_rows, rowptr, sources, keep, pos, targets, weight, weight_out, delay, delay_out):
    """Write each kept synapse at ``pos[source]`` (its target, and its weight and delay if given),
    then advance ``pos[source]``.

    Blocks placed in block order with ``pos`` starting at the row starts make a stable counting sort
    by source: each CSR row holds its synapses in block order, and within a block in target order.

    Parameters
    ----------
    targets_of_rows : int32[R]
        The block's targets, ascending; row ``r`` holds the sources of target ``targets_of_rows[r]``.
    rowptr : int64[R+1]
    sources : int32[S]
    keep : bool[S] or bool[0]
        The synapses to place (empty: all).
    pos : int64[n_pre], updated in place
    targets : int32[S_total], written
    weight, weight_out : float64[S] and float64[S_total], or both float64[0] (one weight for all)
    delay, delay_out : int32[S] and int32[S_total], or both int32[0] (one delay for all)

    Complexity: O(R + S).
    """
    with_w, with_d = weight.size > 0, delay.size > 0
    for r in range(targets_of_rows.size):
        t = targets_of_rows[r]
        for s in range(rowptr[r], rowptr[r + 1]):
            if keep.size == 0 or keep[s]:
                p = pos[sources[s]]
                pos[sources[s]] = p + 1
                targets[p] = t
                if with_w:
                    weight_out[p] = weight[s]
                if with_d:
                    delay_out[p] = delay[s]


@njit(**_OPTS)
def _sorted(key, lo, hi):
    for s in range(lo + 1, hi):
        if key[s] < key[s - 1]:
            return False
    return True


@njit(**_OPTS)
def sort_rows_by_delay(rowptr, delay, targets, weight):
    """In place, stably sort each row by delay, moving targets and (if non-empty) weights along.

    Rows sorted by target before come out sorted by (delay, target).

    Parameters
    ----------
    rowptr : int64[R+1]
    delay : int32[S], ticks
    targets : int32[S]
    weight : float64[S] or float64[0]
        Per-synapse weights, or an empty array when the projection has one weight.

    Complexity: O(k^2) for rows up to 24 synapses (insertion sort), else O(k b / 8 + 256 b / 8) for
    delays spanning ``b`` bits in the row (LSD radix sort, 8 bits a pass); O(longest row) memory.
    """
    with_w = weight.size > 0
    longest = 0
    for r in range(rowptr.size - 1):
        longest = max(longest, rowptr[r + 1] - rowptr[r])
    buf_d = np.empty(longest, np.int32)
    buf_t = np.empty(longest, np.int32)
    buf_w = np.empty(longest if with_w else 0, np.float64)
    count = np.empty(257, np.int64)
    for r in range(rowptr.size - 1):
        lo, hi = rowptr[r], rowptr[r + 1]
        if hi - lo < 2 or _sorted(delay, lo, hi):
            continue
        # NOTE: rows up to 24 synapses use an insertion sort: stable and free of the radix passes'
        # 256-entry counts; longer ones a radix sort, ~20x faster than Numba's mergesort argsort.
        if hi - lo <= 24:
            _insertion_by_delay(lo, hi, delay, targets, weight, with_w)
        else:
            _radix_by_delay(lo, hi, delay, targets, weight, with_w, buf_d, buf_t, buf_w, count)


@njit(**_OPTS)
def _radix_by_delay(lo, hi, delay, targets, weight, with_w, buf_d, buf_t, buf_w, count):
    """Stable LSD radix sort of row ``[lo, hi)`` by ``delay - min``, 8 bits a pass, ping-ponging
    between the row and the buffers (copied back after an odd number of passes)."""
    n = hi - lo
    d_min, d_max = delay[lo], delay[lo]
    for s in range(lo, hi):
        d_min, d_max = min(d_min, delay[s]), max(d_max, delay[s])
    span = np.int64(d_max) - d_min
    src_d, src_t, src_w = delay[lo:hi], targets[lo:hi], weight[lo:hi] if with_w else buf_w
    dst_d, dst_t, dst_w = buf_d[:n], buf_t[:n], buf_w[:n] if with_w else buf_w
    shift, passes = 0, 0
    while (span >> shift) > 0:
        count[:] = 0
        for s in range(n):
            count[((src_d[s] - d_min) >> shift & 255) + 1] += 1
        for b in range(256):
            count[b + 1] += count[b]
        for s in range(n):
            b = (src_d[s] - d_min) >> shift & 255
            p = count[b]
            count[b] = p + 1
            dst_d[p], dst_t[p] = src_d[s], src_t[s]
            if with_w:
                dst_w[p] = src_w[s]
        src_d, dst_d, src_t, dst_t, src_w, dst_w = dst_d, src_d, dst_t, src_t, dst_w, src_w
        shift += 8
        passes += 1
    if passes % 2:
        delay[lo:hi] = src_d
        targets[lo:hi] = src_t
        if with_w:
            weight[lo:hi] = src_w


@njit(**_OPTS)
def _insertion_by_delay(lo, hi, delay, targets, weight, with_w):
    for i in range(lo + 1, hi):
        d, t = delay[i], targets[i]
        w = weight[i] if with_w else 0.0
        j = i - 1
        while j >= lo and delay[j] > d:
            delay[j + 1] = delay[j]
            targets[j + 1] = targets[j]
            if with_w:
                weight[j + 1] = weight[j]
            j -= 1
        delay[j + 1] = d
        targets[j + 1] = t
        if with_w:
            weight[j + 1] = w
