"""The frame's lazy Poisson catch-up consumes each stream's arrivals in order and caches the neuron's
earliest pending one, for one stream per neuron (taken from the stream's record) and for several."""

import math

import numpy as np
from numba import njit

from eventsim import rng
from eventsim.engine import records as K
from eventsim.engine.clock import draw_next_arrival, frame_exp, refresh_next_poisson
from eventsim.engine.lif_frame import catch_up
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
