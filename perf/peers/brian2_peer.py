#!/usr/bin/env python3
"""How fast does Brian2 simulate eventsim's bundled networks (on one thread, or on ``--threads N``)?

    .venv-peers/bin/python perf/peers/brian2_peer.py --model brunel --scale 0.1 --duration 200
    .venv-peers/bin/python perf/peers/brian2_peer.py --model benchmark4 --scale 1 --duration 1000 \\
        --target cpp_standalone
    .venv-peers/bin/python perf/peers/brian2_peer.py --model brunel_psc_exp --scale 1 --duration 200

Prints one JSON line (fields in common.py / README). Timing per target:

* ``cython`` / ``numpy`` (runtime): ``build_s`` is the construction of the groups and the
  connection step; ``sim_s`` is Brian2's own timing of the main loop of ``Network.run``
  (``device._last_run_time``), ``compile_s`` the rest of ``run`` (code generation and, when the
  on-disk Cython cache ~/.cython/brian_extensions is cold, Cython compilation; the connection
  step's compilation, if any, falls into ``build_s``). Warm the cache with one run first.
* ``cpp_standalone``: ``compile_s`` is code generation plus ``make -j1`` in a fresh temporary
  project; the binary then runs once with ``openmp_threads = 0`` (serial code, no OpenMP) or, with
  ``--threads N`` for N > 1, ``openmp_threads = N`` (OpenMP code on N threads): ``sim_s`` is its main loop as it
  reports it (``last_run_info.txt``), ``build_s`` the Python-side construction plus the rest of the
  binary's wall time (creating the synapses, loading and writing arrays). ``peak_rss_mb`` is the
  larger of this process and the binary (``peak_rss_binary_mb``).

The model is the fastest faithful Brian2 formulation we know: one NeuronGroup with the linear
equation ``dv/dt = (E_L - v) / tau_m`` integrated exactly (``method="exact"``), held at V_reset while
refractory, threshold ``v >= V_th`` (as NEST and eventsim), two Synapses objects (exc, inh) with a
constant weight in ``on_pre`` (no per-synapse variable) and one homogeneous delay; inputs
arriving while the target is refractory are discarded (``int(not_refractory_post)``), as in NEST
and eventsim. Brunel's connections are drawn with numpy exactly like NEST's ``fixed_indegree``
with autapses and multapses (each target draws CE resp. CI sources uniformly with replacement);
Benchmark 4 uses Brian2's own ``connect(p=0.02)`` (autapses included).

``brunel_psc_exp`` (exponential current synapses, weights in pA) adds two currents to the same
linear system, ``dI_ex/dt = -I_ex / tau_syn`` and ``dI_in/dt = -I_in / tau_syn`` driving
``dv/dt = (E_L - v) / tau_m + (I_ex + I_in) / C_m`` (all integrated exactly); a spike adds its
weight to ``I_ex`` or ``I_in`` by its sign. Only v is held during the refractory period: the
currents keep decaying and receiving inputs (as NEST's ``iaf_psc_exp`` and eventsim's
``lif_psc_exp``), so nothing is discarded. The threshold is tested once per step, so an excursion
above it shorter than a step can be missed and a crossing is reported at the end of its step.

Brunel's external drive is ``PoissonInput(N=CE, rate=eta * nu_th, weight=J)``, how Brian2 users
write it: each step adds J * Binomial(CE, rate * dt) to v (also discarded while refractory). That is
the grid approximation of the independent 20000 Hz (``brunel_psc_exp``: 3000 Hz, onto ``I_ex``)
Poisson train per neuron that eventsim and NEST draw; ``ext_events`` is its expectation
N * CE * rate * T (``ext_events_exact = false``).

Grid: dt = 0.1 ms for both Brunel networks (delay 1.5 ms = 15 steps), dt = 0.125 ms for Benchmark 4
(delay 0.125 ms = 1 step), as NEST's examples; ``--dt`` overrides (the delay must stay a multiple).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# Run the standalone binary under a tiny wrapper that records the binary's own peak RSS.
_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "open('peak_rss_kb.txt', 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def extra_args(ap) -> None:
    ap.add_argument("--target", choices=("cython", "cpp_standalone", "numpy"), default="cython")
    ap.add_argument("--dt", type=float, default=None,
                    help="ms; default 0.1 (brunel, brunel_psc_exp) or 0.125 (benchmark4)")
    ap.add_argument("--keep-project", action="store_true", help="cpp_standalone: keep the project directory")


def gcc_version() -> str | None:
    try:
        return subprocess.run(["g++", "-dumpfullversion"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def neuron_model(net) -> dict:
    """Equations, namespace, synaptic effects (``on_pre`` of exc / inh, weight unit) and the external
    drive's target variable and weight of the network's neurons (Brunel only: Benchmark 4 has no drive and no J,
    its ``ext_weight`` is None)."""
    from brian2 import mV, ms, pA, pF

    ns = {"E_L": net.E_L * mV, "tau_m": net.tau_m * ms, "V_th": net.V_th * mV, "V_reset": net.V_reset * mV}
    if net.tau_syn is None:  # delta synapses: a jump of v, discarded while refractory
        jump = "v_post += w_syn * int(not_refractory_post)"
        return {"eqs": "dv/dt = (E_L - v) / tau_m : volt (unless refractory)", "ns": ns, "unit": mV,
                "exc": jump, "inh": jump, "ext_target": "v",
                "ext_weight": f"{net.J!r} * mV * int(not_refractory)" if hasattr(net, "J") else None}
    ns.update(C_m=net.C_m * pF, tau_syn=net.tau_syn * ms)
    eqs = """dv/dt = (E_L - v) / tau_m + (I_ex + I_in) / C_m : volt (unless refractory)
             dI_ex/dt = -I_ex / tau_syn : amp
             dI_in/dt = -I_in / tau_syn : amp"""
    return {"eqs": eqs, "ns": ns, "unit": pA, "exc": "I_ex_post += w_syn", "inh": "I_in_post += w_syn",
            "ext_target": "I_ex", "ext_weight": f"{net.J!r} * pA"}


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0], extra_args)
    net = common.network(args)
    dt_ms = args.dt if args.dt is not None else net.dt
    steps = net.delay / dt_ms
    if abs(steps - round(steps)) > 1e-9 or round(steps) < 1:
        sys.exit(f"brian2_peer: delay {net.delay} ms is not a positive multiple of dt {dt_ms} ms")
    if args.threads > 1 and args.target != "cpp_standalone":
        sys.exit(f"brian2_peer: --threads {args.threads} needs --target cpp_standalone (the runtime targets run "
                 "on one thread)")
    common.single_thread_env()
    peer = f"brian2-{args.target}"
    standalone = args.target == "cpp_standalone"
    project = None

    with common.stdout_to_stderr():
        try:
            import importlib.metadata as md

            import numpy as np
            import brian2 as b2
            from brian2 import Hz, ms, mV
        except Exception as exc:  # ImportError, or e.g. a numpy version brian2 rejects
            common.skip(peer, exc)

        b2.prefs.logging.console_log_level = "WARNING"
        if standalone:
            project = tempfile.mkdtemp(prefix="brian2-peer-")
            b2.set_device("cpp_standalone", directory=project, build_on_run=False)
            # one thread: the serial code (what a one-thread comparison always ran); more: OpenMP's
            b2.prefs.devices.cpp_standalone.openmp_threads = 0 if args.threads == 1 else args.threads
            b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-j1"]
            b2.prefs.devices.cpp_standalone.run_cmd_unix = [sys.executable, "-c", _RSS_WRAPPER, "./main"]
        else:
            b2.prefs.codegen.target = args.target
        b2.defaultclock.dt = dt_ms * ms
        b2.seed(net.seed)
        rng = np.random.default_rng(net.seed)

        t0 = time.perf_counter()
        brunel = isinstance(net, common.Brunel)
        nm = neuron_model(net)
        G = b2.NeuronGroup(net.N, nm["eqs"], threshold="v >= V_th", reset="v = V_reset",
                           refractory=net.t_ref * ms, method="exact", namespace=nm["ns"], name="neurons")
        if brunel:
            G.v = net.V_init * mV
            w_exc, w_inh = net.J, net.J_in
        else:
            G.v = "V_reset + rand() * (V_th - V_reset)"  # uniform in [V_reset, V_th)
            w_exc, w_inh = net.w_exc, net.w_inh
        syn = []
        for name, src, w in (("exc", G[: net.NE], w_exc), ("inh", G[net.NE:], w_inh)):
            S = b2.Synapses(src, G, on_pre=nm[name], delay=net.delay * ms, namespace={"w_syn": w * nm["unit"]},
                            name=f"syn_{name}")
            if brunel:
                k = net.CE if name == "exc" else net.CI
                n_src = len(src)
                # fixed in-degree, with replacement (autapses and multapses), targets in order
                S.connect(i=rng.integers(0, n_src, size=net.N * k, dtype=np.int32),
                          j=np.repeat(np.arange(net.N, dtype=np.int32), k))
            else:
                S.connect(p=net.p)
            syn.append(S)
        objs = [G, *syn]
        if brunel:
            # Binomial(CE, eta * nu_th * dt) external arrivals of J per step (see the docstring)
            objs.append(b2.PoissonInput(G, nm["ext_target"], N=net.CE, rate=net.ext_rate_per_synapse_hz * Hz,
                                        weight=nm["ext_weight"]))
        mon = b2.SpikeMonitor(G, record=True, name="spikes")
        network = b2.Network(*objs, mon)
        py_build_s = time.perf_counter() - t0

        device = b2.get_device()
        t0 = time.perf_counter()
        network.run(args.duration * ms)
        run_wall_s = time.perf_counter() - t0
        extra = {}
        if standalone:
            t0 = time.perf_counter()
            device.build(directory=project, compile=True, run=False, with_output=False)
            compile_s = time.perf_counter() - t0
            device.run(directory=project, with_output=False)
            binary_s = device.timers["run_binary"]
            sim_s = device._last_run_time
            build_s = py_build_s + run_wall_s + (binary_s - sim_s)
            with open(os.path.join(project, "peak_rss_kb.txt")) as f:
                binary_rss = int(f.read()) / 1024.0
            extra = {"binary_s": round(binary_s, 4), "make_s": round(device.timers["compile"]["make"], 4),
                     "peak_rss_binary_mb": round(binary_rss, 1)}
        else:
            sim_s = device._last_run_time
            compile_s = run_wall_s - sim_s
            build_s = py_build_s
            binary_rss = 0.0

        counts = np.asarray(mon.count[:])
        out_degree = np.zeros(net.N, dtype=np.int64)
        synapses = 0
        for S, offset in zip(syn, (0, net.NE)):
            pre = np.asarray(S.i[:], dtype=np.int64)
            synapses += len(pre)
            out_degree += np.bincount(pre + offset, minlength=net.N)
        spikes = (np.asarray(mon.i[:], dtype=np.int64), np.asarray(mon.t[:] / ms, dtype=np.float64))
        stats = common.spike_stats(net, counts, args.duration, out_degree=out_degree, spikes=spikes)
        if brunel:
            ext_events = net.N * net.CE * net.ext_rate_per_synapse_hz * args.duration / 1000.0
        else:
            ext_events = 0.0
        peak = max(common.peak_rss_mb(), binary_rss)
        versions = {"brian2": b2.__version__, "numpy": np.__version__}
        if args.target == "cython":
            versions["cython"] = md.version("cython")
        if args.target != "numpy":
            versions["g++"] = gcc_version()

    if project is not None and not args.keep_project:
        shutil.rmtree(project, ignore_errors=True)
    common.emit(peer=peer, net=net, duration_ms=args.duration, synapses=synapses, build_s=build_s,
                compile_s=compile_s, sim_s=sim_s, stats=stats, ext_events=ext_events,
                ext_events_exact=not brunel, versions=versions, peak_rss=peak, threads=args.threads,
                dt_ms=dt_ms, **extra)


if __name__ == "__main__":
    main()
