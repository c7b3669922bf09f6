"""Runs over MPI: the ``Comm`` of :mod:`eventsim.distributed` on mpi4py, and the launcher's environment.

``mpiexec -n K eventsim run SCENARIO`` (or :func:`run` from a script started by ``mpiexec``) runs
one part of the network per process: rank ``k`` simulates the neurons
``distributed.partition(N, K)[k]`` and the processes exchange each window's spikes
(docs/distributed.md). mpi4py is an optional dependency: ``pip install "eventsim[mpi]"`` (mpi4py
and the MPICH wheel, whose ``mpiexec`` lands next to ``python`` in the environment).

Nothing here imports mpi4py at module import: :func:`launched_size` reads the launcher's
environment, so a run started by ``mpiexec`` without mpi4py installed fails with one line instead
of running K copies of the whole network.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from eventsim.errors import ValidationError

__all__ = ["MpiComm", "DistributedRun", "launched_size", "launched_rank", "world", "run", "timed_run", "MpiMissing"]

# Set by MPICH's hydra (PMI_*), Open MPI (OMPI_COMM_WORLD_*), PMIx launchers and Slurm's srun.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")
_RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")

INSTALL_HINT = 'pip install "eventsim[mpi]"'


class MpiMissing(ValidationError):
    """Started by an MPI launcher with several processes, but mpi4py cannot be imported."""


def _env_int(names) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                continue
    return None


def launched_size() -> int:
    """Processes the MPI launcher started (1 when not started by one), read from its environment."""
    # NOTE: SLURM_NTASKS is set for every step of a batch job, also for a plain `python` started in it;
    # trust it only when Slurm also says which task this is.
    size = _env_int(_SIZE_VARS[:3])
    if size is None and "SLURM_PROCID" in os.environ and "SLURM_STEP_ID" in os.environ:
        size = _env_int(_SIZE_VARS[3:])
    return max(1, size or 1)


def launched_rank() -> int:
    """This process's rank as the launcher's environment says (0 when not started by one)."""
    return (_env_int(_RANK_VARS) or 0) if launched_size() > 1 else 0


def world():
    """mpi4py's ``COMM_WORLD``, or raise :class:`MpiMissing` with the install hint."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise MpiMissing("mpiexec", f"{launched_size()} processes were started but mpi4py cannot be imported "
                                    f"({e}); install it with {INSTALL_HINT}") from None
    return MPI.COMM_WORLD


class MpiComm:
    """The collective operations a distributed run needs (:class:`eventsim.distributed.Comm`), on mpi4py.

    Every call is collective: all processes of ``comm`` must make it, in the same order. The time
    spent inside them (waiting for the slowest process, and moving data) adds up in ``wait_s``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The communicator (default ``COMM_WORLD``).
    """

    def __init__(self, comm=None):
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = comm if comm is not None else world()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.wait_s = 0.0
        self._ops = {"min": MPI.MIN, "max": MPI.MAX, "sum": MPI.SUM}
        self._head = np.zeros(4, np.int64)  # spike count, status, total, least (exchange)
        self._heads = np.zeros((self.size, 4), np.int64)

    def _timed(self, f, *args):
        t0 = time.perf_counter()
        try:
            return f(*args)
        finally:
            self.wait_s += time.perf_counter() - t0

    def allreduce(self, value, op: str):
        """``value`` combined over all processes with ``op`` ("min", "max" or "sum"); same type back."""
        return self._timed(self.comm.allreduce, value, self._ops[op])

    def exchange(self, spikes: np.ndarray, status: int, total: int, least: int) -> tuple[np.ndarray, int, int, int]:
        """Every process's ``spikes`` (a record array) concatenated in rank order, the largest
        ``status``, the sum of ``total`` and the smallest ``least`` (int64).

        Two collectives: the counts with the figures (``Allgather``), then the records as bytes
        (``Allgatherv``, skipped when no process has spikes).
        """
        return self._timed(self._exchange, np.ascontiguousarray(spikes), int(status), int(total), int(least))

    def _exchange(self, spikes, status, total, least):
        MPI = self._MPI
        head = self._head
        head[0], head[1], head[2], head[3] = spikes.size, status, total, least
        self.comm.Allgather(head, self._heads)
        counts = self._heads[:, 0]
        n = int(counts.sum())
        out = np.empty(n, spikes.dtype)
        if n:
            item = spikes.dtype.itemsize
            sizes = counts * item
            displs = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            self.comm.Allgatherv(spikes.view(np.uint8), [out.view(np.uint8), sizes, displs, MPI.BYTE])
        heads = self._heads
        return out, int(heads[:, 1].max()), int(heads[:, 2].sum()), int(heads[:, 3].min())

    def gather(self, obj, root: int = 0):
        """The objects of all processes in rank order on ``root`` (None elsewhere); pickled."""
        return self._timed(self.comm.gather, obj, root)

    def allgather(self, obj) -> list:
        """The objects of all processes in rank order, on every process; pickled."""
        return self._timed(self.comm.allgather, obj)

    def bcast(self, obj, root: int = 0):
        """``root``'s object on every process; pickled."""
        return self._timed(self.comm.bcast, obj, root)

    def abort(self, code: int = 1) -> None:
        """End every process of the run now (``MPI_Abort``): for a failure only some processes saw."""
        self.comm.Abort(code)


def _parts(n: int, size: int) -> list[tuple[int, int]]:
    """Each rank's block of neurons; ValidationError if some rank would get none."""
    from eventsim import distributed

    if size > n:
        raise ValidationError("mpiexec -n", f"{size} processes for a network of {n} neuron{'s' * (n != 1)}: at most "
                                            "one process per neuron")
    return distributed.partition(n, size)


@dataclass
class DistributedRun:
    """Figures of a distributed run: its size, and one dict per rank on rank 0 (empty elsewhere).

    ``per_rank`` items: ``rank``, ``lo``, ``hi`` (its neuron ids), ``neurons``, ``synapses``, ``events``
    (synaptic and external events it processed), ``wall_s`` (its simulation's wall time),
    ``comm_wait_s`` (of which inside collectives: waiting for other ranks and moving spikes),
    ``peak_rss_bytes``.
    """

    ranks: int
    n_neurons: int
    n_synapses: int
    per_rank: list = field(default_factory=list)


def timed_run(network, duration: float, *, comm, threads: int | None = None, progress=None, on_phase=None,
              agree=None):
    """Build this process's part of ``network``, compile, simulate ``duration`` ms with the other
    processes, and gather the results on rank 0; the distributed counterpart of
    :func:`eventsim.profiling.timed_run`.

    ``agree(step)`` runs a step that may fail on some processes only (building the part) and makes
    every process fail alike (``eventsim run`` passes one that turns errors into one line); by
    default errors are raised where they happen. Returns (RunRecord, DistributedRun); the
    RunRecord's results are None on ranks other than 0.
    """
    from eventsim import distributed
    from eventsim.profiling import RunRecord

    agree = agree or (lambda step: step())
    threads = network.threads if threads is None else int(threads)
    parts = agree(lambda: _parts(network.n_neurons, comm.size))
    marks = {}

    def phase(name):
        marks[name] = time.perf_counter()
        if on_phase is not None:
            on_phase(name)

    phase("build")
    run = distributed.run_parts(network, duration, [parts[comm.rank]], comm, threads=threads, progress=progress,
                                on_phase=phase, agree=agree)
    marks["end"] = time.perf_counter()
    gathered = comm.gather(run)
    build_s = marks.get("compile", marks["end"]) - marks["build"]
    compile_s = marks.get("simulate", marks["end"]) - marks.get("compile", marks["end"])
    simulate_s = marks["end"] - marks.get("simulate", marks["end"])
    if comm.rank != 0:
        return RunRecord(None, build_s, compile_s, simulate_s, run.interrupted), DistributedRun(comm.size, 0, 0)
    figures = [f for r in gathered for f in r.figures]
    per_rank = [{"rank": k, "lo": f.lo, "hi": f.hi, "neurons": f.n_neurons, "synapses": f.n_synapses,
                 "events": f.events, "wall_s": f.wall_s, "comm_wait_s": f.comm_s, "peak_rss_bytes": f.peak_rss_bytes}
                for k, f in enumerate(figures)]
    info = DistributedRun(comm.size, sum(f.n_neurons for f in figures), sum(f.n_synapses for f in figures), per_rank)
    results = distributed.merge(gathered)
    return RunRecord(results, build_s, compile_s, simulate_s, run.interrupted), info


def run(network, duration: float, *, comm=None, threads: int | None = None, progress=None):
    """Simulate ``network`` for ``duration`` ms over the processes of an MPI run, one part each.

    Call it on every process with the same network description (the same script under
    ``mpiexec -n K``). Each process builds and simulates only its part (contiguous blocks of
    neurons, :func:`eventsim.distributed.partition`); the spikes are the same for any K.

    Parameters
    ----------
    network : Network
        The description (not yet prepared or run).
    duration : float
        Simulated time, ms.
    comm : MpiComm, optional
        Default: ``MpiComm()`` on ``COMM_WORLD``.
    threads : int, optional
        Threads per process (default: the network's ``threads``).
    progress : callable, optional
        ``progress(t_ms)``, called on every process between windows, about every 0.25 s of wall
        time; raising ``KeyboardInterrupt``
        in it on any process stops every process after the same window.

    Returns
    -------
    (Results or None, DistributedRun)
        The merged results on rank 0 (None on the other ranks), exactly as one process gives them,
        and the run's figures (per rank, on rank 0).
    """
    comm = comm or MpiComm()
    rec, info = timed_run(network, duration, comm=comm, threads=threads, progress=progress)
    return rec.results, info
