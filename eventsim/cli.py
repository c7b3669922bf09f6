"""The ``eventsim`` command: run, validate, plot and profile scenario files.

Exit codes: 0 success, 1 failure to write results, 2 bad input (one line on stderr: ``eventsim: error: <file>: <key>: <message>``),
130 interrupted by Ctrl-C (the output folder still holds what was simulated). See docs/scenarios.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from eventsim.errors import ValidationError

__all__ = ["main", "build_parser"]

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class _Fail(Exception):
    """A bad-input error already worded for the user (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``eventsim`` (subcommands run, validate, plot, profile)."""
    parser = argparse.ArgumentParser(prog="eventsim", description="Exact event-driven LIF network simulator.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def scenario_args(p):
        p.add_argument("scenario", metavar="SCENARIO", help="scenario file (.toml)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a value, e.g. run.duration=200 (dotted key, TOML value); repeatable")

    run = sub.add_parser("run", help="simulate a scenario and write an output folder")
    scenario_args(run)
    run.add_argument("-o", "--output", metavar="OUTDIR", help="output folder (default: <scenario name>-out)")
    run.add_argument("--seed", type=int, help="replace run.seed")
    run.add_argument("--engine", choices=("numba", "reference"), help="replace run.engine")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary on stdout")
    run.add_argument("--force", action="store_true", help="replace OUTDIR if it exists")
    validate = sub.add_parser("validate", help="check a scenario without simulating; print sizes and memory")
    scenario_args(validate)
    plot = sub.add_parser("plot", help="raster plot and population rates of an output folder")
    plot.add_argument("outdir", metavar="OUTDIR")
    plot.add_argument("-o", "--output", metavar="FILE.png", help="image file (default: OUTDIR/raster.png)")
    prof = sub.add_parser("profile", help="run a scenario and print where the time went")
    scenario_args(prof)
    return parser


def main(argv=None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    command = {"run": _cmd_run, "validate": _cmd_validate, "plot": _cmd_plot, "profile": _cmd_profile}[args.command]
    try:
        return command(args)
    except (_Fail, ValidationError) as e:
        print(f"eventsim: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:  # writing the output folder or the plot failed (disk full, permissions)
        print(f"eventsim: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("eventsim: interrupted before the simulation started; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _load(args, **kw):
    from eventsim import scenario

    return scenario.load(args.scenario, args.overrides, **kw)


def _network(sc):
    try:
        return sc.network()
    except MemoryError:
        raise _Fail(f"{sc.path}: populations: out of memory while building the network") from None


# ------------------------------------------------------------------------------------------ run
class _Progress:
    """Progress callback: draws a bar on stderr after ``delay_s`` and turns a Ctrl-C into a clean stop."""

    def __init__(self, net, total_ms: float, show: bool, stream=None, delay_s: float = 2.0):
        self.net, self.total, self.show, self.stream = net, total_ms, show, stream or sys.stderr
        self.start = time.perf_counter()
        self.delay_s, self.drawn, self.last, self.stop_requested = delay_s, False, 0.0, False
        self.first = None

    def request_stop(self, signum=None, frame=None) -> None:
        self.stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops at once

    def __call__(self, t_ms: float) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt
        now = time.perf_counter()
        c = self.net.engine.counters
        events = c["syn_events"] + c["ext_events"]
        if self.first is None:  # rates and ETA count from the first chunk on (not build or compile)
            self.first = (now, t_ms, events)
            return
        if not self.show or now - self.start < self.delay_s or now - self.last < 0.2:
            return
        self.last = now
        t0, ms0, ev0 = self.first
        frac = min(1.0, t_ms / self.total) if self.total > 0 else 1.0
        wall = max(now - t0, 1e-9)
        speed = (t_ms - ms0) / wall  # simulated ms per wall s
        eta = (self.total - t_ms) / speed if speed > 0 else float("inf")
        bar = "#" * int(24 * frac)
        self.stream.write(f"\r[{bar:<24}] {t_ms:,.1f} / {self.total:,.1f} ms {100 * frac:5.1f}%  "
                          f"{(events - ev0) / wall:.3g} events/s  ETA {eta:,.0f} s ")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _outdir(args, sc) -> Path:
    out = Path(args.output) if args.output else Path.cwd() / f"{sc.path.stem}-out"
    if (out.exists() or out.is_symlink()) and not args.force:
        raise _Fail(f"{out}: output folder exists already (use --force to replace it, or -o OUTDIR)")
    return out


def _cmd_run(args) -> int:
    from eventsim.profiling import timed_run

    t0 = time.perf_counter()
    sc = _load(args, seed=args.seed, engine=args.engine)
    out = _outdir(args, sc)
    net = _network(sc)
    described_s = time.perf_counter() - t0
    bar = _Progress(net, sc.duration, show=not args.quiet and sys.stderr.isatty())
    previous = None
    if sc.engine == "numba":  # the compiled loop returns to Python between chunks: stop there on Ctrl-C
        try:
            previous = signal.signal(signal.SIGINT, bar.request_stop)
        except ValueError:  # not the main thread
            previous = None
    try:
        rec = timed_run(net, sc.duration, progress=bar)
    except ValidationError as e:
        raise _Fail(f"{sc.path}: {e}") from None
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    rec.build_s += described_s
    summary = _summary(args, sc, net, rec)
    _write_outputs(out, args.force, sc, rec.results, summary)
    if not args.quiet:
        print(_human(summary, out))
    if rec.interrupted:
        print(f"eventsim: interrupted at {rec.results.t_stop:g} ms; partial results in {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _versions() -> dict:
    import numba

    import eventsim

    return {"eventsim": eventsim.__version__, "numba": numba.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _summary(args, sc, net, rec) -> dict:
    res, p = rec.results, net.prepare()
    pops = {}
    for k, name in enumerate(res.pop_names):
        s = res.population_of(name)
        pops[name] = dict(start=s.start, size=s.stop - s.start, recorded=int(res.recorded[s].sum()),
                          spikes=int(res.spikes_of(name)[0].size), rate_hz=res.rates()[name])
    c = {k: int(v) for k, v in res.counters.items()}
    events = c.get("syn_events", 0) + c.get("ext_events", 0)
    return {
        "scenario": {"path": str(sc.path.resolve()), "sha256": sc.sha256, "overrides": list(args.overrides)},
        "seed": sc.seed, "engine": sc.engine, "versions": _versions(),
        "neurons": p.n_neurons, "synapses": p.n_synapses,
        "duration_ms": sc.duration, "simulated_ms": res.t_stop, "interrupted": rec.interrupted,
        "spikes": int(res.spike_ids.size), "populations": pops, "events": c,
        "wall_s": {"build": rec.build_s, "compile": rec.compile_s, "simulate": rec.simulate_s},
        "events_per_s": events / rec.simulate_s if rec.simulate_s > 0 else 0.0,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
    }


def _write_outputs(out: Path, force: bool, sc, res, summary: dict) -> None:
    """Write everything into a temporary sibling folder, then move it into place in one rename."""
    from eventsim.documents import dumps_toml

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        np.savez(tmp / "spikes.npz", ids=res.spike_ids.astype(np.int64), times=res.spike_times.astype(np.float64))
        if res.voltages:
            arrays = {}
            for name, tr in res.voltages.items():
                arrays.update({f"{name}_ids": tr.ids, f"{name}_times": tr.times, f"{name}_values": tr.values})
            np.savez(tmp / "voltages.npz", **arrays)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        header = f"# Resolved copy of {sc.path} written by eventsim (sha256 {summary['scenario']['sha256']})\n"
        (tmp / "scenario.toml").write_text(header + dumps_toml(sc.resolved()))
        os.chmod(tmp, 0o777 & ~_umask())
        if out.exists() or out.is_symlink():
            if not force:
                raise _Fail(f"{out}: output folder exists already (use --force to replace it, or -o OUTDIR)")
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent)) / "old"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old.parent, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _human(s: dict, out: Path) -> str:
    lines = [f"{Path(s['scenario']['path']).name}: {s['neurons']:,} neurons, {s['synapses']:,} synapses, "
             f"{s['simulated_ms']:g} ms simulated ({s['engine']} engine, seed {s['seed']})"
             + ("  [INTERRUPTED]" if s["interrupted"] else "")]
    for name, p in s["populations"].items():
        lines.append(f"  {name:<12} {p['spikes']:>12,} spikes  {p['rate_hz']:8.2f} Hz  ({p['recorded']:,} recorded)")
    w, e = s["wall_s"], s["events"]
    lines.append(f"  {e.get('syn_events', 0):,} synaptic + {e.get('ext_events', 0):,} external events, "
                 f"{s['events_per_s']:.3g} events/s")
    lines.append(f"  wall time: build {w['build']:.2f} s, compile {w['compile']:.2f} s, simulate {w['simulate']:.2f} s")
    lines.append(f"  output: {out}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- validate
def _cmd_validate(args) -> int:
    from eventsim.scenario import _mb, available_memory
    from eventsim.stimuli import stimulus_arrays

    sc = _load(args)
    est = sc.estimate()
    net = _network(sc)
    try:
        stimulus_arrays(net.stimuli, net.n_neurons, net.seed)
    except ValidationError as e:
        raise _Fail(f"{sc.path}: {e}") from None
    avail = available_memory()
    pops = ", ".join(f"{name} {size:,}" for name, size in sc.sizes.items())
    print(f"{sc.path}: valid (schema 1, sha256 {sc.sha256[:16]})")
    print(f"  populations: {pops} ({est['neurons']:,} neurons)")
    print(f"  projections: {len(sc.projections)}, about {est['synapses']:,} synapses")
    print(f"  stimuli: {len(sc.stimuli)}; spikes recorded: "
          f"{'all' if sc.record_spikes == 'all' else ', '.join(sc.record_spikes) or 'none'}; "
          f"voltage recorders: {len(sc.voltage)}")
    print(f"  run: {sc.duration:g} ms, seed {sc.seed}, engine {sc.engine}")
    print(f"  memory estimate: {_mb(est['bytes'])}" + (f" (available: {_mb(avail)})" if avail else ""))
    return 0


# ----------------------------------------------------------------------------- plot and profile
def _cmd_plot(args) -> int:
    from eventsim.plotting import plot_output

    path = plot_output(args.outdir, args.output)
    print(f"wrote {path}")
    return 0


def _cmd_profile(args) -> int:
    from eventsim.profiling import format_profile, profile

    sc = _load(args)
    net = _network(sc)
    try:
        d = profile(net, sc.duration)
    except ValidationError as e:
        raise _Fail(f"{sc.path}: {e}") from None
    print(f"{sc.path} ({sc.engine} engine, seed {sc.seed})")
    print(format_profile(d))
    return EXIT_INTERRUPTED if d["interrupted"] else 0
