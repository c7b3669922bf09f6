"""Runs at the limits (issue 8): interrupted runs, crowded windows, huge rates, absurd-but-valid values.

Each test is a regression test of one finding; both engines where it applies.
"""

import functools
import time
import warnings

import numpy as np
import pytest

import eventsim
from eventsim import workload
from eventsim.engine import numba_engine

ENGINES = ["numba", "reference"]
EVENT_COUNTERS = ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes")


def lif(**kw):
    """NEST's iaf_psc_delta defaults with I_e = 500 pA (single_lif_dc.toml), overridden by kw."""
    p = dict(C_m=250.0, tau_m=10.0, E_L=-70.0, V_th=-55.0, V_reset=-70.0, V_init=-70.0, t_ref=2.0, I_e=500.0)
    p.update(kw)
    return p


def single(engine, size=1, **kw):
    net = eventsim.Network(seed=1, engine=engine)
    net.add_population("neuron", size, **lif(**kw))
    return net


def recurrent(engine, seed=7):
    """A small recurrent network with Poisson drive, per-synapse delays and voltage samples."""
    net = eventsim.Network(seed=seed, engine=engine)
    exc = net.add_population("exc", 40, tau_m=20.0, V_th=20.0, V_reset=10.0, E_L=0.0, t_ref=2.0,
                             V_init={"distribution": "uniform", "min": 0.0, "max": 19.0})
    net.connect(exc, exc, rule="fixed_indegree", indegree=5, weight=1.0,
                delay={"distribution": "uniform", "min": 0.5, "max": 2.0})
    net.add_poisson(exc, rate=10000.0, weight=0.5)
    net.record_voltage(exc[:2], np.linspace(0.0, 99.0, 23), name="v")
    return net


def small_chunks(net):
    """Make the engine return to Python (and call ``progress``) as often as it can."""
    eng = net.engine
    eng.advance = functools.partial(type(eng).advance, eng, chunk_seconds=0.0)


def assert_split_and_chunked_like(whole, make, pieces):
    """``make()`` run in ``pieces`` (ms, summing to whole's duration), and in the smallest chunks, gives ``whole``."""
    split = make()
    for piece in pieces:
        split.run(piece)
    assert_same(whole, split.results)
    chunked = make()
    small_chunks(chunked)
    assert_same(whole, chunked.run(whole.t_stop, progress=lambda t: None))


def assert_same(a, b, voltages=True):
    assert np.array_equal(a.spike_ids, b.spike_ids)
    assert np.array_equal(a.spike_times, b.spike_times)  # bit identity is the claim
    if voltages:
        assert np.array_equal(a.voltages["v"].values, b.voltages["v"].values, equal_nan=True)
    for key in EVENT_COUNTERS:
        assert a.counters[key] == b.counters[key], key


class StopAt:
    """Progress callback that raises KeyboardInterrupt at its n-th call (as the CLI does on Ctrl-C)."""

    def __init__(self, n):
        self.n, self.seen = n, []

    def __call__(self, t_ms):
        self.seen.append(t_ms)
        if len(self.seen) == self.n:
            raise KeyboardInterrupt


# ------------------------------------------------------------------ 4: interrupted runs
@pytest.mark.parametrize("engine", ENGINES)
def test_interrupted_run_holds_what_was_simulated_and_continues_exactly(engine):
    whole = recurrent(engine).run(100.0)
    net = recurrent(engine)
    small_chunks(net)
    stop = StopAt(3)
    with pytest.raises(KeyboardInterrupt):
        net.run(100.0, progress=stop)
    t = net.t
    part = net.results
    assert 0.0 < t < 100.0 and part.t_stop == t == stop.seen[-1]
    before = whole.spike_times < t
    assert np.array_equal(part.spike_ids, whole.spike_ids[before])
    assert np.array_equal(part.spike_times, whole.spike_times[before])
    assert part.rates()["exc"] > 0.0
    rest = net.run(100.0 - t)
    assert rest.t_stop == pytest.approx(100.0, abs=1e-9)
    assert_same(whole, rest)


@pytest.mark.parametrize("engine", ENGINES)
def test_progress_is_called_between_chunks_with_increasing_times(engine):
    net = recurrent(engine)
    small_chunks(net)
    seen = []
    net.run(50.0, progress=seen.append)
    assert len(seen) > 2 and seen == sorted(seen) and seen[-1] == pytest.approx(50.0)


# ------------------------------------------------------------------ 5: crowded windows
def test_unconnected_neurons_above_160_hz_run_and_match_the_reference():
    # the f-I curve of the issue: 100 unconnected neurons at ~360 Hz (window 20 tau_m = 200 ms)
    fast = single("numba", size=100, I_e=5000.0).run(300.0)
    ref = single("reference", size=100, I_e=5000.0).run(300.0)
    assert fast.spike_ids.size > 100 * 64 and np.array_equal(fast.spike_ids, ref.spike_ids)
    np.testing.assert_allclose(fast.spike_times, ref.spike_times, rtol=0, atol=1e-9)


def t_ref_zero(engine):
    """Neurons without refractoriness firing at ~1.3 kHz from their current, plus Poisson input."""
    net = eventsim.Network(seed=3, engine=engine)
    pop = net.add_population("neuron", 20, **lif(t_ref=0.0, I_e=5000.0, V_init={"distribution": "uniform",
                                                                              "min": -70.0, "max": -56.0}))
    net.add_poisson(pop, rate=2000.0, weight=1.0)
    net.record_voltage(pop[:2], np.linspace(0.0, 49.0, 11), name="v")
    return net


def test_t_ref_zero_network_grows_its_window_buffer_with_identical_results():
    whole = t_ref_zero("numba").run(250.0)
    assert whole.spike_ids.size > 20 * 250
    assert_split_and_chunked_like(whole, lambda: t_ref_zero("numba"), (37.1, 100.0, 0.5, 112.4))
    ref = t_ref_zero("reference").run(250.0)
    assert np.array_equal(whole.spike_ids, ref.spike_ids)
    np.testing.assert_allclose(whole.spike_times, ref.spike_times, rtol=0, atol=1e-9)


# ------------------------------------------------------------------ 6: work per chunk, huge rates
def test_window_is_capped_by_the_poisson_rate_and_results_do_not_depend_on_chunks(monkeypatch):
    monkeypatch.setattr(numba_engine, "EVENTS_PER_WINDOW", (64, 64))
    whole = recurrent("numba").run(100.0)
    assert recurrent("numba").engine.state.ctl[0]["window"] < 500_000  # below the 0.5 ms minimum delay
    assert_split_and_chunked_like(whole, lambda: recurrent("numba"), (0.0, 33.3, 0.1, 66.6))


def test_events_per_window_grow_with_the_whole_network_within_bounds():
    lo, hi = numba_engine.EVENTS_PER_WINDOW
    assert numba_engine.events_per_window(10) == lo
    assert numba_engine.events_per_window(10**6) == min(hi, 16 * 10**6)
    assert numba_engine.events_per_window(10**7) == hi
    # a part's window is the whole network's (eventsim.distributed passes the whole's neurons)
    assert numba_engine.window_from(1_500_000, 2e7, 20.0, 10**6) > numba_engine.window_from(1_500_000, 2e7, 20.0, 10**5)


def test_ctrl_c_is_seen_quickly_at_1e10_hz():
    net = single("numba", I_e=0.0)
    net.add_poisson(net.population("neuron"), rate=1e10, weight=0.01)
    net.run(0.0)  # compile or load the kernels outside the timing
    t0 = time.perf_counter()
    with pytest.warns(UserWarning, match="hours"), pytest.raises(KeyboardInterrupt):
        net.run(2000.0, progress=StopAt(1))
    assert time.perf_counter() - t0 < 5.0
    assert 0.0 < net.t < 1.0


@pytest.mark.parametrize("engine", ENGINES)
def test_runs_with_more_events_than_can_be_simulated_are_refused(engine):
    net = single(engine, I_e=0.0)
    net.add_poisson(net.population("neuron"), rate=1e12, weight=0.01)
    with pytest.raises(eventsim.ValidationError, match=r"stimuli\[0\]\.rate: about 2e\+12 events"):
        net.run(2000.0)
    assert net.t == 0.0
    net.run(1e-5)  # a short run of the same network is fine (10 ns: ~1e4 arrivals)


@pytest.mark.parametrize("engine", ENGINES)
def test_t_ref_zero_with_a_period_that_rounds_to_zero_is_refused(engine):
    with pytest.raises(eventsim.ValidationError, match=r"populations\.neuron\.I_e: .*fire without end"):
        single(engine, I_e=1e20, t_ref=0.0).run(10.0)


def test_v_inf_overflow_is_refused():
    """Refused when the population is added (models.py), before any engine sees an infinite V_inf."""
    with pytest.raises(eventsim.ValidationError, match=r"populations\.neuron\.I_e: .*overflows"):
        single("numba", I_e=1e100, C_m=1e-300)


def test_estimate_counts_poisson_arrivals_and_current_driven_spikes():
    net = single("numba", size=3)  # 3 neurons at 1000 / 15.8629... Hz
    net.add_poisson(net.population("neuron")[:2], rate=1000.0, weight=0.1, start=50.0, stop=150.0)
    w = workload.estimate(net.prepare(), net.stimuli, 100.0, 1100.0)
    period = eventsim.lif_period(tau_m=10.0, V_th=-55.0, V_reset=-70.0, t_ref=2.0, v_inf=-50.0)
    assert w.events == pytest.approx(2 * 1.0 * 50.0 + 3 * 1000.0 / period)
    assert w.key == "populations.neuron.I_e" and w.duration_ms == 1000.0
    assert workload.estimate(net.prepare(), net.stimuli, 0.0, 1000.0, "reference").seconds > w.seconds


def test_long_runs_are_warned_about_in_one_line():
    net = single("numba", I_e=0.0)
    net.add_poisson(net.population("neuron"), rate=1e9, weight=0.01)
    with pytest.warns(UserWarning) as record:
        workload.check(workload.estimate(net.prepare(), net.stimuli, 0.0, 1e5))
    (w,) = record
    assert str(w.message).startswith("stimuli[0].rate: about 1e+11 events") and "hours" in str(w.message)
    assert "\n" not in str(w.message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        workload.check(workload.estimate(net.prepare(), net.stimuli, 0.0, 1.0))


# ------------------------------------------------------------------ 12: crossings at the stop time
@pytest.mark.parametrize("connected", [False, True])
@pytest.mark.parametrize("engine", ENGINES)
def test_a_crossing_at_the_stop_time_belongs_to_the_next_run(engine, connected):
    def build():
        net = single(engine, I_e=1e20)  # V_inf ~ 8e18 mV: a crossing exactly at each refractory end
        if connected:  # windows of 1 ms: the stop times below are window ends
            net.connect(net.population("neuron"), net.add_population("post", 1, **lif(I_e=0.0)), weight=1.0,
                        delay=1.0)
        return net

    net = build()
    first = net.run(10.0)
    assert np.array_equal(first.spike_times, [0.0, 2.0, 4.0, 6.0, 8.0])
    net.run(4.0)
    whole = build().run(14.0)
    assert np.array_equal(net.results.spike_times, whole.spike_times)
    assert np.array_equal(whole.spike_times[whole.spike_ids == 0], np.arange(0.0, 14.0, 2.0))


# ------------------------------------------------------------------ 8: absurd but valid values
ABSURD = {
    "tau_m 1e12": dict(tau_m=1e12),
    "tau_m 1e15": dict(tau_m=1e15),
    "tau_m 1e-3, t_ref 0": dict(tau_m=1e-3, t_ref=0.0, I_e=1e7),
    "t_ref 1e10": dict(tau_m=1e9, t_ref=1e10, I_e=1e20),
    "I_e 1e20": dict(I_e=1e20),
    "V_th - V_reset 1e-12": dict(V_th=-70.0 + 1e-12),
    "V_reset -1e100": dict(V_reset=-1e100, V_init=-60.0),  # potentials are limited to 1e100 in magnitude
    "V_th 1e100": dict(V_th=1e100, I_e=1e20),
}


@pytest.mark.parametrize("case", ABSURD)
def test_absurd_but_valid_parameters_run_alike_on_both_engines(case):
    duration = 1e11 if "t_ref 1e10" in case else 3.0 if "tau_m 1e-3" in case else 30000.0
    out = []
    for engine in ENGINES:
        t0 = time.perf_counter()
        res = single(engine, **ABSURD[case]).run(duration)
        assert time.perf_counter() - t0 < 30.0
        assert res.t_stop == duration and np.all(np.isfinite(res.spike_times))
        assert np.all(np.diff(res.spike_times) > 0) and np.all(res.spike_times < duration)
        out.append(res)
    fast, ref = out
    assert np.array_equal(fast.spike_ids, ref.spike_ids)
    np.testing.assert_allclose(fast.spike_times, ref.spike_times, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("tau_m", [10.0, 1e-3])
def test_idle_run_of_the_longest_duration_finishes_at_once(engine, tau_m):
    net = single(engine, I_e=0.0, tau_m=tau_m, t_ref=0.0)
    net.record_voltage(net.population("neuron"), [5.0, 9e10], name="v")
    t0 = time.perf_counter()
    res = net.run(1e11)
    assert time.perf_counter() - t0 < 10.0 and res.t_stop == 1e11
    assert res.spike_ids.size == 0 and np.array_equal(res.voltages["v"].values, [[-70.0, -70.0]])


def test_a_window_buffer_that_cannot_grow_stops_the_run_cleanly(monkeypatch):
    whole = single("numba", size=100, I_e=5000.0).run(300.0)
    net = single("numba", size=100, I_e=5000.0)
    net.run(10.0)
    real = numba_engine.spike_buffer

    def no_memory(size):
        raise MemoryError

    monkeypatch.setattr(numba_engine, "spike_buffer", no_memory)
    with pytest.raises(MemoryError, match=r"one window of 200 ms holds more than \d+ spikes .* stopped at 10 ms"):
        net.run(290.0)
    assert net.t == 10.0 and np.all(net.results.spike_times < 10.0)
    monkeypatch.setattr(numba_engine, "spike_buffer", real)
    assert_same(whole, net.run(290.0), voltages=False)


@pytest.mark.parametrize("growing", [False, True])
def test_running_out_of_memory_in_the_loop_says_what_is_left(monkeypatch, growing):
    # 20 tau_m = 200 ms windows hold up to 102 spikes per neuron (buffer grows from a snapshot),
    # 100 ms windows up to 52 (buffer of that bound, no snapshot)
    net = single("numba", size=100, tau_m=10.0 if growing else 5.0)
    net.run(10.0)

    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(numba_engine.K, "advance", no_memory)
    with pytest.raises(MemoryError, match="out of memory while simulating .* record fewer neurons or run shorter"
                                          + ("; the simulation stopped at 10 ms" if growing else ".*state was lost")):
        net.run(10.0)
    monkeypatch.undo()
    if growing:
        assert net.run(5.0).t_stop == 15.0
    else:
        with pytest.raises(RuntimeError, match="state was lost"):
            net.run(5.0)
