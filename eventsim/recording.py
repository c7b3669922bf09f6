"""Results of a run: spikes, sampled membrane potentials, counters.

Everything is numpy: spikes as two arrays (global neuron ids, times in ms) sorted by time then id;
each voltage recorder as a matrix ``values[neuron, sample]`` in mV with its ``ids`` and ``times``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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

    def population_of(self, name: str) -> slice:
        """Global id range of population ``name``."""
        k = self.pop_names.index(name)
        return slice(int(self.pop_start[k]), int(self.pop_start[k + 1]))

    def spikes_of(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(global ids, times in ms) of the recorded spikes of population ``name``."""
        s = self.population_of(name)
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

    def save_npz(self, path) -> None:
        """Write spikes as ``ids`` (int64) and ``times`` (float64 ms) to an ``.npz`` file."""
        np.savez(path, ids=self.spike_ids, times=self.spike_times)
