"""Direct delivery's own shortcuts give what the general functions give, bit for bit."""

import numpy as np

from eventsim.engine import kernels as K
from eventsim.engine.records import DIRTY, TICKS_PER_MS
from eventsim.engine.wakeups import update_wake, wake_after_input


def test_wake_after_input_is_update_wake():
    """The per-input wake-up bound with tau_m from the neuron's class (Net.cls_tau) is the bound that
    update_wake computes from the neuron's NEURON record, for neurons with V_inf > V_th just given an
    input (ctick DIRTY): refractory or not, below or at threshold, with or without a Poisson arrival."""
    rng = np.random.default_rng(13)
    nrn = np.zeros(1, K.NSTATE)
    neuron = np.zeros(1, K.NEURON)
    checked = 0
    for _ in range(2000):
        tau = float(rng.choice([20.0, 10.0, 3.7, 0.5]))
        neuron[0]["tau_m"] = tau
        r = nrn[0]
        r["thr"] = -float(rng.uniform(0.01, 5.0))
        r["ctick"] = DIRTY
        e = float(np.exp(rng.uniform(-50, 50)))
        tick = int(rng.integers(0, 10**9))
        r["U"] = float(rng.choice([-1.0, 1.0])) * float(rng.uniform(0.0, 20.0)) * e
        r["ref_tick"] = tick + int(rng.choice([-10**6, -1, 0, 1, 10**6]))
        r["ref_frac"] = float(rng.choice([0.0, 0.25]))
        r["ps_tick"] = int(rng.choice([K.NEVER, tick + int(rng.integers(0, 10**7))]))
        wake_a, bmin_a = np.full(1, K.NEVER, np.int64), np.full(1, K.NEVER, np.int64)
        wake_b, bmin_b = np.full(1, K.NEVER, np.int64), np.full(1, K.NEVER, np.int64)
        update_wake(nrn[0], neuron[0], 0, tick, e, wake_a, bmin_a)
        wake_after_input(nrn[0], 0, tick, e, tau * TICKS_PER_MS, wake_b, bmin_b)
        assert wake_a[0] == wake_b[0] and bmin_a[0] == bmin_b[0]
        checked += wake_a[0] not in (tick, r["ref_tick"], r["ps_tick"])
    assert checked > 100  # the formula's branch was reached often


def _plain_lif(n: int, qif: bool = False, delays=1.5) -> "eventsim.Network":
    """n plain LIF neurons (or with a qif population), recurrent, Poisson-driven."""
    import eventsim

    net = eventsim.Network(seed=7)
    a = net.add_population("a", n - 200, t_ref=2.0, V_th=-55.0)
    b = net.add_population("b", 200, **({"model": "qif", "V_c": -55.0, "V_peak": -45.0} if qif else
                                        {"t_ref": 2.0, "V_th": -55.0}))
    for pre in (a, b):
        for post in (a, b):
            net.connect(pre, post, rule="fixed_indegree", indegree=20, weight=0.3 if pre is a else -0.8,
                        delay=delays)
    net.add_poisson(a, rate=12000.0, weight=0.2)
    net.add_poisson(b, rate=12000.0, weight=0.2)
    return net


def _limit(net, threads: int = 1) -> int:
    from eventsim.engine.numba_engine import NumbaEngine

    return int(NumbaEngine(net.prepare(), threads=threads).state.ctl[0]["direct_max_neurons"])


def test_direct_limit_by_level2_cache(monkeypatch):
    """On one thread, plain LIF neurons without per-synapse delays deliver every window directly up to
    DIRECT_L2_MULTIPLE level-2 caches of neuron states; threads, per-synapse delays and other models
    keep the fixed DIRECT_MAX_NEURONS; a multiple of 0 (the tests' default, conftest.py) turns it off."""
    from eventsim.engine import numba_engine as E

    monkeypatch.setattr(E, "DIRECT_L2_MULTIPLE", 2)
    monkeypatch.setattr(E, "l2_cache_bytes", lambda: 1 << 20)
    assert _limit(_plain_lif(400)) == (2 << 20) // E.HOT_BYTES_PER_NEURON > E.DIRECT_MAX_NEURONS
    assert _limit(_plain_lif(400), threads=2) == E.DIRECT_MAX_NEURONS
    assert _limit(_plain_lif(400, qif=True)) == E.DIRECT_MAX_NEURONS
    assert _limit(_plain_lif(400, delays={"distribution": "uniform", "min": 1.0, "max": 2.0})) == E.DIRECT_MAX_NEURONS
    monkeypatch.setattr(E, "l2_cache_bytes", lambda: 1 << 16)  # a small cache: never below the fixed size
    assert _limit(_plain_lif(400)) == E.DIRECT_MAX_NEURONS
    monkeypatch.setattr(E, "l2_cache_bytes", lambda: 1 << 20)
    monkeypatch.setattr(E, "DIRECT_L2_MULTIPLE", 0)
    assert _limit(_plain_lif(400)) == E.DIRECT_MAX_NEURONS


def test_network_within_level2_rule_is_all_direct_and_same_spikes(monkeypatch):
    """A network above DIRECT_MAX_NEURONS within the cache's rule takes every window directly, and its
    spikes and counters are those of the run through buckets, bit for bit."""
    from eventsim.engine import numba_engine as E

    n = E.DIRECT_MAX_NEURONS + 600
    runs = {}
    for multiple in (0, 2):
        monkeypatch.setattr(E, "DIRECT_L2_MULTIPLE", multiple)
        monkeypatch.setattr(E, "l2_cache_bytes", lambda: n * E.HOT_BYTES_PER_NEURON // 2)
        runs[multiple] = _plain_lif(n).run(60.0)
    buckets, direct = runs[0], runs[2]
    assert direct.counters["direct_windows"] == direct.counters["windows"] > 0
    assert buckets.counters["direct_windows"] < buckets.counters["windows"]
    assert buckets.spike_ids.size > 500
    np.testing.assert_array_equal(direct.spike_ids, buckets.spike_ids)
    np.testing.assert_array_equal(direct.spike_times, buckets.spike_times)
    for key in ("spikes", "syn_events", "ext_events", "discarded", "batches"):
        assert direct.counters[key] == buckets.counters[key], key
