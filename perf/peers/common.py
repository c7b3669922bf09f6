"""What the peer scripts share: the networks' parameters, argument parsing, spike statistics, the JSON line.

The peer scripts (``nest_peer.py``, ``brian2_peer.py``) run in their own virtual env (see
``setup.sh``), which has no eventsim: this module uses the standard library and numpy only
(perf/bench.py imports :func:`cv_isi` from it too, so that every simulator's CV is one definition).

The parameters mirror eventsim's bundled scenarios ``scenarios/brunel_delta.toml``,
``scenarios/benchmark4.toml`` and ``scenarios/brunel_psc_exp.toml`` (see those files for the
sources of every value; tests/test_compare_psc_exp.py checks the last against its file). ``--scale S``
multiplies the population sizes only: Brunel's in-degrees (CE = 1000 and CI = 250; 40 and 10 for
``brunel_psc_exp``) stay fixed (the paper's scaling) and Benchmark 4's connection probability 0.02
stays fixed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import sys
from dataclasses import dataclass

# Exit code the compare script reads as "peer not installed: skipped".
EXIT_SKIPPED = 3


@dataclass(frozen=True)
class Brunel:
    """Brunel (2000) delta-synapse network, g = 5, eta = 2 (scenarios/brunel_delta.toml)."""

    scale: float
    CE: int = 1000            # excitatory in-degree (fixed, not scaled)
    CI: int = 250             # inhibitory in-degree (fixed, not scaled)
    J: float = 0.1            # mV, excitatory jump (and external jump)
    g: float = 5.0            # relative inhibition: inhibitory jump -g * J = -0.5 mV
    eta: float = 2.0          # external rate relative to threshold rate
    delay: float = 1.5        # ms, all recurrent synapses
    tau_m: float = 20.0       # ms
    C_m: float = 250.0        # pF (irrelevant: delta synapses, no current input)
    E_L: float = 0.0          # mV
    V_th: float = 20.0        # mV
    V_reset: float = 10.0     # mV
    t_ref: float = 2.0        # ms
    V_init: float = 0.0       # mV, all neurons
    dt: float = 0.1           # ms, grid resolution for the clock-driven peers (delay = 15 steps)
    seed: int = 12345

    name = "brunel"
    NE0, NI0 = 10000, 2500    # population sizes at scale 1
    tau_syn = None            # delta synapses: weights are jumps of V in mV

    @property
    def NE(self) -> int:
        return int(round(self.NE0 * self.scale))

    @property
    def NI(self) -> int:
        return int(round(self.NI0 * self.scale))

    @property
    def N(self) -> int:
        return self.NE + self.NI

    @property
    def J_in(self) -> float:
        return -self.g * self.J

    @property
    def nu_th(self) -> float:
        """Threshold rate per external synapse, in 1/ms: V_th / (J * CE * tau_m) = 0.01 (10 Hz)."""
        return self.V_th / (self.J * self.CE * self.tau_m)

    @property
    def ext_rate_per_synapse_hz(self) -> float:
        """eta * nu_th in Hz (20 Hz): the rate of each of the CE external synapses."""
        return 1000.0 * self.eta * self.nu_th

    @property
    def ext_rate_hz(self) -> float:
        """One Poisson train per neuron at eta * nu_th * CE = 20000 Hz, jumps of J."""
        return self.ext_rate_per_synapse_hz * self.CE

    def expected_synapses(self) -> int:
        return self.N * (self.CE + self.CI)


@dataclass(frozen=True)
class BrunelPscExp(Brunel):
    """Brunel (2000) with exponential current synapses, g = 6, eta = 1.5 (scenarios/brunel_psc_exp.toml).

    NEST's ``iaf_psc_exp_ps`` (eventsim's ``lif_psc_exp``): weights are currents in pA, each
    decaying with ``tau_syn`` (both kinds); J = 250 pA injects J tau_syn = 125 fC, 0.5 mV without
    leak. Inputs during the refractory period still charge the currents (NEST, Brian2, eventsim).
    """

    CE: int = 40              # excitatory in-degree (fixed, not scaled)
    CI: int = 10              # inhibitory in-degree (fixed, not scaled)
    J: float = 250.0          # pA, excitatory weight (and external weight)
    g: float = 6.0            # relative inhibition: -g * J = -1500 pA
    eta: float = 1.5          # external rate relative to threshold rate
    tau_syn: float = 0.5      # ms, tau_syn_ex = tau_syn_in
    seed: int = 2026

    name = "brunel_psc_exp"
    NE0, NI0 = 400, 100

    @property
    def nu_th(self) -> float:
        """Threshold rate per external synapse, in 1/ms: V_th C_m / (J tau_syn CE tau_m) = 0.05 (50 Hz)."""
        return self.V_th * self.C_m / (self.J * self.tau_syn * self.CE * self.tau_m)


@dataclass(frozen=True)
class Benchmark4:
    """Brette et al. (2007) Benchmark 4 as NEST's cuba_ps.py gives it (scenarios/benchmark4.toml)."""

    scale: float
    p: float = 0.02           # pairwise Bernoulli, every ordered pair, autapses allowed
    w_exc: float = 0.25       # mV
    w_inh: float = -2.25      # mV
    delay: float = 0.125      # ms, all synapses
    tau_m: float = 20.0       # ms
    C_m: float = 200.0        # pF (cuba_ps.py; irrelevant: no current input)
    E_L: float = -49.0        # mV, above threshold: neurons fire by themselves
    V_th: float = -50.0       # mV
    V_reset: float = -60.0    # mV
    t_ref: float = 5.0        # ms
    # V(0) uniform in [V_reset, V_th) for every neuron; no external input.
    dt: float = 0.125         # ms, grid resolution for the clock-driven peers (delay = 1 step)
    seed: int = 2007

    name = "benchmark4"

    @property
    def NE(self) -> int:
        return int(round(3200 * self.scale))

    @property
    def NI(self) -> int:
        return int(round(800 * self.scale))

    @property
    def N(self) -> int:
        return self.NE + self.NI

    ext_rate_hz = 0.0
    tau_syn = None

    def expected_synapses(self) -> float:
        return self.p * self.N * self.N


NETWORKS = {net.name: net for net in (Brunel, BrunelPscExp, Benchmark4)}
"""Model name (``--model``) -> its network class."""


def parse_args(description: str, extra=None) -> argparse.Namespace:
    """The common command line; ``extra(parser)`` adds the peer's own options."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", choices=tuple(NETWORKS), required=True)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies the population sizes")
    ap.add_argument("--duration", type=float, required=True, help="simulated time in ms")
    ap.add_argument("--seed", type=int, default=None, help="default: the scenario's seed")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of the simulation (default 1; NEST local_num_threads, Brian2 OpenMP)")
    if extra is not None:
        extra(ap)
    args = ap.parse_args()
    if args.scale <= 0 or args.duration <= 0 or args.threads < 1:
        ap.error("--scale and --duration must be positive, --threads at least 1")
    return args


def network(args: argparse.Namespace):
    cls = NETWORKS[args.model]
    return cls(args.scale) if args.seed is None else cls(args.scale, seed=args.seed)


def skip(peer: str, exc: BaseException) -> None:
    """The peer package cannot be imported: say so on one stderr line and exit 3 ("skipped")."""
    msg = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    print(f"{peer}: skipped, cannot import it ({msg}); run perf/peers/setup.sh and use "
          f".venv-peers/bin/python", file=sys.stderr)
    sys.exit(EXIT_SKIPPED)


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to file descriptor 1 (Python or C++: banners, progress, compiler
    output, child processes) to stderr, so that stdout carries only the one JSON line."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024.0


def cv_isi(ids, times, n: int, min_spikes: int = 3):
    """Mean over neurons of the coefficient of variation of their inter-spike intervals.

    Parameters
    ----------
    ids : array of int
        Neuron of each spike, ``0 .. n-1``.
    times : array of float
        Spike times, ms, in any order.
    n : int
        Number of neurons.
    min_spikes : int
        Neurons with fewer spikes (fewer than ``min_spikes - 1`` intervals) are left out (default 3).

    Returns
    -------
    float or None
        ``mean_i std(ISI_i) / mean(ISI_i)`` (population standard deviation), or None if no neuron has
        ``min_spikes`` spikes. O(S log S) for S spikes.
    """
    import numpy as np

    ids, times = np.asarray(ids, dtype=np.int64), np.asarray(times, dtype=np.float64)
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    counts = np.bincount(ids, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)))
    cvs = []
    for i in np.flatnonzero(counts >= min_spikes):
        isi = np.diff(times[starts[i]:starts[i + 1]])
        cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else None


def spike_stats(net, spikes_per_neuron, duration_ms: float, out_degree=None, mean_out_degree=None,
                spikes=None) -> dict:
    """Spike count, rates, CV and synaptic deliveries from per-neuron spike counts.

    ``syn_events`` is the sum over spikes of the spiking neuron's out-degree: exact from the
    per-neuron ``out_degree`` array, or, when only ``mean_out_degree = (exc, inh)`` is known,
    each spike of a population counted with its population's mean out-degree
    (``syn_events_exact`` says which). ``spikes = (ids, times)`` (0-based ids, ms) adds ``cv_isi``
    (:func:`cv_isi`).
    """
    import numpy as np

    counts = np.asarray(spikes_per_neuron, dtype=np.int64)
    sec = duration_ms / 1000.0
    out = {
        "spikes": int(counts.sum()),
        "rate_hz": int(counts.sum()) / (net.N * sec),
        "rate_exc_hz": int(counts[: net.NE].sum()) / (net.NE * sec),
        "rate_inh_hz": int(counts[net.NE:].sum()) / (net.NI * sec),
    }
    if spikes is not None:
        cv = cv_isi(*spikes, net.N)
        out["cv_isi"] = None if cv is None else round(cv, 4)
    if out_degree is not None:
        out["syn_events"] = int(np.dot(counts, np.asarray(out_degree, dtype=np.int64)))
        out["syn_events_exact"] = True
    else:
        mean_e, mean_i = mean_out_degree
        out["syn_events"] = int(round(counts[: net.NE].sum() * mean_e + counts[net.NE:].sum() * mean_i))
        out["syn_events_exact"] = False
    return out


def emit(*, peer: str, net, duration_ms: float, synapses: int, build_s: float, compile_s: float,
         sim_s: float, stats: dict, ext_events: float, ext_events_exact: bool, versions: dict,
         peak_rss: float, threads: int = 1, **extra) -> dict:
    """Print the one JSON line on stdout and return it as a dict (``threads``: of the simulation)."""
    events = stats["syn_events"] + ext_events
    rec = {
        "peer": peer,
        "model": net.name,
        "scale": net.scale,
        "neurons": net.N,
        "synapses": int(synapses),
        "simulated_ms": duration_ms,
        "build_s": round(build_s, 4),
        "compile_s": round(compile_s, 4),
        "sim_s": round(sim_s, 4),
        **stats,
        "ext_events": int(round(ext_events)),
        "ext_events_exact": ext_events_exact,
        "events_per_s": round(events / sim_s) if sim_s > 0 else None,
        "ns_per_event": round(sim_s * 1e9 / events, 3) if events > 0 else None,
        "peak_rss_mb": round(peak_rss, 1),
        "threads": threads,
        "seed": net.seed,
        **extra,
        "versions": {"python": platform.python_version(), **versions},
    }
    for k in ("rate_hz", "rate_exc_hz", "rate_inh_hz"):
        rec[k] = round(rec[k], 4)
    print(json.dumps(rec), flush=True)
    return rec


def single_thread_env() -> None:
    """Pin BLAS / OpenMP pools to one thread unless the caller set them (before importing numpy or the peer;
    NEST's ``local_num_threads`` and Brian2's ``openmp_threads`` set their own OpenMP thread count)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
