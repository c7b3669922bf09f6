#!/usr/bin/env python3
"""How fast does NEST simulate eventsim's bundled networks (on one thread, or on ``--threads N``)?

    .venv-peers/bin/python perf/peers/nest_peer.py --model brunel --scale 0.1 --duration 200
    .venv-peers/bin/python perf/peers/nest_peer.py --model benchmark4 --scale 1 --duration 1000 --neuron grid
    .venv-peers/bin/python perf/peers/nest_peer.py --model brunel_psc_exp --scale 1 --duration 200

Builds the network (Create + Connect, timed as ``build_s``), runs ``nest.Simulate`` once (timed as
``sim_s``) with ``local_num_threads = --threads`` (default 1), and prints one JSON line (fields in
common.py / README). NEST draws its connections and Poisson trains from one stream per thread, so
another thread count simulates another realisation of the same network.

``--neuron ps`` (default) uses ``iaf_psc_delta_ps`` (off-grid spike times, exact integration) and,
for Brunel's drive, ``poisson_generator_ps`` (off-grid Poisson arrivals): the same continuous-time
model as eventsim, up to the random streams. ``--neuron grid`` uses ``iaf_psc_delta`` and
``poisson_generator`` (spikes and arrivals on the grid of ``--resolution`` ms). Both generators send
an independent train to each target, as eventsim's Poisson generator does. Inputs arriving while a
neuron is refractory are discarded (NEST's default ``refractory_input = False``), as in eventsim.

``brunel_psc_exp`` (exponential current synapses, weights in pA) uses ``iaf_psc_exp_ps`` (``ps``)
or ``iaf_psc_exp`` (``grid``) with the same generators. Their synaptic currents keep decaying and
receiving inputs during the refractory period (V alone is clamped), as eventsim's ``lif_psc_exp``.
``iaf_psc_exp_ps`` tests the threshold at the ends of its steps (grid points and input times) only,
so it can miss an excursion above threshold between two of them (eventsim does not).

Resolution: 0.1 ms for both Brunel networks (delay 1.5 ms = 15 steps, as NEST's brunel_delta_nest.py),
0.125 ms for Benchmark 4 (delay 0.125 ms = 1 step, as NEST's cuba_ps.py); a delay must be a
multiple of the resolution. External synapses (both Brunel networks) have the recurrent delay 1.5 ms as in NEST's
example, so the drive reaches the neurons from t = 1.5 ms on (eventsim's from t = 0);
``ext_events`` is the expected number of arrivals inside the run, N * rate * (T - 1.5 ms).

``syn_events`` is exact (out-degree of every neuron read back from NEST) when the network has at
most ``--exact-syn-limit`` synapses: NEST's Python API needs ~2.5 kB and ~12 us per connection for
that. Larger networks count each spike with its population's mean out-degree (from NEST's exact
per-synapse-model connection counts); ``syn_events_exact`` says which.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def extra_args(ap) -> None:
    ap.add_argument("--neuron", choices=("ps", "grid"), default="ps",
                    help="ps: iaf_psc_delta_ps (iaf_psc_exp_ps) + poisson_generator_ps; grid: iaf_psc_delta "
                         "(iaf_psc_exp) + poisson_generator")
    ap.add_argument("--resolution", type=float, default=None,
                    help="ms; default 0.1 (brunel, brunel_psc_exp) or 0.125 (benchmark4)")
    ap.add_argument("--exact-syn-limit", type=int, default=2_000_000,
                    help="read per-neuron out-degrees back when synapses <= this (default 2e6)")


def main() -> None:
    args = common.parse_args(__doc__.splitlines()[0], extra_args)
    net = common.network(args)
    res = args.resolution if args.resolution is not None else net.dt
    steps = net.delay / res
    if abs(steps - round(steps)) > 1e-9 or round(steps) < 1:
        sys.exit(f"nest_peer: delay {net.delay} ms is not a positive multiple of the resolution {res} ms")
    common.single_thread_env()
    os.environ.setdefault("PYNEST_QUIET", "1")
    psc = "exp" if net.tau_syn is not None else "delta"
    model = f"iaf_psc_{psc}_ps" if args.neuron == "ps" else f"iaf_psc_{psc}"
    brunel = isinstance(net, common.Brunel)
    gen_model = "poisson_generator_ps" if args.neuron == "ps" else "poisson_generator"
    peer = f"nest-{model}"

    with common.stdout_to_stderr():
        try:
            import importlib.metadata as md

            import numpy as np
            import nest
        except Exception as exc:  # ImportError, or a broken binary wheel
            common.skip(peer, exc)
        try:
            nest.verbosity = nest.VerbosityLevel.WARNING
        except AttributeError:
            nest.set_verbosity("M_WARNING")
        nest.ResetKernel()
        nest.SetKernelStatus({"resolution": res, "local_num_threads": args.threads, "rng_seed": net.seed})

        t0 = time.perf_counter()
        params = {"C_m": net.C_m, "tau_m": net.tau_m, "t_ref": net.t_ref, "E_L": net.E_L,
                  "V_th": net.V_th, "V_reset": net.V_reset}
        if net.tau_syn is not None:
            params.update(tau_syn_ex=net.tau_syn, tau_syn_in=net.tau_syn)
        if brunel:
            params["V_m"] = net.V_init
        else:  # uniform in [V_reset, V_th)
            params["V_m"] = nest.random.uniform(min=net.V_reset, max=net.V_th)
        nodes = nest.Create(model, net.N, params=params)
        exc, inh = nodes[: net.NE], nodes[net.NE:]
        rec = nest.Create("spike_recorder")
        if brunel:
            nest.CopyModel("static_synapse", "syn_exc", {"weight": net.J, "delay": net.delay})
            nest.CopyModel("static_synapse", "syn_inh", {"weight": net.J_in, "delay": net.delay})
            nest.CopyModel("static_synapse", "syn_ext", {"weight": net.J, "delay": net.delay})
            noise = nest.Create(gen_model, params={"rate": net.ext_rate_hz})
            nest.Connect(noise, nodes, syn_spec="syn_ext")
            # fixed_indegree with NEST's defaults: autapses and multapses allowed
            nest.Connect(exc, nodes, {"rule": "fixed_indegree", "indegree": net.CE}, "syn_exc")
            nest.Connect(inh, nodes, {"rule": "fixed_indegree", "indegree": net.CI}, "syn_inh")
        else:
            nest.CopyModel("static_synapse", "syn_exc", {"weight": net.w_exc, "delay": net.delay})
            nest.CopyModel("static_synapse", "syn_inh", {"weight": net.w_inh, "delay": net.delay})
            conn = {"rule": "pairwise_bernoulli", "p": net.p, "allow_autapses": True}
            nest.Connect(exc, nodes, conn, "syn_exc")
            nest.Connect(inh, nodes, conn, "syn_inh")
        nest.Connect(nodes, rec)
        build_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        nest.Simulate(args.duration)
        sim_s = time.perf_counter() - t0

        n_exc = nest.GetDefaults("syn_exc")["num_connections"]
        n_inh = nest.GetDefaults("syn_inh")["num_connections"]
        synapses = n_exc + n_inh
        peak = common.peak_rss_mb()  # before the out-degree read-back below, which costs more
        first = nodes[0].global_id
        events = rec.get("events")
        senders = np.asarray(events["senders"], dtype=np.int64) - first
        counts = np.bincount(senders, minlength=net.N)
        spikes = (senders, np.asarray(events["times"], dtype=np.float64))
        if synapses <= args.exact_syn_limit:
            sources = np.asarray(nest.GetConnections(source=nodes, target=nodes).get("source"), dtype=np.int64)
            stats = common.spike_stats(net, counts, args.duration, spikes=spikes,
                                       out_degree=np.bincount(sources - first, minlength=net.N))
            del sources
        else:
            stats = common.spike_stats(net, counts, args.duration, spikes=spikes,
                                       mean_out_degree=(n_exc / net.NE, n_inh / net.NI))
        if brunel:
            ext_window_ms = max(0.0, args.duration - net.delay)
            ext_events = net.N * net.ext_rate_hz * ext_window_ms / 1000.0
        else:
            ext_events = 0.0
        versions = {"nest-simulator": md.version("nest-simulator"), "numpy": np.__version__}

    common.emit(peer=peer, net=net, duration_ms=args.duration, synapses=synapses, build_s=build_s,
                compile_s=0.0, sim_s=sim_s, stats=stats, ext_events=ext_events,
                ext_events_exact=not brunel,
                versions=versions, peak_rss=peak, threads=args.threads, resolution_ms=res,
                generator=gen_model if brunel else None)


if __name__ == "__main__":
    main()
