"""Hostile use of the Python API: every bad argument is one clear ValidationError line.

Regression tests for issue 8 (items 8, 11, 13 and 14): objects of another network, non-bool
flags, a parameter given under two names, runs past the time limit, errors blamed on the wrong
key, population names accepted everywhere, and a short summary of Results.
"""

import warnings

import numpy as np
import pytest

import eventsim
from eventsim import ValidationError
from eventsim.timebase import MAX_MS


def two_pops(engine="numba"):
    net = eventsim.Network(engine=engine)
    return net, net.add_population("a", 5), net.add_population("b", 3)


def refused(call, where: str, *, match: str = ""):
    """Assert ``call()`` raises one ValidationError line at ``where`` (and matching ``match``)."""
    with pytest.raises(ValidationError) as err:
        call()
    assert isinstance(err.value, ValueError)
    assert err.value.where == where, str(err.value)
    assert "\n" not in str(err.value)
    assert match in err.value.detail, str(err.value)
    return err.value


# (description of the target argument, call with that target)
TARGET_USES = {
    "add_poisson": lambda net, t: net.add_poisson(t, rate=10.0, weight=1.0),
    "add_spike_train": lambda net, t: net.add_spike_train(t, times=[1.0], weight=1.0),
    "add_current_steps": lambda net, t: net.add_current_steps(t, times=[1.0], amplitudes=[10.0]),
    "add_spike_table": lambda net, t: net.add_spike_table(t, times=1.0, weights=1.0),
    "record_spikes": lambda net, t: net.record_spikes(t),
    "record_voltage": lambda net, t: net.record_voltage(t, times=[1.0], name="v"),
}
TARGET_WHERE = {"add_spike_table": "stimuli[0].target", "record_spikes": "record_spikes",
                "record_voltage": "recorders.v.targets"}


# ------------------------------------------------------------------------ objects of another network
@pytest.mark.parametrize("use", TARGET_USES)
@pytest.mark.parametrize("kind", ["population", "view"])
def test_targets_of_another_network_are_refused(use, kind):
    net, _, _ = two_pops()
    other, _, ob = two_pops()
    target = ob if kind == "population" else ob[:2]
    refused(lambda: TARGET_USES[use](net, target), TARGET_WHERE.get(use, "stimuli[0].targets"),
            match="population 'b' belongs to another Network")


@pytest.mark.parametrize("side", ["source", "target"])
def test_connect_refuses_populations_of_another_network(side):
    net, a, b = two_pops()
    _, _, ob = two_pops()
    pre, post = (ob, b) if side == "source" else (a, ob)
    refused(lambda: net.connect(pre, post), f"projections[0].{side}", match="belongs to another Network")
    assert net.projections == []


def test_a_population_list_of_another_network_with_equal_names_is_still_refused():
    """Same name and index, a different object: identity decides, not the name."""
    net, a, _ = two_pops()
    _, oa, _ = two_pops()
    refused(lambda: net.connect(oa, a), "projections[0].source", match="another Network")


def test_connect_refuses_a_view_with_a_hint():
    net, a, b = two_pops()
    refused(lambda: net.connect(a[:2], b), "projections[0].source", match="explicit")


# ------------------------------------------------------------------------ names and views everywhere
@pytest.mark.parametrize("use", TARGET_USES)
def test_targets_accept_a_name_a_population_a_view_and_ids_alike(use):
    ids = {}
    for form in ("name", "population", "view", "ids"):
        net, _, b = two_pops()
        target = {"name": "b", "population": b, "view": b[:], "ids": [5, 6, 7]}[form]
        TARGET_USES[use](net, target)
        stim = net.stimuli[0] if net.stimuli else None
        ids[form] = (stim.targets if hasattr(stim, "targets") else stim.target if stim is not None
                     else net._voltage_recorders[0][1] if net._voltage_recorders else net._recorded_ids[0])
    for form, got in ids.items():
        assert got.tolist() == [5, 6, 7], form


def test_an_unknown_population_name_as_target_lists_the_names():
    net, _, _ = two_pops()
    refused(lambda: net.add_poisson("c", rate=1.0, weight=1.0), "stimuli[0].targets", match="have ['a', 'b']")
    refused(lambda: net.record_voltage("bb", [1.0]), "recorders.voltage0.targets", match="did you mean 'b'")


# ------------------------------------------------------------------------ bools
@pytest.mark.parametrize("key", ["allow_autapses", "allow_multapses"])
@pytest.mark.parametrize("value", ["no", "False", 0, 1, None, 0.0, [False]])
def test_bool_parameters_must_be_bools(key, value):
    net, a, _ = two_pops()
    refused(lambda: net.connect(a, a, **{key: value}), f"projections[0].{key}", match="must be True or False")


@pytest.mark.parametrize("value", [False, np.False_])
def test_bool_parameters_accept_python_and_numpy_bools(value):
    net, a, _ = two_pops()
    net.connect(a, a, "all_to_all", allow_autapses=value)
    assert net.projections[0]["allow_autapses"] is False
    assert net.prepare().syn_target.size == 20  # 5 x 5 minus the 5 autapses


# ------------------------------------------------------------------------ parameters
def test_V_m_and_V_init_together_are_refused():
    for params in ({"V_m": -60.0, "V_init": -65.0}, {"V_init": -65.0, "V_m": -60.0}):
        err = refused(lambda: eventsim.Network().add_population("p", 2, **params), f"populations.p.{list(params)[1]}",
                      match="same parameter (V_init)")
        assert "V_m" in err.detail and "V_init" in err.detail
    net = eventsim.Network()
    refused(lambda: net.add_population("q", 2, params={"V_m": -60.0}, V_init=-60.0), "populations.q.V_init")


@pytest.mark.parametrize("params, key, match", [
    ({"tau_m": 1e-300}, "tau_m", "at least 1e-06 ms"),            # was blamed on t_ref
    ({"tau_m": 1e-3}, "tau_m", "t_ref (2 ms) must be at most 300 tau_m"),  # default t_ref, given tau_m
    ({"t_ref": 1e4}, "t_ref", "at most 300 tau_m"),                # default tau_m, given t_ref
    ({"tau_m": 1.0, "t_ref": 400.0}, "tau_m", "at most 300 tau_m"),
    ({"g_L": 1e300}, "g_L", "at least 1e-06 ms"),                  # tau_m = C_m / g_L
    ({"g_L": 1e-320}, "g_L", "overflows"),
    ({"C_m": 1e-300, "I_e": 1e10}, "I_e", "V_inf = E_L + I_e tau_m / C_m overflows"),
    ({"V_th": -80.0}, "V_th", "must be above V_reset"),           # default V_reset
    ({"V_reset": -50.0}, "V_reset", "must be below V_th"),        # default V_th
    ({"t_ref": 2e11}, "t_ref", "got 2e+11"),                      # the bad value, not the smallest
    ({"tau_m": float("nan")}, "tau_m", "must be finite"),
])
def test_parameter_errors_blame_the_given_key(params, key, match):
    refused(lambda: eventsim.Network().add_population("p", 3, **params), f"populations.p.{key}", match=match)


def test_tau_m_of_one_tick_agrees_between_engines():
    """The smallest tau_m allowed (1 ns) is simulated alike by both engines (below ~1e-8 ms the
    compiled engine lost spikes: why tau_m >= 1e-6 ms is required)."""
    out = []
    for engine in ("numba", "reference"):
        net = eventsim.Network(seed=3, engine=engine)
        pop = net.add_population("a", 3, tau_m=1e-6, t_ref=0.0)
        net.add_poisson(pop, rate=500.0, weight=20.0)
        out.append(net.run(20.0))
    assert out[1].spike_ids.size > 10
    assert np.array_equal(out[0].spike_ids, out[1].spike_ids)
    assert np.allclose(out[0].spike_times, out[1].spike_times, rtol=0, atol=1e-9)


# ------------------------------------------------------------------------ run
def test_runs_may_not_pass_the_time_limit_together():
    net = eventsim.Network(engine="reference")
    net.add_population("a", 1)
    net.run(MAX_MS / 2)
    net.run(MAX_MS / 2)
    assert net.t == MAX_MS
    refused(lambda: net.run(1e-6), "run.duration", match="would end past 1e+11 ms")
    net = eventsim.Network(engine="reference")
    net.run(1.0)
    refused(lambda: net.run(MAX_MS), "run.duration", match="from t = 1 ms")
    assert net.t == 1.0


@pytest.mark.parametrize("duration", ["5", True, None, [1.0, 2.0], float("nan"), float("inf"), -1.0, 2e11])
def test_run_duration_must_be_a_number_of_ms(duration):
    net, _, _ = two_pops("reference")
    refused(lambda: net.run(duration), "run.duration")
    assert net.t == 0.0


def test_run_accepts_numpy_numbers_and_refuses_a_progress_that_is_not_callable():
    net, _, _ = two_pops("reference")
    net.run(np.float32(1.5))
    net.run(np.int64(1))
    assert net.t == 2.5
    refused(lambda: net.run(1.0, progress=5), "run.progress", match="callable")


# ------------------------------------------------------------------------ results
def test_spikes_of_an_unknown_population_names_the_known_ones():
    net, _, _ = two_pops("reference")
    res = net.run(1.0)
    refused(lambda: res.spikes_of("zz"), "spikes_of(name)", match="no population named 'zz'; have ['a', 'b']")
    refused(lambda: res.population_of("aa"), "population_of(name)", match="did you mean 'a'")
    refused(lambda: res.spikes_of(0), "spikes_of(name)")
    assert res.spikes_of("b")[0].size == 0


def test_results_print_as_a_short_summary():
    net = eventsim.Network(seed=1)
    pops = [net.add_population(f"p{k}", 2, I_e=500.0 if k == 0 else 0.0) for k in range(40)]
    net.record_voltage(pops[0], [1.0, 2.0], name="v")
    res = net.run(100.0)
    text = str(res)
    assert text == repr(res)
    lines = text.splitlines()
    assert len(lines) == 3 and all(len(line) <= 120 for line in lines)
    n = res.spike_ids.size
    assert n == 12  # two neurons at the 15.86 ms period of I_e = 500 pA
    assert lines[0] == f"Results: {n} spikes in 100 ms"
    assert lines[1].startswith(f"  rates (Hz): p0 {res.rates()['p0']:.2f}, p1 0.00, ")
    shown = lines[1].count(" 0.00")
    assert lines[1].endswith(f", ... ({40 - 1 - shown} more)")
    assert lines[2] == "  voltages: v (2 neurons x 2 samples)"
    assert repr(res.voltages["v"]) == "VoltageTrace('v', 2 neurons x 2 samples)"


def test_results_summary_without_populations():
    res = eventsim.Network(engine="reference").run(0.0)
    assert str(res) == "Results: 0 spikes in 0 ms\n  rates (Hz): no populations"


# ------------------------------------------------------------------------ wrong types everywhere
HOSTILE = [
    # populations
    (lambda n, a, b: n.add_population("c", "5"), "populations.c.size"),
    (lambda n, a, b: n.add_population("c", 5.0), "populations.c.size"),
    (lambda n, a, b: n.add_population("c", -1), "populations.c.size"),
    (lambda n, a, b: n.add_population("c", True), "populations.c.size"),
    (lambda n, a, b: n.add_population("c", 10**12), "populations.c.size"),
    (lambda n, a, b: n.add_population("c", np.uint64(2**64 - 1)), "populations.c.size"),
    (lambda n, a, b: n.add_population("a", 5), "populations.a"),
    (lambda n, a, b: n.add_population("", 5), "populations"),
    (lambda n, a, b: n.add_population(None, 5), "populations"),
    (lambda n, a, b: n.add_population("c", 5, model=["lif"]), "populations.c.model"),
    (lambda n, a, b: n.add_population("c", 5, params=[("tau_m", 1.0)]), "populations.c.params"),
    (lambda n, a, b: n.add_population("c", 5, tau_m="10"), "populations.c.tau_m"),
    (lambda n, a, b: n.add_population("c", 5, tau_m=True), "populations.c.tau_m"),
    (lambda n, a, b: n.add_population("c", 5, tau_m=float("inf")), "populations.c.tau_m"),
    (lambda n, a, b: n.add_population("c", 5, V_th=np.zeros(4)), "populations.c.V_th"),
    (lambda n, a, b: n.add_population("c", 5, E_L=np.zeros((5, 1))), "populations.c.E_L"),
    # views
    (lambda n, a, b: a[5], "populations.a"),
    (lambda n, a, b: a[-6], "populations.a"),
    (lambda n, a, b: a[[0, 9]], "populations.a"),
    (lambda n, a, b: a[1.5], "populations.a"),
    (lambda n, a, b: a["x"], "populations.a"),
    (lambda n, a, b: a[np.ones(4, bool)], "populations.a"),
    (lambda n, a, b: a[np.uint64(2**64 - 1)], "populations.a"),
    # connections
    (lambda n, a, b: n.connect(0, b), "projections[0].source"),
    (lambda n, a, b: n.connect(a, None), "projections[0].target"),
    (lambda n, a, b: n.connect(a, b, rule=None), "projections[0].rule"),
    (lambda n, a, b: n.connect(a, b, weight="1"), "projections[0].weight"),
    (lambda n, a, b: n.connect(a, b, delay=True), "projections[0].delay"),
    (lambda n, a, b: n.connect(a, b, "fixed_indegree", indegree="3"), "projections[0].rule"),
    (lambda n, a, b: n.connect(a, b, "pairwise_bernoulli", p=np.nan), "projections[0].rule"),
    (lambda n, a, b: n.add_population("c", 5, E_L=-1e200), "populations.c.E_L"),
    (lambda n, a, b: n.add_population("c", 5, I_e=1e101), "populations.c.I_e"),
    (lambda n, a, b: n.connect(a, b, weight=1e308), "projections[0].weight"),
    (lambda n, a, b: n.connect(a, b, weight=eventsim.Uniform(-1e200, 0.0)), "projections[0].weight"),
    (lambda n, a, b: n.connect(a, b, weight=[1.0, 2.0]), "projections[0].weight"),  # array without explicit
    (lambda n, a, b: n.connect(a, b, delay=1e-7), "projections[0].delay"),          # rounds to 0 ticks
    (lambda n, a, b: n.connect(a, b, weigth=1.0), "projections[0]"),  # did you mean 'weight'?
    (lambda n, a, b: n.connect(a, b, "fixed_indegree", indegre=2), "projections[0].rule"),
    (lambda n, a, b: eventsim.NeuronView(a, [5]), "populations.a"),
    (lambda n, a, b: eventsim.NeuronView(a, [[0]]), "populations.a"),
    (lambda n, a, b: eventsim.NeuronView("a", [0]), "NeuronView"),
    # stimuli
    (lambda n, a, b: n.add_poisson(a, rate=10.0, weight=-1e101), "stimuli[0].weight"),
    (lambda n, a, b: n.add_spike_train(a, times=[1.0], weight=1e308), "stimuli[0].weight"),
    (lambda n, a, b: n.add_spike_table([0], times=[1.0], weights=[1e308]), "stimuli[0].weight"),
    (lambda n, a, b: n.add_current_steps(a, times=[1.0], amplitudes=[1e308]), "stimuli[0].amplitudes"),
    (lambda n, a, b: n.add_poisson(a, rate="10", weight=1.0), "stimuli[0].rate"),
    (lambda n, a, b: n.add_poisson(a, rate=None, weight=1.0), "stimuli[0].rate"),
    (lambda n, a, b: n.add_poisson(a, rate=True, weight=1.0), "stimuli[0].rate"),
    (lambda n, a, b: n.add_poisson(a, rate=np.nan, weight=1.0), "stimuli[0].rate"),
    (lambda n, a, b: n.add_poisson(a, rate=10.0, weight=np.inf), "stimuli[0].weight"),
    (lambda n, a, b: n.add_poisson(a, rate=10.0, weight=1.0, start=-1.0), "stimuli[0].start"),
    (lambda n, a, b: n.add_poisson(a, rate=10.0, weight=1.0, start=5.0, stop=1.0), "stimuli[0].stop"),
    (lambda n, a, b: n.add_poisson(a, rate=10.0, weight=1.0, stop="never"), "stimuli[0].stop"),
    (lambda n, a, b: n.add_poisson([0, 0], rate=10.0, weight=1.0), "stimuli[0].targets"),
    (lambda n, a, b: n.add_poisson([1.0], rate=10.0, weight=1.0), "stimuli[0].targets"),
    (lambda n, a, b: n.add_poisson([[0, 1]], rate=10.0, weight=1.0), "stimuli[0].targets"),
    (lambda n, a, b: n.add_poisson([True], rate=10.0, weight=1.0), "stimuli[0].targets"),
    (lambda n, a, b: n.add_poisson(None, rate=10.0, weight=1.0), "stimuli[0].targets"),
    (lambda n, a, b: n.add_poisson({"a": 1}, rate=10.0, weight=1.0), "stimuli[0].targets"),
    (lambda n, a, b: n.add_poisson([8], rate=10.0, weight=1.0), "stimuli[0].targets"),
    (lambda n, a, b: n.add_poisson(np.array([2**63], np.uint64), rate=10.0, weight=1.0), "stimuli[0].targets"),
    (lambda n, a, b: n.add_spike_train(a, times="abc", weight=1.0), "stimuli[0].times"),
    (lambda n, a, b: n.add_spike_train(a, times=[[1.0]], weight=1.0), "stimuli[0].times"),
    (lambda n, a, b: n.add_spike_train(a, times=[-1.0], weight=1.0), "stimuli[0].times"),
    (lambda n, a, b: n.add_spike_train(a, times=[1.0], weight="x"), "stimuli[0].weight"),
    (lambda n, a, b: n.add_spike_train(a, times=[1.0], weight=[1.0, 2.0]), "stimuli[0].weight"),
    (lambda n, a, b: n.add_spike_train(a, times=[1.0], weight=1.0, delay=0.0), "stimuli[0].delay"),
    (lambda n, a, b: n.add_spike_table([0], times=[1.0], weights="x"), "stimuli[0].weight"),
    (lambda n, a, b: n.add_spike_table([0], times=[1.0], weights=None), "stimuli[0].weight"),
    (lambda n, a, b: n.add_spike_table([0, 1], times=[1.0, 2.0, 3.0], weights=1.0), "stimuli[0].time"),
    (lambda n, a, b: n.add_spike_table([0], times=[np.nan], weights=1.0), "stimuli[0].time"),
    (lambda n, a, b: n.add_current_steps(a, times="1", amplitudes=[1.0]), "stimuli[0].times"),
    (lambda n, a, b: n.add_current_steps(a, times=[[1.0]], amplitudes=[[1.0]]), "stimuli[0].times"),
    (lambda n, a, b: n.add_current_steps(a, times=[2.0, 1.0], amplitudes=[1.0, 2.0]), "stimuli[0].times"),
    (lambda n, a, b: n.add_current_steps(a, times=[1.0], amplitudes=[1.0, 2.0]), "stimuli[0].amplitudes"),
    # recorders
    (lambda n, a, b: n.record_voltage(a, "x"), "recorders.voltage0.times"),
    (lambda n, a, b: n.record_voltage(a, [np.inf]), "recorders.voltage0.times"),
    (lambda n, a, b: n.record_voltage(a, [1.0], name=5), "recorders"),
    (lambda n, a, b: n.record_voltage(a, [1.0], name=""), "recorders"),
    (lambda n, a, b: (n.record_voltage(a, [1.0], name="v"), n.record_voltage(b, [1.0], name="v")), "recorders.v"),
    (lambda n, a, b: n.record_spikes([1.5]), "record_spikes"),
    (lambda n, a, b: n.record_spikes([99]), "record_spikes"),
    # network
    (lambda n, a, b: eventsim.Network(seed="1"), "seed"),
    (lambda n, a, b: eventsim.Network(seed=np.nan), "seed"),
    (lambda n, a, b: eventsim.Network(engine=["numba"]), "engine"),
    (lambda n, a, b: eventsim.Network(engine=np.array(["numba", "reference"])), "engine"),
    # big arrays where a name is expected: the message stays one line
    (lambda n, a, b: eventsim.Network(seed=np.zeros((20, 20))), "seed"),
    (lambda n, a, b: n.add_population(np.zeros((20, 20)), 3), "populations"),
    (lambda n, a, b: n.add_population("c", 3, model=np.zeros((20, 20))), "populations.c.model"),
    (lambda n, a, b: n.connect(a, b, rule=np.zeros((20, 20))), "projections[0].rule"),
    (lambda n, a, b: n.population(np.zeros((20, 20))), "population"),
    (lambda n, a, b: n.run(1.0).spikes_of(np.zeros((20, 20))), "spikes_of(name)"),
    (lambda n, a, b: n.population(5), "population"),
]


@pytest.mark.parametrize("call, where", HOSTILE, ids=[f"{k}-{w}" for k, (_, w) in enumerate(HOSTILE)])
def test_hostile_arguments_give_one_validation_error(call, where):
    net, a, b = two_pops()
    refused(lambda: call(net, a, b), where)
    assert not net.stimuli and net._record_all  # nothing half-done


def test_population_sizes_are_limited_by_the_int32_ids(monkeypatch):
    """The total, not each size, is limited (monkeypatched: a real 2**31-neuron test would need 20 GB)."""
    monkeypatch.setattr(eventsim.connectivity, "MAX_NEURONS", 10)
    net, _, _ = two_pops()
    net.add_population("c", 2)
    refused(lambda: net.add_population("d", 1), "populations.d.size", match="make 11 in the network; at most 10")


def test_running_out_of_memory_for_parameters_is_a_validation_error(monkeypatch):
    def no_memory(*args):
        raise MemoryError

    monkeypatch.setattr(eventsim.network, "resolve_parameters", no_memory)
    refused(lambda: eventsim.Network().add_population("p", 10), "populations.p.size", match="not enough memory")


@pytest.mark.parametrize("engine", ["numba", "reference"])
def test_weights_of_the_largest_magnitude_are_simulated(engine):
    """Two same-time jumps of 1e100 mV stay finite (1e308 overflowed: OverflowError in the reference
    engine, -inf potentials in the compiled one); a Normal weight is truncated to +-1e100 mV."""
    net = eventsim.Network(engine=engine)
    a = net.add_population("a", 2)
    net.add_spike_train(a, times=[1.0, 1.0], weight=-1e100)
    net.add_spike_train(a[:1], times=[3.0, 3.0], weight=1e100)
    net.connect(a, a, weight=eventsim.Normal(0.0, 1e99), delay=1.0)
    net.record_voltage(a, times=[2.5, 5.0], name="v")
    res = net.run(10.0)
    v = res.voltages["v"].values
    assert np.all(np.isfinite(v)) and v[0, 0] < -1e99
    assert res.spike_ids.tolist() == [0]
    assert np.all(np.abs(net.prepare().syn_weight) <= 1e100)


def test_empty_populations_views_and_targets_are_fine():
    net = eventsim.Network()
    e = net.add_population("e", 0)
    a = net.add_population("a", 3, I_e=500.0)
    net.add_poisson(e, rate=10.0, weight=1.0)
    net.add_poisson(a[:0], rate=10.0, weight=1.0)
    net.add_spike_train([], times=[1.0], weight=1.0)
    net.connect(e, a)
    net.record_voltage(e, [1.0], name="v")
    res = net.run(20.0)
    assert res.rates()["e"] == 0.0 and res.voltages["v"].values.shape == (0, 1)
    assert res.spikes_of("a")[0].size == 3


# ------------------------------------------------------------------------ every argument, every kind of garbage
def garbage(pop, foreign):
    """Values of every kind a user might pass by mistake."""
    return [None, True, False, 0, -1, 1, 3, 2**70, 1.5, -0.0, np.nan, np.inf, -np.inf, 1e308, -1e308, 1e-320,
            "a", "", b"x", [], [1], [[1]], [1.5], (), {}, {1, 2}, range(3), complex(1, 1), object(), (lambda: 0),
            {"distribution": "uniform"}, {"distribution": "uniform", "min": 0, "max": "1"},
            np.int64(1), np.float32(2.0), np.bool_(True), np.uint64(2**64 - 1), np.array(3.0), np.array([1, 2]),
            np.array([[1]]), np.array([np.nan]), np.arange(5.0), pop, pop[:1], foreign, foreign[:1],
            eventsim.Uniform(0, 1), eventsim.Normal(0, 1), eventsim.Uniform("a", 2)]


# method -> (positional argument names, a valid call's arguments)
VALID_CALLS = {
    "add_population": (("name", "size"), dict(name="c", size=3, tau_m=10.0, V_init=-70.0, I_e=0.0, C_m=250.0)),
    "connect": (("pre", "post", "rule"), dict(pre="a", post="a", rule="all_to_all", weight=1.0, delay=1.0,
                                              allow_autapses=True)),
    "add_poisson": (("targets", "rate", "weight"), dict(targets="a", rate=10.0, weight=1.0, start=0.0, stop=None)),
    "add_spike_train": (("targets", "times", "weight"), dict(targets="a", times=[1.0], weight=1.0, delay=1.0)),
    "add_spike_table": (("targets", "times", "weights"), dict(targets=[0], times=[1.0], weights=[1.0], delays=1.0)),
    "add_current_steps": (("targets", "times", "amplitudes"), dict(targets="a", times=[1.0], amplitudes=[1.0])),
    "record_spikes": (("targets",), dict(targets="a")),
    "record_voltage": (("targets", "times"), dict(targets="a", times=[1.0], name="v")),
}


@pytest.mark.parametrize("method", VALID_CALLS)
def test_any_garbage_in_any_argument_is_accepted_or_one_validation_error(method):
    """Each argument of a valid call replaced by each kind of garbage: the call (and prepare) either
    works or raises one ValidationError line, never another exception or a RuntimeWarning."""
    foreign = two_pops()[2]
    positional, valid = VALID_CALLS[method]
    for arg in valid:
        for k in range(len(garbage(foreign, foreign))):
            net = eventsim.Network()
            pop = net.add_population("a", 5)
            kwargs = dict(valid, **{arg: garbage(pop, foreign)[k]})
            args = [kwargs.pop(name) for name in positional]
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    getattr(net, method)(*args, **kwargs)
                    net.prepare()
                except ValidationError as e:
                    assert "\n" not in str(e), (arg, k, str(e))


def test_garbage_in_run_results_seed_and_indexing():
    net = eventsim.Network(engine="reference")
    pop = net.add_population("a", 1)
    res = net.run(1.0)
    for value in garbage(pop, two_pops()[2]):
        for call in (lambda: res.spikes_of(value), lambda: res.population_of(value), lambda: pop[value],
                     lambda: eventsim.Network(seed=value), lambda: eventsim.Network(engine=value),
                     lambda: net.run(value if not is_large(value) else 1.0)):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    call()
                except ValidationError as e:
                    assert "\n" not in str(e)


def is_large(value) -> bool:
    """Durations that would take long to simulate (the reference engine is event-driven: 1 neuron is quick,
    but keep the test short)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and value > 1e3
