#!/usr/bin/env python3
"""Strong scaling over MPI: the same scenario on K = 1, 2, ... processes, alternating, in one invocation.

    python perf/mpi_scaling.py --scale 1 --duration 300 --ranks 1,2 --rounds 3 [--threads 1]
    python perf/mpi_scaling.py --model benchmark4 --duration 2000 --ranks 1,2

Runs ``mpiexec -n K python -m eventsim run scenarios/brunel_delta.toml`` (population sizes times
``--scale``; in-degrees kept), or ``scenarios/benchmark4.toml`` (``--model benchmark4``: 3,200 +
800 neurons times ``--scale``, connection probability kept; windows of 0.1 ms, so the cost of
each exchange shows) for each K in turn, ``--rounds`` times, and reads each run's
``summary.json``: simulation wall time (rank 0's, from the first window to the last), build time,
events/s, and per rank the events, the time waiting in collectives and the peak resident memory.
Every run's spikes are compared with the first K's (bit-identity is the claim: a difference is
reported, not hidden). Prints a Markdown table and one JSON line. K = 1 is the ordinary
one-process run (``mpiexec -n 1`` runs no exchange), the baseline of the speed-ups.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

MODELS = {"brunel": ("brunel_delta.toml", 10000, 2500), "benchmark4": ("benchmark4.toml", 3200, 800)}


def one_run(k: int, args, out: Path) -> dict:
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
    file, n_exc, n_inh = MODELS[args.model]
    sizes = [f"populations.exc.size={round(n_exc * args.scale)}", f"populations.inh.size={round(n_inh * args.scale)}",
             f"run.duration={args.duration}"]
    scenario = _common.ROOT / "scenarios" / file
    cmd = [mpiexec, "-n", str(k), sys.executable, "-m", "eventsim", "run", str(scenario), "-o", str(out), "--quiet",
           "--threads", str(args.threads)]
    for s in sizes:
        cmd += ["--set", s]
    import subprocess

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=_common.single_thread_env())
    if r.returncode != 0:
        raise SystemExit(f"mpiexec -n {k} failed ({r.returncode}): {r.stderr.strip()}")
    s = json.loads((out / "summary.json").read_text())
    with np.load(out / "spikes.npz") as z:
        s["_spikes"] = (z["ids"].copy(), z["times"].copy())
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="brunel")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, default=300.0, help="ms")
    ap.add_argument("--ranks", default="1,2", help="comma-separated process counts")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="threads per process")
    ap.add_argument("--timeout", type=float, default=1800.0, help="s per run")
    args = ap.parse_args(argv)
    ks = [int(x) for x in args.ranks.split(",")]
    runs = {k: [] for k in ks}
    first = None
    same = True
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for k in ks:
                s = one_run(k, args, Path(tmp) / f"k{k}-r{r}")
                ids, times = s.pop("_spikes")
                if first is None:
                    first = (ids, times)
                elif not (np.array_equal(first[0], ids) and np.array_equal(first[1], times)):
                    same = False
                runs[k].append(s)
    rows, record = [], {"machine": _common.machine(), "commit": _common.git_commit(), "date": _common.now(),
                        "command": _common.command_line(), "identical_spikes": same, "by_ranks": {}}
    base = statistics.median(s["wall_s"]["simulate"] for s in runs[ks[0]])
    for k in ks:
        sim = [s["wall_s"]["simulate"] for s in runs[k]]
        med = statistics.median(sim)
        last = runs[k][-1]
        per = last.get("per_rank", [])
        wait = max((p["comm_wait_s"] for p in per), default=0.0)
        rss = max((p["peak_rss_bytes"] for p in per), default=0)
        events = last["events"]["syn_events"] + last["events"]["ext_events"]
        record["by_ranks"][k] = {"simulate_s": sim, "build_s": [s["wall_s"]["build"] for s in runs[k]],
                                 "events": events, "per_rank": per}
        rows.append([k, f"{med:.2f}", f"{base / med:.2f}x", f"{events / med / 1e6:.1f}",
                     f"{statistics.median(s['wall_s']['build'] for s in runs[k]):.2f}", f"{wait:.2f}",
                     f"{rss / 2**20:.0f}"])
    print(_common.markdown_table(["processes", "simulate s (median)", "speed-up", "M events/s", "build s",
                                  "max comm wait s", "max peak RSS MiB/rank"], rows))
    print(f"spikes identical for every K: {same}")
    print(json.dumps(record))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
