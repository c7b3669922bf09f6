"""lif_psc_exp mathematics (eventsim.psc_exp) against independent high-precision solutions.

The oracle is mpmath at 50 digits on the textbook coefficient form
``beta (e^{-t/tau_m} - e^{-t/tau_syn})`` (cancellation costs it 12 of its 50 digits at ratio 1 + 1e-12),
itself checked against mpmath's Taylor ODE integrator; the property tests sample the trajectory densely
in extended precision (numpy longdouble, time constants at least 0.1 % apart or equal).
"""

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eventsim.psc_exp import (TIME_TOL_MS, PscExpParams, dc_period, dv_dt, first_crossing, no_crossing_possible,
                              propagate, psp_peak, simulate_neuron, syn_propagator)

EPS = 2.0 ** -52
RATIOS = [1.0, 1 + 1e-12, 1 - 1e-12, 1 + 1e-9, 1 - 1e-9, 1 + 1e-6, 1 - 1e-6, 1 + 1e-3, 1 - 1e-3, 0.5, 2.0,
          10.0, 0.1, 1e3, 1e-3]


# ---------------------------------------------------------------------------------------------
# The oracle: mpmath, 50 digits
# ---------------------------------------------------------------------------------------------
def mp_syn(t, tm, tx):
    """``beta (e^{-t/tm} - e^{-t/tx})``, or ``t e^{-t/tm}`` when equal, in mpmath."""
    if tm == tx:
        return t * mp.exp(-t / tm)
    return tm * tx / (tm - tx) * (mp.exp(-t / tm) - mp.exp(-t / tx))


def mp_state(p, V, I_ex, I_in, t):
    """Exact ``(V, I_ex, I_in)`` at ``t`` (mpmath numbers)."""
    with mp.workdps(50):
        t, C, tm, te, ti = (mp.mpf(x) for x in (t, p.C_m, p.tau_m, p.tau_syn_ex, p.tau_syn_in))
        E_L, I_e = mp.mpf(p.E_L), mp.mpf(p.I_e)
        v = ((mp.mpf(V) - E_L) * mp.exp(-t / tm) + I_e * tm / C * (1 - mp.exp(-t / tm))
             + (mp.mpf(I_ex) * mp_syn(t, tm, te) + mp.mpf(I_in) * mp_syn(t, tm, ti)) / C)
        return E_L + v, mp.mpf(I_ex) * mp.exp(-t / te), mp.mpf(I_in) * mp.exp(-t / ti)


def mp_dv(p, V, I_ex, I_in, t):
    """Exact ``dV/dt`` at ``t``."""
    with mp.workdps(50):
        v, ie, ii = mp_state(p, V, I_ex, I_in, t)
        return -(v - p.E_L) / mp.mpf(p.tau_m) + (ie + ii + p.I_e) / mp.mpf(p.C_m)


def mp_peak(p, V, I_ex, I_in, lo, hi):
    """Exact time and value of the extremum of V in ``[lo, hi]`` (where dV/dt changes sign)."""
    with mp.workdps(50):
        t = mp.findroot(lambda x: mp_dv(p, V, I_ex, I_in, x), (mp.mpf(lo), mp.mpf(hi)), solver="anderson")
        return t, mp_state(p, V, I_ex, I_in, t)[0]


def random_params(rng, ratio_ex=None, ratio_in=None):
    tau_m = float(rng.uniform(1.0, 40.0))
    return PscExpParams(C_m=float(rng.uniform(50, 500)), tau_m=tau_m,
                        tau_syn_ex=tau_m * (ratio_ex if ratio_ex is not None else float(rng.uniform(0.05, 3.0))),
                        tau_syn_in=tau_m * (ratio_in if ratio_in is not None else float(rng.uniform(0.05, 3.0))),
                        E_L=float(rng.uniform(-80, -60)), V_th=float(rng.uniform(-58, -45)), V_reset=-70.0,
                        t_ref=float(rng.uniform(0, 5)), I_e=float(rng.uniform(-200, 600)), V_init=-70.0)


# ---------------------------------------------------------------------------------------------
# Exact propagation
# ---------------------------------------------------------------------------------------------
def test_the_oracle_agrees_with_an_ode_integration():
    """The closed forms the tests rely on solve the model's equations (mpmath's Taylor ODE solver)."""
    for p, state in [(PscExpParams(I_e=300.0, tau_syn_in=7.0), (-60.0, 900.0, -400.0)),
                     (PscExpParams(tau_syn_ex=10.0, tau_syn_in=10.0 * (1 + 1e-12)), (-66.0, 500.0, -300.0))]:
        with mp.workdps(25):
            rhs = lambda t, y: [-(y[0] - p.E_L) / p.tau_m + (y[1] + y[2] + p.I_e) / p.C_m,  # noqa: E731
                                -y[1] / p.tau_syn_ex, -y[2] / p.tau_syn_in]
            sol = mp.odefun(rhs, 0, list(state))
            for t in (0.5, 3.0, 12.0):
                exact = mp_state(p, *state, t)
                assert all(abs(a - b) < mp.mpf(10) ** -18 for a, b in zip(sol(t), exact))


@pytest.mark.parametrize("ratio", RATIOS)
def test_syn_propagator_is_accurate_to_a_few_ulp_for_every_ratio(ratio):
    for tau_m in (0.1, 3.7, 10.0, 123.4):
        tau_x = tau_m * ratio
        tau_slow = max(tau_m, tau_x)
        for k in (1e-6, 1e-3, 0.1, 0.5, 1.0, 3.0, 10.0, 50.0, 200.0):
            s = k * tau_slow
            with mp.workdps(50):
                ref = mp_syn(mp.mpf(s), mp.mpf(tau_m), mp.mpf(tau_x))
                rel = float(abs((syn_propagator(s, tau_m, tau_x) - ref) / ref))
            assert rel <= 2 * EPS * (1 + s / tau_slow), (ratio, tau_m, k, rel / EPS)


def test_equal_time_constants_use_their_own_closed_form():
    for s in (0.0, 0.3, 10.0, 57.0):
        assert syn_propagator(s, 10.0, 10.0) == pytest.approx(s * math.exp(-s / 10.0), rel=2 * EPS)
    # continuous through equality: nearly equal constants differ from the equal case by O(ratio - 1)
    for d in (1e-12, -1e-12, 1e-9):
        assert syn_propagator(7.0, 10.0, 10.0 * (1 + d)) == pytest.approx(syn_propagator(7.0, 10.0, 10.0),
                                                                          rel=10 * abs(d) + 4 * EPS)


@pytest.mark.parametrize("ratios", [(None, None), (1.0, 1.0), (1 + 1e-12, 1 - 1e-12), (1e3, 1e-3)])
def test_propagate_matches_the_exact_solution_for_random_states(ratios):
    rng = np.random.default_rng(10)
    for _ in range(60):
        p = random_params(rng, *ratios)
        V, I_ex, I_in = float(rng.uniform(-90, -40)), float(rng.uniform(0, 5000)), float(rng.uniform(-5000, 0))
        s = float(rng.uniform(0, 5)) * max(p.tau_m, p.tau_syn_ex, p.tau_syn_in)
        got = propagate(p, V, I_ex, I_in, s)
        ref = mp_state(p, V, I_ex, I_in, s)
        scale = (abs(p.E_L) + abs(V - p.E_L) + abs(p.I_e) * p.tau_m / p.C_m
                 + (abs(I_ex) * min(p.tau_m, p.tau_syn_ex) + abs(I_in) * min(p.tau_m, p.tau_syn_in)) / p.C_m)
        assert abs(got[0] - ref[0]) <= 8 * EPS * scale * (1 + s / p.tau_m)
        for g, r in zip(got[1:], ref[1:]):
            assert abs(g - r) <= 4 * EPS * abs(r) * (1 + s / min(p.tau_syn_ex, p.tau_syn_in)) + 1e-300  # underflow


# ---------------------------------------------------------------------------------------------
# Closed forms: PSP peak, DC period
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tau_syn", [2.0, 10.0, 10.0 * (1 + 1e-12), 10.0 * (1 - 1e-9), 35.0, 0.01])
def test_psp_peak_time_and_amplitude(tau_syn):
    p = PscExpParams(tau_syn_ex=tau_syn, E_L=-70.0, V_th=0.0)
    t_peak, amp = psp_peak(p, 1000.0, tau_syn)
    t_ref, v_ref = mp_peak(p, p.E_L, 1000.0, 0.0, t_peak * 0.5, t_peak * 2)
    assert t_peak == pytest.approx(float(t_ref), rel=1e-13)
    assert amp == pytest.approx(float(v_ref - p.E_L), rel=1e-13)
    assert propagate(p, p.E_L, 1000.0, 0.0, t_peak)[0] - p.E_L == pytest.approx(amp, rel=1e-13)


def test_psp_peak_of_equal_time_constants_is_tau_over_e():
    p = PscExpParams(tau_syn_ex=10.0)
    assert psp_peak(p, 250.0, 10.0) == pytest.approx((10.0, 10.0 / math.e), rel=1e-15)


def test_dc_drive_fires_with_the_closed_form_period():
    p = PscExpParams(I_e=600.0, t_ref=2.0)
    period = dc_period(p)
    assert period == pytest.approx(2.0 + 10.0 * math.log((-46.0 + 70.0) / (-46.0 + 55.0)), rel=1e-14)
    spikes = simulate_neuron(p, [], [], 200.0)
    assert spikes[0] == pytest.approx(period - p.t_ref, abs=1e-11)
    assert np.allclose(np.diff(spikes), period, rtol=0, atol=1e-11)
    assert dc_period(p._replace(I_e=375.0)) == math.inf  # V_inf == V_th: approached, never reached
    assert simulate_neuron(p._replace(I_e=375.0), [], [], 1000.0) == []
