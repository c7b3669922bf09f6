"""Distributed runs without MPI: a rank's part of a network, parts simulated in lockstep windows,
and an in-process driver (issue 11; design in docs/distributed.md).

Interface (the MPI side, ``eventsim.mpi``, codes against it)::

    partition(n_neurons, size) -> list[(lo, hi)]        contiguous blocks in rank order
    Comm (protocol): rank, size, allreduce(value, op), exchange(spikes, status), gather(obj, root), allgather(obj)
    SelfComm()                                          one process: size 1, identity
    run_parts(network, duration_ms, parts, comm, *, threads=1, progress=None) -> PartRun
    merge(part_runs: list[PartRun]) -> Results          one Results exactly as a 1-process run

In-process K-part runs: ``run_parts(net, T, partition(N, K), SelfComm())``; under MPI each rank calls
``run_parts(net, T, [partition(N, size)[rank]], comm)`` and rank 0 merges what ``comm.gather`` brings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from eventsim.errors import ValidationError
from eventsim.recording import Results

__all__ = ["partition", "Comm", "SelfComm", "PartRun", "PartFigures", "run_parts", "merge"]


def partition(n_neurons: int, size: int) -> list[tuple[int, int]]:
    """Contiguous blocks ``[lo, hi)`` of global neuron ids, one per part, in rank order.

    Part ``k`` of ``size`` gets ``[floor(k N / size), floor((k + 1) N / size))``.

    Raises
    ------
    ValidationError
        ``size`` not an integer >= 1, or more parts than neurons (the message names both counts).
    """
    raise NotImplementedError


class Comm(Protocol):
    """What the per-rank engine needs from a communicator (``SelfComm`` in one process, an mpi4py
    wrapper under MPI). Every process calls every method the same number of times, in the same order."""

    rank: int
    size: int

    def allreduce(self, value, op: str):
        """``op`` in ``{"min", "max", "sum"}`` over processes of an int or float scalar."""

    def exchange(self, spikes: np.ndarray, status: int) -> tuple[np.ndarray, int]:
        """``spikes``: ``kernels.SPIKE`` records (id = global neuron id, tick, frac) of this process's
        parts for one window; returns every process's spikes concatenated in rank order and
        ``max(status)`` over processes."""

    def gather(self, obj, root: int = 0) -> list | None:
        """Small Python objects of every process, in rank order, on ``root`` (None elsewhere)."""

    def allgather(self, obj) -> list:
        """Small Python objects of every process, in rank order, on every process."""


class SelfComm:
    """The one-process communicator: rank 0 of 1; every collective is the identity."""

    rank = 0
    size = 1

    def allreduce(self, value, op: str):
        raise NotImplementedError

    def exchange(self, spikes: np.ndarray, status: int) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def gather(self, obj, root: int = 0) -> list | None:
        raise NotImplementedError

    def allgather(self, obj) -> list:
        raise NotImplementedError


@dataclass
class PartFigures:
    """Figures of one part of a run (picklable, small)."""

    lo: int
    hi: int
    n_neurons: int
    n_synapses: int
    events: int  # synaptic + external events processed
    wall_s: float  # wall time of the run, s
    comm_s: float  # of which waiting in comm.exchange / comm.allreduce, s
    peak_rss_bytes: int  # the process's peak resident set size


@dataclass
class PartRun:
    """This process's results of :func:`run_parts` (picklable, sent through ``comm.gather``).

    ``spike_ids`` (global), ``spike_ticks``, ``spike_fracs``: the recorded spikes of its parts;
    ``voltages``: sample slot -> mV of the samples its parts own (global slot numbering).
    """

    spike_ids: np.ndarray
    spike_ticks: np.ndarray
    spike_fracs: np.ndarray
    voltage_slots: np.ndarray
    voltage_values: np.ndarray
    t_stop_tick: int
    counters: dict
    figures: list = field(default_factory=list)  # PartFigures per part
    meta: dict = field(default_factory=dict)  # pop_names, pop_start, recorded, voltage recorders


def run_parts(network, duration_ms: float, parts: list[tuple[int, int]], comm: Comm, *, threads: int = 1,
              progress=None) -> PartRun:
    """Build only ``parts`` of ``network`` and simulate them in lockstep for ``duration_ms`` ms,
    exchanging each window's spikes through ``comm``. Returns this process's results and figures."""
    raise NotImplementedError


def merge(part_runs: list[PartRun]) -> Results:
    """One :class:`~eventsim.recording.Results` from every process's :class:`PartRun`, exactly as a
    one-process run gives (spikes sorted by time then id, voltages by recorder)."""
    raise NotImplementedError
