#!/usr/bin/env python3
"""How do eventsim's build time, simulation time and memory grow with the size of the network?

    python perf/sweep.py --scales 0.1,0.5,1,2,4 --duration 1000       # Brunel, in-degrees kept
    python perf/sweep.py --large                                        # 1e6 neurons, 1e8 synapses, 100 ms
    python perf/sweep.py --huge                                         # 1e7 neurons, 1e9 synapses, 10 ms

Runs ``perf/bench.py --json`` once per scale, each in a fresh process so that ``peak_rss_mb`` is
the peak of that run alone, smallest scale first, and prints a Markdown table: neurons, synapses,
build time (and synapses built per second), compile time, simulation time, events per second,
ns per event, connectivity bytes per synapse, peak RSS (and per synapse), firing rate. Brunel keeps
its in-degrees (1,250 per neuron), so synapses grow linearly with the scale: a constant events/s
and RSS per synapse mean linear scaling.

``--large`` runs bench.py's ``sparse`` model instead: 1,000,000 neurons with 100 synapses each
(fixed in-degree 100 from one population onto itself, Brunel's neuron parameters and Poisson drive,
see perf/bench.py), 100 ms simulated. ``--huge`` is the same network ten times larger: 10,000,000
neurons and 1e9 synapses (``sparse`` at scale 10), 10 ms simulated; it needs about 12 GB of memory
(4.1 B per synapse of connectivity, the neurons' state and the build's temporaries): run one at a time.
Raw JSON lines go to ``--out``.

``--against REV`` (a git revision, or a folder holding an eventsim checkout) also runs that version,
alternating with this tree at each scale (this tree first at odd scales, REV first at even ones, so
that drift in the machine falls on both; each version first makes one untimed warm-up run, at
scale 0.1 at most, that compiles or loads its Numba kernels), and prints one row per version and scale plus the ratios
this tree / REV of build time and peak RSS:

    python perf/sweep.py --scales 1,4 --duration 20 --against 49fb1d2   # build and memory, before/after
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from ab import checkout  # noqa: E402

HUGE_SCALE, HUGE_DURATION_MS = 10.0, 10.0  # --huge: 1e7 neurons x 100 synapses, 10 ms
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
    ap.add_argument("--huge", action="store_true",
                    help="the 1e7-neuron, 1e9-synapse sparse network, 10 ms (about 12 GB of memory)")
    ap.add_argument("--large-scale", type=float, default=None,
                    help="with --large or --huge: millions of neurons (default 1, or 10 with --huge)")
    ap.add_argument("--repeat", type=int, default=1, help="passed to bench.py (default 1)")
    ap.add_argument("--engine", choices=("numba", "reference"), default="numba")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per scale (default 3600)")
    ap.add_argument("--against", default=None, metavar="REV",
                    help="also run this git revision or eventsim folder, alternating with this tree")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON lines (default perf/results/sweep-<model>.jsonl or large.jsonl; overwritten)")
    args = ap.parse_args(argv)
    if args.large and args.huge:
        ap.error("--large and --huge are two sizes of one network: give one")
    if args.huge:
        args.large = True  # the sparse network, ten times larger
        args.large_scale = HUGE_SCALE if args.large_scale is None else args.large_scale
    elif args.large_scale is None:
        args.large_scale = 1.0
    try:
        args.scale_list = [args.large_scale] if args.large else sorted(float(s) for s in args.scales.split(","))
    except ValueError:
        ap.error(f"--scales expects comma-separated numbers, got {args.scales!r}")
    if any(s <= 0 for s in args.scale_list):
        ap.error("scales must be positive")
    if args.duration is None:
        args.duration = HUGE_DURATION_MS if args.huge else 100.0 if args.large else 1000.0
    if args.out is None:
        name = "huge.jsonl" if args.huge else "large.jsonl" if args.large else f"sweep-{args.model}.jsonl"
        args.out = _common.RESULTS_DIR / name
    return args


def run_scale(folder: Path, model: str, scale: float, args, env: dict):
    """One ``bench.py --json`` run of the eventsim in ``folder`` (its own bench.py and PYTHONPATH)."""
    argv = [sys.executable, str(folder / "perf" / "bench.py"), "--model", model, "--scale", repr(scale),
            "--duration", repr(args.duration), "--repeat", str(args.repeat), "--engine", args.engine, "--json"]
    return _common.run_json(argv, timeout=args.timeout, env=dict(env, PYTHONPATH=str(folder)), cwd=folder)


def sweep(sides: dict, args, meta: dict) -> tuple[list, list, dict]:
    """Run every scale on every side (alternating the order); returns table rows, failures and
    label -> scale -> record."""
    model = "sparse" if args.large else args.model
    env = _common.single_thread_env()
    rows, failures, records = [], [], {label: {} for label in sides}
    if len(sides) > 1:  # compile (or load) each version's kernels first, as ab.py does: untimed
        for label, folder in sides.items():
            print(f"[warm-up] {label} ...", file=sys.stderr, flush=True)
            small = argparse.Namespace(**{**vars(args), "duration": 1.0, "repeat": 1})
            run_scale(folder, model, min(min(args.scale_list), 0.1), small, env)
    for k, scale in enumerate(args.scale_list):
        for label in (list(sides) if k % 2 == 0 else list(sides)[::-1]):
            print(f"{model} x {scale:g} [{label}] ...", end=" ", file=sys.stderr, flush=True)
            out = run_scale(sides[label], model, scale, args, env)
            _common.append_jsonl(args.out, {"kind": "run", "version": label, "scale": scale, "status": out.status,
                                            "reason": out.reason, "wall_s": round(out.wall_s, 2), "record": out.record})
            if out.status != "ok":
                print(f"{out.status}: {out.reason}", file=sys.stderr)
                failures.append(f"scale {scale:g} [{label}]: {out.status}: {out.reason}")
                continue
            rec = records[label][scale] = out.record
            meta.setdefault("commit", rec.get("commit"))
            print(f"build {rec['build_s']} s, sim {rec['sim_s']} s, peak RSS {rec['peak_rss_mb']:,.0f} MiB "
                  f"(wall {out.wall_s:.0f} s)", file=sys.stderr)
        rows += [[label] + row(scale, records[label][scale]) for label in sides if scale in records[label]]
    return rows, failures, records


def ratios(records: dict, scales: list) -> str:
    """Lines 'scale s: build_s this/REV = x, peak RSS this/REV = y' for scales both sides ran."""
    this, other = records.values()
    lines = []
    for s in scales:
        if s in this and s in other:
            b = this[s]["build_s"] / other[s]["build_s"]
            m = this[s]["peak_rss_mb"] / other[s]["peak_rss_mb"]
            lines.append(f"- scale {s:g}: build_s this/REV = {b:.3f}, peak RSS this/REV = {m:.3f}")
    return "\n".join(lines)


def phases(records: dict) -> str:
    """Lines 'version, scale s: ns/event by phase ...' (bench.py's ``phase_ns_per_event``: where the time
    went) and the share of Poisson arrivals among the events."""
    lines = ["ns per event by phase (eventsim.profiling.phase_table):"]
    for label, by_scale in records.items():
        for s, rec in by_scale.items():
            ph = ", ".join(f"{k} {v:g}" for k, v in rec.get("phase_ns_per_event", {}).items()) or "-"
            events = rec["syn_events"] + rec["ext_events"]
            ext = f"{100.0 * rec['ext_events'] / events:.0f} % Poisson arrivals" if events else "no events"
            lines.append(f"- {label}, scale {s:g}: {ph} ({ext})")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    model = "sparse" if args.large else args.model
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("")
    meta = {"kind": "meta", "command": _common.command_line(), "date": _common.now(), "machine": _common.machine()}
    _common.append_jsonl(args.out, meta)
    with tempfile.TemporaryDirectory(prefix="eventsim-sweep-") as tmp:
        sides = {f"this ({_common.git_commit(_common.ROOT / 'eventsim')})": _common.ROOT}
        worktree = None
        try:
            if args.against is not None:
                folder, described = checkout(args.against, Path(tmp), "against")
                sides[f"REV {described}"] = folder
                worktree = folder if folder.is_relative_to(Path(tmp)) else None
            rows, failures, records = sweep(sides, args, meta)
        finally:
            if worktree is not None:
                subprocess.run(["git", "-C", str(_common.ROOT), "worktree", "remove", "--force", str(worktree)],
                               capture_output=True)
    what = ("sparse: 1e6 x scale neurons, in-degree 100 (--huge: scale 10)" if args.large
            else f"{model}: {'in-degrees kept' if model == 'brunel' else 'p = 0.02 kept'}")
    print(f"{what}; {args.duration:g} ms simulated; {args.engine} engine; one process per scale and version; "
          f"{meta['date']}, {meta['machine']['cpu']} x {meta['machine']['nproc']}")
    print(f"command: {meta['command']}\n")
    print(_common.markdown_table(["version"] + HEADER, rows))
    if len(sides) == 2:
        print("\n" + ratios(records, args.scale_list))
    print("\n" + phases(records))
    for f in failures:
        print(f"- {f}")
    print(f"\nraw JSON lines: {args.out}")
    return 1 if failures and not rows else 0


if __name__ == "__main__":
    sys.exit(main())
