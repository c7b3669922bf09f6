"""The kernels of the compiled engine, re-exported under one name: the whole event loop is Numba code
over modules of one responsibility each.

Everything is ``@njit(cache=True)`` and takes only arrays, scalars and the two namedtuples
built by :mod:`eventsim.engine.numba_engine` (``Net``: the static network, ``State``: everything
that changes). :mod:`eventsim.engine.jit_cache` keys Numba's cache by all engine sources, so kernels
split over modules cannot load stale code. The modules:

* :mod:`~eventsim.engine.records`: record layouts (numpy dtypes), constants, the CTL record;
* :mod:`~eventsim.engine.clock`: ``(tick, frac)`` arithmetic, the frame exponential, Poisson draws;
* :mod:`~eventsim.engine.heap`: the heap of spike groups and taking due events off the queues;
* :mod:`~eventsim.engine.calendar`: the calendar of delivery runs (per-synapse delays);
* :mod:`~eventsim.engine.exact_sum`: a same-time batch's exact sum;
* :mod:`~eventsim.engine.lif_frame`: plain LIF's neuron operations in the time-invariant frame;
* :mod:`~eventsim.engine.generic`: every other model (adaptive ``lif``, ``qif``) through its closed forms;
* :mod:`~eventsim.engine.wakeups`: wake-up bounds and the end of a window;
* :mod:`~eventsim.engine.buckets` and :mod:`~eventsim.engine.direct`: the two delivery paths;
* :mod:`~eventsim.engine.loop`: :func:`advance`, the loop over windows.

The algorithm (docs/architecture.md has the long version):

* **Windows of the minimum delay.** Time advances in windows ``[k W, (k+1) W)`` with ``W`` at most
  the smallest synaptic delay, so a spike emitted in a window arrives in a later one. Within a
  window, neurons are independent. Spikes of a window are collected and queued at its end (the
  point where an MPI version would exchange them).
* **Queue of spike groups.** A binary heap holds one entry per (spike, projection) keyed by
  ``(arrival tick, frac, source, projection)``: O(log n) per entry, not per synapse, and a
  canonical order for ties. Projections with per-synapse delays queue one run per (spike, distinct
  delay) in a calendar instead: a ring of slots per arrival window, O(1) per run, a run of one
  synapse as an entry of its slot's stream of its target's bucket; a window's runs and streams go
  into the buckets as entries carrying their own time and weight, each bucket's sorted by time
  (:func:`fill_due`, :func:`order_calendar`), or, delivered directly, are radix-sorted by time.
* **Gather, bucket, advance.** At a window's start everything due in it is taken off the heap and
  the scheduled arrays in time order (:func:`gather_window`); each item's targets get an entry in
  the bucket of their neuron range, in item order (:func:`fill_entries`), so each bucket is sorted
  by time (and merged by time with its calendar entries). Buckets are
  then worked one at a time with their neurons' states in cache (:func:`process_entries`):
  same-time inputs of a neuron are summed exactly (whatever their order) and tested against
  threshold once. Small windows are
  delivered straight from the queues instead (:func:`run_window_direct`), with bit-identical
  results.
* **Time-invariant frame.** A neuron stores ``U = (V - V_inf) exp((t - base) / tau_m)``, which is
  constant between events, so a batch of inputs summing to S is ``U += S * E(t)`` with
  ``E(t) = exp((t - base)/tau_m)`` computed once per distinct time and time-constant class, and the
  threshold test is ``U >= (V_th - V_inf) * E(t)``, redone in V-space when its margin is within
  rounding (:func:`add_inputs`). ``base`` is moved forward (and all ``U`` rescaled) before the
  exponent can overflow.
* **Lazy autonomous dynamics.** Poisson arrivals and constant-current threshold crossings never
  enter the global queue: a neuron is advanced through them (exactly, in time order) when an entry
  reaches it and at each window's end if its wake-up bound says it may act.
"""

from __future__ import annotations

from eventsim.engine.clock import exponential_gap
from eventsim.engine.exact_sum import add_exactly, add_inexact
from eventsim.engine.heap import heap_check, heap_pop, heap_push
from eventsim.engine.lif_frame import open_batch
from eventsim.engine.loop import advance
from eventsim.engine.records import (BLOCK_SHIFT, COUNTER_NAMES, CTL, DIRTY, FRAME_LIF, GEN, GEN_LIF, GEN_LIF_PSC_EXP,
                                     GEN_QIF, GROUP, HEAP, NEURON, NEVER, NSTATE, PHASE_NAMES, PROJ, SIDE, SIDE_SCRATCH,
                                     SPIKE, STREAM, TIMED, WTIME, Buffers)

__all__ = ["BLOCK_SHIFT", "COUNTER_NAMES", "CTL", "DIRTY", "FRAME_LIF", "GEN", "GEN_LIF", "GEN_LIF_PSC_EXP", "GEN_QIF",
           "GROUP", "HEAP", "NEURON", "NEVER", "NSTATE", "PHASE_NAMES", "PROJ", "SIDE",
           "SIDE_SCRATCH", "SPIKE", "STREAM", "TIMED", "WTIME", "Buffers", "add_exactly", "add_inexact", "advance",
           "exponential_gap", "heap_check", "heap_pop", "heap_push", "open_batch"]
