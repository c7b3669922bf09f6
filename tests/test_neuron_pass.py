"""Buckets worked neuron by neuron (eventsim.engine.neuron_pass) give direct delivery's run, bit for bit.

Each neuron's inputs, Poisson arrivals, same-time batches (exact and inexact sums), refractory
discards and spikes are worked with its state in locals when it is a plain LIF neuron below
threshold by itself with at most one Poisson stream; a current change or a voltage sample hands
the rest of its window to the entry-by-entry path; other neurons take that path from the start.
Direct delivery (eventsim.engine.direct) works the same window in time order across neurons.
"""

import numpy as np
import pytest

import eventsim

from test_cross_engine import _force_delivery

N = 2600  # above DIRECT_MAX_NEURONS


def network(seed: int) -> eventsim.Network:
    """Poisson drive (one stream, two streams), multapse batches from a few sources (0.1 mV x k:
    sums that are not exact in float64), refractoriness, a population above threshold by itself
    (V_inf > V_th), current steps and voltage samples inside busy windows."""
    rng = np.random.default_rng(seed)
    net = eventsim.Network(seed=seed)
    a = net.add_population("a", 2000, t_ref=2.0, V_th=-55.0)
    b = net.add_population("b", N - 2000 - 200, t_ref=2.0, V_th=-55.0)
    hot = net.add_population("hot", 100, t_ref=2.0, V_th=-55.0, I_e=500.0)  # V_inf = -50 mV > V_th
    few = net.add_population("few", 100, t_ref=1.0, V_th=-55.0, I_e=float(rng.uniform(0, 100)))
    for pre in (a, b, hot):
        for post in (a, b, hot):
            w = -0.6 if pre is b else {"distribution": "uniform", "min": 0.05, "max": 0.4}
            net.connect(pre, post, rule="fixed_indegree", indegree=int(rng.integers(10, 30)), weight=w, delay=1.5)
    for post in (a, b, hot):  # 100 sources, 30 synapses each way: multapses, same-time batches of 0.1
        net.connect(few, post, rule="fixed_indegree", indegree=30, weight=0.1, delay=1.0)
    net.add_poisson(a, rate=15000.0, weight=0.2)
    net.add_poisson(b, rate=12000.0, weight=0.2)
    net.add_poisson(b, rate=3000.0, weight=0.3)  # two streams
    net.add_poisson(few, rate=20000.0, weight=0.25)
    net.add_current_steps(a[:300], [20.0, 33.3], [120.0, -120.0])
    net.record_voltage(a[250:400], np.linspace(1.0, 49.0, 13), name="v")
    return net


@pytest.mark.parametrize("seed", [3, 4])
def test_neuron_by_neuron_buckets_match_direct_delivery(monkeypatch, seed):
    out = []
    for direct in (True, False):
        _force_delivery(monkeypatch, direct)
        res = network(seed).run(50.0)
        assert res.counters["direct_windows"] == (res.counters["windows"] if direct else 0)
        out.append(res)
    x, y = out
    assert x.spike_ids.size > 2000 and x.counters["discarded"] > 0
    assert np.array_equal(x.spike_ids, y.spike_ids)
    assert np.array_equal(x.spike_times, y.spike_times)  # bit identity is the claim
    assert np.array_equal(x.voltages["v"].values, y.voltages["v"].values, equal_nan=True)
    for key in ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes", "batches"):
        assert x.counters[key] == y.counters[key], key


def test_bucket_sizes():
    """Buckets hold 256 neurons at least (64 with a calendar of per-synapse delays, whose entries
    take 40 bytes each in a bucket), at most ~512 buckets."""
    from eventsim.engine.numba_engine import _MAX_BUCKETS, bucket_shift
    assert bucket_shift(12_500) == 8 and bucket_shift(12_500, True) == 6
    assert bucket_shift(1000) == 8 and bucket_shift(1000, True) == 6
    for n in (10**5, 10**6):
        assert n >> bucket_shift(n) <= _MAX_BUCKETS and n >> bucket_shift(n, True) <= _MAX_BUCKETS
