"""Bad input raises a ValidationError (a ValueError) naming the parameter."""

import numpy as np
import pytest

import eventsim
from eventsim import ValidationError


def net_with_pops():
    net = eventsim.Network()
    a = net.add_population("a", 5)
    b = net.add_population("b", 3)
    return net, a, b


@pytest.mark.parametrize("params, key", [
    ({"V_reset": -50.0, "V_th": -55.0}, "V_reset"),
    ({"V_reset": -55.0}, "V_reset"),
    ({"tau_m": 0.0}, "tau_m"),
    ({"C_m": -1.0}, "C_m"),
    ({"t_ref": -1.0}, "t_ref"),
    ({"E_L": float("nan")}, "E_L"),
    ({"I_e": float("inf")}, "I_e"),
    ({"V_th": np.zeros(3)}, "V_th"),
    ({"tau_mem": 10.0}, "tau_mem"),
    ({"g_L": 0.0}, "g_L"),
])
def test_bad_neuron_parameters(params, key):
    with pytest.raises(ValidationError, match=key) as err:
        eventsim.Network().add_population("p", 5, **params)
    assert isinstance(err.value, ValueError)
    assert "\n" not in str(err.value)


def test_g_L_is_accepted_in_place_of_tau_m():
    net = eventsim.Network()
    net.add_population("p", 2, C_m=200.0, g_L=10.0)
    assert np.allclose(net.prepare().tau_m, 20.0)


@pytest.mark.parametrize("kwargs, key", [
    ({"delay": -1.0}, "delay"),
    ({"delay": 0.0}, "delay"),
    ({"delay": float("nan")}, "delay"),
    ({"weight": float("inf")}, "weight"),
])
def test_bad_connection_values(kwargs, key):
    net, a, b = net_with_pops()
    with pytest.raises(ValidationError, match=key):
        net.connect(a, b, rule="all_to_all", **kwargs)
        net.prepare()


def test_explicit_ids_out_of_range_and_wrong_lengths():
    net, a, b = net_with_pops()
    with pytest.raises(ValidationError, match="targets"):
        net.connect(a, b, rule="explicit", sources=[0, 1], targets=[0, 3])
        net.prepare()
    net, a, b = net_with_pops()
    with pytest.raises(ValidationError):
        net.connect(a, b, rule="explicit", sources=[0, 1], targets=[0])
        net.prepare()


def test_unknown_rule_and_population():
    net, a, b = net_with_pops()
    with pytest.raises(ValidationError, match="rule"):
        net.connect(a, b, rule="fixed_indgree", indegree=2)
    with pytest.raises(ValidationError, match="target"):
        net.connect(a, "c", rule="all_to_all")


def test_stimulus_errors():
    net, a, b = net_with_pops()
    with pytest.raises(ValidationError, match="targets"):
        net.add_poisson([0, 99], rate=10.0, weight=1.0)
    with pytest.raises(ValidationError, match="rate"):
        net.add_poisson(a, rate=-5.0, weight=1.0)
    with pytest.raises(ValidationError, match="delay"):
        net.add_spike_train(a, times=[1.0], weight=1.0, delay=0.0)
        net.prepare()
    net, a, b = net_with_pops()
    with pytest.raises(ValidationError, match="amplitudes"):
        net.add_current_steps(a, times=[1.0, 2.0], amplitudes=[1.0])
        net.prepare()


def test_run_duration_and_frozen_network():
    net, a, b = net_with_pops()
    with pytest.raises(ValidationError, match="duration"):
        net.run(-1.0)
    net.run(1.0)
    with pytest.raises(ValidationError, match="network"):
        net.add_population("c", 1)


def test_seed_and_engine():
    with pytest.raises(ValidationError, match="seed"):
        eventsim.Network(seed=-1)
    with pytest.raises(ValidationError, match="engine"):
        eventsim.Network(engine="gpu")
