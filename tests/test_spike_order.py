"""Recorded spikes come out of the compiled loop already in (time, id) order: each window's are sorted
as it is flushed (:func:`eventsim.engine.loop.time_order`), so reading the results sorts nothing."""

from __future__ import annotations

import numpy as np
import pytest

import eventsim
from eventsim.engine import records
from eventsim.engine.loop import time_order
from eventsim.engine.numba_engine import in_time_order


def _spikes(ids, ticks, fracs):
    out = np.zeros(len(ids), records.SPIKE)
    out["id"], out["tick"], out["frac"] = ids, ticks, fracs
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 5, 16, 17, 200])
def test_time_order_sorts_a_segment_by_tick_frac_and_id(n):
    rng = np.random.default_rng(n)
    # few distinct ticks and fracs: many ties, broken by the id
    ids = rng.permutation(n) + 7
    ticks = rng.integers(100, 104, n)
    fracs = rng.choice([0.0, 0.25, 0.5], n)
    before = _spikes([1, 2], [0, 1], [0.0, 0.0])
    out = np.concatenate([before, _spikes(ids, ticks, fracs), before])
    time_order(out, 2, 2 + n)
    order = np.lexsort((ids, fracs, ticks))
    seg = out[2:2 + n]
    np.testing.assert_array_equal(seg["id"], ids[order])
    np.testing.assert_array_equal(seg["tick"], ticks[order])
    np.testing.assert_array_equal(seg["frac"], fracs[order])  # bit-identity is the claim: values moved, not computed
    np.testing.assert_array_equal(out[:2], before)
    np.testing.assert_array_equal(out[2 + n:], before)


def test_in_time_order():
    assert in_time_order(np.array([3, 1, 2]), np.array([5, 5, 6]), np.array([0.1, 0.2, 0.0]))
    assert in_time_order(np.array([1, 3]), np.array([5, 5]), np.array([0.1, 0.1]))
    assert not in_time_order(np.array([3, 1]), np.array([5, 5]), np.array([0.1, 0.1]))
    assert not in_time_order(np.array([1, 2]), np.array([6, 5]), np.array([0.0, 0.9]))
    assert in_time_order(np.array([], np.int64), np.array([], np.int64), np.array([]))


@pytest.mark.parametrize("threads", [1, 2])
def test_the_loop_records_spikes_in_time_order(threads):
    """Synchronous spikes (identical neurons under constant current) and a Poisson-driven population,
    more than 2,048 neurons (bucket windows), over many windows: the raw output buffer is sorted."""
    net = eventsim.Network(seed=4, engine="numba", threads=threads)
    sync = net.add_population("sync", 40, I_e=400.0, t_ref=2.0)
    pois = net.add_population("pois", 2500, t_ref=2.0)
    net.add_poisson(pois, rate=9000.0, weight=0.2)
    net.connect(sync, pois, rule="fixed_indegree", indegree=5, weight=0.5, delay=1.0)
    net.connect(pois, pois, rule="fixed_indegree", indegree=20, weight=-0.2, delay=1.5)
    net.run(70.3)  # runs that stop inside windows: the next run's spikes come after the last one's
    res = net.run(129.7)
    eng = net.engine
    n = int(eng.state.ctl[0]["out_n"])
    raw = eng._buf.out[:n]
    assert n == res.spike_ids.size > 1000
    assert in_time_order(raw["id"], raw["tick"], raw["frac"])
    ticks = np.round(res.spike_times * 1e6)
    assert np.any(np.diff(ticks) == 0)  # same-time spikes of several neurons were ordered by id
