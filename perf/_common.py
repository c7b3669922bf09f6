"""Helpers shared by perf/bench.py, perf/compare.py and perf/sweep.py (standard library only).

Machine and provenance fields (CPU model, cores, memory, git commit, date, command), running a
script in a fresh subprocess with a timeout (the whole process group is killed on timeout), reading
the one JSON line a benchmark prints, and Markdown tables.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PERF = ROOT / "perf"
RESULTS_DIR = PERF / "results"

# Exit code of a peer script that cannot import its simulator (perf/peers/common.py: EXIT_SKIPPED).
EXIT_SKIPPED = 3


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_memory_gb() -> float | None:
    """Installed memory in GiB (Linux MemTotal), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine() -> dict:
    """CPU model, usable cores, memory, OS and the 1-minute load average: what the figures were measured on."""
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    try:
        load = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures
    except (AttributeError, OSError):
        load = None
    return {"cpu": cpu_model(), "nproc": nproc, "mem_gb": total_memory_gb(),
            "os": f"{platform.system()} {platform.release()}", "load_1min": load}


def git_commit(path=None) -> str | None:
    """Short hash of HEAD of the repository holding ``path`` (default: the imported eventsim
    package), with ``+dirty`` when files under ``path`` differ from HEAD; None outside git."""
    if path is None:
        import eventsim

        path = Path(eventsim.__file__).resolve().parent
    git = ["git", "-C", str(path)]
    try:
        head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", "."], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def now() -> str:
    """Local date and time, ISO 8601, to the second."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def command_line(argv=None) -> str:
    """The command as one could type it again (script path relative to the repository)."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        try:
            argv[0] = str(Path(argv[0]).resolve().relative_to(ROOT))
        except ValueError:
            pass
    return "python " + " ".join(shlex.quote(a) for a in argv)


def single_thread_env(env=None) -> dict:
    """A copy of ``env`` (default: os.environ) with BLAS / OpenMP pools pinned to one thread."""
    env = dict(os.environ if env is None else env)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


def summary(values) -> dict:
    """min, median, max of a non-empty sequence of numbers."""
    values = list(values)
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


@dataclass
class Outcome:
    """What one benchmark subprocess did: ``status`` is ok, skipped, failed or timeout."""

    status: str
    record: dict | None
    reason: str
    wall_s: float
    argv: list


def run_json(argv: list, *, timeout: float, env=None, cwd=ROOT) -> Outcome:
    """Run ``argv`` in a fresh process group and parse the last JSON line it prints on stdout.

    Exit code 3 means "skipped" (a peer whose simulator is not installed). On timeout the whole
    process group (compilers, standalone binaries) is killed. stderr is passed through only in the
    reason of a failure (its last non-empty line).
    """
    import time

    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return Outcome("timeout", None, f"no result within {timeout:g} s", time.perf_counter() - t0, argv)
    wall = time.perf_counter() - t0
    last_err = next((ln.strip() for ln in reversed(err.splitlines()) if ln.strip()), "")
    if proc.returncode == EXIT_SKIPPED:
        return Outcome("skipped", None, last_err or "exit code 3", wall, argv)
    if proc.returncode != 0:
        return Outcome("failed", None, f"exit code {proc.returncode}: {last_err}", wall, argv)
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return Outcome("ok", json.loads(line), "", wall, argv)
            except json.JSONDecodeError:
                break
    return Outcome("failed", None, f"no JSON line on stdout ({last_err})", wall, argv)


def fmt(v, digits: int = 3) -> str:
    """A number for a table: thousands separators for big ones, ``digits`` significant otherwise."""
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) >= 1e4):
        return f"{int(v):,}"
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.1f} M"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def markdown_table(header: list, rows: list, left=(0,)) -> str:
    """A Markdown table: columns in ``left`` left-aligned, the others (numbers) right-aligned."""
    cells = [[fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[k]) for r in cells)) if cells else len(str(h)) for k, h in enumerate(header)]
    line = lambda r: "| " + " | ".join(  # noqa: E731
        (str(c).ljust(w) if k in left else str(c).rjust(w)) for k, (c, w) in enumerate(zip(r, widths))) + " |"
    sep = "|" + "|".join((":" + "-" * (w + 1)) if k in left else ("-" * (w + 1) + ":") for k, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(r) for r in cells)])


def append_jsonl(path: Path, record: dict) -> None:
    """Append one record as a JSON line (creating the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")
