"""Hostile inputs to the models, formats and PyNN backend added with issues 9, 10 and 12: each test
is the regression test of one defect found by trying absurd but legal (or clearly bad) input."""

import math

import mpmath
import numpy as np
import pytest

import eventsim
from eventsim import scenario
from eventsim.models import qif

QIF = dict(E_L=-70.0, V_c=-55.0, tau_m=10.0, C_m=250.0)


def mp_qif_potential(t, v0, I):
    """V(t) of the QIF neuron from v0 (no input), in 50 digits: the Riccati solution in u."""
    with mpmath.workdps(50):
        E, Vc, tau, C = (mpmath.mpf(QIF[k]) for k in ("E_L", "V_c", "tau_m", "C_m"))
        D = Vc - E
        q = D * D / 4 - D * (tau / C) * mpmath.mpf(I)
        u0, s = mpmath.mpf(v0) - (E + Vc) / 2, mpmath.mpf(t) / (tau * D)
        if q > 0:
            phi = mpmath.tanh(mpmath.sqrt(q) * s) / mpmath.sqrt(q)
        elif q < 0:
            phi = mpmath.tan(mpmath.sqrt(-q) * s) / mpmath.sqrt(-q)
        else:
            phi = s
        return float((E + Vc) / 2 + (u0 - q * phi) / (1 - u0 * phi))


@pytest.mark.parametrize("I", [0.0, 375.0, 1000.0])  # q > 0, q = 0, q < 0
@pytest.mark.parametrize("v0", [-1e100, -1e20, -1e6, -1000.0])
@pytest.mark.parametrize("t", [1e-3, 0.25, 5.0])
def test_qif_free_potential_from_far_below(v0, t, I):
    """From V far below the fixed points (a -1e100 mV weight) V rises back to them in closed form;
    `v0 + (V - V0)` cancelled to 0.0 mV, or 16384 mV from -1e20 (above V_peak, with no spike)."""
    v = qif.free_potential(t, v0, I=I, **QIF)
    assert v == pytest.approx(mp_qif_potential(t, v0, I), rel=1e-13)


def test_qif_network_after_huge_inhibition():
    """A -1e100 mV input onto a qif neuron: the samples afterwards follow the closed form."""
    net = eventsim.Network(seed=0, engine="reference")
    p = net.add_population("p", 1, model="qif", **QIF)
    net.add_spike_train(p, [1.0], weight=-1e100, delay=1.0)
    times = np.array([2.25, 7.0, 30.0])
    net.record_voltage(p, times=times, name="v")
    v = net.run(40.0).voltages["v"].values[0]
    expected = [mp_qif_potential(t - 2.0, -1e100 + -70.0, 0.0) for t in times]
    np.testing.assert_allclose(v, expected, rtol=1e-12)
    assert np.all(v < -70.0)  # below rest, rising towards it


SCENARIO = """schema = 1
[run]
duration = 5.0
engine = "reference"
[populations.q]
model = "qif"
size = 2
[populations.l]
size = 2
"""


@pytest.mark.parametrize("override, key, says", [
    ("populations.l.V_peak=-40", "populations.l.V_peak",
     "not a parameter of model 'lif' (its threshold is V_th), but of 'qif'"),
    ("populations.q.V_th=-50", "populations.q.V_th",
     "not a parameter of model 'qif' (its threshold is V_peak), but of 'lif', 'lif_psc_exp'"),
    ("populations.l.V_c=-50", "populations.l.V_c", "not a parameter of model 'lif', but of 'qif'"),
])
def test_set_another_models_parameter(tmp_path, override, key, says):
    """`--set` of another model's key: the error said "unknown key (did you mean 'V_init'?)" for
    V_th on qif and "did you mean 'V_m'" for V_c on lif, a wrong lead; it names the model now."""
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    with pytest.raises(eventsim.ScenarioError) as info:
        scenario.load(path, [override]).network()
    msg = str(info.value)
    assert "\n" not in msg and f"{key}: {says}" in msg and "did you mean" not in msg


@pytest.fixture
def alarm():
    """Fail, rather than hang, a test whose run does not end within 20 s (POSIX)."""
    import signal

    def ring(signum, frame):
        raise TimeoutError("the run did not end within 20 s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_psc_exp_runaway_with_t_ref_0_is_refused(alarm):
    """A 1e100 pA input onto a lif_psc_exp neuron with t_ref = 0: it fired every 1e-12 ms (the
    crossing resolution), ~1e6 spikes per tick, and the run (and its progress callback) never came back."""
    net = eventsim.Network(seed=0, engine="reference")
    p = net.add_population("p", 1, model="lif_psc_exp", t_ref=0.0)
    net.add_spike_train(p, [1.0], weight=1e100, delay=1.0)
    with pytest.raises(eventsim.ValidationError, match=r"populations\.p\.t_ref: with t_ref = 0, neuron 0 would fire "
                                                        r"again less than 1e-12 ms after its spike at 2 ms"):
        net.run(5.0)


def test_psc_exp_strong_but_finite_drive_with_t_ref_0_runs(alarm):
    """A large (1e6 pA) input with t_ref = 0 is valid: a burst of spikes, each one later than the last."""
    net = eventsim.Network(seed=0, engine="reference")
    p = net.add_population("p", 1, model="lif_psc_exp", t_ref=0.0)
    net.add_spike_train(p, [1.0], weight=1e6, delay=1.0)
    t = net.run(3.0).spike_times
    assert t.size > 100 and t[0] > 2.0 and np.all(np.diff(t) > 0)
