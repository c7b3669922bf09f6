"""Build one :class:`eventsim.Network` from the PyNN model held by the backend's state.

* Each PyNN ``Population`` becomes an eventsim population of the same size, in creation order, so
  PyNN's cell ids are eventsim's global neuron ids. ``IF_curr_delta`` cells are ``lif`` neurons
  and ``IF_curr_exp`` cells ``lif_psc_exp`` neurons, with their native (NEST-named) parameters, one
  value per neuron; eventsim's own cell types (:mod:`eventsim.pynn.cells`) likewise, each of its
  ``eventsim_model``.
* Spike sources are *relay* neurons (but see :func:`direct_poisson`): ``lif`` neurons at rest (``E_L = V_reset = 0``, ``V_th = 1`` mV,
  ``t_ref = 0``) that fire at the exact time an input of :data:`RELAY_WEIGHT` mV reaches them, so
  their spikes travel through ordinary eventsim projections with the projections' weights and
  delays, and are recorded like any neuron's. A ``SpikeSourcePoisson`` relay is driven by an eventsim
  Poisson generator (rate, ``[start, start + duration)``); a ``SpikeSourceArray`` relay by a spike
  table whose input for spike time ``t`` is scheduled 1 ns before ``t`` with a 1 ns delay (eventsim
  inputs need a delay of at least 1 ns). Its spike times must therefore be at least 1 ns and
  distinct within a cell.
* Each ``Projection`` becomes one eventsim ``explicit`` projection per (source population, target
  population) pair it spans (views and assemblies can span several), its weights converted into
  the unit of the target's model (:func:`weight_scale`: nA -> pA onto ``IF_curr_exp``).
* ``DCSource`` and ``StepCurrentSource`` become current steps (pA).
* Recorded cells: spikes of the union of all recorders' cells; ``v`` of each population's recorded
  cells at ``k * sampling_interval`` up to the horizon.
"""

from __future__ import annotations

import numpy as np
from pyNN.parameters import Sequence

import eventsim
from eventsim.pynn.simulator import EventsimPyNNError, State
from eventsim.pynn.standardmodels import SpikeSourceArray, SpikeSourcePoisson, _CurrentSource
from eventsim.timebase import MAX_MS, TICK_MS

RELAY = dict(E_L=0.0, V_reset=0.0, V_th=1.0, V_init=0.0, t_ref=0.0, I_e=0.0, C_m=250.0, tau_m=10.0)
"""Parameters of a spike-source relay neuron (mV, ms, pF, pA)."""

RELAY_WEIGHT = 2.0
"""mV; one input lifts a relay from rest (0 mV) over its threshold (1 mV)."""


def needs_horizon(state: State) -> bool:
    """True if some population records ``v`` (whose sample times must be fixed before a run)."""
    return any(pop.recorder.recorded_ids("v").size for pop in state.populations)


def snapshot(obj) -> dict:
    """A copy of the native values of a population or current source (one version of them)."""
    values = obj._native if isinstance(obj, _CurrentSource) else obj._parameters
    return {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in values.items()}


def build_network(state: State, horizon: float) -> eventsim.Network:
    """A new eventsim network for the current PyNN model and its timeline; ``v`` sampled up to ``horizon`` ms.

    Stimuli are added first for the values every object had when the network was first built
    (populations in order, then current sources), then for each later change in the order the
    changes were made: the stimulus list only grows at its end from one build to the next.
    """
    for obj in state.populations + state.current_sources:
        state.base.setdefault(id(obj), snapshot(obj))
    net = eventsim.Network(seed=state.segment_seed, engine=state.engine or "numba")
    pops = [_add_population(net, k, pop, state.base[id(pop)]) for k, pop in enumerate(state.populations)]
    direct = direct_poisson(state)
    relayed = np.array([id(pop) not in direct for pop in state.populations])
    for prj in state.projections:
        _add_projection(net, pops, prj, relayed, state)
    for pop, epop in zip(state.populations, pops):
        _drive(net, epop, pop, state.versions(pop)[0], direct.get(id(pop)))
    for source in state.current_sources:
        _inject(net, source, state.versions(source)[0])
    for t, obj, _ in state.changes:
        version = next(v for v in state.versions(obj) if v[0] == t)
        if obj in state.current_sources:
            _inject(net, obj, version)
        else:
            _drive(net, pops[state.populations.index(obj)], obj, version, direct.get(id(obj)))
    _add_recorders(net, state, horizon)
    return net


def _name(k: int, pop) -> str:
    """An eventsim population name: PyNN labels are free text, eventsim names identifiers."""
    clean = "".join(c if (c.isascii() and c.isalnum()) or c in "_-" else "_" for c in str(pop.label))
    return f"p{k}_{clean}"


def _add_population(net: eventsim.Network, k: int, pop, values: dict):
    celltype = pop.celltype
    if hasattr(celltype, "eventsim_model"):  # IF_curr_delta and eventsim's own cell types (eventsim.pynn.cells)
        params = {name: np.asarray(value, dtype=float) for name, value in values.items()}
        v0 = pop._initial["v"]
        params["V_init"] = np.where(np.isnan(v0), params["E_L"], v0)
        return net.add_population(_name(k, pop), pop.size, celltype.eventsim_model, **params)
    if isinstance(celltype, (SpikeSourcePoisson, SpikeSourceArray)):
        return net.add_population(_name(k, pop), pop.size, "lif", **RELAY)
    raise NotImplementedError(f"eventsim cannot simulate {type(celltype).__name__}")


def direct_poisson(state: State) -> dict:
    """The Poisson sources whose trains can go straight to their targets, without relay spikes.

    A ``SpikeSourcePoisson`` population qualifies when its spikes are not recorded and each of its
    cells has at most one synapse (the usual "independent noise per neuron" pattern): the target
    then gets an eventsim Poisson generator of the same rate, shifted by the synapse's delay, which
    gives arrivals with the same distribution and saves a spike per input.

    Returns
    -------
    dict
        ``id(population)`` -> ``(target, weight, delay)`` arrays, one entry per cell (target -1: none).
    """
    out = {}
    for pop in state.populations:
        if not isinstance(pop.celltype, SpikeSourcePoisson) or pop.recorder.recorded_ids("spikes").size:
            continue
        target, weight, delay = np.full(pop.size, -1, np.int64), np.zeros(pop.size), np.zeros(pop.size)
        single = True
        for prj in state.projections:
            src, tgt = prj.global_ids()
            mine = (src >= pop.first_id) & (src <= pop.last_id)
            local = src[mine] - int(pop.first_id)
            if np.unique(local).size != local.size or np.any(target[local] >= 0):
                single = False
                break
            target[local], delay[local] = tgt[mine], prj._delay[mine]
            weight[local] = native_weights(state, tgt[mine], prj._weight[mine])
        if single:
            out[id(pop)] = (target, weight, delay)
    return out


def _drive(net, epop, pop, version, direct=None) -> None:
    """The stimuli that make population ``pop`` what ``version`` = (t_from, t_to, values) says on its window.

    ``direct``: the population's ``(target, weight, delay)`` if its Poisson trains go straight to
    their targets (:func:`direct_poisson`).
    """
    t0, t1, values = version
    celltype = pop.celltype
    if direct is not None:
        _drive_poisson_direct(net, *direct, values, t0, t1)
    elif isinstance(celltype, SpikeSourcePoisson):
        _drive_poisson(net, epop, values, t0, t1)
    elif isinstance(celltype, SpikeSourceArray):
        _drive_array(net, epop, values["spike_times"], pop.label, t0, t1)
    elif t0 > 0:  # a neuron: a change of i_offset, as a current step on its window
        _offset_current(net, epop, np.asarray(values["I_e"], float) - np.asarray(epop.params["I_e"], float), t0, t1)


def _offset_current(net, epop, extra, t0: float, t1: float) -> None:
    """Current steps adding ``extra`` pA (per neuron) to the built ``I_e`` on ``[t0, t1)``."""
    extra = np.broadcast_to(np.asarray(extra, float), (epop.size,))
    for value in np.unique(extra):
        if value != 0.0:
            times, amps = ([t0], [value]) if t1 >= MAX_MS else ([t0, t1], [value, 0.0])
            net.add_current_steps(epop.ids[extra == value], times, amps)


def _drive_poisson(net, epop, values, t0: float, t1: float) -> None:
    """One eventsim Poisson generator per distinct (rate, start, duration) among the relays, on [t0, t1)."""
    keys = np.stack([np.broadcast_to(np.asarray(values[n], float), (epop.size,))
                     for n in ("rate", "start", "duration")], axis=1)
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    for g, (rate, start, duration) in enumerate(groups):
        begin, stop = max(start, t0), min(start + duration, t1)
        if stop > begin and rate > 0:
            net.add_poisson(epop.ids[inverse.ravel() == g], rate=rate, weight=RELAY_WEIGHT, start=begin,
                            stop=None if stop >= MAX_MS else stop)


def _drive_poisson_direct(net, target, weight, delay, values, t0: float, t1: float) -> None:
    """Poisson generators straight into the targets: a train on ``[begin, stop)`` arrives on ``[begin + d, stop + d)``."""
    has = target >= 0
    keys = np.stack([np.broadcast_to(np.asarray(values[n], float), target.shape)[has]
                     for n in ("rate", "start", "duration")] + [weight[has], delay[has]], axis=1)
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    for g, (rate, start, duration, w, d) in enumerate(groups):
        begin, stop = max(start, t0), min(start + duration, t1)
        if stop > begin and rate > 0:
            net.add_poisson(target[has][inverse.ravel() == g], rate=rate, weight=w, start=begin + d,
                            stop=None if stop >= MAX_MS else stop + d)


def _drive_array(net, epop, spike_times, label, t0: float, t1: float) -> None:
    """Spike table rows making relay ``i`` fire at each of its spike times in ``(t0, t1]`` (``[0, t1]`` first)."""
    per_cell = [np.asarray(s.value if isinstance(s, Sequence) else s, dtype=float).ravel()
                for s in np.broadcast_to(np.asarray(spike_times, dtype=object), (epop.size,))]
    per_cell = [t[((t > t0) | (t0 == 0.0)) & (t <= t1)] for t in per_cell]
    for i, times in enumerate(per_cell):
        if times.size and times.min() < TICK_MS:
            raise EventsimPyNNError(f"SpikeSourceArray {label!r} cell {i}: spike times must be >= {TICK_MS:g} ms "
                                    f"on eventsim, got {times.min():g}")
        if np.unique(times).size != times.size:
            raise EventsimPyNNError(f"SpikeSourceArray {label!r} cell {i}: repeated spike times are not supported "
                                    "(a relay neuron fires once per time)")
    counts = np.array([t.size for t in per_cell], dtype=np.int64)
    if counts.sum():
        net.add_spike_table(np.repeat(epop.ids, counts), np.concatenate(per_cell) - TICK_MS, RELAY_WEIGHT, TICK_MS)


def _inject(net, source, version) -> None:
    """Current steps (pA) of one version of a current source, restricted to its window."""
    t0, t1, values = version
    if not source.cell_list:
        return
    times, amps = window_steps(*source.steps(values), t0, t1)
    if times:
        net.add_current_steps(np.asarray(source.cell_list, np.int64), times, amps)


def window_steps(times, amplitudes, t0: float, t1: float) -> tuple[list, list]:
    """The steps of a piecewise-constant current (0 before ``times[0]``) restricted to ``[t0, t1)``.

    Returns steps that set the value at ``t0``, keep the changes inside the window and return to 0
    at ``t1`` (none if ``t1`` is beyond eventsim's time range); empty if the current is 0 throughout.
    """
    times = [float(t) for t in times]
    amplitudes = [float(a) for a in amplitudes]
    before = [a for t, a in zip(times, amplitudes) if t <= t0]
    out_t, out_a = [t0], [before[-1] if before else 0.0]
    for t, a in zip(times, amplitudes):
        if t0 < t < t1:
            out_t.append(t)
            out_a.append(a)
    if not any(out_a):
        return [], []
    if t1 < MAX_MS:
        out_t.append(t1)
        out_a.append(0.0)
    return out_t, out_a


def weight_scale(celltype) -> float:
    """Factor from a PyNN weight onto ``celltype`` to eventsim's weight (its model's unit).

    ``IF_curr_exp``: nA -> pA (1000.0, pyNN.nest's factor); cells with voltage-jump synapses (mV) and
    spike sources (never a target): 1.0.
    """
    return float(getattr(celltype, "weight_scale", 1.0))


def native_weights(state: State, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """eventsim weights of connections onto the cells ``targets`` (global ids) with PyNN ``weights``."""
    first = np.array([int(pop.first_id) for pop in state.populations], dtype=np.int64)
    scale = np.array([weight_scale(pop.celltype) for pop in state.populations])
    return weights * scale[np.searchsorted(first, targets, side="right") - 1]


def _add_projection(net, pops, prj, relayed: np.ndarray, state: State) -> None:
    """eventsim projections for ``prj``'s connections whose source population is ``relayed``."""
    src, tgt = prj.global_ids()
    starts = np.array([p.start for p in pops], dtype=np.int64)
    src_pop = np.searchsorted(starts, src, side="right") - 1
    keep = relayed[src_pop]
    weight = native_weights(state, tgt, prj._weight)[keep]
    src, tgt, src_pop, delay = src[keep], tgt[keep], src_pop[keep], prj._delay[keep]
    tgt_pop = np.searchsorted(starts, tgt, side="right") - 1
    pair = src_pop * len(pops) + tgt_pop
    for key in np.unique(pair):
        m = pair == key
        pre, post = pops[key // len(pops)], pops[key % len(pops)]
        w, d = weight[m], delay[m]
        net.connect(pre, post, "explicit", sources=src[m] - pre.start, targets=tgt[m] - post.start,
                    weight=w, delay=d[0] if np.all(d == d[0]) else d)


def _add_recorders(net, state: State, horizon: float) -> None:
    spiking = [pop.recorder.recorded_ids("spikes") for pop in state.populations]
    net.record_spikes(np.concatenate(spiking) if spiking else np.zeros(0, np.int64))
    for pop in state.populations:
        ids = pop.recorder.recorded_ids("v")
        if ids.size:
            net.record_voltage(ids, pop.recorder.voltage_times(horizon), name=pop.recorder.voltage_name())
