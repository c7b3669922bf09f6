"""The processor's cycle counter in compiled code, for the time-per-phase profile (``eventsim profile``).

:func:`cycle_counter` is LLVM's ``readcyclecounter`` (``rdtsc`` on x86-64: ~25 cycles, a constant-rate
counter on current CPUs, so "cycles" are reference cycles). The loop reads it a few times per window
(:data:`eventsim.engine.records.PHASE_NAMES`), never per event: always on, at well under 1 % of a run.

What a run does *within* a phase (Poisson arrivals, threshold crossings: tens of ns each, too short to
time) is seen by sampling instead: :func:`mark_phase` and :func:`mark_activity` store what the loop is
doing into the CTL fields ``phase_now`` and ``activity``, and a Python thread reads them while the
loop runs (it releases the GIL): :class:`eventsim.profiling.ActivitySampler`.
"""

from __future__ import annotations

import time

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["cycle_counter", "read_cycles", "cycles_per_second", "mark_phase", "mark_activity", "activity_of",
           "PH_OUTSIDE", "PH_LOOP", "PH_GATHER", "PH_SCATTER", "PH_BUCKETS", "PH_DIRECT", "PH_WINDOW_END",
           "PH_QUEUE", "ACT_NONE", "ACT_DELIVER", "ACT_POISSON", "ACT_CROSSING", "ACT_PARTS", "ACT_IDLE",
           "ACTIVITY_NAMES"]

# The loop's phase (CTL field ``phase_now``): an index into records.PHASE_NAMES, or one of the two below.
PH_OUTSIDE = -2  # not in the compiled loop (Python between chunks, or no run)
PH_LOOP = -1  # in the loop, in none of its timed phases (window skips, rebases, the choice of mode)
PH_GATHER, PH_SCATTER, PH_BUCKETS, PH_DIRECT, PH_WINDOW_END, PH_QUEUE = range(6)
# What the loop does within its phase (CTL field ``activity``): an index into ACTIVITY_NAMES.
ACT_NONE, ACT_DELIVER, ACT_POISSON, ACT_CROSSING, ACT_PARTS, ACT_IDLE = range(6)
ACTIVITY_NAMES = ("none", "deliver", "poisson", "crossing", "parts", "idle")
"""``deliver``: a run of synaptic deliveries (one spike's targets, or a bucket's entries);
``poisson``: a neuron's Poisson arrivals caught up; ``crossing``: a constant-current threshold
crossing found and fired; ``parts``: the window worked in parts on threads (the run's own record;
each part's record holds that thread's marks, which the sampler reads instead); ``idle``: a thread
whose part of the window is done, waiting for the other parts."""


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


def _field_pointer(builder, rec_type, rec_ptr, name):
    """An ``i64*`` to the int64 field ``name`` of the record at ``rec_ptr`` (records are passed as
    pointers to their bytes)."""
    i32 = ir.IntType(32)
    p = builder.gep(rec_ptr, [ir.Constant(i32, 0), ir.Constant(i32, rec_type.offset(name))])
    return builder.bitcast(p, ir.IntType(64).as_pointer())


def _has_int64(rec, name):
    return isinstance(rec, types.Record) and name in rec.fields and rec.typeof(name) == types.int64


def _relaxed_store(name):
    def typer(typingctx, rec, value):
        if not (_has_int64(rec, name) and isinstance(value, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            # NOTE: a relaxed atomic store (a plain mov on x86-64): never dropped as dead, nor merged
            # with the next mark, so a sampling thread sees it; no fence, so it costs ~nothing
            builder.store_atomic(args[1], _field_pointer(builder, rec, args[0], name), "monotonic", 8)
            return context.get_dummy_value()

        # int64 in the signature: the caller casts a literal constant, so no specialisation per value
        return types.void(rec, types.int64), codegen

    return typer


@intrinsic
def mark_phase(typingctx, rec, value):
    """Store the loop's phase (``PH_*``) into the CTL record ``rec``'s ``phase_now``."""
    return _relaxed_store("phase_now")(typingctx, rec, value)


@intrinsic
def mark_activity(typingctx, rec, value):
    """Store what the loop does (``ACT_*``) into the CTL record ``rec``'s ``activity``."""
    return _relaxed_store("activity")(typingctx, rec, value)


@intrinsic
def activity_of(typingctx, rec):
    """The CTL record ``rec``'s ``activity`` (to restore it after a nested activity)."""
    if not _has_int64(rec, "activity"):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_field_pointer(builder, rec, args[0], "activity"), "monotonic", 8)

    return types.int64(rec), codegen
