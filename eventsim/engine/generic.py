"""The generic path: neurons of any model (``lif`` with an adaptive threshold, ``qif``) in the compiled loop.

It mirrors the reference engine's per-model interface (``ReferenceOps``): a neuron's model state
``(V, x1, x2)`` is kept at its state time in its GEN record and changes only where the reference
engine changes it (an accepted input batch or Poisson arrival, a current change, a spike, the end of
the refractory period); after each change the model's exact time to its next spike is computed
(:func:`set_state`) and becomes the neuron's next own event (``ctick, cfrac``) and its wake-up. Samples
and window ends only read the state. The closed forms are the model modules' own functions
(:mod:`eventsim.models.lif`, :mod:`eventsim.models.qif`, compiled here through ``register_jitable``),
so both engines compute the same float64 operations.

Plain LIF neurons (``delta_theta = 0``) never come here: they keep the time-invariant frame
(:mod:`eventsim.engine.lif_frame`). The delivery paths branch on ``NSTATE.model`` (first cache
line) and call these functions with the neuron's NSTATE record ``r``, NEURON record ``nr`` and GEN
record ``g`` (plain pointers, no reference counting).

A model on this path provides, by its ``GEN_*`` code: :func:`advance`, :func:`advance_clamped`,
:func:`receive` (a batch's exact sum), :func:`fires`, :func:`reset` and :func:`time_to_spike`.
"""

from __future__ import annotations

import math

from numba import njit

from eventsim.engine.clock import add_ms, draw_next_arrival, elapsed_ms, refresh_next_poisson, time_lt
from eventsim.engine.records import (BATCH_MULTI, BATCH_NONE, BATCH_OPEN, GEN_LIF, MAX_AHEAD_MS, NEVER, _OPTS,
                                     record_spike)
from eventsim.models import lif, qif


# ---------------------------------------------------------------------------------------------
# Per-model operations, dispatched on the model code (NSTATE.model); state (V, x1, x2), ms, mV, pA
# ---------------------------------------------------------------------------------------------
@njit(**_OPTS)
def advance(model, g, v, x1, x2, dt, I):
    """State ``dt`` ms later with no input and injected current ``I`` (pA)."""
    if model == GEN_LIF:
        v, x1 = lif.advance(v, x1, dt, lif.v_inf(g.E_L, I, g.tau_m, g.C_m), g.tau_m, g.tau_theta)
        return v, x1, x2
    return qif.free_potential(dt, v, g.E_L, g.V_c, g.tau_m, g.C_m, I), x1, x2


@njit(**_OPTS)
def advance_clamped(model, g, v, x1, x2, dt):
    """State ``dt`` ms later while V is clamped at V_reset (refractory)."""
    if model == GEN_LIF:
        v, x1 = lif.advance_clamped(v, x1, dt, g.tau_theta)
    return v, x1, x2


@njit(inline="always", **_OPTS)
def receive(model, v, x1, x2, s):
    """A batch of delta inputs whose exact sum, rounded once, is ``s`` (mV): V jumps by it.

    (A model with current synapses would take its batch's sums per sign here.)"""
    return v + s, x1, x2


@njit(**_OPTS)
def fires(model, g, v, x1, x2):
    """Has the state reached threshold (``V >= V_th + a``; ``V >= V_peak``)?"""
    if model == GEN_LIF:
        return lif.fires(v, x1, g.V_th)
    return v >= g.V_th


@njit(**_OPTS)
def reset(model, g, v, x1, x2):
    """State right after a spike."""
    if model == GEN_LIF:
        v, x1 = lif.reset(x1, g.V_reset, g.delta_theta)
        return v, x1, x2
    return g.V_reset, x1, x2


@njit(**_OPTS)
def time_to_spike(model, g, v, x1, x2, I):
    """Exact time in ms to the next spike with no input and current ``I`` (pA); inf if none."""
    if model == GEN_LIF:
        return lif.adaptive_crossing_time(v, x1, lif.v_inf(g.E_L, I, g.tau_m, g.C_m), g.V_th, g.tau_m,
                                          g.tau_theta)
    return qif.time_to_peak(v, g.V_th, g.E_L, g.V_c, g.tau_m, g.C_m, I)


# ---------------------------------------------------------------------------------------------
# The neuron on the generic path: r its NSTATE record, nr its NEURON record, g its GEN record
# ---------------------------------------------------------------------------------------------
@njit(**_OPTS)
def state_at(r, g, tick, frac):
    """Model state at t (at or after the state time, every own event before t processed), not stored."""
    dt = elapsed_ms(tick, frac, g.t_tick, g.t_frac)
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        return advance_clamped(r.model, g, g.V, g.x1, g.x2, dt)
    return advance(r.model, g, g.V, g.x1, g.x2, dt, r.I)


@njit(**_OPTS)
def set_state(r, g, tick, frac, v, x1, x2):
    """The neuron is in state ``(v, x1, x2)`` at t, not refractory: store it and predict its next spike."""
    g.t_tick, g.t_frac, g.V, g.x1, g.x2 = tick, frac, v, x1, x2
    x = time_to_spike(r.model, g, v, x1, x2, r.I)
    if x < MAX_AHEAD_MS:  # (inf or NaN: none)
        r.ctick, r.cfrac = add_ms(tick, frac, x)
    else:
        r.ctick, r.cfrac = NEVER, 0.0


@njit(**_OPTS)
def fire(r, nr, g, i, tick, frac, v, x1, x2, crossing, c, win):
    """Neuron i, in state ``(v, x1, x2)``, spikes at t: record it, reset, start the refractory period
    (whose end is then the neuron's next own event)."""
    record_spike(i, tick, frac, crossing, c, win)
    v, x1, x2 = reset(r.model, g, v, x1, x2)
    r.ref_tick, r.ref_frac = tick + nr.t_ref, frac
    if nr.t_ref > 0:
        g.t_tick, g.t_frac, g.V, g.x1, g.x2 = tick, frac, v, x1, x2
        r.ctick, r.cfrac = r.ref_tick, r.ref_frac
    else:
        set_state(r, g, tick, frac, v, x1, x2)


@njit(**_OPTS)
def after_input(r, nr, g, i, tick, frac, v, x1, x2, c, win):
    """State ``(v, x1, x2)`` right after inputs at t: fire if it reached threshold, else keep it."""
    if fires(r.model, g, v, x1, x2):
        fire(r, nr, g, i, tick, frac, v, x1, x2, False, c, win)
    else:
        set_state(r, g, tick, frac, v, x1, x2)


@njit(**_OPTS)
def own_event(r, nr, g, i, c, win):
    """Process the neuron's next own event: the end of its refractory period (V restarts from the
    clamped state), or its predicted spike."""
    tick, frac = r.ctick, r.cfrac
    if time_lt(g.t_tick, g.t_frac, r.ref_tick, r.ref_frac):
        v, x1, x2 = advance_clamped(r.model, g, g.V, g.x1, g.x2, elapsed_ms(tick, frac, g.t_tick, g.t_frac))
        set_state(r, g, tick, frac, v, x1, x2)
    else:
        v, x1, x2 = state_at(r, g, tick, frac)
        fire(r, nr, g, i, tick, frac, v, x1, x2, True, c, win)


@njit(inline="always", **_OPTS)
def needs_catch_up(r, tick, frac):
    """May the neuron have a Poisson arrival before t or an own event by t?"""
    return time_lt(r.ps_tick, r.ps_frac, tick, frac) or not time_lt(tick, frac, r.ctick, r.cfrac)


@njit(**_OPTS)
def catch_up(r, nr, g, i, tick, frac, c, stream, win, inclusive):
    """Advance the neuron through its Poisson arrivals before t and its own events up to t, in time
    order (an own event before an arrival at the same time: docs/semantics.md).

    An own event at exactly t is processed only when ``inclusive`` (before an input, current change or
    sample at t), not at a window's end (it belongs to the next window).
    """
    while True:
        due = time_lt(r.ctick, r.cfrac, tick, frac) or (inclusive and r.ctick == tick and r.cfrac == frac)
        m = r.ps_m
        poisson = m >= 0 and time_lt(r.ps_tick, r.ps_frac, tick, frac)
        if due and not (poisson and time_lt(r.ps_tick, r.ps_frac, r.ctick, r.cfrac)):
            own_event(r, nr, g, i, c, win)
        elif poisson:
            pt, pf = r.ps_tick, r.ps_frac
            if time_lt(pt, pf, r.ref_tick, r.ref_frac):
                c.discarded += 1
            else:
                v, x1, x2 = state_at(r, g, pt, pf)
                v, x1, x2 = receive(r.model, v, x1, x2, stream[m].weight)
                after_input(r, nr, g, i, pt, pf, v, x1, x2, c, win)
            c.ext_events += 1
            draw_next_arrival(stream[m], pt, pf)
            refresh_next_poisson(r, nr, stream)
        else:
            return


@njit(**_OPTS)
def close_batch(r, nr, g, i, tick, frac, c, win):
    """End the neuron's batch at t: its exact sum ``r.bw`` reaches the model, threshold tested once.
    Returns True when its next own event changed (the caller renews the wake-up)."""
    flag = r.bflag
    r.bflag = BATCH_NONE
    if flag != BATCH_OPEN and flag != BATCH_MULTI:
        return False
    v, x1, x2 = state_at(r, g, tick, frac)
    v, x1, x2 = receive(r.model, v, x1, x2, r.bw)
    after_input(r, nr, g, i, tick, frac, v, x1, x2, c, win)
    return True


@njit(**_OPTS)
def change_current(r, nr, g, i, tick, frac, delta, c, stream, win):
    """Add ``delta`` pA to the neuron's injected current from t on (a refractory neuron keeps its
    state: the current acts from the end of the refractory period)."""
    catch_up(r, nr, g, i, tick, frac, c, stream, win, True)
    if not time_lt(tick, frac, r.ref_tick, r.ref_frac):
        v, x1, x2 = state_at(r, g, tick, frac)
        if fires(r.model, g, v, x1, x2):  # only rounding puts V at threshold before its predicted spike
            fire(r, nr, g, i, tick, frac, v, x1, x2, True, c, win)
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        r.I += delta
        return
    v, x1, x2 = state_at(r, g, tick, frac)
    r.I += delta
    set_state(r, g, tick, frac, v, x1, x2)


@njit(**_OPTS)
def potential(r, nr, g, i, tick, frac, c, stream, win):
    """Membrane potential at t in mV, after the neuron's events up to t (a sample)."""
    catch_up(r, nr, g, i, tick, frac, c, stream, win, True)
    return state_at(r, g, tick, frac)[0]


@njit(**_OPTS)
def start(r, nr, g, i, c, win):
    """State at t = 0: V_init (and no adaptation); a neuron starting at threshold spikes at once."""
    v, x1, x2 = nr.V_init, 0.0, 0.0
    if fires(r.model, g, v, x1, x2):
        g.t_tick, g.t_frac = 0, 0.0
        fire(r, nr, g, i, 0, 0.0, v, x1, x2, False, c, win)
    else:
        set_state(r, g, 0, 0.0, v, x1, x2)


@njit(inline="always", **_OPTS)
def wake_tick(r):
    """The neuron's wake-up: its next Poisson arrival or own event, whichever is first (ticks)."""
    return r.ps_tick if r.ps_tick < r.ctick else r.ctick
