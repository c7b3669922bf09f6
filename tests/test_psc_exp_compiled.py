"""lif_psc_exp on the compiled engine against the reference engine: random networks (hypothesis).

Networks of lif_psc_exp populations (time constants equal, nearly equal and far apart), alone and mixed
with lif and qif populations, with Poisson drive, homogeneous and per-synapse delays, current steps, spike
trains and voltage samples. Structure and parameters are drawn by hypothesis; continuous values come
from a numpy generator seeded by hypothesis, so threshold ties of measure zero do not occur. The
single-neuron closed forms run on both engines in tests/test_lif_psc_exp_network.py.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eventsim

GRID_DELAYS = np.array([0.1, 0.2, 0.25, 0.5, 1.0, 1.5])
MODELS = ("lif_psc_exp", "lif", "qif")
COUNTERS = ("syn_events", "ext_events", "discarded", "spikes", "crossing_spikes")


def _params(model, g):
    """Random parameters of one population: some neurons fire on their own, some only when driven."""
    tau = float(g.uniform(5.0, 30.0))
    p = dict(tau_m=tau, t_ref=float(g.choice([0.0, 0.5, 2.0])),
             V_init={"distribution": "uniform", "min": -70.0, "max": -56.0})
    drive = g.random() < 0.5
    if model == "lif_psc_exp":
        syn = [tau, tau * (1 + 1e-9), float(g.uniform(0.3, 8.0)), float(g.uniform(0.3, 8.0))]
        p.update(tau_syn_ex=syn[g.integers(4)], tau_syn_in=syn[g.integers(4)],
                 I_e=float(g.uniform(0.0, 10.0 * 250.0 / tau * 1.8)) if drive else 0.0)  # V_inf up to -52 mV
    elif model == "lif":
        p.update(I_e=float(g.uniform(0.0, 450.0)) if drive else 0.0)
    else:
        p.update(V_init={"distribution": "uniform", "min": -70.0, "max": -60.0},
                 I_e=float(g.uniform(0.0, 120.0)) if drive else 0.0)
    return p


def _weight(params, g, scale=1.0):
    """A random weight in the unit of the target's model: a jump of -4 ... 6 mV onto the delta models, the
    current that carries that charge onto lif_psc_exp (``q C_m / tau_syn`` pA; 250 pF, NEST's default)."""
    lo, hi = -4.0, 6.0
    if "tau_syn_ex" in params:
        lo, hi = lo * 250.0 / params["tau_syn_in"], hi * 250.0 / params["tau_syn_ex"]
    return float(g.uniform(lo, hi)) * scale, (lo * scale, hi * scale)


def random_network(engine, seed, models, sizes, grid_delays, per_synapse, with_poisson, with_current, fanin=3):
    g = np.random.default_rng(seed)
    net = eventsim.Network(seed=seed % 2**32, engine=engine)
    params = [_params(model, g) for model in models]
    pops = [net.add_population(f"p{k}", int(sizes[k]), model, **params[k]) for k, model in enumerate(models)]
    for a in pops:
        for k, b in enumerate(pops):
            if g.random() < 0.3:
                continue
            w, (lo, hi) = _weight(params[k], g)
            weight = {"distribution": "uniform", "min": lo, "max": hi} if per_synapse else w
            if grid_delays:
                delay = float(g.choice(GRID_DELAYS))
            else:
                delay = {"distribution": "uniform", "min": 0.1, "max": 2.0} if per_synapse else float(g.uniform(0.1, 2.0))
            if g.random() < 0.5:
                net.connect(a, b, rule="fixed_indegree", indegree=int(min(len(a), fanin)), weight=weight, delay=delay)
            else:  # (about as many inputs: more makes larger networks explode with t_ref = 0)
                net.connect(a, b, rule="pairwise_bernoulli", p=min(0.4, fanin / len(a)), weight=weight, delay=delay)
    if with_poisson:
        net.add_poisson(pops[0], rate=float(g.uniform(500.0, 3000.0)), weight=abs(_weight(params[0], g)[0]))
    if with_current:
        net.add_current_steps(pops[-1], times=[float(g.uniform(5, 20)), float(g.uniform(20, 40))],
                              amplitudes=[float(g.uniform(-100, 300)), float(g.uniform(-200, 200))])
    trains = np.sort(g.uniform(0.0, 40.0, 6)).round(1)  # on the 0.1 ms grid: ties with network spikes
    net.add_spike_train(pops[-1], times=trains, weight=_weight(params[-1], g, 3.0)[0], delay=0.5)
    net.record_voltage(pops[0][:2], np.sort(g.uniform(0.0, 50.0, 5)), name="v")
    return net


def assert_agree(fast, ref, bit_identical=False):
    """Same spikes (times within 1e-9 ms, or bit for bit), samples within 1e-9 mV, same counters."""
    assert fast.spike_ids.size == ref.spike_ids.size, (fast.spike_ids.size, ref.spike_ids.size)
    assert np.array_equal(fast.spike_ids, ref.spike_ids)
    if bit_identical:
        assert np.array_equal(fast.spike_times, ref.spike_times)
        assert np.array_equal(fast.voltages["v"].values, ref.voltages["v"].values, equal_nan=True)
    assert np.max(np.abs(fast.spike_times - ref.spike_times), initial=0.0) < 1e-9
    assert np.allclose(fast.voltages["v"].values, ref.voltages["v"].values, rtol=0, atol=1e-9, equal_nan=True)
    for key in COUNTERS:
        assert fast.counters[key] == ref.counters[key], key


models = st.lists(st.sampled_from(MODELS), min_size=1, max_size=3).filter(lambda ms: "lif_psc_exp" in ms)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**40), models=models, sizes=st.lists(st.integers(1, 12), min_size=3, max_size=3),
       grid_delays=st.booleans(), per_synapse=st.booleans(), with_poisson=st.booleans(), with_current=st.booleans())
def test_engines_agree_on_random_psc_exp_networks(seed, models, sizes, grid_delays, per_synapse, with_poisson,
                                                   with_current):
    args = (seed, models, sizes, grid_delays, per_synapse, with_poisson, with_current)
    fast, ref = (random_network(e, *args).run(50.0) for e in ("numba", "reference"))
    # the generic path computes the reference engine's float operations; plain lif's frame rounds its own way
    assert_agree(fast, ref, bit_identical="lif" not in models)


def _force_delivery(monkeypatch, direct):
    """Make every window of the compiled engine use direct delivery (True) or the buckets."""
    from eventsim.engine import numba_engine
    monkeypatch.setattr(numba_engine, "DIRECT_MAX_NEURONS", 1 << 40 if direct else -1)
    monkeypatch.setattr(numba_engine, "DIRECT_MAX_ENTRIES", 1 << 40 if direct else -1)


@pytest.mark.parametrize("seed", range(6))
def test_direct_delivery_and_buckets_are_bit_identical(monkeypatch, seed):
    """The two ways of working a window give the same spikes, voltages and counters, bit for bit,
    with lif_psc_exp neurons spread over several buckets."""
    g = np.random.default_rng(seed)
    models = [MODELS[k] for k in g.permutation(3)] if seed % 2 else ["lif_psc_exp"] * 2
    args = (int(g.integers(2**40)), models, [int(v) for v in g.integers(20, 90, 3)], bool(seed % 3 == 0),
            bool(seed % 4 < 2), True, True)
    out = []
    for direct in (True, False):
        _force_delivery(monkeypatch, direct)
        res = random_network("numba", *args).run(50.0)
        assert res.counters["direct_windows"] == (res.counters["windows"] if direct else 0)
        out.append(res)
    a, b = out
    assert a.spike_ids.size > 10
    assert np.array_equal(a.spike_ids, b.spike_ids)
    assert np.array_equal(a.spike_times, b.spike_times)  # bit identity is the claim
    assert np.array_equal(a.voltages["v"].values, b.voltages["v"].values, equal_nan=True)
    for key in COUNTERS + ("heap_pushes", "batches"):
        assert a.counters[key] == b.counters[key], key


def test_brunel_psc_exp_agrees(rng):
    """A small balanced lif_psc_exp network with Poisson drive (the bundled scenario's parameters), 60 ms."""
    out = []
    for engine in ("numba", "reference"):
        net = eventsim.Network(seed=7, engine=engine)
        params = dict(tau_m=20.0, tau_syn_ex=0.5, tau_syn_in=0.5, V_th=20.0, V_reset=10.0, E_L=0.0, V_init=0.0,
                      t_ref=2.0)
        exc = net.add_population("exc", 80, "lif_psc_exp", **params)
        inh = net.add_population("inh", 20, "lif_psc_exp", **params)
        for pre, w in ((exc, 250.0), (inh, -1500.0)):
            for post in (exc, inh):
                net.connect(pre, post, rule="fixed_indegree", indegree=len(pre) // 10, weight=w, delay=1.5)
        net.add_poisson(exc, rate=3000.0 * 0.25 * 4, weight=250.0)
        net.add_poisson(inh, rate=3000.0 * 0.25 * 4, weight=250.0)
        net.record_voltage(exc[:2], [10.0, 33.3, 59.0], name="v")
        out.append(net.run(60.0))
    fast, ref = out
    assert fast.spike_ids.size > 50
    assert_agree(fast, ref)


RUNAWAY = """
import eventsim
net = eventsim.Network(seed=0, engine={engine!r})
p = net.add_population("p", 2, model="lif_psc_exp", t_ref=0.0)
net.add_spike_train(p[1:], [1.0], weight=1e100, delay=1.0)
try:
    net.run(5.0)
except eventsim.ValidationError as error:
    print(error)
"""


def test_runaway_with_t_ref_0_stops_both_engines_with_one_message():
    """A 1e100 pA input onto a lif_psc_exp neuron with t_ref = 0 would make it fire every 1e-12 ms
    without end; both engines stop the run at that spike with the same one-line error. (In a
    subprocess with a timeout: a compiled loop that never ends cannot be interrupted in-process.)"""
    import subprocess
    import sys
    msgs = [subprocess.run([sys.executable, "-c", RUNAWAY.format(engine=e)], capture_output=True, text=True,
                           timeout=300).stdout.strip() for e in ("numba", "reference")]
    assert msgs[0] == msgs[1] == ("populations.p.t_ref: with t_ref = 0, neuron 1 would fire again less than 1e-12 ms "
                                  "after its spike at 2 ms, without end: its input drives it too hard (lower the "
                                  "weights, or give t_ref > 0)")


RUNAWAY_IN_PARTS = """
from eventsim.engine import numba_engine
numba_engine.DIRECT_MAX_NEURONS = numba_engine.DIRECT_MAX_ENTRIES = -1  # every window through the buckets
import eventsim
net = eventsim.Network(seed=0, threads={threads})
p = net.add_population("p", 300, model="lif_psc_exp", t_ref=0.0)
net.add_poisson(p, rate=2000.0, weight=10.0)
net.add_spike_train(p[150:151], [1.0], weight=1e100, delay=1.0)
try:
    net.run(5.0)
except eventsim.ValidationError as error:
    print(error)
"""


def test_runaway_is_reported_alike_by_one_and_two_threads():
    """A runaway found by one part of a threaded window stops the run with the one thread's message."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    msgs = [subprocess.run([sys.executable, "-c", RUNAWAY_IN_PARTS.format(threads=t)], capture_output=True, text=True,
                           timeout=300, env=env).stdout.strip() for t in (1, 2)]
    assert msgs[0] == msgs[1] and msgs[0].startswith("populations.p.t_ref: with t_ref = 0, neuron 150 would fire")


def test_strong_but_finite_drive_with_t_ref_0_agrees():
    """A 1e6 pA input with t_ref = 0 is valid: a burst of spikes, each later than the last, alike."""
    out = []
    for engine in ("numba", "reference"):
        net = eventsim.Network(seed=0, engine=engine)
        p = net.add_population("p", 1, model="lif_psc_exp", t_ref=0.0)
        net.add_spike_train(p, [1.0], weight=1e6, delay=1.0)
        out.append(net.run(3.0).spike_times)
    assert out[0].size == out[1].size > 100 and np.all(np.diff(out[0]) > 0)
    assert np.max(np.abs(out[0] - out[1])) < 1e-9


@pytest.mark.parametrize("direct", [True, False])
def test_same_time_batch_sums_each_current_exactly_with_its_value(monkeypatch, direct):
    """Same-time inputs of both signs whose sums are not exact in float64 (the compiled engine's chained
    partials, one chain per sign): each current is fsum([I(t), *weights of its sign]) on both engines,
    bit for bit, in either delivery mode, whatever the order of the inputs. (The weights are chosen so
    that adding each current to its weights' sum rounded once, a double rounding, would differ.)"""
    from eventsim.models import lif_psc_exp as psc
    _force_delivery(monkeypatch, direct)
    rng = np.random.default_rng(288)
    weights = np.concatenate([rng.normal(0.0, 300.0, 9), [1e-9, -1e-9, 0.1, 0.2, 0.3, -0.1, -0.2]])
    t_in, samples = 5.0, [5.0 + 0.25 * k for k in range(20)]
    # V at 0 mV and far below threshold is mostly the currents' terms: a one-ulp change of a current shows
    params = dict(tau_syn_ex=1.5, tau_syn_in=4.0, E_L=0.0, V_init=0.0, V_reset=-10.0, V_th=1000.0)
    out = []
    for engine in ("numba", "reference"):
        for perm in (weights, weights[::-1]):
            net = eventsim.Network(seed=1, engine=engine)
            pop = net.add_population("p", 1, "lif_psc_exp", **params)
            net.add_spike_table(np.zeros(perm.size, np.int64), np.full(perm.size, t_in - 1.0), perm, 1.0)
            net.add_spike_table([0, 0], [1.0, 1.0], [250.0, -300.0], 1.0)  # currents to add the batch to
            net.record_voltage(pop, samples, name="v")
            res = net.run(10.0)
            assert res.spike_ids.size == 0
            out.append(res.voltages["v"].values[0].tolist())
    assert out[0] == out[1] == out[2] == out[3]
    p = psc.PscExpParams(**params)
    V, I_ex, I_in = psc.propagate(p, p.V_init, 0.0, 0.0, 2.0)
    V, I_ex, I_in = psc.propagate(p, V, *psc.receive_batch(I_ex, I_in, [250.0, -300.0]), t_in - 2.0)
    exc, inh = [w for w in weights if w >= 0], [w for w in weights if w < 0]
    assert math.fsum([I_ex, *exc]) != I_ex + math.fsum(exc) and math.fsum([I_in, *inh]) != I_in + math.fsum(inh)
    I_ex, I_in = psc.receive_batch(I_ex, I_in, list(weights))
    assert out[0] == [psc.propagate(p, V, I_ex, I_in, s - t_in)[0] for s in samples]
