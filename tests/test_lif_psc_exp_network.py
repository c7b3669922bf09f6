"""``lif_psc_exp`` in whole networks, on both engines: single neurons against the closed forms of
eventsim.models.lif_psc_exp, small random networks against an independent event-by-event simulation
(``lif_psc_exp.run_neuron``, window by window), mixed networks, runs in pieces, the bundled scenario.
(The compiled engine against the reference engine on random networks: tests/test_psc_exp_compiled.py.)"""

import heapq
import math
from pathlib import Path

import numpy as np
import pytest

import eventsim
from eventsim import scenario
from eventsim.models import lif_psc_exp as psc
from eventsim.models.lif_psc_exp import NeuronState, PscExpParams
from eventsim.reference import ReferenceEngine

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
TOL_MS = 1e-9  # spike times: the detector refines to 1e-12 ms; the ns clock adds ~1e-13 ms per event


ENGINES = ("numba", "reference")


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


def one_neuron(engine, params=None, **kw):
    """A network (on ``engine``) holding one lif_psc_exp neuron: ``(net, pop, PscExpParams)``."""
    p = PscExpParams(**{**(params or {}), **kw})
    net = eventsim.Network(seed=1, engine=engine)
    pop = net.add_population("p", 1, "lif_psc_exp", **p._asdict())
    return net, pop, p


def inputs(net, pop, times, weights):
    """Inputs of ``weights`` pA reaching the neuron at ``times`` ms (sent 1 ms earlier)."""
    times = np.asarray(times, float)
    net.add_spike_table(np.full(times.size, pop.start, np.int64), times - 1.0, np.asarray(weights, float), 1.0)


def spike_times(net, duration):
    return net.run(duration).spike_times.tolist()


# ---------------------------------------------------------------------------------------------
# One neuron against the closed forms
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("I_e, t_ref", [(400.0, 2.0), (1000.0, 0.5), (2000.0, 0.0)])
def test_dc_period(engine, I_e, t_ref):
    net, _, p = one_neuron(engine, I_e=I_e, t_ref=t_ref, tau_syn_ex=3.0, tau_syn_in=7.0)
    T = psc.dc_period(p)
    got = spike_times(net, 200.0)
    want = [(k + 1) * T - t_ref for k in range(int((200.0 + t_ref) // T) + 1) if (k + 1) * T - t_ref < 200.0]
    assert len(got) == len(want) > 3
    assert np.max(np.abs(np.subtract(got, want))) < TOL_MS


def test_no_spike_when_v_inf_is_at_threshold(engine):
    net, _, _ = one_neuron(engine, I_e=375.0, tau_m=10.0, C_m=250.0)  # V_inf = -70 + 15 = -55 mV = V_th exactly
    assert spike_times(net, 500.0) == []


@pytest.mark.parametrize("w, tau_syn_ex, tau_syn_in", [(300.0, 2.0, 7.0), (-300.0, 2.0, 7.0), (200.0, 10.0, 1.0)])
def test_single_psp_peak_via_voltage_recorder(engine, w, tau_syn_ex, tau_syn_in):
    """The PSP's extremum (time and value, psp_peak) is where the recorder finds it; tau_syn == tau_m too."""
    net, pop, p = one_neuron(engine, tau_syn_ex=tau_syn_ex, tau_syn_in=tau_syn_in, tau_m=10.0)
    t_in = 5.0
    t_peak, amp = psc.psp_peak(p, w, tau_syn_ex if w >= 0 else tau_syn_in)
    h = 0.01
    net.record_voltage(pop, [t_in + t_peak - h, t_in + t_peak, t_in + t_peak + h], name="v")
    inputs(net, pop, [t_in], [w])
    v = net.run(30.0).voltages["v"].values[0]
    assert v[1] == pytest.approx(p.E_L + amp, rel=0, abs=1e-12)
    assert abs(v[1] - p.E_L) > abs(v[0] - p.E_L) and abs(v[1] - p.E_L) > abs(v[2] - p.E_L)


def test_psp_that_crosses_only_after_the_input(engine):
    """V is below threshold at the input and at the next event; it crosses between them, as the
    lossless detector predicts from the state just after the input."""
    net, pop, p = one_neuron(engine, V_init=-57.0, I_e=325.0, tau_syn_ex=2.0)  # V_inf = -57 mV (within rounding)
    t_in, w = 10.0, 600.0
    net.record_voltage(pop, [t_in], name="v")
    inputs(net, pop, [t_in], [w])
    got = spike_times(net, 30.0)
    V_at = psc.propagate(p, p.V_init, 0.0, 0.0, t_in)[0]
    tc = psc.first_crossing(p, V_at, w, 0.0, math.inf)
    assert net.results.voltages["v"].values[0, 0] < p.V_th and tc > 0.5
    assert len(got) == 1 and got[0] == pytest.approx(t_in + tc, rel=0, abs=TOL_MS)


@pytest.mark.parametrize("delta, spikes", [(1e-9, 1), (-1e-9, 0)])
def test_grazing_pair(engine, delta, spikes):
    """A PSP from rest peaking 1e-9 mV above threshold spikes (at its peak), one peaking 1e-9 mV below does not."""
    p = PscExpParams(tau_syn_ex=3.0)
    t_peak, unit = psc.psp_peak(p, 1.0, p.tau_syn_ex)
    w = (p.V_th - p.E_L + delta) / unit
    assert psc.psp_peak(p, w, p.tau_syn_ex)[1] - (p.V_th - p.E_L) == pytest.approx(delta, rel=1e-4)
    net, pop, _ = one_neuron(engine, p._asdict())
    inputs(net, pop, [5.0], [w])
    got = spike_times(net, 30.0)
    assert len(got) == spikes
    if spikes:
        # V - V_th ~ -a (t - t_peak)^2 with a = |V''|/2 ~ 0.3 mV/ms^2: the crossing is 6e-5 ms before the peak
        assert 5.0 + t_peak - 1e-3 < got[0] < 5.0 + t_peak


def test_refractory_inputs_still_charge_the_currents(engine):
    """An input during t_ref is not discarded: V stays at V_reset, and from the end of t_ref it rises
    from V_reset driven by the current that input left (decayed since)."""
    net, pop, p = one_neuron(engine, V_init=-55.0, t_ref=5.0, tau_syn_ex=2.0)  # spike at 0, refractory until 5 ms
    w = 20000.0
    net.record_voltage(pop, [1.0, 3.0, 4.999, 6.0], name="v")
    inputs(net, pop, [2.0], [w])
    res = net.run(40.0)
    v = res.voltages["v"].values[0]
    assert v[0] == v[1] == v[2] == p.V_reset and res.counters["discarded"] == 0
    I_end = w * math.exp(-3.0 / p.tau_syn_ex)
    assert v[3] == pytest.approx(psc.propagate(p, p.V_reset, I_end, 0.0, 1.0)[0], rel=0, abs=1e-12)
    want = psc.simulate_neuron(p, [2.0], [w], 40.0)
    assert len(want) == 2 and want[1] > 5.0  # the input alone makes it fire again after t_ref
    assert np.allclose(res.spike_times, want, rtol=0, atol=TOL_MS)


def test_refractory_inputs_are_discarded_by_a_delta_neuron_and_kept_by_psc_exp(engine):
    """The same refractory input: counted as discarded onto lif, kept (not discarded) onto lif_psc_exp."""
    counts = {}
    for model, extra in (("lif", {}), ("lif_psc_exp", {"tau_syn_ex": 2.0})):
        net = eventsim.Network(engine=engine)
        pop = net.add_population("p", 1, model, V_init=-55.0, t_ref=5.0, **extra)
        inputs(net, pop, [2.0], [10.0])
        counts[model] = net.run(10.0).counters["discarded"]
    assert counts == {"lif": 1, "lif_psc_exp": 0}


@pytest.mark.parametrize("V_init", [-55.0, -40.0])
def test_v_init_at_or_above_threshold_spikes_at_zero(engine, V_init):
    net, pop, p = one_neuron(engine, V_init=V_init, I_e=400.0, t_ref=2.0)
    net.record_voltage(pop, [0.0, 1.0], name="v")
    got = spike_times(net, 50.0)
    T = psc.dc_period(p)
    assert got[0] == 0.0 and got[1] == pytest.approx(T, rel=0, abs=TOL_MS)
    assert net.results.voltages["v"].values[0].tolist() == [p.V_reset, p.V_reset]


@pytest.mark.parametrize("order", [(1, -1), (-1, 1)])
def test_same_time_plus_and_minus_w_do_not_cancel(engine, order):
    """+w and -w at one time go to I_ex and I_in: with tau_syn_ex < tau_syn_in the inhibitory current
    outlasts the excitatory one and V falls below rest (summed, the two would not move V at all).
    The order of the two inputs does not matter."""
    net, pop, p = one_neuron(engine, tau_syn_ex=1.0, tau_syn_in=5.0)
    w, t_in = 400.0, 2.0
    sample_s = [0.5, 1.0, 3.0, 10.0, 20.0]
    net.record_voltage(pop, [t_in + s for s in sample_s], name="v")
    inputs(net, pop, [t_in, t_in], [order[0] * w, order[1] * w])
    v = net.run(30.0).voltages["v"].values[0]
    want = [psc.propagate(p, p.E_L, w, -w, s)[0] for s in sample_s]
    assert np.allclose(v, want, rtol=0, atol=1e-12)
    assert np.all(v < p.E_L - 0.1)


def test_same_time_batch_does_not_depend_on_the_order_of_its_inputs(engine):
    rng = np.random.default_rng(5)
    ws = rng.normal(0.0, 300.0, 7)
    values = []
    for perm in (ws, ws[::-1], rng.permutation(ws)):
        net, pop, p = one_neuron(engine, V_init=-60.0, tau_syn_ex=1.5, tau_syn_in=4.0)
        net.record_voltage(pop, [3.0, 4.0, 9.0], name="v")
        inputs(net, pop, [3.0] * ws.size, perm)
        values.append(net.run(10.0).voltages["v"].values[0].tolist())
    assert values[0] == values[1] == values[2]


@pytest.mark.parametrize("params, where, words", [
    ({"tau_syn_ex": 0.0}, "tau_syn_ex", "must be at least 1e-06 ms"),
    ({"tau_syn_in": -2.0}, "tau_syn_in", "must be at least 1e-06 ms"),
    ({"tau_m": 0.0}, "tau_m", "must be > 0 ms"),
    ({"C_m": -1.0}, "C_m", "must be > 0 pF"),
    ({"V_reset": -50.0}, "V_reset", "must be below V_th"),
    ({"V_th": -80.0}, "V_th", "must be above V_reset"),
    ({"t_ref": -1.0}, "t_ref", "must be in [0"),
    ({"I_e": 1e300, "C_m": 1e-300}, "I_e", "must be at most"),
    ({"V_c": -50.0}, "V_c", "unknown parameter of model 'lif_psc_exp'"),
    ({"tau_syn_ex": float("nan")}, "tau_syn_ex", "must be finite"),
])
def test_parameters_are_validated(params, where, words):
    with pytest.raises(eventsim.ValidationError) as info:
        eventsim.Network(engine="reference").add_population("p", 1, "lif_psc_exp", **params)
    msg = str(info.value)
    assert msg.startswith(f"populations.p.{where}: ") and words in msg and "\n" not in msg


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
def random_network(seed, n=12, duration=60.0, engine="reference"):
    """A seeded random lif_psc_exp network with explicit synapses and input rows.

    Returns ``(net, params per neuron, synapses (pre, post, w, d), inputs (t, target, w))``."""
    rng = np.random.default_rng(seed)
    tau_ex, tau_in = rng.uniform(0.3, 8.0, n), rng.uniform(0.3, 8.0, n)
    I_e = rng.uniform(200.0, 420.0, n)
    V_init = rng.uniform(-70.0, -54.0, n)
    t_ref = rng.choice([0.0, 0.5, 2.0], n)
    params = [PscExpParams(tau_syn_ex=float(tau_ex[i]), tau_syn_in=float(tau_in[i]), I_e=float(I_e[i]),
                           V_init=float(V_init[i]), t_ref=float(t_ref[i])) for i in range(n)]
    m = 4 * n
    pre, post = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.normal(150.0, 400.0, m)
    d = rng.integers(500, 3000, m) * 1e-3  # whole microseconds: 0.5 .. 3 ms
    k = 30 * n
    t_in = np.sort(rng.integers(500_001, int(duration * 1e6), k)) * 1e-6  # whole ns, after 0.5 ms (sent 0.5 ms earlier)
    tgt, w_in = rng.integers(0, n, k), rng.normal(200.0, 300.0, k)
    net = eventsim.Network(seed=seed, engine=engine)
    pop = net.add_population("p", n, "lif_psc_exp", tau_syn_ex=tau_ex, tau_syn_in=tau_in, I_e=I_e, V_init=V_init,
                             t_ref=t_ref)
    net.connect(pop, pop, "explicit", sources=pre, targets=post, weight=w, delay=d)
    net.add_spike_table(tgt, t_in - 0.5, w_in, 0.5)
    return net, params, list(zip(pre.tolist(), post.tolist(), w.tolist(), d.tolist())), \
        list(zip(t_in.tolist(), tgt.tolist(), w_in.tolist()))


def independent_simulation(params, synapses, ext, duration, window):
    """Spikes ``[(t, id)]`` by :func:`run_neuron` per neuron, window by window: every input of a window
    ``[T, T + window)`` is known at its start when ``window`` is at most the smallest delay."""
    n = len(params)
    states = [NeuronState(0.0, p.V_init, 0.0, 0.0, -math.inf) for p in params]
    out = {i: [] for i in range(n)}
    for pre, post, w, d in synapses:
        out[pre].append((post, w, d))
    pending = [(t, i, w) for t, i, w in ext]
    heapq.heapify(pending)
    spikes, T = [], 0.0
    while T < duration:
        end = min(T + window, duration)
        batch = {i: [] for i in range(n)}
        while pending and pending[0][0] < end:
            t, i, w = heapq.heappop(pending)
            batch[i].append((t, w))
        for i in range(n):
            ts = [t for t, _w in batch[i]]
            got, states[i] = psc.run_neuron(params[i], states[i], ts, [w for _t, w in batch[i]], end)
            for s in got:
                spikes.append((s, i))
                for post, w, d in out[i]:
                    heapq.heappush(pending, (s + d, post, w))
        T = end
    return sorted(spikes)


@pytest.mark.parametrize("seed", range(6))
def test_random_network_matches_an_independent_simulation(engine, seed):
    duration = 60.0
    net, params, syn, ext = random_network(seed, duration=duration, engine=engine)
    res = net.run(duration)
    want = independent_simulation(params, syn, ext, duration, window=0.5)
    assert len(want) > 20
    assert res.spike_ids.tolist() == [i for _t, i in want]
    assert np.max(np.abs(res.spike_times - [t for t, _i in want])) < TOL_MS


def test_reference_engine_invariants_hold_in_a_random_network():
    net, *_ = random_network(7)
    eng = ReferenceEngine(net.prepare())
    for stop_ms in range(5, 65, 5):
        eng.advance(stop_ms * 10**6)
        eng._check()


def test_run_in_pieces_equals_one_run(engine):
    runs = []
    for pieces in ([60.0], [13.0, 0.0, 27.5, 19.5]):
        net, *_ = random_network(3, engine=engine)
        for d in pieces:
            res = net.run(d)
        counters = {k: v for k, v in res.counters.items() if k not in ("windows", "direct_windows")}  # per call
        runs.append((res.spike_ids.tolist(), res.spike_times.tolist(), counters))
    assert runs[0] == runs[1] and len(runs[0][0]) > 20


def test_mixed_networks_weights_in_the_targets_unit(engine):
    """lif -> lif_psc_exp in pA and lif_psc_exp -> lif in mV: each receiver's potential is its closed
    form driven by the sender's spikes."""
    net = eventsim.Network(engine=engine)
    a = net.add_population("a", 1, I_e=500.0)  # lif, period 2 + 20 ln 2 ms, first spike at 10 ln 4
    b = net.add_population("b", 1, "lif_psc_exp", tau_syn_ex=2.0, I_e=450.0)  # psc, fires by itself
    ra = net.add_population("ra", 1, "lif_psc_exp", tau_syn_ex=2.0)  # receives a's spikes, 100 pA
    rb = net.add_population("rb", 1, t_ref=0.0)  # lif, receives b's spikes, 0.5 mV
    net.connect(a, ra, weight=100.0, delay=1.0)
    net.connect(b, rb, weight=0.5, delay=1.0)
    net.record_voltage(ra, [24.0], name="ra")
    net.record_voltage(rb, [24.0], name="rb")
    res = net.run(25.0)
    ta, tb = res.spikes_of("a")[1], res.spikes_of("b")[1]
    assert ta.size >= 1 and tb.size >= 1
    p = PscExpParams(tau_syn_ex=2.0)
    v_ra = p.E_L + sum(100.0 * psc.syn_propagator(24.0 - (t + 1.0), p.tau_m, p.tau_syn_ex) / p.C_m for t in ta)
    v_rb = -70.0 + sum(0.5 * math.exp(-(24.0 - (t + 1.0)) / 10.0) for t in tb)
    assert res.voltages["ra"].values[0, 0] == pytest.approx(v_ra, rel=0, abs=1e-9)
    assert res.voltages["rb"].values[0, 0] == pytest.approx(v_rb, rel=0, abs=1e-9)
    assert res.spikes_of("ra")[0].size == res.spikes_of("rb")[0].size == 0


SCENARIO = """
schema = 1
[run]
duration = 20.0
[populations.e]
model = "lif_psc_exp"
size = 3
tau_syn_ex = 1.0
tau_syn_in = 3.0
I_e = 500.0
[populations.l]
size = 2
[[projections]]
source = "e"
target = "l"
rule = "all_to_all"
weight = 2.0
delay = 1.0
"""


def test_scenario_model_key(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    net = scenario.load(path).network()
    assert [p.model for p in net.populations] == ["lif_psc_exp", "lif"]
    assert net.run(20.0).spikes_of("e")[0].size > 0
    path.write_text(SCENARIO.replace("tau_syn_in = 3.0", "tau_syn_in = 0.0"))
    with pytest.raises(eventsim.ScenarioError, match=r"populations\.e\.tau_syn_in: must be at least"):
        scenario.load(path).network()
    path.write_text(SCENARIO.replace("tau_syn_in = 3.0", "V_peak = 3.0"))
    with pytest.raises(eventsim.ScenarioError, match=r"populations\.e\.V_peak"):
        scenario.load(path)


def test_bundled_brunel_psc_exp_runs_at_a_sane_rate():
    """The bundled scenario, briefly: both populations fire, asynchronously, at tens of Hz."""
    s = scenario.load(SCENARIOS / "brunel_psc_exp.toml", ["run.duration=40"])
    net = s.network()
    assert s.engine == "numba" and {p.model for p in net.populations} == {"lif_psc_exp"}
    res = net.run(s.duration)
    rates = res.rates()
    assert 5.0 < rates["exc"] < 150.0 and 5.0 < rates["inh"] < 150.0, rates
    assert res.counters["crossing_spikes"] == res.counters["spikes"]  # every spike falls between events
