#!/usr/bin/env python3
"""How fast does eventsim build and simulate one of its bundled networks, at a given size, on this machine?

    python perf/bench.py --model brunel --scale 1 --duration 1000
    python perf/bench.py --model benchmark4 --scale 1 --duration 10000 --repeat 3 --json
    python perf/bench.py --model sparse --scale 1 --duration 100       # 1e6 neurons, 1e8 synapses
    python perf/bench.py --model brunel --neuron qif --scale 0.5 --duration 300

Models:

``brunel``
    scenarios/brunel_delta.toml: 10,000 + 2,500 neurons times ``--scale``; fixed in-degrees
    (CE = 1000, CI = 250) are kept, so synapses grow linearly with the scale (15.6 M at scale 1).
``brunel_delays``
    scenarios/brunel_delays.toml: ``brunel`` with per-synapse delays uniform in [1, 2] ms (the
    calendar of delivery runs), sizes and in-degrees as ``brunel``.
``benchmark4``
    scenarios/benchmark4.toml: 3,200 + 800 neurons times ``--scale``; the connection probability
    p = 0.02 is kept (as the peers in perf/peers/ do), so synapses grow with the *square* of the
    scale (~320 k at scale 1, ~1.3 M at scale 2) and the in-degree grows linearly.
``brunel_psc_exp``
    scenarios/brunel_psc_exp.toml: 400 + 100 ``lif_psc_exp`` neurons times ``--scale``, fixed
    in-degrees (CE = 40, CI = 10) kept; ``--engine reference`` until the compiled engine runs the model.
``sparse``
    A large sparse network (not a bundled scenario): ``1,000,000 x --scale`` neurons of one
    population with Brunel's neuron parameters, fixed in-degree 100 from the population onto
    itself (inhibitory, -0.5 mV, delay 1.5 ms: Brunel & Hakim's purely inhibitory network) and
    Brunel's Poisson drive (20 kHz of 0.1 mV per neuron). At scale 1: 1e8 synapses.

``--neuron`` (``brunel`` only) swaps the neuron model of both populations, all else equal:
``lif`` (default: the scenario itself), ``adaptive`` (``lif`` with ``delta_theta = 1`` mV,
``tau_theta = 100`` ms: the compiled engine's generic path), ``qif`` (``E_L = 0``, ``V_c = 20``,
``V_peak = 30``, ``V_reset = 10`` mV, the other parameters Brunel's) or ``psc_exp`` (``lif_psc_exp``,
``tau_syn_ex = tau_syn_in = 0.5`` ms, each weight the current that carries the delta weight's charge:
``w C_m / tau_syn`` pA, 50 and -250 pA). It answers what one event costs on the generic path beside
plain LIF's frame.

Phases, each timed on its own (:func:`eventsim.profiling.timed_run`):
``build_s`` reading the scenario, describing and preparing the network (connectivity, state, the
engine's arrays); ``compile_s`` the first call of the compiled loop in this process, which
simulates nothing: Numba's JIT compilation, or loading its on-disk cache (``--cold-cache`` points
Numba at an empty cache folder to measure a true first start); ``sim_s`` the simulation itself;
``sim_cpu_s`` the process CPU seconds it took (``time.process_time``, every thread's: less
sensitive to other load than ``sim_s``; perf/ab.py ``--cpu`` compares it).

``--repeat N`` (N > 1) first makes one warm-up run (a fresh network simulated for
min(duration, 100) ms, not reported), then N runs, each on a freshly built network with the same
seed (the same network and the same spikes); it prints min / median / max of ``sim_s`` and the
JSON line carries the medians of every time. ``peak_rss_mb`` is the peak of the whole process.

Output: one JSON line on stdout with ``model, scale, neurons, synapses, simulated_ms, build_s,
compile_s, sim_s, sim_cpu_s, spikes, rate_hz, syn_events, ext_events, events_per_s, ns_per_event,
bytes_per_synapse, peak_rss_mb, engine, seed, machine, date, command, versions`` (and a few more, e.g.
``cv_isi``, the mean CV of the inter-spike intervals as perf/peers/common.py computes it, and
``phase_ns_per_event``: where the time went, eventsim.profiling.phase_table);
without ``--json`` a readable table is printed first. ``events_per_s = (syn_events + ext_events) /
sim_s`` where ``syn_events`` counts synaptic deliveries and ``ext_events`` external (Poisson)
arrivals, as the engine's counters report them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from peers.common import cv_isi  # noqa: E402  (one definition of the CV for eventsim and the peers)

SCENARIOS = _common.ROOT / "scenarios"
MODELS = {  # model -> (scenario file, base population sizes); sparse is built in sparse_network()
    "brunel": (SCENARIOS / "brunel_delta.toml", {"exc": 10000, "inh": 2500}),
    "brunel_delays": (SCENARIOS / "brunel_delays.toml", {"exc": 10000, "inh": 2500}),
    "benchmark4": (SCENARIOS / "benchmark4.toml", {"exc": 3200, "inh": 800}),
    "brunel_psc_exp": (SCENARIOS / "brunel_psc_exp.toml", {"exc": 400, "inh": 100}),
    "sparse": (None, {"all": 1_000_000}),
}
SPARSE_SEED = 1
SPARSE_INDEGREE = 100
WARMUP_MS = 100.0


def sizes(model: str, scale: float) -> dict:
    """Population sizes at ``scale`` (rounded as perf/peers/common.py rounds them)."""
    return {name: int(round(n * scale)) for name, n in MODELS[model][1].items()}


def sparse_network(scale: float, seed: int, engine: str, threads: int = 1):
    """The ``sparse`` model: one population of 1e6 x scale neurons, in-degree 100 onto itself."""
    from eventsim import Network

    net = Network(seed=seed, engine=engine, threads=threads)
    pop = net.add_population("all", sizes("sparse", scale)["all"], tau_m=20.0, V_th=20.0, V_reset=10.0,
                             E_L=0.0, V_init=0.0, t_ref=2.0, C_m=250.0)
    net.connect(pop, pop, rule="fixed_indegree", indegree=SPARSE_INDEGREE, weight=-0.5, delay=1.5)
    net.add_poisson(pop, rate=20000.0, weight=0.1)
    return net


BRUNEL_NEURON = dict(C_m=250.0, tau_m=20.0, E_L=0.0, V_reset=10.0, V_init=0.0, t_ref=2.0)
NEURONS = {  # --neuron -> the parameters of both Brunel populations (None: the scenario file itself)
    "lif": None,
    "adaptive": dict(model="lif", V_th=20.0, delta_theta=1.0, tau_theta=100.0, **BRUNEL_NEURON),
    "qif": dict(model="qif", V_c=20.0, V_peak=30.0, **BRUNEL_NEURON),
    "psc_exp": dict(model="lif_psc_exp", V_th=20.0, tau_syn_ex=0.5, tau_syn_in=0.5, **BRUNEL_NEURON),
}


def brunel_network(scale: float, seed: int, engine: str, params: dict, threads: int = 1):
    """scenarios/brunel_delta.toml (sizes, in-degrees, weights, delay, Poisson drive) with other neurons."""
    from eventsim import Network

    net = Network(seed=seed, engine=engine, threads=threads)
    n = sizes("brunel", scale)
    exc, inh = (net.add_population(name, n[name], **params) for name in ("exc", "inh"))
    # weights onto lif_psc_exp are currents (pA): the one that carries the delta weight's charge
    unit = params["C_m"] / params["tau_syn_ex"] if params["model"] == "lif_psc_exp" else 1.0
    for pre, indegree, w in ((exc, 1000, 0.1), (inh, 250, -0.5)):
        for post in (exc, inh):
            net.connect(pre, post, rule="fixed_indegree", indegree=indegree, weight=w * unit, delay=1.5)
    for pop in (exc, inh):
        net.add_poisson(pop, rate=20000.0, weight=0.1 * unit)
    return net


def describe(args, duration: float):
    """A fresh, unprepared Network for the chosen model; returns (network, seed)."""
    if args.model == "sparse":
        seed = SPARSE_SEED if args.seed is None else args.seed
        return sparse_network(args.scale, seed, args.engine, args.threads), seed
    from eventsim import scenario

    if args.neuron != "lif":
        seed = 12345 if args.seed is None else args.seed  # the scenario's
        return brunel_network(args.scale, seed, args.engine, NEURONS[args.neuron], args.threads), seed
    path, _ = MODELS[args.model]
    overrides = [f"populations.{k}.size={n}" for k, n in sizes(args.model, args.scale).items()]
    overrides.append(f"run.duration={duration!r}")
    sc = scenario.load(path, overrides, seed=args.seed, engine=args.engine, threads=args.threads)
    return sc.network(), sc.seed


def run_once(args, duration: float) -> dict:
    """Build, compile and simulate one fresh network; the figures of this run."""
    from eventsim.profiling import phase_table, timed_run

    t0 = time.perf_counter()
    net, seed = describe(args, duration)
    describe_s = time.perf_counter() - t0
    # the process's CPU seconds of the simulation (every thread's), for A/B under load (perf/ab.py --cpu):
    # taken from the simulate phase's start, as timed_run's wall time is
    cpu = {}
    rec = timed_run(net, duration, on_phase=lambda name: cpu.__setitem__(name, time.process_time()))
    sim_cpu_s = time.process_time() - cpu["simulate"]
    if rec.interrupted:
        raise KeyboardInterrupt
    p = net.prepare()
    counters = {k: int(v) for k, v in rec.results.counters.items()}
    out = dict(neurons=p.n_neurons, synapses=p.n_synapses, simulated_ms=float(rec.results.t_stop),
               build_s=describe_s + rec.build_s, compile_s=rec.compile_s, sim_s=rec.simulate_s,
               sim_cpu_s=sim_cpu_s,
               spikes=int(rec.results.spike_ids.size), connectivity_bytes=p.connectivity_bytes(),
               pop_start=[int(x) for x in p.pop_start], counters=counters, seed=seed,
               phases=phase_table(getattr(net.engine, "phase_cycles", None), rec.simulate_s))
    ids = rec.results.spike_ids
    out["pop_spikes"] = [int(((ids >= a) & (ids < b)).sum()) for a, b in zip(p.pop_start[:-1], p.pop_start[1:])]
    out["cv_isi"] = cv_isi(ids, rec.results.spike_times, p.n_neurons)
    del net, rec, p
    gc.collect()
    return out


def versions() -> dict:
    import platform

    import numba
    import numpy

    import eventsim

    return {"python": platform.python_version(), "eventsim": getattr(eventsim, "__version__", None),
            "numba": numba.__version__, "numpy": numpy.__version__}


def record(args, runs: list, first_compile_s: float) -> dict:
    """The JSON record: medians over ``runs`` (each a dict from :func:`run_once`)."""
    from eventsim.profiling import peak_rss_bytes

    r0 = runs[0]
    sim = _common.summary(r["sim_s"] for r in runs)
    sim_cpu = _common.summary(r["sim_cpu_s"] for r in runs)
    build = _common.summary(r["build_s"] for r in runs)
    syn, ext = r0["counters"].get("syn_events", 0), r0["counters"].get("ext_events", 0)
    events = syn + ext
    seconds = r0["simulated_ms"] / 1000.0
    n = r0["neurons"]
    rate = lambda k, m: (k / (m * seconds) if m and seconds > 0 else 0.0)  # noqa: E731
    pops = [b - a for a, b in zip(r0["pop_start"][:-1], r0["pop_start"][1:])]
    return {
        "model": args.model, "neuron": args.neuron, "scale": args.scale, "neurons": n, "synapses": r0["synapses"],
        "simulated_ms": r0["simulated_ms"],
        "build_s": round(build["median"], 6), "compile_s": round(first_compile_s, 6),
        "sim_s": round(sim["median"], 6), "sim_cpu_s": round(sim_cpu["median"], 6), "spikes": r0["spikes"],
        "rate_hz": round(rate(r0["spikes"], n), 4),
        "syn_events": syn, "ext_events": ext,
        "events_per_s": round(events / sim["median"]) if sim["median"] > 0 else None,
        "ns_per_event": round(sim["median"] * 1e9 / events, 3) if events else None,
        "bytes_per_synapse": round(r0["connectivity_bytes"] / r0["synapses"], 3) if r0["synapses"] else None,
        "peak_rss_mb": round((peak_rss_bytes() or 0) / 2**20, 1),
        "engine": args.engine, "threads": args.threads, "seed": r0["seed"],
        "machine": _common.machine(), "date": _common.now(), "command": _common.command_line(),
        "versions": versions(), "commit": _common.git_commit(),
        # beyond the required fields
        "repeat": len(runs), "sim_s_min": round(sim["min"], 6), "sim_s_max": round(sim["max"], 6),
        "build_s_min": round(build["min"], 6), "build_syn_per_s": round(r0["synapses"] / build["median"]),
        "rate_pop_hz": [round(rate(k, m), 4) for k, m in zip(r0["pop_spikes"], pops)],
        "counters": r0["counters"], "cold_cache": args.cold_cache,
        "cv_isi": None if r0["cv_isi"] is None else round(r0["cv_isi"], 4),
        # where the time went (eventsim.profiling.phase_table): ns per event of each phase, medians over runs
        "phase_ns_per_event": {k: round(_common.summary(r["phases"][k] for r in runs)["median"] * 1e9 / events, 2)
                               for k in r0["phases"]} if events else {},
    }


def table(rec: dict) -> str:
    """The record as an aligned two-column table."""
    f = _common.fmt
    rows = [
        ("model", f"{rec['model']} x {rec['scale']:g}, {rec['neuron']} ({rec['engine']} engine, {rec['threads']} thread(s), seed {rec['seed']})"),
        ("neurons / synapses", f"{f(rec['neurons'])} / {f(rec['synapses'])}"),
        ("simulated", f"{rec['simulated_ms']:g} ms"),
        ("build", f"{rec['build_s']:.3f} s  ({f(rec['build_syn_per_s'])} synapses/s)"),
        ("compile (first call)", f"{rec['compile_s']:.3f} s{'  (empty Numba cache)' if rec['cold_cache'] else ''}"),
        ("simulate", f"{rec['sim_s']:.3f} s" + (f"  (min {rec['sim_s_min']:.3f} / median / max "
                                                  f"{rec['sim_s_max']:.3f} of {rec['repeat']} runs)"
                                                  if rec["repeat"] > 1 else "")),
        ("spikes / rate", f"{f(rec['spikes'])} / {rec['rate_hz']:.2f} Hz (per population "
                          f"{', '.join(f'{r:.2f}' for r in rec['rate_pop_hz'])} Hz)"),
        ("syn / ext events", f"{f(rec['syn_events'])} / {f(rec['ext_events'])}"),
        ("events/s", f"{f(rec['events_per_s'])}  ({rec['ns_per_event']} ns/event)"),
        ("ns/event by phase", ", ".join(f"{k} {v:g}" for k, v in rec["phase_ns_per_event"].items()) or "-"),
        ("bytes/synapse", f"{rec['bytes_per_synapse']}"),
        ("peak RSS", f"{rec['peak_rss_mb']:,.0f} MiB"),
        ("machine", f"{rec['machine']['cpu']}, {rec['machine']['nproc']} cores, {rec['machine']['mem_gb']} GiB, load {rec['machine'].get('load_1min')}"),
        ("commit / date", f"{rec['commit']} / {rec['date']}"),
    ]
    width = max(len(k) for k, _ in rows) + 2
    return "\n".join(f"{k:<{width}}{v}" for k, v in rows)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=tuple(MODELS), required=True)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the population sizes (default 1)")
    ap.add_argument("--duration", type=float, required=True, help="simulated time, ms")
    ap.add_argument("--engine", choices=("numba", "reference"), default="numba")
    ap.add_argument("--threads", type=int, default=1, help="threads of the compiled engine (default 1)")
    ap.add_argument("--neuron", choices=tuple(NEURONS), default="lif",
                    help="neuron model of brunel's populations (default lif: the scenario)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs after a warm-up when > 1 (default 1)")
    ap.add_argument("--seed", type=int, default=None, help="default: the scenario's seed")
    ap.add_argument("--cold-cache", action="store_true", help="use an empty Numba cache: compile_s is a true JIT")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args(argv)
    if args.neuron != "lif" and args.model != "brunel":
        ap.error("--neuron applies to --model brunel only")
    if args.scale <= 0 or args.duration <= 0 or args.repeat < 1:
        ap.error("--scale and --duration must be positive, --repeat at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    cache = None
    if args.cold_cache:  # before numba is imported
        cache = tempfile.TemporaryDirectory(prefix="eventsim-numba-cache-")
        os.environ["NUMBA_CACHE_DIR"] = cache.name
    os.environ.update({k: v for k, v in _common.single_thread_env().items() if k.endswith("_NUM_THREADS")})
    from eventsim.errors import ValidationError

    try:
        first_compile = None
        if args.repeat > 1:
            warm = run_once(args, min(args.duration, WARMUP_MS))
            first_compile = warm["compile_s"]
        runs = []
        for _ in range(args.repeat):
            runs.append(run_once(args, args.duration))
            if first_compile is None:
                first_compile = runs[0]["compile_s"]
    except ValidationError as e:
        print(f"bench.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench.py: interrupted", file=sys.stderr)
        return 130
    rec = record(args, runs, first_compile)
    if not args.json:
        print(table(rec))
    print(json.dumps(rec), flush=True)
    if cache is not None:
        cache.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
