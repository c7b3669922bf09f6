"""PyNN's ``IF_curr_exp`` on eventsim (``lif_psc_exp``), and how the backend chooses the engine.

Closed forms are written out here (PSP, DC period), not taken from eventsim, so that a wrong
translation cannot cancel out. Skipped when PyNN (the optional extra ``eventsim[pynn]``) is not installed.
"""

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("pyNN")
pytest.importorskip("neo")

import eventsim  # noqa: E402
import eventsim.pynn as sim  # noqa: E402
from eventsim import models  # noqa: E402
from eventsim.errors import ValidationError  # noqa: E402
from eventsim.pynn import build  # noqa: E402
from eventsim.pynn.simulator import state  # noqa: E402

EXP = dict(cm=0.25, tau_m=10.0, tau_syn_E=2.0, tau_syn_I=5.0, v_rest=-70.0, v_reset=-70.0, v_thresh=-50.0,
           tau_refrac=2.0)
NATIVE = dict(C_m=250.0, tau_m=10.0, tau_syn_ex=2.0, tau_syn_in=5.0, E_L=-70.0, V_reset=-70.0, V_th=-50.0, t_ref=2.0)
WARNING = "IF_curr_exp runs on eventsim's reference"


@pytest.fixture
def auto():
    """setup() with no engine chosen: the backend asks eventsim which engine runs IF_curr_exp (no warning checks)."""
    sim.setup(rng_seed=5)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", WARNING)
        yield sim
    sim.end()


def _spikes(pop):
    """{cell index: spike times (ms)} from get_data."""
    trains = pop.get_data("spikes").segments[0].spiketrains
    return {st.annotations["source_index"]: st.magnitude.copy() for st in trains}


def _psp(s, w_pA, tau_syn):
    """mV: V - E_L, s ms after an input of w pA onto NATIVE's cell at rest (the model's equations solved by hand)."""
    tau_m, c_m = NATIVE["tau_m"], NATIVE["C_m"]
    s = np.maximum(s, 0.0)
    return w_pA / c_m * tau_m * tau_syn / (tau_m - tau_syn) * (np.exp(-s / tau_m) - np.exp(-s / tau_syn))


# ------------------------------------------------------------------------------------------- units
def test_if_curr_exp_maps_parameters_and_weights_as_pynn_nest_does(auto):
    pop = sim.Population(3, sim.IF_curr_exp(**dict(EXP, cm=0.3), i_offset=[0.1, 0.37, 1.7]),
                         initial_values={"v": -58.0})
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]))
    sim.Projection(src, pop, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.37, delay=1.0))
    sim.Projection(src, pop, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.21, delay=1.0),
                   receptor_type="inhibitory")
    sim.run(0.0)
    net = state.network
    epop = net.populations[0]
    assert epop.model == "lif_psc_exp"
    # pyNN.nest's factors for iaf_psc_exp: nF -> pF and nA -> pA, each a multiplication by 1000.0
    assert np.array_equal(epop.params["C_m"], np.full(3, 0.3 * 1000.0))
    assert np.array_equal(epop.params["I_e"], np.array([0.1, 0.37, 1.7]) * 1000.0)
    for native, value in dict(NATIVE, C_m=300.0, V_init=-58.0).items():
        if native != "C_m":
            assert np.array_equal(epop.params[native], np.full(3, value)), native
    # weights are currents: nA x 1000.0 = pA (StaticSynapse's translation in pyNN.nest), inhibitory ones negative
    weights = [list(np.broadcast_to(p["weight"], (3,))) for p in net.projections]
    assert weights == [[0.37 * 1000.0] * 3, [-0.21 * 1000.0] * 3]
    # and back to PyNN's names and units
    assert pop.get("tau_syn_E") == 2.0 and pop.get("tau_syn_I") == 5.0
    assert pop.get("cm") == pytest.approx(0.3, rel=1e-15)


def test_weights_take_the_unit_of_each_target_population(auto):
    delta = sim.Population(2, sim.IF_curr_delta(), label="delta")
    exp = sim.Population(2, sim.IF_curr_exp(), label="exp")
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]))
    sim.Projection(src, delta + exp, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=1.0),
                   receptor_type="excitatory")
    sim.Projection(delta, exp, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.25, delay=1.0))
    sim.run(0.0)
    weights = {(p["pre"], p["post"]): set(np.atleast_1d(p["weight"]).tolist()) for p in state.network.projections}
    assert weights == {(2, 0): {0.5}, (2, 1): {500.0}, (0, 1): {250.0}}  # mV onto IF_curr_delta, pA onto IF_curr_exp


def test_inhibitory_weights_must_be_negative_as_for_any_current_based_cell(auto):
    pop = sim.Population(1, sim.IF_curr_exp())
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[1.0]))
    with pytest.raises(sim.errors.ConnectionError, match="negative"):
        sim.Projection(src, pop, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5), receptor_type="inhibitory")


@pytest.mark.parametrize("variable", ["isyn_exc", "isyn_inh"])
def test_initial_synaptic_currents_other_than_zero_are_refused(auto, variable):
    pop = sim.Population(2, sim.IF_curr_exp(), initial_values={variable: 0.0})  # 0: what eventsim starts from
    with pytest.raises(sim.EventsimPyNNError, match=f"initial {variable} other than 0"):
        pop.initialize(**{variable: 0.1})
    with pytest.raises(sim.EventsimPyNNError, match=f"initial {variable} other than 0"):
        pop[1:].initialize(**{variable: -0.1})


# ------------------------------------------------------------------------------------------- closed forms
def test_psps_follow_the_closed_form_and_peak_where_it_says(auto):
    cell = sim.Population(1, sim.IF_curr_exp(**EXP), initial_values={"v": -70.0})
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[10.0], [200.0]]))
    sim.Projection(src[0:1], cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.5, delay=1.0))
    sim.Projection(src[1:2], cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=-0.4, delay=1.0),
                   receptor_type="inhibitory")
    cell.record("v", sampling_interval=0.01)
    sim.run(250.0)
    (sig,) = cell.get_data().segments[0].analogsignals
    t = np.arange(sig.shape[0]) * 0.01
    expected = -70.0 + _psp(t - 11.0, 500.0, 2.0) + _psp(t - 201.0, -400.0, 5.0)
    assert sig.shape[0] == 25001 and np.max(np.abs(sig.magnitude[:, 0] - expected)) < 1e-9
    # peak: t = tau_m tau_s / (tau_m - tau_s) ln(tau_m / tau_s) after the input; the sampled maximum is within
    # half a sample of it, and below the closed-form amplitude by less than V'' (dt / 2)^2 / 2 (the first PSP
    # has decayed to e^-95 when the second starts)
    for w, tau_s, arrival, sign in ((500.0, 2.0, 11.0, 1.0), (-400.0, 5.0, 201.0, -1.0)):
        t_peak = 10.0 * tau_s / (10.0 - tau_s) * math.log(10.0 / tau_s)
        amplitude = _psp(t_peak, w, tau_s)
        window = (t > arrival) & (t < arrival + 30.0)
        k = np.argmax(sign * sig.magnitude[window, 0])
        assert abs(t[window][k] - (arrival + t_peak)) <= 0.005 + 1e-9
        assert 0.0 <= sign * (-70.0 + amplitude - sig.magnitude[window, 0][k]) < 1e-5
        assert (t_peak, amplitude) == pytest.approx(models.lif_psc_exp.psp_peak(
            models.lif_psc_exp.PscExpParams(**dict(NATIVE, I_e=0.0, V_init=-70.0)), w, tau_s), rel=1e-12)


def test_dc_current_fires_at_the_closed_form_period(auto):
    # V_inf = v_rest + i_offset tau_m / cm = -65 + 1 nA * 20 ms / 0.25 nF = +15 mV
    cell = sim.Population(1, sim.IF_curr_exp(**dict(EXP, tau_m=20.0, v_rest=-65.0), i_offset=1.0),
                          initial_values={"v": -70.0})
    cell.record("spikes")
    sim.run(300.0)
    got = _spikes(cell)[0]
    first = 20.0 * math.log((15.0 + 70.0) / (15.0 + 50.0))  # from v_reset, not refractory
    expected = first + (2.0 + first) * np.arange(got.size)
    assert got.size == int((300.0 - first) // (2.0 + first)) + 1 and got.size > 10
    assert np.max(np.abs(got - expected)) < 1e-9


def test_i_offset_can_change_during_a_run(auto):
    cell = sim.Population(1, sim.IF_curr_exp(**dict(EXP, tau_m=20.0, v_rest=-65.0)), initial_values={"v": -65.0})
    cell.record("spikes")
    sim.run(50.0)
    cell.set(i_offset=1.0)  # at rest until now; from t = 50 ms V relaxes towards +15 mV
    sim.run(50.0)
    got = _spikes(cell)[0]
    assert got.size >= 3 and abs(got[0] - (50.0 + 20.0 * math.log(80.0 / 65.0))) < 1e-9


def test_noise_driven_network_equals_the_eventsim_api_bit_for_bit(auto):
    rng = sim.NumpyRNG(seed=8)
    v0 = np.random.default_rng(8).uniform(-70.0, -55.0, 30)
    cells = sim.Population(30, sim.IF_curr_exp(**EXP), label="cells", initial_values={"v": v0})
    noise = sim.Population(30, sim.SpikeSourcePoisson(rate=2000.0), label="noise")
    sim.Projection(noise, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.2, delay=0.5))  # direct drive
    exc = sim.Projection(cells[:24], cells, sim.FixedProbabilityConnector(0.2, rng=rng),
                         sim.StaticSynapse(weight=sim.RandomDistribution("uniform", (0.1, 0.4), rng=rng), delay=1.5))
    inh = sim.Projection(cells[24:], cells, sim.FixedProbabilityConnector(0.5, rng=rng),
                         sim.StaticSynapse(weight=-1.0, delay=0.8), receptor_type="inhibitory")
    cells.record("spikes")
    sim.run(100.0)
    got = _spikes(cells)
    assert sum(t.size for t in got.values()) > 30
    assert list(build.direct_poisson(state)) == [id(noise)]

    net = eventsim.Network(seed=5, engine=state.network.engine_name)
    ecells = net.add_population("cells", 30, "lif_psc_exp", **NATIVE, I_e=0.0, V_init=v0)
    net.add_population("noise", 30, "lif", **build.RELAY)  # the relays stay in the network, idle
    for prj in (exc, inh):
        pre, post, w = np.array(prj.get(["weight"], format="list")).T
        net.connect(ecells, ecells, "explicit", sources=pre.astype(np.int64) + (24 if prj is inh else 0),
                    targets=post.astype(np.int64), weight=w * 1000.0, delay=prj.get("delay", format="list")[0][2])
    net.add_poisson(ecells, rate=2000.0, weight=0.2 * 1000.0, start=0.5)
    res = net.run(100.0 + 1e-6)
    for i in range(30):
        expected = res.spike_times[(res.spike_ids == i) & (res.spike_times <= 100.0)]
        assert np.array_equal(got.get(i, np.zeros(0)), expected), i


# ------------------------------------------------------------------------------------------- engine choice
@pytest.mark.parametrize("make", [
    lambda: sim.IF_curr_delta(),
    lambda: sim.IF_curr_exp(),
    lambda: sim.QIF_curr_delta(),
    lambda: sim.IF_curr_delta_adaptive(),
    lambda: sim.IF_curr_delta_adaptive(delta_theta=0.0),
])
def test_every_cell_type_runs_on_the_compiled_engine(make):
    """Every eventsim model runs compiled: no cell type switches the network to the reference engine."""
    sim.setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        pop = sim.Population(2, make())
        pop.record("spikes")
        sim.run(5.0)
    assert state.engine is None and state.network.engine_name == "numba"
    sim.end()


def test_invalid_parameters_are_reported_by_the_build_not_taken_for_an_engine_limit():
    sim.setup()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        sim.Population(1, sim.IF_curr_exp(v_reset=-40.0, v_thresh=-50.0))  # no engine question: no warning
    with pytest.raises(ValidationError, match="V_reset"):
        sim.run(1.0)
    sim.end()


class IF_curr_delta_on_reference(sim.IF_curr_delta):
    """A cell type that asks for the reference engine although the compiled one runs its model."""

    reference_only = True


def test_a_cell_type_may_still_declare_itself_reference_only():
    sim.setup()
    sim.Population(1, sim.IF_curr_delta())
    assert state.engine is None  # plain lif: the compiled engine
    with pytest.warns(UserWarning, match="^IF_curr_delta_on_reference runs on eventsim's reference engine only"):
        sim.Population(1, IF_curr_delta_on_reference())
    assert state.engine == "reference"
    sim.end()
