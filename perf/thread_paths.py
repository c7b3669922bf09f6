#!/usr/bin/env python3
"""Which parallel path pays on this machine? One thread, and N threads by each of the two ways of
cutting a busy window (eventsim.engine.items: the gathered items delivered in parts of neurons;
eventsim.engine.buckets: buckets scattered and worked in parts), interleaved in one invocation.

    python perf/thread_paths.py --scale 1 --duration 300 --threads 2 --rounds 3

Builds scenarios/brunel_delta.toml (population sizes times ``--scale``, in-degrees kept) afresh for
each run, simulates 1 ms (compilation, not timed), then ``--duration`` ms; the path is set on the
engine (``ctl.item_parts``) whatever the level-2 cache would choose. Prints per run the wall time,
the process's CPU time (all threads) and the share of the loop's cycles per phase; the spike count
must be the same for every run (bit-identity across thread counts and paths is the claim).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

PHASES = ("gather", "scatter", "buckets", "direct", "window_end", "queue")


def one_run(scale: float, duration: float, threads: int, path: str) -> dict:
    from eventsim import scenario

    sets = [f"populations.exc.size={round(10000 * scale)}", f"populations.inh.size={round(2500 * scale)}"]
    net = scenario.load(_common.ROOT / "scenarios" / "brunel_delta.toml", sets, threads=threads).network()
    net.run(1.0)
    eng = net._engine
    if threads > 1:
        eng.state.ctl[0]["item_parts"] = int(path == "items")
    t0, c0 = time.perf_counter(), os.times()
    net.run(duration)
    wall, c1 = time.perf_counter() - t0, os.times()
    ctl = eng.state.ctl[0]
    total = max(int(ctl["cyc_total"]), 1)
    return {"wall_s": wall, "cpu_s": (c1.user - c0.user) + (c1.system - c0.system), "spikes": eng.counters["spikes"],
            "phases": {k: int(ctl["cyc_" + k]) / total for k in PHASES}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=300.0, help="ms")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    configs = [(1, "-"), (args.threads, "items"), (args.threads, "buckets")]
    runs = {c: [] for c in configs}
    for r in range(args.rounds):
        for threads, path in configs:
            out = one_run(args.scale, args.duration, threads, path)
            runs[(threads, path)].append(out)
            shares = " ".join(f"{k} {v:.2f}" for k, v in out["phases"].items())
            print(f"[round {r + 1}] threads {threads} {path:7s} wall {out['wall_s']:.3f} s  cpu {out['cpu_s']:.3f} s  "
                  f"spikes {out['spikes']}  cycles: {shares}", flush=True)
    base = statistics.median(o["wall_s"] for o in runs[configs[0]])
    rows = []
    for threads, path in configs:
        walls = [o["wall_s"] for o in runs[(threads, path)]]
        rows.append([threads, path, f"{min(walls):.2f}", f"{statistics.median(walls):.2f}", f"{max(walls):.2f}",
                     f"{statistics.median(o['cpu_s'] for o in runs[(threads, path)]):.2f}",
                     f"{base / statistics.median(walls):.2f}x"])
    same = len({o["spikes"] for rs in runs.values() for o in rs}) == 1
    print(_common.markdown_table(["threads", "path", "wall min", "wall median", "wall max", "CPU median",
                                  "speed-up"], rows))
    print(f"same spikes in every run: {same}; {_common.machine()['cpu']}, {_common.now()}, commit {_common.git_commit()}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
