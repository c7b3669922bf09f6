"""lif_psc_exp closed forms compiled by Numba give the same bits as the same functions run in Python.

``eventsim.models.lif_psc_exp`` holds one definition of each closed form for both engines: the reference
engine calls them in Python, compiled code compiles them (``register_jitable``). Here each function is
compiled on its own (``numba.njit`` of the very same function object) and compared bit for bit with its
Python run, on random and adversarial inputs: grazing peaks 1e-9 mV above and below threshold,
``tau_syn == tau_m``, nearly equal time constants, ``S = inf``. The batch receive is checked against
``math.fsum`` and for independence of the order of the inputs.
"""

import math
import struct

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from eventsim.models import lif_psc_exp as m
from eventsim.models.lif_psc_exp import PscExpParams

# NOTE: no cache=True: Numba would stamp the cache with this file only and miss changes of the model module.
jit = {name: numba.njit(getattr(m, name)) for name in (
    "syn_propagator", "propagate", "propagate_refractory", "receive", "receive_batch", "dv_dt",
    "no_crossing_possible", "first_crossing", "_current_turning_time")}

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def bits(x):
    """The float64 bit pattern (so that -0.0 != 0.0 and every NaN equals itself)."""
    return struct.pack("<d", x)


def assert_same(python, compiled):
    """Bit-identical results: a float, a bool or a tuple of them."""
    if isinstance(python, tuple):
        assert len(python) == len(compiled)
        for a, b in zip(python, compiled):
            assert_same(a, b)
    elif isinstance(python, bool):
        assert isinstance(compiled, (bool, np.bool_)) and python is bool(compiled)
    else:
        assert bits(python) == bits(compiled), (python, compiled)


def both(name, *args):
    """``name(*args)`` in Python and compiled; asserts they agree bit for bit, returns the result."""
    python = getattr(m, name)(*args)
    assert_same(python, jit[name](*args))
    return python


# ---------------------------------------------------------------------------------------------
# Strategies: time-constant ratios around 1 (equal, 1 +- 1e-12 ... 1e-3) and far from it
# ---------------------------------------------------------------------------------------------
near_one = st.sampled_from([1.0, 1 + 1e-12, 1 - 1e-12, 1 + 1e-9, 1 - 1e-9, 1 + 1e-6, 1 - 1e-6, 1 + 1e-3])
ratios = st.one_of(near_one, st.floats(0.05, 20.0), st.sampled_from([1e-3, 1e3]))
params = st.builds(
    lambda tau_m, r_ex, r_in, C_m, I_e, E_L, V_th: PscExpParams(
        C_m=C_m, tau_m=tau_m, tau_syn_ex=tau_m * r_ex, tau_syn_in=tau_m * r_in, I_e=I_e, E_L=E_L, V_th=V_th),
    st.floats(0.1, 50.0), ratios, ratios, st.floats(10.0, 1000.0), st.floats(-500.0, 1500.0),
    st.floats(-80.0, -60.0), st.floats(-60.0, -40.0))
states = st.tuples(st.floats(-100.0, -30.0), st.floats(0.0, 2e4), st.floats(-2e4, 0.0))
intervals = st.one_of(st.floats(0.0, 500.0), st.just(math.inf), st.just(0.0))


@SETTINGS
@given(params, states, st.floats(0.0, 1e3))
def test_propagation_is_bit_identical(p, state, s):
    both("propagate", p, *state, s)
    both("propagate_refractory", p, state[1], state[2], s)
    both("syn_propagator", s, p.tau_m, p.tau_syn_ex)
    both("dv_dt", p, *state)
    both("_current_turning_time", p, state[1], state[2])


@SETTINGS
@given(params, states, intervals)
@example(PscExpParams(C_m=50.0, tau_m=0.5, tau_syn_ex=0.5, tau_syn_in=0.5, V_th=-45.0), (-46.0, 3240.0, 0.0), 20.0)
@example(PscExpParams(I_e=375.0), (-70.0, 0.0, 0.0), math.inf)  # V_inf == V_th: tends to threshold, no crossing
@example(PscExpParams(), (-55.0, 0.0, 0.0), 1.0)  # at threshold already: crossing at 0
def test_crossing_detection_is_bit_identical(p, state, S):
    both("no_crossing_possible", p, *state, S)
    both("first_crossing", p, *state, S)


@SETTINGS
@given(params, states, st.one_of(st.floats(1e-3, 200.0), st.just(math.inf)),
       st.sampled_from([1e-9, -1e-9, 1e-7, -1e-7, 0.0]))
def test_crossing_of_near_grazing_trajectories_is_bit_identical(p, state, S, offset):
    """Threshold a hair from the highest sampled point of the trajectory: the refinements of the extrema
    and the crossing decide, and both engines must decide alike."""
    window = S if math.isfinite(S) else 20.0 * max(p.tau_m, p.tau_syn_ex, p.tau_syn_in)
    v_max = max(m.propagate(p, *state, t)[0] for t in np.linspace(0.0, window, 400))
    p = p._replace(V_th=v_max - offset)
    both("first_crossing", p, *state, S)


@pytest.mark.parametrize("ratio", [1.0, 1 + 1e-12, 1 - 1e-9, 0.2, 5.0, 1e-3])
@pytest.mark.parametrize("offset, fires", [(1e-9, True), (-1e-9, False)])
def test_grazing_psp_fires_alike(ratio, offset, fires):
    """A PSP from rest peaking 1e-9 mV above threshold crosses, 1e-9 mV below does not, in both."""
    p = PscExpParams(tau_syn_ex=10.0 * ratio, V_th=-55.0)
    t_peak, amp = m.psp_peak(p, 1000.0, p.tau_syn_ex)
    p = p._replace(E_L=p.V_th - amp + offset, V_reset=p.V_th - amp - 1.0)
    for S in (5.0 * t_peak, math.inf):
        assert math.isinf(both("first_crossing", p, p.E_L, 1000.0, 0.0, S)) != fires


# ---------------------------------------------------------------------------------------------
# The batch receive: math.fsum per sign, independent of the order of the inputs
# ---------------------------------------------------------------------------------------------
wide = st.floats(-1e30, 1e30).filter(lambda x: x == 0.0 or abs(x) > 1e-300)
TIES = [  # halfway cases of the final rounding, and cancellation down to the last partial
    (1.0, [2.0 ** -53, 2.0 ** -53]), (1.0, [2.0 ** -53, 2.0 ** -106]), (1.0, [2.0 ** -53, -2.0 ** -106]),
    (1.0, [2.0 ** -53, 2.0 ** -53 + 2.0 ** -105]), (1e16, [1.0, 1.0, 1.0]), (1e16, [1.0, -1e16, 1.0]),
    (-1e16, [1e16, 1.0, 2.0 ** -60]), (0.0, [-0.0, -0.0]), (-0.0, [-0.0, 0.0]),
    (0.1, [0.2, 0.3, -0.1, -0.2, -0.3]), (2.0 ** 60, [3.0, 2.0 ** -60, 1.0, 2.0 ** 60]),
]


def fsum_signed(first, weights, excitatory):
    same = [w for w in weights if (w >= 0.0) == excitatory]
    return math.fsum([first, *same]) if same else first


def check_batch(I_ex, I_in, weights, rnd):
    """receive_batch in Python and compiled equals math.fsum per sign, for the inputs in any order."""
    want = (fsum_signed(I_ex, weights, True), fsum_signed(I_in, weights, False))
    for _ in range(3):
        assert_same(want, m.receive_batch(I_ex, I_in, list(weights)))
        assert_same(want, jit["receive_batch"](I_ex, I_in, np.array(weights, dtype=np.float64)))
        weights = list(weights)
        rnd.shuffle(weights)


@pytest.mark.parametrize("first, weights", TIES)
def test_batch_receive_rounds_ties_as_fsum(first, weights):
    import random
    check_batch(first, -first, weights, random.Random(1))
    check_batch(-first, first, [-w for w in weights], random.Random(2))


@SETTINGS
@given(wide, wide, st.lists(wide, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_batch_receive_is_fsum_per_sign_in_any_order(I_ex, I_in, weights, rnd):
    check_batch(I_ex, I_in, weights, rnd)


def test_one_input_is_the_single_receive():
    for w in (3.5, -2.25, 0.0, -0.0):
        want = both("receive", 1.0, -1.0, w)
        assert_same(want, m.receive_batch(1.0, -1.0, [w]))
        assert_same(want, jit["receive_batch"](1.0, -1.0, np.array([w])))
    assert both("receive", 1.0, -1.0, -0.0) == (1.0, -1.0)  # -0.0 >= 0: excitatory
    for batch in (m.receive_batch, jit["receive_batch"]):  # fsum's zero, and the other current untouched
        assert_same((0.0, -0.0), batch(-0.0, -0.0, np.array([-0.0])))


@SETTINGS
@given(params, states, st.floats(0.0, 1e3))
def test_shared_exponentials_give_the_bits_of_separate_evaluations(p, state, s):
    """One set of decays serves V, its slope and the currents (m._decays): the same bits as the textbook
    evaluation, each current's response by syn_propagator and V by propagate, that the crossing search
    used before sharing them (so crossing times and decisions did not move)."""
    V, I_ex, I_in = state
    separate = (I_ex * m.syn_propagator(s, p.tau_m, p.tau_syn_ex)
                + I_in * m.syn_propagator(s, p.tau_m, p.tau_syn_in)) / p.C_m
    assert_same(separate, m._current_response(p, I_ex, I_in, s, *m._decays(p, s)))
    x = s / p.tau_m
    v = p.E_L + ((V - p.E_L) * math.exp(-x) - (p.I_e * p.tau_m / p.C_m) * math.expm1(-x) + separate)
    assert_same((v, I_ex * math.exp(-s / p.tau_syn_ex), I_in * math.exp(-s / p.tau_syn_in)), m.propagate(p, *state, s))
    assert_same(v - p.V_th, m._target(p, *state, s, m._EXCESS)[0])
