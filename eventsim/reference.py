"""The reference engine: a pure-Python oracle that implements docs/semantics.md event by event.

Written for clarity, not speed (a few microseconds per event), and with a different algorithm
from the compiled engine, so that the test suite can check one against the other:

* **One global event queue.** Every synaptic delivery, Poisson arrival, scheduled arrival, current
  change, voltage sample, end of a refractory period and predicted threshold crossing is an event
  in a :class:`sortedcontainers.SortedList`, ordered by the explicit key
  ``(tick, frac, kind, neuron, seq)``. ``kind`` encodes the order of simultaneous events at one
  neuron (docs/semantics.md, "Simultaneous events at one neuron"); ``seq`` is a push counter, so
  ties never fall back on comparing payloads. Push and pop cost O(log n) for n queued events.
* **Closed forms from the model modules.** A neuron keeps its model state (``(V, a)`` for ``lif``,
  ``(V,)`` for ``qif``, ``(V, I_ex, I_in)`` for ``lif_psc_exp``) at its last update time ``t0``.
  Everything model-specific goes through the model's ``ReferenceOps`` (:mod:`eventsim.models`):
  advance the state to t, apply a batch of inputs (the model gets their weights), test / reset,
  time to the next autonomous spike, whether inputs during ``t_ref`` are kept. Populations of
  different models mix freely: the engine only routes events.
* **Predicted crossings with lazy invalidation.** Each update of a neuron pushes its next
  autonomous spike (``ReferenceOps.time_to_spike``, e.g. ``t0 + tau_m ln((V - V_inf) / (V_th -
  V_inf))`` for plain LIF) tagged with the neuron's version counter. Every later update bumps the
  counter, so a crossing that an input advanced, delayed or cancelled is recognised as stale when
  it is popped and never fires.

The engine reads only a :class:`~eventsim.prepared.Prepared`; its public interface (``advance``,
``now_tick``, ``spikes``, ``voltages``, ``counters``) is the same as the compiled engine's.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from types import SimpleNamespace

import numpy as np
from sortedcontainers import SortedList

from .errors import ValidationError
from .models import REGISTRY
from .models.spec import MIN_PERIOD_MS
from .prepared import Prepared
from .rng import exponential_gap
from .timebase import TICK_MS, TICKS_PER_MS
from .workload import runaway_error

__all__ = ["ReferenceEngine", "add_ms"]

# Event kinds, in the order in which simultaneous events at one neuron are handled.
REF_END = 0  # end of the refractory period (input at exactly t_s + t_ref counts)
CROSSING = 1  # predicted autonomous spike (threshold crossing) or the V_init >= V_th spike at 0
CURRENT = 2  # change of injected current
INPUT = 3  # synaptic or scheduled arrival; all at one (time, neuron) go to the model together, tested once
POISSON = 4  # Poisson arrival: a separate input with its own threshold test
SAMPLE = 5  # membrane-potential sample, after everything else at that time

# Version tag of the crossing event that makes a neuron with V_init >= V_th spike at t = 0.
_INITIAL = -1

_ARRAYS = (
    "pop_start", "V_init", "I_e", "t_ref", "model_id",
    "proj_pre_pop", "proj_rowptr_start", "rowptr", "syn_target", "proj_weight",
    "proj_weight_shift", "syn_weight", "proj_delay", "proj_delay_shift", "syn_delay",
    "pop_proj_ptr", "pop_proj", "ps_target", "ps_rate", "ps_weight", "ps_start", "ps_stop",
    "ps_key", "sa_tick", "sa_frac", "sa_target", "sa_weight", "cc_tick", "cc_frac", "cc_target",
    "cc_delta", "vs_tick", "vs_frac", "vs_target", "vs_slot", "record_spikes",
)


def add_ms(tick: int, frac: float, x_ms: float) -> tuple[int, float]:
    """Add a non-negative duration in ms to the time ``(tick, frac)``.

    Exactly the arithmetic of docs/semantics.md (``y = frac + x * 1e6``, ``k = floor(y)``,
    result ``(tick + k, y - k)``), so both engines produce bit-identical Poisson arrival times.
    """
    y = frac + x_ms * TICKS_PER_MS
    k = math.floor(y)
    return tick + k, y - k


def elapsed_ms(tick: int, frac: float, tick0: int, frac0: float) -> float:
    """Duration from ``(tick0, frac0)`` to ``(tick, frac)`` in ms (rounded to float64)."""
    return (float(tick - tick0) + (frac - frac0)) * TICK_MS


class ReferenceEngine:
    """Pure-Python event-driven simulation of a prepared network (the test oracle).

    Parameters
    ----------
    prepared : Prepared
        The network as flat arrays (not modified).

    Attributes
    ----------
    now_tick : int
        Every event before ``(now_tick, 0.0)`` has been processed; starts at 0.
    voltages : numpy.ndarray of float64, shape (R,)
        Membrane-potential samples in mV indexed by ``vs_slot``; NaN until sampled.
    counters : dict of str to int
        ``syn_events`` (synaptic deliveries, including discarded ones), ``ext_events`` (Poisson and
        scheduled arrivals, including discarded ones), ``discarded`` (inputs dropped because the
        target was refractory), ``spikes`` (all neurons, recorded or not), ``crossing_spikes``
        (autonomous spikes: threshold crossings between events; the spike at t = 0 of a neuron
        starting at threshold is not one).
    """

    def __init__(self, prepared: Prepared):
        net = SimpleNamespace(**{name: getattr(prepared, name).tolist() for name in _ARRAYS})
        net.pop_names = list(prepared.pop_names)
        net.pop_of = (np.searchsorted(prepared.pop_start, np.arange(prepared.n_neurons), "right") - 1).tolist()
        self._net = net
        self._prepared = prepared
        n = prepared.n_neurons
        self.now_tick = 0
        self.voltages = np.full(prepared.vs_slot.size, np.nan)
        self.counters = {"syn_events": 0, "ext_events": 0, "discarded": 0, "spikes": 0, "crossing_spikes": 0}
        self._queue = SortedList()
        self._seq = 0
        # Neuron state: the model's operations, its state at time t0 (V clamped at V_reset while
        # refractory), injected current, end of the refractory period (None when not
        # refractory), crossing version.
        ops = [m.ReferenceOps(prepared) for m in REGISTRY.values()]
        self._ops = [ops[k] for k in net.model_id]
        self._state = [self._ops[i].initial_state(i, v) for i, v in enumerate(net.V_init)]
        self._t0 = [(0, 0.0)] * n
        self._I = list(net.I_e)
        self._ref_end: list[tuple[int, float] | None] = [None] * n
        self._version = [0] * n
        self._ps_state = [int(k) for k in net.ps_key]
        self._recorded: list[tuple[int, float, int]] = []
        self._handlers = (self._on_ref_end, self._on_crossing, self._on_current, self._on_input,
                          self._on_poisson, self._on_sample)
        self._schedule_initial()

    # ------------------------------------------------------------------------------------------
    # Public interface
    # ------------------------------------------------------------------------------------------
    def advance(self, stop_tick: int, progress=None, chunk_seconds: float = 0.25) -> None:
        """Process every event with time ``< (stop_tick, 0.0)``, then set ``now_tick = stop_tick``.

        Events are processed in chunks of about ``chunk_seconds`` of wall time, each ending at a
        whole tick; ``advance(a); advance(b)`` gives bit-identical results to ``advance(b)`` alone,
        whatever the chunks.

        Parameters
        ----------
        stop_tick : int
            Simulated time to reach, in ticks.
        progress : callable, optional
            Called as ``progress(now_tick)`` after each chunk; an exception it raises (e.g.
            ``KeyboardInterrupt``) stops the run there, with ``now_tick`` the time simulated.
        chunk_seconds : float
            Wall time per chunk.

        Raises
        ------
        ValidationError
            If ``stop_tick < now_tick``.
        """
        stop_tick = int(stop_tick)
        if stop_tick < self.now_tick:
            raise ValidationError("stop_tick", f"{stop_tick} is before now_tick={self.now_tick}")
        while True:
            self.now_tick = self._process_until(stop_tick, time.perf_counter() + chunk_seconds)
            if progress is not None:
                progress(self.now_tick)
            if self.now_tick >= stop_tick:
                return

    def _process_until(self, stop_tick: int, deadline: float) -> int:
        """Process events before ``stop_tick`` until the wall clock passes ``deadline``; then finish
        the tick being processed and return the tick reached (``stop_tick`` when done)."""
        queue = self._queue
        n = 0
        while queue and queue[0][0] < stop_tick:
            tick, frac, kind, i, _seq, data = queue.pop(0)
            self._handlers[kind](tick, frac, i, data)
            n += 1
            if n % 1024 == 0 and time.perf_counter() > deadline:
                # every event before the next whole tick, so that the chunk ends on a tick
                while queue and queue[0][0] <= tick:
                    t, f, kind, i, _seq, data = queue.pop(0)
                    self._handlers[kind](t, f, i, data)
                return tick + 1
        return stop_tick

    def spikes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recorded spikes as ``(ids int64, ticks int64, fracs float64)``, sorted by (tick, frac, id)."""
        rows = sorted(self._recorded)
        ids = np.array([r[2] for r in rows], dtype=np.int64)
        ticks = np.array([r[0] for r in rows], dtype=np.int64)
        fracs = np.array([r[1] for r in rows], dtype=np.float64)
        return ids, ticks, fracs

    def _check(self) -> None:
        """Assert the invariants of the queue and the neuron state (tests call this)."""
        self._queue._check()
        seqs = [ev[4] for ev in self._queue]
        assert len(set(seqs)) == len(seqs) and all(0 <= s < self._seq for s in seqs)
        for tick, frac, kind, i, _seq, _data in self._queue:
            assert tick >= self.now_tick and 0.0 <= frac < 1.0 and kind in range(6)
            assert 0 <= i < len(self._state)
        if self.now_tick == 0:
            return  # initial state: V_init may still be >= V_th (its spike at t = 0 is pending)
        for i, ref_end in enumerate(self._ref_end):
            if ref_end is None:
                assert self._t0[i] < (self.now_tick, 0.0) and not self._ops[i].fires(i, self._state[i])
            else:
                assert ref_end >= (self.now_tick, 0.0)

    # ------------------------------------------------------------------------------------------
    # Queue
    # ------------------------------------------------------------------------------------------
    def _push(self, tick: int, frac: float, kind: int, i: int, data) -> None:
        """Queue one event; O(log n)."""
        self._queue.add((tick, frac, kind, i, self._seq, data))
        self._seq += 1

    def _schedule_initial(self) -> None:
        """Queue the initial spikes and crossings, stimuli, current changes, samples, Poisson arrivals."""
        net = self._net
        for i, state in enumerate(self._state):
            if self._ops[i].fires(i, state):
                self._push(0, 0.0, CROSSING, i, _INITIAL)
            else:
                self._predict_crossing(i)
        for tick, frac, i, w in zip(net.sa_tick, net.sa_frac, net.sa_target, net.sa_weight):
            self._push(tick, frac, INPUT, i, (w, False))
        for tick, frac, i, delta in zip(net.cc_tick, net.cc_frac, net.cc_target, net.cc_delta):
            self._push(tick, frac, CURRENT, i, delta)
        for tick, frac, i, slot in zip(net.vs_tick, net.vs_frac, net.vs_target, net.vs_slot):
            self._push(tick, frac, SAMPLE, i, slot)
        for m, start in enumerate(net.ps_start):
            self._next_poisson(m, start, 0.0)

    def _next_poisson(self, m: int, tick: int, frac: float) -> None:
        """Draw stream m's next gap after ``(tick, frac)``; queue the arrival unless it is >= stop."""
        net = self._net
        self._ps_state[m], gap = exponential_gap(self._ps_state[m], net.ps_rate[m])
        tick, frac = add_ms(tick, frac, gap)
        if tick < net.ps_stop[m]:
            self._push(tick, frac, POISSON, net.ps_target[m], m)

    # ------------------------------------------------------------------------------------------
    # The neuron
    # ------------------------------------------------------------------------------------------
    def _refractory(self, i: int, tick: int, frac: float) -> bool:
        ref_end = self._ref_end[i]
        return ref_end is not None and (tick, frac) < ref_end

    def _state_at(self, i: int, tick: int, frac: float) -> tuple:
        """Model state of neuron i at t (not before its last update); V is V_reset while refractory."""
        t0, f0 = self._t0[i]
        dt = elapsed_ms(tick, frac, t0, f0)
        if self._refractory(i, tick, frac):
            return self._ops[i].advance_clamped(i, self._state[i], dt)
        return self._ops[i].advance(i, self._state[i], dt, self._I[i])

    def _set_state(self, i: int, tick: int, frac: float, state: tuple) -> float:
        """Neuron i has ``state`` at t: invalidate its pending crossing and predict a new one; returns
        the time to it in ms (inf: none)."""
        self._state[i] = state
        self._t0[i] = (tick, frac)
        self._version[i] += 1
        return self._predict_crossing(i)

    def _predict_crossing(self, i: int) -> float:
        """Queue neuron i's next autonomous spike under its present current, if it has one; returns
        the time to it in ms (inf: none)."""
        x = self._ops[i].time_to_spike(i, self._state[i], self._I[i])
        if math.isfinite(x):
            tick, frac = add_ms(*self._t0[i], x)
            self._push(tick, frac, CROSSING, i, self._version[i])
        return x

    def _fire(self, i: int, tick: int, frac: float, state: tuple, crossing: bool) -> None:
        """Neuron i (in ``state`` at t) spikes at t: count, record, deliver, reset, start its refractory period."""
        net = self._net
        self.counters["spikes"] += 1
        self.counters["crossing_spikes"] += crossing
        if net.record_spikes[i]:
            self._recorded.append((tick, frac, i))
        self._deliver(i, tick, frac)
        state = self._ops[i].reset(i, state)
        t_ref = net.t_ref[i]
        if t_ref > 0:
            self._state[i], self._t0[i] = state, (tick, frac)
            self._version[i] += 1  # no crossing while refractory; REF_END predicts the next one
            self._ref_end[i] = (tick + t_ref, frac)
            self._push(tick + t_ref, frac, REF_END, i, None)
        elif self._set_state(i, tick, frac, state) < MIN_PERIOD_MS:
            # A synaptic current (lif_psc_exp) can drive a t_ref = 0 neuron so hard that its period is
            # below what crossing times resolve: it would fire ~1e12 times per ms, each tick never ending
            # (so a progress callback never ran either). The constant-current case is refused before
            # the run (eventsim.workload); this one depends on the inputs, so it is refused here.
            raise runaway_error(self._prepared, i, tick, frac)

    def _deliver(self, i: int, tick: int, frac: float) -> None:
        """Queue one INPUT event per synapse leaving neuron i; delays are whole ticks (exact)."""
        net = self._net
        pop = net.pop_of[i]
        for j in net.pop_proj[net.pop_proj_ptr[pop]:net.pop_proj_ptr[pop + 1]]:
            k = i - net.pop_start[net.proj_pre_pop[j]]
            o = net.proj_rowptr_start[j]
            w_j, d_j = net.proj_weight[j], net.proj_delay[j]
            for s in range(net.rowptr[o + k], net.rowptr[o + k + 1]):
                w = net.syn_weight[s + net.proj_weight_shift[j]] if math.isnan(w_j) else w_j
                d = net.syn_delay[s + net.proj_delay_shift[j]] if d_j < 0 else d_j
                self._push(tick + d, frac, INPUT, net.syn_target[s], (w, True))

    def _receive(self, i: int, tick: int, frac: float, weights: list[float]) -> None:
        """Inputs of the given weights reach neuron i at t together; test once.

        The model takes the batch's weights (a delta model sums them, ``lif_psc_exp`` adds each to
        the current of its sign). While refractory they are discarded, or, for a model whose
        currents keep receiving inputs, taken into the clamped state (no test: V is clamped)."""
        ops = self._ops[i]
        if self._refractory(i, tick, frac):
            if not ops.receives_while_refractory:
                self.counters["discarded"] += len(weights)
                return
            state = ops.receive(i, self._state_at(i, tick, frac), weights)
            self._state[i], self._t0[i] = state, (tick, frac)  # still refractory: REF_END predicts the crossing
            return
        state = ops.receive(i, self._state_at(i, tick, frac), weights)
        if ops.fires(i, state):
            self._fire(i, tick, frac, state, crossing=False)
        else:
            self._set_state(i, tick, frac, state)

    # ------------------------------------------------------------------------------------------
    # Event handlers, one per kind: handler(tick, frac, neuron, data)
    # ------------------------------------------------------------------------------------------
    def _on_ref_end(self, tick: int, frac: float, i: int, _data) -> None:
        t0, f0 = self._t0[i]  # the spike, or the last input kept while refractory: V was clamped since
        state = self._ops[i].advance_clamped(i, self._state[i], elapsed_ms(tick, frac, t0, f0))
        self._ref_end[i] = None
        self._set_state(i, tick, frac, state)

    def _on_crossing(self, tick: int, frac: float, i: int, version: int) -> None:
        if version == _INITIAL:
            self._fire(i, tick, frac, self._state[i], crossing=False)
        elif version == self._version[i]:
            self._fire(i, tick, frac, self._state_at(i, tick, frac), crossing=True)
        # else: stale, an input or current change since the prediction moved or cancelled it

    def _on_current(self, tick: int, frac: float, i: int, delta: float) -> None:
        if not self._refractory(i, tick, frac):
            state = self._state_at(i, tick, frac)
            if self._ops[i].fires(i, state):
                # Only float rounding puts V at threshold before its predicted crossing; the
                # crossing then is at t, and a crossing comes before a current change at the same time.
                self._fire(i, tick, frac, state, crossing=True)
        if self._refractory(i, tick, frac):
            self._I[i] += delta  # takes effect from the end of the refractory period
            return
        state = self._state_at(i, tick, frac)
        self._I[i] += delta
        self._set_state(i, tick, frac, state)

    def _on_input(self, tick: int, frac: float, i: int, data: tuple[float, bool]) -> None:
        # All INPUT events of neuron i at this exact (tick, frac) pair are adjacent in the queue
        # (the key orders by time, kind, neuron before seq): take them all and sum them.
        batch = [data]
        queue = self._queue
        while queue and queue[0][:4] == (tick, frac, INPUT, i):
            batch.append(queue.pop(0)[5])
        n_syn = sum(1 for _w, is_syn in batch if is_syn)
        self.counters["syn_events"] += n_syn
        self.counters["ext_events"] += len(batch) - n_syn
        self._receive(i, tick, frac, [w for w, _is_syn in batch])

    def _on_poisson(self, tick: int, frac: float, i: int, m: int) -> None:
        self.counters["ext_events"] += 1
        self._receive(i, tick, frac, [self._net.ps_weight[m]])
        self._next_poisson(m, tick, frac)

    def _on_sample(self, tick: int, frac: float, i: int, slot: int) -> None:
        self.voltages[slot] = self._state_at(i, tick, frac)[0]
