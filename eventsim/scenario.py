"""Scenario files: a TOML description of a whole experiment, validated, then built into a Network.

A scenario (``schema = 1``, see docs/scenarios.md) holds ``[run]``, ``[populations.NAME]``,
``[[projections]]``, ``[[stimuli]]`` and ``[recorders]``. :func:`load` reads it, applies command-line
overrides (:func:`~eventsim.documents.apply_overrides`), checks every key, type and name, estimates the memory the
network needs and returns a :class:`Scenario`; :meth:`Scenario.network` builds the
:class:`~eventsim.network.Network`. Every problem is a :class:`~eventsim.errors.ScenarioError`
naming the file, the key path (``projections[2].delay``) and what was expected. Table files (CSV
with a header row, NPZ, NPY; for spike tables also SONATA ``.h5``) are read relative to the
scenario file.

Example
-------
>>> sc = load("scenarios/brunel_delta.toml", ["run.duration=20", "populations.exc.size=200"])
>>> net = sc.network()
>>> results = net.run(sc.duration)
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from pathlib import Path

import numpy as np

from eventsim import tables
from eventsim.checker import Checker, missing_file, show
from eventsim.connectivity import ALIASES, RULE_PARAMS, RULES
from eventsim.output import FORMATS
from eventsim.distributions import DISTRIBUTIONS
from eventsim.documents import apply_overrides, document_hash, read_document
from eventsim.errors import ScenarioError, ValidationError, did_you_mean
from eventsim.memory import available_memory, peak_bytes
from eventsim.memory import megabytes as _mb
from eventsim.models import MODELS
from eventsim.network import ENGINES, Network, max_threads, too_many_threads
from eventsim.timebase import MAX_MS

__all__ = ["SCHEMA", "Scenario", "load", "available_memory"]

SCHEMA = 1
MAX_NEURONS = 2**31 - 1  # global ids and CSR targets are int32
_TOP = ("schema", "description", "run", "populations", "projections", "stimuli", "recorders")
_RUN = ("duration", "seed", "engine", "threads", "formats")
# rule -> its numeric parameters (explicit's sources and targets are checked apart, see _EXPLICIT)
_RULES = {name: RULE_PARAMS[ALIASES.get(name, name)] for name in (*RULES, *ALIASES) if name != "explicit"}
_RULES["explicit"] = ()
_PROJ = ("source", "target", "rule", "weight", "delay", "allow_autapses", "allow_multapses")
_EXPLICIT = ("file", "ids", "ignore_columns", "sources", "targets")
_CONN_COLUMNS = ("source", "target", "weight", "delay")
_SPIKE_COLUMNS = ("target", "ids", "time", "times", "weight", "delay")  # ids, times: replay a spikes.npz
_STIM = {  # type -> (required, optional)
    "poisson": (("targets", "rate", "weight"), ("start", "stop")),
    "spike_train": (("targets", "times", "weight"), ("delay",)),
    "spike_table": (("file",), ("ids", "population", "weight", "delay", "ignore_columns", "sonata_population")),
    "current_steps": (("targets", "times", "amplitudes"), ()),
}
_VOLTAGE = ("name", "population", "ids", "times")


# ----------------------------------------------------------------------------------------- values
def _value(ck: Checker, v, where: str, n: int | None = None):
    """A parameter, weight or delay: number, array, distribution table or ``{file, column}``."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(ck.number(v, where))
    if isinstance(v, list):
        a = ck.numbers(v, where)
        if n is not None and a.size != n:
            ck.fail(where, f"expected {n} values (one per neuron), got {a.size}")
        return a
    if isinstance(v, dict) and "file" in v:
        ck.keys(v, ("file", "column"), where)
        return tables.file_values(ck, v, where, n)
    if isinstance(v, dict):
        if "distribution" not in v:
            ck.fail(f"{where}.distribution", f"missing required key: a table value is a distribution "
                                             f"({' or '.join(map(repr, DISTRIBUTIONS))}) or {{file, column}}")
        kind = ck.string(v["distribution"], f"{where}.distribution", tuple(DISTRIBUTIONS))
        req, opt = DISTRIBUTIONS[kind]
        ck.keys(v, ("distribution",) + req + opt, where, required=req)
        out = {"distribution": kind}
        for key in req + opt:
            if key in v:
                out[key] = float(ck.number(v[key], f"{where}.{key}", minimum=0.0 if key == "std" else None))
        if kind == "uniform" and out["min"] > out["max"]:
            ck.fail(f"{where}.max", f"expected max >= min, got min={out['min']!r}, max={out['max']!r}")
        return out
    ck.fail(where, f"expected a number, an array, a distribution table or {{file, column}}, got {show(v)}")


def _times(ck: Checker, v, where: str) -> np.ndarray:
    if isinstance(v, dict):
        ck.keys(v, ("start", "stop", "step"), where, required=("start", "stop", "step"))
        start = ck.number(v["start"], f"{where}.start", minimum=0.0)
        stop = ck.number(v["stop"], f"{where}.stop", minimum=start, maximum=MAX_MS)
        step = ck.number(v["step"], f"{where}.step", minimum=0.0, strict=True)
        count = int(math.floor((stop - start) / step * (1 + 1e-12)))
        if count > 10**8:
            ck.fail(where, f"expected at most 1e8 sample times, got {count}")
        return start + step * np.arange(count, dtype=np.float64)  # [start, stop)
    return ck.numbers(v, where, minimum=0.0, maximum=MAX_MS)


def _other_models_keys(ck: Checker, table: dict, model: str, where: str) -> None:
    """Fail on a parameter of another model (``V_peak`` on ``lif``, ``V_th`` on ``qif``): name the
    models that have it and this one's parameters, rather than guess a similar name of this model."""
    spec = MODELS[model]
    for key in table:
        if key in ("model", "size") or key in spec.units or key in spec.aliases:
            continue
        owners = [name for name, other in MODELS.items() if key in other.units or key in other.aliases]
        if owners:
            threshold = f" (its threshold is {spec.threshold})" if key in ("V_th", "V_peak") else ""
            ck.fail(f"{where}.{key}", f"not a parameter of model {model!r}{threshold}, but of "
                                      f"{', '.join(map(repr, owners))}; {model!r} has {', '.join(spec.units)}")


class Scenario:
    """A validated scenario: the resolved document and everything read from its table files.

    Parameters
    ----------
    path : str or Path
        The scenario file (table files are relative to it).
    doc : dict
        The parsed, overridden document.
    available : int, optional
        Bytes of memory available: a table file that could need more to read is refused before
        it is read. None: not checked.

    Attributes
    ----------
    path : pathlib.Path
        The scenario file.
    doc : dict
        The resolved document (after overrides, ``--seed`` and ``--engine``).
    duration : float
        ms.
    seed : int
    engine : str
    sha256 : str
        Hash of the resolved document with every table file replaced by the sha256 of its contents
        (taken when loading), so a copy elsewhere hashes the same and an edited table does not.
    """

    def __init__(self, path, doc: dict, available: int | None = None):
        self.path = Path(path)
        self.doc = doc
        self._ck = Checker(self.path, available)
        self._check()
        self.sha256 = self._hash()

    # ------------------------------------------------------------------------------- checking
    def _check(self) -> None:
        ck, doc = self._ck, self.doc
        ck.keys(doc, _TOP, "", required=("schema", "run", "populations"))
        if doc["schema"] != SCHEMA or type(doc["schema"]) is not int:
            ck.fail("schema", f"expected {SCHEMA} (the only version this eventsim reads), got {doc['schema']!r}")
        if "description" in doc:
            ck.string(doc["description"], "description")
        run = doc["run"]
        ck.keys(run, _RUN, "run", required=("duration",))
        self.duration = float(ck.number(run["duration"], "run.duration", minimum=0.0, maximum=MAX_MS))
        self.seed = int(ck.number(run.get("seed", 0), "run.seed", integer=True, minimum=0, maximum=2**63 - 1))
        self.engine = ck.string(run.get("engine", "numba"), "run.engine", ENGINES)
        self.threads = int(ck.number(run.get("threads", 1), "run.threads", integer=True, minimum=1))
        if self.threads > max_threads():
            ck.fail("run.threads", f"expected {too_many_threads(self.threads)}")
        formats = run.get("formats", ["npz"])
        if not isinstance(formats, list):
            ck.fail("run.formats", f"expected a list of formats from {list(FORMATS)}, got {formats!r}")
        self.formats = tuple(sorted({ck.string(f, f"run.formats[{k}]", FORMATS) for k, f in enumerate(formats)}
                                    | {"npz"}))
        self.sizes = self._check_populations(doc["populations"])
        self.projections = [self._check_projection(p, f"projections[{j}]")
                            for j, p in enumerate(self._array(doc, "projections"))]
        self.stimuli = [self._check_stimulus(s, f"stimuli[{k}]") for k, s in enumerate(self._array(doc, "stimuli"))]
        self._check_recorders(doc.get("recorders", {}))

    def _array(self, doc, key, where: str | None = None) -> list:
        where = where or key
        v = doc.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            self._ck.fail(where, f"expected an array of tables ([[{where}]]), got {show(v)}")
        return v

    def _check_populations(self, pops) -> dict:
        ck = self._ck
        ck.keys(pops, list(pops) if isinstance(pops, dict) else (), "populations")
        if not pops:
            ck.fail("populations", "expected at least one population")
        sizes, self.params = {}, {}
        for name, table in pops.items():
            where = f"populations.{name}"
            if not isinstance(table, dict):
                ck.fail(where, f"expected a table ([populations.{name}]), got {show(table)}")
            model = ck.string(table.get("model", "lif"), f"{where}.model", tuple(MODELS))
            spec = MODELS[model]
            _other_models_keys(ck, table, model, where)
            ck.keys(table, ("model", "size") + tuple(spec.units) + tuple(spec.aliases), where, required=("size",))
            sizes[name] = ck.number(table["size"], f"{where}.size", integer=True, minimum=0, maximum=MAX_NEURONS)
        if sum(sizes.values()) > MAX_NEURONS:
            ck.fail("populations", f"expected at most {MAX_NEURONS} neurons in all, got {sum(sizes.values())}")
        for name, table in pops.items():  # values after all sizes are known (no allocation before the memory check)
            self.params[name] = {k: v for k, v in table.items() if k not in ("model", "size")}
        return sizes

    def _population(self, v, where: str) -> str:
        name = self._ck.string(v, where)
        if name not in self.sizes:
            hint = did_you_mean(name, self.sizes, otherwise=f"; have {', '.join(self.sizes)}")
            self._ck.fail(where, f"unknown population {name!r}{hint}")
        return name

    def _check_projection(self, p: dict, where: str) -> dict:
        ck = self._ck
        rule = ck.string(p.get("rule"), f"{where}.rule", tuple(_RULES)) if "rule" in p else ck.fail(f"{where}.rule", "missing required key")
        allowed = _PROJ + _RULES[rule] + (_EXPLICIT if rule == "explicit" else ())
        ck.keys(p, allowed, where, required=("source", "target") + _RULES[rule])
        out = dict(source=self._population(p["source"], f"{where}.source"),
                   target=self._population(p["target"], f"{where}.target"), rule=rule, params={})
        for key in ("allow_autapses", "allow_multapses"):
            out[key] = ck.boolean(p.get(key, True), f"{where}.{key}")
        for key in _RULES[rule]:
            integer = key != "p"
            out["params"][key] = ck.number(p[key], f"{where}.{key}", integer=integer, minimum=0,
                                           maximum=1.0 if key == "p" else None)
        columns = self._explicit(p, out, where) if rule == "explicit" else {}
        for key in ("weight", "delay"):
            if key in p and key in columns:
                ck.fail(f"{where}.{key}", "given both here and as a column of the connection file")
            if key not in p and key not in columns:
                ck.fail(f"{where}.{key}", "missing required key")
            out[key] = columns[key] if key in columns else _value(ck, p[key], f"{where}.{key}")
            if key == "delay":
                d = out[key]
                low = d if isinstance(d, (float, np.ndarray)) else d.get("min", d.get("mean"))
                if np.any(np.asarray(low) <= 0):
                    ck.fail(f"{where}.delay", f"expected delays > 0 ms, got {float(np.min(low))!r}")
        return out

    def _explicit(self, p: dict, out: dict, where: str) -> dict:
        ck = self._ck
        src_n, tgt_n = self.sizes[out["source"]], self.sizes[out["target"]]
        columns = {}
        if "file" in p:
            if "sources" in p or "targets" in p:
                ck.fail(f"{where}.file", "give either file or sources/targets, not both")
            mode = ck.string(p.get("ids", "local"), f"{where}.ids", ("local", "global"))
            table = ck.table(p, where, _CONN_COLUMNS)
            src = tables.column(ck, table, "source", f"{where}.file", integer=True)
            tgt = tables.column(ck, table, "target", f"{where}.file", integer=True)
            if mode == "global":
                src, tgt = src - self._start(out["source"]), tgt - self._start(out["target"])
            for key in ("weight", "delay"):
                c = tables.column(ck, table, key, f"{where}.file", required=False)
                if c is not None:
                    columns[key] = c
            if "delay" in columns:
                tables.check_rows(ck, table, f"{where}.file", "delay", columns["delay"] <= 0, columns["delay"],
                                  "expected a delay > 0 ms")
            what = f"{mode} "
        else:
            table = None
            if "ignore_columns" in p:
                ck.fail(f"{where}.ignore_columns", "only used with file")
            for key in ("sources", "targets"):
                if key not in p:
                    ck.fail(f"{where}.{key}", "missing required key (or give file = a connection table)")
            if "ids" in p:
                ck.fail(f"{where}.ids", "only used with file; sources and targets are local ids")
            src = ck.numbers(p["sources"], f"{where}.sources", integer=True)
            tgt = ck.numbers(p["targets"], f"{where}.targets", integer=True)
            if src.size != tgt.size:
                ck.fail(f"{where}.targets", f"expected {src.size} ids (one per source), got {tgt.size}")
            what = ""
        key = "{}" if table is not None else "{}s"  # a table's source column, or the sources array
        tables.check_ids(ck, src, 0, src_n, f"{where}.{key.format('source')}", f"{what}source", table)
        tables.check_ids(ck, tgt, 0, tgt_n, f"{where}.{key.format('target')}", f"{what}target", table)
        out["params"] = dict(sources=src, targets=tgt)
        return columns

    def _start(self, name: str) -> int:
        start = 0
        for other, size in self.sizes.items():
            if other == name:
                return start
            start += size
        raise KeyError(name)

    def _targets(self, v, where: str):
        """``"pop"`` or ``{population, ids}`` -> (population name, local ids or None)."""
        ck = self._ck
        if isinstance(v, str):
            return self._population(v, where), None
        ck.keys(v, ("population", "ids"), where, required=("population",))
        name = self._population(v["population"], f"{where}.population")
        if "ids" not in v:
            return name, None
        ids = ck.numbers(v["ids"], f"{where}.ids", integer=True)
        tables.check_ids(ck, ids, 0, self.sizes[name], f"{where}.ids", f"population {name!r}")
        return name, ids

    def _check_stimulus(self, s: dict, where: str) -> dict:
        ck = self._ck
        kind = ck.string(s.get("type"), f"{where}.type", tuple(_STIM)) if "type" in s else ck.fail(f"{where}.type", "missing required key")
        req, opt = _STIM[kind]
        ck.keys(s, ("type",) + req + opt, where, required=req)
        out = {"type": kind}
        if "targets" in s:
            out["targets"] = self._targets(s["targets"], f"{where}.targets")
        num = lambda k, **kw: float(ck.number(s[k], f"{where}.{k}", **kw))  # noqa: E731
        if kind == "poisson":
            out.update(rate=num("rate", minimum=0.0), weight=num("weight"),
                       start=float(ck.number(s.get("start", 0.0), f"{where}.start", minimum=0.0)),
                       stop=num("stop", minimum=0.0) if "stop" in s else None)
        elif kind == "spike_train":
            out.update(times=ck.numbers(s["times"], f"{where}.times", minimum=0.0), weight=num("weight"),
                       delay=num("delay", minimum=0.0, strict=True) if "delay" in s else 1.0)
        elif kind == "current_steps":
            out.update(times=ck.numbers(s["times"], f"{where}.times", minimum=0.0),
                       amplitudes=ck.numbers(s["amplitudes"], f"{where}.amplitudes"))
            if out["times"].size != out["amplitudes"].size:
                ck.fail(f"{where}.amplitudes", f"expected {out['times'].size} values (one per time), got {out['amplitudes'].size}")
        else:
            out.update(self._spike_table(s, where))
        return out

    def _spike_table(self, s: dict, where: str) -> dict:
        ck = self._ck
        pop = self._population(s["population"], f"{where}.population") if "population" in s else None
        mode = ck.string(s.get("ids", "local" if pop else "global"), f"{where}.ids", ("local", "global"))
        if mode == "local" and pop is None:
            ck.fail(f"{where}.population", 'missing required key (ids = "local" needs the population they are local to)')
        table = ck.table(s, where, _SPIKE_COLUMNS, sonata=True)
        name = table.name
        target = tables.column(ck, table, "target", f"{where}.file", also="ids", integer=True)
        time = tables.column(ck, table, "time", f"{where}.file", also="times")
        tables.check_rows(ck, table, f"{where}.file", "time", (time < 0) | (time > MAX_MS), time,
                          f"expected a time in [0, {MAX_MS:g}] ms")
        out = {"target": target, "time": time, "population": pop, "ids": mode}
        for key in ("weight", "delay"):
            c = tables.column(ck, table, key, f"{where}.file", required=False)
            if c is not None and key in s:
                ck.fail(f"{where}.{key}", f"given both here and as a column of {name}")
            if c is None:
                if key == "weight" and key not in s:
                    ck.fail(f"{where}.weight", f"missing: {name} has no 'weight' column and no weight key is given")
                c = float(ck.number(s.get(key, 1.0), f"{where}.{key}", minimum=0.0 if key == "delay" else None,
                                    strict=key == "delay"))
            elif key == "delay":
                tables.check_rows(ck, table, f"{where}.file", "delay", c <= 0, c, "expected a delay > 0 ms")
            out[key] = c
        if pop is None:
            tables.check_ids(ck, target, 0, sum(self.sizes.values()), f"{where}.file", "global target", table)
        else:
            lo = self._start(pop) if mode == "global" else 0
            tables.check_ids(ck, target, lo, lo + self.sizes[pop], f"{where}.file", f"{mode} target", table)
        return out

    def _check_recorders(self, rec) -> None:
        ck = self._ck
        ck.keys(rec, ("spikes", "voltage"), "recorders")
        spikes = rec.get("spikes", "all")
        if spikes != "all":
            if not isinstance(spikes, list):
                ck.fail("recorders.spikes", f'expected "all" or an array of population names, got {show(spikes)}')
            spikes = [self._population(x, f"recorders.spikes[{k}]") for k, x in enumerate(spikes)]
        self.record_spikes = spikes
        self.voltage = []
        for k, v in enumerate(self._array(rec, "voltage", "recorders.voltage") if "voltage" in rec else []):
            where = f"recorders.voltage[{k}]"
            ck.keys(v, _VOLTAGE, where, required=("population", "times"))
            name = ck.string(v.get("name", f"voltage{k}"), f"{where}.name")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or any(name == r[0] for r in self.voltage):
                ck.fail(f"{where}.name", f"expected a unique identifier (letters, digits, _), got {name!r}")
            pop, ids = self._targets({x: v[x] for x in ("population", "ids") if x in v}, where)
            self.voltage.append((name, pop, ids, _times(ck, v["times"], f"{where}.times")))

    # ------------------------------------------------------------------------------- sizes
    def expected_synapses(self) -> list[int]:
        """Expected number of synapses of each projection (exact except for pairwise_bernoulli)."""
        out = []
        for p in self.projections:
            n_pre, n_post = self.sizes[p["source"]], self.sizes[p["target"]]
            self_loops = n_pre if p["source"] == p["target"] and not p["allow_autapses"] else 0
            rule, prm = p["rule"], p["params"]
            out.append(int({
                "all_to_all": lambda: n_pre * n_post - self_loops,
                "one_to_one": lambda: n_pre,
                "fixed_indegree": lambda: prm.get("indegree", 0) * n_post,
                "fixed_outdegree": lambda: prm.get("outdegree", 0) * n_pre,
                "fixed_total_number": lambda: prm.get("N", 0),
                "pairwise_bernoulli": lambda: round(prm.get("p", 0) * (n_pre * n_post - self_loops)),
                "fixed_probability": lambda: round(prm.get("p", 0) * (n_pre * n_post - self_loops)),
                "explicit": lambda: prm["sources"].size,
            }[rule]()))
        return out

    def estimate(self) -> dict:
        """Sizes and the peak memory of building the network and starting the engine, in bytes.

        See :func:`eventsim.memory.peak_bytes`; recorded spikes come on top, as the run goes.
        """
        per_syn = self.expected_synapses()
        conn = dict(synapses=0, weighted=0, delayed=0, explicit=0, rows=0)
        for p, count in zip(self.projections, per_syn):
            conn["synapses"] += count
            conn["weighted"] += count * (not isinstance(p["weight"], float))
            conn["delayed"] += count * (not isinstance(p["delay"], float))
            conn["explicit"] += count * (p["rule"] == "explicit")
            conn["rows"] += self.sizes[p["source"]] + 1
        count = lambda t: self.sizes[t[0]] if t[1] is None else t[1].size  # noqa: E731
        stim = dict(streams=0, arrivals=0, currents=0)
        for s in self.stimuli:
            if s["type"] == "poisson":
                stim["streams"] += count(s["targets"])
            elif s["type"] == "spike_table":
                stim["arrivals"] += s["target"].size
            else:
                stim["arrivals" if s["type"] == "spike_train" else "currents"] += count(s["targets"]) * s["times"].size
        samples = sum((self.sizes[p] if ids is None else ids.size) * t.size for _, p, ids, t in self.voltage)
        n = sum(self.sizes.values())
        total = peak_bytes(neurons=n, **conn, **stim, samples=samples)
        return dict(neurons=n, synapses=int(sum(per_syn)), bytes=total)

    def check_memory(self, available: int | None = None) -> dict:
        """Raise ScenarioError when the estimate exceeds the available memory; returns the estimate."""
        est = self.estimate()
        available = available_memory() if available is None else available
        if available is not None and est["bytes"] > available:
            self._ck.fail("populations", f"the network needs about {_mb(est['bytes'])} ({est['neurons']} neurons, "
                          f"{est['synapses']} synapses) but only {_mb(available)} of memory is available")
        return est

    # ------------------------------------------------------------------------------- building
    def network(self) -> Network:
        """Build the :class:`Network` (not prepared); bad values raise :class:`ScenarioError`."""
        try:
            return self._build()
        except ScenarioError:
            raise
        except ValidationError as e:
            raise ScenarioError(str(self.path), e.where, e.detail) from None

    def _build(self) -> Network:
        net = Network(seed=self.seed, engine=self.engine, threads=self.threads)
        pops = {}
        for name, size in self.sizes.items():
            where = f"populations.{name}"
            params = {k: _value(self._ck, v, f"{where}.{k}", size) for k, v in self.params[name].items()}
            pops[name] = net.add_population(name, size, self.doc["populations"][name].get("model", "lif"), params)
        for p in self.projections:
            net.connect(pops[p["source"]], pops[p["target"]], p["rule"], weight=p["weight"], delay=p["delay"],
                        allow_autapses=p["allow_autapses"], allow_multapses=p["allow_multapses"], **p["params"])
        sel = lambda t: pops[t[0]] if t[1] is None else pops[t[0]][t[1]]  # noqa: E731
        for s in self.stimuli:
            kind = s["type"]
            if kind == "poisson":
                net.add_poisson(sel(s["targets"]), s["rate"], s["weight"], s["start"], s["stop"])
            elif kind == "spike_train":
                net.add_spike_train(sel(s["targets"]), s["times"], s["weight"], s["delay"])
            elif kind == "current_steps":
                net.add_current_steps(sel(s["targets"]), s["times"], s["amplitudes"])
            else:
                shift = pops[s["population"]].start if s["ids"] == "local" else 0
                net.add_spike_table(s["target"] + shift, s["time"], s["weight"], s["delay"])
        if self.record_spikes != "all":
            net.record_spikes([])
            for name in self.record_spikes:
                net.record_spikes(pops[name])
        for name, pop, ids, times in self.voltage:
            net.record_voltage(sel((pop, ids)), times, name=name)
        return net

    # ------------------------------------------------------------------------------- identity
    def files(self) -> list[tuple[tuple, Path]]:
        """(key path, absolute path) of every table file the scenario reads."""
        found = []

        def walk(node, key):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "file" and isinstance(v, str):
                        found.append((key + (k,), (self.path.parent / v).resolve()))
                    else:
                        walk(v, key + (k,))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, key + (i,))

        walk(self.doc, ())
        return found

    def resolved(self) -> dict:
        """The resolved document with table file paths made absolute (a runnable copy)."""
        return self._with_files(str)

    def _hash(self) -> str:
        """Hash of the resolved document, table files replaced by the hashes of their contents."""
        for key, path in self.files():  # per-neuron value files are read only when building
            if not path.is_file():
                self._ck.fail(_key_path(key), missing_file(path))

        def digest(path: Path) -> str:
            with open(path, "rb") as fh:
                return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()

        return document_hash(self._with_files(digest))

    def _with_files(self, value) -> dict:
        """A copy of the document with each table file name replaced by ``value(absolute path)``."""
        doc = copy.deepcopy(self.doc)
        for key, path in self.files():
            _set_path(doc, key, value(path))
        return doc


def _key_path(key: tuple) -> str:
    """``("projections", 0, "file")`` -> ``"projections[0].file"``."""
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in key).lstrip(".")


def _set_path(doc, key: tuple, value) -> None:
    node = doc
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value


def load(path, overrides=(), *, seed: int | None = None, engine: str | None = None, threads: int | None = None,
         formats=(), check_memory: bool = True) -> Scenario:
    """Read, override, validate a scenario and check that it fits in memory.

    Parameters
    ----------
    path : str or Path
        The scenario file (table files are relative to it).
    overrides : list of str
        ``"dotted.key=value"`` items, see :func:`apply_overrides`.
    seed, engine, threads : optional
        Replace ``run.seed`` / ``run.engine`` / ``run.threads``.
    formats : sequence of str
        Spike file formats added to ``run.formats`` (see :data:`eventsim.output.FORMATS`).
    check_memory : bool
        Raise when the memory estimate exceeds :func:`available_memory`.

    Raises
    ------
    ScenarioError
        Anything wrong, with file, key path and the expected value in its one-line message.
    """
    doc = apply_overrides(read_document(path), overrides, path)
    if isinstance(doc.get("run"), dict):
        if seed is not None:
            doc["run"]["seed"] = seed
        if engine is not None:
            doc["run"]["engine"] = engine
        if threads is not None:
            doc["run"]["threads"] = threads
        if formats:
            doc["run"]["formats"] = list(doc["run"].get("formats", ["npz"])) + list(formats)
    available = available_memory() if check_memory else None
    sc = Scenario(path, doc, available)
    if check_memory:
        sc.check_memory(available)
    return sc


