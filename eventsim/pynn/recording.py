"""Recording for the eventsim PyNN backend: spikes and membrane potential, as Neo via eventsim.neo_io.

Spikes are eventsim's exact spike times. The membrane potential ``v`` is sampled at
``0, s, 2 s, ...`` ms (``s`` the sampling interval, by default PyNN's ``timestep``), and each
sample is the exact potential at that time (eventsim's voltage recorders), not an interpolation.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import quantities as pq
from pyNN import recording

from eventsim import neo_io
from eventsim.pynn import simulator

_SPIKES = recording.Variable(name="spikes", location=None, label=None)
_V = recording.Variable(name="v", location=None, label=None)


def sample_count(t_ms: float, interval_ms: float) -> int:
    """Number of samples ``k * interval`` at or before ``t_ms`` (tolerating float rounding of ``t / interval``)."""
    return int(np.floor(t_ms / interval_ms + 1e-9)) + 1


class Recorder(recording.Recorder):
    """Which cells of one population record what; hands the data over as Neo objects."""

    _simulator = simulator

    def record(self, variables, ids, sampling_interval=None, locations=None):
        simulator.state.check_mutable("change what is recorded")  # before PyNN notes the new ids
        super().record(variables, ids, sampling_interval, locations)

    def reset(self):
        simulator.state.check_mutable("change what is recorded")
        super().reset()

    def _record(self, variable, new_ids, sampling_interval=None):
        if variable.name not in ("spikes", "v"):
            raise NotImplementedError(f"eventsim records 'spikes' and 'v', not {variable.name!r}")
        if sampling_interval is not None:
            self.sampling_interval = float(sampling_interval)

    def _reset(self):
        pass

    def _clear_simulator(self):
        pass  # data are filtered by the recording start time instead

    def recorded_ids(self, variable) -> np.ndarray:
        """Global ids (sorted int64) recorded for ``variable`` ("spikes" or "v")."""
        key = _SPIKES if variable == "spikes" else _V
        return np.array(sorted(int(i) for i in self.recorded[key]), dtype=np.int64)

    def voltage_name(self) -> str:
        """Name of this population's eventsim voltage recorder."""
        return f"pynn_v_{simulator.state.populations.index(self.population)}"

    def voltage_times(self, horizon_ms: float) -> np.ndarray:
        """Sample times up to ``horizon_ms``: ``k * sampling_interval`` ms."""
        return np.arange(sample_count(horizon_ms, self.sampling_interval)) * self.sampling_interval

    def _spikes_after_start(self, ids):
        state = self._simulator.state
        sid, times = state.spikes(ids)
        start = float(self._recording_start_time.rescale("ms").magnitude)
        keep = times > start if start > 0 else times >= 0
        return sid[keep], times[keep]

    def _local_count(self, variable, filter_ids=None):
        ids = np.array(sorted(int(i) for i in self.filter_recorded(variable, filter_ids)), dtype=np.int64)
        sid, _ = self._spikes_after_start(ids)
        counts = np.bincount(np.searchsorted(ids, sid), minlength=ids.size) if ids.size else []
        return {int(i): int(c) for i, c in zip(ids, counts)}

    def _get_current_segment(self, filter_ids=None, variables="all", clear=False):
        import neo

        state = self._simulator.state
        segment = neo.Segment(name="segment%03d" % state.segment_counter, description=self.population.describe(),
                              rec_datetime=datetime.now())
        wanted = set(self.recorded) if variables == "all" else set(self.recorded).intersection(variables)
        start = float(self._recording_start_time.rescale("ms").magnitude)
        pop = self.population
        if _SPIKES in wanted:
            ids = np.array(sorted(int(i) for i in self.filter_recorded(_SPIKES, filter_ids)), dtype=np.int64)
            sid, times = self._spikes_after_start(ids)
            segment.spiketrains.extend(neo_io.spike_trains(sid, times, ids, start, state.t, pop.label,
                                                           pop.id_to_index(ids) if ids.size else []))
        if _V in wanted:
            signal = self._voltage_signal(filter_ids, start)
            if signal is not None:
                segment.analogsignals.append(signal)
        for obj in segment.spiketrains + segment.analogsignals:
            obj.segment = segment
        return segment

    def _voltage_signal(self, filter_ids, start: float):
        """The recorded ``v`` from ``start`` to ``t`` as one AnalogSignal, or None if nothing to show."""
        state = self._simulator.state
        ids = np.array(sorted(int(i) for i in self.filter_recorded(_V, filter_ids)), dtype=np.int64)
        results = state.results()
        if results is None or ids.size == 0:
            return None
        trace = results.voltages[self.voltage_name()]
        rows = np.searchsorted(trace.ids, ids)
        first = sample_count(start, self.sampling_interval) - 1 if start > 0 else 0
        last = sample_count(state.t, self.sampling_interval)
        values = trace.values[rows, first:last].T
        signal = neo_io.voltage_signal("v", trace.times[first:last], values, ids, self.population.label,
                                       self.population.id_to_index(ids))
        if not isinstance(signal, neo_io.neo.AnalogSignal):  # one sample: still PyNN's regular signal
            signal = neo_io.neo.AnalogSignal(values, units="mV", t_start=trace.times[first] * pq.ms,
                                             sampling_period=self.sampling_interval * pq.ms, name="v",
                                             array_annotations=signal.array_annotations,
                                             source_population=self.population.label)
        return signal
