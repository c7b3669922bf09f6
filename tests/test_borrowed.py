"""eventsim.engine.borrowed: the same values as the original arrays, no reference counting, and the
originals' references untouched (no leak, no early free) however the borrowed values are used; run-time
indices used as they are (no wraparound), constant negative ones still counted from the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections import namedtuple

import numpy as np
import pytest
from numba import njit
from numba.core import config as numba_config

from eventsim.engine.borrowed import BorrowedArray, borrowed

Pair = namedtuple("Pair", "a b scale")


@njit(cache=False)
def _dot(a, b, n):
    s = 0.0
    for i in range(n):
        s += a[i % a.size] * b[i % b.size]
    return s


@njit(cache=False)
def _sum_plain(t, n):
    s = 0.0
    for k in range(n):
        s += _dot(t.a, t.b, k)
    return s * t.scale


@njit(cache=False)
def _sum_borrowed(t, n):
    u = borrowed(t)
    s = 0.0
    for k in range(n):
        s += _dot(u.a, u.b, k)
    return s * u.scale


@njit(cache=False)
def _array_ops(x):
    b = borrowed(x)
    b[0] += 1.0  # writes through to the original
    return b.size, b.shape[0], b[1:3].sum(), b.copy()


@njit(cache=False)
def _either(t, use_a):
    u = borrowed(t)
    return u.a if use_a else np.zeros(2)  # a borrowed and an ordinary array in one variable: a new reference


@njit(cache=False)
def _tuple_of_arrays(t):
    u = borrowed(t)
    return u[0].sum() + u[1].sum()


@njit(cache=False)
def _of_own_array(n):
    a = np.arange(n * 1.0)
    return borrowed(a).sum()  # the owner (this frame) outlives the use


def test_values_identical_for_arrays_tuples_and_namedtuples():
    t = Pair(np.arange(5.0), np.linspace(0.5, 2.0, 3), 3.0)
    assert _sum_borrowed(t, 40) == _sum_plain(t, 40)
    assert _tuple_of_arrays((t.a, t.b)) == t.a.sum() + t.b.sum()
    assert _of_own_array(10) == 45.0
    x = np.arange(4.0)
    size, n, part, copy = _array_ops(x)
    assert (size, n, part) == (4, 4, 3.0) and x[0] == 1.0 and np.array_equal(copy, x) and copy is not x


def test_borrowed_types_of_arrays_and_tuples():
    from numba import typeof

    from eventsim.engine.borrowed import borrowed_type

    t = Pair(np.arange(5.0), np.ones(3), 1.0)
    bt = borrowed_type(typeof(t))
    assert all(isinstance(m, BorrowedArray) for m in bt.types[:2]) and bt.types[2] == typeof(1.0)
    assert isinstance(borrowed_type(typeof((t.a, t.a))).dtype, BorrowedArray)
    assert borrowed_type(typeof(1.0)) == typeof(1.0)


def test_reference_counts_of_the_originals_unchanged_after_many_calls():
    a, b = np.arange(5.0), np.ones(3)
    t = Pair(a, b, 2.0)
    before = sys.getrefcount(a), sys.getrefcount(b)
    for _ in range(2000):
        _sum_borrowed(t, 3)
        _tuple_of_arrays((a, b))
        _array_ops(a)
        _either(t, True)
        _either(t, False)
    assert (sys.getrefcount(a), sys.getrefcount(b)) == before
    out = _either(t, True)  # returned to Python: an ordinary reference to the same object
    assert out is a and sys.getrefcount(a) == before[0] + 1
    del out
    assert sys.getrefcount(a) == before[0]


def test_no_leak_of_arrays_allocated_in_compiled_code():
    from numba.core.runtime import _nrt_python, rtsys

    _of_own_array(3)
    _either(Pair(np.ones(2), np.ones(2), 1.0), False)
    was_on = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    try:
        s0 = rtsys.get_allocation_stats()
        for _ in range(500):
            _of_own_array(8)
            _either(Pair(np.ones(2), np.ones(2), 1.0), False)
        s1 = rtsys.get_allocation_stats()
    finally:
        if not was_on:
            _nrt_python.memsys_disable_stats()
    assert s1.alloc - s0.alloc >= 1000  # two arrays a round, each freed:
    assert s1.alloc - s0.alloc == s1.free - s0.free and s1.mi_alloc - s0.mi_alloc == s1.mi_free - s0.mi_free


def test_no_reference_counting_left_in_the_borrowing_function():
    t = Pair(np.arange(5.0), np.ones(3), 1.0)
    _sum_plain(t, 2)
    _sum_borrowed(t, 2)

    def nrt_calls(fn):
        ir = next(iter(fn.inspect_llvm().values()))
        return len(re.findall(r"call void @NRT_incref", ir)), len(re.findall(r"call void @NRT_decref", ir))

    assert nrt_calls(_sum_plain)[0] > 0  # the plain one counts its arrays' references
    assert nrt_calls(_sum_borrowed)[0] == 0


@njit(cache=False)
def _gather_scatter(x, idx, out, recs):
    """Reads and writes at run-time indices, of a float array and a record array's fields."""
    b, o, r = borrowed(x), borrowed(out), borrowed(recs)
    s = 0.0
    for k in range(idx.size):
        i = idx[k]
        s += b[i]
        o[i] = o[i] + b[i] * 2.0
        r[i].w += b[i]
        r[i].n = r[i].n + 1
    return s, b[-1], b[-2]  # constant negative indices still count from the end


@njit(cache=False)
def _at(x, i):
    return borrowed(x)[i]


def test_run_time_indices_read_and_write_the_same_elements():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(64)
    idx = rng.integers(0, 64, 500).astype(np.int64)
    out = np.zeros(64)
    recs = np.zeros(64, dtype=np.dtype([("w", "f8"), ("n", "i8")]))
    s, last, second = _gather_scatter(x, idx, out, recs)
    want = np.zeros(64)
    np.add.at(want, idx, 2.0 * x[idx])
    assert s == sum(x[i] for i in idx) and (last, second) == (x[-1], x[-2])
    assert np.array_equal(out, want) and np.array_equal(recs["n"], np.bincount(idx, minlength=64))
    assert _at(x, np.int64(7)) == x[7] and _at(x, np.int32(9)) == x[9] and _at(x, np.uint64(3)) == x[3]


@pytest.mark.skipif(numba_config.BOUNDSCHECK, reason="NUMBA_BOUNDSCHECK=1: every index is compared with the length")
def test_indexing_a_borrowed_array_has_no_wraparound():
    x = np.arange(8.0)
    _at(x, 1)

    @njit(cache=False)
    def plain(a, i):
        return a[i]

    plain(x, 1)

    def wraparounds(fn):  # Numba's fix for a negative index: the length added where the index is < 0
        ir = next(iter(fn.inspect_llvm().values()))
        return len(re.findall(r"icmp slt i64 %[\w.]+, 0|ashr i64 %[\w.]+, 63", ir))

    assert wraparounds(plain) > 0
    assert wraparounds(_at) == 0


def test_negative_index_is_an_index_error_under_boundscheck():

    code = textwrap.dedent("""
        import numpy as np
        from numba import njit
        from eventsim.engine.borrowed import borrowed
        @njit(cache=False)
        def at(x, i):
            return borrowed(x)[i]
        try:
            at(np.arange(4.0), -1)
        except IndexError:
            print("IndexError")
    """)
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.strip() == "IndexError", out.stderr[-2000:]
