"""The ``qif`` model (eventsim/models/qif.py) against an independent 40-digit quadrature, and its
event rules on the reference engine (docs/models.md)."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eventsim
from eventsim.models import qif

# R = tau_m / C_m = 1/16 exactly, D = V_c - E_L = 16 mV: q = D^2/4 - D R I = 0 exactly at I = 64 pA
BASE = dict(C_m=256.0, tau_m=16.0, E_L=-70.0, V_c=-54.0, V_peak=-30.0, V_reset=-70.0, t_ref=2.0)


def mp_time(v0, v1, p, I):
    """tau_m D integral dV / ((V - E_L)(V - V_c) + D R I) from v0 to v1, in 40 digits (ms)."""
    with mpmath.workdps(40):
        E, Vc, tau, C = (mpmath.mpf(p[k]) for k in ("E_L", "V_c", "tau_m", "C_m"))
        D, R = Vc - E, tau / C
        mid = (E + Vc) / 2  # the bottleneck near q = 0: a breakpoint for the quadrature
        pts = [mpmath.mpf(v0)] + ([mid] if v0 < mid < v1 else []) + [mpmath.mpf(v1)]
        return float(mpmath.quad(lambda v: tau * D / ((v - E) * (v - Vc) + D * R * I), pts))


def q_of(p, I):
    D = p["V_c"] - p["E_L"]
    return D * D / 4 - D * (p["tau_m"] / p["C_m"]) * I


# regimes: q > 0 (tanh/coth; V_reset above the unstable point), q = 0 exactly (rational), q < 0 (tan),
# both sides of the boundary (1e-6 relative: periods near 1e5 ms), and within 1e-12 relative
# (periods near 1e8 ms, where 1e-9 ms is below one ulp: checked to 4 ulp instead)
REGIMES = {
    "coth": (dict(V_reset=-50.0), 20.0),
    "rational": (dict(V_reset=-60.0), 64.0),
    "tan": ({}, 200.0),
    "tan_near_boundary": ({}, 64.0 * (1 + 1e-6)),
    "coth_near_boundary": (dict(V_reset=-60.0), 64.0 * (1 - 1e-6)),
    "tan_at_boundary": ({}, 64.0 * (1 + 1e-12)),
    "coth_at_boundary": (dict(V_reset=-60.0), 64.0 * (1 - 1e-12)),
}


@pytest.mark.parametrize("regime", list(REGIMES))
def test_period_under_constant_drive_matches_quadrature(regime):
    over, I = REGIMES[regime]
    p = {**BASE, **over}
    q = q_of(p, I)
    assert (q == 0) if regime == "rational" else (q < 0) == regime.startswith("tan")
    want = p["t_ref"] + mp_time(p["V_reset"], p["V_peak"], p, I)
    got = qif.period(I_e=I, **p)
    assert abs(got - want) <= max(1e-9, 4 * math.ulp(want)), (got, want)


@pytest.mark.parametrize("regime", list(REGIMES))
def test_free_potential_inverts_the_quadrature(regime):
    over, I = REGIMES[regime]
    p = {**BASE, **over}
    v0 = p["V_reset"]
    args = dict(E_L=p["E_L"], V_c=p["V_c"], tau_m=p["tau_m"], C_m=p["C_m"], I=I)
    for v1 in (v0 + 0.5, -45.0, -35.0, p["V_peak"]):
        t = mp_time(v0, v1, p, I)
        # t itself is rounded to float64: allow what that half-ulp moves V by (dV/dt = drift / (tau_m D))
        slope = qif.drift(v1, p["E_L"], p["V_c"], 16.0 * I / 16.0) / (p["tau_m"] * 16.0)
        tol = 1e-11 * (1 + abs(v1)) + 4 * slope * math.ulp(t)
        assert abs(qif.free_potential(t, v0, **args) - v1) <= tol


def test_no_spike_below_the_unstable_point_without_drive():
    args = dict(E_L=-70.0, V_c=-54.0, tau_m=16.0, C_m=256.0, I=0.0)
    assert qif.time_to_peak(-55.0, -30.0, **args) == math.inf
    assert qif.time_to_peak(-53.0, -30.0, **args) < math.inf
    assert qif.free_potential(500.0, -55.0, **args) == pytest.approx(-70.0, abs=1e-9)  # relaxes to E_L


def qif_net(n=1, **params):
    net = eventsim.Network(engine="reference")
    pop = net.add_population("q", n, model="qif", **{**BASE, **params})
    return net, pop


@pytest.mark.parametrize("regime", ["coth", "tan"])
def test_reference_engine_spikes_at_the_closed_form_period(regime):
    over, I = REGIMES[regime]
    p = {**BASE, **over}
    net, _pop = qif_net(**over, I_e=I, V_init=p["V_reset"])
    t = net.run(1000.0).spike_times
    T = p["t_ref"] + mp_time(p["V_reset"], p["V_peak"], p, I)
    assert t.size >= 10
    k = np.arange(t.size)
    assert np.max(np.abs(t - ((T - p["t_ref"]) + k * T))) <= 1e-9 * max(1.0, t[-1] / T)


def test_reset_above_v_c_refires_after_t_ref_without_input():
    net, _pop = qif_net(V_reset=-50.0, V_init=-30.0, I_e=0.0)  # V_init = V_peak: spikes at 0
    t = net.run(100.0).spike_times
    T = BASE["t_ref"] + mp_time(-50.0, BASE["V_peak"], {**BASE}, 0.0)
    assert t[0] == 0.0 and t.size >= 3
    assert np.max(np.abs(np.diff(t) - T)) <= 1e-9


def test_same_time_inputs_are_summed_then_tested_against_v_peak():
    net, pop = qif_net(V_init=-70.0)
    net.add_spike_train(pop, times=[5.0], weight=25.0, delay=1.0)
    net.add_spike_train(pop, times=[5.0], weight=25.0, delay=1.0)  # -70 + 50 = -20 >= V_peak at 6 ms
    t = net.run(10.0).spike_times
    assert t.tolist() == [6.0]


def test_refractory_inputs_discarded_and_input_at_its_end_accepted():
    net, pop = qif_net(V_init=-30.0)  # spikes at 0, refractory until 2 ms
    net.add_spike_train(pop, times=[0.5], weight=5.0, delay=0.5)  # at 1: discarded
    net.add_spike_train(pop, times=[1.5], weight=5.0, delay=0.5)  # at exactly 2: accepted
    net.record_voltage(pop, [1.5, 2.0], name="v")
    res = net.run(3.0)
    assert res.counters["discarded"] == 1
    assert res.voltages["v"].values[0].tolist() == [-70.0, -65.0]
    assert res.spike_times.tolist() == [0.0]


@settings(max_examples=300, deadline=None)
@given(v0=st.floats(-90.0, -31.0), i_e=st.floats(-200.0, 400.0), v_c=st.floats(-69.0, -35.0))
def test_time_to_peak_and_free_potential_agree(v0, i_e, v_c):
    """Wherever the closed form says V reaches V_peak, V(t) there is V_peak (to the conditioning
    of V(t) at that time), and V stays below V_peak at 99 % of that time."""
    args = dict(E_L=-70.0, V_c=v_c, tau_m=16.0, C_m=256.0, I=i_e)
    t = qif.time_to_peak(v0, -30.0, **args)
    if t == math.inf:
        assert qif.free_potential(1e4, v0, **args) < -30.0
        return
    dri = (v_c + 70.0) * i_e / 16.0
    slope = qif.drift(-30.0, -70.0, v_c, dri) / (16.0 * (v_c + 70.0))
    assert abs(qif.free_potential(t, v0, **args) + 30.0) <= 1e-9 + 1e-12 * t * slope
    assert qif.free_potential(0.99 * t, v0, **args) < -30.0
