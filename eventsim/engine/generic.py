"""The generic path: neurons of any model (``lif`` with an adaptive threshold, ``qif``, ``lif_psc_exp``) in the
compiled loop.

It mirrors the reference engine's per-model interface (``ReferenceOps``): a neuron's model state
``(V, x1, x2)`` is kept at its state time in its GEN record and changes only where the reference
engine changes it (an accepted input batch or Poisson arrival, a current change, a spike, the end of
the refractory period); after each change the model's exact time to its next spike is computed
(:func:`set_state`) and becomes the neuron's next own event (``ctick, cfrac``) and its wake-up. Samples
and window ends only read the state. The closed forms are the model modules' own functions
(:mod:`eventsim.models.lif`, :mod:`eventsim.models.qif`, :mod:`eventsim.models.lif_psc_exp`, compiled
here through ``register_jitable``), so both engines compute the same float64 operations.

``lif_psc_exp`` differs from the delta models in two ways. Its batch has two exact sums, one per sign
(:func:`open_psc_batch`, :func:`add_inhibitory`, :func:`close_psc_batch`): each current becomes the
``math.fsum`` of its value before the batch and the batch's weights of its sign. And it receives inputs
while refractory: they change its currents (the state time moves, V stays clamped, no threshold test)
and the end of the refractory period stays its next own event.

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
from eventsim.engine.cycles import ACT_CROSSING, ACT_POISSON, activity_of, mark_activity
from eventsim.engine.exact_sum import add_exactly, add_inexact, rounded_sum_with
from eventsim.engine.records import (BATCH_MULTI, BATCH_NONE, BATCH_OPEN, BATCH_REFRACTORY, CURRENT, FALSE, GEN_LIF,
                                     GEN_LIF_PSC_EXP, INPUTS, MAX_AHEAD_MS, NEVER, TRUE, ZERO, _OPTS, record_spike)
from eventsim.models import lif, lif_psc_exp, qif
from eventsim.models.spec import MIN_PERIOD_MS


# ---------------------------------------------------------------------------------------------
# Per-model operations, dispatched on the model code (NSTATE.model); state (V, x1, x2), ms, mV, pA
# ---------------------------------------------------------------------------------------------
@njit(inline="always", **_OPTS)
def _psc_params(g, I):
    """``lif_psc_exp``'s parameters from its GEN record, injected current ``I`` (pA) as ``I_e``
    (t_ref and V_init are not read by the closed forms)."""
    return lif_psc_exp.PscExpParams(g.C_m, g.tau_m, g.tau_syn_ex, g.tau_syn_in, g.E_L, g.V_th, g.V_reset, 0.0, I,
                                    0.0)


@njit(**_OPTS)
def advance(model, g, v, x1, x2, dt, I):
    """State ``dt`` ms later with no input and injected current ``I`` (pA)."""
    if model == GEN_LIF:
        v, x1 = lif.advance(v, x1, dt, lif.v_inf(g.E_L, I, g.tau_m, g.C_m), g.tau_m, g.tau_theta)
        return v, x1, x2
    if model == GEN_LIF_PSC_EXP:
        return lif_psc_exp.propagate(_psc_params(g, I), v, x1, x2, dt)
    return qif.free_potential(dt, v, g.E_L, g.V_c, g.tau_m, g.C_m, I), x1, x2


@njit(**_OPTS)
def advance_clamped(model, g, v, x1, x2, dt):
    """State ``dt`` ms later while V is clamped at V_reset (refractory); currents keep decaying."""
    if model == GEN_LIF:
        v, x1 = lif.advance_clamped(v, x1, dt, g.tau_theta)
    elif model == GEN_LIF_PSC_EXP:
        _, x1, x2 = lif_psc_exp.propagate_refractory(_psc_params(g, 0.0), x1, x2, dt)
    return v, x1, x2


@njit(inline="always", **_OPTS)
def receive(model, v, x1, x2, s):
    """One input, or a delta model's batch whose exact sum, rounded once, is ``s`` (mV: V jumps by
    it; pA onto ``lif_psc_exp``: the current of its sign). A ``lif_psc_exp`` batch of several inputs
    closes in :func:`close_psc_batch` instead."""
    if model == GEN_LIF_PSC_EXP:
        x1, x2 = lif_psc_exp.receive(x1, x2, s)
        return v, x1, x2
    return v + s, x1, x2


@njit(inline="always", **_OPTS)
def receives_while_refractory(model):
    """Do inputs during the refractory period change the state (``lif_psc_exp``'s currents), or are
    they discarded (the delta models)?"""
    return model == GEN_LIF_PSC_EXP


@njit(**_OPTS)
def fires(model, g, v, x1, x2):
    """Has the state reached threshold (``V >= V_th + a``; ``V >= V_peak``; ``V >= V_th``)?"""
    if model == GEN_LIF:
        return lif.fires(v, x1, g.V_th)
    return v >= g.V_th


@njit(**_OPTS)
def reset(model, g, v, x1, x2):
    """State right after a spike (``lif_psc_exp``: V_reset, the currents unchanged)."""
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
    if model == GEN_LIF_PSC_EXP:
        return lif_psc_exp.time_to_spike(_psc_params(g, I), v, x1, x2)
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
    """The neuron is in state ``(v, x1, x2)`` at t, not refractory: store it and predict its next spike.
    Returns the time to it, ms (inf: none)."""
    g.t_tick, g.t_frac, g.V, g.x1, g.x2 = tick, frac, v, x1, x2
    x = time_to_spike(r.model, g, v, x1, x2, r.I)
    if x < MAX_AHEAD_MS:  # (inf or NaN: none)
        r.ctick, r.cfrac = add_ms(tick, frac, x)
    else:
        r.ctick, r.cfrac = NEVER, 0.0
    return x


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
    elif set_state(r, g, tick, frac, v, x1, x2) < MIN_PERIOD_MS:
        # A synaptic current (lif_psc_exp) can drive a t_ref = 0 neuron to fire again within the
        # resolution of crossing times, without end: stop it, and the run at the window's end.
        if c.runaway == 0:
            c.runaway, c.runaway_tick, c.runaway_frac = i + 1, tick, frac
        r.ctick, r.cfrac = NEVER, 0.0


@njit(**_OPTS)
def after_input(r, nr, g, i, tick, frac, v, x1, x2, c, win):
    """State ``(v, x1, x2)`` right after inputs at t: fire if it reached threshold, else keep it."""
    if fires(r.model, g, v, x1, x2):
        fire(r, nr, g, i, tick, frac, v, x1, x2, FALSE, c, win)
    else:
        was = activity_of(c)
        mark_activity(c, ACT_CROSSING)  # set_state predicts the next crossing (time_to_spike)
        set_state(r, g, tick, frac, v, x1, x2)
        mark_activity(c, was)


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
        fire(r, nr, g, i, tick, frac, v, x1, x2, TRUE, c, win)


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
    was = activity_of(c)
    while True:
        due = time_lt(r.ctick, r.cfrac, tick, frac) or (inclusive and r.ctick == tick and r.cfrac == frac)
        m = r.ps_m
        poisson = m >= 0 and time_lt(r.ps_tick, r.ps_frac, tick, frac)
        if due and not (poisson and time_lt(r.ps_tick, r.ps_frac, r.ctick, r.cfrac)):
            mark_activity(c, ACT_CROSSING)
            own_event(r, nr, g, i, c, win)
        elif poisson:
            mark_activity(c, ACT_POISSON)
            pt, pf = r.ps_tick, r.ps_frac
            if time_lt(pt, pf, r.ref_tick, r.ref_frac):
                if receives_while_refractory(r.model):
                    v, x1, x2 = state_at(r, g, pt, pf)
                    v, x1, x2 = receive(r.model, v, x1, x2, stream[m].weight)
                    _store(g, pt, pf, v, x1, x2)
                else:
                    c.discarded += 1
            else:
                v, x1, x2 = state_at(r, g, pt, pf)
                v, x1, x2 = receive(r.model, v, x1, x2, stream[m].weight)
                after_input(r, nr, g, i, pt, pf, v, x1, x2, c, win)
            c.ext_events += 1
            draw_next_arrival(stream[m], pt, pf)
            refresh_next_poisson(r, nr, stream)
        else:
            mark_activity(c, was)
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


@njit(inline="always", **_OPTS)
def _store(g, tick, frac, v, x1, x2):
    """Keep the state of a refractory neuron at t (no threshold test, no prediction: the end of its
    refractory period stays its next own event)."""
    g.t_tick, g.t_frac, g.V, g.x1, g.x2 = tick, frac, v, x1, x2


@njit(inline="always", **_OPTS)
def open_psc_batch(r, g, w):
    """First input (``w`` pA) of a ``lif_psc_exp`` neuron's batch, refractory or not: the excitatory
    sum is NSTATE's (``r.bw``; 0.0 when the batch has none: ``I_ex`` is never -0.0, so ``I_ex + 0.0``
    is ``I_ex`` bit for bit), the inhibitory one GEN's (``g.bflag`` BATCH_NONE when it has none)."""
    r.bflag = BATCH_OPEN
    if w >= 0.0:
        r.bw = w
    else:
        r.bw = 0.0
        g.bw = w
        g.bflag = BATCH_OPEN


@njit(**_OPTS)
def add_inhibitory(g, w, side, c):
    """A further input of ``w`` < 0 pA to a ``lif_psc_exp`` neuron's open batch: its inhibitory sum
    (exact, as :mod:`eventsim.engine.exact_sum` keeps NSTATE's)."""
    if g.bflag == BATCH_NONE:
        g.bw = w
        g.bflag = BATCH_OPEN
    elif not add_exactly(g, w):
        add_inexact(g, w, side, c)


@njit(inline="always", **_OPTS)
def _current_after(s, current, side, c):
    """``math.fsum([current, *weights])`` for a batch's sum ``s`` of one sign (NSTATE or GEN record):
    one rounding of ``current + bw`` while ``bw`` is the weights' exact sum (BATCH_OPEN), else the
    chained partials with the current, rounded once; ``current`` unchanged if there are none."""
    if s.bflag == BATCH_OPEN:
        return current + s.bw
    if s.bflag == BATCH_MULTI:
        return rounded_sum_with(side, s.chain, c.side_n, current)
    return current


@njit(**_OPTS)
def close_psc_batch(r, nr, g, i, tick, frac, c, win, side):
    """:func:`close_batch` for ``lif_psc_exp``: each current becomes the exact sum of its value at t and
    the batch's weights of its sign, rounded once (as ``lif_psc_exp.receive_batch``); while refractory
    the state is kept without a threshold test. Returns True when its next own event changed."""
    if r.bflag != BATCH_OPEN and r.bflag != BATCH_MULTI:
        r.bflag = BATCH_NONE
        return False
    v, x1, x2 = state_at(r, g, tick, frac)
    x1 = _current_after(r, x1, side, c)
    x2 = _current_after(g, x2, side, c)
    r.bflag = BATCH_NONE
    g.bflag = BATCH_NONE
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        _store(g, tick, frac, v, x1, x2)
        return False
    after_input(r, nr, g, i, tick, frac, v, x1, x2, c, win)
    return True


@njit(**_OPTS)
def bucket_entry(r, nr, g, i, kind, ti, bt_tick, bt_frac, tick, frac, x, c, stream, win, side):
    """One bucket entry of kind INPUTS, CURRENT or SAMPLE (``x``: the input's weight, mV or pA, or the
    current's change, pA) at (tick, frac), time index ti: close the neuron's open batch (at its time
    ``(bt_tick, bt_frac)``), catch up, then open a batch, change the current or sample. Returns the
    sampled potential (mV; NaN for other kinds). ``side``: the batches' partials (``lif_psc_exp``)."""
    if r.bt >= 0:
        if r.model == GEN_LIF_PSC_EXP:
            close_psc_batch(r, nr, g, i, bt_tick, bt_frac, c, win, side)
        else:
            close_batch(r, nr, g, i, bt_tick, bt_frac, c, win)
    r.bt = ti
    if kind == INPUTS:
        if needs_catch_up(r, tick, frac):
            catch_up(r, nr, g, i, tick, frac, c, stream, win, TRUE)
        if r.model == GEN_LIF_PSC_EXP:  # refractory or not: its currents take the input
            open_psc_batch(r, g, x)
        elif time_lt(tick, frac, r.ref_tick, r.ref_frac):
            r.bflag = BATCH_REFRACTORY
            c.discarded += 1
        else:
            r.bw = x
            r.bflag = BATCH_OPEN
        return math.nan
    if kind == CURRENT:
        change_current(r, nr, g, i, tick, frac, x, c, stream, win)
        return math.nan
    return potential(r, nr, g, i, tick, frac, c, stream, win)


@njit(**_OPTS)
def change_current(r, nr, g, i, tick, frac, delta, c, stream, win):
    """Add ``delta`` pA to the neuron's injected current from t on (a refractory neuron keeps its
    state: the current acts from the end of the refractory period)."""
    catch_up(r, nr, g, i, tick, frac, c, stream, win, TRUE)
    if not time_lt(tick, frac, r.ref_tick, r.ref_frac):
        v, x1, x2 = state_at(r, g, tick, frac)
        if fires(r.model, g, v, x1, x2):  # only rounding puts V at threshold before its predicted spike
            fire(r, nr, g, i, tick, frac, v, x1, x2, TRUE, c, win)
    if time_lt(tick, frac, r.ref_tick, r.ref_frac):
        r.I += delta
        return
    v, x1, x2 = state_at(r, g, tick, frac)
    r.I += delta
    set_state(r, g, tick, frac, v, x1, x2)


@njit(**_OPTS)
def potential(r, nr, g, i, tick, frac, c, stream, win):
    """Membrane potential at t in mV, after the neuron's events up to t (a sample)."""
    catch_up(r, nr, g, i, tick, frac, c, stream, win, TRUE)
    return state_at(r, g, tick, frac)[0]


@njit(**_OPTS)
def start(r, nr, g, i, c, win):
    """State at t = 0: V_init (and no adaptation); a neuron starting at threshold spikes at once."""
    v, x1, x2 = nr.V_init, 0.0, 0.0
    if fires(r.model, g, v, x1, x2):
        g.t_tick, g.t_frac = 0, 0.0
        fire(r, nr, g, i, ZERO, 0.0, v, x1, x2, FALSE, c, win)
    else:
        set_state(r, g, ZERO, 0.0, v, x1, x2)


@njit(inline="always", **_OPTS)
def wake_tick(r):
    """The neuron's wake-up: its next Poisson arrival or own event, whichever is first (ticks)."""
    return r.ps_tick if r.ps_tick < r.ctick else r.ctick
