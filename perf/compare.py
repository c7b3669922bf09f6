#!/usr/bin/env python3
"""Is eventsim faster than NEST and Brian2 on the same network, measured in the same session?

    python perf/compare.py --model brunel --scale 1 --duration 1000
    python perf/compare.py --model benchmark4 --scale 1 --duration 10000 --peers brian2-cpp,nest-ps
    python perf/compare.py --model brunel --scale 0.1 --duration 200 --peers none    # eventsim alone
    python perf/compare.py --model brunel_psc_exp --scale 1 --duration 200 --engine reference
    python perf/compare.py --model brunel --scale 1 --duration 300 --threads 1,2 --peers nest-ps,nest-grid,brian2-cpp

Runs eventsim (perf/bench.py, this interpreter) and each peer (perf/peers/*.py with the peers'
interpreter, default .venv-peers/bin/python, made by ``perf/peers/setup.sh``) on the same network
(same sizes, in-degrees / probability, parameters, duration; each simulator draws its own random
network), one thread each (``--threads``: see below), every run in a fresh process. Runs alternate,
round after round (eventsim, peer 1, peer 2, ..., eventsim, peer 1, ...) so that drifts of the
machine hit all simulators alike. A peer that is not installed (exit code 3, or no peers' interpreter) is
"skipped"; a peer that fails or exceeds ``--timeout`` is reported as such and not run again.

``brunel_psc_exp`` (exponential current synapses) runs NEST's ``iaf_psc_exp_ps`` (``nest-ps``) and
``iaf_psc_exp`` (``nest-grid``) and Brian2's two-current equations; eventsim runs ``lif_psc_exp``
on the engine ``--engine`` names (default numba; ``reference`` until the compiled engine runs
``lif_psc_exp``). The header and eventsim's row say which engine ran.

Prints a Markdown table of medians over the rounds: sim_s, events/s, build_s, compile_s, peak
RSS, the rates of the excitatory and inhibitory populations, the mean CV of the inter-spike
intervals (so that the simulators can be seen to simulate the same dynamics: each draws its own
network and Poisson trains, so they agree statistically, within a few percent), and ratios against
eventsim: ``speedup`` = peer sim_s / eventsim sim_s (> 1: eventsim
faster), and eventsim / peer for events/s, build_s and peak RSS. Peers count events as
perf/peers/common.py says (NEST's ``ext_events`` is an expected count). Every JSON line (and one
line of metadata: machine, date, command, commit) goes to ``--out``.

``--threads 1,2`` runs every simulator at each thread count (eventsim ``threads = N``, NEST
``local_num_threads = N``, Brian2 cpp_standalone with OpenMP, ``openmp_threads = N``; at one thread
Brian2 runs its serial code, as without ``--threads``), all interleaved in each round (eventsim x1,
eventsim x2, peer 1 x1, ...). ``OMP_NUM_THREADS`` is set to N for a run on N threads.
``OMP_WAIT_POLICY`` passes through: eventsim sets ``PASSIVE`` unless it is set, NEST and Brian2 keep
OpenMP's default (spin, then sleep), which on a shared machine can make their two-thread runs many
times slower than one thread; run with ``OMP_WAIT_POLICY=PASSIVE`` to give every simulator eventsim's. Brian2's
cython target runs on one thread only, so it is run at N = 1 alone. The table then has one row per
simulator and thread count, ``speedup`` compares with eventsim at the same thread count, and
``x threads`` is the simulator's own speed-up over its run on the first thread count
(sim_s at the first / sim_s at N). ``sim_s`` is the simulation alone in every case: Brian2's
compilation is ``compile_s``, building the network ``build_s``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

PEERS = {  # name -> (script under perf/peers, extra arguments, runs on more than one thread)
    "nest-ps": ("nest_peer.py", ["--neuron", "ps"], True),
    "nest-grid": ("nest_peer.py", ["--neuron", "grid"], True),
    "brian2-cython": ("brian2_peer.py", ["--target", "cython"], False),
    "brian2-cpp": ("brian2_peer.py", ["--target", "cpp_standalone"], True),
}
LEGEND = ("speedup > 1: eventsim simulates faster; es/peer events/s > 1: eventsim processes more events per "
          "second; es/peer build_s and RSS < 1: eventsim builds faster / uses less memory. Medians over rounds; "
          "compile_s is not part of sim_s or build_s (Brian2 cpp_standalone: its C++ compilation). x threads: "
          "sim_s on the first thread count / sim_s on this one (the simulator's own speed-up).")
DEFAULT_PEER_PYTHON = _common.ROOT / ".venv-peers" / "bin" / "python"


def label(name: str, threads: int, args) -> str:
    """The row name of ``name`` on ``threads`` threads: the plain name unless several thread counts run."""
    return name if len(args.threads) == 1 else f"{name} x{threads}"


def commands(args, peer_python: Path) -> dict:
    """label -> (threads, argv of one run); eventsim first, each simulator's thread counts together."""
    common = ["--model", args.model, "--scale", repr(args.scale), "--duration", repr(args.duration)]
    if args.seed is not None:
        common += ["--seed", str(args.seed)]
    cmds = {}
    for n in args.threads:
        cmds[label("eventsim", n, args)] = (n, [sys.executable, str(_common.PERF / "bench.py"), *common,
                                                "--engine", args.engine, "--threads", str(n), "--json"])
    for name in args.peers:
        script, extra, threaded = PEERS[name]
        for n in (args.threads if threaded else args.threads[:1]):
            cmds[label(name, n, args)] = (n, [str(peer_python), str(_common.PERF / "peers" / script), *common,
                                              *extra, "--threads", str(n)])
    return cmds


def run_rounds(args, cmds: dict, log) -> dict:
    """Alternate the runs; label -> list of records (and a status when it did not run)."""
    records = {name: [] for name in cmds}
    status = {name: "ok" for name in cmds}
    for rnd in range(1, args.repeat + 1):
        for name, (threads, argv) in cmds.items():
            if status[name] != "ok":
                continue
            print(f"[round {rnd}/{args.repeat}] {name} ...", end=" ", file=sys.stderr, flush=True)
            # an OpenMP pool of the run's size; BLAS pools stay at one thread
            env = _common.single_thread_env(dict(os.environ, OMP_NUM_THREADS=str(threads)))
            out = _common.run_json(argv, timeout=args.timeout, env=env)
            line = {"sim": name, "threads": threads, "round": rnd, "status": out.status,
                    "wall_s": round(out.wall_s, 2)}
            if out.status == "ok":
                records[name].append(out.record)
                line["record"] = out.record
                print(f"sim {out.record.get('sim_s')} s (wall {out.wall_s:.1f} s)", file=sys.stderr)
            else:
                status[name] = f"{out.status}: {out.reason}"
                line["reason"] = out.reason
                print(status[name], file=sys.stderr)
            log(line)
    return {name: (records[name], status[name]) for name in cmds}


def median(recs: list, key: str):
    vals = [r[key] for r in recs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    return a / b if a is not None and b else None


def population_rates(rec: dict) -> dict:
    """The record's excitatory and inhibitory rates (Hz) under one name: peers report ``rate_exc_hz`` and
    ``rate_inh_hz``, perf/bench.py ``rate_pop_hz`` in population order (exc, inh)."""
    if "rate_exc_hz" in rec:
        return {"rate_exc_hz": rec["rate_exc_hz"], "rate_inh_hz": rec.get("rate_inh_hz")}
    pops = list(rec.get("rate_pop_hz") or []) + [None, None]
    return {"rate_exc_hz": pops[0], "rate_inh_hz": pops[1]}


def table(results: dict, args) -> str:
    """The Markdown table of medians and ratios (eventsim's rows first): ratios against eventsim on the
    same thread count, and (several thread counts) each simulator's speed-up over its first count."""
    sims = {}  # label -> (simulator name, threads)
    for name in ["eventsim", *args.peers]:
        for n in args.threads:
            sims[label(name, n, args)] = (name, n)
    med = {lab: {k: median(recs, k) for k in ("sim_s", "events_per_s", "build_s", "peak_rss_mb")}
           for lab, (recs, _) in results.items()}
    header = ["simulator", "threads", "runs", "sim_s", "M events/s", "build_s", "compile_s", "peak RSS MiB",
              "rate Hz", "exc Hz", "inh Hz", "CV ISI", "speedup (peer/es sim_s)", "es/peer events/s",
              "es/peer build_s", "es/peer RSS", "x threads", "note"]
    rows = []
    for lab, (recs, status) in results.items():
        name, n = sims[lab]
        if not recs:
            rows.append([lab, n, 0, *(["-"] * (len(header) - 4)), status])
            continue
        recs = [dict(r, **population_rates(r)) for r in recs]
        m = {k: median(recs, k) for k in ("sim_s", "events_per_s", "build_s", "compile_s", "peak_rss_mb", "rate_hz",
                                          "rate_exc_hz", "rate_inh_hz", "cv_isi")}
        peer = name != "eventsim"
        ref = med.get(label("eventsim", n, args), {})
        first = med.get(label(name, args.threads[0], args), {})
        mev = None if m["events_per_s"] is None else m["events_per_s"] / 1e6
        shown = lab if peer else lab.replace("eventsim", f"eventsim ({recs[0].get('engine')})", 1)
        rows.append([shown, n, len(recs), m["sim_s"], mev, m["build_s"], m["compile_s"], m["peak_rss_mb"],
                     m["rate_hz"], m["rate_exc_hz"], m["rate_inh_hz"], m["cv_isi"],
                     ratio(m["sim_s"], ref.get("sim_s")) if peer else "1",
                     ratio(ref.get("events_per_s"), m["events_per_s"]) if peer else "1",
                     ratio(ref.get("build_s"), m["build_s"]) if peer else "1",
                     ratio(ref.get("peak_rss_mb"), m["peak_rss_mb"]) if peer else "1",
                     ratio(first.get("sim_s"), m["sim_s"]),
                     "" if status == "ok" else f"{status} (after {len(recs)} run(s))"])
    return _common.markdown_table(header, rows, left=(0, len(header) - 1)) + "\n\n" + LEGEND


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("brunel", "benchmark4", "brunel_psc_exp"), required=True)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--engine", choices=("numba", "reference"), default="numba",
                    help="eventsim's engine (default numba; brunel_psc_exp: reference until the compiled engine "
                         "runs lif_psc_exp)")
    ap.add_argument("--duration", type=float, required=True, help="simulated time, ms")
    ap.add_argument("--repeat", type=int, default=2, help="rounds (default 2)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"comma-separated subset of {', '.join(PEERS)}, or 'none' (default: all)")
    ap.add_argument("--peer-python", type=Path, default=DEFAULT_PEER_PYTHON,
                    help="interpreter of the peers' virtual env (default: .venv-peers/bin/python)")
    ap.add_argument("--seed", type=int, default=None, help="default: the scenario's seed")
    ap.add_argument("--threads", default="1",
                    help="comma-separated thread counts, each run by every simulator (default 1), e.g. 1,2")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run (default 1800)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON lines file (default perf/results/compare-<model>-<scale>.jsonl; overwritten)")
    args = ap.parse_args(argv)
    args.peers = [] if args.peers.strip() in ("", "none") else [p.strip() for p in args.peers.split(",")]
    unknown = [p for p in args.peers if p not in PEERS]
    if unknown:
        ap.error(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)} or 'none'")
    try:
        args.threads = [int(n) for n in args.threads.split(",")]
    except ValueError:
        ap.error(f"--threads expects comma-separated integers, got {args.threads!r}")
    if min(args.threads) < 1 or len(set(args.threads)) != len(args.threads):
        ap.error(f"--threads: thread counts must be distinct and at least 1, got {args.threads}")
    if args.scale <= 0 or args.duration <= 0 or args.repeat < 1 or args.timeout <= 0:
        ap.error("--scale, --duration, --timeout must be positive and --repeat at least 1")
    if args.out is None:
        args.out = _common.RESULTS_DIR / f"compare-{args.model}-{args.scale:g}.jsonl"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    peer_python = args.peer_python
    cmds = commands(args, peer_python)
    meta = {"sim": "meta", "command": _common.command_line(), "date": _common.now(),
            "machine": _common.machine(), "commit": _common.git_commit(_common.ROOT / "eventsim"),
            "commands": {k: " ".join(argv) for k, (_, argv) in cmds.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("")  # a fresh file per invocation
    _common.append_jsonl(args.out, meta)
    log = lambda line: _common.append_jsonl(args.out, line)  # noqa: E731
    skipped = {}
    if args.peers and not peer_python.exists():
        reason = f"skipped: no peers' interpreter {peer_python} (run perf/peers/setup.sh)"
        skipped = {lab: ([], reason) for lab in cmds if not lab.startswith("eventsim")}
        for lab in skipped:
            cmds.pop(lab)
            log({"sim": lab, "status": "skipped", "reason": reason})
    results = run_rounds(args, cmds, log)
    results.update(skipped)
    first = label("eventsim", args.threads[0], args)
    if not results[first][0]:
        print(f"compare.py: eventsim did not run: {results[first][1]}", file=sys.stderr)
        return 1
    es = results[first][0][0]
    print(f"{args.model} x {args.scale:g}: {es['neurons']:,} neurons, {es['synapses']:,} synapses, "
          f"{args.duration:g} ms simulated, eventsim's {es.get('engine')} engine, "
          f"threads {','.join(map(str, args.threads))}, medians of {args.repeat} alternating round(s); "
          f"commit {es.get('commit')}, {meta['date']}, {meta['machine']['cpu']} x {meta['machine']['nproc']}")
    print(f"command: {meta['command']}\n")
    print(table(results, args))
    print(f"\nraw JSON lines: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
