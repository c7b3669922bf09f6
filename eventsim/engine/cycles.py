"""The processor's cycle counter in compiled code, for the time-per-phase profile (``eventsim profile``).

:func:`cycle_counter` is LLVM's ``readcyclecounter`` (``rdtsc`` on x86-64: ~25 cycles, a constant-rate
counter on current CPUs, so "cycles" are reference cycles). The loop reads it a few times per window
(:data:`eventsim.engine.records.PHASE_NAMES`), never per event: always on, at well under 1 % of a run.
"""

from __future__ import annotations

import time

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["cycle_counter", "read_cycles", "cycles_per_second"]


@intrinsic
def cycle_counter(typingctx):
    """``int64`` reading of the cycle counter (0 on targets without one)."""

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen


@njit(cache=True)
def read_cycles():
    """The cycle counter, from Python."""
    return cycle_counter()


def cycles_per_second(sample_s: float = 0.02) -> float:
    """The counter's rate, measured against ``time.perf_counter`` over ``sample_s`` seconds."""
    read_cycles()  # compile or load before timing
    t0, c0 = time.perf_counter(), read_cycles()
    while time.perf_counter() - t0 < sample_s:
        pass
    t1, c1 = time.perf_counter(), read_cycles()
    return (c1 - c0) / (t1 - t0)
