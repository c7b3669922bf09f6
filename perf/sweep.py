#!/usr/bin/env python3
"""How do eventsim's build time, simulation time and memory grow with the size of the network?

    python perf/sweep.py --scales 0.1,0.5,1,2,4 --duration 1000       # Brunel, in-degrees kept
    python perf/sweep.py --large                                        # 1e6 neurons, 1e8 synapses, 100 ms

Runs ``perf/bench.py --json`` once per scale, each in a fresh process so that ``peak_rss_mb`` is
the peak of that run alone, smallest scale first, and prints a Markdown table: neurons, synapses,
build time (and synapses built per second), compile time, simulation time, events per second,
ns per event, connectivity bytes per synapse, peak RSS (and per synapse), firing rate. Brunel keeps
its in-degrees (1,250 per neuron), so synapses grow linearly with the scale: a constant events/s
and RSS per synapse mean linear scaling.

``--large`` runs bench.py's ``sparse`` model instead: 1,000,000 neurons with 100 synapses each
(fixed in-degree 100 from one population onto itself, Brunel's neuron parameters and Poisson drive,
see perf/bench.py), 100 ms simulated. Raw JSON lines go to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

HEADER = ["scale", "neurons", "synapses", "build_s", "M syn/s built", "compile_s", "sim_s", "M events/s", "ns/event",
          "B/syn (conn)", "peak RSS MiB", "RSS B/syn", "rate Hz"]


def row(scale, rec: dict) -> list:
    syn = rec["synapses"]
    rss = rec["peak_rss_mb"]
    mega = lambda v: None if v is None else v / 1e6  # noqa: E731
    return [f"{scale:g}", rec["neurons"], syn, rec["build_s"], mega(rec.get("build_syn_per_s")), rec["compile_s"],
            rec["sim_s"], mega(rec["events_per_s"]), rec["ns_per_event"], rec["bytes_per_synapse"], rss,
            rss * 2**20 / syn if syn else None, rec["rate_hz"]]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="0.1,0.5,1,2,4", help="comma-separated (default 0.1,0.5,1,2,4)")
    ap.add_argument("--duration", type=float, default=None, help="simulated ms (default 1000; 100 with --large)")
    ap.add_argument("--model", choices=("brunel", "benchmark4"), default="brunel")
    ap.add_argument("--large", action="store_true", help="the 1e6-neuron, 1e8-synapse sparse network instead")
    ap.add_argument("--large-scale", type=float, default=1.0, help="with --large: millions of neurons (default 1)")
    ap.add_argument("--repeat", type=int, default=1, help="passed to bench.py (default 1)")
    ap.add_argument("--engine", choices=("numba", "reference"), default="numba")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per scale (default 3600)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON lines (default perf/results/sweep-<model>.jsonl or large.jsonl; overwritten)")
    args = ap.parse_args(argv)
    try:
        args.scale_list = [args.large_scale] if args.large else sorted(float(s) for s in args.scales.split(","))
    except ValueError:
        ap.error(f"--scales expects comma-separated numbers, got {args.scales!r}")
    if any(s <= 0 for s in args.scale_list):
        ap.error("scales must be positive")
    if args.duration is None:
        args.duration = 100.0 if args.large else 1000.0
    if args.out is None:
        args.out = _common.RESULTS_DIR / ("large.jsonl" if args.large else f"sweep-{args.model}.jsonl")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    model = "sparse" if args.large else args.model
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("")
    meta = {"kind": "meta", "command": _common.command_line(), "date": _common.now(), "machine": _common.machine()}
    _common.append_jsonl(args.out, meta)
    rows, failures = [], []
    env = _common.single_thread_env()
    for scale in args.scale_list:
        argv = [sys.executable, str(_common.PERF / "bench.py"), "--model", model, "--scale", repr(scale),
                "--duration", repr(args.duration), "--repeat", str(args.repeat), "--engine", args.engine, "--json"]
        print(f"{model} x {scale:g} ...", end=" ", file=sys.stderr, flush=True)
        out = _common.run_json(argv, timeout=args.timeout, env=env)
        _common.append_jsonl(args.out, {"kind": "run", "scale": scale, "status": out.status, "reason": out.reason,
                                        "wall_s": round(out.wall_s, 2), "record": out.record})
        if out.status != "ok":
            print(f"{out.status}: {out.reason}", file=sys.stderr)
            failures.append(f"scale {scale:g}: {out.status}: {out.reason}")
            continue
        rec = out.record
        meta.setdefault("commit", rec.get("commit"))
        print(f"sim {rec['sim_s']} s, peak RSS {rec['peak_rss_mb']:,.0f} MiB (wall {out.wall_s:.0f} s)", file=sys.stderr)
        rows.append(row(scale, rec))
    what = ("sparse: 1e6 x scale neurons, in-degree 100" if args.large
            else f"{model}: {'in-degrees kept' if model == 'brunel' else 'p = 0.02 kept'}")
    print(f"{what}; {args.duration:g} ms simulated; {args.engine} engine; one process per scale; "
          f"commit {meta.get('commit')}, {meta['date']}, {meta['machine']['cpu']} x {meta['machine']['nproc']}")
    print(f"command: {meta['command']}\n")
    print(_common.markdown_table(HEADER, rows))
    for f in failures:
        print(f"- {f}")
    print(f"\nraw JSON lines: {args.out}")
    return 1 if failures and not rows else 0


if __name__ == "__main__":
    sys.exit(main())
