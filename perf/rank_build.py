#!/usr/bin/env python3
"""What does one rank of K build of a network's connectivity: time, synapses and memory?

    python perf/rank_build.py --scale 1 --ranks 1,2,4 --repeat 3

For each K, rank 0 of K (neurons ``[0, N/K)``, contiguous, as docs/distributed.md partitions them)
builds the part of every projection of Brunel (scenarios/brunel_delta.toml, population sizes times
``--scale``) onto its neurons with ``connectivity.build_projection(..., target_range=...)``: the
build a distributed run makes on each rank. Reports min / median / max build time over
``--repeat`` runs (after one warm-up), the rank's synapses, and the growth of the peak resident
size during the build (Linux: ``/proc/self/clear_refs`` resets the peak before each build, and
glibc maps every block of 64 KiB or more on its own so that freed arrays leave; numpy's and Numba's
allocations alike). With ``--threads T`` the blocks are drawn on T threads. Prints a Markdown table
and one JSON line.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from eventsim import connectivity, scenario  # noqa: E402
from eventsim.rng import ConnectionStreams  # noqa: E402


def rank_parts(net, lo: int, hi: int, threads: int) -> list:
    """Every projection's part onto global neurons ``[lo, hi)``."""
    parts = []
    for j, pr in enumerate(net.projections):
        pre, post = net.populations[pr["pre"]], net.populations[pr["post"]]
        local = (min(max(lo - post.start, 0), post.size), min(max(hi - post.start, 0), post.size))
        parts.append(connectivity.build_projection(
            pr["rule"], pre.size, post.size, pre is post, pr["weight"], pr["delay"],
            allow_autapses=pr["allow_autapses"], allow_multapses=pr["allow_multapses"],
            streams=ConnectionStreams(net.seed, j), target_range=local, threads=threads, where=pr["where"]))
    return parts


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(key + ":"))


def _reset_peak() -> int:
    """Reset the peak resident size; returns the resident size now (bytes)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status("VmRSS")


def measure(net, K: int, repeat: int, threads: int) -> dict:
    hi = net.n_neurons // K
    rank_parts(net, 0, hi, threads)  # warm-up
    times, peak, synapses = [], 0, 0
    for _ in range(repeat):
        base = _reset_peak()
        t0 = time.perf_counter()
        parts = rank_parts(net, 0, hi, threads)
        times.append(time.perf_counter() - t0)
        peak = max(peak, _status("VmHWM") - base)
        synapses = sum(p.n_synapses for p in parts)
        del parts
    s = _common.summary(times)
    return {"K": K, "neurons": hi, "synapses": synapses, "build_s": s, "peak_mib": peak / 2**20,
            "peak_b_per_syn": peak / synapses if synapses else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--ranks", default="1,2,4", help="comma-separated K (default 1,2,4)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    ctypes.CDLL("libc.so.6").mallopt(-3, 65536)  # M_MMAP_THRESHOLD: large arrays mapped on their own
    ks = [int(k) for k in args.ranks.split(",")]
    sizes = {f"populations.{p}.size={int(round(n * args.scale))}" for p, n in (("exc", 10000), ("inh", 2500))}
    net = scenario.load(_common.ROOT / "scenarios" / "brunel_delta.toml", sorted(sizes), check_memory=False).network()
    records = [measure(net, K, args.repeat, args.threads) for K in ks]
    rows = [[r["K"], r["neurons"], r["synapses"], r["build_s"]["min"], r["build_s"]["median"], r["build_s"]["max"],
             r["synapses"] / r["build_s"]["median"] / 1e6, r["peak_mib"], r["peak_b_per_syn"]] for r in records]
    meta = {"command": _common.command_line(), "date": _common.now(), "machine": _common.machine(),
            "commit": _common.git_commit(_common.ROOT / "eventsim"), "threads": args.threads, "scale": args.scale}
    print(f"Brunel x {args.scale:g}, rank 0 of K, threads {args.threads}; commit {meta['commit']}, {meta['date']}, "
          f"{meta['machine']['cpu']} x {meta['machine']['nproc']}\ncommand: {meta['command']}\n")
    print(_common.markdown_table(["K", "rank's neurons", "rank's synapses", "build_s min", "median", "max",
                                  "M syn/s", "peak RSS growth MiB", "B/syn"], rows))
    print(json.dumps({**meta, "records": records}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
