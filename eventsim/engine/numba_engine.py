"""The compiled engine: packs a :class:`~eventsim.prepared.Prepared` into the arrays the Numba
kernels use, runs the loop in chunks and hands back results.

Python only sets up, calls :func:`eventsim.engine.kernels.advance` for a stretch of simulated time
(chunks of about a quarter second of wall time, so a progress bar can move) and collects results;
no Python code runs per event.
"""

from __future__ import annotations

import os
import time
from collections import namedtuple
from fractions import Fraction

import numba
import numpy as np

from eventsim.engine import kernels as K
from eventsim.engine import items, loop
from eventsim.engine.calendar import MAX_SLOTS, Calendar, calendar_bytes, make_calendar, slot_count
from eventsim.engine.cycles import ACT_PARTS, PH_OUTSIDE
from eventsim.models import REGISTRY, lif
from eventsim.prepared import Prepared
from eventsim.timebase import MAX_MS, TICK_MS, TICKS_PER_MS, ticks_to_ms
from eventsim.workload import runaway_error

__all__ = ["NumbaEngine", "PartEngine", "COUNTER_NAMES"]

COUNTER_NAMES = K.COUNTER_NAMES
PHASE_NAMES = K.PHASE_NAMES

Net = namedtuple("Net", "cls_q neuron pop_start pop_proj_ptr pop_proj proj rowptr syn_target "
                        "syn_weight syn_delay sa_tick sa_frac sa_target sa_weight cc vs cls_tau")
"""Static network seen by the kernels: record arrays (see ``kernels.NEURON`` etc.) and CSR arrays;
``cls_q`` is 1 tick / tau_m per time-constant class, ``cls_tau`` tau_m in ticks (``tau_m * TICKS_PER_MS``,
the float that ``lif_frame.crossing_bound`` computes from the neuron's record)."""

State = namedtuple("State", "ctl nrn gen class_E class_stamp stream win voltages wake block_min bcnt bpos ids "
                             "batch_u0 ctls")
"""Everything the kernels change: ``ctl`` (one CTL record: clock, queue sizes, counters) and
``nrn`` (per-neuron state records) above all; ``gen`` the model states and parameters of neurons
on the generic path (``kernels.GEN``, indexed by neuron id; one unused record when there are none);
``bcnt`` and ``bpos`` are the window's entry
counts and write cursors per bucket of neurons (counts are zero between windows), ``ids`` a
scratch list of neuron ids (the neurons a bucket's entries reached; the neurons of a direct
delivery's batch that must be tested when it closes), ``batch_u0`` the frame values, before the
batch, of the neurons whose single input a direct delivery added at once (scratch), and ``ctls``
one CTL record per part of a window's buckets worked in parallel (its length is the thread count;
eventsim.engine.buckets.work_buckets_in_parallel)."""

_EXPONENT_PER_WINDOW = 20.0
_MAX_BUCKETS = 512
DIRECT_MAX_NEURONS = 2048
"""Networks up to this size deliver every window directly (all neuron states fit in L2);
larger ones too where :func:`direct_max_neurons` says so."""
DIRECT_L2_MULTIPLE = 2
"""On one thread, a network of plain LIF neurons without per-synapse delays delivers every window
directly while its neurons' states take at most this many level-2 caches
(:data:`HOT_BYTES_PER_NEURON`, :func:`l2_cache_bytes`). Measured (perf/RESULTS.md, 2026-12-03,
fifth session; Intel Xeon, 2 MiB L2, direct against buckets, CPU time): Brunel at 6,250, 12,500,
25,000 and 62,500 neurons (0.9, 1.7, 3.4 and 8.6 L2s) 0.88-0.92, 0.91, 0.93-0.99 and 0.88-0.93; the
Poisson-driven sparse network at 10,000 neurons (1.4 L2s) 0.96-0.99, at 100,000 (14 L2s) 1.13-1.17;
with per-synapse delays (the calendar) 3.2-3.4x slower, with generic models (qif, adaptive lif,
lif_psc_exp) 1.06-1.14x slower. Two L2s keep the neuron states near the core on machines with a
small L2, where the gain was not measured (Zen 3's 512 KiB: up to 3,640 neurons)."""
DIRECT_MAX_ENTRIES = 8192
"""A window after one with at most this many synaptic inputs is delivered directly."""
HOT_BYTES_PER_NEURON = K.NSTATE.itemsize + K.NEURON.itemsize + K.STREAM.itemsize
"""Bytes a delivery may touch per neuron (state, parameters, one Poisson stream)."""
DEFAULT_L2_BYTES = 1 << 20
"""Level-2 cache assumed where the system does not say (bytes)."""
ITEM_PARTS_L2_MULTIPLE = 8
"""With threads, windows go to items in parts while a part's neuron states take at most this many
level-2 caches. Measured (perf/RESULTS.md, 2026-12-03; Zen 3, 512 KiB L2, 2 threads, items against
buckets): a part of 3.5 L2s 2.00x against 1.77x, 7 L2s 1.60x against 1.48x, 14 L2s a tie, 28 L2s
(the sparse network at 1e5 neurons) slower than the buckets. Rows are sorted by target, so a
part's sweep of a row is monotone and the prefetchers carry it well beyond L2."""
EVENTS_PER_NEURON = 16
"""Autonomous events (Poisson arrivals, constant-current spikes) a window may hold per neuron of the
whole network (:func:`events_per_window`)."""
EVENTS_PER_WINDOW = (2**22, 2**24)
"""Bounds of :func:`events_per_window` (~0.2 s and ~0.8 s of one core's work per window)."""
_MAX_WINDOW_TICKS = int(MAX_MS * TICKS_PER_MS)
_WINDOW_SPIKES_PER_NEURON = 64  # largest exact bound preallocated; beyond it the buffer grows
_GROWN_FROM_PER_NEURON = 8  # first size of a growing window buffer, spikes per neuron


def window_ticks(prepared: Prepared, tau_min: float) -> int:
    """Window length in ticks: the minimum delay, capped so ``exp`` stays far from overflow and so
    that a window holds about :func:`events_per_window` autonomous events at most.

    The second cap keeps the work between two returns of the compiled loop to Python (where a
    progress callback can stop the run) short, even at Poisson rates of 1e10 Hz.
    """
    return window_from(prepared.min_delay, float(exact_autonomous_rate(prepared)), tau_min, prepared.n_neurons)


def events_per_window(n_neurons: int) -> int:
    """The autonomous events a window may hold: :data:`EVENTS_PER_NEURON` per neuron of the whole
    network, within :data:`EVENTS_PER_WINDOW`.

    Every window passes over the neurons that may act on their own (its end), so a window should
    hold several arrivals per neuron: at 2**22 events, 1e6 neurons with 20 kHz Poisson drive got
    windows of 0.2 ms, 4 arrivals per neuron, each visit paying the neuron's cache misses.
    """
    lo, hi = EVENTS_PER_WINDOW
    return min(hi, max(lo, EVENTS_PER_NEURON * int(n_neurons)))


def window_from(d_min: int, rate: float, tau_min: float, n_neurons: int) -> int:
    """:func:`window_ticks` from its figures: the minimum delay (ticks, 0 if no synapses), the
    autonomous events per ms, the smallest ``tau_m`` of plain-LIF neurons (ms, inf if none) and the
    number of neurons. A distributed run passes the whole network's figures (eventsim.distributed),
    so that every process, whatever the split, works the same windows."""
    caps = [_EXPONENT_PER_WINDOW * tau_min / TICK_MS, float(_MAX_WINDOW_TICKS)]
    rate = rate * TICK_MS  # events per tick
    if rate > 0:
        caps.append(events_per_window(n_neurons) / rate)
    cap = max(1, int(min(caps)))
    return max(1, min(d_min, cap)) if d_min > 0 else cap


def exact_sum(values) -> Fraction:
    """The exact sum of finite float64 ``values`` as a Fraction, so that the sums of the parts of a
    split add up to the whole's exactly, whatever the split (a float sum would not). O(n)."""
    v = np.asarray(values, np.float64).ravel()
    m, e = np.frexp(v[v != 0])
    mant = (m * 2.0**53).astype(np.int64)  # exact: |m| < 1 has 53 significant bits
    total = Fraction(0)
    for ex in np.unique(e):
        sel = mant[e == ex]
        # NOTE: halves of 27 bits sum in int64 without overflow for up to 2**36 values
        s = int(np.sum(sel >> 26)) * 2**26 + int(np.sum(sel & (2**26 - 1)))
        total += Fraction(s) * Fraction(2) ** (int(ex) - 53)
    return total


def exact_autonomous_rate(p: Prepared) -> Fraction | float:
    """:func:`eventsim.workload.autonomous_rate` of the neurons held, summed exactly (events per ms;
    inf if unbounded)."""
    bound = np.zeros(p.n_neurons)
    edges = np.clip(p.pop_start - p.lo, 0, p.n_neurons)  # a part's neurons of each population
    for model, lo, hi in zip(p.pop_model, edges[:-1], edges[1:]):
        if lo < hi:
            bound[lo:hi] = REGISTRY[model].rate_bound(p, int(lo), int(hi))
    if not np.all(np.isfinite(bound)) or not np.all(np.isfinite(p.ps_rate)):
        return np.inf
    return exact_sum(p.ps_rate) + exact_sum(bound)


def spike_buffer(size: int) -> np.ndarray:
    """An uninitialised buffer for ``size`` spikes (K.SPIKE records)."""
    return np.empty(size, K.SPIKE)


def window_spike_bound(p: Prepared, window: int) -> int | None:
    """Most spikes one neuron can emit in a window of ``window`` ticks, if that is small.

    Spikes of a neuron are at least ``t_ref`` apart, so at most ``1 + window // t_ref`` fall into
    a window. None when ``t_ref = 0`` or the bound exceeds 64: then the window buffer starts
    smaller and grows when a window overflows it (:meth:`NumbaEngine._call`).
    """
    t_ref_min = int(p.t_ref.min()) if p.n_neurons else 0
    if t_ref_min <= 0:
        return None
    bound = 2 + window // t_ref_min
    return bound if bound <= _WINDOW_SPIKES_PER_NEURON else None


def calendar_for(p, net, st) -> Calendar:
    """The empty calendar of a network's per-synapse delays: a slot per window a delivery can arrive
    in, and streams per (slot, bucket) of one-synapse deliveries when every slot holds one window's."""
    max_delay, window = max_synapse_delay(p), int(st.ctl[0]["window"])
    slots = slot_count(max_delay, window)
    if not (max_delay > 0 and max_delay // window + 2 <= MAX_SLOTS):
        return make_calendar(slots)
    tsyn = np.full(st.nrn.size, -1, np.int64)  # a synapse onto each neuron (any: the last one)
    tsyn[net.syn_target] = np.arange(net.syn_target.size, dtype=np.int64)
    return make_calendar(slots, st.bcnt.size, tsyn)


def bucket_shift(n: int, calendar: bool = False) -> int:
    """log2 of the neurons per entry bucket: at least 256 neurons (64 with a calendar of per-synapse
    delays), at most ~512 buckets.

    A window's inputs are appended to one bucket per range of neurons; few buckets keep those
    writes cache-friendly, small buckets keep a bucket's neuron states in cache while it is worked.
    NOTE: 256 rather than 64 made Brunel (scale 1) ~2 % faster (49 write streams, ~20 consecutive
    targets of a row per bucket); a calendar's entries take 40 bytes each in the bucket (entry,
    weight, time, E), and its buckets stay at 64 neurons.
    """
    shift = K.BLOCK_SHIFT if calendar else K.BLOCK_SHIFT + 2
    while (n >> shift) > _MAX_BUCKETS:
        shift += 1
    return shift


def in_time_order(ids, ticks, fracs) -> bool:
    """Are the spikes (ids, ticks, fracs) strictly increasing in (tick, frac, id)?"""
    dt, df, di = np.diff(ticks), np.diff(fracs), np.diff(ids)
    return bool(np.all((dt > 0) | ((dt == 0) & ((df > 0) | ((df == 0) & (di > 0))))))


def aligned_records(dtype, n):
    """Zeroed record array whose first record starts on a 64-byte cache line."""
    buf = np.zeros(n * dtype.itemsize + 64, np.uint8)
    off = -buf.ctypes.data % 64
    return buf[off:off + n * dtype.itemsize].view(dtype)


def _records(dtype, n, **columns):
    a = aligned_records(dtype, n) if dtype.itemsize % 64 == 0 else np.zeros(n, dtype)
    for k, v in columns.items():
        a[k] = v
    return a


def _timed(tick, frac, target, value=0.0, slot=0):
    return _records(K.TIMED, len(tick), tick=tick, frac=frac, target=target, value=value, slot=slot)


def make_net(p: Prepared) -> Net:
    """Build the kernels' view of a prepared network."""
    taus, tau_class = np.unique(p.tau_m, return_inverse=True)
    n = p.n_neurons
    neuron_pop = np.searchsorted(p.pop_start, np.arange(p.lo, p.lo + n), side="right") - 1
    neuron = _records(K.NEURON, n, tau_class=tau_class, pop=neuron_pop, ps_lo=p.neuron_ps_ptr[:-1],
                      ps_hi=p.neuron_ps_ptr[1:], t_ref=p.t_ref, record=p.record_spikes, E_L=p.E_L,
                      R_m=p.tau_m / p.C_m, tau_m=p.tau_m, V_th=p.V_th, V_reset=p.V_reset, V_init=p.V_init)
    proj = _records(K.PROJ, p.proj_pre_pop.size, pre_pop=p.proj_pre_pop, rowptr_start=p.proj_rowptr_start,
                    weight=p.proj_weight, weight_shift=p.proj_weight_shift, delay=p.proj_delay,
                    delay_shift=p.proj_delay_shift)
    return Net(
        cls_q=np.ascontiguousarray(TICK_MS / taus if taus.size else np.ones(1)),
        neuron=neuron, pop_start=p.pop_start.astype(np.int64), pop_proj_ptr=p.pop_proj_ptr.astype(np.int64),
        pop_proj=p.pop_proj.astype(np.int64), proj=proj, rowptr=p.rowptr.astype(np.int64),
        syn_target=np.ascontiguousarray(p.syn_target, dtype=np.int32),
        syn_weight=np.ascontiguousarray(p.syn_weight, dtype=np.float64),
        syn_delay=np.ascontiguousarray(p.syn_delay, dtype=np.int32),
        sa_tick=np.ascontiguousarray(p.sa_tick, dtype=np.int64), sa_frac=np.ascontiguousarray(p.sa_frac, dtype=np.float64),
        sa_target=np.ascontiguousarray(p.sa_target, dtype=np.int32),
        sa_weight=np.ascontiguousarray(p.sa_weight, dtype=np.float64),
        cc=_timed(p.cc_tick, p.cc_frac, p.cc_target, value=p.cc_delta),
        vs=_timed(p.vs_tick, p.vs_frac, p.vs_target, slot=local_slots(p.vs_slot)),
        cls_tau=np.ascontiguousarray(taus * float(TICKS_PER_MS) if taus.size else np.ones(1)),
    )


def max_synapse_delay(p: Prepared) -> int:
    """The longest per-synapse delay in ticks (0 when no projection has per-synapse delays)."""
    return int(p.syn_delay.max()) if p.syn_delay.size else 0


def local_slots(slots: np.ndarray) -> np.ndarray:
    """Voltage sample slots numbered ``0 ..`` in the order of ``slots`` (a part holds some of the
    whole's slots; the whole's are ``0 .. R-1`` already, and stay)."""
    return np.searchsorted(np.sort(slots), slots)


def model_codes(p: Prepared) -> np.ndarray:
    """Each neuron's path in the compiled loop (``NSTATE.model``): ``FRAME_LIF`` for plain ``lif``
    (``delta_theta = 0``), ``GEN_LIF`` for ``lif`` with an adaptive threshold, ``GEN_QIF`` for ``qif``,
    ``GEN_LIF_PSC_EXP`` for ``lif_psc_exp``."""
    models = list(REGISTRY)
    codes = np.where(p.model_id == models.index("qif"), K.GEN_QIF, K.FRAME_LIF)
    codes = np.where(p.model_id == models.index("lif_psc_exp"), K.GEN_LIF_PSC_EXP, codes)
    adaptive = (p.model_id == models.index("lif")) & (p.delta_theta != 0)
    return np.where(adaptive, K.GEN_LIF, codes).astype(np.int16)


def make_gen(p: Prepared, codes: np.ndarray) -> np.ndarray:
    """GEN records of the neurons on the generic path (indexed by neuron id; one record if none)."""
    if not np.any(codes != K.FRAME_LIF):
        return np.zeros(1, K.GEN)
    return _records(K.GEN, p.n_neurons, E_L=p.E_L, tau_m=p.tau_m, C_m=p.C_m, V_th=p.V_th, V_reset=p.V_reset,
                    V_c=p.V_c, delta_theta=p.delta_theta, tau_theta=p.tau_theta, tau_syn_ex=p.tau_syn_ex,
                    tau_syn_in=p.tau_syn_in)


def frame_tau_min(p: Prepared) -> float:
    """The smallest ``tau_m`` of plain-LIF neurons (ms; inf if none): the frame's exponent cap
    concerns them only."""
    frame = model_codes(p) == K.FRAME_LIF
    return float(p.tau_m[frame].min()) if frame.any() else np.inf


def item_parts(net: Net, threads: int) -> bool:
    """Deliver bucket-mode windows in ``threads`` parts from their items (:mod:`eventsim.engine.items`)
    rather than through buckets worked in parts? With threads, when a part's neuron states take at
    most :data:`ITEM_PARTS_L2_MULTIPLE` level-2 caches (:data:`HOT_BYTES_PER_NEURON`,
    :func:`l2_cache_bytes`): the buckets' scatter pass buys locality that such a part mostly has
    anyway. Either way the results are the same; only the speed differs."""
    n = net.neuron.size
    if threads < 2 or -(-n // threads) * HOT_BYTES_PER_NEURON > ITEM_PARTS_L2_MULTIPLE * l2_cache_bytes():
        return False
    return items_possible(net)


def direct_max_neurons(net: Net, codes: np.ndarray, threads: int) -> int:
    """Networks up to this many neurons deliver every window directly (``ctl.direct_max_neurons``):
    :data:`DIRECT_MAX_NEURONS`, or on one thread, for plain LIF neurons only (``codes``) and no
    per-synapse delays, as many as fit in :data:`DIRECT_L2_MULTIPLE` level-2 caches. Larger networks
    go through buckets, but for windows after one with few synaptic inputs (``ctl.direct_max_entries``).
    Either way the results are the same; only the speed differs."""
    if DIRECT_L2_MULTIPLE <= 0 or threads > 1 or np.any(net.proj["delay"] < 0) or np.any(codes != K.FRAME_LIF):
        return DIRECT_MAX_NEURONS
    return max(DIRECT_MAX_NEURONS, DIRECT_L2_MULTIPLE * l2_cache_bytes() // HOT_BYTES_PER_NEURON)


def items_possible(net: Net) -> bool:
    """Can the network's windows be delivered in parts from their items? When every part's targets
    of a row or of a time's scheduled arrivals are one slice of it (rows sorted by target: the
    builder makes them so; O(synapses) to check) and no projection has per-synapse delays (their
    calendar runs are no items)."""
    return bool(np.all(net.proj["delay"] >= 0) and items.rows_sorted(net.rowptr, net.syn_target, net.proj, net.pop_start)
                and items.runs_sorted(net.sa_tick, net.sa_frac, net.sa_target))


def l2_cache_bytes() -> int:
    """Size of one core's level-2 cache (Linux sysfs), else :data:`DEFAULT_L2_BYTES`."""
    import glob

    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            with open(f"{index}/level") as f:
                if f.read().strip() != "2":
                    continue
            with open(f"{index}/size") as f:
                text = f.read().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
            return int(text.rstrip("KM")) * scale
        except (OSError, ValueError):
            break
    return DEFAULT_L2_BYTES


def make_state(p: Prepared, net: Net, threads: int = 1, window: int | None = None) -> State:
    """Initial state at t = 0 (the kernel's ``start`` finishes it on the first call); ``window``
    (ticks) replaces :func:`window_ticks` (a distributed run's part: the whole network's)."""
    n = p.n_neurons
    codes = model_codes(p)
    frame = codes == K.FRAME_LIF
    v_inf = lif.v_inf(p.E_L, p.I_e, p.tau_m, p.C_m)
    # thr = +inf keeps the frame's code from touching a generic neuron's fields (open_batch's ctick)
    nrn = _records(K.NSTATE, n, U=0.0, thr=np.where(frame, p.V_th - v_inf, np.inf), V_inf=v_inf, I=p.I_e,
                   cls=net.neuron["tau_class"], model=codes, ps_tick=K.NEVER, ps_m=-1,
                   ctick=np.where(frame, K.DIRTY, K.NEVER), bt=-1, chain=-1,
                   ps_one=np.diff(p.neuron_ps_ptr) == 1)
    if window is None:
        window = window_ticks(p, frame_tau_min(p))
    per_neuron = window_spike_bound(p, window) or _GROWN_FROM_PER_NEURON
    out_per_pop = np.diff(p.pop_proj_ptr)
    ctl = aligned_records(K.CTL, 1)
    ctl["window"] = window
    ctl["max_out_proj"] = out_per_pop.max() if out_per_pop.size else 0
    shift = bucket_shift(n, bool(np.any(net.proj["delay"] < 0)))
    ctl["bucket_shift"] = shift
    # before the first window: as after a window without inputs
    ctl["direct"] = int(n <= DIRECT_MAX_NEURONS or DIRECT_MAX_ENTRIES >= 0)
    ctl["direct_max_neurons"] = direct_max_neurons(net, codes, threads)
    ctl["direct_max_entries"] = DIRECT_MAX_ENTRIES
    ctl["item_parts"] = int(item_parts(net, threads))
    ctl["cal_free"] = -1
    ctl["cal_window"] = -1
    ctl["phase_now"] = PH_OUTSIDE
    return State(
        ctl=ctl, nrn=nrn, gen=make_gen(p, codes),
        class_E=np.ones(net.cls_q.size), class_stamp=np.full(net.cls_q.size, -1, np.int64),
        stream=_records(K.STREAM, p.ps_rate.size, rate=p.ps_rate, weight=p.ps_weight, start=p.ps_start,
                        stop=p.ps_stop, key=p.ps_key),
        # NOTE: np.empty of a large buffer only reserves address space; pages are committed when
        # written, so the generous bound costs memory only in windows that really use it.
        win=np.empty(max(1024, n * per_neuron), K.SPIKE),
        voltages=np.full(p.vs_tick.size, np.nan),
        wake=np.full(n, K.NEVER, np.int64), block_min=np.full((n >> K.BLOCK_SHIFT) + 1, K.NEVER, np.int64),
        bcnt=np.zeros((n >> shift) + 1, np.int64), bpos=np.zeros((n >> shift) + 1, np.int64),
        ids=np.zeros(max(n, 1), np.int64), batch_u0=np.zeros(max(n, 1)), ctls=aligned_records(K.CTL, threads),
    )


class NumbaEngine:
    """Compiled exact event-driven engine (see :mod:`eventsim.engine.kernels`).

    Parameters
    ----------
    prepared : Prepared
        The network to simulate.
    threads : int
        Parts each window's buckets are worked in, in parallel on Numba's threads (at most
        ``min(threads, NUMBA_NUM_THREADS)`` of them run at once); spikes and voltages are
        bit-identical for every value (:func:`eventsim.engine.buckets.work_buckets_in_parallel`).
    window : int, optional
        Window length in ticks; default :func:`window_ticks` of ``prepared``.
    """

    name = "numba"

    def __init__(self, prepared: Prepared, threads: int = 1, window: int | None = None):
        self.prepared = prepared
        self.threads = int(threads)
        if self.threads > 1:
            # NOTE: OpenMP workers that spin between windows took the cores from the window's serial
            # parts (gathering, the window's end) and from other processes: 4x slower than one thread
            # on a shared 2-core machine, against 1.1x faster with passive waiting (perf/RESULTS.md).
            # Read once, when Numba first starts its OpenMP threads; a user's own setting wins.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self.net = make_net(prepared)
        self.state = make_state(prepared, self.net, self.threads, window)
        self._buf = K.Buffers(heap=np.empty(1024, K.HEAP), out=np.empty(1024, K.SPIKE), grp=np.empty(64, K.GROUP),
                              times=np.empty(64, K.WTIME), time_E=np.empty(64), ent=np.empty(1024, np.int64),
                              ent_w=np.empty(1024), side=np.empty(64, K.SIDE),
                              cal=calendar_for(prepared, self.net, self.state))
        self._growing = window_spike_bound(prepared, int(self.state.ctl[0]["window"])) is None
        self._lost = None  # why the state can no longer be simulated, if it cannot

    @property
    def now_tick(self) -> int:
        """Simulated time reached, in ticks (events before it have been processed)."""
        return int(self.state.ctl[0]["now"])

    def advance(self, stop_tick: int, progress=None, chunk_seconds: float = 0.25) -> None:
        """Process every event before ``stop_tick``.

        The compiled loop is called in chunks of whole windows of about ``chunk_seconds`` of wall
        time (one call when nothing needs the chunks); results do not depend on the chunking.

        Parameters
        ----------
        stop_tick : int
            Simulated time to reach, in ticks.
        progress : callable, optional
            Called as ``progress(now_tick)`` after each chunk; an exception it raises (e.g.
            ``KeyboardInterrupt``) stops the run there, with ``now_tick`` the time simulated.
        chunk_seconds : float
            Wall time aimed at per compiled call.

        Raises
        ------
        MemoryError
            If memory runs out (one window's spikes, the recorded spikes or the queue). Where the
            call started from a snapshot, the state is left at the last chunk; otherwise it is
            lost and later calls raise ``RuntimeError``.
        """
        stop_tick = int(stop_tick)
        if progress is None and not self._growing:
            self._call(stop_tick)
            return
        window = int(self.state.ctl[0]["window"])
        chunk = window
        while self.now_tick < stop_tick:
            t0 = time.perf_counter()
            self._call(min(stop_tick, self.now_tick + chunk))
            elapsed = time.perf_counter() - t0
            if progress is not None:
                progress(self.now_tick)
            scale = 2.0 if elapsed < 1e-3 else min(4.0, max(0.25, chunk_seconds / elapsed))
            chunk = max(window, int(chunk * scale))

    def _call(self, stop_tick: int) -> None:
        """One compiled call; when the window buffer can overflow, from a snapshot that lets a window
        that overflowed it be simulated again with a larger buffer (same results: same state)."""
        if self._lost is not None:
            raise RuntimeError(self._lost)
        saved = self._snapshot() if self._growing else None
        if self.threads > 1:
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        while True:
            try:
                self._buf = K.advance(self.net, self.state, self._buf, np.int64(stop_tick))
            except MemoryError:
                self._out_of_memory(saved)
            ctl = self.state.ctl[0]
            if ctl["runaway"] and not ctl["overflow"]:
                error = runaway_error(self.prepared, int(ctl["runaway"]) - 1, int(ctl["runaway_tick"]),
                                      float(ctl["runaway_frac"]))
                self._lost = f"the simulation stopped: {error}"
                raise error
            if not ctl["overflow"]:
                return
            need = int(ctl["win_n"])
            if saved is None:
                self._lost = "the simulation state was lost (internal error: window buffer overflow)"
                raise RuntimeError(f"internal error: {need} spikes in one window exceed the bound "
                                   f"{self.state.win.size} of window_spike_bound; the state is no longer valid")
            self._restore(saved)
            self._grow_window_buffer(need)

    def _out_of_memory(self, saved) -> None:
        """Raise a MemoryError saying what ran out and what state is left."""
        ctl = self.state.ctl[0]
        what = (f"out of memory while simulating ({int(ctl['out_n'])} recorded spikes, {int(ctl['heap_n'])} "
                "queued spike groups): record fewer neurons or run shorter")
        if saved is not None:
            self._restore(saved)
            raise MemoryError(f"{what}; the simulation stopped at {ticks_to_ms(self.now_tick):g} ms") from None
        self._lost = f"the simulation state was lost when memory ran out at {ticks_to_ms(self.now_tick):g} ms"
        raise MemoryError(f"{what}; {self._lost}") from None

    def _snapshot(self) -> dict:
        """Copies of everything a compiled call changes in place (append-only outputs excepted)."""
        st = self.state
        arrays = {k: getattr(st, k).copy() for k in ("ctl", "nrn", "gen", "stream", "voltages", "wake", "block_min",
                                                      "class_E", "class_stamp", "bcnt", "bpos")}
        arrays["heap"] = self._buf.heap[: int(st.ctl[0]["heap_n"])].copy()
        arrays["cal"] = Calendar(*(a.copy() for a in self._buf.cal))
        return arrays

    def _restore(self, saved: dict) -> None:
        for k, a in saved.items():
            if k == "heap":
                self._buf.heap[: a.size] = a
            elif k == "cal":  # copies again: the saved state may be restored more than once
                self._buf = self._buf._replace(cal=Calendar(*(x.copy() for x in a)))
            else:
                getattr(self.state, k)[...] = a

    def _grow_window_buffer(self, need: int) -> None:
        size = max(2 * self.state.win.size, need + need // 2)
        try:
            win = spike_buffer(size)
        except MemoryError:
            raise MemoryError(
                f"one window of {self.state.ctl[0]['window'] * TICK_MS:g} ms holds more than {need} spikes and "
                f"a buffer for {size} ({size * K.SPIKE.itemsize / 2**30:.3g} GiB) cannot be allocated; the "
                f"simulation stopped at {ticks_to_ms(self.now_tick):g} ms") from None
        self.state = self.state._replace(win=win)

    def spikes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recorded spikes so far: (ids int64, ticks int64, fracs float64), sorted by time then id
        (the loop keeps them so: :func:`eventsim.engine.loop.time_order`; checked in O(n))."""
        n = int(self.state.ctl[0]["out_n"])
        rec = self._buf.out[:n]
        ids, ticks, fracs = rec["id"].copy(), rec["tick"].copy(), rec["frac"].copy()
        if not in_time_order(ids, ticks, fracs):
            order = np.lexsort((ids, fracs, ticks))
            ids, ticks, fracs = ids[order], ticks[order], fracs[order]
        return ids, ticks, fracs

    @property
    def voltages(self) -> np.ndarray:
        """Sampled membrane potentials in mV, by sample slot (NaN until sampled)."""
        return self.state.voltages

    @property
    def counters(self) -> dict:
        """Event counters (see :data:`COUNTER_NAMES`)."""
        ctl = self.state.ctl[0]
        return {k: int(ctl[k]) for k in COUNTER_NAMES}

    @property
    def phase_cycles(self) -> dict:
        """Cycles spent so far in each phase of the compiled loop (:data:`PHASE_NAMES`) and in the whole
        loop (``total``), read from the processor's cycle counter (:mod:`eventsim.engine.cycles`)."""
        ctl = self.state.ctl[0]
        return {k: int(ctl[f"cyc_{k}"]) for k in (*PHASE_NAMES, "total")}

    def activity_now(self) -> tuple:
        """``(phase, activity)``: what the compiled loop is doing at this instant (CTL fields
        ``phase_now`` and ``activity``; :mod:`eventsim.engine.cycles`). Safe to call from another
        thread while the loop runs (it releases the GIL): two aligned 8-byte reads."""
        ctl = self.state.ctl
        return int(ctl["phase_now"][0]), int(ctl["activity"][0])

    def activities_now(self) -> list:
        """What each thread of the compiled loop is doing at this instant: ``[(phase, activity)]``,
        the run's own pair (:meth:`activity_now`), or while a window is worked in parts on threads
        (activity ``parts``) one pair per part, read from the parts' own CTL records (a part done
        with its share of the window shows ``idle``). Safe to call from another thread."""
        own = self.activity_now()
        if own[1] != ACT_PARTS:
            return [own]
        ctls = self.state.ctls
        return list(zip(ctls["phase_now"].tolist(), ctls["activity"].tolist()))

    def queue_bytes(self) -> int:
        """Bytes held by the spike-group heap, the calendar of delivery runs and the window's item and
        entry tables."""
        b = self._buf
        return int(b.heap.nbytes + calendar_bytes(b.cal) + b.grp.nbytes + b.times.nbytes + b.time_E.nbytes
                   + b.ent.nbytes + b.ent_w.nbytes)


class PartEngine(NumbaEngine):
    """The compiled engine over a distributed run's part (``Network.prepare(part=...)``), stepped
    one window at a time by :func:`eventsim.distributed.run_parts` in lockstep with the other parts.

    A window's spikes are handed out with global ids (:meth:`work`) instead of being queued; every
    part then queues the spikes of all parts (:meth:`queue`). Which windows are worked, their
    length, the frame's rebase test and the delivery mode are decided from the whole network's
    figures by the driver, never from this part's data alone (docs/distributed.md).

    Parameters
    ----------
    prepared : Prepared
        The part.
    threads : int
        As for :class:`NumbaEngine`.
    window : int
        The whole network's window length, ticks.
    """

    def __init__(self, prepared: Prepared, threads: int, window: int):
        super().__init__(prepared, threads=threads, window=window)
        self.lo = prepared.lo

    @property
    def max_q(self) -> float:
        """The largest ``tick / tau_m`` of this part's neurons (the rebase test needs the whole's)."""
        return float(self.net.cls_q.max())

    def compile(self) -> None:
        """Compile the kernels a part runs (or load them from Numba's cache), simulating nothing."""
        # NOTE: machine code loaded from the cache that holds parallel loops needs Numba's threading
        # layer started first ("LLVM ERROR: Symbol not found: allocate_sched" otherwise); a call
        # starts it, an explicit compile does not, get_num_threads does
        numba.get_num_threads()
        none = self.state.win[:0]
        for kernel, args in ((loop.part_next, (self.net, self.state, self._buf)),
                             (loop.part_window, (self.net, self.state, self._buf, np.int64(0), np.float64(0.0))),
                             (loop.part_queue, (self.net, self.state, self._buf, none, np.int64(0), np.int64(0)))):
            kernel.compile(tuple(numba.typeof(a) for a in args))

    def next_tick(self) -> int:
        """The earliest tick at which this part may act (``now`` while spikes wait to be handed out)."""
        tick, self._buf = loop.part_next(self.net, self.state, self._buf)
        return int(tick)

    def pending_tick(self) -> int:
        """After :meth:`work` up to a window's start and before its spikes are queued: the earliest
        tick at which this part may act, not counting those spikes' deliveries, or -1 if unknown
        (:func:`eventsim.engine.loop.part_pending`)."""
        return int(self.state.ctl[0]["pending"])

    def skip_to(self, tick: int) -> None:
        """Move to ``tick``: every part is idle before it."""
        self.state.ctl[0]["now"] = tick

    def set_direct(self, direct: bool) -> None:
        """Deliver the next window directly or through buckets (the whole network's choice)."""
        self.state.ctl[0]["direct"] = int(direct)

    def work(self, t_end: int, max_q: float):
        """Simulate up to ``t_end`` (within one window); returns ``(spikes, runaway, syn_events)``:
        the window's spikes (K.SPIKE, global ids, in emission order), ``(tick, frac, global id)`` of a
        neuron that would fire without end (None if none; its spikes are then not handed out) and
        the window's synaptic deliveries. A window that overflows the window buffer is simulated
        again from a snapshot with a larger one (same results)."""
        if self._lost is not None:
            raise RuntimeError(self._lost)
        if self.threads > 1:
            numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))
        ctl = self.state.ctl
        saved = self._snapshot() if self._growing else None
        syn_before = int(ctl[0]["syn_events"])
        while True:
            self._buf = loop.part_window(self.net, self.state, self._buf, np.int64(t_end), np.float64(max_q))
            if not ctl[0]["overflow"]:
                break
            need = int(ctl[0]["win_n"])
            if saved is None:
                self._lost = "the simulation state was lost (internal error: window buffer overflow)"
                raise RuntimeError(f"internal error: {need} spikes in one window exceed the bound "
                                   f"{self.state.win.size} of window_spike_bound")
            waiting = self.state.win[: int(saved["ctl"][0]["win_n"])].copy()  # the start's spikes
            self._restore(saved)
            self._grow_window_buffer(need)
            self.state.win[: waiting.size] = waiting
        if ctl[0]["runaway"]:
            c = ctl[0]
            return None, (int(c["runaway_tick"]), float(c["runaway_frac"]), int(c["runaway"]) - 1 + self.lo), 0
        spikes = self.state.win[: int(ctl[0]["win_n"])].copy()
        spikes["id"] += self.lo
        return spikes, None, int(ctl[0]["syn_events"]) - syn_before

    def queue(self, spikes: np.ndarray, t_end: int) -> None:
        """Queue the window's spikes of every part (global ids) and move to ``t_end``."""
        self._buf = loop.part_queue(self.net, self.state, self._buf, spikes, np.int64(self.lo), np.int64(t_end))

    def runaway_error(self, tick: int, frac: float, gid: int):
        """The single-process error for global neuron ``gid`` firing without end at ``(tick, frac)``."""
        return runaway_error(self.prepared, gid, tick, frac)

    @property
    def voltage_slots(self) -> np.ndarray:
        """The whole network's sample slots of :attr:`voltages` (which is indexed 0 ..)."""
        return np.sort(self.prepared.vs_slot)
