"""The compiled engine against the reference engine on seeded random networks (hypothesis).

Structure and parameters are drawn by hypothesis; continuous values come from a numpy generator
seeded by hypothesis, so threshold ties of measure zero do not occur. Horizons are short enough
that the networks are not chaotic: both engines must give the same spikes within 1e-9 ms.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventsim

GRID_DELAYS = np.array([0.1, 0.2, 0.25, 0.5, 1.0, 1.5])


def random_weight_and_delay(g, per_synapse: bool, grid_delays: bool):
    """A projection's weight (mV) and delay (ms): distributions when ``per_synapse``, delays on the
    0.1 ms grid when ``grid_delays`` (ties between spikes), drawn from ``g``."""
    if per_synapse:
        weight = {"distribution": "uniform", "min": -4.0, "max": 6.0}
        delay = ({"distribution": "uniform", "min": 0.1, "max": 2.0} if not grid_delays
                 else float(g.choice(GRID_DELAYS)))
    else:
        weight = float(g.uniform(-4.0, 6.0))
        delay = float(g.choice(GRID_DELAYS)) if grid_delays else float(g.uniform(0.1, 2.0))
    return weight, delay


def random_network(engine, seed, n_pops, sizes, grid_delays, per_synapse, with_poisson, with_current):
    g = np.random.default_rng(seed)
    net = eventsim.Network(seed=seed % 2**32, engine=engine)
    pops = []
    for k in range(n_pops):
        tau = float(g.uniform(5.0, 30.0))
        I_e = float(g.uniform(0.0, 450.0)) if g.random() < 0.5 else 0.0  # some neurons fire on their own
        pops.append(net.add_population(
            f"p{k}", int(sizes[k]), tau_m=tau, t_ref=float(g.choice([0.0, 0.5, 2.0])), I_e=I_e,
            V_init={"distribution": "uniform", "min": -70.0, "max": -56.0}))
    for a in pops:
        for b in pops:
            if g.random() < 0.3:
                continue
            weight, delay = random_weight_and_delay(g, per_synapse, grid_delays)
            if g.random() < 0.5:
                net.connect(a, b, rule="fixed_indegree", indegree=int(min(len(a), 3)), weight=weight, delay=delay)
            else:
                net.connect(a, b, rule="pairwise_bernoulli", p=0.4, weight=weight, delay=delay)
    if with_poisson:
        net.add_poisson(pops[0], rate=float(g.uniform(500.0, 3000.0)), weight=float(g.uniform(0.5, 3.0)))
    if with_current:
        net.add_current_steps(pops[-1], times=[float(g.uniform(5, 20))], amplitudes=[float(g.uniform(-100, 300))])
    trains = np.sort(g.uniform(0.0, 40.0, 6)).round(1)  # on the 0.1 ms grid: ties with network spikes
    net.add_spike_train(pops[-1], times=trains, weight=float(g.uniform(5.0, 15.0)), delay=0.5)
    net.record_voltage(pops[0][:2], np.sort(g.uniform(0.0, 50.0, 5)), name="v")
    return net


# derandomize: CI runs the same examples every time. Networks with structural ties between a
# crossing after inputs and an arrival (synchronous waves with t_ref = 0) can be resolved either
# way by float64 rounding in the two engines (docs/semantics.md, "Limits of exactness").
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**40), n_pops=st.integers(1, 3), sizes=st.lists(st.integers(1, 12), min_size=3, max_size=3),
       grid_delays=st.booleans(), per_synapse=st.booleans(), with_poisson=st.booleans(), with_current=st.booleans())
def test_engines_agree_on_random_networks(seed, n_pops, sizes, grid_delays, per_synapse, with_poisson, with_current):
    args = (seed, n_pops, sizes, grid_delays, per_synapse, with_poisson, with_current)
    results = [random_network(e, *args).run(50.0) for e in ("numba", "reference")]
    fast, ref = results
    assert fast.spike_ids.size == ref.spike_ids.size, (fast.spike_ids.size, ref.spike_ids.size)
    assert np.array_equal(fast.spike_ids, ref.spike_ids)
    assert np.max(np.abs(fast.spike_times - ref.spike_times), initial=0.0) < 1e-9
    assert np.allclose(fast.voltages["v"].values, ref.voltages["v"].values, rtol=0, atol=1e-9, equal_nan=True)
    for key in ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes"):
        assert fast.counters[key] == ref.counters[key], key


def test_brunel_like_network_agrees(rng):
    """A small balanced network with Poisson drive and the Brunel parameters, 100 ms."""
    out = []
    for engine in ("numba", "reference"):
        net = eventsim.Network(seed=7, engine=engine)
        params = dict(tau_m=20.0, V_th=20.0, V_reset=10.0, E_L=0.0, V_init=0.0, t_ref=2.0)
        exc = net.add_population("exc", 40, **params)
        inh = net.add_population("inh", 10, **params)
        for pre, w in ((exc, 0.1 * 25), (inh, -0.5 * 25)):
            for post in (exc, inh):
                net.connect(pre, post, rule="fixed_indegree", indegree=len(pre) // 10, weight=w, delay=1.5)
        net.add_poisson(exc, rate=20000.0 / 10, weight=1.0)
        net.add_poisson(inh, rate=20000.0 / 10, weight=1.0)
        out.append(net.run(100.0))
    fast, ref = out
    assert fast.spike_ids.size > 20
    assert np.array_equal(fast.spike_ids, ref.spike_ids)
    assert np.max(np.abs(fast.spike_times - ref.spike_times)) < 1e-9


def test_regression_crossing_from_reset_ties_an_arrival():
    """Identical neurons: a crossing from reset coincides (exactly) with an arrival of an identical
    neuron's spike; both engines must apply "crossing first" (found by the hypothesis test). The
    network of this seed (connectivity streams by blocks of targets) has such ties: with the reference
    engine's CROSSING and INPUT kinds swapped it gives 4 crossing spikes and 9 discarded inputs."""
    args = (1121, 3, [1, 3, 1], False, False, False, False)
    fast, ref = (random_network(e, *args).run(50.0) for e in ("numba", "reference"))
    assert fast.counters["crossing_spikes"] == ref.counters["crossing_spikes"] == 6
    assert fast.counters["discarded"] == ref.counters["discarded"] == 11
    assert np.array_equal(fast.spike_ids, ref.spike_ids)


def test_engines_agree_across_buckets_and_blocks(monkeypatch):
    """200 neurons: four entry buckets of 64 neurons (the last one partial), per-synapse weights and
    delays, Poisson drive, a current step, spike trains and voltage samples across the buckets."""
    _force_delivery(monkeypatch, False)
    out = []
    for engine in ("numba", "reference"):
        net = eventsim.Network(seed=11, engine=engine)
        params = dict(tau_m=15.0, V_th=-55.0, V_reset=-70.0, E_L=-65.0, t_ref=1.0,
                      V_init={"distribution": "uniform", "min": -70.0, "max": -56.0})
        exc = net.add_population("exc", 160, **params)
        inh = net.add_population("inh", 40, **params)
        for pre, w in ((exc, 1.5), (inh, -4.0)):
            for post in (exc, inh):
                net.connect(pre, post, rule="pairwise_bernoulli", p=0.1,
                            weight={"distribution": "uniform", "min": min(0.5 * w, 1.5 * w), "max": max(0.5 * w, 1.5 * w)},
                            delay={"distribution": "uniform", "min": 0.5, "max": 2.0})
        net.add_poisson(exc, rate=1500.0, weight=1.2)
        net.add_current_steps(inh, times=[30.0], amplitudes=[250.0])
        net.add_spike_train(exc[100:180], times=[10.0, 20.0, 20.0], weight=8.0, delay=0.5)
        net.record_voltage(exc[60:70], [12.5, 30.0, 44.0], name="v")
        out.append(net.run(60.0))
    fast, ref = out
    assert fast.spike_ids.size > 100
    assert len(np.unique(fast.spike_ids[fast.spike_ids >= 192])) > 0  # the partial last block fires
    assert np.array_equal(fast.spike_ids, ref.spike_ids)
    assert np.max(np.abs(fast.spike_times - ref.spike_times)) < 1e-9
    assert np.allclose(fast.voltages["v"].values, ref.voltages["v"].values, rtol=0, atol=1e-9)
    for key in ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes"):
        assert fast.counters[key] == ref.counters[key], key


def _force_delivery(monkeypatch, direct):
    """Make every window of the compiled engine use direct delivery (True) or the buckets."""
    from eventsim.engine import numba_engine
    monkeypatch.setattr(numba_engine, "DIRECT_MAX_NEURONS", 1 << 40 if direct else -1)
    monkeypatch.setattr(numba_engine, "DIRECT_MAX_ENTRIES", 1 << 40 if direct else -1)


@pytest.mark.parametrize("seed", range(8))
def test_direct_delivery_and_buckets_are_bit_identical(monkeypatch, seed):
    """The two ways of working a window give the same spikes, voltages and counters, bit for bit."""
    g = np.random.default_rng(seed)
    args = (int(g.integers(2**40)), 3, [int(v) for v in g.integers(1, 90, 3)], bool(seed % 2), bool(seed % 3 == 0),
            True, bool(seed % 4 < 2))
    out = []
    for direct in (True, False):
        _force_delivery(monkeypatch, direct)
        res = random_network("numba", *args).run(50.0)
        out.append(res)
        assert res.counters["direct_windows"] == (res.counters["windows"] if direct else 0)
    a, b = out
    assert np.array_equal(a.spike_ids, b.spike_ids)
    assert np.array_equal(a.spike_times, b.spike_times)  # bit identity is the claim
    assert np.array_equal(a.voltages["v"].values, b.voltages["v"].values, equal_nan=True)
    for key in ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes", "heap_pushes", "batches"):
        assert a.counters[key] == b.counters[key], key
