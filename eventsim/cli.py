"""The ``eventsim`` command: run, validate, plot and profile scenario files; show or clear the cache.

Exit codes: 0 success; 1 results or image could not be written (one line naming the path); 2 bad
input (one line: ``eventsim: error: <file>: <key>: <message>``); 128 + the signal's number when
stopped by SIGINT (130), SIGTERM (143) or SIGHUP (129). See docs/scenarios.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from eventsim import output
from eventsim.errors import ScenarioError, ValidationError
from eventsim.timebase import TICK_MS

__all__ = ["main", "build_parser"]

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
COMPILE_NOTICE_S = 1.0  # a cached start loads the engine in ~0.1 s: say nothing then


class _Fail(Exception):
    """A bad-input error already worded for the user (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``eventsim`` (subcommands run, validate, plot, profile, cache)."""
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
    run.add_argument("--threads", type=int, metavar="N",
                     help="replace run.threads: threads of the compiled engine (same spikes for any N)")
    run.add_argument("--format", dest="formats", action="append", default=[], choices=output.FORMATS,
                     help="also write the spikes as a SONATA file spikes.h5 (sonata; needs h5py); repeatable, "
                          "adds to run.formats (spikes.npz is always written)")
    run.add_argument("--quiet", action="store_true", help="no progress bar and no summary on stdout")
    run.add_argument("--force", action="store_true", help="replace OUTDIR if it is an earlier eventsim output folder")
    validate = sub.add_parser("validate", help="check a scenario without simulating; print sizes and memory")
    scenario_args(validate)
    plot = sub.add_parser("plot", help="raster plot and population rates of an output folder")
    plot.add_argument("outdir", metavar="OUTDIR")
    plot.add_argument("-o", "--output", metavar="FILE.png", help="image file (default: OUTDIR/raster.png)")
    prof = sub.add_parser("profile", help="run a scenario and print where the time went")
    scenario_args(prof)
    prof.add_argument("--threads", type=int, metavar="N",
                      help="replace run.threads: threads of the compiled engine (each thread's time sampled)")
    cache = sub.add_parser("cache", help="where the compiled engine is cached, its size; --clear removes it")
    cache.add_argument("--clear", action="store_true",
                       help="remove the cached compiled engine (the next run compiles it again, a few minutes)")
    return parser


def main(argv=None) -> int:
    """Entry point of the console script; returns the exit code.

    Without ``argv`` (the console script, ``python -m eventsim``) this is the program, and stop
    signals are ignored once the command has finished (see :class:`_StopSignals`); pass ``argv``
    to call it from other code, which then gets its signal handlers back.
    """
    args = build_parser().parse_args(argv)
    command = {"run": _cmd_run, "validate": _cmd_validate, "plot": _cmd_plot, "profile": _cmd_profile,
               "cache": _cmd_cache}[args.command]
    if _launched_size() > 1:  # started by mpiexec with several processes (docs/distributed.md)
        command = {"run": _cmd_run_distributed, "profile": _cmd_profile_distributed}.get(args.command, command)
        if args.command in ("validate", "plot", "cache") and _launched_rank() != 0:
            return 0  # one process answers
    try:
        with _StopSignals(keep=argv is None) as stop, warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return command(args, stop)
    except (_Fail, ValidationError) as e:
        if _launched_rank() == 0:  # in a distributed run every process has the same error: one says it
            _say(f"eventsim: error: {e}", sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:  # writing the output folder or the image failed (disk full, permissions)
        _say(f"eventsim: error: {_os_message(e)}", sys.stderr)
        return EXIT_FAILURE
    except MemoryError as e:
        _say(f"eventsim: error: {e or 'out of memory'}; nothing written", sys.stderr)
        return EXIT_FAILURE
    except _Interrupted as e:
        _say(f"eventsim: interrupted by {_name(e.signum)} {e.when}; nothing written", sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:  # signal handlers could not be installed (not the main thread)
        _say("eventsim: interrupted; nothing written", sys.stderr)
        return 128 + signal.SIGINT


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning (e.g. a long run, :mod:`eventsim.workload`) as one line, without Python's source line."""
    _say(f"eventsim: warning: {message}", sys.stderr)


def _os_message(e: OSError) -> str:
    """``<path>: <reason>`` of an OSError (the path of the file the error is about, when it has one)."""
    reason = e.strerror or str(e)
    if e.filename is None:
        return reason
    return f"{e.filename}: {reason}" + (f" (moving to {e.filename2})" if e.filename2 else "")


def _say(text: str, stream=None) -> None:
    """Print a line; a terminal gone (SIGHUP) or a closed pipe must not turn a finished run into a failure."""
    stream = stream or sys.stdout
    try:
        print(text, file=stream, flush=True)
    except (OSError, ValueError):
        pass


def _name(signum: int) -> str:
    return signal.Signals(signum).name


def _load(args, **kw):
    from eventsim import scenario

    try:
        return scenario.load(args.scenario, args.overrides, **kw)
    except MemoryError:
        raise _Fail(f"{args.scenario}: out of memory while reading the scenario and its table files") from None


def _out_of_memory(sc) -> str:
    return (f"{sc.path}: populations: out of memory while building the network "
            "(`eventsim validate` prints its memory estimate)")


# ------------------------------------------------------------------------------------- signals
class _Interrupted(BaseException):
    """Quit at once on a stop signal (a BaseException: library code catching Exception lets it through)."""

    def __init__(self, signum: int, when: str):
        super().__init__(signum, when)
        self.signum, self.when = signum, when


class _StopSignals:
    """What SIGINT, SIGTERM and SIGHUP do during a command (a context manager installing the handlers).

    Until the simulation starts (reading, building, compiling) a signal quits at once: nothing has
    been simulated, nothing is written (inside Numba's compiler the process exits on the spot, see
    :func:`_exit_now`; elsewhere :class:`_Interrupted` unwinds). During the simulation the first
    signal asks the run to stop at the next chunk (:class:`_Progress` raises ``KeyboardInterrupt``
    there) and its results are written; while they are written, a first signal lets the writing
    finish. A second signal during the simulation or the writing quits at once without writing (the
    temporary folder is removed, so no half-written output folder is ever left). Once the results
    are in place signals are only noted. ``signum`` is the first signal received (None if none).

    ``keep``: on leaving the context, ignore stop signals from then on instead of putting the
    previous handlers back. For the program's own process only: what is left is exiting, and a
    signal during the interpreter's shutdown (which resets Python-level handlers) must not kill a
    run that has finished.
    """

    def __init__(self, keep: bool = False):
        self.signum, self.stage, self.keep = None, "prepare", keep
        self.before = "before the simulation started"  # says when a signal in stage "prepare" came
        self._previous, self._hook, self._deferred = {}, None, None

    def __enter__(self) -> "_StopSignals":
        try:
            for s in STOP_SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        except ValueError:  # not the main thread: Python delivers signals there only
            pass
        # A signal handled inside a finalizer (__del__, run by the garbage collector anywhere) is reported
        # through sys.unraisablehook ("Exception ignored ...") and swallowed: keep that quiet, and
        # enter() notices the signal at the next stage.
        self._hook = sys.unraisablehook
        sys.unraisablehook = lambda u: None if isinstance(u.exc_value, _Interrupted) else self._hook(u)
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._previous.items():
            signal.signal(s, signal.SIG_IGN if self.keep else h)
        sys.unraisablehook = self._hook

    def _handle(self, signum, frame) -> None:
        if self._deferred is not None:
            self._deferred.append(signum)
            return
        first = self.signum is None
        if first:
            self.signum = signum
        if self.stage == "prepare":
            if _compiling():
                _exit_now(signum, self.before)
            self._quit(signum, self.before)
        if not first and self.stage in ("simulate", "write"):
            self._quit(signum, "a second time")

    def _quit(self, signum: int, when: str) -> None:
        self.stage = "quitting"  # further signals must not interrupt the cleaning up
        raise _Interrupted(signum, when)

    def enter(self, stage: str) -> None:
        """Move on to ``stage``: "prepare", "simulate", "write" or "done" (results in place)."""
        if self.stage == "prepare" and self.signum is not None:  # the signal was swallowed (see __enter__)
            self._quit(self.signum, self.before)
        self.stage = stage

    @contextlib.contextmanager
    def deferred(self):
        """Hold signals back while the block runs (it must not stop halfway), then act on them."""
        self._deferred = []
        try:
            yield
        finally:
            pending, self._deferred = self._deferred, None
        for signum in pending:
            self._handle(signum, None)

    @property
    def exit_code(self) -> int:
        return 0 if self.signum is None else 128 + self.signum


def _compiling() -> bool:
    """Is this thread inside Numba's compiler (JIT compiling, or loading machine code from the cache)?"""
    try:
        from numba.core.compiler_lock import global_compiler_lock
    except ImportError:  # Numba's internals moved: assume the worst
        return True
    return global_compiler_lock.is_locked()


def _exit_now(signum: int, when: str) -> None:
    """End the process at once, interrupted ``when`` ("before the simulation started").

    An exception raised inside Numba's compiler can leave LLVM objects half built, and their
    finalizers then crash the interpreter (seen: a segmentation fault). Nothing has been written yet
    and Numba writes its cache files atomically, so exiting without unwinding is safe. The line goes
    straight to the file descriptor: the interrupted code may hold the lock of ``sys.stderr``.
    """
    line = f"eventsim: interrupted by {_name(signum)} {when}; nothing written\n"
    try:
        os.write(2, line.encode())
    finally:
        os._exit(128 + signum)


# ------------------------------------------------------------------------------------------ run
def _events(counters: dict) -> int:
    """Events processed: synaptic inputs and external (Poisson, scheduled) arrivals."""
    return counters.get("syn_events", 0) + counters.get("ext_events", 0)


class _Progress:
    """Progress callback: draws a bar on stderr after ``delay_s``; stops the run once a stop signal came."""

    def __init__(self, events, total_ms: float, show: bool, stop: _StopSignals, stream=None, delay_s: float = 2.0):
        self.events, self.total, self.show, self.stop = events, total_ms, show, stop
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.delay_s, self.drawn, self.last = delay_s, False, 0.0
        self.first = None

    def __call__(self, t_ms: float) -> None:
        if self.stop.signum is not None and t_ms < self.total - 0.5 * TICK_MS:  # (complete: nothing to stop)
            raise KeyboardInterrupt
        now = time.perf_counter()
        events = self.events() if self.events is not None else 0
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
        self._write(f"\r[{bar:<24}] {t_ms:,.1f} / {self.total:,.1f} ms {100 * frac:5.1f}%  "
                    + (f"{(events - ev0) / wall:.3g} events/s  " if self.events is not None else "")
                    + f"ETA {eta:,.0f} s ")
        self.drawn = True

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal is gone (SIGHUP): keep simulating
            self.show = False

    def close(self) -> None:
        if self.drawn:
            self._write("\n")


def _simulate(sc, stop: _StopSignals, notice: bool, bar: bool, sample: bool = False):
    """Build, compile and run the scenario's network; returns (network, RunRecord).

    A stop signal before the simulation quits at once (:class:`_StopSignals`). ``notice``: say on
    stderr that the engine is compiling when its first call takes longer than COMPILE_NOTICE_S.
    ``sample``: sample what the compiled loop does (``eventsim profile``'s time by activity).
    """
    from eventsim.profiling import timed_run

    message = "eventsim: compiling the engine (once, a few minutes)..."
    timer = threading.Timer(COMPILE_NOTICE_S, _say, (message, sys.stderr))
    timer.daemon = True

    def on_phase(name: str) -> None:
        stop.enter("simulate" if name == "simulate" else "prepare")
        if name == "compile" and notice:
            timer.start()
        elif name == "simulate":
            timer.cancel()

    t0 = time.perf_counter()
    progress = None
    try:
        net = sc.network()
        described_s = time.perf_counter() - t0
        progress = _Progress(lambda: _events(net.engine.counters), sc.duration, show=bar and sys.stderr.isatty(),
                             stop=stop)
        rec = timed_run(net, sc.duration, progress=progress, on_phase=on_phase, sample=sample)
    except ScenarioError:
        raise
    except ValidationError as e:
        raise _Fail(f"{sc.path}: {e}") from None
    except MemoryError:
        if stop.stage == "prepare":
            raise _Fail(_out_of_memory(sc)) from None
        raise MemoryError(f"{sc.path}: out of memory during the simulation") from None
    except Exception:
        stop.enter(stop.stage)  # an exception caused by a signal (see _StopSignals.__enter__) reports it
        raise
    finally:
        timer.cancel()
        if progress is not None:
            progress.close()
    rec.build_s += described_s
    return net, rec


def _cmd_run(args, stop: _StopSignals) -> int:
    sc = _load(args, seed=args.seed, engine=args.engine, threads=args.threads, formats=args.formats)
    _check_formats(sc)
    dest = output.plan(args.output or f"{sc.path.stem}-out", args.force)
    net, rec = _simulate(sc, stop, notice=not args.quiet, bar=not args.quiet)
    p = net.prepare()
    summary = _summary(args, sc, rec, stop.signum, sizes=(p.n_neurons, p.n_synapses))
    from eventsim.profiling import peak_rss_bytes

    summary["ranks"], summary["per_rank"] = 1, [{
        "rank": 0, "lo": 0, "hi": p.n_neurons, "neurons": p.n_neurons, "synapses": p.n_synapses,
        "events": _events(rec.results.counters), "wall_s": rec.simulate_s, "comm_wait_s": 0.0,
        "peak_rss_bytes": peak_rss_bytes() or 0}]
    return _write_output(args, dest, sc, rec, summary, stop)


def _write_output(args, dest, sc, rec, summary: dict, stop: _StopSignals) -> int:
    """Write the output folder atomically, say where, and return the exit code."""
    stop.enter("write")
    tmp = output.write_temporary(dest, _files(sc, rec.results, summary))
    with stop.deferred():  # two renames: a signal between them would hide the earlier output
        where = output.move_into_place(tmp, dest)
        stop.enter("done")
    if not args.quiet:
        _say(_human(summary, where))
    if where != dest.path:
        _say(f"eventsim: {dest.path} was created or changed during the run (another run?); "
             f"results written to {where} instead", sys.stderr)
    if rec.interrupted:
        _say(f"eventsim: interrupted by {summary['signal']} at {rec.results.t_stop:g} ms; "
             f"partial results in {where}", sys.stderr)
        return 128 + getattr(signal, summary["signal"])
    if stop.signum is not None:
        _say(f"eventsim: {_name(stop.signum)} came after the simulation had finished; complete results in {where}",
             sys.stderr)
    return stop.exit_code


# ----------------------------------------------------------------------------- run over MPI
def _launched_size() -> int:
    from eventsim.mpi import launched_size

    return launched_size()


def _launched_rank() -> int:
    from eventsim.mpi import launched_rank

    return launched_rank()


def _agreed(comm, step, where: str = ""):
    """Run ``step()`` on every process and agree on its outcome, so that an error some processes see
    ends all of them (one line, said by rank 0) instead of leaving the others waiting in a collective.
    ``where``: the file an API error (not a scenario error, which names its file) is about."""
    value, error = None, None
    try:
        value = step()
    except ScenarioError as e:
        error = str(e)
    except ValidationError as e:
        error = f"{where}: {e}" if where else str(e)
    except _Fail as e:
        error = str(e)
    except MemoryError as e:
        error = str(e) or "out of memory"
    errors = comm.allgather(error)
    failed = [(k, e) for k, e in enumerate(errors) if e is not None]
    if failed:
        k, e = failed[0]
        same = all(x == e for x in errors)
        raise _Fail(e if same or k == 0 else f"rank {k} of {comm.size}: {e}")
    return value


def _same_scenario(comm, sc) -> None:
    """Refuse a run whose processes read different scenarios (files, overrides, tables or options)."""
    mine = (sc.sha256, sc.seed, sc.engine, sc.threads, tuple(sc.formats))
    theirs = comm.allgather(mine)
    for k, other in enumerate(theirs):
        if other != theirs[0]:
            what = ("the scenario (sha256 {} on rank 0, {} on rank {})".format(theirs[0][0][:12], other[0][:12], k)
                    if other[0] != theirs[0][0] else f"the options (seed, engine, threads or formats) on rank {k}")
            raise _Fail(f"{sc.path}: the run differs between processes: {what}; every process must run the same "
                        "scenario with the same options")


def _cmd_run_distributed(args, stop: _StopSignals) -> int:
    """``mpiexec -n K eventsim run``: one part of the network per process, output written by rank 0."""
    from eventsim import mpi

    comm = mpi.MpiComm(mpi.world())
    sc = _agreed(comm, lambda: _load(args, seed=args.seed, engine=args.engine, threads=args.threads,
                                     formats=args.formats))
    _agreed(comm, lambda: _check_formats(sc))
    _same_scenario(comm, sc)
    if sc.engine != "numba":
        raise _Fail(f"{sc.path}: run.engine: expected 'numba' under mpiexec (the reference engine runs in one "
                    "process only)")
    dest = _agreed(comm, lambda: output.plan(args.output or f"{sc.path.stem}-out", args.force)
                   if comm.rank == 0 else None)
    net, rec, run = _simulate_distributed(sc, comm, stop, bar=not args.quiet)
    # the first stop signal any process received (mpiexec passes SIGINT and SIGTERM on to every process)
    signum = next((x for x in comm.allgather(stop.signum) if x is not None), None)
    if comm.rank != 0:
        return 128 + signum if rec.interrupted and signum is not None else 0
    summary = _summary(args, sc, rec, signum, sizes=(run.n_neurons, run.n_synapses))
    summary["ranks"], summary["per_rank"] = comm.size, run.per_rank
    return _write_output(args, dest, sc, rec, summary, stop)


def _simulate_distributed(sc, comm, stop: _StopSignals, bar: bool):
    """Build this process's part and run it with the others; returns (network, RunRecord, DistributedRun).

    A failure only this process sees during the run (out of memory, an internal error) ends every
    process (``MPI_Abort``) after one line naming the rank: the others would wait for it forever.
    """
    from eventsim import mpi

    def on_phase(name: str) -> None:
        stop.enter("simulate" if name == "simulate" else "prepare")

    net = _agreed(comm, sc.network, str(sc.path))
    show = bar and comm.rank == 0 and sys.stderr.isatty()
    progress = _Progress(None, sc.duration, show=show, stop=stop)
    try:
        rec, run = mpi.timed_run(net, sc.duration, comm=comm, progress=progress, on_phase=on_phase,
                                 agree=lambda step: _agreed(comm, step, str(sc.path)))
    except (_Fail, _Interrupted):
        raise
    except ValidationError as e:  # raised by every process alike (a neuron firing without end)
        raise _Fail(f"{sc.path}: {e}") from None
    except BaseException as e:  # noqa: BLE001  (anything else would leave the other ranks waiting)
        if isinstance(e, MemoryError):
            what = f"{sc.path}: out of memory during the simulation"
        else:
            what = f"{type(e).__name__}: {e}"
        _say(f"eventsim: error: rank {comm.rank} of {comm.size}: {what}; every process stopped, nothing written",
             sys.stderr)
        comm.abort(EXIT_FAILURE)
        os._exit(EXIT_FAILURE)  # MPI_Abort may return before the launcher ends this process
    finally:
        progress.close()
    return net, rec, run


def _cmd_profile_distributed(args, stop: _StopSignals) -> int:
    raise _Fail(f"{args.scenario}: `eventsim profile` runs in one process; start it without mpiexec "
                "(`mpiexec -n K eventsim run` writes per-rank figures to summary.json)")


def _check_formats(sc) -> None:
    """Refuse, before simulating, an output format whose optional dependency is missing."""
    if "sonata" in sc.formats:
        try:
            import eventsim.sonata  # noqa: F401
        except ImportError:
            raise _Fail(f"{sc.path}: run.formats: 'sonata' needs h5py: pip install \"eventsim[sonata]\"") from None


def _versions() -> dict:
    import numba

    import eventsim

    return {"eventsim": eventsim.__version__, "numba": numba.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _summary(args, sc, rec, signum: int | None, sizes: tuple) -> dict:
    """summary.json's content; ``sizes`` = (neurons, synapses)."""
    res = rec.results
    pops = {}
    for k, name in enumerate(res.pop_names):
        s = res.population_of(name)
        pops[name] = dict(start=s.start, size=s.stop - s.start, recorded=int(res.recorded[s].sum()),
                          spikes=int(res.spikes_of(name)[0].size), rate_hz=res.rates()[name])
    c = {k: int(v) for k, v in res.counters.items()}
    events = _events(c)
    # a KeyboardInterrupt without a signal we saw comes from Python's own SIGINT handler
    stopped_by = (_name(signum) if signum is not None else "SIGINT") if rec.interrupted else None
    return {
        "format": output.FORMAT,
        "scenario": {"path": str(sc.path.resolve()), "sha256": sc.sha256, "overrides": list(args.overrides)},
        "seed": sc.seed, "engine": sc.engine, "threads": sc.threads, "versions": _versions(),
        "neurons": sizes[0], "synapses": sizes[1],
        "duration_ms": sc.duration, "simulated_ms": res.t_stop, "interrupted": rec.interrupted,
        "signal": stopped_by,
        "spikes": int(res.spike_ids.size), "populations": pops, "events": c,
        "wall_s": {"build": rec.build_s, "compile": rec.compile_s, "simulate": rec.simulate_s},
        "events_per_s": events / rec.simulate_s if rec.simulate_s > 0 else 0.0,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
    }


def _files(sc, res, summary: dict) -> dict:
    """The writers of the output folder's files (see :func:`eventsim.output.write`)."""
    from eventsim.documents import dumps_toml

    def spikes(path):
        np.savez(path, ids=res.spike_ids.astype(np.int64), times=res.spike_times.astype(np.float64))

    def voltages(path):
        arrays = {}
        for name, tr in res.voltages.items():
            arrays.update({f"{name}_ids": tr.ids, f"{name}_times": tr.times, f"{name}_values": tr.values})
        np.savez(path, **arrays)

    def summary_json(path):
        path.write_text(json.dumps(summary, indent=2) + "\n")

    def scenario_toml(path):
        header = f"# Resolved copy of {sc.path} written by eventsim (sha256 {summary['scenario']['sha256']})\n"
        path.write_text(header + dumps_toml(sc.resolved()))

    def sonata(path):
        from eventsim.sonata import write_spikes

        write_spikes(path, res)

    files = {"spikes.npz": spikes, "voltages.npz": voltages} if res.voltages else {"spikes.npz": spikes}
    if "sonata" in sc.formats:
        files["spikes.h5"] = sonata
    return {**files, "summary.json": summary_json, "scenario.toml": scenario_toml}


def _human(s: dict, out: Path) -> str:
    lines = [f"{Path(s['scenario']['path']).name}: {s['neurons']:,} neurons, {s['synapses']:,} synapses, "
             f"{s['simulated_ms']:g} ms simulated ({s['engine']} engine, seed {s['seed']}"
             + (f", {s['ranks']} processes" if s.get("ranks", 1) > 1 else "") + ")"
             + (f"  [INTERRUPTED by {s['signal']}]" if s["interrupted"] else "")]
    for name, p in s["populations"].items():
        lines.append(f"  {name:<12} {p['spikes']:>12,} spikes  {p['rate_hz']:8.2f} Hz  ({p['recorded']:,} recorded)")
    w, e = s["wall_s"], s["events"]
    lines.append(f"  {e.get('syn_events', 0):,} synaptic + {e.get('ext_events', 0):,} external events, "
                 f"{s['events_per_s']:.3g} events/s")
    lines.append(f"  wall time: build {w['build']:.2f} s, compile {w['compile']:.2f} s, simulate {w['simulate']:.2f} s")
    lines.append(f"  output: {out}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- validate
def _cmd_validate(args, stop: _StopSignals) -> int:
    from eventsim.scenario import _mb, available_memory
    from eventsim.stimuli import stimulus_arrays

    stop.before = "while validating"
    sc = _load(args)
    try:
        est = sc.estimate()
        net = sc.network()
        stimulus_arrays(net.stimuli, net.n_neurons, net.seed)
    except ScenarioError:
        raise
    except ValidationError as e:
        raise _Fail(f"{sc.path}: {e}") from None
    except MemoryError:
        raise _Fail(_out_of_memory(sc)) from None
    avail = available_memory()
    pops = ", ".join(f"{name} {size:,}" for name, size in sc.sizes.items())
    _say(f"{sc.path}: valid (schema 1, sha256 {sc.sha256[:16]})\n"
         f"  populations: {pops} ({est['neurons']:,} neurons)\n"
         f"  projections: {len(sc.projections)}, about {est['synapses']:,} synapses\n"
         f"  stimuli: {len(sc.stimuli)}; spikes recorded: "
         f"{'all' if sc.record_spikes == 'all' else ', '.join(sc.record_spikes) or 'none'}; "
         f"voltage recorders: {len(sc.voltage)}\n"
         f"  run: {sc.duration:g} ms, seed {sc.seed}, engine {sc.engine}\n"
         f"  memory estimate: {_mb(est['bytes'])}" + (f" (available: {_mb(avail)})" if avail else ""))
    return 0


# ----------------------------------------------------------------------------- plot and profile
def _cmd_plot(args, stop: _StopSignals) -> int:
    from eventsim.plotting import plot_output

    stop.before = "while plotting"
    path = plot_output(args.outdir, args.output)
    _say(f"wrote {path}")
    return 0


def _cmd_profile(args, stop: _StopSignals) -> int:
    from eventsim.profiling import format_profile, profile_of

    sc = _load(args, threads=args.threads)
    net, rec = _simulate(sc, stop, notice=True, bar=False, sample=True)
    stop.enter("done")
    _say(f"{sc.path} ({sc.engine} engine, seed {sc.seed})\n{format_profile(profile_of(net, rec))}")
    if rec.interrupted:
        return 128 + (stop.signum or signal.SIGINT)
    return stop.exit_code


def _cmd_cache(args, stop: _StopSignals) -> int:
    """Print the engine cache's folder, files and size; with --clear, remove those files."""
    from eventsim.engine.jit_cache import engine_cache_dir, engine_cache_files

    folder = engine_cache_dir()
    files = engine_cache_files(folder)
    size = 0
    for f in files:
        with contextlib.suppress(OSError):
            size += f.stat().st_size
    if not args.clear:
        _say(f"compiled-engine cache: {folder}: {len(files)} files, {size / 2**20:.1f} MiB", sys.stdout)
        return 0
    removed = 0
    for f in files:
        with contextlib.suppress(FileNotFoundError):  # removed by another process meanwhile
            f.unlink()
            removed += 1
    _say(f"compiled-engine cache: {folder}: removed {removed} files, {size / 2**20:.1f} MiB "
         "(the next run compiles the engine again)", sys.stdout)
    return 0
