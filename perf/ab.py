#!/usr/bin/env python3
"""Is one version of eventsim faster than another on this machine? Run both, alternately, in one invocation.

    python perf/ab.py --a HEAD~1 --b HEAD --model brunel --scale 1 --duration 300 --rounds 3
    python perf/ab.py --a main --b . --model benchmark4 --duration 10000 --rounds 5

``--a`` and ``--b`` are git revisions of this repository (checked out into temporary worktrees,
removed at the end) or folders holding an eventsim checkout (``.`` is this working tree, uncommitted
changes included). Each round runs ``perf/bench.py --json`` of both sides, A then B in odd rounds and
B then A in even ones, so that drift in the machine's speed (other load, frequency, thermal) falls on
both alike; each side first makes one untimed warm-up run (Numba compilation, its cache). Each side
runs its own ``perf/bench.py`` with its own ``eventsim`` on ``PYTHONPATH`` and BLAS pools pinned to one
thread.

Prints min / median / max of ``sim_s`` (and ``build_s``, ``events_per_s``) per side, the ratio of the
medians B/A of ``sim_s`` (below 1: B is faster), and whether both sides produced the same spike
count (a refactor that claims identical results should show ``same spikes: yes``). The last line on
stdout is one JSON record with everything, also appended to ``--out`` when given.

``--cpu`` compares ``sim_cpu_s`` instead: the CPU seconds of the simulation (``time.process_time``
in bench.py), which other processes' load on a shared machine disturbs far less than the wall
time (the ratio then is ``ratio_cpu_b_over_a``, and ``metric`` says which was compared). Both sides'
bench.py must report it: for a version from before it, pass a folder holding that version's
``eventsim`` with a newer ``perf/bench.py``.

Only ratios from one invocation compare: the same commit ran 1.5x faster on another CPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

KEYS = ("sim_s", "build_s", "events_per_s")
CPU = "sim_cpu_s"


def checkout(spec: str, tmp: Path, label: str) -> tuple[Path, str]:
    """A folder holding version ``spec`` and a description of it (commit hash, or the folder)."""
    folder = Path(spec)
    if folder.is_dir() and (folder / "eventsim").is_dir():
        return folder.resolve(), f"{folder.resolve()} ({_common.git_commit(folder / 'eventsim')})"
    rev = subprocess.run(["git", "-C", str(_common.ROOT), "rev-parse", "--verify", "--short", f"{spec}^{{commit}}"],
                         capture_output=True, text=True)
    if rev.returncode != 0:
        raise SystemExit(f"ab.py: error: --{label} {spec!r} is neither an eventsim folder nor a git revision")
    dest = tmp / label
    subprocess.run(["git", "-C", str(_common.ROOT), "worktree", "add", "--detach", "--quiet", str(dest), spec],
                   check=True)
    return dest, rev.stdout.strip()


def bench_argv(folder: Path, args) -> list:
    argv = [sys.executable, str(folder / "perf" / "bench.py"), "--model", args.model, "--scale", repr(args.scale),
            "--duration", repr(args.duration), "--json"]
    argv += ["--seed", str(args.seed)] if args.seed is not None else []
    return argv + (["--threads", str(args.threads)] if args.threads is not None else [])


def run_side(folder: Path, args, env: dict) -> dict:
    out = _common.run_json(bench_argv(folder, args), timeout=args.timeout, env=dict(env, PYTHONPATH=str(folder)),
                           cwd=folder)
    if out.status != "ok":
        raise SystemExit(f"ab.py: error: {folder}: bench.py {out.status}: {out.reason}")
    if args.cpu and CPU not in out.record:
        raise SystemExit(f"ab.py: error: --cpu: {folder}/perf/bench.py does not report {CPU} (an older version: "
                         "use a folder with that eventsim and a newer perf/bench.py)")
    return out.record


def alternate(sides: dict, args) -> dict:
    """label -> list of bench records, A and B alternating (ABBA...) after one warm-up each."""
    env = _common.single_thread_env()
    for label, folder in sides.items():
        print(f"[warm-up] {label} ...", file=sys.stderr, flush=True)
        run_side(folder, args, env)
    records = {label: [] for label in sides}
    for rnd in range(args.rounds):
        order = list(sides) if rnd % 2 == 0 else list(sides)[::-1]
        for label in order:
            rec = run_side(sides[label], args, env)
            records[label].append(rec)
            cpu = f", cpu {rec[CPU]:.3f} s" if args.cpu else ""
            print(f"[round {rnd + 1}/{args.rounds}] {label}: sim {rec['sim_s']:.3f} s{cpu}", file=sys.stderr,
                  flush=True)
    return records


def report(records: dict, described: dict, args) -> dict:
    keys = KEYS + ((CPU,) if args.cpu else ())
    stats = {label: {k: _common.summary(r[k] for r in recs) for k in keys} for label, recs in records.items()}
    spikes = {label: sorted({r["spikes"] for r in recs}) for label, recs in records.items()}
    ratio = stats["b"]["sim_s"]["median"] / stats["a"]["sim_s"]["median"]
    extra = {"ratio_cpu_b_over_a": stats["b"][CPU]["median"] / stats["a"][CPU]["median"]} if args.cpu else {}
    return {"model": args.model, "scale": args.scale, "duration_ms": args.duration, "rounds": args.rounds,
            "a": described["a"], "b": described["b"], "stats": stats, "spikes": spikes,
            "same_spikes": spikes["a"] == spikes["b"] and len(spikes["a"]) == 1, "ratio_sim_b_over_a": ratio,
            "metric": CPU if args.cpu else "sim_s", **extra,
            "machine": _common.machine(), "date": _common.now(), "command": _common.command_line()}


def table(rec: dict) -> str:
    m = rec["metric"]
    ratio = rec["ratio_cpu_b_over_a"] if m == CPU else rec["ratio_sim_b_over_a"]
    rows = []
    for label in ("a", "b"):
        s = rec["stats"][label]
        rows.append([f"{label}: {rec[label]}", s[m]["min"], s[m]["median"], s[m]["max"],
                     s["build_s"]["median"], s["events_per_s"]["median"] / 1e6])
    head = ["version", f"{m} min", f"{m} median", f"{m} max", "build_s median", "M events/s median"]
    verdict = "faster" if ratio < 1 else "slower"
    return (_common.markdown_table(head, rows) +
            f"\n\nB/A median {m} = {ratio:.3f} (B {verdict}); "
            f"same spikes: {'yes' if rec['same_spikes'] else 'NO ' + str(rec['spikes'])}\n"
            f"{rec['machine']['cpu']} x {rec['machine']['nproc']}, {rec['date']}\ncommand: {rec['command']}")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="baseline: git revision or eventsim folder")
    ap.add_argument("--b", required=True, help="candidate: git revision or eventsim folder")
    ap.add_argument("--model", choices=("brunel", "brunel_delays", "benchmark4", "brunel_psc_exp", "sparse"),
                    required=True)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--duration", type=float, required=True, help="simulated time, ms")
    ap.add_argument("--rounds", type=int, default=3, help="timed runs of each side (default 3)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="threads of both sides (versions with run.threads)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per run (default 1800)")
    ap.add_argument("--cpu", action="store_true",
                    help="compare the simulation's CPU seconds (sim_cpu_s) instead of its wall time (sim_s)")
    ap.add_argument("--out", type=Path, default=None, help="append the JSON record to this file")
    args = ap.parse_args(argv)
    if args.scale <= 0 or args.duration <= 0 or args.rounds < 1 or args.timeout <= 0:
        ap.error("--scale, --duration, --timeout must be positive and --rounds at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eventsim-ab-") as tmp:
        sides, described, worktrees = {}, {}, []
        try:
            for label in ("a", "b"):
                folder, described[label] = checkout(getattr(args, label), Path(tmp), label)
                sides[label] = folder
                if folder.is_relative_to(Path(tmp)):
                    worktrees.append(folder)
            rec = report(alternate(sides, args), described, args)
        finally:
            for w in worktrees:
                subprocess.run(["git", "-C", str(_common.ROOT), "worktree", "remove", "--force", str(w)],
                               capture_output=True)
    print(table(rec))
    print(json.dumps(rec), flush=True)
    if args.out is not None:
        _common.append_jsonl(args.out, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
