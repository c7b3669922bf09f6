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

import dataclasses
import re
import time

import numpy as np

from eventsim import connectivity, workload
from eventsim.distributions import describe, is_real, value_spec
from eventsim.errors import ValidationError, did_you_mean
from eventsim.models import resolve_parameters
from eventsim.prepared import Prepared
from eventsim.recording import Results, VoltageTrace
from eventsim.rng import ConnectionStreams, build_generator
from eventsim.stimuli import CurrentSteps, PoissonGenerator, SpikeTable, SpikeTrain, stimulus_arrays
from eventsim.timebase import MAX_MS, ms_to_ticks, ms_to_time, ticks_to_ms, time_to_ms

__all__ = ["Network", "Population", "NeuronView", "ENGINES"]

ENGINES = ("numba", "reference")
_PURPOSE_PARAMS = 2  # rng.PURPOSE_CONNECT (3) keys the connectivity streams
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


# ----------------------------------------------------------------------------- argument checks
# The API's own checks of argument *types*; ranges are checked where the quantity is defined
# (models, stimuli, synapses). ``bool`` is not a number here and a number is not a bool: Python
# would read ``allow_autapses="no"`` as true and ``rate=True`` as 1 Hz.
def _number(x, where: str) -> float:
    """``x`` as a float if it is a real number (numpy scalars too, bools not), else ValidationError."""
    if not is_real(x):
        raise ValidationError(where, f"expected a number, got {describe(x)}")
    return float(x)


def _numbers(x, where: str) -> np.ndarray:
    """A number or a 1-D sequence of numbers as a float64 array (1-D), else ValidationError."""
    if not isinstance(x, (str, bytes, dict)) and x is not None:
        try:
            a = np.asarray(x)
        except (ValueError, TypeError):
            a = None
        empty = a is not None and a.size == 0 and a.dtype.kind != "U"  # [] is float64, () too
        if a is not None and a.ndim <= 1 and (a.dtype.kind in "iuf" or empty):
            return np.atleast_1d(a).astype(np.float64)
    raise ValidationError(where, f"expected a number or a 1-D array of numbers, got {describe(x)}")


def _misspelt_keyword(rule_params: dict, where: str) -> None:
    """Refuse a rule parameter that is no rule's but looks like a keyword of ``connect``
    (``weigth=``), which the rule would only report as a parameter it does not take."""
    rule_keys = {k for keys in connectivity.RULE_PARAMS.values() for k in keys}
    for key in sorted(set(rule_params) - rule_keys):
        hint = did_you_mean(key, ("weight", "delay", "allow_autapses", "allow_multapses", "rule"))
        if hint:
            raise ValidationError(where, f"connect() has no argument {key!r}{hint}")


def _flag(x, where: str) -> bool:
    """``x`` if it is a bool (or numpy bool), else ValidationError."""
    if not isinstance(x, (bool, np.bool_)):
        raise ValidationError(where, f"must be True or False, got {describe(x)}")
    return bool(x)


def _restricted(stimulus, lo: int, hi: int):
    """``stimulus`` onto the targets in ``[lo, hi)`` only (global ids kept: they key Poisson streams)."""
    if isinstance(stimulus, SpikeTable):
        keep = (stimulus.target >= lo) & (stimulus.target < hi)
        delay = stimulus.delay[keep] if len(stimulus.delay) == len(stimulus.target) else stimulus.delay
        return dataclasses.replace(stimulus, target=stimulus.target[keep], time=stimulus.time[keep],
                                   weight=stimulus.weight[keep], delay=delay)
    t = np.asarray(stimulus.targets)
    return dataclasses.replace(stimulus, targets=t[(t >= lo) & (t < hi)])


def _local_stimuli(stim: dict, lo: int) -> dict:
    """Stimulus arrays built for global targets below ``hi`` as a part's: targets ``- lo``."""
    if lo:
        stim["neuron_ps_ptr"] = stim["neuron_ps_ptr"][lo:].copy()
        for k in ("ps_target", "sa_target", "cc_target"):
            stim[k] = stim[k] - lo
    return stim


class NeuronView:
    """A subset of one population's neurons, e.g. ``exc[:10]``.

    Parameters
    ----------
    population : Population
    local : 1-D array_like of int
        Indices within the population, in ``[0, population.size)``.
    """

    def __init__(self, population: "Population", local):
        if not isinstance(population, Population):
            raise ValidationError("NeuronView", f"expected a Population, got {describe(population)}")
        self.population = population
        self.local = np.asarray(local)
        where = f"populations.{population.name}"
        if self.local.ndim != 1 or (self.local.size and self.local.dtype.kind not in "iu"):
            raise ValidationError(where, f"a view needs 1-D integer indices, got {describe(local)}")
        self.local = self.local.astype(np.int64)
        bad = (self.local < 0) | (self.local >= population.size)
        if bad.any():
            raise ValidationError(where, f"index {self.local[bad][0]} out of range [0, {population.size})")

    @property
    def ids(self) -> np.ndarray:
        """Global ids (int64)."""
        return self.population.start + self.local

    def __len__(self) -> int:
        return int(self.local.size)

    def __repr__(self) -> str:
        return f"NeuronView({self.population.name!r}, {len(self)} neurons)"


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
        """Neurons ``key`` (an int, a slice, integer indices or a boolean mask of length ``size``).

        Raises
        ------
        ValidationError
            An index out of range or of another kind.
        """
        try:
            local = np.arange(self.size, dtype=np.int64)[key]
        except (IndexError, OverflowError, ValueError):
            raise ValidationError(f"populations.{self.name}", f"index {describe(key)} does not select neurons of a "
                                  f"population of {self.size}; expected an int or int array in [-{self.size}, "
                                  f"{self.size}), a slice or a boolean mask of length {self.size}") from None
        return NeuronView(self, np.atleast_1d(local))

    def __repr__(self) -> str:
        return f"Population({self.name!r}, size={self.size}, model={self.model!r})"


def max_threads() -> int:
    """The most threads a run may use: ``NUMBA_NUM_THREADS``, the threads Numba may start (the
    number of CPUs unless that environment variable says otherwise)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def too_many_threads(threads: int) -> str:
    """The message for a thread count above :func:`max_threads`."""
    return (f"at most NUMBA_NUM_THREADS = {max_threads()} (the CPUs Numba may use; set that environment "
            f"variable to allow more), got {threads}")


def check_threads(threads, where: str) -> int:
    """``threads`` as an int from 1 to :func:`max_threads`; ValidationError at ``where`` otherwise."""
    if not isinstance(threads, (int, np.integer)) or isinstance(threads, bool) or not 1 <= threads:
        raise ValidationError(where, f"must be an integer >= 1, got {describe(threads)}")
    if threads > max_threads():
        raise ValidationError(where, f"must be {too_many_threads(threads)}")
    return int(threads)


class Network:
    """Description of a spiking network, and the runs made with it.

    Parameters
    ----------
    seed : int
        Seed of every random choice (connections, distributed parameters, Poisson trains).
    engine : {"numba", "reference"}
        The compiled engine, or the pure-Python reference engine (slow; the test oracle).
    threads : int
        Threads of the compiled engine (1 to ``NUMBA_NUM_THREADS``, which defaults to the number of
        CPUs): a window's neurons are worked in that many parts at once. Spikes and voltages are
        bit-identical for every thread count. The reference engine runs on one.
    """

    def __init__(self, seed: int = 0, engine: str = "numba", threads: int = 1):
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**63:
            raise ValidationError("seed", f"must be an integer in [0, 2**63), got {describe(seed)}")
        if not isinstance(engine, str) or engine not in ENGINES:
            raise ValidationError("engine", f"must be one of {ENGINES}, got {describe(engine)}")
        self.seed = int(seed)
        self.engine_name = engine
        self.threads = check_threads(threads, "threads")
        self.populations: list[Population] = []
        self.projections: list[dict] = []
        self.stimuli: list = []
        self._record_all = True
        self._recorded_ids: list[np.ndarray] = []
        self._voltage_recorders: list[tuple[str, np.ndarray, np.ndarray]] = []
        self._engine = None
        self._prepared: Prepared | None = None
        self._parts_built = False
        self.timings = {"build_s": 0.0, "simulate_s": 0.0}

    # ----------------------------------------------------------------------------- description
    @property
    def n_neurons(self) -> int:
        """Total number of neurons."""
        return sum(p.size for p in self.populations)

    def population(self, name: str, where: str = "population") -> Population:
        """The population called ``name``; ValidationError (naming ``where``) if there is none."""
        names = [p.name for p in self.populations]
        if not isinstance(name, str):
            raise ValidationError(where, f"expected a population name, got {describe(name)}; have {names}")
        for p in self.populations:
            if p.name == name:
                return p
        raise ValidationError(where, f"no population named {name!r}{did_you_mean(name, names)}; have {names}")

    def add_population(self, name: str, size: int, model: str = "lif", params: dict | None = None, **kw) -> Population:
        """Add ``size`` neurons of ``model`` with parameters given as a dict and/or keywords.

        ``model`` is a key of :data:`eventsim.models.REGISTRY` (``"lif"``, ``"qif"``; docs/models.md
        lists their parameters, units and defaults). Parameter values may be scalars, arrays of
        length ``size``, or distributions (``{"distribution": "uniform", "min": .., "max": ..}``,
        ``"normal"`` with ``mean, std[, min, max]``).

        Raises
        ------
        ValidationError
            Bad name or size, an unknown model (the message lists the known ones) or a parameter
            the model refuses (:func:`eventsim.models.resolve_parameters`).
        """
        self._mutable()
        where = f"populations.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValidationError("populations", f"name must be an identifier, got {describe(name)}")
        if any(p.name == name for p in self.populations):
            raise ValidationError(where, "a population with this name exists already")
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
            raise ValidationError(f"{where}.size", f"must be a non-negative integer, got {describe(size)}")
        if self.n_neurons + int(size) > connectivity.MAX_NEURONS:
            raise ValidationError(f"{where}.size", f"{size} neurons make {self.n_neurons + int(size)} in the "
                                                   f"network; at most {connectivity.MAX_NEURONS} are supported")
        if params is not None and not isinstance(params, dict):
            raise ValidationError(f"{where}.params", f"expected a dict of parameters, got {describe(params)}")
        merged = dict(params or {})
        merged.update(kw)
        pop = Population(len(self.populations), name, int(size), self.n_neurons, model, merged)
        rng = build_generator(self.seed, _PURPOSE_PARAMS, pop.index)
        try:  # validate now (draws are repeated identically at prepare time)
            resolve_parameters(model, pop.size, merged, rng, where)
        except MemoryError:
            raise ValidationError(f"{where}.size", f"{size} neurons: not enough memory for their "
                                                   "parameters") from None
        self.populations.append(pop)
        return pop

    def _own(self, pop: Population, where: str) -> Population:
        """``pop`` if it is one of this network's populations (not another network's), else ValidationError."""
        if not (0 <= pop.index < len(self.populations) and self.populations[pop.index] is pop):
            raise ValidationError(where, f"population {pop.name!r} belongs to another Network; give this "
                                         "network's populations (or their names)")
        return pop

    def _pop(self, x, where: str) -> Population:
        """A whole population of this network, given as a Population or its name."""
        if isinstance(x, Population):
            return self._own(x, where)
        if isinstance(x, str):
            return self.population(x, where)
        if isinstance(x, NeuronView):
            raise ValidationError(where, f"expected a whole population, got {x!r}; connect populations "
                                         "(rule='explicit' takes local indices for subsets)")
        raise ValidationError(where, f"expected a Population or its name, got {describe(x)}")

    def _ids(self, targets, where: str) -> np.ndarray:
        """Global ids (int64, 1-D) of a Population or NeuronView of this network, a population name,
        or global neuron ids; ValidationError for anything else."""
        if isinstance(targets, (str, Population)):
            return self._pop(targets, where).ids
        if isinstance(targets, NeuronView):
            return self._own(targets.population, where).start + targets.local
        expected = f"expected a Population, its name, a NeuronView or 1-D integer neuron ids, got {describe(targets)}"
        try:
            ids = np.atleast_1d(np.asarray(targets))
        except (ValueError, TypeError):
            raise ValidationError(where, expected) from None
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu") or ids.dtype.kind in "USO":
            raise ValidationError(where, expected)
        if ids.dtype.kind == "u" and ids.size and ids.max() > np.iinfo(np.int64).max:
            raise ValidationError(where, f"neuron id {ids.max()} out of range [0, {self.n_neurons})")
        ids = ids.astype(np.int64)
        n = self.n_neurons
        bad = (ids < 0) | (ids >= n)
        if bad.any():
            raise ValidationError(where, f"neuron id {ids[bad][0]} out of range [0, {n})")
        return ids

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
        _misspelt_keyword(rule_params, where)
        r = connectivity.make_rule(rule, where=f"{where}.rule", **rule_params)
        w = value_spec(weight, f"{where}.weight")
        d = value_spec(delay, f"{where}.delay")
        connectivity.check_values(r, w, d, where)
        self.projections.append(dict(pre=pre_p.index, post=post_p.index, rule=r, weight=w, delay=d,
                                     allow_autapses=_flag(allow_autapses, f"{where}.allow_autapses"),
                                     allow_multapses=_flag(allow_multapses, f"{where}.allow_multapses"),
                                     where=where))
        return len(self.projections) - 1

    def _add_stimulus(self, stimulus) -> None:
        stimulus.validate()
        self.stimuli.append(stimulus)

    def add_poisson(self, targets, rate: float, weight: float, start: float = 0.0, stop: float | None = None) -> None:
        """An independent Poisson train of ``rate`` Hz into each target, jumps of ``weight`` mV, on ``[start, stop)`` ms.

        ``targets`` is a Population, its name, a NeuronView or global ids (each at most once), as
        for every stimulus and recorder.
        """
        self._mutable()
        where = f"stimuli[{len(self.stimuli)}]"
        self._add_stimulus(PoissonGenerator(
            self._ids(targets, f"{where}.targets"), _number(rate, f"{where}.rate"), _number(weight, f"{where}.weight"),
            _number(start, f"{where}.start"), None if stop is None else _number(stop, f"{where}.stop"), where))

    def add_spike_train(self, targets, times, weight: float, delay: float = 1.0) -> None:
        """Spikes at ``times`` (ms) into every target, ``weight`` mV, arriving ``delay`` ms later."""
        self._mutable()
        where = f"stimuli[{len(self.stimuli)}]"
        self._add_stimulus(SpikeTrain(self._ids(targets, f"{where}.targets"), _numbers(times, f"{where}.times"),
                                      _number(weight, f"{where}.weight"), _number(delay, f"{where}.delay"), where))

    def add_spike_table(self, targets, times, weights, delays=1.0) -> None:
        """Replay rows (target id, time ms, weight mV, delay ms); scalars broadcast."""
        self._mutable()
        where = f"stimuli[{len(self.stimuli)}]"
        tg = self._ids(targets, f"{where}.target")
        n = tg.size
        cols = {}
        for key, v in (("time", times), ("weight", weights), ("delay", delays)):
            a = _numbers(v, f"{where}.{key}")
            if a.size == 1 and n != 1:
                a = np.full(n, a[0])
            if a.size != n:
                raise ValidationError(f"{where}.{key}", f"expected {n} values (one per row), got {a.size}")
            cols[key] = a
        self._add_stimulus(SpikeTable(tg, cols["time"], cols["weight"], cols["delay"], where))

    def add_current_steps(self, targets, times, amplitudes) -> None:
        """Injected current ``amplitudes[k]`` pA from ``times[k]`` ms on (adds to ``I_e``)."""
        self._mutable()
        where = f"stimuli[{len(self.stimuli)}]"
        self._add_stimulus(CurrentSteps(self._ids(targets, f"{where}.targets"), _numbers(times, f"{where}.times"),
                                        _numbers(amplitudes, f"{where}.amplitudes"), where))

    def record_spikes(self, targets=None) -> None:
        """Record spikes of ``targets`` only (repeated calls add up); all neurons are recorded by default."""
        self._mutable()
        if targets is None:
            self._record_all = True
            return
        ids = self._ids(targets, "record_spikes")
        self._record_all = False
        self._recorded_ids.append(ids)

    def record_voltage(self, targets, times, name: str | None = None) -> str:
        """Sample the membrane potential of ``targets`` at exactly ``times`` (ms); returns the recorder name."""
        self._mutable()
        name = f"voltage{len(self._voltage_recorders)}" if name is None else name
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValidationError("recorders", f"name must be an identifier, got {describe(name)}")
        where = f"recorders.{name}"
        t = _numbers(times, f"{where}.times")
        if np.any(~np.isfinite(t)) or np.any(t < 0) or np.any(t > MAX_MS):
            raise ValidationError(f"{where}.times", f"must be finite times in [0, {MAX_MS:g}] ms")
        if any(r[0] == name for r in self._voltage_recorders):
            raise ValidationError(where, "a recorder with this name exists already")
        self._voltage_recorders.append((name, self._ids(targets, f"{where}.targets"), t))
        return name

    # ----------------------------------------------------------------------------- preparation
    def prepare(self, part: tuple[int, int] | None = None) -> Prepared:
        """Build the flat arrays (done once; the description is frozen afterwards).

        Parameters
        ----------
        part : (int, int), optional
            Build only the neurons with global ids ``[lo, hi)`` (a distributed run's part, see
            docs/distributed.md): their parameters, states, stimuli and recorders, and per
            projection the rows of all sources holding only the synapses onto them. A part is
            built anew at each call (not kept); the whole network is never built for it.
            Complexity: O(the part's synapses + sources per projection + neurons).
        """
        if part is not None:
            return self._prepare_part(*self._check_part(part))
        if self._prepared is not None:
            return self._prepared
        t0 = time.perf_counter()
        self._prepared = self._build(0, self.n_neurons)
        self.timings["build_s"] = time.perf_counter() - t0
        return self._prepared

    def _check_part(self, part) -> tuple[int, int]:
        """``part`` as ``(lo, hi)`` with ``0 <= lo < hi <= n_neurons``, else ValidationError."""
        n = self.n_neurons
        ok = isinstance(part, (tuple, list)) and len(part) == 2 and all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in part)
        if not ok or not 0 <= part[0] < part[1] <= n:
            raise ValidationError("part", f"expected (lo, hi) with 0 <= lo < hi <= {n} (the network's neurons), "
                                          f"got {describe(part)}")
        return int(part[0]), int(part[1])

    def _prepare_part(self, lo: int, hi: int) -> Prepared:
        self._parts_built = True  # freezes the description as prepare() does
        return self._build(lo, hi)

    def _mutable(self) -> None:
        if self._prepared is not None or self._parts_built:
            raise ValidationError("network", "cannot change the network after it has been prepared or run")

    def _build(self, lo: int, hi: int) -> Prepared:
        """The Prepared of neurons ``[lo, hi)`` (the whole network for ``(0, n_neurons)``)."""
        n = self.n_neurons
        pop_start = np.zeros(len(self.populations) + 1, np.int64)
        pop_start[1:] = np.cumsum([p.size for p in self.populations])
        whole = (lo, hi) == (0, n)
        arrays = self._neuron_arrays(lo, hi)
        built = []
        for j, pr in enumerate(self.projections):
            pre, post = self.populations[pr["pre"]], self.populations[pr["post"]]
            a, b = min(max(lo - post.start, 0), post.size), min(max(hi - post.start, 0), post.size)
            data = connectivity.build_projection(
                pr["rule"], pre.size, post.size, pre is post, pr["weight"], pr["delay"],
                allow_autapses=pr["allow_autapses"], allow_multapses=pr["allow_multapses"],
                streams=ConnectionStreams(self.seed, j), target_range=None if whole else (a, b),
                where=pr["where"])
            built.append((pr["pre"], pr["post"], data))
        conn = connectivity.assemble(built, pop_start)
        if lo:
            conn["syn_target"] -= np.int32(lo)  # local indices
        stimuli = self.stimuli if whole else [_restricted(s, lo, hi) for s in self.stimuli]
        stim = _local_stimuli(stimulus_arrays(stimuli, hi, self.seed), lo)
        record = np.ones(hi - lo, np.bool_)
        if not self._record_all:
            record[:] = False
            for ids in self._recorded_ids:
                mine = ids[(ids >= lo) & (ids < hi)]
                record[mine - lo] = True
        volts = self._voltage_arrays()
        keep = (volts["vs_target"] >= lo) & (volts["vs_target"] < hi)
        volts = {k: v[keep] for k, v in volts.items()}
        volts["vs_target"] -= lo
        return Prepared(pop_names=tuple(p.name for p in self.populations), pop_start=pop_start,
                        pop_model=tuple(p.model for p in self.populations), **arrays, **conn, **stim, **volts,
                        record_spikes=record, seed=self.seed, part=(lo, hi))

    def _neuron_arrays(self, lo: int, hi: int) -> dict:
        """Per-neuron parameter arrays of neurons ``[lo, hi)`` (each population's draws are made
        whole, so a part's values are the whole's)."""
        per_neuron = {k: [] for k in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "V_init", "I_e", "t_ref",
                                      "V_c", "delta_theta", "tau_theta", "tau_syn_ex", "tau_syn_in", "model_id")}
        for p in self.populations:
            a, b = max(lo, p.start) - p.start, min(hi, p.start + p.size) - p.start
            if a >= b:
                continue
            vals = resolve_parameters(p.model, p.size, p.params, build_generator(self.seed, _PURPOSE_PARAMS, p.index),
                                      f"populations.{p.name}")
            vals["model_id"] = np.full(p.size, vals["model_id"], np.int8)
            for k in per_neuron:
                per_neuron[k].append(np.asarray(vals[k])[a:b])
        dtypes = {"t_ref": np.int64, "model_id": np.int8}
        return {k: (np.concatenate(v) if v else np.zeros(0, dtypes.get(k, np.float64))) for k, v in per_neuron.items()}

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

                self._engine = NumbaEngine(prepared, threads=self.threads)
            else:
                from eventsim.reference import ReferenceEngine

                self._engine = ReferenceEngine(prepared)
        return self._engine

    @property
    def t(self) -> float:
        """Simulated time reached, ms."""
        return 0.0 if self._engine is None else ticks_to_ms(self._engine.now_tick)

    def _check_run(self, duration, progress) -> None:
        """Raise ValidationError unless ``run(duration, progress)`` is possible: ``duration`` a number
        of ms >= 0 that ends at most at 1e11 ms (the documented limit) counting earlier runs, and
        ``progress`` None or callable."""
        if not is_real(duration) or not 0 <= duration <= MAX_MS:
            raise ValidationError("run.duration", f"must be a finite number of ms in [0, {MAX_MS:g}], got "
                                                  f"{describe(duration)}")
        now = 0 if self._engine is None else int(self._engine.now_tick)
        if now + int(ms_to_ticks(duration)) > int(ms_to_ticks(MAX_MS)):
            raise ValidationError("run.duration", f"{float(duration):g} ms from t = {self.t:g} ms would end past "
                                                  f"{MAX_MS:g} ms, the longest simulated time")
        if progress is not None and not callable(progress):
            raise ValidationError("run.progress", f"expected None or a callable progress(t_ms), got "
                                                  f"{describe(progress)}")

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
        self._check_run(duration, progress)
        d = np.float64(duration)
        t_from = self.t
        workload.check(workload.estimate(self.prepare(), self.stimuli, t_from, t_from + float(d), self.engine_name))
        engine = self.engine
        stop = engine.now_tick + int(ms_to_ticks(d))
        t0 = time.perf_counter()
        try:
            engine.advance(stop, progress=None if progress is None else lambda tick: progress(ticks_to_ms(tick)))
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
        return Results(spike_ids=ids, spike_times=time_to_ms(ticks, fracs), t_stop=ticks_to_ms(engine.now_tick),
                       pop_names=p.pop_names, pop_start=p.pop_start, recorded=p.record_spikes,
                       voltages=traces, counters=dict(engine.counters))
