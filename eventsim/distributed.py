"""Distributed runs without MPI: a rank's part of a network, parts simulated in lockstep windows,
and an in-process driver (issue 11; design in docs/distributed.md).

Interface (the MPI side, ``eventsim.mpi``, codes against it)::

    partition(n_neurons, size) -> list[(lo, hi)]        contiguous blocks in rank order
    Comm (protocol): rank, size, allreduce(value, op), exchange(spikes, status, total, least),
                     gather(obj, root), allgather(obj)
    SelfComm()                                          one process: size 1, identity
    run_parts(network, duration_ms, parts, comm, *, threads=1, progress=None) -> PartRun
    merge(part_runs: list[PartRun]) -> Results          one Results exactly as a 1-process run

In-process K-part runs: ``run_parts(net, T, partition(N, K), SelfComm())``; under MPI each rank calls
``run_parts(net, T, [partition(N, size)[rank]], comm)`` and rank 0 merges what ``comm.gather`` brings.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol

import numpy as np

from eventsim.distributions import describe
from eventsim.errors import ValidationError
from eventsim.recording import Results, VoltageTrace
from eventsim.timebase import MAX_MS, ms_to_ticks, ticks_to_ms, time_to_ms

__all__ = ["partition", "Comm", "SelfComm", "PartRun", "PartFigures", "run_parts", "merge"]


def partition(n_neurons: int, size: int) -> list[tuple[int, int]]:
    """Contiguous blocks ``[lo, hi)`` of global neuron ids, one per part, in rank order.

    Part ``k`` of ``size`` gets ``[floor(k N / size), floor((k + 1) N / size))``.

    Raises
    ------
    ValidationError
        ``size`` not an integer >= 1, or more parts than neurons (the message names both counts).
    """
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ValidationError("parts", f"must be an integer >= 1, got {describe(size)}")
    n, size = int(n_neurons), int(size)
    if size > n:
        raise ValidationError("parts", f"{size} parts for a network of {n} neurons: at most one part per neuron "
                                       f"(use at most {n} processes)")
    return [(k * n // size, (k + 1) * n // size) for k in range(size)]


class Comm(Protocol):
    """What the per-rank engine needs from a communicator (``SelfComm`` in one process, an mpi4py
    wrapper under MPI). Every process calls every method the same number of times, in the same order."""

    rank: int
    size: int

    def allreduce(self, value, op: str):
        """``op`` in ``{"min", "max", "sum"}`` over processes of an int or float scalar."""

    def exchange(self, spikes: np.ndarray, status: int, total: int, least: int) -> tuple[np.ndarray, int, int, int]:
        """``spikes``: ``kernels.SPIKE`` records (id = global neuron id, tick, frac) of this process's
        parts for one window; returns every process's spikes concatenated in rank order, ``max(status)``,
        ``sum(total)`` and ``min(least)`` over processes (int64 figures that travel with the spike
        counts: no collective of their own)."""

    def gather(self, obj, root: int = 0) -> list | None:
        """Small Python objects of every process, in rank order, on ``root`` (None elsewhere)."""

    def allgather(self, obj) -> list:
        """Small Python objects of every process, in rank order, on every process."""


class SelfComm:
    """The one-process communicator: rank 0 of 1; every collective is the identity."""

    rank = 0
    size = 1

    def allreduce(self, value, op: str):
        if op not in ("min", "max", "sum"):
            raise ValueError(f"allreduce: op must be 'min', 'max' or 'sum', got {op!r}")
        return value

    def exchange(self, spikes: np.ndarray, status: int, total: int, least: int) -> tuple[np.ndarray, int, int, int]:
        return spikes, int(status), int(total), int(least)

    def gather(self, obj, root: int = 0) -> list | None:
        return [obj]

    def allgather(self, obj) -> list:
        return [obj]


@dataclass
class PartFigures:
    """Figures of one part of a run (picklable, small)."""

    lo: int
    hi: int
    n_neurons: int
    n_synapses: int
    events: int  # synaptic and external events processed
    wall_s: float  # wall time of the simulation (after build and compile), s (parts of one process share it)
    comm_s: float  # of which the process waited in comm.exchange / comm.allreduce, s
    peak_rss_bytes: int  # the process's peak resident set size

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class PartRun:
    """This process's results of :func:`run_parts` (picklable, sent through ``comm.gather``).

    ``spike_ids`` (global), ``spike_ticks``, ``spike_fracs``: the recorded spikes of its parts;
    ``voltage_slots``, ``voltage_values``: the voltage samples its parts own (the whole network's
    slot numbering, mV); ``recorded``: ``(lo, bool mask)`` per part; ``counters``: summed over its parts.
    """

    spike_ids: np.ndarray
    spike_ticks: np.ndarray
    spike_fracs: np.ndarray
    voltage_slots: np.ndarray
    voltage_values: np.ndarray
    t_stop_tick: int
    counters: dict
    figures: list = field(default_factory=list)  # PartFigures per part
    recorded: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # pop_names, pop_start, voltage recorders (name, ids, times)
    interrupted: bool = False  # a stop request ended the run before duration_ms


class _TimedComm:
    """``comm`` with the wall time spent in its collectives added up (``waited``, s)."""

    def __init__(self, comm: Comm):
        self.comm = comm
        self.waited = 0.0

    def __getattr__(self, name):
        method = getattr(self.comm, name)

        def timed(*args, **kw):
            t0 = time.perf_counter()
            try:
                return method(*args, **kw)
            finally:
                self.waited += time.perf_counter() - t0

        return timed


def _check_parts(network, parts) -> list[tuple[int, int]]:
    """``parts`` as a list of ``(lo, hi)`` with ``lo < hi`` each, consecutive ones adjacent."""
    if not isinstance(parts, (list, tuple)) or not parts:
        raise ValidationError("parts", f"expected a non-empty list of (lo, hi) ranges, got {describe(parts)}")
    checked = [network._check_part(pt) for pt in parts]
    for (_, hi), (lo, _) in zip(checked, checked[1:]):
        if lo != hi:
            raise ValidationError("parts", f"the parts of one process must be adjacent ranges in order, got {parts}")
    return checked


def _window(preps, comm, engine_mod) -> int:
    """The whole network's window length (ticks) from the figures of every part."""
    never = np.iinfo(np.int64).max
    local_d = [p.min_delay for p in preps if p.min_delay > 0]
    d_min = comm.allreduce(min(local_d, default=never), "min")
    tau_min = comm.allreduce(min(engine_mod.frame_tau_min(p) for p in preps), "min")
    rates = [engine_mod.exact_autonomous_rate(p) for p in preps]
    rate = sum(comm.allgather(sum(rates, Fraction(0)) if all(isinstance(r, Fraction) for r in rates) else np.inf))
    n = int(preps[0].pop_start[-1])  # the whole network's neurons
    return engine_mod.window_from(0 if d_min == never else int(d_min), float(rate), float(tau_min), n)


def _peak_rss() -> int:
    """This process's peak resident set size, bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


STATUS_RUNAWAY = 1
"""Exchange status bit: a part found a neuron that would fire without end (every process raises)."""
STATUS_STOP = 2
"""Exchange status bit: a process was asked to stop (its progress callback raised KeyboardInterrupt)."""


def run_parts(network, duration_ms: float, parts: list[tuple[int, int]], comm: Comm, *, threads: int = 1,
              progress=None, on_phase=None, agree=None) -> PartRun:
    """Build only ``parts`` of ``network`` and simulate them in lockstep for ``duration_ms`` ms,
    exchanging each window's spikes through ``comm``. Returns this process's results and figures.

    Every process of ``comm`` calls this with the same network and duration and its own parts;
    the parts of all processes, in rank order, must be a partition of the neurons into adjacent
    ranges (:func:`partition`). Spikes and voltages are bit-identical to a one-process run for any
    partition and thread count.

    Parameters
    ----------
    network : eventsim.Network
        The description (never prepared whole here); engine ``numba``.
    duration_ms : float
        ms from t = 0, >= 0.
    parts : list of (int, int)
        This process's ranges of global ids, adjacent and in order.
    comm : Comm
        :class:`SelfComm` for one process.
    threads : int
        Threads of each part's engine.
    progress : callable, optional
        ``progress(t_ms)`` about every 0.25 s of wall time. Raising ``KeyboardInterrupt`` in it on
        any process stops every process after the same window (the next exchange tells them); the
        result is then marked ``interrupted``.
    on_phase : callable, optional
        ``on_phase(name)`` as the phases ``"build"``, ``"compile"`` and ``"simulate"`` begin.
    agree : callable, optional
        ``agree(step)`` runs ``step()`` (building the parts) and makes a failure of some processes
        fail all of them alike (collective); default: run it, errors raised where they happen.

    Raises
    ------
    ValidationError
        Bad parts or duration, the reference engine, or a neuron firing without end (on every
        process, as a one-process run).
    """
    from eventsim.engine import numba_engine as E
    from eventsim.network import check_threads

    t_start = time.perf_counter()
    if network.engine_name != "numba":
        raise ValidationError("engine", f"a distributed run needs the numba engine, got {network.engine_name!r}")
    parts = _check_parts(network, parts)
    threads = check_threads(threads, "threads")
    if not isinstance(duration_ms, (int, float, np.floating, np.integer)) or not 0 <= duration_ms <= MAX_MS:
        raise ValidationError("run.duration", f"must be a finite number of ms in [0, {MAX_MS:g}], got "
                                              f"{describe(duration_ms)}")
    phase = on_phase or (lambda name: None)
    timed = _TimedComm(comm)
    phase("build")
    preps = (agree or (lambda step: step()))(lambda: [network.prepare(part=pt) for pt in parts])
    window = _window(preps, timed, E)
    engines = [E.PartEngine(p, threads, window) for p in preps]
    max_q = timed.allreduce(max(e.max_q for e in engines), "max")
    phase("compile")
    for e in engines:
        e.compile()
    phase("simulate")
    t_sim, timed.waited = time.perf_counter(), 0.0  # figures of the simulation, not of the build
    always_direct = network.n_neurons <= E.DIRECT_MAX_NEURONS
    now, interrupted = _lockstep(engines, timed, window, max_q, always_direct,
                                 int(ms_to_ticks(np.float64(duration_ms))), progress, E.DIRECT_MAX_ENTRIES)
    run = _part_run(network, engines, now, time.perf_counter() - t_sim, timed.waited)
    run.interrupted = interrupted
    return run


def _lockstep(engines, comm, W: int, max_q: float, always_direct: bool, stop: int, progress,
              max_entries) -> tuple[int, bool]:
    """Work every window up to ``stop`` on every part exactly as a one-process run works them;
    returns the tick reached and whether a stop request ended the run there. Windows are skipped
    only when every part of every process is idle in them (the minimum over processes of each
    part's next possible event).

    A busy window costs two collectives, the exchange's: the figures that decide the next window
    travel with the spike counts (the synaptic inputs, for the delivery mode; each process's next
    event before the exchanged spikes are queued). When that next event falls in the next window,
    or no spike was exchanged, it is the exact answer of the idle test there, and the test's own
    ``allreduce`` is spared (docs/distributed.md, "Lockstep")."""
    never = np.iinfo(np.int64).max
    now = engines[0].now_tick
    last = time.perf_counter()
    stopping = False  # this process was asked to stop: say so at the next exchange
    known = None  # the whole network's next possible event at `now`, when the last exchange told it
    while now < stop:
        if now % W == 0:
            nxt = known if known is not None else comm.allreduce(min(e.next_tick() for e in engines), "min")
            if nxt >= now + W:
                now = min(nxt // W * W, stop)
                for e in engines:
                    e.skip_to(now)
                    e.set_direct(True)  # as after a window without inputs
                known = None
                continue
        known = None
        t_end = min((now // W + 1) * W, stop)
        done = [e.work(t_end, max_q) for e in engines]
        runaways = [r for _, r, _ in done if r is not None]
        spikes = np.concatenate([s for s, _, _ in done if s is not None] or [np.zeros(0, engines[0].state.win.dtype)])
        at_start = t_end % W == 0 and not runaways  # t_end starts a window: its idle test comes next
        pending = min(e.pending_tick() for e in engines) if at_start else never
        status = (STATUS_RUNAWAY if runaways else 0) | (STATUS_STOP if stopping else 0)
        spikes, status, syn, pending = comm.exchange(spikes, status, sum(s for _, _, s in done), pending)
        if status & STATUS_RUNAWAY:
            tick, frac, gid = min(r for rs in comm.allgather(runaways) for r in rs)
            raise engines[0].runaway_error(tick, frac, gid)
        for e in engines:
            e.queue(spikes, t_end)
        if not always_direct:
            for e in engines:
                e.set_direct(syn <= max_entries)
        if at_start and pending >= 0 and (pending < t_end + W or spikes.size == 0):
            known = pending  # exact: some part acts in the next window, or no spike adds an event
        now = t_end
        if status & STATUS_STOP:
            return now, now < stop
        if progress is not None and not stopping and time.perf_counter() - last > 0.25:
            try:
                progress(ticks_to_ms(now))
            except KeyboardInterrupt:
                stopping = True
            last = time.perf_counter()
    return now, False


def _part_run(network, engines, now: int, wall_s: float, comm_s: float) -> PartRun:
    """This process's :class:`PartRun` from its finished part engines."""
    spikes = [e.spikes() for e in engines]
    counters = {}
    for e in engines:
        for k, v in e.counters.items():
            counters[k] = counters.get(k, 0) + v
    rss = _peak_rss()
    figures = []
    for e in engines:
        p, c = e.prepared, e.counters
        figures.append(PartFigures(lo=p.part[0], hi=p.part[1], n_neurons=p.n_neurons, n_synapses=p.n_synapses,
                                   events=c["syn_events"] + c["ext_events"], wall_s=wall_s, comm_s=comm_s,
                                   peak_rss_bytes=rss))
    p0 = engines[0].prepared
    return PartRun(spike_ids=np.concatenate([s[0] for s in spikes]),
                   spike_ticks=np.concatenate([s[1] for s in spikes]),
                   spike_fracs=np.concatenate([s[2] for s in spikes]),
                   voltage_slots=np.concatenate([e.voltage_slots for e in engines]),
                   voltage_values=np.concatenate([e.voltages for e in engines]),
                   t_stop_tick=int(now), counters=counters, figures=figures,
                   recorded=[(e.prepared.lo, e.prepared.record_spikes.copy()) for e in engines],
                   meta=dict(pop_names=p0.pop_names, pop_start=p0.pop_start.copy(),
                             recorders=[(name, ids, t) for name, ids, t in network._voltage_recorders]))


def merge(part_runs: list[PartRun]) -> Results:
    """One :class:`~eventsim.recording.Results` from every process's :class:`PartRun`, exactly as a
    one-process run gives: spikes sorted by time then id, voltages by recorder, ``counters`` summed
    over parts (``windows``: every part works the same ones, counted once; ``heap_pushes``,
    ``heap_peak`` and ``direct_windows`` are the parts' own and differ from a one-process run's)."""
    if not part_runs:
        raise ValidationError("merge", "expected the results of at least one process")
    ids = np.concatenate([r.spike_ids for r in part_runs])
    ticks = np.concatenate([r.spike_ticks for r in part_runs])
    fracs = np.concatenate([r.spike_fracs for r in part_runs])
    order = np.lexsort((ids, fracs, ticks))
    meta = part_runs[0].meta
    recorded = np.zeros(int(meta["pop_start"][-1]), np.bool_)
    for r in part_runs:
        for lo, mask in r.recorded:
            recorded[lo : lo + mask.size] = mask
    n_slots = sum(r.voltage_slots.size for r in part_runs)
    volts = np.full(n_slots, np.nan)
    for r in part_runs:
        volts[r.voltage_slots] = r.voltage_values
    traces, offset = {}, 0
    for name, rid, t in meta["recorders"]:
        size = rid.size * t.size
        traces[name] = VoltageTrace(name, rid, t, volts[offset : offset + size].reshape(rid.size, t.size).copy())
        offset += size
    counters = {}
    for r in part_runs:
        for k, v in r.counters.items():
            counters[k] = counters.get(k, 0) + v
    n_parts = sum(len(r.figures) for r in part_runs)
    if "windows" in counters:
        counters["windows"] //= n_parts
    return Results(spike_ids=ids[order], spike_times=time_to_ms(ticks[order], fracs[order]),
                   t_stop=ticks_to_ms(part_runs[0].t_stop_tick), pop_names=meta["pop_names"],
                   pop_start=meta["pop_start"], recorded=recorded, voltages=traces, counters=counters)
