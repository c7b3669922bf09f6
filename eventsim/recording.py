"""Results of a run: spikes, sampled membrane potentials, counters.

Everything is numpy: spikes as two arrays (global neuron ids, times in ms) sorted by time then id;
each voltage recorder as a matrix ``values[neuron, sample]`` in mV with its ``ids`` and ``times``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eventsim.distributions import describe
from eventsim.errors import ValidationError, did_you_mean

__all__ = ["Results", "VoltageTrace"]


@dataclass
class VoltageTrace:
    """Membrane potential of ``ids`` at ``times`` (ms): ``values[k, j]`` is neuron ``ids[k]`` at ``times[j]``, mV.

    Samples not reached yet by the simulation are NaN.
    """

    name: str
    ids: np.ndarray
    times: np.ndarray
    values: np.ndarray

    @property
    def shape_text(self) -> str:
        """``"3 neurons x 200 samples"``."""
        return f"{self.ids.size} neurons x {self.times.size} samples"

    def __repr__(self) -> str:
        return f"VoltageTrace({self.name!r}, {self.shape_text})"


@dataclass
class Results:
    """What a network has recorded so far.

    Attributes
    ----------
    spike_ids : int64 array
        Global ids of the spiking neurons.
    spike_times : float64 array
        Spike times in ms, sorted (ties by id).
    t_stop : float
        Simulated time reached, ms.
    pop_names, pop_start
        Population names and the first global id of each (plus the total at the end).
    recorded : bool array
        Which neurons' spikes are recorded.
    voltages : dict of name -> VoltageTrace
    counters : dict of str -> int
        Events by kind (``syn_events``, ``ext_events``, ``discarded``, ``spikes``, ...).
    """

    spike_ids: np.ndarray
    spike_times: np.ndarray
    t_stop: float
    pop_names: tuple
    pop_start: np.ndarray
    recorded: np.ndarray
    voltages: dict = field(default_factory=dict)
    counters: dict = field(default_factory=dict)

    def population_of(self, name: str, _where: str = "population_of(name)") -> slice:
        """Global id range of population ``name``.

        Raises
        ------
        ValidationError
            No population has this name (the message lists the names).
        """
        if not isinstance(name, str) or name not in self.pop_names:
            what = f"{name!r}{did_you_mean(name, self.pop_names)}" if isinstance(name, str) else describe(name)
            raise ValidationError(_where, f"no population named {what}; have {list(self.pop_names)}")
        k = self.pop_names.index(name)
        return slice(int(self.pop_start[k]), int(self.pop_start[k + 1]))

    def spikes_of(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(global ids, times in ms) of the recorded spikes of population ``name``; ValidationError
        for an unknown name."""
        s = self.population_of(name, "spikes_of(name)")
        mask = (self.spike_ids >= s.start) & (self.spike_ids < s.stop)
        return self.spike_ids[mask], self.spike_times[mask]

    def rates(self) -> dict:
        """Mean firing rate in Hz of the recorded neurons of each population."""
        out = {}
        for k, name in enumerate(self.pop_names):
            s = self.population_of(name)
            n_rec = int(self.recorded[s].sum())
            n_spk = self.spikes_of(name)[0].size
            out[name] = n_spk / (n_rec * self.t_stop * 1e-3) if n_rec and self.t_stop > 0 else 0.0
        return out

    def __repr__(self) -> str:
        """A few lines: spikes, simulated time, rate per population, voltage recorders."""
        rates = [f"{name} {rate:.2f}" for name, rate in self.rates().items()]
        lines = [f"Results: {self.spike_ids.size:,} spikes in {self.t_stop:g} ms",
                 f"  rates (Hz): {_join(rates) or 'no populations'}"]
        if self.voltages:
            traces = [f"{v.name} ({v.shape_text})" for v in self.voltages.values()]
            lines.append(f"  voltages: {_join(traces)}")
        return "\n".join(lines)

    __str__ = __repr__

    def to_neo(self, name: str | None = None):
        """These results as a ``neo.Block`` (one ``Segment``; spike trains and voltage signals with
        PyNN's annotations), for Elephant and PyNN's tools; needs ``pip install "eventsim[neo]"``.
        See :func:`eventsim.neo_io.to_neo`."""
        from eventsim.neo_io import to_neo

        return to_neo(self, name=name)

    def to_sonata(self, path, population_names=None, *, sorting: str = "by_time"):
        """Write the spikes as a SONATA spike file (HDF5, ms, node ids local to each population),
        atomically; needs ``pip install "eventsim[sonata]"``. See :func:`eventsim.sonata.write_spikes`."""
        from eventsim.sonata import write_spikes

        return write_spikes(path, self, population_names, sorting=sorting)

    def save_npz(self, path) -> None:
        """Write spikes as ``ids`` (int64) and ``times`` (float64 ms) to an ``.npz`` file."""
        np.savez(path, ids=self.spike_ids, times=self.spike_times)


def _join(items: list, width: int = 80) -> str:
    """``items`` joined by commas, as many as fit in about ``width`` characters, then ``... (k more)``."""
    shown, length = [], 0
    for k, item in enumerate(items):
        if shown and length + len(item) > width:
            return ", ".join(shown) + f", ... ({len(items) - k} more)"
        shown.append(item)
        length += len(item) + 2
    return ", ".join(shown)
