"""The frame's lazy Poisson catch-up consumes each stream's arrivals in order and caches the neuron's
earliest pending one, for one stream per neuron (taken from the stream's record) and for several."""

import math

import numpy as np
from numba import njit

from eventsim import rng
from eventsim.engine import records as K
from eventsim.engine.clock import draw_next_arrival, frame_exp, refresh_next_poisson
from eventsim.engine.lif_frame import catch_up, catch_up_general
from eventsim.engine.numba_engine import aligned_records

Q = K.TICK_MS / 20.0


@njit(cache=False)
def _start(nrn, neuron, stream):
    for i in range(nrn.size):
        for m in range(neuron[i].ps_lo, neuron[i].ps_hi):
            draw_next_arrival(stream[m], 0, 0.0)
        refresh_next_poisson(nrn[i], neuron[i], stream)


@njit(cache=False)
def _catch_up_to(nrn, neuron, stream, ctl, win, t):
    c = ctl[0]
    for i in range(nrn.size):
        catch_up(nrn[i], neuron[i], i, t, 0.0, frame_exp(t, 0.0, c.base, Q), Q, c, stream, win, False)


@njit(cache=False)
def _catch_up_general_to(nrn, neuron, stream, ctl, win, t):
    c = ctl[0]
    for i in range(nrn.size):
        catch_up_general(nrn[i], neuron[i], i, t, 0.0, frame_exp(t, 0.0, c.base, Q), Q, c, stream, win, False)


def _arrivals(key, rate, stop):
    """A stream's arrival times (tick, frac) before ``stop``, drawn in Python (eventsim.rng)."""
    state, tick, frac, out = int(key), 0, 0.0, []
    while True:
        state, gap = rng.exponential_gap(state, rate)
        y = frac + gap * K.TICKS_PER_MS
        k = math.floor(y)
        tick, frac = tick + int(k), y - k
        if tick >= stop:
            return out
        out.append((tick, frac))


def test_catch_up_consumes_arrivals_and_caches_the_earliest_of_one_or_several_streams():
    # neuron 0: one stream that stops at 3 ms; neuron 1: two streams; weights 0: no spikes
    rates, stops = [2.0, 1.0, 3.0], [3_000_000, K.NEVER, K.NEVER]
    keys = rng.stream_keys(5, rng.PURPOSE_POISSON, 0, np.arange(3))
    nrn, neuron, stream = aligned_records(K.NSTATE, 2), np.zeros(2, K.NEURON), aligned_records(K.STREAM, 3)
    neuron["ps_lo"], neuron["ps_hi"], neuron["tau_m"], neuron["V_th"] = [0, 1], [1, 3], 20.0, 20.0
    nrn["thr"], nrn["ctick"], nrn["ps_m"], nrn["ps_tick"] = 20.0, K.DIRTY, -1, K.NEVER
    stream["rate"], stream["stop"], stream["state"] = rates, stops, keys
    _start(nrn, neuron, stream)
    expected = [_arrivals(keys[m], rates[m], min(stops[m], 10_000_000)) for m in range(3)]
    ctl, win = np.zeros(1, K.CTL), np.empty(16, K.SPIKE)
    for t in range(250_000, 5_000_001, 250_000):
        _catch_up_to(nrn, neuron, stream, ctl, win, t)
        pending = [[a for a in expected[m] if a >= (t, 0.0)] for m in range(3)]
        assert ctl[0]["ext_events"] == sum(len(expected[m]) - len(pending[m]) for m in range(3))
        for i, streams in ((0, [0]), (1, [1, 2])):
            heads = [(pending[m][0], m) for m in streams if pending[m]]
            (tick, frac), m = min(heads) if heads else ((K.NEVER, 0.0), -1)
            assert (nrn[i]["ps_m"], nrn[i]["ps_tick"], nrn[i]["ps_frac"]) == (m, tick, frac)
    assert nrn[0]["ps_m"] == -1 and nrn[0]["ps_tick"] == K.NEVER  # its stream stopped at 3 ms
    assert ctl[0]["spikes"] == 0


def _driven(n, seed):
    """n neurons at rest with Brunel's drive (one 20 kHz stream of 0.1 mV each): they fire and are refractory."""
    nrn, neuron, stream = aligned_records(K.NSTATE, n), np.zeros(n, K.NEURON), aligned_records(K.STREAM, n)
    neuron["ps_lo"], neuron["ps_hi"], neuron["t_ref"] = np.arange(n), np.arange(n) + 1, 2_000_000
    neuron["tau_m"], neuron["V_th"], neuron["V_reset"] = 20.0, 20.0, 10.0
    nrn["thr"], nrn["slack"], nrn["ctick"], nrn["ps_m"], nrn["ps_tick"] = 20.0, K.FRAME_BAND * 40, K.DIRTY, -1, K.NEVER
    stream["rate"], stream["weight"], stream["stop"] = 20.0, 0.1, 40_000_000
    stream["state"] = rng.stream_keys(seed, rng.PURPOSE_POISSON, 0, np.arange(n))
    _start(nrn, neuron, stream)
    return nrn, neuron, stream


def test_one_stream_run_in_registers_is_bit_identical_to_the_arrival_by_arrival_catch_up():
    # catch_up's inlined run of one stream's arrivals (poisson_run) against catch_up_general, which
    # takes each arrival through the records: same U, spikes, refractory ends, streams, counters
    runs = []
    for step in (catch_up, _catch_up_general_to):
        nrn, neuron, stream = _driven(40, 11)
        ctl, win = np.zeros(1, K.CTL), np.empty(40 * 64, K.SPIKE)
        for t in range(100_000, 50_000_001, 700_000):  # windows of 0.7 ms, past the streams' stop
            (_catch_up_to if step is catch_up else step)(nrn, neuron, stream, ctl, win, t)
        runs.append((nrn.copy(), stream.copy(), ctl.copy(), win[: ctl[0]["win_n"]].copy()))
    (n1, s1, c1, w1), (n2, s2, c2, w2) = runs
    assert c1[0]["spikes"] > 40 and c1[0]["discarded"] > 0  # the neurons fired and were refractory
    assert n1.tobytes() == n2.tobytes() and s1.tobytes() == s2.tobytes()
    assert c1.tobytes() == c2.tobytes() and w1.tobytes() == w2.tobytes()
    assert (n1["ps_m"] == -1).all()  # every stream stopped


@njit(cache=False)
def _frame_exps(ticks, fracs, q):
    out = np.empty(ticks.size)
    for k in range(ticks.size):
        out[k] = frame_exp(ticks[k], fracs[k], 0, q)
    return out


def test_compiled_exp_is_libms_without_its_wrapper_and_gives_libms_floats():
    """clock binds compiled code's exp to glibc's __exp_finite (libm's exp without the errno wrapper Numba's
    binding goes through): the same floats as libm's exp, on the arguments the frame uses and beyond."""
    import ctypes
    import ctypes.util
    import platform

    import llvmlite.binding as ll
    import pytest

    from eventsim.engine import clock

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc (no __exp_finite): Numba's own exp binding is kept")
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    assert clock.EXP_ADDRESS and ll.address_of_symbol("exp") == clock.EXP_ADDRESS
    rng_ = np.random.default_rng(3)
    ticks = rng_.integers(-40_000_000, 40_000_000, 20_000)
    fracs = rng_.random(20_000)
    q = K.TICK_MS / 20.0
    got = _frame_exps(ticks, fracs, q)
    libm.exp.restype, libm.exp.argtypes = ctypes.c_double, [ctypes.c_double]
    want = [libm.exp((float(t) + f) * q) for t, f in zip(ticks, fracs)]
    assert np.array_equal(got, np.array(want))
