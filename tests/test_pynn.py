"""The PyNN backend ``eventsim.pynn``: units, connectors, recording, runs, and what it refuses.

Skipped when PyNN (the optional extra ``eventsim[pynn]``) is not installed.
"""

import os
import pathlib
import runpy
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("pyNN")
pytest.importorskip("neo")

import eventsim  # noqa: E402
import eventsim.pynn as sim  # noqa: E402
from eventsim.pynn import build  # noqa: E402
from eventsim.pynn.simulator import state  # noqa: E402

LIF = dict(cm=0.25, tau_m=20.0, v_rest=-65.0, v_reset=-70.0, v_thresh=-50.0, tau_refrac=2.0)


@pytest.fixture(params=["numba"])
def setup(request):
    sim.setup(rng_seed=5, engine=request.param)
    yield sim
    sim.end()


def _network():
    """The eventsim network the backend has built (after a run)."""
    assert state.network is not None
    return state.network


def _spikes(pop, segment=0):
    """{cell index: spike times (ms)} from get_data."""
    trains = pop.get_data("spikes").segments[segment].spiketrains
    return {st.annotations["source_index"]: st.magnitude.copy() for st in trains}


# ------------------------------------------------------------------------------------------- units
def test_if_curr_delta_maps_units_onto_nest_names_exactly(setup):
    pop = sim.Population(3, sim.IF_curr_delta(cm=0.3, i_offset=[0.1, 0.37, 1.7], tau_m=15.0, v_rest=-60.0,
                                              v_reset=-62.0, v_thresh=-50.5, tau_refrac=2.5),
                         initial_values={"v": -58.0})
    sim.run(0.0)
    params = _network().populations[0].params
    # the same multiplication by 1000.0 that pyNN.nest applies (nF -> pF, nA -> pA)
    assert np.array_equal(params["C_m"], np.full(3, 0.3 * 1000.0))
    assert np.array_equal(params["I_e"], np.array([0.1, 0.37, 1.7]) * 1000.0)
    for native, value in (("tau_m", 15.0), ("E_L", -60.0), ("V_reset", -62.0), ("V_th", -50.5), ("t_ref", 2.5),
                          ("V_init", -58.0)):
        assert np.array_equal(params[native], np.full(3, value)), native
    # and back to PyNN's names and units
    assert pop.get("cm") == pytest.approx(0.3, rel=1e-15)
    assert list(pop.get("i_offset")) == pytest.approx([0.1, 0.37, 1.7], rel=1e-15)


def test_default_initial_v_and_defaults_are_pynn_s(setup):
    pop = sim.Population(2, sim.IF_curr_delta())
    sim.run(0.0)
    params = _network().populations[0].params
    assert np.array_equal(params["V_init"], [-65.0, -65.0])  # PyNN's default v, not NEST's -70
    assert np.array_equal(params["t_ref"], [0.1, 0.1]) and np.array_equal(params["C_m"], [1000.0, 1000.0])
    assert pop.get("tau_m") == 20.0


def test_voltage_samples_are_exact_at_the_sampling_times(setup):
    pop = sim.Population(1, sim.IF_curr_delta(**LIF, i_offset=1.0))  # V_inf = -65 + 1 nA * 80 MOhm = +15 mV
    pop.record(["v", "spikes"], sampling_interval=0.25)
    sim.run(20.0)
    seg = pop.get_data().segments[0]
    (sig,) = seg.analogsignals
    assert str(sig.units.dimensionality) == "mV"
    assert sig.shape == (81, 1) and float(sig.sampling_period) == pytest.approx(0.25, abs=1e-12)
    t = np.arange(81) * 0.25
    t_spike = eventsim.lif_crossing_time(-65.0, 15.0, -50.0, 20.0)
    free = np.array([eventsim.lif_free_potential(x, -65.0, 15.0, 20.0) for x in t])
    before = t < t_spike
    assert np.max(np.abs(sig.magnitude[before, 0] - free[before])) < 1e-12
    assert seg.spiketrains[0].magnitude[0] == pytest.approx(t_spike, abs=1e-12)


# ------------------------------------------------------------------------------------------- same network, two APIs
def _pynn_small_network():
    """A script in PyNN's API: spike sources, random weights and delays, currents, recurrent inhibition."""
    rng = sim.NumpyRNG(seed=11)
    cells = sim.Population(20, sim.IF_curr_delta(**dict(LIF, tau_refrac=1.0),
                                                 i_offset=sim.RandomDistribution("uniform", (0.1, 0.19), rng=rng)),
                           label="cells")
    times = [np.sort(rng.uniform(0.001, 80.0, size=12)) for _ in range(6)]
    times[0] = np.array([5.0, 10.3, 20.125, 33.3])  # grid times too
    stim = sim.Population(6, sim.SpikeSourceArray(spike_times=times), label="stim")
    ff = sim.Projection(stim, cells, sim.FixedProbabilityConnector(0.6, rng=rng),
                        sim.StaticSynapse(weight=sim.RandomDistribution("uniform", (2.0, 6.0), rng=rng),
                                          delay=sim.RandomDistribution("uniform", (0.5, 3.0), rng=rng)))
    rec = sim.Projection(cells, cells, sim.FixedNumberPreConnector(3, allow_self_connections=False, rng=rng),
                         sim.StaticSynapse(weight=-1.5, delay=1.5), receptor_type="inhibitory")
    sim.DCSource(amplitude=0.05, start=20.0, stop=60.0).inject_into(cells[0:5])
    cells[5:10].inject(sim.StepCurrentSource(times=[10.0, 30.5], amplitudes=[0.1, -0.02]))
    cells.record("spikes")
    return cells, stim, times, ff, rec


def test_small_network_spikes_equal_the_eventsim_api(setup):
    cells, stim, times, ff, rec = _pynn_small_network()
    sim.run(100.0)
    got = _spikes(cells)
    assert sum(t.size for t in got.values()) > 20

    # the same network written directly against eventsim, with the connections PyNN's connectors drew
    net = eventsim.Network(seed=0)
    n = cells.size
    exc = net.add_population("cells", n, C_m=250.0, tau_m=20.0, E_L=-65.0, V_reset=-70.0, V_th=-50.0, t_ref=1.0,
                             V_init=-65.0, I_e=np.asarray(cells.get("i_offset")) * 1000.0)
    pre, post, w, d = np.array(ff.get(["weight", "delay"], format="list")).T
    rows = [(post[k], t, w[k], d[k]) for k in range(pre.size) for t in times[int(pre[k])]]
    target, t_in, w_in, d_in = (np.array(c) for c in zip(*rows))
    net.add_spike_table(target.astype(np.int64), t_in, w_in, d_in)
    pre, post = np.array(rec.get(["weight"], format="list"))[:, :2].T.astype(np.int64)
    net.connect(exc, exc, "explicit", sources=pre, targets=post, weight=-1.5, delay=1.5)
    net.add_current_steps(exc[0:5], [20.0, 60.0], [50.0, 0.0])
    net.add_current_steps(exc[5:10], [10.0, 30.5], [100.0, -20.0])
    res = net.run(100.0 + 1e-6)
    for i in range(n):
        expected = res.spike_times[(res.spike_ids == i) & (res.spike_times <= 100.0)]
        assert got[i].shape == expected.shape and np.allclose(got[i], expected, rtol=0, atol=1e-9), i


def test_spike_source_array_cells_fire_exactly_at_their_times(setup):
    _, stim, times, _, _ = _pynn_small_network()
    stim.record("spikes")
    sim.run(100.0)
    got = _spikes(stim)
    for i, t in enumerate(times):
        assert np.allclose(got[i], t, rtol=0, atol=1e-12)


def test_poisson_sources_relay_every_spike_through_projections(setup):
    src = sim.Population(40, sim.SpikeSourcePoisson(rate=50.0, start=100.0, duration=1500.0))
    dst = sim.Population(40, sim.IF_curr_delta(**dict(LIF, tau_refrac=0.0)))
    sim.Projection(src, dst, sim.OneToOneConnector(), sim.StaticSynapse(weight=100.0, delay=1.25))
    src.record("spikes")
    dst.record("spikes")
    sim.run(2000.0)
    s, d = _spikes(src), _spikes(dst)
    counts = np.array([s[i].size for i in range(40)])
    expected = 40 * 50.0 * 1.5
    assert abs(counts.sum() - expected) < 5 * np.sqrt(expected)
    assert all(t.min() >= 100.0 and t.max() < 1600.0 for t in s.values() if t.size)
    for i in range(40):
        assert np.allclose(d[i], s[i] + 1.25, rtol=0, atol=1e-9)
    counts_by_id = src.get_spike_counts()
    assert [counts_by_id[int(cell)] for cell in src.all_cells] == counts.tolist()
    assert src.mean_spike_count() == pytest.approx(counts.mean())


def test_unrecorded_poisson_sources_with_one_synapse_each_drive_their_targets_directly(setup):
    src = sim.Population(40, sim.SpikeSourcePoisson(rate=50.0, start=100.0, duration=1500.0))
    dst = sim.Population(40, sim.IF_curr_delta(**dict(LIF, tau_refrac=0.0)))
    sim.Projection(src, dst, sim.OneToOneConnector(), sim.StaticSynapse(weight=100.0, delay=1.25))
    dst.record("spikes")
    sim.run(1000.0)
    src.set(rate=200.0)  # a change during the run applies from t = 1000 ms on, shifted by the delay too
    sim.run(1000.0)
    assert list(build.direct_poisson(state)) == [id(src)]
    net = _network()
    assert net.projections == [] and net.results.counters["spikes"] == net.results.counters["ext_events"]
    times = np.concatenate(list(_spikes(dst).values()))
    assert times.min() >= 101.25 and times.max() < 1601.25  # the train's window, shifted by the delay
    early, late = np.count_nonzero(times < 1001.25), np.count_nonzero(times >= 1001.25)
    for count, expected in ((early, 40 * 50.0 * 0.9), (late, 40 * 200.0 * 0.6)):
        assert abs(count - expected) < 5 * np.sqrt(expected)


# ------------------------------------------------------------------------------------------- connectors
def _eventsim_indegrees(rule, n_pre, n_post, same, **kw):
    net = eventsim.Network(seed=3)
    a = net.add_population("a", n_pre)
    b = a if same else net.add_population("b", n_post)
    net.connect(a, b, rule, **kw)
    p = net.prepare()
    return np.bincount(np.asarray(p.syn_target) - b.start, minlength=n_post)


def _pynn_indegrees(connector, n_pre, n_post, same):
    a = sim.Population(n_pre, sim.IF_curr_delta())
    b = a if same else sim.Population(n_post, sim.IF_curr_delta())
    prj = sim.Projection(a, b, connector, sim.StaticSynapse(weight=0.1, delay=1.0))
    sim.run(0.0)
    assert _network().prepare().syn_target.size == len(prj)  # everything reached eventsim
    post = np.array(prj.get(["weight"], format="list"))[:, 1].astype(np.int64)
    return prj, np.bincount(post, minlength=n_post)


@pytest.mark.parametrize("connector, rule, kw, same", [
    (lambda rng: sim.AllToAllConnector(allow_self_connections=False), "all_to_all", dict(allow_autapses=False), True),
    (lambda rng: sim.AllToAllConnector(), "all_to_all", {}, False),
    (lambda rng: sim.OneToOneConnector(), "one_to_one", {}, False),
    (lambda rng: sim.FixedNumberPreConnector(7, rng=rng), "fixed_indegree", dict(indegree=7), False),
    (lambda rng: sim.FixedNumberPreConnector(7, allow_self_connections=False, rng=rng), "fixed_indegree",
     dict(indegree=7, allow_autapses=False), True),
])
def test_deterministic_degree_connectors_match_eventsim_rules(setup, connector, rule, kw, same):
    n_pre, n_post = 30, 30
    _, pynn_in = _pynn_indegrees(connector(sim.NumpyRNG(seed=1)), n_pre, n_post, same)
    assert np.array_equal(pynn_in, _eventsim_indegrees(rule, n_pre, n_post, same, **kw))


def test_fixed_number_post_matches_fixed_outdegree(setup):
    prj, _ = _pynn_indegrees(sim.FixedNumberPostConnector(5, rng=sim.NumpyRNG(seed=2)), 20, 35, False)
    pre = np.array(prj.get(["weight"], format="list"))[:, 0].astype(np.int64)
    assert np.array_equal(np.bincount(pre, minlength=20), np.full(20, 5))
    net = eventsim.Network(seed=3)
    a, b = net.add_population("a", 20), net.add_population("b", 35)
    net.connect(a, b, "fixed_outdegree", outdegree=5)
    assert net.prepare().syn_target.size == len(prj) == 100


def test_fixed_total_number_matches(setup):
    prj, _ = _pynn_indegrees(sim.FixedTotalNumberConnector(333, rng=sim.NumpyRNG(seed=4)), 25, 40, False)
    assert len(prj) == 333 == _eventsim_indegrees("fixed_total_number", 25, 40, False, N=333).sum()


def test_fixed_probability_statistics_match_pairwise_bernoulli(setup):
    n_pre, n_post, p = 80, 70, 0.2
    _, pynn_in = _pynn_indegrees(sim.FixedProbabilityConnector(p, rng=sim.NumpyRNG(seed=5)), n_pre, n_post, False)
    es_in = _eventsim_indegrees("pairwise_bernoulli", n_pre, n_post, False, p=p)
    mean, sd = n_pre * n_post * p, np.sqrt(n_pre * n_post * p * (1 - p))
    for total in (pynn_in.sum(), es_in.sum()):
        assert abs(total - mean) < 5 * sd
    # in-degrees are Binomial(n_pre, p) under both rules
    assert abs(pynn_in.var() - es_in.var()) < 0.5 * n_pre * p * (1 - p)


def test_from_list_and_array_connectors_give_exactly_their_connections(setup):
    a = sim.Population(4, sim.SpikeSourceArray(spike_times=[[1.0], [2.0], [3.0], [4.0]]))
    b = sim.Population(3, sim.IF_curr_delta(**dict(LIF, tau_refrac=0.0)))
    conns = [(0, 1, 20.0, 0.5), (3, 1, 20.0, 2.0), (2, 0, 20.0, 1.0), (3, 2, 20.0, 0.25)]
    sim.Projection(a, b, sim.FromListConnector(conns, column_names=["weight", "delay"]))
    mask = np.array([[0, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=bool)
    sim.Projection(a, b, sim.ArrayConnector(mask), sim.StaticSynapse(weight=20.0, delay=3.0))
    b.record("spikes")
    sim.run(10.0)
    got = _spikes(b)
    # a spike source i fires at i + 1 ms; every input alone drives its target over threshold
    assert np.allclose(got[0], [3.0 + 1.0], atol=1e-12)
    assert np.allclose(got[1], [1.0 + 0.5, 4.0 + 2.0], atol=1e-12)
    assert np.allclose(got[2], [1.0 + 3.0, 4.0 + 0.25], atol=1e-12)


# ------------------------------------------------------------------------------------------- runs
def _poisson_driven(v=True):
    src = sim.Population(30, sim.SpikeSourcePoisson(rate=400.0))
    cells = sim.Population(10, sim.IF_curr_delta(**LIF))
    sim.Projection(src, cells, sim.FixedNumberPreConnector(10, rng=sim.NumpyRNG(seed=7)),
                   sim.StaticSynapse(weight=1.2, delay=0.8))
    cells.record(["spikes", "v"] if v else "spikes")
    return cells


def test_split_runs_equal_one_run_including_the_voltage_horizon_rebuild(setup):
    cells = _poisson_driven()
    sim.run(30.0)  # the v samples reach 30 ms: running on rebuilds and replays
    sim.run(45.0)
    sim.run_until(100.0)
    split = cells.get_data().segments[0]
    sim.setup(rng_seed=5)
    cells = _poisson_driven()
    sim.run(100.0)
    whole = cells.get_data().segments[0]
    assert sum(st.size for st in whole.spiketrains) > 10
    for a, b in zip(split.spiketrains, whole.spiketrains):
        assert np.array_equal(a.magnitude, b.magnitude)
    assert split.analogsignals[0].shape == whole.analogsignals[0].shape == (1001, 10)
    assert np.array_equal(split.analogsignals[0].magnitude, whole.analogsignals[0].magnitude)


def test_reset_starts_a_new_segment_with_new_poisson_trains(setup):
    cells = _poisson_driven(v=False)
    sim.run(100.0)
    sim.reset()
    assert sim.get_current_time() == 0.0
    sim.run(100.0)
    block = cells.get_data()
    assert len(block.segments) == 2
    first, second = (np.concatenate([st.magnitude for st in seg.spiketrains]) for seg in block.segments)
    assert first.size > 10 and second.size > 10 and not np.array_equal(np.sort(first), np.sort(second))


def test_changes_during_a_run_apply_from_then_on_and_keep_the_past(setup):
    src = sim.Population(20, sim.SpikeSourcePoisson(rate=100.0))
    cell = sim.Population(1, sim.IF_curr_delta(**LIF))
    src.record("spikes")
    cell.record("spikes")
    sim.run(50.0)
    before = _spikes(src)
    src.set(rate=1000.0)
    cell.set(i_offset=1.0)  # from t = 50 on: V_inf = +15 mV, no input
    sim.run(50.0)
    after = _spikes(src)
    for i in range(20):  # the replay keeps what happened before the change bit for bit
        assert np.array_equal(after[i][after[i] <= 50.0], before[i])
    late = sum(np.count_nonzero(after[i] > 50.0) for i in range(20))
    assert abs(late - 20 * 1000.0 * 0.05) < 5 * np.sqrt(1000.0)
    first = _spikes(cell)[0][0]
    assert first == pytest.approx(50.0 + eventsim.lif_crossing_time(-65.0, 15.0, -50.0, 20.0), abs=1e-9)


def test_write_data_round_trip(setup, tmp_path):
    import neo

    cells = _poisson_driven(v=False)
    sim.run(50.0)
    path = tmp_path / "spikes.pkl"
    cells.write_data(str(path))
    block = neo.io.PickleIO(filename=str(path)).read_block()
    for a, b in zip(block.segments[0].spiketrains, cells.get_data().segments[0].spiketrains):
        assert np.array_equal(a.magnitude, b.magnitude)


# ------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("make, match", [
    (lambda: sim.IF_curr_exp(), "lif_psc_exp"),
    (lambda: sim.IF_cond_exp(), "IF_curr_delta"),
    (lambda: sim.TsodyksMarkramSynapse(), "static synapses"),
    (lambda: sim.STDPMechanism(), "static synapses"),
    (lambda: sim.ACSource(), "DCSource"),
])
def test_what_eventsim_lacks_raises_a_clear_error(setup, make, match):
    with pytest.raises(NotImplementedError, match=match):
        make()


@pytest.mark.parametrize("change", [
    lambda p: sim.Population(1, sim.IF_curr_delta()),
    lambda p: sim.Projection(p, p, sim.AllToAllConnector()),
    lambda p: p.set(tau_m=10.0),
    lambda p: p.record("v"),
    lambda p: p.initialize(v=-60.0),
    lambda p: sim.DCSource(amplitude=1.0),
])
def test_structural_changes_after_run_need_reset(setup, change):
    pop = sim.Population(2, sim.IF_curr_delta())
    sim.run(1.0)
    with pytest.raises(sim.EventsimPyNNError, match="call reset"):
        change(pop)
    sim.reset()
    change(pop)  # fine before the next run
    sim.run(1.0)


def test_spike_source_array_time_zero_is_refused(setup):
    sim.Population(1, sim.SpikeSourceArray(spike_times=[0.0, 1.0]))
    with pytest.raises(sim.EventsimPyNNError, match="spike times must be >= 1e-06 ms"):
        sim.run(5.0)


def test_timestep_warns_that_it_only_sets_the_sampling_interval():
    with pytest.warns(UserWarning, match="event-driven"):
        sim.setup(timestep=0.05)
    assert sim.get_time_step() == 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.setup()
    sim.end()


def test_list_standard_models_names_only_what_runs():
    assert sorted(sim.list_standard_models()) == ["IF_curr_delta", "IF_curr_delta_adaptive", "QIF_curr_delta",
                                                  "SpikeSourceArray", "SpikeSourcePoisson"]


def test_window_steps_restrict_a_current_to_a_version_window():
    assert build.window_steps([10.0, 60.0], [50.0, 0.0], 0.0, np.inf) == ([0.0, 10.0, 60.0], [0.0, 50.0, 0.0])
    assert build.window_steps([10.0, 60.0], [50.0, 0.0], 20.0, 40.0) == ([20.0, 40.0], [50.0, 0.0])
    assert build.window_steps([10.0], [50.0], 0.0, 5.0) == ([], [])


# ------------------------------------------------------------------------------------------- PyNN's examples
EXAMPLES = ["varying_poisson.py", "update_spike_source_array.py"]


@pytest.mark.parametrize("script", EXAMPLES)
def test_pynn_examples_run_unchanged(script, monkeypatch, capsys):
    """PyNN's own example scripts, unmodified, with ``eventsim`` as the simulator argument.

    The examples ship in PyNN's source distribution, not in its wheel: set ``PYNN_EXAMPLES`` to its
    ``examples/`` folder to run them (skipped otherwise).
    """
    folder = os.environ.get("PYNN_EXAMPLES")
    if not folder or not (pathlib.Path(folder) / script).exists():
        pytest.skip("set PYNN_EXAMPLES to the examples/ folder of PyNN's sdist")
    monkeypatch.setitem(sys.modules, "pyNN.eventsim", sim)  # get_simulator() imports pyNN.<argv[1]>
    monkeypatch.setattr(sys, "argv", [script, "eventsim"])
    runpy.run_path(str(pathlib.Path(folder) / script), run_name="__main__")
    out = capsys.readouterr().out
    actual = eval(out.split("Actual spike counts:")[1].splitlines()[0].replace("np.int64", ""))
    expected = eval(out.split("Expected mean spike counts:")[1].splitlines()[0])
    assert all(abs(a - e) <= 5 * np.sqrt(e) for a, e in zip(actual, expected))


def test_views_and_assemblies_span_eventsim_populations(setup):
    a = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0], [2.0]]), label="a")
    b = sim.Population(2, sim.SpikeSourceArray(spike_times=[[3.0], [4.0]]), label="b")
    cells = sim.Population(4, sim.IF_curr_delta(**dict(LIF, tau_refrac=0.0)), label="cellules d'été",
                           initial_values={"v": sim.RandomDistribution("uniform", (-66.0, -64.0),
                                                                       rng=sim.NumpyRNG(seed=3))})
    prj = sim.Projection(a + b, cells[1:3], sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
    prj.set(weight=30.0)  # before the run: every input fires its target
    view = cells[[0, 2]]
    view.record("spikes")
    sim.run(10.0)
    assert len(_network().projections) == 2  # one eventsim projection per (source, target) population pair
    trains = view.get_data().segments[0].spiketrains
    assert [st.annotations["source_index"] for st in trains] == [0, 2]
    assert trains[0].size == 0 and np.allclose(trains[1].magnitude, [2.0, 3.0, 4.0, 5.0], atol=1e-12)
    v0 = _network().populations[2].params["V_init"]
    assert np.all((v0 >= -66.0) & (v0 < -64.0)) and np.unique(v0).size == 4


def test_an_empty_model_runs(setup):
    sim.run(10.0)
    assert sim.get_current_time() == 10.0


# ------------------------------------------------------------------------------------------- against NEST
ROOT = pathlib.Path(__file__).resolve().parents[1]
COMPARE = ROOT / "tests" / "data" / "pynn_compare.py"


def _peers_python():
    """The Python of the peers environment (perf/peers/setup.sh) if it has NEST and PyNN, else None."""
    import subprocess

    python = os.environ.get("EVENTSIM_PEERS_PYTHON") or str(ROOT / ".venv-peers" / "bin" / "python")
    if not pathlib.Path(python).exists():
        return None
    probe = subprocess.run([python, "-c", "import nest, pyNN.nest"], capture_output=True, timeout=300)
    return python if probe.returncode == 0 else None


def test_same_script_on_nest_gives_the_same_spikes(tmp_path):
    """pyNN.nest with NEST's iaf_psc_delta_ps (spike_precision="off_grid") and eventsim.pynn agree to 1e-9 ms."""
    import importlib.util
    import subprocess

    python = _peers_python()
    if python is None:
        pytest.skip("no NEST: create the peers environment with perf/peers/setup.sh and pip install pyNN into it")
    nest_out, es_out = tmp_path / "nest.npz", tmp_path / "eventsim.npz"
    subprocess.run([python, str(COMPARE), "pyNN.nest", str(nest_out)], check=True, capture_output=True, timeout=600)
    spec = importlib.util.spec_from_file_location("pynn_compare", COMPARE)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        script.main("eventsim.pynn", str(es_out))
    nest, es = np.load(nest_out), np.load(es_out)
    assert es["ids"].size == nest["ids"].size > 200
    for i in range(40):
        a, b = np.sort(es["times"][es["ids"] == i]), np.sort(nest["times"][nest["ids"] == i])
        assert a.shape == b.shape and np.allclose(a, b, rtol=0, atol=1e-9), i
    # Membrane potential, from the sample at dt on: at t = 0 PyNN's NEST backend reports values that
    # are not the ones NEST starts from (its samples at dt, 2 dt ... agree with eventsim's). Where an input arrives exactly at a sample time,
    # eventsim reports the potential after it and NEST before it: a few samples of the 6000.
    assert np.array_equal(es["v_times"], nest["v_times"])
    same = np.abs(es["v"][1:] - nest["v"][1:]) < 1e-9
    assert same.mean() > 0.99


def test_procedural_api_and_record_to_file_on_end(tmp_path):
    import neo

    sim.setup()
    src = sim.create(sim.SpikeSourceArray, {"spike_times": [2.0, 4.0]}, n=2)
    cells = sim.create(sim.IF_curr_delta, {"tau_refrac": 0.0}, n=3)
    sim.connect(src, cells, weight=20.0, delay=0.5, p=1.0)
    path = tmp_path / "cells.pkl"
    sim.record("spikes", cells, str(path))
    sim.run(10.0)
    sim.end()
    block = neo.io.PickleIO(filename=str(path)).read_block()
    for st in block.segments[0].spiketrains:  # two sources fire together: one summed input each time
        assert np.allclose(st.magnitude, [2.5, 4.5], atol=1e-12)


def test_readme_pynn_example_runs():
    import re

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(import eventsim\.pynn as sim\n.*?)```", readme, re.S).group(1)
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exec(compile(code, "<README PyNN example>", "exec"), namespace)  # noqa: S102
    trains = namespace["block"].segments[0].spiketrains
    assert len(trains) == 100 and sum(len(t) for t in trains) > 0


# ------------------------------------------------------------------------------------------- eventsim's own cell types
QIF = dict(cm=0.25, tau_m=10.0, v_rest=-70.0, v_crit=-55.0, v_spike=-40.0, v_reset=-70.0, tau_refrac=2.0)
ADAPTIVE = dict(LIF, delta_theta=3.0, tau_theta=50.0)


@pytest.fixture
def auto_setup():
    """setup() with no engine chosen, the warning about the reference engine silenced (tested on its own)."""
    sim.setup(rng_seed=5)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "(QIF_curr_delta|IF_curr_delta_adaptive) runs on eventsim's reference")
        yield sim
    sim.end()


def _direct_spikes(net, t_stop):
    """{global id: spike times (ms) at or before t_stop} of a network built directly with eventsim's API."""
    res = net.run(t_stop + 1e-6)  # the backend runs one tick past PyNN's t
    keep = res.spike_times <= t_stop
    ids, times = res.spike_ids[keep], res.spike_times[keep]
    return {int(i): times[ids == i] for i in np.unique(ids)}


def test_qif_curr_delta_maps_units_onto_qif_names_exactly(auto_setup):
    pop = sim.Population(3, sim.QIF_curr_delta(cm=0.3, i_offset=[0.1, 0.37, 1.7], tau_m=15.0, v_rest=-60.0,
                                               v_crit=-52.5, v_spike=-30.0, v_reset=-62.0, tau_refrac=2.5),
                         initial_values={"v": -58.0})
    sim.run(0.0)
    epop = _network().populations[0]
    assert epop.model == "qif"
    assert np.array_equal(epop.params["C_m"], np.full(3, 0.3 * 1000.0))
    assert np.array_equal(epop.params["I_e"], np.array([0.1, 0.37, 1.7]) * 1000.0)
    for native, value in (("tau_m", 15.0), ("E_L", -60.0), ("V_c", -52.5), ("V_peak", -30.0), ("V_reset", -62.0),
                          ("t_ref", 2.5), ("V_init", -58.0)):
        assert np.array_equal(epop.params[native], np.full(3, value)), native
    assert pop.get("cm") == pytest.approx(0.3, rel=1e-15)
    assert pop.get("v_crit") == -52.5 and pop.get("v_spike") == -30.0
    assert list(pop.get("i_offset")) == pytest.approx([0.1, 0.37, 1.7], rel=1e-15)


def test_adaptive_cell_maps_units_onto_lif_with_a_threshold_exactly(auto_setup):
    pop = sim.Population(2, sim.IF_curr_delta_adaptive(**ADAPTIVE, i_offset=0.4))
    default = sim.Population(1, sim.IF_curr_delta_adaptive())
    sim.run(0.0)
    epop, edefault = _network().populations
    assert epop.model == "lif" and edefault.model == "lif"
    for native, value in (("C_m", 250.0), ("I_e", 0.4 * 1000.0), ("tau_m", 20.0), ("E_L", -65.0), ("V_reset", -70.0),
                          ("V_th", -50.0), ("t_ref", 2.0), ("V_init", -65.0), ("delta_theta", 3.0),
                          ("tau_theta", 50.0)):
        assert np.array_equal(epop.params[native], np.full(2, value)), native
    assert edefault.params["delta_theta"][0] == 1.0 and edefault.params["tau_theta"][0] == 100.0
    assert pop.get("delta_theta") == 3.0 and pop.get("tau_theta") == 50.0 and pop.get("cm") == 0.25


class QIF_reference_only(sim.QIF_curr_delta):
    """A cell type that runs on the reference engine only (eventsim's own ones all run compiled)."""
    reference_only = True


@pytest.mark.parametrize("celltype", [sim.QIF_curr_delta, sim.IF_curr_delta_adaptive])
def test_qif_and_adaptive_cells_run_on_the_compiled_engine(celltype):
    sim.setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.Population(2, celltype())
        sim.run(1.0)
    assert _network().engine_name == "numba"
    sim.end()


@pytest.mark.parametrize("celltype", [QIF_reference_only])
def test_reference_only_cell_types_select_the_reference_engine_with_one_warning(celltype):
    sim.setup()
    with pytest.warns(UserWarning, match=f"^{celltype.__name__} runs on eventsim's reference engine only") as caught:
        sim.Population(1, sim.IF_curr_delta())
        sim.Population(2, celltype())
        sim.Population(2, celltype())  # the engine is chosen: no second warning
        sim.run(1.0)
    assert len([w for w in caught if "reference engine" in str(w.message)]) == 1
    assert "\n" not in str(caught[0].message) and "sim.setup(engine='reference')" in str(caught[0].message)
    assert _network().engine_name == "reference"
    sim.end()
    sim.setup(engine="reference")  # chosen explicitly: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sim.Population(2, celltype())
        sim.run(1.0)
    assert _network().engine_name == "reference"
    sim.end()


def test_plain_networks_still_run_on_the_compiled_engine():
    sim.setup()
    sim.Population(1, sim.IF_curr_delta())
    sim.run(1.0)
    assert _network().engine_name == "numba"
    sim.end()


@pytest.mark.parametrize("celltype", [QIF_reference_only])
def test_reference_only_cell_types_on_an_explicit_compiled_engine_fail_saying_how(celltype):
    sim.setup(engine="numba")
    with pytest.raises(sim.EventsimPyNNError, match=r"reference engine only .* use sim.setup\(engine='reference'\)"):
        sim.Population(1, celltype())
    sim.end()


def test_qif_cell_with_i_offset_fires_at_the_closed_form_period_and_records_v(auto_setup):
    from eventsim.models import qif

    pop = sim.Population(1, sim.QIF_curr_delta(**QIF, i_offset=0.5), initial_values={"v": -70.0})
    pop.record(["spikes", "v"], sampling_interval=0.5)
    sim.run(300.0)
    seg = pop.get_data().segments[0]
    got = seg.spiketrains[0].magnitude
    native = dict(C_m=250.0, tau_m=10.0, E_L=-70.0, V_c=-55.0, V_peak=-40.0, V_reset=-70.0, t_ref=2.0, I_e=0.5 * 1000.0)
    period = qif.period(**native)
    first = period - 2.0  # starts at V_reset, not refractory
    expected = first + period * np.arange(got.size)
    assert got.size == int((300.0 - first) // period) + 1 and got.size > 10
    assert np.max(np.abs(got - expected)) < 1e-9
    # v is the model's V_m: the closed-form free trajectory up to the first spike
    (sig,) = seg.analogsignals
    t = np.arange(sig.shape[0]) * 0.5
    before = t < first
    free = [qif.free_potential(x, -70.0, E_L=-70.0, V_c=-55.0, tau_m=10.0, C_m=250.0, I=500.0) for x in t[before]]
    assert np.max(np.abs(sig.magnitude[before, 0] - free)) < 1e-9


def test_adaptive_cell_isis_grow_and_equal_the_eventsim_api_bit_for_bit(auto_setup):
    pop = sim.Population(2, sim.IF_curr_delta_adaptive(**ADAPTIVE, i_offset=[0.3, 0.5]), initial_values={"v": -60.0})
    pop.record("spikes")
    sim.run(400.0)
    got = _spikes(pop)
    for times in got.values():
        isi = np.diff(times)
        assert times.size > 5 and np.all(np.diff(isi) > 0)  # spike-frequency adaptation
    net = eventsim.Network(seed=0, engine="reference")
    net.add_population("a", 2, "lif", C_m=250.0, tau_m=20.0, E_L=-65.0, V_reset=-70.0, V_th=-50.0, t_ref=2.0,
                       V_init=-60.0, I_e=np.array([300.0, 500.0]), delta_theta=3.0, tau_theta=50.0)
    expected = _direct_spikes(net, 400.0)
    for i in range(2):
        assert np.array_equal(got[i], expected[i]), i


def test_mixed_lif_and_qif_network_equals_the_eventsim_api_bit_for_bit(auto_setup):
    rng = sim.NumpyRNG(seed=3)
    draw = np.random.default_rng(3)
    i_lif, i_q, v_q = draw.uniform(0.2, 0.3, 10), draw.uniform(0.05, 0.2, 8), draw.uniform(-70.0, -56.0, 8)
    lif = sim.Population(10, sim.IF_curr_delta(**LIF, i_offset=i_lif), label="lif")
    q = sim.Population(8, sim.QIF_curr_delta(**QIF, i_offset=i_q), initial_values={"v": v_q}, label="q")
    syn = sim.StaticSynapse(weight=sim.RandomDistribution("uniform", (0.5, 3.0), rng=rng),
                            delay=sim.RandomDistribution("uniform", (0.5, 2.0), rng=rng))
    lq = sim.Projection(lif, q, sim.FixedProbabilityConnector(0.4, rng=rng), syn)
    ql = sim.Projection(q, lif, sim.FixedProbabilityConnector(0.4, rng=rng), sim.StaticSynapse(weight=-2.0, delay=1.0),
                        receptor_type="inhibitory")
    for p in (lif, q):
        p.record("spikes")
    sim.run(200.0)
    got = {int(p.all_cells[i]): t for p in (lif, q) for i, t in _spikes(p).items()}
    assert sum(t.size for t in got.values()) > 50 and all(got[int(c)].size for c in q.all_cells)

    # the same network written directly against eventsim, with the connections PyNN's connectors drew
    net = eventsim.Network(seed=0, engine=_network().engine_name)
    elif_ = net.add_population("lif", 10, "lif", C_m=250.0, tau_m=20.0, E_L=-65.0, V_reset=-70.0, V_th=-50.0,
                               t_ref=2.0, V_init=-65.0, I_e=i_lif * 1000.0)
    eq = net.add_population("q", 8, "qif", C_m=250.0, tau_m=10.0, E_L=-70.0, V_c=-55.0, V_peak=-40.0, V_reset=-70.0,
                            t_ref=2.0, V_init=v_q, I_e=i_q * 1000.0)
    pre, post, w, d = np.array(lq.get(["weight", "delay"], format="list")).T
    net.connect(elif_, eq, "explicit", sources=pre.astype(np.int64), targets=post.astype(np.int64), weight=w, delay=d)
    pre, post = np.array(ql.get(["weight"], format="list"))[:, :2].T.astype(np.int64)
    net.connect(eq, elif_, "explicit", sources=pre, targets=post, weight=-2.0, delay=1.0)
    expected = _direct_spikes(net, 200.0)
    for i in range(18):
        assert np.array_equal(got.get(i, np.zeros(0)), expected.get(i, np.zeros(0))), i


def test_qif_i_offset_can_change_during_a_run(auto_setup):
    from eventsim.models import qif

    pop = sim.Population(1, sim.QIF_curr_delta(**QIF), initial_values={"v": -70.0})
    pop.record("spikes")
    sim.run(100.0)
    pop.set(i_offset=0.5)  # at rest (v = v_rest) until now; from t = 100 ms it fires
    sim.run(100.0)
    got = _spikes(pop)[0]
    first = 100.0 + qif.time_to_peak(-70.0, -40.0, E_L=-70.0, V_c=-55.0, tau_m=10.0, C_m=250.0, I=500.0)
    assert got.size > 3 and abs(got[0] - first) < 1e-9
