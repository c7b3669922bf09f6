"""Where a run's time goes: the compiled loop's cycle counts per phase (eventsim.profiling.phase_table)."""

from __future__ import annotations

import eventsim
from eventsim.engine.numba_engine import PHASE_NAMES
from eventsim.profiling import format_profile, profile


def _net(engine: str, n: int = 300) -> eventsim.Network:
    net = eventsim.Network(seed=3, engine=engine)
    pop = net.add_population("p", n, V_th=-55.0, I_e=300.0)
    net.connect(pop, pop, rule="fixed_indegree", indegree=20, weight=0.2, delay=1.0)
    net.add_poisson(pop, rate=2000.0, weight=0.3)
    net.record_spikes(pop)
    return net


def test_phase_cycles_partition_the_loop():
    net = _net("numba")
    net.run(50.0)
    cycles = net.engine.phase_cycles
    assert set(cycles) == {*PHASE_NAMES, "total"}
    inside = sum(v for k, v in cycles.items() if k != "total")
    assert 0 < inside <= cycles["total"]
    # 300 neurons: every window is delivered directly; Poisson arrivals wake neurons at window ends
    assert cycles["gather"] == cycles["scatter"] == cycles["buckets"] == 0
    assert cycles["direct"] > 0 and cycles["window_end"] > 0 and cycles["queue"] > 0
    before = dict(cycles)
    net.run(10.0)
    assert all(net.engine.phase_cycles[k] >= before[k] for k in before)
    assert net.engine.phase_cycles["total"] > before["total"]


def test_bucket_windows_are_timed_in_their_phases():
    net = _net("numba", 2100)  # above direct delivery's network size: busy windows go through buckets
    net.run(20.0)
    cycles = net.engine.phase_cycles
    assert net.engine.counters["windows"] > net.engine.counters["direct_windows"]
    assert cycles["gather"] > 0 and cycles["scatter"] > 0 and cycles["buckets"] > 0


def test_profile_reports_seconds_per_phase():
    d = profile(_net("numba"), 50.0)
    phases = d["phases"]
    assert set(phases) == {*PHASE_NAMES, "other", "outside"}
    assert all(v >= 0.0 for v in phases.values())
    # the phases are the loop's time, which is within the measured simulation time (10 % for the
    # calibration of the cycle counter's rate)
    assert sum(v for k, v in phases.items() if k != "outside") <= 1.1 * d["simulate_s"]
    assert "time by phase" in format_profile(d)


def test_reference_engine_has_no_phases():
    d = profile(_net("reference", 30), 5.0)
    assert d["phases"] == {}
    assert "time by phase" not in format_profile(d)
