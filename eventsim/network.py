"""The network description and its Python API.

A :class:`Network` holds populations, projections, stimuli and recorders as a plain description.
:meth:`Network.prepare` turns it once into a :class:`~eventsim.prepared.Prepared` (flat arrays),
and :meth:`Network.run` hands that to an engine and collects :class:`~eventsim.recording.Results`.
Units follow NEST: ms, mV, pA, pF, nS, Hz.

Example
-------
>>> import eventsim
>>> net = eventsim.Network(seed=1)
>>> exc = net.add_population("exc", 80, tau_m=20.0, V_th=20.0, V_reset=10.0, E_L=0.0, V_init=0.0)
>>> _ = net.connect(exc, exc, rule="fixed_indegree", indegree=10, weight=0.2, delay=1.5)
>>> net.add_poisson(exc, rate=15000.0, weight=0.1)
>>> res = net.run(100.0)
>>> res.spike_times.dtype
dtype('float64')
"""

from __future__ import annotations

import re
import time

import numpy as np

from eventsim import connectivity
from eventsim.distributions import value_spec
from eventsim.errors import ValidationError
from eventsim.models import resolve_parameters
from eventsim.prepared import Prepared
from eventsim.recording import Results, VoltageTrace
from eventsim.rng import build_generator
from eventsim.stimuli import CurrentSteps, PoissonGenerator, SpikeTable, SpikeTrain, stimulus_arrays
from eventsim.timebase import MAX_MS, TICK_MS, ms_to_ticks, ms_to_time, time_to_ms

__all__ = ["Network", "Population", "NeuronView", "ENGINES"]

ENGINES = ("numba", "reference")
_PURPOSE_PARAMS = 2
_PURPOSE_CONNECT = 3
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


class NeuronView:
    """A subset of one population's neurons (global ids), e.g. ``exc[:10]``."""

    def __init__(self, population: "Population", local: np.ndarray):
        self.population = population
        self.local = local

    @property
    def ids(self) -> np.ndarray:
        """Global ids (int64)."""
        return self.population.start + self.local

    def __len__(self) -> int:
        return int(self.local.size)


class Population:
    """A group of neurons of one model; global ids ``start .. start + size - 1``."""

    def __init__(self, index: int, name: str, size: int, start: int, model: str, params: dict):
        self.index = index
        self.name = name
        self.size = size
        self.start = start
        self.model = model
        self.params = params

    @property
    def ids(self) -> np.ndarray:
        """Global ids (int64)."""
        return np.arange(self.start, self.start + self.size, dtype=np.int64)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key) -> NeuronView:
        local = np.arange(self.size, dtype=np.int64)[key]
        return NeuronView(self, np.atleast_1d(local))

    def __repr__(self) -> str:
        return f"Population({self.name!r}, size={self.size}, model={self.model!r})"


class Network:
    """Description of a spiking network, and the runs made with it.

    Parameters
    ----------
    seed : int
        Seed of every random choice (connections, distributed parameters, Poisson trains).
    engine : {"numba", "reference"}
        The compiled engine, or the pure-Python reference engine (slow; the test oracle).
    """

    def __init__(self, seed: int = 0, engine: str = "numba"):
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**63:
            raise ValidationError("seed", f"must be an integer in [0, 2**63), got {seed!r}")
        if engine not in ENGINES:
            raise ValidationError("engine", f"must be one of {ENGINES}, got {engine!r}")
        self.seed = int(seed)
        self.engine_name = engine
        self.populations: list[Population] = []
        self.projections: list[dict] = []
        self.stimuli: list = []
        self._record_all = True
        self._recorded_ids: list[np.ndarray] = []
        self._voltage_recorders: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._engine = None
        self._prepared: Prepared | None = None
        self.timings = {"build_s": 0.0, "simulate_s": 0.0}

    # ----------------------------------------------------------------------------- description
    @property
    def n_neurons(self) -> int:
        """Total number of neurons."""
        return sum(p.size for p in self.populations)

    def _mutable(self) -> None:
        if self._prepared is not None:
            raise ValidationError("network", "cannot change the network after it has been prepared or run")

    def population(self, name: str) -> Population:
        """The population called ``name``."""
        for p in self.populations:
            if p.name == name:
                return p
        raise ValidationError("population", f"no population named {name!r}; have {[p.name for p in self.populations]}")

    def add_population(self, name: str, size: int, model: str = "lif", params: dict | None = None, **kw) -> Population:
        """Add ``size`` neurons of ``model`` with parameters given as a dict and/or keywords.

        Parameter values may be scalars, arrays of length ``size``, or distributions
        (``{"distribution": "uniform", "min": .., "max": ..}``, ``"normal"`` with ``mean, std[, min, max]``).
        """
        self._mutable()
        where = f"populations.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValidationError("populations", f"name must be an identifier, got {name!r}")
        if any(p.name == name for p in self.populations):
            raise ValidationError(where, "a population with this name exists already")
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
            raise ValidationError(f"{where}.size", f"must be a non-negative integer, got {size!r}")
        merged = dict(params or {})
        merged.update(kw)
        pop = Population(len(self.populations), name, int(size), self.n_neurons, model, merged)
        # validate now (draws are repeated identically at prepare time)
        resolve_parameters(model, pop.size, merged, build_generator(self.seed, _PURPOSE_PARAMS, pop.index), where)
        self.populations.append(pop)
        return pop

    def _ids(self, targets, where: str) -> np.ndarray:
        if isinstance(targets, (Population, NeuronView)):
            return targets.ids
        ids = np.atleast_1d(np.asarray(targets))
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValidationError(where, f"expected a population, a view or integer neuron ids, got {ids.dtype}")
        ids = ids.astype(np.int64)
        n = self.n_neurons
        bad = (ids < 0) | (ids >= n)
        if bad.any():
            raise ValidationError(where, f"neuron id {ids[bad][0]} out of range [0, {n})")
        return ids

    def _pop(self, x, where: str) -> Population:
        if isinstance(x, Population):
            return x
        if isinstance(x, str):
            try:
                return self.population(x)
            except ValidationError:
                raise ValidationError(where, f"no population named {x!r}; have {[p.name for p in self.populations]}") from None
        raise ValidationError(where, f"expected a Population or its name, got {type(x).__name__}")

    def connect(self, pre, post, rule: str = "all_to_all", *, weight=1.0, delay=1.0,
                allow_autapses: bool = True, allow_multapses: bool = True, **rule_params) -> int:
        """Connect population ``pre`` to ``post``; returns the projection's index.

        Parameters
        ----------
        pre, post : Population or str
        rule : str
            ``all_to_all``, ``one_to_one``, ``fixed_indegree`` (``indegree``), ``fixed_outdegree``
            (``outdegree``), ``fixed_total_number`` (``N``), ``pairwise_bernoulli`` (``p``; alias
            ``fixed_probability``), ``explicit`` (``sources``, ``targets``: local indices).
        weight : float, array or distribution, mV
        delay : float, array or distribution, ms (> 0; resolution 1 ns)
        allow_autapses, allow_multapses : bool
        """
        self._mutable()
        where = f"projections[{len(self.projections)}]"
        pre_p = self._pop(pre, f"{where}.source")
        post_p = self._pop(post, f"{where}.target")
        r = connectivity.make_rule(rule, where=f"{where}.rule", **rule_params)
        w = value_spec(weight, f"{where}.weight")
        d = value_spec(delay, f"{where}.delay")
        self.projections.append(dict(pre=pre_p.index, post=post_p.index, rule=r, weight=w, delay=d,
                                     allow_autapses=bool(allow_autapses), allow_multapses=bool(allow_multapses),
                                     where=where))
        return len(self.projections) - 1

    def add_poisson(self, targets, rate: float, weight: float, start: float = 0.0, stop: float | None = None) -> None:
        """An independent Poisson train of ``rate`` Hz into each target, jumps of ``weight`` mV, on ``[start, stop)`` ms."""
        self._mutable()
        where = f"stimuli[{len(self.stimuli)}]"
        g = PoissonGenerator(self._ids(targets, f"{where}.targets"), float(rate), float(weight), float(start),
                             None if stop is None else float(stop), where)
        g.validate()
        self.stimuli.append(g)

    def add_spike_train(self, targets, times, weight: float, delay: float = 1.0) -> None:
        """Spikes at ``times`` (ms) into every target, ``weight`` mV, arriving ``delay`` ms later."""
        self._mutable()
        where = f"stimuli[{len(self.stimuli)}]"
        self.stimuli.append(SpikeTrain(self._ids(targets, f"{where}.targets"), np.asarray(times, np.float64),
                                       float(weight), float(delay), where))

    def add_spike_table(self, targets, times, weights, delays=1.0) -> None:
        """Replay rows (target id, time ms, weight mV, delay ms); scalars broadcast."""
        self._mutable()
        where = f"stimuli[{len(self.stimuli)}]"
        tg = self._ids(targets, f"{where}.target")
        n = tg.size
        cols = {}
        for key, v in (("time", times), ("weight", weights), ("delay", delays)):
            a = np.atleast_1d(np.asarray(v, dtype=np.float64))
            if a.size == 1 and n != 1:
                a = np.full(n, a[0])
            if a.size != n:
                raise ValidationError(f"{where}.{key}", f"expected {n} values (one per row), got {a.size}")
            cols[key] = a
        self.stimuli.append(SpikeTable(tg, cols["time"], cols["weight"], cols["delay"], where))

    def add_current_steps(self, targets, times, amplitudes) -> None:
        """Injected current ``amplitudes[k]`` pA from ``times[k]`` ms on (adds to ``I_e``)."""
        self._mutable()
        where = f"stimuli[{len(self.stimuli)}]"
        self.stimuli.append(CurrentSteps(self._ids(targets, f"{where}.targets"), np.asarray(times, np.float64),
                                         np.asarray(amplitudes, np.float64), where))

    def record_spikes(self, targets=None) -> None:
        """Record spikes of ``targets`` only (repeated calls add up); all neurons are recorded by default."""
        self._mutable()
        if targets is None:
            self._record_all = True
            return
        self._record_all = False
        self._recorded_ids.append(self._ids(targets, "record_spikes"))

    def record_voltage(self, targets, times, name: str | None = None) -> str:
        """Sample the membrane potential of ``targets`` at exactly ``times`` (ms); returns the recorder name."""
        self._mutable()
        name = name or f"voltage{len(self._voltage_recorders)}"
        where = f"recorders.{name}"
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if np.any(~np.isfinite(t)) or np.any(t < 0) or np.any(t > MAX_MS):
            raise ValidationError(f"{where}.times", f"must be finite times in [0, {MAX_MS:g}] ms")
        if any(r[0] == name for r in self._voltage_recorders):
            raise ValidationError(where, "a recorder with this name exists already")
        self._voltage_recorders.append((name, self._ids(targets, f"{where}.targets"), t))
        return name

    # ----------------------------------------------------------------------------- preparation
    def prepare(self) -> Prepared:
        """Build the flat arrays (done once; the description is frozen afterwards)."""
        if self._prepared is not None:
            return self._prepared
        t0 = time.perf_counter()
        n = self.n_neurons
        pop_start = np.zeros(len(self.populations) + 1, np.int64)
        pop_start[1:] = np.cumsum([p.size for p in self.populations])
        per_neuron = {k: [] for k in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "V_init", "I_e", "t_ref")}
        for p in self.populations:
            vals = resolve_parameters(p.model, p.size, p.params, build_generator(self.seed, _PURPOSE_PARAMS, p.index),
                                      f"populations.{p.name}")
            for k in per_neuron:
                per_neuron[k].append(vals[k])
        arrays = {k: (np.concatenate(v) if v else np.zeros(0, np.int64 if k == "t_ref" else np.float64))
                  for k, v in per_neuron.items()}
        built = []
        for j, pr in enumerate(self.projections):
            pre, post = self.populations[pr["pre"]], self.populations[pr["post"]]
            data = connectivity.build_projection(
                pr["rule"], pre.size, post.size, pre is post, pr["weight"], pr["delay"],
                allow_autapses=pr["allow_autapses"], allow_multapses=pr["allow_multapses"],
                rng=build_generator(self.seed, _PURPOSE_CONNECT, j), where=pr["where"])
            built.append((pr["pre"], pr["post"], data))
        conn = connectivity.assemble(built, pop_start)
        stim = stimulus_arrays(self.stimuli, n, self.seed)
        record = np.ones(n, np.bool_)
        if not self._record_all:
            record[:] = False
            for ids in self._recorded_ids:
                record[ids] = True
        self._prepared = Prepared(pop_names=tuple(p.name for p in self.populations), pop_start=pop_start,
                                  **arrays, **conn, **stim, **self._voltage_arrays(), record_spikes=record,
                                  seed=self.seed)
        self.timings["build_s"] = time.perf_counter() - t0
        return self._prepared

    def _voltage_arrays(self) -> dict:
        ticks, fracs, targets, slots = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        offset = 0
        for _, ids, t in self._voltage_recorders:
            tk, fr = ms_to_time(t)
            ticks.append(np.tile(tk, ids.size))
            fracs.append(np.tile(fr, ids.size))
            targets.append(np.repeat(ids, t.size))
            slots.append(offset + np.arange(ids.size * t.size, dtype=np.int64))
            offset += ids.size * t.size
        tick, frac, target, slot = (np.concatenate(x) for x in (ticks, fracs, targets, slots))
        order = np.lexsort((target, frac, tick))
        return dict(vs_tick=tick[order], vs_frac=frac[order], vs_target=target[order], vs_slot=slot[order])

    # ----------------------------------------------------------------------------- running
    @property
    def engine(self):
        """The engine simulating this network (created at the first run)."""
        if self._engine is None:
            prepared = self.prepare()
            if self.engine_name == "numba":
                from eventsim.engine.numba_engine import NumbaEngine

                self._engine = NumbaEngine(prepared)
            else:
                from eventsim.reference import ReferenceEngine

                self._engine = ReferenceEngine(prepared)
        return self._engine

    @property
    def t(self) -> float:
        """Simulated time reached, ms."""
        return 0.0 if self._engine is None else self._engine.now_tick * TICK_MS

    def run(self, duration: float, progress=None) -> Results:
        """Simulate ``duration`` ms more (events before the new stop time); returns all results so far.

        Parameters
        ----------
        duration : float
            ms, >= 0; rounded to the 1 ns grid.
        progress : callable, optional
            ``progress(t_ms)`` called every ~0.25 s of wall time, both engines. A ``KeyboardInterrupt``
            (or any exception) it raises stops the run there: ``t`` and ``results`` then cover every
            event before ``t``, none at or after it, and a later ``run`` continues from ``t``.

        Raises
        ------
        ValidationError
            A bad duration, or a run expected to process more events than can be simulated
            (:func:`eventsim.workload.check`, which warns about long runs).
        """
        d = np.float64(duration)
        if not np.isfinite(d) or d < 0 or d > MAX_MS:
            raise ValidationError("run.duration", f"must be a finite number of ms in [0, {MAX_MS:g}], got {duration!r}")
        from eventsim import workload

        t_from = self.t
        workload.check(workload.estimate(self.prepare(), self.stimuli, t_from, t_from + float(d), self.engine_name))
        engine = self.engine
        stop = engine.now_tick + int(ms_to_ticks(d))
        t0 = time.perf_counter()
        try:
            engine.advance(stop, progress=None if progress is None else lambda tick: progress(tick * TICK_MS))
        finally:
            self.timings["simulate_s"] += time.perf_counter() - t0
        return self.results

    @property
    def results(self) -> Results:
        """Everything recorded so far."""
        engine = self.engine
        p = self._prepared
        ids, ticks, fracs = engine.spikes()
        volts = engine.voltages
        traces, offset = {}, 0
        for name, rid, t in self._voltage_recorders:
            size = rid.size * t.size
            traces[name] = VoltageTrace(name, rid, t, volts[offset : offset + size].reshape(rid.size, t.size).copy())
            offset += size
        return Results(spike_ids=ids, spike_times=time_to_ms(ticks, fracs), t_stop=engine.now_tick * TICK_MS,
                       pop_names=p.pop_names, pop_start=p.pop_start, recorded=p.record_spikes,
                       voltages=traces, counters=dict(engine.counters))
