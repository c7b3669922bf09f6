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
from eventsim.engine import numba_engine
from eventsim.engine.numba_engine import NumbaEngine
from eventsim.errors import ValidationError

N = 2600  # above DIRECT_MAX_NEURONS: bucket windows


def random_network(seed: int, t_ref: float = 2.0, models: bool = False, threads: int = 1,
                   delays: bool = True) -> eventsim.Network:
    """Poisson drive, homogeneous and (with ``delays``) per-synapse delays, weights per synapse,
    current steps, voltage samples (without ``delays``: a replayed table); with ``models``, adaptive-threshold lif, qif and
    lif_psc_exp populations on the generic path too (weights onto lif_psc_exp are pA: small currents
    here)."""
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
            d = 1.5 if pre is exc or not delays else {"distribution": "uniform", "min": 1.0, "max": 3.0}
            net.connect(pre, post, rule="fixed_indegree", indegree=int(rng.integers(5, 40)), weight=w, delay=d)
    for p in pops:
        net.add_poisson(p, rate=float(rng.uniform(5000, 20000)), weight=0.2)
    net.add_current_steps(exc, [20.0, 35.0], [150.0, -150.0])
    net.record_voltage(inh, np.linspace(1.0, 59.0, 17))
    if not delays:  # (the network with delays is tests/test_delays.py's stored case too: kept as it was)
        net.add_spike_table(rng.integers(0, N, 300), np.repeat(rng.uniform(0, 50, 100), 3), rng.uniform(-1, 3, 300),
                            1.0)
    return net


def run_with(net: eventsim.Network, parts: int, ms: float = 60.0, items: bool = True, prepared=None):
    """Spikes, voltages and counters of ``ms`` simulated in ``parts`` parts: with ``items`` (where the
    network allows it) the busy windows' items delivered in parts (eventsim.engine.items), else their
    buckets worked in parts (eventsim.engine.buckets), whatever this machine's cache would choose."""
    eng = NumbaEngine(prepared or net.prepare(), threads=parts)
    by_items = parts > 1 and items and numba_engine.items_possible(eng.net)
    eng.state.ctl[0]["item_parts"] = int(by_items)
    eng.advance(int(ms * 1e6))
    ctl = eng.state.ctl[0]
    if parts > 1:  # the path taken: items in parts count under "direct", never "scatter"
        assert (ctl["cyc_scatter"] == 0) == by_items
    return eng.spikes(), eng.voltages.copy(), eng.counters


def assert_same(a, b):
    (sa, va, ca), (sb, vb, cb) = a, b
    for x, y in zip(sa, sb):
        np.testing.assert_array_equal(x, y)  # bit-identity is the claim
    np.testing.assert_array_equal(va, vb)
    assert ca == cb


@pytest.mark.parametrize("seed, models, delays", [(1, False, True), (2, True, True), (8, False, False),
                                                  (9, True, False)])
def test_any_thread_count_gives_the_same_run(seed, models, delays):
    """Both parallel paths (items in parts only without per-synapse delays) against one thread."""
    make = lambda: random_network(seed, models=models, delays=delays)  # noqa: E731
    one = run_with(make(), 1)
    assert one[0][0].size > 1000 and one[2]["windows"] > one[2]["direct_windows"]
    for parts in (2, 3):
        for items in (True, False) if not delays else (False,):
            assert_same(one, run_with(make(), parts, items=items))


def test_rows_not_sorted_by_target_are_worked_in_buckets():
    """A row whose targets are not ascending (no builder makes one) cannot be cut into parts by
    binary search: the engine then works the windows' buckets in parts, with the same results
    (inputs at one time are summed exactly, in any order)."""
    net = random_network(5, delays=False)
    p = net.prepare()
    one = run_with(net, 1, 30.0, prepared=p)
    rng = np.random.default_rng(5)
    shuffled = 0
    for j in range(p.proj_delay.size):
        n_pre = int(p.pop_start[p.proj_pre_pop[j] + 1] - p.pop_start[p.proj_pre_pop[j]])
        for row in range(int(p.proj_rowptr_start[j]), int(p.proj_rowptr_start[j]) + n_pre):
            lo, hi = int(p.rowptr[row]), int(p.rowptr[row + 1])
            if hi - lo > 1 and p.syn_target[lo] != p.syn_target[hi - 1]:
                order = lo + rng.permutation(hi - lo)
                p.syn_target[lo:hi] = p.syn_target[order]
                if p.proj_weight[j] != p.proj_weight[j]:  # NaN: weights per synapse move along
                    sh = int(p.proj_weight_shift[j])
                    p.syn_weight[lo + sh:hi + sh] = p.syn_weight[order + sh]
                shuffled += 1
    assert shuffled > 100
    eng = NumbaEngine(p, threads=2)
    assert eng.state.ctl[0]["item_parts"] == 0
    assert not numba_engine.item_parts(eng.net, 2)
    eng.advance(int(30.0 * 1e6))
    assert_same(one, (eng.spikes(), eng.voltages.copy(), eng.counters))


def test_items_in_parts_when_a_parts_neurons_fit_in_the_cache(monkeypatch):
    """The choice between the two parallel paths follows the level-2 cache (results do not): items
    while a part's states take at most ITEM_PARTS_L2_MULTIPLE caches."""
    net = NumbaEngine(random_network(7, delays=False).prepare()).net
    per_part = -(-N // 2) * numba_engine.HOT_BYTES_PER_NEURON
    m = numba_engine.ITEM_PARTS_L2_MULTIPLE
    assert 64 * 1024 <= numba_engine.l2_cache_bytes() <= 1 << 30  # this machine's, or the default
    monkeypatch.setattr(numba_engine, "l2_cache_bytes", lambda: -(-per_part // m))
    assert numba_engine.item_parts(net, 2)
    assert not numba_engine.item_parts(net, 1)  # one thread: the buckets or direct delivery
    monkeypatch.setattr(numba_engine, "l2_cache_bytes", lambda: (per_part - 1) // m)
    assert not numba_engine.item_parts(net, 2)


def test_rows_sorted_and_runs_sorted():
    """items.rows_sorted: ascending targets within every row; items.runs_sorted: within each time of
    the scheduled arrivals. Per-synapse delays rule the items out whatever the order."""
    from eventsim.engine import items
    from eventsim.engine.records import PROJ

    proj = np.zeros(1, PROJ)
    pop_start = np.array([0, 2], np.int64)
    rowptr = np.array([0, 3, 5], np.int64)
    assert items.rows_sorted(rowptr, np.array([0, 1, 1, 0, 1], np.int32), proj, pop_start)
    assert not items.rows_sorted(rowptr, np.array([0, 2, 1, 0, 1], np.int32), proj, pop_start)
    tick = np.array([1, 1, 2, 2], np.int64)
    frac = np.zeros(4)
    assert items.runs_sorted(tick, frac, np.array([0, 3, 1, 2], np.int32))
    assert not items.runs_sorted(tick, frac, np.array([3, 0, 1, 2], np.int32))
    assert not numba_engine.items_possible(NumbaEngine(random_network(10).prepare()).net)
    assert numba_engine.items_possible(NumbaEngine(random_network(10, delays=False).prepare()).net)


def test_growing_spike_buffer_under_threads():
    """t_ref = 0: the window spike buffer starts small and grows; a part that overflows its slice
    makes the window run again with a larger buffer, as one thread does (both parallel paths)."""
    one = run_with(random_network(3, t_ref=0.0, delays=False), 1, 30.0)
    for items in (True, False):
        assert_same(one, run_with(random_network(3, t_ref=0.0, delays=False), 3, 30.0, items=items))


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
