"""Per-synapse delays: the calendar of delivery runs gives the spikes and voltages of the engine it
replaced (one heap entry per run of equal delays), bit for bit, in every delivery mode.

The claim is checked against ``tests/data/delays_main.npz``: the spikes and voltages of the cases
below simulated by main's engine at commit f16bde6 (before the calendar), written by

    PYTHONPATH=/work/main python tests/test_delays.py tests/data/delays_main.npz

(run from a checkout of this file at that commit's engine: the script imports ``eventsim`` from
PYTHONPATH and only uses the public API and ``NumbaEngine``). Each case is then run here in direct
delivery, in buckets, with 1, 2 and 3 threads and split into several runs, and must match the file
exactly. A hypothesis test compares random networks with per-synapse delays against the reference
engine within the cross-engine tolerances, and the calendar itself is stress-tested with its
``calendar_check`` invariant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import eventsim  # noqa: E402
from eventsim.engine import numba_engine  # noqa: E402
from eventsim.engine.numba_engine import NumbaEngine  # noqa: E402

EXPECTED = HERE / "data" / "delays_main.npz"
SCENARIOS = HERE.parent / "scenarios"


def _random_case(seed: int) -> eventsim.Network:
    """test_cross_engine's random network with continuous per-synapse delays in [0.1, 2) ms."""
    from test_cross_engine import random_network

    g = np.random.default_rng(seed)
    sizes = [int(v) for v in g.integers(3, 14, 3)]
    return random_network("numba", seed * 7919 + 3, 3, sizes, False, True, bool(seed % 2 == 0), bool(seed % 3 == 0))


def _runs_case() -> eventsim.Network:
    """Delays equal to the window and runs of equal delays: every delay in [1, 1 + 4 ns), the window
    1 ms; neurons starting above threshold fire at t = 0, so their spikes arrive exactly at window
    boundaries (1 ms + a few ns), and ties between sources' runs occur."""
    net = eventsim.Network(seed=7)
    a = net.add_population("a", 30, V_init={"distribution": "uniform", "min": -70.0, "max": -45.0}, V_th=-50.0,
                           t_ref=0.5, I_e=250.0)
    b = net.add_population("b", 20, V_th=-55.0, t_ref=1.0)
    tight = {"distribution": "uniform", "min": 1.0, "max": 1.000004}
    net.connect(a, b, rule="fixed_indegree", indegree=12, weight={"distribution": "uniform", "min": 0.5, "max": 3.0},
                delay=tight)
    net.connect(b, a, rule="fixed_indegree", indegree=5, weight=-1.0, delay=tight)
    net.connect(a, a, rule="pairwise_bernoulli", p=0.2, weight=0.7, delay={"distribution": "uniform", "min": 1.0,
                                                                           "max": 1.000000003})
    net.add_poisson(b, rate=3000.0, weight=1.0)
    net.record_voltage(b[:3], [0.5, 1.0, 1.000001, 2.0, 7.3, 19.999])
    return net


def _long_case() -> eventsim.Network:
    """Delays spanning many windows: a 0.1 ms projection sets the window, per-synapse delays of 5-40 ms
    (50-400 windows) and of 2000-2147 ms (more windows than the calendar has slots: runs of later laps)."""
    net = eventsim.Network(seed=11)
    p = net.add_population("p", 25, V_th=-55.0, t_ref=2.0, I_e=200.0,
                           V_init={"distribution": "uniform", "min": -70.0, "max": -56.0})
    q = net.add_population("q", 15, V_th=-55.0, t_ref=2.0)
    net.connect(p, q, rule="fixed_indegree", indegree=3, weight=2.0, delay=0.1)
    net.connect(p, q, rule="fixed_indegree", indegree=6, weight=4.0,
                delay={"distribution": "uniform", "min": 5.0, "max": 40.0})
    net.connect(q, p, rule="fixed_indegree", indegree=4, weight={"distribution": "uniform", "min": -3.0, "max": 3.0},
                delay={"distribution": "uniform", "min": 2000.0, "max": 2147.0})
    net.add_poisson(q, rate=800.0, weight=3.0)
    net.record_voltage(q[:2], [1.0, 45.0, 2010.0, 2150.5])
    return net


def _growing_case() -> eventsim.Network:
    """t_ref = 0 in 2 ms windows, firing faster from 5 ms on (a current step): more than 8 spikes per
    neuron and window, so the window's spike buffer overflows while the calendar holds runs, and
    calls restart from a snapshot, calendar included."""
    net = eventsim.Network(seed=3)
    p = net.add_population("p", 200, tau_m=5.0, t_ref=0.0, V_th=-55.0, V_reset=-65.0,
                           I_e={"distribution": "uniform", "min": 4000.0, "max": 6000.0})
    net.add_current_steps(p, [5.0], [30000.0])
    net.connect(p, p, rule="fixed_indegree", indegree=5, weight={"distribution": "uniform", "min": -2.0, "max": -0.1},
                delay={"distribution": "uniform", "min": 2.0, "max": 3.0})
    net.record_voltage(p[:2], [0.7, 3.3, 9.9])
    return net


def _threads_case() -> eventsim.Network:
    """test_threads' network (2,600 neurons: busy windows go through the buckets), per-synapse delays."""
    from test_threads import random_network

    return random_network(5)


def _brunel_case() -> eventsim.Network:
    """scenarios/brunel_delays.toml at a fifth of its size (in-degrees kept)."""
    from eventsim import scenario

    sc = scenario.load(SCENARIOS / "brunel_delays.toml", ["populations.exc.size=2000", "populations.inh.size=500"])
    return sc.network()


CASES = {  # name -> (network builder, simulated ms)
    **{f"random{s}": (lambda s=s: _random_case(s), 50.0) for s in range(6)},
    "runs": (_runs_case, 20.0),
    "long": (_long_case, 2200.0),
    "growing": (_growing_case, 10.0),
    "threads": (_threads_case, 60.0),
    "brunel": (_brunel_case, 40.0),
}


def simulate(name: str, parts: int = 1, stops=()) -> dict:
    """Case ``name`` on the compiled engine with ``parts`` parts, stopping at each of ``stops`` (ms)."""
    build, ms = CASES[name]
    eng = NumbaEngine(build().prepare(), threads=parts)
    for t in (*stops, ms):
        eng.advance(int(round(t * 1e6)))
    ids, ticks, fracs = eng.spikes()
    return {"ids": ids, "ticks": ticks, "fracs": fracs, "v": eng.voltages.copy(), "engine": eng}


def _force_delivery(monkeypatch, direct: bool) -> None:
    monkeypatch.setattr(numba_engine, "DIRECT_MAX_NEURONS", 1 << 40 if direct else -1)
    monkeypatch.setattr(numba_engine, "DIRECT_MAX_ENTRIES", 1 << 40 if direct else -1)


@pytest.fixture(scope="module")
def expected():
    return np.load(EXPECTED)


def assert_expected(out: dict, expected, name: str) -> None:
    for key in ("ids", "ticks", "fracs", "v"):
        np.testing.assert_array_equal(out[key], expected[f"{name}/{key}"], err_msg=f"{name}: {key}")  # bit-identity


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_before_the_calendar(name, expected):
    """Spikes and voltages bit-identical to main's engine before the calendar."""
    out = simulate(name)
    assert out["ids"].size > 20, "the case must spike"
    assert_expected(out, expected, name)
    c = out["engine"].counters
    assert c["cal_pushes"] > 0
    assert c["syn_events"] > 0


@pytest.mark.parametrize("name", ["random0", "random3", "runs", "long", "threads"])
@pytest.mark.parametrize("direct", [True, False])
def test_both_delivery_modes(monkeypatch, name, direct, expected):
    """Direct delivery and the buckets each take the due runs off the calendar: same results."""
    _force_delivery(monkeypatch, direct)
    out = simulate(name)
    assert_expected(out, expected, name)
    c = out["engine"].counters
    assert c["direct_windows"] == (c["windows"] if direct else 0)


@pytest.mark.parametrize("name", ["runs", "long", "random2"])
def test_counters_alike_in_both_modes(monkeypatch, name):
    """Both modes count the same events and batches ((neuron, time) pairs with inputs): the buckets
    take the calendar's deliveries without sorting the window, so they count batches per neuron."""
    counts = []
    for direct in (True, False):
        _force_delivery(monkeypatch, direct)
        c = simulate(name)["engine"].counters
        counts.append({k: c[k] for k in ("syn_events", "discarded", "batches", "spikes")})
    assert counts[0] == counts[1]
    assert counts[0]["batches"] > 0


@pytest.mark.parametrize("name", ["threads", "brunel"])
@pytest.mark.parametrize("parts", [2, 3])
def test_threads(monkeypatch, name, parts, expected):
    """1, 2 and 3 parts of a window's buckets: identical (1 part is test_same_as_before_the_calendar)."""
    _force_delivery(monkeypatch, False)
    assert_expected(simulate(name, parts), expected, name)


@pytest.mark.parametrize("name, stops", [
    ("runs", (1.0, 1.000000001, 1.000002, 1.5, 2.000001)),  # stops at window ends and at arrival times
    ("long", (0.05, 3.7, 1999.9999995, 2000.0, 2046.1)),
    ("growing", (2.0, 2.5, 7.123)),
    ("random1", (0.1, 10.0, 33.333)),
])
@pytest.mark.parametrize("mode", ["default", "buckets", "mixed"])
def test_split_runs(monkeypatch, name, stops, mode, expected):
    """run(a); run(b) == run(a + b), with stops inside windows and exactly at arrivals; in the buckets
    a window cut by a stop leaves its later runs in the calendar's slot for the rest of the window,
    and with few inputs per window ("mixed") the rest of a window may be delivered in the other mode."""
    if mode == "buckets":
        _force_delivery(monkeypatch, False)
    elif mode == "mixed":
        monkeypatch.setattr(numba_engine, "DIRECT_MAX_NEURONS", -1)
        monkeypatch.setattr(numba_engine, "DIRECT_MAX_ENTRIES", 3)
    out = simulate(name, stops=stops)
    assert_expected(out, expected, name)
    c = out["engine"].counters
    if mode == "mixed":
        assert 0 < c["direct_windows"] < c["windows"]


def test_spike_at_the_stop_goes_to_the_next_run():
    """A run arriving exactly at a run's stop time is delivered by the next run, not lost or doubled."""
    net = eventsim.Network(seed=1)
    a = net.add_population("a", 1, V_init=-40.0, V_th=-50.0)  # fires at t = 0
    b = net.add_population("b", 3, V_th=-55.0)
    net.connect(a, b, rule="all_to_all", weight=20.0, delay={"distribution": "uniform", "min": 1.0, "max": 1.000002})
    eng = NumbaEngine(net.prepare())
    d = net.prepare().syn_delay
    first = int(d.min())
    eng.advance(first)  # stop exactly at the first arrival: not delivered yet
    assert eng.counters["syn_events"] == 0
    eng.advance(3_000_000)
    assert eng.counters["syn_events"] == 3
    ids, ticks, fracs = eng.spikes()
    assert sorted(ids) == [0, 1, 2, 3]  # each target fires once, at its input's arrival
    np.testing.assert_array_equal(np.sort(ticks[ids > 0]), np.sort(d.astype(np.int64)))
    assert not fracs.any()


def test_growing_buffer_restarts_with_the_calendar(monkeypatch, expected):
    """The case overflows the window's spike buffer (restarts from the snapshot), and the snapshot
    carries the calendar: the same spikes as a run that never restarts."""
    first = max(1024, 200 * numba_engine._GROWN_FROM_PER_NEURON)
    out = simulate("growing")
    assert out["engine"].state.win.size > first  # the buffer grew: windows were simulated again
    assert_expected(out, expected, "growing")
    monkeypatch.setattr(numba_engine, "_GROWN_FROM_PER_NEURON", 1000)  # large enough: no restart
    roomy = simulate("growing")
    assert roomy["engine"].state.win.size == 200 * 1000
    assert_expected(roomy, expected, "growing")


def test_memory_per_synapse_and_queue_bytes():
    """Connectivity stays 4 B per synapse for the target and 4 for the delay (brunel_delays: one weight
    per projection; row pointers add 0.01); the calendar's arrays are counted in queue_bytes."""
    out = simulate("brunel")
    eng = out["engine"]
    p = eng.prepared
    assert p.connectivity_bytes() / p.n_synapses == pytest.approx(8.0, abs=0.02)
    from eventsim.engine.calendar import calendar_bytes

    cal = calendar_bytes(eng._buf.cal)
    assert cal >= eng._buf.cal.runs.nbytes > 0
    assert eng.queue_bytes() >= cal + eng._buf.heap.nbytes


def make_expected(path: str) -> None:
    """Write the expected spikes and voltages of every case (run with main's engine on PYTHONPATH)."""
    arrays = {}
    for name in CASES:
        out = simulate(name)
        for key in ("ids", "ticks", "fracs", "v"):
            arrays[f"{name}/{key}"] = out[key]
        print(name, out["ids"].size, "spikes", flush=True)
    np.savez_compressed(path, **arrays)


if __name__ == "__main__":
    make_expected(sys.argv[1])


def test_idle_windows_are_skipped_up_to_the_calendar():
    """With nothing else to do, the loop skips idle windows up to the next window whose calendar slot
    holds runs (also past the ring's laps), and delivers them there."""
    net = eventsim.Network(seed=2)
    a = net.add_population("a", 1, V_init=-40.0, V_th=-50.0)  # fires at t = 0, then nothing happens
    b = net.add_population("b", 4, V_th=-55.0)
    net.connect(a, b, rule="all_to_all", weight=20.0, delay=0.1)
    net.connect(a, b, rule="all_to_all", weight=20.0, delay={"distribution": "uniform", "min": 500.0, "max": 2147.0})
    p = net.prepare()
    eng = NumbaEngine(p)
    eng.advance(int(2200e6))
    ids, ticks, fracs = eng.spikes()
    late = np.sort(p.syn_delay.astype(np.int64))
    assert sorted(ids.tolist()) == [0, 1, 1, 2, 2, 3, 3, 4, 4]  # at 0.1 ms, then at the late arrival
    np.testing.assert_array_equal(np.sort(ticks[ticks > 1_000_000]), late)  # each target fires at its arrival
    assert eng.counters["windows"] < 30  # 22,000 windows of 0.1 ms, nearly all skipped


@pytest.mark.parametrize("direct", [True, False])
def test_a_window_of_stream_entries_only_is_delivered(monkeypatch, direct):
    """A window whose calendar slot holds one-synapse deliveries (the streams) and no run of several
    synapses is opened and delivered in both modes: the compiled engine counts and spikes as the
    reference engine does. (The direct path's shortcut for an empty slot once looked at the runs only.)"""
    _force_delivery(monkeypatch, direct)

    def build(engine):
        net = eventsim.Network(seed=11, engine=engine)
        a = net.add_population("a", 3, V_th=-55.0)
        b = net.add_population("b", 4, V_th=-55.0)
        net.add_spike_train(a, times=[1.0, 7.3], weight=30.0)
        net.connect(a, b, rule="all_to_all", weight=12.0,
                    delay={"distribution": "uniform", "min": 1.0, "max": 3.0})  # every synapse its own delay
        net.record_spikes(b)
        return net

    fast, ref = (build(e).run(20.0) for e in ("numba", "reference"))
    assert fast.counters["syn_events"] == ref.counters["syn_events"] == 2 * 3 * 4  # two spikes of each of a
    np.testing.assert_array_equal(fast.spike_ids, ref.spike_ids)
    assert np.max(np.abs(fast.spike_times - ref.spike_times), initial=0.0) < 1e-9
    assert fast.spike_ids.size > 0
