"""Numba kernels of the connectivity builder: sampling rows, counting sorts, per-row sorts.

:mod:`eventsim.connectivity` turns a connection rule into one projection's CSR arrays (``rowptr``
int64[n_pre+1], ``targets`` int32[S], optional per-synapse ``weight`` float64[S] and ``delay``
int32[S] ticks) with these kernels. Each kernel takes fixed dtypes, so it compiles one signature:
row pointers, counts and permutations are int64, neuron indices int32 (int64 for the user's
``explicit`` arrays), weights float64, delays int32 ticks, randomness a ``numpy.random.Generator``.

Complexities: ``S`` synapses, ``R`` rows, ``n`` the candidate range of a row, ``k`` a row's length.
Kernels that call each other live together here (Numba's cache does not notice changes in other
modules).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "bounded_int",
    "sample_rows",
    "rows_from_blocked_sources",
    "shift_rows",
    "merge_unique_rows",
    "complement_rows",
    "all_to_all_rows",
    "counting_sort_order",
    "sort_rows_by_key",
    "sort_rows_by_delay",
    "first_duplicate",
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
def _rowptr_from_counts(counts):
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
def sample_rows(rng, counts, n_range, exclude_self):
    """Row ``r`` gets ``counts[r]`` distinct values drawn uniformly from ``[0, n_range)``.

    Parameters
    ----------
    rng : numpy.random.Generator
    counts : int64[R]
        Values per row; each at most the number of candidates.
    n_range : int64
        Size of the candidate range.
    exclude_self : bool
        Leave out value ``r`` in row ``r`` (``n_range - 1`` candidates; needs ``R <= n_range``).

    Returns
    -------
    rowptr : int64[R+1]
    values : int32[sum(counts)]
        The order within a row is unspecified (sort afterwards if needed).

    Complexity: O(k) per row with ``2k <= n`` candidates, else O(n); O(n) memory for the marks.
    """
    rowptr = _rowptr_from_counts(counts)
    out = np.empty(rowptr[-1], np.int32)
    n = n_range - 1 if exclude_self else n_range
    mark = np.full(max(n, 0), -1, np.int64)
    for r in range(counts.size):
        k, lo = counts[r], rowptr[r]
        if k == 0:
            continue
        # NOTE: a dense row marks the n - k values it leaves out and scans: n - k draws, not k.
        if 2 * k > n:
            _floyd(rng, mark, r, n, n - k, out, lo, False)
            _scan(mark, r, n, out, lo)
        else:
            _floyd(rng, mark, r, n, k, out, lo, True)
        if exclude_self:
            for s in range(lo, lo + k):
                if out[s] >= r:
                    out[s] += 1
    return rowptr, out


@njit(**_OPTS)
def rows_from_blocked_sources(src, block, n_rows, exclude_self):
    """CSR by source of synapses ``k`` whose target is ``k // block`` and source ``src[k]``.

    A stable counting sort: since targets ascend with ``k``, every row comes out sorted by target.
    With ``exclude_self``, a source ``s >= target`` stands for ``s + 1`` (sources were drawn from
    ``n_rows - 1`` candidates); ``src`` is rewritten with the shifted values.

    Parameters
    ----------
    src : int32[S]
    block : int64
        Synapses per target (S = block * number of targets).
    n_rows : int64
        Number of sources.
    exclude_self : bool

    Returns
    -------
    rowptr : int64[n_rows+1]
    targets : int32[S]

    Complexity: O(S + n_rows) time, O(n_rows) extra memory.
    """
    n_t = src.size // block if block > 0 else 0
    count = np.zeros(n_rows, np.int64)
    k = 0
    for t in range(n_t):
        for _ in range(block):
            s = src[k]
            if exclude_self and s >= t:
                s += 1
                src[k] = s
            count[s] += 1
            k += 1
    rowptr = _rowptr_from_counts(count)
    pos = rowptr[:-1].copy()
    out = np.empty(src.size, np.int32)
    k = 0
    for t in range(n_t):
        for _ in range(block):
            s = src[k]
            out[pos[s]] = t
            pos[s] += 1
            k += 1
    return rowptr, out


@njit(**_OPTS)
def shift_rows(rowptr, values):
    """In place, in each row ``r`` replace values ``v >= r`` by ``v + 1``.

    Turns values drawn from ``n - 1`` candidates into values of ``[0, n)`` without ``r``; keeps
    the order within rows. Complexity: O(S).
    """
    for r in range(rowptr.size - 1):
        for s in range(rowptr[r], rowptr[r + 1]):
            if values[s] >= r:
                values[s] += 1


@njit(**_OPTS)
def merge_unique_rows(rowptr_a, a, rowptr_b, b):
    """Row-wise union of two CSR sets, rows sorted; ``a`` has no repeats, ``b`` may have some.

    Returns
    -------
    rowptr : int64[R+1]
    values : int32[...]
        Each row sorted, without repeats. Complexity: O(size of a + size of b).
    """
    R = rowptr_a.size - 1
    count = np.zeros(R, np.int64)
    for r in range(R):
        count[r] = _merge_row(a, rowptr_a[r], rowptr_a[r + 1], b, rowptr_b[r], rowptr_b[r + 1], a, -1)
    rowptr = _rowptr_from_counts(count)
    out = np.empty(rowptr[-1], np.int32)
    for r in range(R):
        _merge_row(a, rowptr_a[r], rowptr_a[r + 1], b, rowptr_b[r], rowptr_b[r + 1], out, rowptr[r])
    return rowptr, out


@njit(**_OPTS)
def _merge_row(a, ia, ha, b, ib, hb, out, o):
    """Merge sorted ``a[ia:ha]`` and ``b[ib:hb]`` dropping repeats; write at ``out[o:]`` if ``o >= 0``.

    Returns the number of distinct values.
    """
    n = 0
    last = np.int64(-1)
    while ia < ha or ib < hb:
        if ib >= hb or (ia < ha and a[ia] <= b[ib]):
            v = np.int64(a[ia])
            ia += 1
        else:
            v = np.int64(b[ib])
            ib += 1
        if v != last:
            if o >= 0:
                out[o + n] = v
            n += 1
            last = v
    return n


@njit(**_OPTS)
def complement_rows(rowptr, values, n_range):
    """Per row, the values of ``[0, n_range)`` missing from the (sorted, distinct) row, ascending.

    Complexity: O(R n_range).
    """
    R = rowptr.size - 1
    count = np.empty(R, np.int64)
    for r in range(R):
        count[r] = n_range - (rowptr[r + 1] - rowptr[r])
    out_ptr = _rowptr_from_counts(count)
    out = np.empty(out_ptr[-1], np.int32)
    for r in range(R):
        s, hi, o = rowptr[r], rowptr[r + 1], out_ptr[r]
        for t in range(n_range):
            if s < hi and values[s] == t:
                s += 1
            else:
                out[o] = t
                o += 1
    return out_ptr, out


@njit(**_OPTS)
def all_to_all_rows(n_pre, n_post, exclude_self):
    """Every source to every target (without ``r -> r`` when ``exclude_self``), rows ascending.

    Complexity: O(n_pre n_post).
    """
    per_row = n_post - 1 if exclude_self else n_post
    per_row = max(per_row, 0)
    rowptr = np.arange(n_pre + 1) * np.int64(per_row)
    out = np.empty(n_pre * per_row, np.int32)
    o = 0
    for r in range(n_pre):
        for t in range(n_post):
            if exclude_self and t == r:
                continue
            out[o] = t
            o += 1
    return rowptr, out


@njit(**_OPTS)
def counting_sort_order(src, n_rows):
    """Stable permutation ``order`` with ``src[order]`` ascending, and the row pointers.

    Parameters
    ----------
    src : int64[S]
        Row of each item, in ``[0, n_rows)``.
    n_rows : int64

    Returns
    -------
    rowptr : int64[n_rows+1]
    order : int64[S]

    Complexity: O(S + n_rows).
    """
    count = np.zeros(n_rows, np.int64)
    for k in range(src.size):
        count[src[k]] += 1
    rowptr = _rowptr_from_counts(count)
    pos = rowptr[:-1].copy()
    order = np.empty(src.size, np.int64)
    for k in range(src.size):
        s = src[k]
        order[pos[s]] = k
        pos[s] += 1
    return rowptr, order


@njit(**_OPTS)
def _sorted(key, lo, hi):
    for s in range(lo + 1, hi):
        if key[s] < key[s - 1]:
            return False
    return True


@njit(**_OPTS)
def sort_rows_by_key(rowptr, key, order):
    """In place, stably sort each row of ``key`` ascending, moving ``order`` along.

    Parameters
    ----------
    rowptr : int64[R+1]
    key : int64[S]
    order : int64[S]

    Complexity: O(k log k) per row (O(k) when already sorted).
    """
    for r in range(rowptr.size - 1):
        lo, hi = rowptr[r], rowptr[r + 1]
        if hi - lo < 2 or _sorted(key, lo, hi):
            continue
        p = np.argsort(key[lo:hi], kind="mergesort")
        key[lo:hi] = key[lo:hi][p]
        order[lo:hi] = order[lo:hi][p]


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

    Complexity: O(k^2) for rows up to 24 synapses (insertion sort), else O(k log k).
    """
    with_w = weight.size > 0
    for r in range(rowptr.size - 1):
        lo, hi = rowptr[r], rowptr[r + 1]
        if hi - lo < 2 or _sorted(delay, lo, hi):
            continue
        # NOTE: rows up to 24 synapses use an insertion sort: stable and free of argsort's allocations.
        if hi - lo <= 24:
            _insertion_by_delay(lo, hi, delay, targets, weight, with_w)
            continue
        p = np.argsort(delay[lo:hi], kind="mergesort")
        delay[lo:hi] = delay[lo:hi][p]
        targets[lo:hi] = targets[lo:hi][p]
        if with_w:
            weight[lo:hi] = weight[lo:hi][p]


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


@njit(**_OPTS)
def first_duplicate(rowptr, values):
    """Index of the first synapse equal to its predecessor in the same row, or -1.

    Rows must be sorted. Complexity: O(S).
    """
    for r in range(rowptr.size - 1):
        for s in range(rowptr[r] + 1, rowptr[r + 1]):
            if values[s] == values[s - 1]:
                return s
    return -1
