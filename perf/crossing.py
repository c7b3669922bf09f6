#!/usr/bin/env python3
"""How long does one lif_psc_exp crossing prediction (``first_crossing``) take, compiled?

    python perf/crossing.py                      # this tree
    PYTHONPATH=/path/to/other/checkout python perf/crossing.py --json   # another version, same states

Draws seeded random subthreshold states of a neuron with NEST's ``iaf_psc_exp_ps`` defaults
(``PscExpParams()``: V uniform in [E_L, V_th), I_ex uniform in [0, 1500] pA, I_in in [-1500, 0] pA),
classifies them by whether a crossing exists on the interval, and times a compiled loop calling
``eventsim.models.lif_psc_exp.first_crossing`` on each, for ``S = inf`` (the engine's prediction to
infinity) and ``S`` uniform in [0.5, 1.5] ms. Each timing is repeated (``--repeat``) after one warm-up
call that compiles; prints min / median / max ns per call of each class, and the number of states
in it. The loop's checksum (the sum of the finite crossing times) is printed too, so that two
versions can be seen to return the same times (bit-identical: the same checksum).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def states(n: int, seed: int):
    """``n`` random subthreshold states (V mV, I_ex pA, I_in pA) and interval lengths (ms, finite)."""
    import numpy as np

    from eventsim.models.lif_psc_exp import PscExpParams

    p = PscExpParams()
    rng = np.random.default_rng(seed)
    V = rng.uniform(p.E_L, p.V_th, n)
    I_ex = rng.uniform(0.0, 1500.0, n)
    I_in = rng.uniform(-1500.0, 0.0, n)
    S = rng.uniform(0.5, 1.5, n)
    return p, V, I_ex, I_in, S


def kernel():
    """The compiled loop: first_crossing on every state, returns (total seconds, the times)."""
    import numba
    import numpy as np

    from eventsim.models.lif_psc_exp import first_crossing

    @numba.njit
    def run(p, V, I_ex, I_in, S):
        out = np.empty(V.size)
        for k in range(V.size):
            out[k] = first_crossing(p, V[k], I_ex[k], I_in[k], S[k])
        return out

    return run


def measure(args) -> dict:
    import numpy as np

    p, V, I_ex, I_in, S_finite = states(args.states, args.seed)
    run = kernel()
    result = {}
    for horizon, S in (("S=inf", np.full(V.size, math.inf)), ("S~1ms", S_finite)):
        times = run(p, V, I_ex, I_in, S)  # compiles; classifies the states
        for cls, mask in (("crossing", np.isfinite(times)), ("none", ~np.isfinite(times))):
            idx = np.flatnonzero(mask)
            if idx.size == 0:
                continue
            args_cls = (V[idx].copy(), I_ex[idx].copy(), I_in[idx].copy(), S[idx].copy())
            ns = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                run(p, *args_cls)
                ns.append((time.perf_counter() - t0) * 1e9 / idx.size)
            result[f"{horizon} {cls}"] = {"states": int(idx.size), **{k: round(v, 1) for k, v in
                                                                       _common.summary(ns).items()}}
        finite = times[np.isfinite(times)]
        result[f"{horizon} checksum"] = float(np.sum(finite)).hex()
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--states", type=int, default=20000, help="random states (default 20000)")
    ap.add_argument("--repeat", type=int, default=7, help="timed passes over the states (default 7)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args(argv)
    if args.states < 1 or args.repeat < 1:
        ap.error("--states and --repeat must be at least 1")
    res = measure(args)
    rec = {"benchmark": "first_crossing", "ns_per_call": res, "states": args.states, "repeat": args.repeat,
           "seed": args.seed, "machine": _common.machine(), "date": _common.now(), "command": _common.command_line(),
           "commit": _common.git_commit()}
    if not args.json:
        for k, v in res.items():
            print(f"{k:<20} {v if isinstance(v, str) else ', '.join(f'{a} {b:g}' for a, b in v.items())}")
    print(json.dumps(rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
