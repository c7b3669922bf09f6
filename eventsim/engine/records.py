"""Record layouts and constants of the compiled engine (numpy structured dtypes, one record per
neuron, stream, heap entry...), the control record ``CTL``, the options every kernel compiles with,
the allocation helper the loop uses (:func:`grown`) and the recording of a spike (:func:`record_spike`).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

# Record layouts. Per-neuron state (NSTATE) keeps what an input reads in its first cache line.
NEURON = np.dtype([("tau_class", np.int64), ("pop", np.int64), ("ps_lo", np.int64), ("ps_hi", np.int64),
                   ("t_ref", np.int64), ("record", np.int64), ("E_L", np.float64), ("R_m", np.float64),
                   ("tau_m", np.float64),
                   ("V_th", np.float64), ("V_reset", np.float64), ("V_init", np.float64)], align=True)
"""Static per-neuron parameters (t_ref in ticks; Poisson streams ps_lo..ps_hi)."""

NSTATE = np.dtype([("U", np.float64), ("thr", np.float64), ("ref_tick", np.int64), ("ref_frac", np.float64),
                   ("bt", np.int32), ("bflag", np.int8), ("ps_one", np.int8), ("model", np.int16), ("bw", np.float64),
                   ("cls", np.int32),
                   ("ps_m", np.int32),
                   ("slack", np.float64),
                   ("ps_tick", np.int64), ("ps_frac", np.float64), ("ctick", np.int64), ("cfrac", np.float64),
                   ("V_inf", np.float64), ("I", np.float64), ("touched", np.int64), ("chain", np.int64)],
                  align=True)
"""Per-neuron state, 128 bytes on two cache lines (arrays of it start on a line): the first holds
what an input reads: U = (V - V_inf) exp((t - base)/tau_m), thr = V_th - V_inf, refractory end,
the open input batch (time index bt of the window, -1 if none since the window began; bflag
BATCH_NONE / BATCH_OPEN / BATCH_MULTI / BATCH_REFRACTORY; bw its first weight, mV, added to U
when the batch closes), ``ps_one`` (1: exactly one Poisson stream: the common catch-up then reads
no NEURON line), the time-constant class and the Poisson stream of the earliest pending
arrival (ps_m, -1 if none), the frame's V-space rounding allowance ``slack`` (mV,
:func:`set_v_inf`) and the neuron's path ``model`` (FRAME_LIF: the fields above; otherwise its GEN
record holds the model state, and U, thr, slack and V_inf are unused). The second: that arrival's
time, the clean crossing time (ctick, cfrac; ctick = DIRTY when an input arrived since the last
reset; on the generic path the neuron's next own event: the end of its refractory period, else
its predicted crossing, NEVER if none), V_inf (mV), the injected
current I (pA), the batch stamp of direct delivery (touched) and the first of the batch's
partials in the side buffer when its sum is not exact in float64 (chain, :func:`add_inexact`)."""

PROJ = np.dtype([("pre_pop", np.int64), ("rowptr_start", np.int64), ("weight", np.float64),
                 ("weight_shift", np.int64), ("delay", np.int64), ("delay_shift", np.int64)], align=True)
STREAM = np.dtype([("next_tick", np.int64), ("next_frac", np.float64), ("state", np.uint64), ("rate", np.float64),
                   ("weight", np.float64), ("stop", np.int64), ("start", np.int64), ("key", np.uint64)], align=True)
"""A Poisson stream: pending arrival, SplitMix64 state, rate (per ms), weight (mV), [start, stop) ticks."""
TIMED = np.dtype([("tick", np.int64), ("frac", np.float64), ("target", np.int64), ("value", np.float64),
                  ("slot", np.int64)], align=True)
"""Scheduled current changes (value = pA) and voltage samples (slot). Scheduled input arrivals are
plain arrays (sa_tick, sa_frac, sa_target int32, sa_weight) so that they share the delivery loop."""
SPIKE = np.dtype([("id", np.int64), ("tick", np.int64), ("frac", np.float64)], align=True)
HEAP = np.dtype([("tick", np.int64), ("frac", np.float64), ("src", np.int64), ("proj", np.int64),
                 ("pos", np.int64)], align=True)
"""Pending spike group: arrival time, source neuron, projection, first synapse of the group."""
GROUP = np.dtype([("ti", np.int64), ("w", np.float64), ("kind", np.int64), ("lo", np.int64), ("hi", np.int64),
                  ("wsh", np.int64), ("src", np.int64), ("aux", np.int64)], align=True)
"""One item of the current window, in time order: time index ti; kind INPUTS (targets ``[lo, hi)``
of the synapse table (src 0) or of the scheduled arrivals (src 1), weight w, NaN when per
synapse at ``s + wsh``), CURRENT (target lo, change net.cc[aux]) or SAMPLE (target lo, net.vs[aux]).
The calendar's runs are not items: their synapses enter the buckets as entries carrying their own
time and weight (:func:`eventsim.engine.buckets.fill_due`)."""

INPUT = np.dtype([("ti", np.int64), ("w", np.float64)], align=True)
"""An item as the neuron pass reads it per entry (:func:`eventsim.engine.buckets.input_table`): its
time index ti (-1: not INPUTS) and weight w, four to a cache line where ``GROUP`` takes one."""

GEN = np.dtype([("t_tick", np.int64), ("t_frac", np.float64), ("V", np.float64), ("x1", np.float64),
                ("x2", np.float64), ("E_L", np.float64), ("tau_m", np.float64), ("C_m", np.float64),
                ("V_th", np.float64), ("V_reset", np.float64), ("V_c", np.float64), ("delta_theta", np.float64),
                ("tau_theta", np.float64), ("tau_syn_ex", np.float64), ("tau_syn_in", np.float64),
                ("bw", np.float64), ("bflag", np.int64), ("chain", np.int64)], align=True)
"""A neuron on the generic path (eventsim.engine.generic): its model state ``(V, x1, x2)`` at the state
time ``(t_tick, t_frac)`` — ``lif``: V (mV), x1 = a, the threshold's adaptation (mV); ``qif``: V;
``lif_psc_exp``: V, x1 = I_ex, x2 = I_in (pA) — and its model's parameters (ms, mV, pF; ``V_th`` holds
``V_peak`` for ``qif``). ``bw, bflag, chain``: the inhibitory half of a ``lif_psc_exp`` batch (its
weights < 0, pA), summed exactly by the functions that sum NSTATE's (the excitatory half).
One record type for every model, indexed by neuron id like NSTATE (docs/architecture.md, "Models")."""
SIDE = np.dtype([("w", np.float64), ("next", np.int64)], align=True)
"""A partial of a batch's exact sum (mV), chained per neuron (next: -1 ends it); :func:`add_inexact`."""
WTIME = np.dtype([("tick", np.int64), ("frac", np.float64)], align=True)
"""A distinct event time of the current window."""
CURRENT, INPUTS, SAMPLE = 0, 1, 2
BATCH_NONE, BATCH_OPEN, BATCH_REFRACTORY, BATCH_MULTI = 0, 1, 2, 3
FRAME_LIF, GEN_LIF, GEN_QIF, GEN_LIF_PSC_EXP = 0, 1, 2, 3
"""NSTATE.model: plain LIF in the time-invariant frame (delta_theta = 0), or a model on the generic path
(``lif`` with an adaptive threshold, ``qif``, ``lif_psc_exp``)."""

Buffers = namedtuple("Buffers", "heap out grp times time_E ent ent_w side cal")
"""Arrays the loop may regrow (returned by :func:`advance`): the spike-group heap, recorded spikes,
the window's items, distinct times, ``E`` per (time, class) and per-target entries (item
index or, for the calendar's, time index; and weight when per synapse or from the calendar), the side buffer of batches with several inputs (SIDE) and the
calendar of delivery runs of per-synapse delays (:class:`eventsim.engine.calendar.Calendar`)."""

def _with_own_line(fields, line_fields):
    """A record dtype of ``fields`` followed by ``line_fields`` (8 bytes each) alone on the next 64-byte
    line, its size a whole number of lines. The gaps are int64 fields ``_pad_*`` (never used): a
    gap without a field holds whatever bytes Numba's record copies leave there."""
    head = np.dtype(fields, align=True).itemsize
    gap, tail = (-head) % 64 // 8, 8 - len(line_fields)
    return np.dtype(fields + [(f"_pad_a{k}", np.int64) for k in range(gap)] + line_fields
                    + [(f"_pad_b{k}", np.int64) for k in range(tail)], align=True)


CTL = _with_own_line([
    ("now", np.int64),  # simulated up to here (ticks, exclusive)
    ("base", np.int64),  # tick at which the frame exponent is zero
    ("heap_n", np.int64),  # entries in the heap
    ("win_n", np.int64),  # spikes emitted in the current window
    ("out_n", np.int64),  # recorded spikes in the output buffer
    ("sa_p", np.int64), ("cc_p", np.int64), ("vs_p", np.int64),  # next scheduled arrival / change / sample
    ("started", np.int64),  # initial state set up
    ("overflow", np.int64),  # a window emitted more spikes than the window buffer holds
    ("runaway", np.int64),  # 1 + a t_ref = 0 neuron that would fire again within MIN_PERIOD_MS (0: none)
    ("runaway_tick", np.int64), ("runaway_frac", np.float64),  # ... the time of its spike
    ("window", np.int64),  # window length, ticks
    ("max_out_proj", np.int64),  # most projections leaving one population
    ("bucket_shift", np.int64),  # neurons i >> bucket_shift share an entry bucket
    ("batch", np.int64),  # id of the current same-time input batch (direct delivery)
    ("direct", np.int64),  # deliver the current window directly (1) or through buckets (0)
    ("direct_max_neurons", np.int64),  # networks up to this size always deliver directly
    ("direct_max_entries", np.int64),  # a window after one with at most this many inputs too
    ("item_parts", np.int64),  # with threads, deliver bucket-mode windows from their items in parts (1) or not (0)
    ("side_n", np.int64),  # entries in the side buffer (emptied when the batches close)
    ("wake_min", np.int64),  # no neuron acts on its own before this tick (a lower bound)
    ("pending", np.int64),  # a part's next possible event at its window's end, before the exchange (loop.part_window)
    # the calendar of delivery runs (eventsim.engine.calendar)
    ("cal_n", np.int64),  # runs in its slots (not counting the due runs)
    ("cal_blocks", np.int64),  # blocks of its pool in use or on the free list
    ("cal_free", np.int64),  # first block of the free list (-1: none)
    ("cal_window", np.int64),  # the window whose runs are the due list (-1: none yet)
    ("due_n", np.int64), ("due_p", np.int64),  # due runs, and the next one to take
    ("cal_laps", np.int64),  # a run was queued a lap or more ahead: slots may hold runs of later laps
    ("due_in_slot", np.int64),  # the due runs are still in the window's slot (bucket delivery takes them there)
    ("cal_sorted", np.int64),  # the due list's runs not yet taken are in time order (direct delivery sorts them)
    ("win_times", np.int64),  # distinct times of the window's items (bucket delivery; calendar entries' after)
    # counters
    ("syn_events", np.int64),  # synaptic deliveries (including discarded ones)
    ("ext_events", np.int64),  # Poisson and scheduled arrivals (including discarded ones)
    ("discarded", np.int64),  # inputs dropped because the target was refractory
    ("spikes", np.int64),  # spikes of all neurons
    ("crossing_spikes", np.int64),  # spikes at constant-current threshold crossings
    ("heap_pushes", np.int64),
    ("heap_peak", np.int64),
    ("cal_pushes", np.int64),  # delivery runs queued in the calendar
    ("windows", np.int64),
    ("batches", np.int64),  # input batches: (neuron, time) pairs with synaptic or scheduled inputs
    ("direct_windows", np.int64),  # windows delivered directly
    # cycles (eventsim.engine.cycles) spent in each phase of the loop, and in the whole loop
    ("cyc_gather", np.int64),  # taking a window's events off the queues (bucket mode)
    ("cyc_scatter", np.int64),  # writing the entries into the neuron buckets
    ("cyc_buckets", np.int64),  # working the buckets: deliveries, batches, catch-ups of touched neurons
    ("cyc_direct", np.int64),  # the same, straight from the queues or (threads) from the items in parts
    ("cyc_window_end", np.int64),  # neurons woken by their own Poisson arrivals or crossings
    ("cyc_queue", np.int64),  # queueing and recording a window's spikes
    ("cyc_total", np.int64),  # the whole compiled loop
], [
    # what the loop is doing now, for a sampling thread (eventsim.engine.cycles.mark_phase, mark_activity)
    ("phase_now", np.int64),  # PH_*: an index into PHASE_NAMES, -1 in the loop between phases, -2 outside
    ("activity", np.int64),  # ACT_*: an index into ACTIVITY_NAMES
])
"""Control scalars and counters of a run, one record (passed by pointer: no reference counting), 512
bytes with ``phase_now`` and ``activity`` alone on its last cache line.

NOTE: the threads' records (``State.ctls``) are adjacent and cache-line aligned: the activity marks, stored
per catch-up, once shared a line with the next part's ``now`` and ``base`` (read per arrival), and that
false sharing made Brunel on 2 threads 1.06-1.12x slower than before the marks, 1.02-1.04x without it."""
COUNTER_NAMES = ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes", "heap_pushes",
                 "heap_peak", "cal_pushes", "windows", "batches", "direct_windows")
PHASE_NAMES = ("gather", "scatter", "buckets", "direct", "window_end", "queue")
"""The loop's phases timed in cycles (CTL fields ``cyc_<name>``); the rest of ``cyc_total`` is the
loop's own bookkeeping (idle-window skips, frame rebases, mode choice)."""

TICKS_PER_MS = 1e6
TICK_MS = 1e-6  # eventsim.timebase.TICK_MS: elapsed times are (ticks) * TICK_MS, as the reference engine computes them
MAX_AHEAD_MS = 1e12  # a predicted crossing further ahead than this is never reached (runs end by 1e11 ms)
NEVER = np.iinfo(np.int64).max
DIRTY = -1  # ctick of a neuron whose crossing must be found from its frame value
BLOCK_SHIFT = 6  # wake-up minima are kept per block of 64 neurons
REBASE_EXPONENT = 100.0  # rebase the frame when exp() arguments would pass this
SIDE_SCRATCH = 64  # side-buffer records kept free after the chains, rounded_sum's scratch (<= 40 partials)
FRAME_BAND = 2.0 ** -49  # 16 float64 roundings: the frame's threshold margin is trusted beyond this
_OPTS = dict(cache=True, nogil=True, error_model="numpy")
ZERO = np.int64(0)
TRUE, FALSE = np.bool_(True), np.bool_(False)
# NOTE: call sites pass these, not the literals 0, True, False: a literal argument to a compiled function
# that is not inlined makes Numba compile a copy of it specialised on that value (36 such copies were
# 10 % of the engine's machine code, and of its first compile).
# NOTE: a call that LLVM does not inline costs ~12 ns per array argument (reference counting), and
# passing a Net or State tuple costs ~300 ns. Hence: functions on the per-delivery and
# per-Poisson-arrival path take records (plain pointers) and the few arrays they need, and loops
# pull arrays out of the tuples once, before the loop.


@njit(**_OPTS)
def grown(a, n, need):
    """``a`` if it holds ``need`` records, else a copy of its first n records with room to spare."""
    if need <= a.size:
        return a
    b = np.empty(max(need, 2 * a.size, 64), a.dtype)
    b[:n] = a[:n]
    return b


@njit(inline="always", **_OPTS)
def record_spike(i, tick, frac, crossing, c, win):
    """Neuron i spiked at (tick, frac): append it to the window's spike buffer ``win`` (or flag the
    overflow) and count it (``crossing``: an autonomous spike between events)."""
    n = c.win_n
    if n < win.size:
        w = win[n]
        w.id, w.tick, w.frac = i, tick, frac
    else:
        c.overflow = 1
    c.win_n = n + 1
    c.spikes += 1
    if crossing:
        c.crossing_spikes += 1
