"""The LIF model against closed forms, on both engines (docs/semantics.md)."""

import math

import numpy as np
import pytest

import eventsim
from conftest import lif_net

TAU, C, EL, VTH, VRESET, TREF = 10.0, 250.0, -70.0, -55.0, -70.0, 2.0


def v_inf(I_e):
    return EL + I_e * TAU / C


@pytest.mark.parametrize("t_ref", [TREF, 0.0])
def test_period_under_constant_current(engine, t_ref):
    I_e = 500.0
    net, pop = lif_net(engine, I_e=I_e, t_ref=t_ref)
    res = net.run(2000.0)
    T = eventsim.lif_period(tau_m=TAU, V_th=VTH, V_reset=VRESET, t_ref=t_ref, v_inf=v_inf(I_e))
    t = res.spike_times
    assert t.size >= 100
    periods = np.diff(t)
    assert np.max(np.abs(periods - T)) / T < 1e-9
    # the first crossing starts from V_init = V_reset with no refractory period before it
    k = np.arange(t.size)
    assert np.max(np.abs(t - ((T - t_ref) + k * T))) < 1e-9


def test_subthreshold_jump_decays_exactly(engine):
    net, pop = lif_net(engine)
    net.add_spike_train(pop, times=[5.0], weight=3.0, delay=1.0)
    times = np.array([5.5, 6.0, 6.25, 7.0, 10.0, 30.0])
    net.record_voltage(pop, times, name="v")
    res = net.run(40.0)
    expected = np.where(times < 6.0, EL, EL + 3.0 * np.exp(-(times - 6.0) / TAU))
    assert np.allclose(res.voltages["v"].values[0], expected, rtol=1e-12, atol=1e-12)
    assert res.spike_ids.size == 0


def test_input_during_refractoriness_is_discarded(engine):
    net, pop = lif_net(engine)
    net.add_spike_train(pop, times=[10.0], weight=20.0, delay=1.0)  # spike at 11
    net.add_spike_train(pop, times=[11.5], weight=5.0, delay=0.5)  # arrives at 12 < 13: discarded
    net.record_voltage(pop, [12.5, 14.0], name="v")
    res = net.run(20.0)
    assert np.allclose(res.spike_times, [11.0])
    assert res.counters["discarded"] == 1
    assert np.allclose(res.voltages["v"].values[0], [VRESET, VRESET], atol=1e-12)


def test_input_at_exact_end_of_refractoriness_counts(engine):
    net, pop = lif_net(engine)
    net.add_spike_train(pop, times=[10.0], weight=20.0, delay=1.0)  # spike at 11, refractory to 13
    net.add_spike_train(pop, times=[12.9], weight=5.0, delay=0.1)  # arrives at exactly 13.0
    net.record_voltage(pop, [13.0, 15.0], name="v")
    res = net.run(20.0)
    assert res.counters["discarded"] == 0
    v = res.voltages["v"].values[0]
    assert v[0] == pytest.approx(VRESET + 5.0, abs=1e-12)
    assert v[1] == pytest.approx(EL + 5.0 * math.exp(-2.0 / TAU), abs=1e-12)


def crossing_after(v0, I_e):
    return TAU * math.log((v0 - v_inf(I_e)) / (VTH - v_inf(I_e)))


def test_inhibitory_input_delays_predicted_crossing(engine):
    I_e = 400.0  # V_inf = -54 mV, just above threshold: first crossing late
    T0 = crossing_after(VRESET, I_e)
    t_in = T0 - 1.0
    net, pop = lif_net(engine, I_e=I_e)
    net.add_spike_train(pop, times=[t_in - 0.5], weight=-2.0, delay=0.5)
    res = net.run(T0 + 20.0)
    v_at = v_inf(I_e) + (VRESET - v_inf(I_e)) * math.exp(-t_in / TAU) - 2.0
    expected = t_in + crossing_after(v_at, I_e)
    assert res.spike_times[0] > T0
    assert res.spike_times[0] == pytest.approx(expected, abs=1e-9)


def test_inhibition_can_cancel_crossing_for_the_whole_run(engine):
    I_e = 400.0
    T0 = crossing_after(VRESET, I_e)
    net, pop = lif_net(engine, I_e=I_e)
    net.add_spike_train(pop, times=[T0 - 1.5], weight=-30.0, delay=0.5)
    net.add_current_steps(pop, times=[T0 - 0.5], amplitudes=[-300.0])  # V_inf now below threshold
    res = net.run(T0 + 200.0)
    assert res.spike_ids.size == 0


def test_excitatory_input_brings_crossing_earlier(engine):
    I_e = 400.0
    T0 = crossing_after(VRESET, I_e)
    t_in = 10.0
    net, pop = lif_net(engine, I_e=I_e)
    net.add_spike_train(pop, times=[t_in - 1.0], weight=2.0, delay=1.0)
    res = net.run(T0 + 1.0)
    v_at = v_inf(I_e) + (VRESET - v_inf(I_e)) * math.exp(-t_in / TAU) + 2.0
    assert v_at < VTH
    expected = t_in + crossing_after(v_at, I_e)
    assert expected < T0
    assert res.spike_times[0] == pytest.approx(expected, abs=1e-9)


def test_v_init_at_threshold_fires_at_zero(engine):
    net, pop = lif_net(engine, n=2, V_init=np.array([VTH, -60.0]))
    net.add_spike_train(pop, times=[0.0], weight=1.0, delay=1.0)
    res = net.run(5.0)
    assert res.spike_ids.tolist() == [0]
    assert res.spike_times.tolist() == [0.0]


def test_simultaneous_inputs_are_summed(engine):
    net, pop = lif_net(engine, n=3)
    ids = pop.ids
    # neuron 0: two sub-threshold inputs at the same time -> one spike
    net.add_spike_train(ids[[0]], times=[1.0], weight=8.0, delay=1.0)
    net.add_spike_train(ids[[0]], times=[1.5], weight=8.0, delay=0.5)
    # neurons 1, 2: +20 and -10 at the same time, in both orders -> no spike
    net.add_spike_train(ids[[1]], times=[1.0], weight=20.0, delay=1.0)
    net.add_spike_train(ids[[1]], times=[1.9], weight=-10.0, delay=0.1)
    net.add_spike_train(ids[[2]], times=[1.9], weight=-10.0, delay=0.1)
    net.add_spike_train(ids[[2]], times=[1.0], weight=20.0, delay=1.0)
    res = net.run(5.0)
    assert res.spike_ids.tolist() == [0]
    assert res.spike_times.tolist() == [2.0]


def test_delay_sums_tie_exactly_in_a_relay_chain(engine):
    """(t + 0.1) + 0.2 and (t + 0.2) + 0.1 arrive together: each input alone is sub-threshold."""
    net = eventsim.Network(engine=engine)
    src = net.add_population("src", 1)
    relays = net.add_population("relay", 2)
    tgt = net.add_population("tgt", 1)
    net.add_spike_train(src, times=[10.3], weight=30.0, delay=0.2)
    net.connect(src, relays, rule="explicit", sources=[0, 0], targets=[0, 1], weight=30.0, delay=np.array([0.1, 0.2]))
    net.connect(relays, tgt, rule="explicit", sources=[0, 1], targets=[0, 0], weight=9.0, delay=np.array([0.2, 0.1]))
    res = net.run(20.0)
    t_src = 10.5
    tgt_times = res.spikes_of("tgt")[1]
    assert tgt_times.size == 1
    assert abs(tgt_times[0] - (t_src + 0.3)) < 1e-9


def test_runaway_t_ref_zero_is_well_defined(engine):
    # strong drive with t_ref = 0: tonic firing at the closed-form period
    I_e = 2000.0
    net, pop = lif_net(engine, I_e=I_e, t_ref=0.0)
    res = net.run(50.0)
    T = eventsim.lif_period(tau_m=TAU, V_th=VTH, V_reset=VRESET, t_ref=0.0, v_inf=v_inf(I_e))
    assert np.max(np.abs(np.diff(res.spike_times) - T)) < 1e-9


def test_current_steps_change_the_asymptote(engine):
    net, pop = lif_net(engine)
    net.add_current_steps(pop, times=[10.0, 30.0], amplitudes=[100.0, 0.0])
    times = np.array([10.0, 20.0, 30.0, 40.0])
    net.record_voltage(pop, times, name="v")
    res = net.run(50.0)
    vi = v_inf(100.0)
    v30 = vi + (EL - vi) * math.exp(-20.0 / TAU)
    expected = [EL, vi + (EL - vi) * math.exp(-1.0), v30, EL + (v30 - EL) * math.exp(-1.0)]
    assert np.allclose(res.voltages["v"].values[0], expected, rtol=0, atol=1e-12)
