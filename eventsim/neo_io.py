"""eventsim results as Neo objects, the data model of PyNN and Elephant.

:func:`to_neo` turns a :class:`~eventsim.recording.Results` into a ``neo.Block`` with one
``Segment``: a ``SpikeTrain`` per recorded neuron and one signal per voltage recorder. The
building blocks :func:`spike_trains` and :func:`voltage_signal` are shared with the PyNN backend
(``eventsim.pynn``), so both produce the same layout.

Annotations follow PyNN's conventions, so PyNN's and Elephant's tools read the objects as they read
those of PyNN's other backends:

* a ``SpikeTrain`` carries ``source_population`` (population name), ``channel_id`` (global
  neuron id) and ``source_index`` (index within its population);
* a signal carries the array annotations ``channel_ids``, ``channel_index`` (index within its
  population) and ``source_population``, one value per channel (i.e. per neuron).

Units: times in ms, membrane potential in mV. Spike times are eventsim's float64 ms values,
unchanged (no grid, no unit conversion). ``neo`` and ``quantities`` are optional dependencies
(``pip install "eventsim[neo]"``); importing this module without them raises ``ImportError``.
"""

from __future__ import annotations

import numpy as np

try:
    import neo
    import quantities as pq
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('eventsim.neo_io needs neo and quantities: pip install "eventsim[neo]"') from exc

__all__ = ["to_neo", "spike_trains", "voltage_signal", "REGULAR_ATOL_MS"]

REGULAR_ATOL_MS = 1e-9
"""Sample times within this many ms of ``t0 + k * dt`` are written as a regular ``AnalogSignal``."""


def spike_trains(ids, times, channel_ids, t_start: float, t_stop: float, population, source_index) -> list:
    """One ``neo.SpikeTrain`` per channel, in the order of ``channel_ids``.

    Parameters
    ----------
    ids : int array
        Global neuron id of each spike.
    times : float64 array
        Spike times, ms, aligned with ``ids`` (any order; each train comes out sorted).
    channel_ids : int array
        Global ids of the neurons to make trains for (a neuron without spikes gets an empty train).
    t_start, t_stop : float
        ms; the trains' time window.
    population : str or sequence of str
        ``source_population`` annotation: one name for all channels, or one per channel.
    source_index : int array
        Index of each channel within its population.

    Returns
    -------
    list of neo.SpikeTrain
        Complexity O(S log S + C) for S spikes and C channels.
    """
    ids = np.asarray(ids, dtype=np.int64)
    times = np.asarray(times, dtype=np.float64)
    channel_ids = np.asarray(channel_ids, dtype=np.int64)
    names = [population] * channel_ids.size if isinstance(population, str) else list(population)
    order = np.lexsort((times, ids))
    ids, times = ids[order], times[order]
    lo = np.searchsorted(ids, channel_ids, side="left")
    hi = np.searchsorted(ids, channel_ids, side="right")
    return [neo.SpikeTrain(times[a:b], units="ms", t_start=t_start * pq.ms, t_stop=t_stop * pq.ms,
                           source_population=name, channel_id=int(cid), source_index=int(index))
            for a, b, cid, name, index in zip(lo, hi, channel_ids, names, source_index)]


def voltage_signal(name: str, times, values, channel_ids, population, source_index):
    """Membrane potential samples as one Neo signal, ``values[sample, channel]`` in mV.

    A regular grid (every time within :data:`REGULAR_ATOL_MS` of ``times[0] + k * dt``) gives an
    ``AnalogSignal``; anything else an ``IrregularlySampledSignal`` holding the exact sample times.

    Parameters
    ----------
    name : str
        Signal name (PyNN uses ``"v"``).
    times : float64 array
        Sample times, ms, increasing.
    values : float64 array, shape (samples, channels)
        mV.
    channel_ids : int array
        Global id of each channel.
    population : str or sequence of str
        Population name, one for all channels or one per channel.
    source_index : int array
        Index of each channel within its population.
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(times.size, -1)
    channel_ids = np.asarray(channel_ids, dtype=np.int64)
    pops = np.array([population] * channel_ids.size if isinstance(population, str) else list(population), dtype=str)
    arrays = dict(channel_ids=channel_ids, channel_index=np.asarray(source_index, dtype=np.int64),
                  source_population=pops)
    extra = {"source_population": str(pops[0])} if pops.size and np.all(pops == pops[0]) else {}
    dt = _regular_step(times)
    if dt is not None:
        return neo.AnalogSignal(values, units="mV", t_start=times[0] * pq.ms, sampling_period=dt * pq.ms,
                                name=name, array_annotations=arrays, **extra)
    return neo.IrregularlySampledSignal(times, values, units="mV", time_units="ms", name=name,
                                        array_annotations=arrays, **extra)


def _regular_step(times: np.ndarray) -> float | None:
    """The sampling period if ``times`` is a regular grid (at least two samples), else None."""
    if times.size < 2:
        return None
    dt = (times[-1] - times[0]) / (times.size - 1)
    if dt <= 0:
        return None
    grid = times[0] + dt * np.arange(times.size)
    return float(dt) if np.all(np.abs(grid - times) <= REGULAR_ATOL_MS) else None


def _population_of(results, gids: np.ndarray) -> tuple[list, np.ndarray]:
    """(population name, index within it) of each global id."""
    k = np.searchsorted(results.pop_start, gids, side="right") - 1
    names = [results.pop_names[j] for j in k]
    return names, gids - results.pop_start[k]


def to_neo(results, name: str | None = None) -> "neo.Block":
    """Convert eventsim results to a ``neo.Block`` with one ``Segment``.

    Parameters
    ----------
    results : eventsim.Results
        What ``Network.run`` returned.
    name : str, optional
        The block's name.

    Returns
    -------
    neo.Block
        ``block.segments[0].spiketrains``: one train per recorded neuron, in global id order, over
        ``[0, t_stop]`` ms. ``block.segments[0].analogsignals`` (regular sample times) and
        ``.irregularlysampledsignals`` (others): one signal per voltage recorder, named as the
        recorder, with the samples taken before ``t_stop`` (later ones are not simulated yet), in
        time order.
    """
    block = neo.Block(name=name, t_stop_ms=float(results.t_stop), pop_names=list(results.pop_names))
    segment = neo.Segment(name="segment000")
    block.segments.append(segment)
    recorded = np.flatnonzero(results.recorded).astype(np.int64)
    pops, index = _population_of(results, recorded)
    segment.spiketrains.extend(spike_trains(results.spike_ids, results.spike_times, recorded, 0.0,
                                            float(results.t_stop), pops, index))
    for trace in results.voltages.values():
        keep = np.flatnonzero(trace.times < results.t_stop)
        if not keep.size:
            continue
        keep = keep[np.argsort(trace.times[keep], kind="stable")]  # recorders accept times in any order
        pops, index = _population_of(results, np.asarray(trace.ids, dtype=np.int64))
        signal = voltage_signal(trace.name, trace.times[keep], trace.values[:, keep].T, trace.ids, pops, index)
        if isinstance(signal, neo.AnalogSignal):
            segment.analogsignals.append(signal)
        else:
            segment.irregularlysampledsignals.append(signal)
    for obj in segment.spiketrains + segment.analogsignals + segment.irregularlysampledsignals:
        obj.segment = segment
    segment.block = block
    return block
