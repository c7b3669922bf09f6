"""Time arithmetic on ``(tick, frac)`` pairs, the frame exponential and per-stream Poisson draws.

``(tick, frac)``: int64 ticks of 1 ns and a float offset in ``[0, 1)`` ticks (docs/semantics.md, "Time").
Each Poisson stream draws its gaps from SplitMix64 and a ziggurat, bit for bit as :mod:`eventsim.rng`
(``tests/test_rng.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from eventsim import rng as _rng
from eventsim.engine.records import NEVER, TICK_MS, TICKS_PER_MS, _OPTS


# NOTE: the ziggurat tables are frozen into the compiled code (jit_cache hashes eventsim/rng.py, so a
# change recompiles); tests/test_rng.py compares both implementations bit for bit.
_ZIG_X, _ZIG_F, _ZIG_R = _rng.ZIG_X.copy(), _rng.ZIG_F.copy(), _rng.ZIG_R
_U53 = 1.0 / 9007199254740992.0
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _bind_exp():
    """Compiled code's ``exp`` (``np.exp``, the frame's E) bound to glibc's ``__exp_finite``: the same
    ``__ieee754_exp`` (``__exp_fma`` on FMA machines) as ``exp``, without the wrapper; returns its address
    (0: left as Numba binds it).

    NOTE: Numba binds the JIT's ``exp`` to ``exp`` as its own ``_helperlib`` links it: a PLT hop to
    ``exp@GLIBC_2.2.5``, a wrapper that calls ``__ieee754_exp`` and only then checks for overflow and
    underflow to set errno (the value unchanged: inf or 0 either way, under _POSIX_ error handling). That
    wrapper was ~2 % of Brunel's samples and ~9.5 % of the sparse network's (perf record, 2026-12-02).
    Numba installs its math symbols once, when its CPU target context is created, so that is done first.
    """
    import ctypes
    import ctypes.util

    import llvmlite.binding as ll
    from numba.core.registry import cpu_target

    try:
        cpu_target.target_context  # noqa: B018 -- Numba's own math symbols installed (once); ours then replaces exp
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        dlvsym = ctypes.CDLL(None).dlvsym
    except (OSError, AttributeError):  # not glibc
        return 0
    dlvsym.restype = ctypes.c_void_p
    dlvsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    addr = dlvsym(libm._handle, b"__exp_finite", b"GLIBC_2.15") or 0
    if addr:
        ll.add_symbol("exp", addr)
    return addr


EXP_ADDRESS = _bind_exp()
"""Address compiled code's ``exp`` is bound to by :func:`_bind_exp` (0: Numba's own binding)."""



@njit(**_OPTS)
def time_lt(at, af, bt, bf):
    """(at, af) < (bt, bf)."""
    return at < bt or (at == bt and af < bf)


@njit(**_OPTS)
def add_ms(tick, frac, x_ms):
    """Add a non-negative duration in ms to a time; exact as docs/semantics.md defines it."""
    y = frac + x_ms * TICKS_PER_MS
    k = np.floor(y)
    return tick + np.int64(k), y - k


@njit(**_OPTS)
def add_ticks(tick, frac, x_ticks):
    """Add a non-negative float number of ticks to a time."""
    y = frac + x_ticks
    k = np.floor(y)
    return tick + np.int64(k), y - k


@njit(**_OPTS)
def elapsed_ms(tick, frac, tick0, frac0):
    """Duration from (tick0, frac0) to (tick, frac) in ms: the reference engine's float64 operations
    (``eventsim.reference.elapsed_ms``), so that both engines advance model states by the same dt."""
    return (np.float64(tick - tick0) + (frac - frac0)) * TICK_MS


@njit(**_OPTS)
def frame_exp(tick, frac, base, q_over_tau):
    """E(t) = exp((t - base) / tau) with q_over_tau = 1 tick / tau."""
    return np.exp((np.float64(tick - base) + frac) * q_over_tau)


@njit(inline="always", **_OPTS)
def _splitmix(state):
    """One SplitMix64 step: ``(new state, output)``."""
    state = state + _GOLDEN
    z = (state ^ (state >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return state, z ^ (z >> np.uint64(31))


# NOTE: inlined into the Poisson catch-up: per arrival, a call costs more than the draw itself
# (measured: perf/RESULTS.md, "Poisson catch-up"). The state is passed, not the stream's record, so
# that a run of arrivals keeps it in a register (the record is written once, at the run's end).
@njit(inline="always", **_OPTS)
def exponential_draw(state, rate_per_ms):
    """Exponential gap in ms from SplitMix64 state ``state``: ziggurat Exp(1) / rate, as eventsim.rng.

    Returns ``(new state, gap)``. The first draw's rectangle (~99 % of draws) is inlined; the rest
    of the ziggurat is a call (:func:`_exponential_rest`), so the caller's loop stays small.
    """
    state, z = _splitmix(state)
    i = np.int64(z & np.uint64(0xFF))
    x = np.float64(z >> np.uint64(11)) * _U53 * _ZIG_X[i]
    if x < _ZIG_X[i + 1]:
        return state, x / rate_per_ms  # (0.0 + x: the offset of eventsim.rng is zero here, exactly)
    return _exponential_rest(state, i, x, rate_per_ms)


@njit(**_OPTS)
def _exponential_rest(state, i, x, rate_per_ms):
    """:func:`exponential_draw` after a draw (layer i, value x) outside its layer's rectangle: the
    wedge test or the tail, then further draws, exactly as the ziggurat loop of eventsim.rng."""
    offset = 0.0
    while True:
        if i == 0:
            offset += _ZIG_R
        else:
            state, z = _splitmix(state)
            if _ZIG_F[i] + np.float64(z >> np.uint64(11)) * _U53 * (_ZIG_F[i + 1] - _ZIG_F[i]) < np.exp(-x):
                return state, (offset + x) / rate_per_ms
        state, z = _splitmix(state)
        i = np.int64(z & np.uint64(0xFF))
        x = np.float64(z >> np.uint64(11)) * _U53 * _ZIG_X[i]
        if x < _ZIG_X[i + 1]:
            return state, (offset + x) / rate_per_ms


@njit(inline="always", **_OPTS)
def exponential_gap(sr, rate_per_ms):
    """Exponential gap in ms from stream record sr (its state advanced): :func:`exponential_draw`."""
    state, gap = exponential_draw(sr.state, rate_per_ms)
    sr.state = state
    return gap


@njit(inline="always", **_OPTS)
def draw_next_arrival(sr, tick, frac):
    """Schedule the next arrival of stream record sr after time (tick, frac)."""
    nt, nf = add_ms(tick, frac, exponential_gap(sr, sr.rate))
    if nt >= sr.stop:
        nt, nf = NEVER, 0.0
    sr.next_tick = nt
    sr.next_frac = nf


@njit(**_OPTS)
def refresh_next_poisson(r, nr, stream):
    """Cache in neuron record r the earliest pending arrival among its Poisson streams."""
    if nr.ps_hi - nr.ps_lo == 1:  # the common case: one stream
        set_next_poisson(r, nr.ps_lo, stream[nr.ps_lo])
        return
    best, bt, bf = -1, NEVER, 0.0
    for m in range(nr.ps_lo, nr.ps_hi):
        p = stream[m]
        if p.next_tick != NEVER and (best < 0 or time_lt(p.next_tick, p.next_frac, bt, bf)):
            best, bt, bf = m, p.next_tick, p.next_frac
    r.ps_m = best
    r.ps_tick = bt
    r.ps_frac = bf


@njit(inline="always", **_OPTS)
def set_next_poisson(r, m, sr):
    """Cache in neuron record r the pending arrival of its only Poisson stream m (record sr).

    NOTE: takes the stream's record, not the array: a call with an array argument costs ~40 ns
    (reference counting) where this costs ~1 ns; the catch-up calls it once per arrival."""
    r.ps_m = m if sr.next_tick != NEVER else -1
    r.ps_tick = sr.next_tick
    r.ps_frac = sr.next_frac
