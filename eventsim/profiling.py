"""Where the time of a run goes: build, compile, simulate, events of each kind, memory.

:func:`timed_run` runs a :class:`~eventsim.network.Network` in three timed phases (``eventsim run``
uses it); :func:`profile` (or :func:`profile_of` a finished run) adds sizes, counters and peak
memory and returns a flat dict that :func:`format_profile` prints as a table (``eventsim
profile``; perf/ scripts reuse both).

Two views of the simulation's time: the compiled loop's cycles per phase (:func:`phase_table`,
always counted), and what the loop was doing, sampled every millisecond by an
:class:`ActivitySampler` thread while it runs (``timed_run(..., sample=True)``,
:func:`activity_table`): deliveries, Poisson arrivals, threshold crossings, per phase. The work
within a phase is too fine-grained to time (tens of ns per arrival), so it is sampled instead.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

__all__ = ["RunRecord", "timed_run", "profile", "profile_of", "format_profile", "peak_rss_bytes", "ActivitySampler",
           "activity_table"]


@dataclass
class RunRecord:
    """Outcome of :func:`timed_run`: the results and the wall time of each phase (s)."""

    results: object
    build_s: float
    compile_s: float
    simulate_s: float
    interrupted: bool
    activity: Counter | None = None  # samples per (phase, activity) code (ActivitySampler), when sampled


class ActivitySampler:
    """A thread that reads what the compiled loop is doing (``engine.activities_now()``: the CTL
    fields written by :func:`eventsim.engine.cycles.mark_phase` and ``mark_activity``, the run's
    own or, while a window is worked in parts on threads, each part's) every ``interval_s``
    seconds while the loop runs; the loop releases the GIL, so the reads see it working. Use it as
    a context manager: it stops and joins its thread on leaving, exceptions and
    ``KeyboardInterrupt`` included.

    Parameters
    ----------
    engine : NumbaEngine
        The engine of the run (anything with ``activities_now() -> [(phase, activity), ...]``, one
        pair per thread at work, or ``activity_now() -> (phase, activity)``).
    interval_s : float
        Time between samples, s (default 1 ms). Samples are taken in wall time, so a share of
        samples is a share of the simulation's wall time; a sample taken while a window is worked
        in N parts on threads counts 1/N for each thread's pair (a part done before the others
        shows as ``idle``).

    Attributes
    ----------
    counts : collections.Counter
        Samples per ``(phase, activity)`` code pair (:data:`eventsim.engine.cycles.ACTIVITY_NAMES`).
    """

    def __init__(self, engine, interval_s: float = 1e-3):
        self.counts = Counter()
        self.interval_s = interval_s
        self._read = getattr(engine, "activities_now", None) or (lambda: [engine.activity_now()])
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="eventsim-activity-sampler", daemon=True)

    def _sample(self) -> None:
        read, counts, done, dt = self._read, self.counts, self._done, self.interval_s
        while not done.wait(dt):
            pairs = read()
            for pair in pairs:
                counts[pair] += 1 / len(pairs)

    def __enter__(self) -> "ActivitySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sampling and join the thread (at most one interval)."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()


def timed_run(net, duration: float, progress=None, on_phase=None, sample: bool = False) -> RunRecord:
    """Prepare, compile and simulate ``net`` for ``duration`` ms, timing each phase.

    Parameters
    ----------
    net : Network
        A network that has not run yet.
    duration : float
        Simulated time, ms.
    progress : callable, optional
        ``progress(t_ms)``, called between chunks of the compiled loop; raising
        ``KeyboardInterrupt`` in it stops the run cleanly at that point.
    on_phase : callable, optional
        ``on_phase(name)``, called as each phase begins with ``"build"``, ``"compile"`` and
        ``"simulate"`` (``eventsim run`` handles signals differently before the simulation).
    sample : bool
        Sample what the compiled loop does every millisecond during the simulation
        (:class:`ActivitySampler`; ``RunRecord.activity``). Default False; an engine without
        ``activity_now`` (the reference engine) is not sampled.

    Returns
    -------
    RunRecord
        ``build_s`` covers ``prepare`` and the engine's arrays, ``compile_s`` the first call of the
        compiled loop (JIT compilation or loading Numba's cache, simulating nothing), ``simulate_s``
        the run itself. A ``KeyboardInterrupt`` during the run is caught: ``interrupted`` is True and
        the results hold what was simulated until then.
    """
    phase = on_phase or (lambda name: None)
    phase("build")
    t0 = time.perf_counter()
    net.prepare()
    net.engine  # noqa: B018  (packs the arrays the engine uses)
    t1 = time.perf_counter()
    phase("compile")
    net.run(0.0)
    t2 = time.perf_counter()
    phase("simulate")
    interrupted = False
    sampler = ActivitySampler(net.engine) if sample and hasattr(net.engine, "activity_now") else None
    with sampler or contextlib.nullcontext():
        try:
            net.run(duration, progress=progress)
        except KeyboardInterrupt:
            interrupted = True
    t3 = time.perf_counter()
    return RunRecord(net.results, t1 - t0, t2 - t1, t3 - t2, interrupted, sampler and sampler.counts)


def peak_rss_bytes() -> int | None:
    """Peak resident memory of this process in bytes (None where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def profile(net, duration: float, progress=None, sample: bool = True) -> dict:
    """Run ``net`` for ``duration`` ms and return where the time went (:func:`profile_of`), what the
    loop did sampled every millisecond unless ``sample`` is False."""
    return profile_of(net, timed_run(net, duration, progress, sample=sample))


def profile_of(net, rec: RunRecord) -> dict:
    """Where the time of a finished :func:`timed_run` of ``net`` went.

    Returns
    -------
    dict
        ``build_s, compile_s, simulate_s, simulated_ms, neurons, synapses, connectivity_bytes,
        bytes_per_synapse, spikes, events (syn_events + ext_events), events_per_s, ns_per_event,
        peak_rss_bytes, interrupted``, every engine counter under ``counters``, seconds per phase
        under ``phases`` (:func:`phase_table`), the share of samples per (phase, activity) under
        ``activity`` (:func:`activity_table`) and their number under ``samples`` (None when not
        sampled).
    """
    p = net.prepare()
    counters = dict(rec.results.counters)
    phases = phase_table(getattr(net.engine, "phase_cycles", None), rec.simulate_s)
    events = int(counters.get("syn_events", 0) + counters.get("ext_events", 0))
    sim = rec.simulate_s
    return dict(
        build_s=rec.build_s, compile_s=rec.compile_s, simulate_s=sim, simulated_ms=rec.results.t_stop,
        neurons=p.n_neurons, synapses=p.n_synapses, connectivity_bytes=p.connectivity_bytes(),
        bytes_per_synapse=p.connectivity_bytes() / p.n_synapses if p.n_synapses else 0.0,
        spikes=int(rec.results.spike_ids.size), events=events,
        events_per_s=events / sim if sim > 0 else 0.0,
        ns_per_event=sim * 1e9 / events if events else 0.0,
        peak_rss_bytes=peak_rss_bytes(), interrupted=rec.interrupted, counters=counters, phases=phases,
        activity=activity_table(rec.activity), samples=None if rec.activity is None else round(sum(rec.activity.values())),
    )


def activity_table(counts) -> dict:
    """Share of the samples of an :class:`ActivitySampler` per ``(phase, activity)`` name pair, largest
    first; the shares sum to 1. Phases are :data:`eventsim.engine.records.PHASE_NAMES`, ``other``
    (in the loop, between its phases) and ``outside`` (Python between the compiled calls); activities
    :data:`eventsim.engine.cycles.ACTIVITY_NAMES`. Empty without samples."""
    if not counts:
        return {}
    from eventsim.engine.cycles import ACTIVITY_NAMES, PH_LOOP, PH_OUTSIDE
    from eventsim.engine.records import PHASE_NAMES

    def phase(p):
        return {PH_LOOP: "other", PH_OUTSIDE: "outside"}.get(p) or (PHASE_NAMES[p] if 0 <= p < len(PHASE_NAMES)
                                                                   else f"phase {p}")

    def act(a):
        return ACTIVITY_NAMES[a] if 0 <= a < len(ACTIVITY_NAMES) else f"activity {a}"

    total = sum(counts.values())
    shares = Counter()
    for (p, a), n in counts.items():
        shares[phase(p), act(a)] += n / total
    return dict(shares.most_common())


def phase_table(cycles: dict | None, simulate_s: float) -> dict:
    """Seconds per phase of the compiled loop, from its cycle counts (``NumbaEngine.phase_cycles``).

    ``other`` is the loop's own bookkeeping (idle-window skips, rebases, the choice of mode) and
    ``outside`` the Python around the compiled calls (chunks, progress, snapshots): ``simulate_s``
    less the loop's time. Empty for an engine without cycle counts (the reference engine)."""
    if not cycles or cycles.get("total", 0) <= 0:
        return {}
    from eventsim.engine.cycles import cycles_per_second

    hz = cycles_per_second()
    total = cycles["total"]
    table = {k: v / hz for k, v in cycles.items() if k != "total"}
    table["other"] = max(0, total - sum(v for k, v in cycles.items() if k != "total")) / hz
    table["outside"] = max(0.0, simulate_s - total / hz)
    return table


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def format_profile(d: dict) -> str:
    """The dict of :func:`profile` as an aligned two-column table."""
    rows = [("phase", ""), ("  build_s", d["build_s"]), ("  compile_s", d["compile_s"]),
            ("  simulate_s", d["simulate_s"]), ("size", ""), ("  simulated_ms", d["simulated_ms"]),
            ("  neurons", d["neurons"]), ("  synapses", d["synapses"]),
            ("  connectivity_bytes", d["connectivity_bytes"]), ("  bytes_per_synapse", d["bytes_per_synapse"]),
            ("events by kind", "")]
    rows += [(f"  {k}", v) for k, v in d["counters"].items()]
    rows += [("throughput", ""), ("  spikes", d["spikes"]), ("  events (syn + ext)", d["events"]),
             ("  events_per_s", d["events_per_s"]), ("  ns_per_event", d["ns_per_event"]),
             ("memory", ""), ("  peak_rss_MiB", None if d["peak_rss_bytes"] is None else d["peak_rss_bytes"] / 2**20)]
    phases = d.get("phases") or {}
    if phases:
        events = d["events"]
        rows.append(("time by phase (s, ns/event)", ""))
        rows += [(f"  {k}", f"{v:.4g}  {v * 1e9 / events if events else 0.0:6.1f}") for k, v in phases.items()]
    activity = d.get("activity") or {}
    if d.get("samples") is not None:  # sampled (an empty table: the run was shorter than one interval)
        by_act = Counter()
        for (_, a), v in activity.items():
            by_act[a] += v
        rows.append((f"time by activity (% of {d['samples']:,} samples)", ""))
        rows += [(f"  {a}", f"{100 * v:.1f}") for a, v in by_act.most_common()]
        rows.append(("  by phase", ""))
        rows += [(f"    {p}: {a}", f"{100 * v:.1f}") for (p, a), v in activity.items() if v >= 5e-4]
    if d.get("interrupted"):
        rows.append(("interrupted", True))
    width = max(len(k) for k, _ in rows) + 2
    return "\n".join(k if v == "" else f"{k:<{width}}{_fmt(v):>16}" for k, v in rows)
