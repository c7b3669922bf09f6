"""Where a run's time goes: the compiled loop's cycle counts per phase (eventsim.profiling.phase_table) and
what it was doing, sampled (eventsim.profiling.ActivitySampler, activity_table)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import eventsim
from eventsim.engine.cycles import ACTIVITY_NAMES
from eventsim.engine.numba_engine import PHASE_NAMES
from eventsim.profiling import activity_table, format_profile, profile, timed_run


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
    assert d["samples"] is None and "time by activity" not in format_profile(d)


# ----------------------------------------------------------------------------- time by activity (sampled)
def _unconnected(n: int, poisson_hz: float = 0.0, **params) -> eventsim.Network:
    net = eventsim.Network(seed=5, engine="numba")
    pop = net.add_population("p", n, **params)
    if poisson_hz:
        net.add_poisson(pop, rate=poisson_hz, weight=0.1)
    return net


def _sampled(net, duration: float) -> dict:
    rec = timed_run(net, duration, sample=True)
    assert sum(rec.activity.values()) > 20, "too few samples: lengthen the run"
    return activity_table(rec.activity)


def _share(table: dict, activity: str) -> float:
    return sum(v for (_, a), v in table.items() if a == activity)


def test_activity_shares_sum_to_one():
    table = _sampled(_net("numba", 2100), 400.0)
    assert abs(sum(table.values()) - 1.0) < 1e-9
    assert all(p in {*PHASE_NAMES, "other", "outside"} and a in ACTIVITY_NAMES for p, a in table)


def test_poisson_only_network_is_mostly_poisson():
    table = _sampled(_unconnected(2000, 20000.0, V_th=1e3), 300.0)  # no spikes: the run is the Poisson arrivals
    assert _share(table, "poisson") > 0.5
    assert _share(table, "crossing") == 0.0


def test_constant_current_network_shows_crossings():
    table = _sampled(_unconnected(20000, V_th=-55.0, I_e=500.0, t_ref=0.1), 300.0)
    assert _share(table, "crossing") > 0.05
    assert _share(table, "poisson") == 0.0


def test_sampler_stops_on_interrupt():
    net = _net("numba")
    net.prepare()
    net.run(0.0)

    def interrupt(t_ms):
        raise KeyboardInterrupt

    before = {t.name for t in threading.enumerate()}
    rec = timed_run(net, 1e6, progress=interrupt, sample=True)
    assert rec.interrupted
    assert "eventsim-activity-sampler" not in {t.name for t in threading.enumerate()} - before


def test_profile_cli_prints_time_by_activity(capsys):
    from eventsim.cli import main

    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "brunel_delta.toml"
    sets = ["populations.exc.size=2000", "populations.inh.size=500", "run.duration=200"]
    assert main(["profile", str(scenario), *(a for s in sets for a in ("--set", s))]) == 0
    out = capsys.readouterr().out
    assert "time by activity" in out and "poisson" in out and "deliver" in out


def test_ctl_records_keep_the_activity_marks_on_their_own_cache_line():
    """The threads' CTL records are adjacent: the marks (stored per catch-up) must not share a line with
    another part's hot fields (false sharing: 2 threads were 6-12 % slower)."""
    from eventsim.engine import records
    from eventsim.engine.numba_engine import make_net, make_state
    ctl = records.CTL
    assert ctl.itemsize % 64 == 0
    line = ctl.fields["phase_now"][1] // 64
    assert ctl.fields["activity"][1] // 64 == line
    others = [name for name in ctl.names if name not in ("phase_now", "activity") and not name.startswith("_pad")]
    assert all((ctl.fields[name][1] + 7) // 64 < line for name in others)
    net = eventsim.Network(seed=1, engine="numba")
    net.add_population("a", 3)
    p = net.prepare()
    st = make_state(p, make_net(p), threads=3)
    assert st.ctls.ctypes.data % 64 == 0 and st.ctl.ctypes.data % 64 == 0


def _brunel_like(n: int, threads: int) -> eventsim.Network:
    """A network whose windows go through the buckets (more neurons than direct delivery takes)."""
    net = eventsim.Network(seed=7, threads=threads)
    pop = net.add_population("p", n, V_th=20.0, V_reset=10.0, E_L=0.0, V_init=0.0, t_ref=2.0, tau_m=20.0)
    net.connect(pop, pop, rule="fixed_indegree", indegree=50, weight=-0.3, delay=1.5)
    net.add_poisson(pop, rate=20000.0, weight=0.1)
    return net


def test_threads_are_sampled_in_their_own_parts():
    """With threads, each part's marks are sampled (1/N a thread): deliveries and Poisson arrivals show,
    never the run's own mark ``parts``, on both threaded paths (items in parts, buckets in parts)."""
    import numba

    from eventsim.profiling import ActivitySampler

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 threads")
    for items in (True, False):
        net = _brunel_like(3000, 2)
        net.prepare()
        net.engine.state.ctl[0]["item_parts"] = int(items)  # the path, whatever this machine's L2 would choose
        net.run(0.0)
        with ActivitySampler(net.engine) as sampler:
            net.run(800.0)
        assert sum(sampler.counts.values()) > 20, "too few samples: lengthen the run"
        table = activity_table(sampler.counts)
        assert abs(sum(table.values()) - 1.0) < 1e-9
        assert _share(table, "parts") == 0.0
        assert _share(table, "poisson") > 0.0 and _share(table, "deliver") > 0.0
        assert (net.engine.phase_cycles["scatter"] == 0) == items


def test_part_engines_return_to_python_outside_the_loop(monkeypatch):
    """A distributed run's parts mark each compiled call's end as ``outside`` and count their queueing
    and whole loop time in cycles, as one process does."""
    from eventsim import distributed
    from eventsim.engine import numba_engine
    from eventsim.engine.cycles import PH_OUTSIDE

    made = []

    class Kept(numba_engine.PartEngine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(numba_engine, "PartEngine", Kept)
    distributed.run_parts(_brunel_like(3000, 1), 20.0, [(0, 1500), (1500, 3000)], distributed.SelfComm())
    assert len(made) == 2
    for e in made:
        assert e.activity_now()[0] == PH_OUTSIDE
        cycles = e.phase_cycles
        assert cycles["queue"] > 0 and cycles["buckets"] > 0
        assert 0 < sum(v for k, v in cycles.items() if k != "total") <= cycles["total"]


def test_profile_cli_takes_threads(capsys):
    """``eventsim profile --threads N`` replaces run.threads; a bad N is one line and exit code 2."""
    from eventsim.cli import main

    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "brunel_delta.toml"
    sets = ["populations.exc.size=2000", "populations.inh.size=500", "run.duration=50"]
    args = [a for s in sets for a in ("--set", s)]
    assert main(["profile", str(scenario), *args, "--threads", "1"]) == 0
    assert "time by activity" in capsys.readouterr().out
    assert main(["profile", str(scenario), *args, "--threads", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "threads" in err and len(err.splitlines()) == 1
