"""setup, run, reset, end and the state queries of the eventsim PyNN backend."""

from __future__ import annotations

import warnings

from pyNN import common
from pyNN.common.control import DEFAULT_MAX_DELAY, DEFAULT_MIN_DELAY, DEFAULT_TIMESTEP
from pyNN.recording import get_io

from eventsim.network import ENGINES
from eventsim.pynn import simulator


def setup(timestep=None, min_delay=DEFAULT_MIN_DELAY, **extra_params):
    """Start a new model (any previous one is discarded).

    Parameters
    ----------
    timestep : float, optional
        ms. eventsim has no time step: spike times are exact. The value is only the default sampling
        interval of recorded signals (default 0.1 ms, as in PyNN); giving one warns once.
    min_delay : float or "auto"
        ms; the default delay of a ``StaticSynapse`` ("auto": ``timestep``).
    rng_seed : int, optional
        Seed of eventsim's own randomness (the Poisson trains of ``SpikeSourcePoisson``); default 0.
        Connections and random parameters come from PyNN's RNGs, as on every backend.
    engine : {"numba", "reference"}, optional
        eventsim's compiled engine or its pure-Python reference engine. Unset: the compiled engine
        (it runs every cell type), unless a cell type declaring ``reference_only`` is used, which
        selects the reference engine with a warning.
    max_delay : float or "auto"
        Accepted for compatibility; eventsim has no maximum delay to declare.

    Returns
    -------
    int
        The MPI rank: always 0 (eventsim runs in one process).
    """
    if timestep is not None:
        warnings.warn(f"eventsim is event-driven: timestep={timestep} ms is used only as the default sampling "
                      "interval of recorded signals; spike times are exact, not on a grid", stacklevel=2)
    dt = DEFAULT_TIMESTEP if timestep is None else float(timestep)
    common.setup(dt, min_delay, **extra_params)
    engine = extra_params.get("engine")
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"setup: engine must be one of {ENGINES}, got {engine!r}")
    state = simulator.state
    state.clear()
    state.dt = dt
    state.min_delay = min_delay
    state.max_delay = extra_params.get("max_delay", DEFAULT_MAX_DELAY)
    state.seed = int(extra_params.get("rng_seed", 0))
    state.engine = engine
    return rank()


def end(compatible_output=True):
    """Write the data requested with ``record(..., to_file=...)`` and forget the model."""
    for population, variables, filename in simulator.state.write_on_end:
        population.write_data(get_io(filename), variables)
    simulator.state.write_on_end = []
    simulator.state.clear()


run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, get_min_delay, get_max_delay, num_processes, rank = \
    common.build_state_queries(simulator)
