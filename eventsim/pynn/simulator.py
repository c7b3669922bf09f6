"""The backend's simulator state: the PyNN model as a description, and the eventsim run made from it.

PyNN's other backends keep their state in the simulator kernel (NEST) or in a network object that
grows as the script runs (Brian2). eventsim runs a *description* that is frozen once prepared, so
this backend keeps PyNN's populations, projections and current sources as they are created, and
builds one :class:`eventsim.Network` from them at the first ``run`` (see :mod:`eventsim.pynn.build`).

Two consequences, both documented in docs/pynn.md:

* The structure cannot change between ``run`` calls (no new populations, projections, current
  sources, recorders, weights, or neuron parameters other than ``i_offset``): that raises
  :class:`EventsimPyNNError` until ``reset()``, which drops the built network so the next ``run``
  rebuilds it from the (possibly changed) description.
* What *can* change during a run (spike-source parameters, current sources, ``i_offset``, as
  PyNN scripts do in ``run`` callbacks) is kept as a timeline: :attr:`State.changes` holds each
  change with the time it was made, and the next ``run`` rebuilds the network with every version
  active on its own time window and replays from t = 0.
* Voltage samples must be known before a run. The network is built with samples up to a horizon
  (the first ``run_until`` time); running past it rebuilds the network with twice the horizon and
  replays from t = 0.

A replay gives the same spikes bit for bit up to the time reached: eventsim is deterministic for a
description and a seed however a run is split, and the build appends the stimuli of later changes
after all earlier ones, so the random streams of the earlier ones (keyed by their index) stay.

PyNN's time ``t`` is where a script has run to. The eventsim network is always one tick (1 ns)
ahead, so that everything that happens *at* ``t`` (spikes, samples) has been simulated when the
script reads its data, as with PyNN's other backends; spikes after ``t`` are not reported.
"""

from __future__ import annotations

import math

import numpy as np
from pyNN import common

from eventsim.timebase import TICK_MS

name = "eventsim"


class EventsimPyNNError(Exception):
    """Something a PyNN script asks for that the eventsim backend cannot do (one line, says why)."""


class ID(int, common.IDMixin):
    """A cell's id: eventsim's global neuron id (cells are numbered from 0 in creation order)."""

    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):
    """The current PyNN model and its eventsim run.

    Attributes
    ----------
    populations, projections, current_sources : list
        What the script created, in creation order (cell ids follow population order).
    dt : float
        ms; PyNN's ``timestep``. Only the default sampling interval of recorded signals.
    seed : int
        Seed of the eventsim network (Poisson trains); segment ``k`` after ``k`` resets uses ``seed + k``.
    engine : {"numba", "reference"} or None
        None until chosen: ``setup(engine=...)``, or a population the compiled engine cannot run
        (:func:`eventsim.pynn.cells.choose_engine`); the compiled engine runs what is not chosen.
    network : eventsim.Network or None
        The built network, or None before the first run (and after ``reset``).
    """

    def __init__(self):
        common.control.BaseState.__init__(self)
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 0.1
        self.min_delay = "auto"
        self.max_delay = "auto"
        self.seed = 0
        self.engine = None
        self.clear()

    # ------------------------------------------------------------------ description
    def clear(self):
        """Forget the whole model (``setup`` and ``end``)."""
        self.recorders = set()
        self.populations = []
        self.projections = []
        self.current_sources = []
        self.write_on_end = []
        self.id_counter = 0
        self.segment_counter = -1
        self.reset()

    def check_mutable(self, what: str) -> None:
        """Raise if the network has been built: ``what`` would not reach the running simulation."""
        if self.network is not None:
            raise EventsimPyNNError(
                f"eventsim cannot {what} after run(): the network is built from its description at the first "
                "run; call reset() first (the next run then starts again from t = 0)")

    # ------------------------------------------------------------------ running
    def reset(self):
        """Back to t = 0: the next run rebuilds the network from the description."""
        self.running = False
        self.t = 0.0
        self.t_start = 0.0
        self.network = None
        self.horizon = 0.0
        self.segment_counter += 1
        self.base = {}
        self.changes = []
        self.stale = False

    def record_change(self, obj, snapshot: dict) -> None:
        """Note that ``obj`` (a population or current source) has the values ``snapshot`` from ``t`` on."""
        if self.network is None:
            return  # not built yet: the description itself is what will run
        if self.changes and self.changes[-1][0] == self.t and self.changes[-1][1] is obj:
            self.changes[-1] = (self.t, obj, snapshot)
        else:
            self.changes.append((self.t, obj, snapshot))
        self.stale = True

    def versions(self, obj) -> list[tuple[float, float, dict]]:
        """``(t_from, t_to, values)`` of each version of ``obj``'s values, in time order."""
        times = [0.0] + [t for t, o, _ in self.changes if o is obj]
        values = [self.base[id(obj)]] + [v for _, o, v in self.changes if o is obj]
        return [(a, b, v) for a, b, v in zip(times, times[1:] + [math.inf], values)]

    def run_until(self, tstop):
        """Simulate until PyNN time ``tstop`` (ms): every event at or before it."""
        from eventsim.pynn.build import build_network, needs_horizon

        if self.network is None or self.stale or tstop > self.horizon:
            horizon = max(tstop, 2.0 * self.horizon) if needs_horizon(self) else math.inf
            self.network = build_network(self, horizon)
            self.horizon = horizon
            self.stale = False
        target = tstop + TICK_MS
        self.network.run(max(0.0, target - self.network.t))
        self.t = float(tstop)
        self.running = True

    @property
    def segment_seed(self) -> int:
        """The eventsim seed of the current segment (a new Poisson realisation after each reset)."""
        return (self.seed + max(self.segment_counter, 0)) % 2**63

    def results(self):
        """The eventsim results of the current segment, or None before the first run."""
        return None if self.network is None else self.network.results

    def spikes(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, times ms) of the spikes of ``ids`` up to and including ``t``, sorted by time."""
        res = self.results()
        if res is None:
            return np.zeros(0, np.int64), np.zeros(0)
        keep = np.isin(res.spike_ids, ids) & (res.spike_times <= self.t)
        return res.spike_ids[keep], res.spike_times[keep]


state = State()
