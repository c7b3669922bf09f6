#!/usr/bin/env python3
"""What does one lazy Poisson arrival cost, and which of its pieces? A micro-benchmark of the engine's own kernels.

    python perf/catchup_micro.py

Runs, on this machine and one thread, the compiled engine's functions in tight loops (each the
best of 5 runs of 2 M iterations) and prints ns per iteration:

* the pieces of an arrival, each alone: the exponential gap (SplitMix64 + ziggurat), ``add_ms``
  (the ``(tick, frac)`` arithmetic), ``draw_next_arrival`` (both, storing into the stream
  record), ``frame_exp`` (the frame's ``exp``), caching the next arrival in the neuron's record
  from the stream's record (``set_next_poisson``) or from the stream array
  (``refresh_next_poisson``: a call with an array argument), and a pair of cycle-counter reads;
* the whole catch-up (:func:`eventsim.engine.lif_frame.catch_up`) per arrival, for neurons
  driven by Brunel's 20 kHz of 0.1 mV (V_th 20 mV, reset 10 mV, tau_m 20 ms, t_ref 2 ms):
  64 neurons caught up every 0.1 ms (about 2 arrivals per call) and 12,500 neurons every 1.5 ms
  (Brunel's window: about 30 per call). The spike count printed with it is the same for any
  version that keeps the results.

Why not cycle counts per piece inside a run: on a KVM guest a read of the cycle counter cost
~20 ns (the pair printed here), as much as the pieces themselves (perf/RESULTS.md, "Poisson catch-up").
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from eventsim.engine import records as K
from eventsim.engine.clock import (add_ms, draw_next_arrival, exponential_gap, frame_exp, refresh_next_poisson,
                                   set_next_poisson)
from eventsim.engine.cycles import cycle_counter
from eventsim.engine.lif_frame import catch_up, needs_catch_up
from eventsim.engine.numba_engine import aligned_records

Q = K.TICK_MS / 20.0  # 1 tick / tau_m
M = 2_000_000


def neurons(n):
    """n plain-LIF neurons at rest (V_inf = 0), one 20 kHz stream of 0.1 mV each."""
    nrn, neuron, stream = aligned_records(K.NSTATE, n), np.zeros(n, K.NEURON), aligned_records(K.STREAM, n)
    neuron["ps_lo"], neuron["ps_hi"], neuron["t_ref"] = np.arange(n), np.arange(n) + 1, 2_000_000
    neuron["tau_m"], neuron["V_th"], neuron["V_reset"] = 20.0, 20.0, 10.0
    nrn["thr"], nrn["slack"], nrn["ctick"], nrn["bt"], nrn["chain"] = 20.0, K.FRAME_BAND * 40, K.DIRTY, -1, -1
    nrn["ps_one"] = 1  # one stream each: catch_up takes poisson_run, as for Brunel's neurons
    stream["rate"], stream["weight"], stream["stop"] = 20.0, 0.1, K.NEVER - 1
    stream["state"] = np.arange(n, dtype=np.uint64) * np.uint64(7919) + np.uint64(1)
    start(nrn, neuron, stream)
    return nrn, neuron, stream


@njit(cache=False)
def start(nrn, neuron, stream):
    for i in range(nrn.size):
        draw_next_arrival(stream[i], 0, 0.0)
        refresh_next_poisson(nrn[i], neuron[i], stream)


@njit(cache=False)
def catch_up_all(nrn, neuron, stream, ctl, win, windows, w):
    c = ctl[0]
    for k in range(1, windows + 1):
        t = k * w
        e = frame_exp(t, 0.0, c.base, Q)
        c.win_n = 0
        for i in range(nrn.size):
            r = nrn[i]
            if needs_catch_up(r, t, 0.0, e):
                catch_up(r, neuron[i], i, t, 0.0, e, Q, c, stream, win, False)
    return c.ext_events


@njit(cache=False)
def gaps(stream, m):
    s = 0.0
    for _ in range(m):
        s += exponential_gap(stream[0], 20.0)
    return s


@njit(cache=False)
def times(m):
    t, f = 0, 0.0
    for k in range(m):
        t, f = add_ms(t, f, 0.05 + (k & 7) * 1e-3)
    return t


@njit(cache=False)
def draws(stream, m):
    sr = stream[0]
    for _ in range(m):
        draw_next_arrival(sr, sr.next_tick, sr.next_frac)
    return sr.next_tick


@njit(cache=False)
def exps(m):
    s, t = 0.0, 0
    for k in range(m):
        t += 50_000 + (k & 255)
        s += frame_exp(t % 100_000_000, 0.37, 0, Q)
    return s


@njit(cache=False)
def from_record(nrn, stream, m):
    for _ in range(m):
        stream[0].next_tick += 1
        set_next_poisson(nrn[0], 0, stream[0])
    return nrn[0].ps_tick


@njit(cache=False)
def from_array(nrn, neuron, stream, m):
    for _ in range(m):
        stream[0].next_tick += 1
        refresh_next_poisson(nrn[0], neuron[0], stream)
    return nrn[0].ps_tick


@njit(cache=False)
def counter_pairs(m):
    s = 0
    for _ in range(m):
        t0 = cycle_counter()
        s += cycle_counter() - t0
    return s


def best(f, *args):
    f(*args)
    runs = []
    for _ in range(5):
        t0 = time.thread_time()
        f(*args)
        runs.append(time.thread_time() - t0)
    return min(runs) / M * 1e9


def whole(n, w):
    """ns per arrival of catch_up over n neurons, windows of w ticks; and the spikes."""
    windows = max(2, int(3e7 / (n * 20 * w / 1e6)))
    runs = []
    for _ in range(4):
        nrn, neuron, stream = neurons(n)
        ctl, win = np.zeros(1, K.CTL), np.empty(n * 64, K.SPIKE)
        t0 = time.thread_time()
        ev = catch_up_all(nrn, neuron, stream, ctl, win, windows, w)
        runs.append((time.thread_time() - t0) / ev * 1e9)
    return min(runs[1:]), int(ctl[0]["spikes"])


def main():
    nrn, neuron, stream = neurons(1)
    rows = [("exponential gap (SplitMix64 + ziggurat)", best(gaps, stream, M)),
            ("add_ms ((tick, frac) + gap)", best(times, M)),
            ("draw_next_arrival (gap, add_ms, store)", best(draws, stream, M)),
            ("frame_exp", best(exps, M)),
            ("next arrival from the stream's record", best(from_record, nrn, stream, M)),
            ("next arrival from the stream array (a call)", best(from_array, nrn, neuron, stream, M)),
            ("cycle counter, a pair of reads", best(counter_pairs, M))]
    for name, ns in rows:
        print(f"{name:48s} {ns:7.1f} ns")
    for n, w in ((64, 100_000), (12_500, 1_500_000)):
        ns, spikes = whole(n, w)
        print(f"{'catch_up per arrival, %d neurons' % n:48s} {ns:7.1f} ns  ({spikes} spikes)")


if __name__ == "__main__":
    main()
