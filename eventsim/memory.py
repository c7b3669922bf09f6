"""Memory: what building and running a network takes at its peak, and what this process may still use.

:func:`peak_bytes` models the peak resident memory of building a network and starting the engine
(measured against real runs by ``tests/test_memory_estimate.py``); :func:`available_memory` is
the smallest of the limits that apply to the process: the system's available memory, the
address-space limit (``ulimit -v``) and the cgroup limit (v2 ``memory.max``, v1
``memory.limit_in_bytes``, as containers and batch schedulers set them).
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import resource
except ImportError:  # not on Windows: no RLIMIT_AS there
    resource = None

__all__ = ["available_memory", "peak_bytes", "megabytes", "COST"]

# Peak bytes per item, from where the arrays are made; the comment gives the measured figure
# (tests/test_memory_estimate.py checks that the estimate is above the measured peak, within 2x).
COST = dict(
    # int32 targets exist twice at the peak: per projection and joined (connectivity.assemble
    # copies); measured 8.0 B (Brunel at 12,500 and 125,000 neurons)
    synapse=8,
    # per-synapse float64 weights and int32 delays, also twice (the int64 sort keys of drawn delays
    # are freed before the join); measured 32 B per synapse with both, 8 + 16 + 8
    synapse_weight=16, synapse_delay=8,
    # explicit synapses: the table's float64 columns, int64 ids in the scenario and in the rule,
    # the int64 order and keys of the counting sort; measured 93 B per row of a 4-column CSV, 8 + 16 + 8 + 72
    explicit_synapse=72,
    # row pointers, int64 per source neuron and projection: per projection, joined, engine copy
    row=24,
    # 8 float64 parameter arrays and their drawn temporaries, the engine's NEURON (96 B) and NSTATE
    # (128 B) records, wake-up ticks, ids, bucket tables; measured 362 B
    neuron=480,
    # Poisson streams: 7 columns, concatenated and sorted, and a 64 B STREAM record; measured 138 B
    stream=160,
    # scheduled arrivals (spike tables, spike trains): the table's columns, the network's copies,
    # (tick, frac, target, weight) concatenated, the lexsort order and sorted copies, int32 targets;
    # measured 108 B (spike train), 146 B (spike table CSV, parsing included)
    arrival=160,
    # current changes and voltage samples: like arrivals, then a 40 B TIMED record; measured 76-108 B
    current=112, sample=112,
)
"""Peak bytes of one item of each kind."""
BASE = 8 * 2**20
"""Bytes for the interpreter's own allocations while building (small arrays, Numba's dispatch)."""


def peak_bytes(*, neurons: int, synapses: int = 0, weighted: int = 0, delayed: int = 0, explicit: int = 0,
               rows: int = 0, streams: int = 0, arrivals: int = 0, currents: int = 0, samples: int = 0) -> int:
    """Peak resident bytes of building a network and starting the engine.

    Not included: compiling the kernels the first time (Numba's cache makes later starts cheap),
    and what the run adds, the recorded spikes (24 B each) and voltage traces.

    Parameters
    ----------
    neurons : int
    synapses : int
        All synapses.
    weighted, delayed : int
        Synapses with their own weight / delay (a distribution, an array, a table column).
    explicit : int
        Synapses listed explicitly (arrays or connection tables).
    rows : int
        Sum over projections of the source population's size (CSR row pointers).
    streams : int
        Poisson streams (one per generator and target).
    arrivals : int
        Scheduled inputs: spike-table rows and spike-train times x targets.
    currents : int
        Current changes (times x targets).
    samples : int
        Voltage samples (times x recorded neurons).
    """
    counts = dict(neuron=neurons, synapse=synapses, synapse_weight=weighted, synapse_delay=delayed,
                  explicit_synapse=explicit, row=rows, stream=streams, arrival=arrivals, current=currents,
                  sample=samples)
    return BASE + int(sum(COST[k] * int(v) for k, v in counts.items()))


def megabytes(n: int) -> str:
    """``n`` bytes in words: ``"12.3 MiB"`` or ``"1.5 GiB"``."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


# ------------------------------------------------------------------------------------- limits
def available_memory(proc="/proc", cgroup="/sys/fs/cgroup") -> int | None:
    """Bytes this process can still allocate: the least of the limits that apply, or None if none is known.

    Parameters
    ----------
    proc, cgroup : str or Path
        Where procfs and the cgroup filesystem are mounted (tests point them at fakes).

    Returns
    -------
    int or None
        min(system ``MemAvailable``, ``RLIMIT_AS`` soft limit - ``VmSize``, cgroup limit - usage
        of this process's cgroup and its ancestors); page cache the kernel can drop
        (``inactive_file``) does not count as usage.
    """
    known = [x for x in (_system(Path(proc)), _address_space(Path(proc)), _cgroup(Path(proc), Path(cgroup)))
             if x is not None]
    return max(0, min(known)) if known else None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return int(text) if text not in ("max", "") else None
    except (OSError, ValueError):
        return None


def _field(path: Path, key: str, scale: int = 1) -> int | None:
    """The number after ``key`` in a ``key value`` / ``key: value kB`` file, times ``scale``."""
    try:
        with open(path) as fh:
            for line in fh:
                name, _, rest = line.partition(" ") if ":" not in line else line.partition(":")
                if name == key:
                    return int(rest.split()[0]) * scale
    except (OSError, ValueError, IndexError):
        pass
    return None


def _system(proc: Path) -> int | None:
    found = _field(proc / "meminfo", "MemAvailable", 1024)
    if found is not None:
        return found
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _address_space(proc: Path) -> int | None:
    """Room left under ``ulimit -v`` (RLIMIT_AS counts reserved address space, not resident pages)."""
    if resource is None:
        return None
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    return soft - (_field(proc / "self" / "status", "VmSize", 1024) or 0)


_UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a number near 2**63


def _cgroup(proc: Path, root: Path) -> int | None:
    """Room left under the memory limits of this process's cgroup and its ancestors (v2 and v1)."""
    rooms = []
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, rel = line.split(":", 2) if line.count(":") >= 2 else ("", "-", "")
        if controllers == "":  # v2: 0::/path
            files, base = ("memory.max", "memory.current", "inactive_file"), root
        elif "memory" in controllers.split(","):
            files, base = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"), root / "memory"
        else:
            continue
        rooms += [r for d in _ancestors(base, rel) if (r := _room(d, *files)) is not None]
    return min(rooms) if rooms else None


def _ancestors(base: Path, rel: str) -> list:
    """``base/rel`` and its parents up to ``base`` (in a container, ``rel`` may not exist: then ``base``)."""
    parts = [p for p in rel.strip("/").split("/") if p]
    dirs = [base.joinpath(*parts[:k]) for k in range(len(parts), -1, -1)]
    return [d for d in dirs if d.is_dir()]


def _room(d: Path, limit_file: str, usage_file: str, cache_key: str) -> int | None:
    limit = _read_int(d / limit_file)
    if limit is None or limit >= _UNLIMITED:
        return None
    usage = _read_int(d / usage_file) or 0
    cache = _field(d / "memory.stat", cache_key) or 0
    return limit - max(0, usage - cache)
