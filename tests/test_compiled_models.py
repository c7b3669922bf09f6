"""``qif`` and the adaptive-threshold ``lif`` on the compiled engine (its generic path,
eventsim/engine/generic.py): against the reference engine on random mixed networks (hypothesis),
against the closed forms and 40-digit oracles of tests/test_qif.py and tests/test_adaptive_threshold.py,
bucket against direct delivery, same-time ties and the order of same-time inputs."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit
from test_adaptive_threshold import EL, mp_first_crossing, mp_spike_train
from test_cross_engine import random_weight_and_delay
from test_qif import BASE, REGIMES, mp_time

import eventsim
from eventsim import reference
from eventsim.engine import clock
from eventsim.models import qif

MODELS = ("lif", "adaptive", "qif")


def force_delivery(monkeypatch, direct):
    """Make every window of the compiled engine use direct delivery (True) or the buckets."""
    from eventsim.engine import numba_engine
    monkeypatch.setattr(numba_engine, "DIRECT_MAX_NEURONS", 1 << 40 if direct else -1)
    monkeypatch.setattr(numba_engine, "DIRECT_MAX_ENTRIES", 1 << 40 if direct else -1)


def model_params(model, g):
    """Random parameters of a population of ``model`` (plain lif, adaptive lif or qif)."""
    common = dict(t_ref=float(g.choice([0.0, 0.5, 2.0])), tau_m=float(g.uniform(5.0, 30.0)))
    if model == "qif":
        v_c = float(g.uniform(-60.0, -50.0))
        return dict(model="qif", E_L=-70.0, V_c=v_c, V_peak=float(g.uniform(-45.0, -30.0)),
                    V_reset=float(g.choice([-70.0, v_c + 2.0])) if g.random() < 0.3 else -70.0,
                    I_e=float(g.uniform(0.0, 300.0)) if g.random() < 0.5 else 0.0,
                    V_init={"distribution": "uniform", "min": -70.0, "max": -50.0}, **common)
    p = dict(I_e=float(g.uniform(0.0, 450.0)) if g.random() < 0.5 else 0.0,
             V_init={"distribution": "uniform", "min": -70.0, "max": -56.0}, **common)
    if model == "adaptive":
        p.update(delta_theta=float(g.uniform(0.5, 5.0)), tau_theta=float(g.uniform(2.0, 100.0)))
    return p


def random_network(engine, seed, models, sizes, grid_delays, per_synapse, with_poisson, with_current):
    """Populations of the given models, randomly connected among each other, with Poisson drive,
    a current step, spike trains on the 0.1 ms grid and voltage samples."""
    g = np.random.default_rng(seed)
    net = eventsim.Network(seed=seed % 2**32, engine=engine)
    pops = [net.add_population(f"p{k}", int(sizes[k]), **model_params(m, g)) for k, m in enumerate(models)]
    for a in pops:
        for b in pops:
            if g.random() < 0.3:
                continue
            weight, delay = random_weight_and_delay(g, per_synapse, grid_delays)
            net.connect(a, b, rule="pairwise_bernoulli", p=0.4, weight=weight, delay=delay)
    if with_poisson:
        for pop in pops[:2]:
            net.add_poisson(pop, rate=float(g.uniform(500.0, 3000.0)), weight=float(g.uniform(0.5, 3.0)))
    if with_current:
        net.add_current_steps(pops[-1], times=[float(g.uniform(5, 20))], amplitudes=[float(g.uniform(-100, 300))])
    trains = np.sort(g.uniform(0.0, 40.0, 6)).round(1)  # on the 0.1 ms grid: ties with network spikes
    net.add_spike_train(pops[-1], times=trains, weight=float(g.uniform(5.0, 15.0)), delay=0.5)
    for k, pop in enumerate(pops):
        net.record_voltage(pop[:2], np.sort(g.uniform(0.0, 50.0, 5)), name=f"v{k}")
    return net


def assert_agree(fast, ref, exact=False):
    assert np.array_equal(fast.spike_ids, ref.spike_ids), (fast.spike_ids.size, ref.spike_ids.size)
    if exact:
        assert np.array_equal(fast.spike_times, ref.spike_times)
    assert np.max(np.abs(fast.spike_times - ref.spike_times), initial=0.0) < 1e-9
    for name in fast.voltages:
        assert np.allclose(fast.voltages[name].values, ref.voltages[name].values, rtol=0, atol=1e-9, equal_nan=True)
    for key in ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes"):
        assert fast.counters[key] == ref.counters[key], key


# ---------------------------------------------------------------------------------------------
# Cross-engine: per model and mixed
# ---------------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**40), models=st.lists(st.sampled_from(MODELS), min_size=1, max_size=3),
       sizes=st.lists(st.integers(1, 10), min_size=3, max_size=3), grid_delays=st.booleans(),
       per_synapse=st.booleans(), with_poisson=st.booleans(), with_current=st.booleans())
def test_engines_agree_on_random_networks_of_every_model(seed, models, sizes, grid_delays, per_synapse, with_poisson,
                                                         with_current):
    args = (seed, models, sizes, grid_delays, per_synapse, with_poisson, with_current)
    fast, ref = (random_network(e, *args).run(50.0) for e in ("numba", "reference"))
    # the generic path computes the reference engine's float64 operations: bit-identical spike times
    # when no population runs in plain lif's frame
    assert_agree(fast, ref, exact="lif" not in models)


@pytest.mark.parametrize("model", ["qif", "adaptive"])
@pytest.mark.parametrize("seed", range(3))
def test_engines_agree_bit_for_bit_per_model(model, seed):
    """Networks of one model (two populations of it), homogeneous and per-synapse delays, Poisson
    drive, a current step, spike trains and samples: the generic path is the reference's arithmetic."""
    args = (1000 + seed, [model, model], [8, 6, 1], seed == 1, seed != 1, True, True)
    fast, ref = (random_network(e, *args).run(50.0) for e in ("numba", "reference"))
    assert ref.spike_ids.size > 5
    assert_agree(fast, ref, exact=True)
    for name in fast.voltages:
        assert np.array_equal(fast.voltages[name].values, ref.voltages[name].values, equal_nan=True)


@pytest.mark.parametrize("models", [("qif", "lif"), ("lif", "qif"), ("adaptive", "lif"), ("lif", "adaptive"),
                                    ("qif", "adaptive")])
def test_mixed_networks_drive_each_other(models):
    """One model driving another (and back) through strong projections, Poisson drive on the first."""
    out = []
    for engine in ("numba", "reference"):
        g = np.random.default_rng(5)
        net = eventsim.Network(seed=5, engine=engine)
        a = net.add_population("a", 20, **model_params(models[0], g))
        b = net.add_population("b", 20, **model_params(models[1], g))
        net.connect(a, b, rule="fixed_indegree", indegree=5, weight=4.0, delay=1.0)
        net.connect(b, a, rule="fixed_indegree", indegree=3, weight=-2.0, delay={"distribution": "uniform",
                                                                                 "min": 0.5, "max": 2.0})
        net.add_poisson(a, rate=4000.0, weight=2.0)
        net.record_voltage(b[:3], [10.0, 20.5, 33.3], name="v")
        out.append(net.run(60.0))
    fast, ref = out
    assert ref.spike_ids.size > 20 and np.any(ref.spike_ids >= 20)  # b fires, driven by a
    assert_agree(fast, ref)


@pytest.mark.parametrize("seed", range(6))
def test_direct_delivery_and_buckets_are_bit_identical(monkeypatch, seed):
    g = np.random.default_rng(100 + seed)
    models = [MODELS[k] for k in g.integers(0, 3, 3)]
    args = (int(g.integers(2**40)), models, [int(v) for v in g.integers(1, 90, 3)], bool(seed % 2),
            bool(seed % 3 == 0), True, bool(seed % 4 < 2))
    out = []
    for direct in (True, False):
        force_delivery(monkeypatch, direct)
        out.append(random_network("numba", *args).run(50.0))
    a, b = out
    assert a.spike_ids.size > 0
    assert np.array_equal(a.spike_ids, b.spike_ids)
    assert np.array_equal(a.spike_times, b.spike_times)  # bit identity is the claim
    for name in a.voltages:
        assert np.array_equal(a.voltages[name].values, b.voltages[name].values, equal_nan=True)
    for key in ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes", "heap_pushes", "batches"):
        assert a.counters[key] == b.counters[key], key


def test_elapsed_time_is_the_reference_engines():
    g = np.random.default_rng(1)
    for _ in range(1000):
        t0, t1 = sorted(int(x) for x in g.integers(0, 10**17, 2))
        f0, f1 = g.random(2)
        assert clock.elapsed_ms(t1, f1, t0, f0) == reference.elapsed_ms(t1, f1, t0, f0)


def test_closed_forms_compiled_equal_python():
    """One definition serves both engines: the compiled closed forms return the Python ones' floats."""
    @njit
    def ttp(v0, vp, e, vc, tau, c, i):
        return qif.time_to_peak(v0, vp, e, vc, tau, c, i)

    g = np.random.default_rng(2)
    for _ in range(2000):
        args = (float(g.uniform(-80, -35)), -40.0, -70.0, float(g.uniform(-65, -45)), float(g.uniform(1, 30)), 250.0,
                float(g.uniform(-300, 1500)))
        assert ttp(*args) == qif.time_to_peak(*args)


# ---------------------------------------------------------------------------------------------
# Closed forms on the compiled engine
# ---------------------------------------------------------------------------------------------
def qif_net(engine="numba", n=1, **params):
    net = eventsim.Network(engine=engine)
    pop = net.add_population("q", n, model="qif", **{**BASE, **params})
    return net, pop


@pytest.mark.parametrize("regime", ["coth", "rational", "tan", "tan_near_boundary", "coth_near_boundary"])
def test_qif_period_in_each_regime(regime):
    over, I = REGIMES[regime]
    p = {**BASE, **over}
    T = p["t_ref"] + mp_time(p["V_reset"], p["V_peak"], p, I)
    net, _pop = qif_net(**over, I_e=I, V_init=p["V_reset"])
    t = net.run(10.5 * T).spike_times
    assert t.size == 10
    k = np.arange(t.size)
    assert np.max(np.abs(t - ((T - p["t_ref"]) + k * T))) <= 1e-9 * max(1.0, t[-1] / T) + 40 * math.ulp(t[-1])


def test_qif_reset_above_v_c_refires_after_t_ref_without_input():
    net, _pop = qif_net(V_reset=-50.0, V_init=-30.0, I_e=0.0)  # V_init = V_peak: spikes at 0
    t = net.run(100.0).spike_times
    T = BASE["t_ref"] + mp_time(-50.0, BASE["V_peak"], {**BASE}, 0.0)
    assert t[0] == 0.0 and t.size >= 3
    assert np.max(np.abs(np.diff(t) - T)) <= 1e-9


@pytest.mark.parametrize("engine, direct", [("reference", None), ("numba", True), ("numba", False)])
def test_qif_inhibitory_input_rescues_a_neuron_above_v_c(monkeypatch, engine, direct):
    if direct is not None:
        force_delivery(monkeypatch, direct)
    net, pop = qif_net(engine, V_init=-50.0)  # above V_c = -54 with no drive: would spike
    free = net.run(100.0).spike_times
    assert free.size == 1 and free[0] == pytest.approx(mp_time(-50.0, -30.0, BASE, 0.0), abs=1e-9)
    net, pop = qif_net(engine, V_init=-50.0)
    net.add_spike_train(pop, times=[0.5], weight=-10.0, delay=0.5)  # at 1 ms, before the spike
    net.record_voltage(pop, [1.0, 199.0], name="v")
    res = net.run(200.0)
    assert res.spike_times.size == 0
    v = res.voltages["v"].values[0]
    v1 = qif.free_potential(1.0, -50.0, -70.0, -54.0, 16.0, 256.0, 0.0) - 10.0
    assert v[0] == v1 and v1 < -54.0
    assert v[1] == pytest.approx(-70.0, abs=1e-3)  # relaxed to E_L


@pytest.mark.parametrize("tau_th", [50.0, 5.0])
def test_adaptive_isi_sequence_under_constant_drive(tau_th):
    net = eventsim.Network()
    net.add_population("p", 1, I_e=600.0, delta_theta=3.0, tau_theta=tau_th)
    t = net.run(300.0).spike_times
    want = mp_spike_train(600.0, 3.0, tau_th, t.size)
    assert t.size >= 10
    assert np.max(np.abs(t - want)) <= 1e-9
    if tau_th == 50.0:
        assert np.diff(t)[-1] > 1.3 * np.diff(t)[0]  # spike-frequency adaptation


@pytest.mark.parametrize("direct", [True, False])
def test_adaptive_crossing_between_events_with_no_input(monkeypatch, direct):
    """theta relaxes (1 ms) faster than V decays (10 ms): V meets it with no input."""
    force_delivery(monkeypatch, direct)
    net = eventsim.Network()
    pop = net.add_population("p", 1, V_init=-50.0, t_ref=0.0, delta_theta=10.0, tau_theta=1.0)
    net.add_spike_train(pop, times=[0.5], weight=18.2, delay=0.5)  # V = -51.8 < theta = -51.32 at 1 ms
    res = net.run(20.0)
    want = 1.0 + float(mp_first_crossing(-70.0 + 18.2, 10.0 * math.exp(-1.0), EL, 1.0))
    assert res.spike_times[0] == 0.0 and res.spike_times.size == 2
    assert abs(res.spike_times[1] - want) <= 1e-9
    assert res.counters["crossing_spikes"] == 1


# ---------------------------------------------------------------------------------------------
# Same-time ties and the order of same-time inputs
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("direct", [True, False])
def test_qif_same_time_inputs_are_summed_then_tested(monkeypatch, direct):
    force_delivery(monkeypatch, direct)
    net, pop = qif_net(V_init=-70.0)
    net.add_spike_train(pop, times=[5.0], weight=25.0, delay=1.0)
    net.add_spike_train(pop, times=[5.0], weight=15.0, delay=1.0)  # -70 + 40 = -30 = V_peak exactly at 6 ms
    assert net.run(10.0).spike_times.tolist() == [6.0]


@pytest.mark.parametrize("direct", [True, False])
def test_adaptive_batch_at_the_end_of_t_ref_meets_the_relaxed_threshold(monkeypatch, direct):
    """After a spike at 0 and t_ref = 20 ms, theta = V_th + delta exp(-20/tau_theta) at 20 ms:
    inputs at exactly 20 ms (two of them, summed) reaching just above it fire, just below do not."""
    force_delivery(monkeypatch, direct)
    a = 4.0 * math.exp(-20.0 / 10.0)
    for w, fires in ((15.0 + a + 1e-9, True), (15.0 + a - 1e-9, False)):
        net = eventsim.Network()
        pop = net.add_population("p", 1, V_init=-55.0, t_ref=20.0, delta_theta=4.0, tau_theta=10.0)
        net.add_spike_train(pop, times=[19.0], weight=w - 5.0, delay=1.0)
        net.add_spike_train(pop, times=[19.5], weight=5.0, delay=0.5)
        assert (net.run(30.0).spike_times.size == 2) == fires


def permuted_network(model, order_seed):
    """Targets of ``model`` receive same-time inputs from several projections and spike trains,
    added in an order permuted by ``order_seed``."""
    g = np.random.default_rng(777)
    perm = np.random.default_rng(order_seed)
    net = eventsim.Network(seed=3)
    tgt = net.add_population("tgt", 10, **model_params(model, g))
    src = [net.add_population(f"s{k}", 3, V_init=-70.0, t_ref=0.5) for k in range(3)]
    drive = [(s, [1.0, 4.0, 4.5, 9.0]) for s in src]
    projections = [(s, float(w), float(d)) for s in src
                   for w, d in zip(g.uniform(-3.0, 4.0, 2), g.choice([0.5, 1.0], 2))]
    trains = [(k, float(w), t) for k in range(10) for w, t in zip(g.uniform(-2.0, 6.0, 3), g.choice([2.0, 5.0], 3))]
    for k in perm.permutation(len(drive)):
        net.add_spike_train(drive[k][0], times=drive[k][1], weight=40.0, delay=0.5)
    for k in perm.permutation(len(projections)):
        s, w, d = projections[k]
        net.connect(s, tgt, rule="all_to_all", weight=w, delay=d)
    for k in perm.permutation(len(trains)):
        i, w, t = trains[k]
        net.add_spike_train(tgt[i:i + 1], times=[t], weight=w, delay=0.5)
    net.record_voltage(tgt, np.arange(0.25, 12.0, 0.25), name="v")
    return net


@pytest.mark.parametrize("model", ["adaptive", "qif"])
@pytest.mark.parametrize("direct", [True, False])
def test_same_time_inputs_do_not_depend_on_construction_order(monkeypatch, model, direct):
    force_delivery(monkeypatch, direct)
    results = [permuted_network(model, s).run(12.0) for s in range(6)]
    first = results[0]
    assert first.counters["spikes"] > 10
    for res in results[1:]:
        assert np.array_equal(res.spike_ids, first.spike_ids)
        assert np.array_equal(res.spike_times, first.spike_times)
        assert np.array_equal(res.voltages["v"].values, first.voltages["v"].values)
