"""Same-time inputs on both engines: the documented threshold decision and its independence of order.

docs/semantics.md, "Same-time inputs": the inputs arriving at one neuron at one time are summed
exactly and rounded once (``S = math.fsum(weights)``), and the neuron spikes iff
``V + S >= V_th`` in float64, V the engine's potential just before them. Both properties are
claims about bits, so these tests compare exactly.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from numba import njit
from hypothesis import strategies as st

import eventsim
from eventsim.engine import kernels as K

from test_cross_engine import _force_delivery

V_TH, E_L, TAU = -55.0, -70.0, 10.0
T_BATCH = 3.0  # ms: arrival time of the batch (spike time 2.5 + delay 0.5)
MODES = [("reference", None), ("numba", True), ("numba", False)]  # numba: direct delivery or buckets


def engine_mode(monkeypatch, engine, direct):
    if engine == "numba":
        _force_delivery(monkeypatch, direct)
    return engine


def build(engine, v_init, earlier, combos):
    """One neuron per weight tuple of ``combos``, all at V_init with the ``earlier`` inputs
    (list of (time ms, weight mV)) and the tuple's inputs arriving together at T_BATCH, each
    weight from its own spike train; a voltage sample at T_BATCH (after the batch)."""
    net = eventsim.Network(seed=1, engine=engine)
    pop = net.add_population("p", max(len(combos), 1), E_L=E_L, V_th=V_TH, V_reset=-80.0, V_init=v_init,
                             tau_m=TAU, t_ref=2.0)
    for t, w in earlier:
        net.add_spike_train(pop, times=[t - 0.5], weight=w, delay=0.5)
    for k, ws in enumerate(combos):
        for w in ws:
            net.add_spike_train(pop[k:k + 1], times=[T_BATCH - 0.5], weight=float(w), delay=0.5)
    net.record_voltage(pop, [T_BATCH], name="v")
    return net


def potential_before_batch(engine, v_init, earlier):
    """The engine's V at T_BATCH with no batch (its sample there)."""
    res = build(engine, v_init, earlier, [()]).run(T_BATCH + 1.0)
    return float(res.voltages["v"].values.ravel()[0])


def first_sum_reaching(v):
    """The smallest float64 s with ``v + s >= V_TH`` (in float64)."""
    s = V_TH - v
    while v + s >= V_TH:
        s = math.nextafter(s, -math.inf)
    while v + s < V_TH:
        s = math.nextafter(s, math.inf)
    return s


def combos_summing_to(s, rng):
    """Weight tuples (2 to 4 inputs, decimal and random weights, mixed signs) whose exact sum,
    rounded once, is s."""
    out = []
    firsts = [3.0, 0.1, 0.3, 7.7, 1.0 / 3.0, -2.5, 12.0] + list(rng.uniform(-6.0, 20.0, 12))
    for w1 in firsts:
        out.append((w1, s - w1))
    for w1, w2 in zip(rng.uniform(-6.0, 15.0, 10), rng.uniform(-6.0, 15.0, 10)):
        out.append((w1, w2, s - w1 - w2))
    for ws in rng.uniform(-5.0, 10.0, (6, 3)):
        out.append(tuple(ws) + (s - math.fsum(ws),))
    return [ws for ws in out if math.fsum(ws) == s]


def check_decisions(engine, v_init, earlier, rng):
    v = potential_before_batch(engine, v_init, earlier)
    s0 = first_sum_reaching(v)
    targets = [math.nextafter(s0, -math.inf), s0, math.nextafter(s0, math.inf), math.nextafter(s0, -math.inf) - 1e-13,
               s0 + 1e-13]
    combos = [ws for s in targets for ws in combos_summing_to(s, rng)]
    assert len(combos) > 100
    res = build(engine, v_init, earlier, combos).run(T_BATCH + 1.0)
    fired = np.zeros(len(combos), bool)
    fired[res.spike_ids[np.isclose(res.spike_times, T_BATCH, rtol=0, atol=1e-12)]] = True
    expected = np.array([v + math.fsum(ws) >= V_TH for ws in combos])
    assert expected.any() and not expected.all()
    wrong = [(combos[k], expected[k]) for k in np.flatnonzero(fired != expected)]
    assert not wrong, f"V={v!r}: {len(wrong)} wrong decisions, e.g. {wrong[:3]}"


@pytest.mark.parametrize("engine,direct", MODES)
def test_batch_summing_to_threshold_at_rest_spikes(monkeypatch, engine, direct, rng):
    """At rest (V = E_L exactly in both engines): +3 and +12 mV, and many other tuples summing
    exactly to V_th - V, spike; one float below does not; one above does."""
    engine = engine_mode(monkeypatch, engine, direct)
    check_decisions(engine, E_L, [], rng)


@pytest.mark.parametrize("engine,direct", MODES)
@pytest.mark.parametrize("earlier", [[(1.0, 4.3)], [(0.7, 2.2), (1.9, -1.1), (2.4, 6.35)]])
def test_batch_summing_to_threshold_after_earlier_inputs(monkeypatch, engine, direct, earlier, rng):
    """After earlier inputs V is some float; the decision is still V + S >= V_th for that V."""
    engine = engine_mode(monkeypatch, engine, direct)
    check_decisions(engine, -66.0, earlier, rng)


def test_three_plus_twelve_spikes_on_both_engines():
    """The case of issue 9, as the issue gives it."""
    for engine in ("numba", "reference"):
        res = build(engine, E_L, [], [(3.0, 12.0), (12.0, 3.0)]).run(5.0)
        assert res.spike_ids.tolist() == [0, 1], engine


@pytest.mark.parametrize("engine,direct", MODES)
def test_single_input_reaching_threshold_spikes(monkeypatch, engine, direct):
    """A single input is a batch of one: the smallest weight w with V + w >= V_th spikes, the
    float below it does not."""
    engine = engine_mode(monkeypatch, engine, direct)
    w = first_sum_reaching(E_L)
    res = build(engine, E_L, [], [(w,), (math.nextafter(w, 0.0),)]).run(5.0)
    assert res.spike_ids.tolist() == [0]


# ---------------------------------------------------------------------------------------------
# Order of same-time inputs
# ---------------------------------------------------------------------------------------------
def permuted_network(engine, order_seed):
    """Targets receive same-time inputs from several projections, spike trains and sources; the
    construction order of projections, stimuli and sources is permuted by ``order_seed``."""
    g = np.random.default_rng(12345)  # the network: the same for every order
    perm = np.random.default_rng(order_seed)
    net = eventsim.Network(seed=3, engine=engine)
    params = dict(E_L=-70.0, V_th=-55.0, V_reset=-70.0, tau_m=12.0, t_ref=0.5)
    n_tgt = 12
    tgt = net.add_population("tgt", n_tgt, V_init={"distribution": "uniform", "min": -70.0, "max": -58.0}, **params)
    srcs = [net.add_population(f"s{k}", 3, V_init=-70.0, **params) for k in range(3)]
    # sources spike together (all driven by the same spike trains at grid times)
    drive = [(src, [1.0, 4.0, 4.5, 9.0]) for src in srcs]
    projections = [(src, float(w), float(d)) for src in srcs
                   for w, d in zip(g.uniform(-3.0, 4.0, 2), g.choice([0.5, 1.0], 2))]
    trains = [(k, float(w), t) for k in range(n_tgt) for w, t in zip(g.uniform(-2.0, 6.0, 3), g.choice([2.0, 5.0], 3))]
    for k in perm.permutation(len(drive)):
        src, times = drive[k]
        net.add_spike_train(src, times=times, weight=40.0, delay=0.5)
    for k in perm.permutation(len(projections)):
        src, w, d = projections[k]
        net.connect(src, tgt, rule="all_to_all", weight=w, delay=d)
    for k in perm.permutation(len(trains)):
        i, w, t = trains[k]
        net.add_spike_train(tgt[i:i + 1], times=[t], weight=w, delay=0.5)
    net.record_voltage(tgt, np.arange(0.25, 12.0, 0.25), name="v")
    return net


@pytest.mark.parametrize("engine,direct", MODES)
def test_same_time_inputs_do_not_depend_on_construction_order(monkeypatch, engine, direct):
    """Spikes and voltages are bit-identical whatever the order in which projections, stimuli and
    sources were added (the sum of same-time inputs is exact, so no order enters it)."""
    engine = engine_mode(monkeypatch, engine, direct)
    results = [permuted_network(engine, s).run(12.0) for s in range(12)]
    first = results[0]
    assert first.spike_ids.size > 10
    for res in results[1:]:
        assert np.array_equal(res.spike_ids, first.spike_ids)
        assert np.array_equal(res.spike_times, first.spike_times)
        assert np.array_equal(res.voltages["v"].values, first.voltages["v"].values)


@njit
def _batch_sum(weights, side):
    """Open a batch with weights[0], add the others; return the record's sum ``bw``."""
    nrn = np.zeros(1, K.NSTATE)
    ctl = np.zeros(1, K.CTL)
    r, c = nrn[0], ctl[0]
    K.open_batch(r, weights[0])
    for w in weights[1:]:
        if not K.add_exactly(r, w):
            K.add_inexact(r, w, side, c)
    return r.bw


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1e30, 1e30, allow_nan=False) | st.floats(-1e-30, 1e-30) | st.sampled_from([0.1, 0.25, 3.0]),
                min_size=1, max_size=60),
       st.randoms(use_true_random=False))
def test_batch_sum_is_fsum(weights, rnd):
    """The compiled engine's batch sum is math.fsum's result, bit for bit, in any order."""
    rnd.shuffle(weights)
    side = np.zeros(len(weights) + K.SIDE_SCRATCH, K.SIDE)
    assert _batch_sum(np.array(weights), side) == math.fsum(weights)
