"""Threads of the compiled engine: spikes, voltages and counters bit-identical for any thread count.

The networks have more than 2,048 neurons, so that busy windows go through the buckets, the part
that threads share out (smaller networks deliver every window directly, on one thread). Three
threads are run through the engine itself: it splits the buckets into any number of parts whatever
the CPUs (``Network(threads=...)`` is limited to NUMBA_NUM_THREADS, 2 on CI).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import eventsim
from eventsim.engine.numba_engine import NumbaEngine
from eventsim.errors import ValidationError

N = 2600  # above DIRECT_MAX_NEURONS: bucket windows


def random_network(seed: int, t_ref: float = 2.0, models: bool = False, threads: int = 1) -> eventsim.Network:
    """Poisson drive, homogeneous and per-synapse delays and weights, current steps, voltage samples;
    with ``models``, adaptive-threshold lif, qif and lif_psc_exp populations on the generic path too
    (weights onto lif_psc_exp are pA: small currents here)."""
    rng = np.random.default_rng(seed)
    net = eventsim.Network(seed=seed, threads=threads)
    n_exc = int(0.8 * N)
    exc = net.add_population("exc", n_exc, t_ref=t_ref, V_th=-55.0, I_e=float(rng.uniform(0, 300)))
    inh = net.add_population("inh", N - n_exc, t_ref=t_ref, V_th=-55.0)
    pops = [exc, inh]
    if models:
        pops.append(net.add_population("adapt", 150, t_ref=t_ref, delta_theta=2.0, tau_theta=50.0, I_e=200.0))
        pops.append(net.add_population("quad", 150, model="qif", t_ref=t_ref, I_e=50.0))
        pops.append(net.add_population("psc", 150, model="lif_psc_exp", t_ref=max(t_ref, 0.5), I_e=380.0))
    for pre in pops:
        for post in pops:
            inhibitory = pre is inh
            w = -1.0 if inhibitory else {"distribution": "uniform", "min": 0.05, "max": 0.3}
            d = 1.5 if pre is exc else {"distribution": "uniform", "min": 1.0, "max": 3.0}
            net.connect(pre, post, rule="fixed_indegree", indegree=int(rng.integers(5, 40)), weight=w, delay=d)
    for p in pops:
        net.add_poisson(p, rate=float(rng.uniform(5000, 20000)), weight=0.2)
    net.add_current_steps(exc, [20.0, 35.0], [150.0, -150.0])
    net.record_voltage(inh, np.linspace(1.0, 59.0, 17))
    return net


def run_with(net: eventsim.Network, parts: int, ms: float = 60.0):
    eng = NumbaEngine(net.prepare(), threads=parts)
    eng.advance(int(ms * 1e6))
    return eng.spikes(), eng.voltages.copy(), eng.counters


def assert_same(a, b):
    (sa, va, ca), (sb, vb, cb) = a, b
    for x, y in zip(sa, sb):
        np.testing.assert_array_equal(x, y)  # bit-identity is the claim
    np.testing.assert_array_equal(va, vb)
    assert ca == cb


@pytest.mark.parametrize("seed, models", [(1, False), (2, True)])
def test_any_thread_count_gives_the_same_run(seed, models):
    one = run_with(random_network(seed, models=models), 1)
    assert one[0][0].size > 1000 and one[2]["windows"] > one[2]["direct_windows"]
    for parts in (2, 3):
        assert_same(one, run_with(random_network(seed, models=models), parts))


def test_growing_spike_buffer_under_threads():
    """t_ref = 0: the window spike buffer starts small and grows; a part that overflows its slice
    makes the window run again with a larger buffer, as one thread does."""
    one = run_with(random_network(3, t_ref=0.0), 1, 30.0)
    assert_same(one, run_with(random_network(3, t_ref=0.0), 3, 30.0))


def test_network_threads_and_split_runs():
    """Through the API: one thread in one run, against all the threads Numba may use (2 on CI) in two."""
    whole = random_network(4).run(40.0)
    split = random_network(4, threads=numba.config.NUMBA_NUM_THREADS)
    split.run(15.0)
    res = split.run(25.0)
    assert whole.spike_ids.size > 500
    np.testing.assert_array_equal(whole.spike_ids, res.spike_ids)
    np.testing.assert_array_equal(whole.spike_times, res.spike_times)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValidationError, match="threads"):
        eventsim.Network(threads=bad)


def test_more_threads_than_numba_may_use_is_refused():
    limit = numba.config.NUMBA_NUM_THREADS
    with pytest.raises(ValidationError, match=f"NUMBA_NUM_THREADS = {limit}"):
        eventsim.Network(threads=limit + 1)
