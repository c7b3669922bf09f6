"""The adaptive-threshold ``lif`` (delta_theta, tau_theta) against an independent 40-digit
computation (mpmath), on the reference engine; docs/models.md."""

import math

import mpmath
import numpy as np
import pytest

import eventsim
from eventsim.models import lif

TAU, C, EL, VTH, VRESET, TREF = 10.0, 250.0, -70.0, -55.0, -70.0, 2.0


def mp_first_crossing(v0, a0, v_inf, tau_th, t_max=1e4, step=0.05):
    """First t with V(t) >= theta(t), by a grid scan then bisection, all in 40 digits (ms)."""
    with mpmath.workdps(40):
        v0, a0, v_inf = mpmath.mpf(v0), mpmath.mpf(a0), mpmath.mpf(v_inf)

        def g(t):
            return v_inf - VTH + (v0 - v_inf) * mpmath.exp(-t / TAU) - a0 * mpmath.exp(-t / tau_th)

        lo, hi = mpmath.mpf(0), None
        t = mpmath.mpf(0)
        while t < t_max:
            t += step
            if g(t) >= 0:
                hi = t
                break
            lo = t
        if hi is None:
            return math.inf
        for _ in range(120):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if g(mid) >= 0 else (mid, hi)
        return hi


def mp_spike_train(I_e, delta, tau_th, n):
    """Spike times (40 digits) of one neuron from V = V_reset, a = 0 at t = 0 under constant I_e."""
    with mpmath.workdps(40):
        v_inf = mpmath.mpf(EL) + mpmath.mpf(I_e) * TAU / C
        t, a, times = mpmath.mpf(0), mpmath.mpf(0), []
        for k in range(n):
            x = mp_first_crossing(VRESET, a, v_inf, tau_th)
            t += x
            times.append(t)
            a = a * mpmath.exp(-x / tau_th) + delta  # a at the spike, plus the jump
            a *= mpmath.exp(-mpmath.mpf(TREF) / tau_th)  # relaxes during t_ref too
            t += TREF
        return [float(x) for x in times]


@pytest.mark.parametrize("tau_th", [50.0, 5.0])
def test_isi_sequence_under_constant_drive(tau_th):
    net = eventsim.Network(engine="reference")
    net.add_population("p", 1, I_e=600.0, delta_theta=3.0, tau_theta=tau_th)
    t = net.run(300.0).spike_times
    want = mp_spike_train(600.0, 3.0, tau_th, t.size)
    assert t.size >= 10
    assert np.max(np.abs(t - want)) <= 1e-9
    isi = np.diff(t)
    if tau_th == 50.0:
        assert isi[-1] > 1.3 * isi[0]  # spike-frequency adaptation


def test_crossing_time_matches_high_precision_root():
    cases = [(-70.0, 5.0, -45.0, 50.0), (-60.0, 12.0, -50.0, 3.0), (-56.0, 2.0, -54.9, 1.0),
             (-50.0, 8.0, -58.0, 2.0), (-40.0, 20.0, -45.0, 200.0)]
    for v0, a0, v_inf, tau_th in cases:
        got = lif.adaptive_crossing_time(v0, a0, v_inf, VTH, TAU, tau_th)
        want = mp_first_crossing(v0, a0, v_inf, tau_th)
        if want == math.inf:
            assert got == math.inf, (v0, a0, v_inf, tau_th)
        else:
            # at or after the root (up to the float64 rounding of g itself), within 1e-12 ms
            ulp = math.ulp(float(want))
            assert -4 * ulp <= float(got - want) <= 1e-12 + 4 * ulp, (v0, a0, v_inf, tau_th, got)


def test_crossing_between_events_with_no_input():
    """theta relaxes (1 ms) faster than V decays (10 ms): V meets it with no input, although
    V_inf = E_L is far below V_th (the plain-LIF prediction would say never)."""
    net = eventsim.Network(engine="reference")
    pop = net.add_population("p", 1, V_init=-50.0, t_ref=0.0, delta_theta=10.0, tau_theta=1.0)
    net.add_spike_train(pop, times=[0.5], weight=18.2, delay=0.5)  # V = -51.8 < theta = -51.32 at 1 ms
    res = net.run(20.0)
    a1 = 10.0 * math.exp(-1.0)
    want = 1.0 + float(mp_first_crossing(-70.0 + 18.2, a1, EL, 1.0))
    assert res.spike_times[0] == 0.0 and res.spike_times.size == 2
    assert 1.0 < res.spike_times[1] < 2.0
    assert abs(res.spike_times[1] - want) <= 1e-9
    assert res.counters["crossing_spikes"] == 1


def test_no_crossing_when_the_gap_peaks_below_zero():
    net = eventsim.Network(engine="reference")
    pop = net.add_population("p", 1, V_init=-50.0, t_ref=0.0, delta_theta=10.0, tau_theta=1.0)
    net.add_spike_train(pop, times=[0.5], weight=17.5, delay=0.5)  # too small: V - theta stays < 0
    assert mp_first_crossing(-70.0 + 17.5, 10.0 * math.exp(-1.0), EL, 1.0) == math.inf
    assert net.run(50.0).spike_times.tolist() == [0.0]


def test_threshold_relaxes_during_refractoriness():
    """After a spike at 0 and t_ref = 20 ms, theta = V_th + delta exp(-20/tau_theta) at 20 ms:
    an input that reaches exactly above it fires, one just below does not."""
    a = 4.0 * math.exp(-20.0 / 10.0)
    for w, fires in ((15.0 + a + 1e-9, True), (15.0 + a - 1e-9, False)):
        net = eventsim.Network(engine="reference")
        pop = net.add_population("p", 1, V_init=-55.0, t_ref=20.0, delta_theta=4.0, tau_theta=10.0)
        net.add_spike_train(pop, times=[19.0], weight=w, delay=1.0)  # arrives at exactly 20 ms
        assert (net.run(30.0).spike_times.size == 2) == fires


def test_zero_delta_theta_is_plain_lif_bit_for_bit():
    runs = []
    for extra in ({}, {"delta_theta": 0.0, "tau_theta": 7.0}):
        net = eventsim.Network(seed=3, engine="reference")
        pop = net.add_population("p", 20, I_e={"distribution": "uniform", "min": 300.0, "max": 500.0}, **extra)
        net.connect(pop, pop, "fixed_indegree", indegree=5, weight=2.0, delay=1.5)
        runs.append(net.run(200.0).spike_times)
    assert runs[0].size > 50 and np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("key, value, message", [("delta_theta", -1.0, "must be >= 0"),
                                                 ("tau_theta", 0.0, "at least 1e-06 ms")])
def test_bad_adaptation_parameters_are_refused(key, value, message):
    with pytest.raises(eventsim.ValidationError, match=f"populations.p.{key}: .*{message}"):
        eventsim.Network().add_population("p", 1, **{key: value})
