"""The run-time estimate weighs each event by its neuron's model (eventsim.workload.seconds_per_event).

No timing assertions: the costs are rough constants; these tests check that the estimate follows the
network's model mix (a lif_psc_exp event costs more than a plain LIF one), not how long anything takes.
"""

import numpy as np
import pytest

import eventsim
from eventsim import workload

NEURON = dict(C_m=250.0, tau_m=20.0, E_L=0.0, V_reset=10.0, t_ref=2.0)
MODELS = {  # the same neuron under each model (perf/bench.py --neuron; lif_psc_exp: tau_syn 0.5 ms)
    "lif": dict(NEURON, V_th=20.0),
    "lif_adaptive": dict(NEURON, V_th=20.0, delta_theta=1.0, tau_theta=100.0),
    "qif": dict(NEURON, model="qif", V_c=20.0, V_peak=30.0),
    "lif_psc_exp": dict(NEURON, model="lif_psc_exp", V_th=20.0, tau_syn_ex=0.5, tau_syn_in=0.5),
}


def network(*models, size=10, I_e=0.0):
    """One population per model, each driven by one Poisson generator (and ``I_e`` if given)."""
    net = eventsim.Network(seed=1)
    for k, model in enumerate(models):
        pop = net.add_population(f"p{k}", size, I_e=I_e, **MODELS[model])
        net.add_poisson(pop, rate=1000.0, weight=0.1)
    return net


def estimate(net, engine="numba"):
    return workload.estimate(net.prepare(), net.stimuli, 0.0, 1000.0, engine)


@pytest.mark.parametrize("engine, model", [("numba", "lif_psc_exp"), ("numba", "lif_adaptive"), ("numba", "qif"),
                                           ("reference", "lif_psc_exp")])
def test_a_costlier_model_has_a_longer_estimate_for_the_same_events(engine, model):
    plain, other = estimate(network("lif"), engine), estimate(network(model), engine)
    assert other.events == plain.events == 10 * 1000.0
    assert other.seconds > plain.seconds > 0.0


def test_a_mixed_network_is_estimated_by_its_mix():
    mixed = estimate(network("lif", "lif_psc_exp"))
    assert mixed.seconds == pytest.approx(estimate(network("lif")).seconds + estimate(network("lif_psc_exp")).seconds)


def test_current_driven_spikes_are_weighed_by_the_spiking_neurons_model():
    """Constant-current spikes (no Poisson input counted) follow the model of the neuron that fires."""
    plain, psc = (estimate(network(m, I_e=500.0)) for m in ("lif", "lif_psc_exp"))
    assert psc.events == plain.events > 10 * 1000.0  # V_inf = 40 mV: both fire at the same rate
    assert psc.seconds > plain.seconds


def test_seconds_per_event_follows_each_neurons_model():
    net = network("lif", "lif_adaptive", "lif_psc_exp", size=3)
    cost = workload.seconds_per_event(net.prepare())
    expected = [workload.SECONDS_PER_EVENT["numba"][m] for m in ("lif", "lif_adaptive", "lif_psc_exp")]
    np.testing.assert_array_equal(cost, np.repeat(expected, 3))
