"""Connection rules and weight/delay specs to CSR arrays, any range of targets at a time.

A projection connects a *pre* population to a *post* population by a :class:`Rule` (NEST's rule
names and parameters) with a weight spec (mV) and a delay spec (ms), each a number, a distribution
(:mod:`eventsim.distributions`) or, for the ``explicit`` rule, one value per synapse (checked and
drawn by :mod:`eventsim.synapses`). :func:`build_projection` turns one projection, or only its
synapses onto local targets ``[lo, hi)``, into :class:`ProjectionData` (CSR by source, local
indices); :func:`join_parts` joins parts; :func:`assemble` joins all projections into the
connectivity fields of :class:`eventsim.prepared.Prepared` (global indices).

Storage: a scalar spec, or an explicit array whose values are all equal, is stored once per
projection; otherwise values are per synapse (float64 weights, int32 delay ticks). Rows are sorted
by target, or by (delay, target) when delays are per synapse; multapses are repeated targets in a
row, in the order they were drawn (``explicit``: given).

Randomness: every block of :data:`TARGET_BLOCK` targets draws its synapses from its own streams,
keyed by (seed, projection, block) (:mod:`eventsim.connection_blocks` gives each rule's scheme). A
block is always drawn whole; a range that cuts a block draws it and keeps the synapses in the
range. Rows of a range are its blocks' synapses in block order (a stable counting sort by source),
then, with per-synapse delays, stably sorted by delay: so the rows of the whole projection are the
rows of its parts joined in target order, and every partition of the targets gives the same network.

Cost: O(S) time for S synapses (two passes of a counting sort), plus a radix sort of each row by
delay where delays are per synapse, and about 24 us per stream created (up to two per block).
Memory: the result plus the drawn blocks' int32 sources (4 bytes per synapse, each block freed as
its synapses are placed), O(n_pre) row counts, and one block's drawn values at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eventsim.connection_blocks import BlockBuild, block_chunks, is_empty
from eventsim.distributions import describe, is_real
from eventsim.engine import csr
from eventsim.errors import ValidationError, did_you_mean
from eventsim.rng import ConnectionStreams
from eventsim.synapses import (MAX_DELAY_TICKS, check_delay, check_weight, delay_value, delays, weight_value,
                               weights)

__all__ = ["MAX_NEURONS", "TARGET_BLOCK", "RULES", "RULE_PARAMS", "ALIASES", "Rule", "make_rule", "check_values",
           "ProjectionData", "build_projection", "join_parts", "assemble"]

RULES = ("all_to_all", "one_to_one", "fixed_indegree", "fixed_outdegree", "fixed_total_number",
         "pairwise_bernoulli", "explicit")
"""Connection rule names (NEST's); ``fixed_probability`` is accepted for ``pairwise_bernoulli``."""

ALIASES = {"fixed_probability": "pairwise_bernoulli"}
"""Other names accepted for rules -> the canonical name."""
RULE_PARAMS = {"all_to_all": (), "one_to_one": (), "fixed_indegree": ("indegree",),
               "fixed_outdegree": ("outdegree",), "fixed_total_number": ("N",),
               "pairwise_bernoulli": ("p",), "explicit": ("sources", "targets")}
"""Rule name -> the parameters it requires (and the only ones it takes)."""
TARGET_BLOCK = 1024
"""Targets per block of connectivity streams: a constant of the network a seed gives."""
MAX_NEURONS = 2**31 - 1
"""Most neurons a network may have: synapse targets are int32 global ids."""


# ------------------------------------------------------------------------------------ rules
@dataclass(frozen=True)
class Rule:
    """A validated connection rule: its canonical name (one of :data:`RULES`) and parameters.

    Parameters are ``indegree``/``outdegree``/``N`` (int), ``p`` (float) or ``sources``/``targets``
    (int64 arrays of local indices, for ``explicit``).
    """

    name: str
    params: dict


def _count(x, key: str, where: str) -> int:
    if is_real(x) and float(x).is_integer() and x >= 0:
        return int(x)
    raise ValidationError(where, f"{key} must be an integer >= 0, got {describe(x)}")


def _probability(x, key: str, where: str) -> float:
    if is_real(x) and 0.0 <= float(x) <= 1.0:
        return float(x)
    raise ValidationError(where, f"{key} must be a probability in [0, 1], got {describe(x)}")


def _local_ids(x, key: str, where: str) -> np.ndarray:
    try:
        a = np.asarray(x)
    except (ValueError, TypeError):
        a = np.zeros((0, 0))
    if a.ndim == 1 and a.size == 0:
        return np.zeros(0, np.int64)
    if a.ndim == 1 and a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.ndim == 1 and a.dtype.kind == "f" and np.all(np.isfinite(a) & (a == np.round(a))):
        return a.astype(np.int64)
    raise ValidationError(where, f"{key} must be a 1-D array of integer neuron indices, got {describe(x)}")


_PARAM_CHECKS = {"indegree": _count, "outdegree": _count, "N": _count, "p": _probability,
                 "sources": _local_ids, "targets": _local_ids}


def make_rule(name: str, where: str = "rule", **params) -> Rule:
    """Validate a connection rule and its parameters.

    Parameters
    ----------
    name : str
        One of :data:`RULES` or ``"fixed_probability"`` (alias of ``"pairwise_bernoulli"``).
    where : str
        Where the rule is given, for error messages.
    **params
        ``indegree``, ``outdegree`` or ``N`` (integers >= 0), ``p`` (in [0, 1]), or ``sources`` and
        ``targets`` (equally long 1-D integer arrays of local indices) as the rule requires.

    Returns
    -------
    Rule

    Raises
    ------
    ValidationError
        Unknown rule, missing or unknown parameter, or a bad value. Checks that need population
        sizes happen in :func:`build_projection`.
    """
    canon = ALIASES.get(name, name) if isinstance(name, str) else None
    if canon not in RULE_PARAMS:
        hint = did_you_mean(name, list(RULES) + list(ALIASES))
        shown = repr(name) if isinstance(name, str) else describe(name)
        raise ValidationError(where, f"unknown connection rule {shown}{hint}; allowed: {', '.join(RULES)} "
                                     "(and 'fixed_probability')")
    expected = RULE_PARAMS[canon]
    for key in sorted(set(params) - set(expected)):
        raise ValidationError(where, f"rule {canon!r} has no parameter {key!r}; it takes "
                                     f"{', '.join(expected) if expected else 'no parameters'}")
    for key in expected:
        if key not in params:
            raise ValidationError(where, f"rule {canon!r} needs parameter {key!r}")
    checked = {key: _PARAM_CHECKS[key](params[key], key, where) for key in expected}
    if canon == "explicit" and checked["sources"].size != checked["targets"].size:
        raise ValidationError(where, f"sources has {checked['sources'].size} entries but targets has "
                                     f"{checked['targets'].size}; they must have the same length")
    return Rule(canon, checked)


# ------------------------------------------------------------------------------------ one projection
@dataclass
class ProjectionData:
    """One projection in CSR form by source, with local indices.

    Attributes
    ----------
    rowptr : numpy.ndarray of int64, shape (n_pre + 1,)
        Synapses of source ``i`` are ``rowptr[i]:rowptr[i+1]``; ``rowptr[0] == 0``.
    targets : numpy.ndarray of int32, shape (S,)
        Local post indices; rows sorted by target, or by (delay, target) with per-synapse delays.
    weight : float or numpy.ndarray of float64, shape (S,)
        One weight for all synapses, or per-synapse weights aligned with ``targets`` (mV).
    delay : int or numpy.ndarray of int32, shape (S,)
        One delay for all synapses, or per-synapse delays aligned with ``targets`` (ticks >= 1).
    target_range : (int, int) or None
        The targets ``[lo, hi)`` whose synapses these are (None: all of them).
    """

    rowptr: np.ndarray
    targets: np.ndarray
    weight: float | np.ndarray
    delay: int | np.ndarray
    target_range: tuple[int, int] | None = None

    @property
    def n_synapses(self) -> int:
        return int(self.targets.size)

    def nbytes(self) -> int:
        """Bytes held by the arrays (row pointers, targets, per-synapse weights and delays)."""
        return sum(int(a.nbytes) for a in (self.rowptr, self.targets, self.weight, self.delay)
                   if isinstance(a, np.ndarray))

    def _check(self, n_post: int) -> None:
        """Assert the invariants (dtypes, shapes, ranges, row order); tests call it after each build."""
        rp, tg, S = self.rowptr, self.targets, self.n_synapses
        assert rp.dtype == np.int64 and rp.ndim == 1 and rp.size >= 1 and rp[0] == 0 and rp[-1] == S
        assert np.all(np.diff(rp) >= 0)
        assert tg.dtype == np.int32 and tg.ndim == 1
        lo, hi = self.target_range or (0, n_post)
        assert 0 <= lo <= hi <= n_post and np.all((tg >= lo) & (tg < hi))
        if isinstance(self.weight, np.ndarray):
            assert self.weight.dtype == np.float64 and self.weight.shape == (S,)
            assert np.all(np.isfinite(self.weight))
        else:
            assert isinstance(self.weight, float) and math.isfinite(self.weight)
        if isinstance(self.delay, np.ndarray):
            assert self.delay.dtype == np.int32 and self.delay.shape == (S,) and np.all(self.delay >= 1)
        else:
            assert isinstance(self.delay, int) and 1 <= self.delay <= MAX_DELAY_TICKS
        same_row = np.repeat(np.arange(rp.size - 1), np.diff(rp))
        same_row = same_row[1:] == same_row[:-1]
        t0, t1 = tg[:-1].astype(np.int64), tg[1:].astype(np.int64)
        if isinstance(self.delay, np.ndarray):
            d0, d1 = self.delay[:-1], self.delay[1:]
            ordered = (d1 > d0) | ((d1 == d0) & (t1 >= t0))
        else:
            ordered = t1 >= t0
        assert np.all(ordered | ~same_row), "rows not sorted"


def _target_range(target_range, n_post: int, where: str) -> tuple[int, int]:
    if target_range is None:
        return 0, n_post
    lo, hi = (int(x) for x in target_range)
    if not 0 <= lo <= hi <= n_post:
        raise ValidationError(where, f"target_range must satisfy 0 <= lo <= hi <= {n_post}, got [{lo}, {hi})")
    return lo, hi


def check_values(rule: Rule, weight, delay, where: str = "projection") -> None:
    """Raise ValidationError unless the weight and delay specs suit the rule (arrays only with
    ``explicit``, one value per synapse) and the engine's limits (:mod:`eventsim.synapses`)."""
    n_explicit = rule.params["sources"].size if rule.name == "explicit" else None
    check_weight(weight, n_explicit, f"{where}.weight")
    check_delay(delay, n_explicit, f"{where}.delay")


def build_projection(rule: Rule, n_pre: int, n_post: int, same_population: bool, weight, delay, *,
                     allow_autapses: bool = True, allow_multapses: bool = True, streams: ConnectionStreams,
                     target_range: tuple[int, int] | None = None, block: int = TARGET_BLOCK,
                     threads: int = 1, where: str = "projection") -> ProjectionData:
    """Build a projection's CSR arrays, or only its synapses onto a range of targets.

    Parameters
    ----------
    rule : Rule
        From :func:`make_rule`.
    n_pre, n_post : int
        Sizes of the source and target populations.
    same_population : bool
        Whether source and target are the same population (then ``allow_autapses`` applies).
    weight : float, Uniform, Normal or numpy.ndarray
        Weight spec in mV from :func:`~eventsim.distributions.value_spec`; arrays only with ``explicit`` (one per synapse).
    delay : float, Uniform, Normal or numpy.ndarray
        Delay spec in ms (>= 1e-6 ms after rounding to 1 ns ticks; per-synapse delays <= 2147.483647
        ms). Normal delays are truncated to that range by redrawing.
    allow_autapses : bool, default True
        Whether ``i -> i`` synapses may exist (only matters when ``same_population``).
    allow_multapses : bool, default True
        Whether a (source, target) pair may have several synapses. Without, ``fixed_indegree``,
        ``fixed_outdegree`` and ``fixed_total_number`` draw without replacement; ``explicit``
        arrays must not repeat a pair.
    streams : ConnectionStreams
        The projection's random streams, keyed by (seed, projection index).
    target_range : (int, int), optional
        Build only the synapses onto local targets ``[lo, hi)`` (any range; whole blocks cost least).
        Default: all targets.
    block : int, default TARGET_BLOCK
        Targets per block of random streams. Part of what a seed means: keep the default (tests use
        small blocks to cross many block boundaries).
    threads : int, default 1
        Threads drawing the blocks' connections (the result does not depend on it); the rows are
        filled, and per-synapse values drawn, on the calling thread.
    where : str, default "projection"
        Prefix of error locations (``where + ".delay"``, ``".weight"``, ``".rule"``, ...).

    Returns
    -------
    ProjectionData
        With ``target_range`` set. The parts of any partition of the targets, joined by
        :func:`join_parts`, equal the whole projection bit for bit.

    Raises
    ------
    ValidationError
        Bad weight, delay or target range, indices out of range, or a rule the populations cannot
        satisfy (checked on the whole projection, so every part raises alike).

    Complexity: O(S_r) time and memory for the S_r synapses of the range (plus those of at most two
    blocks partly in it), O(n_pre) for the row pointers (``fixed_outdegree``: O(n_pre log(n_post /
    block)) for its splits), O(k) per row of k synapses with per-synapse delays (radix sort).
    """
    n_pre, n_post = int(n_pre), int(n_post)
    if same_population and n_pre != n_post:
        raise ValueError(f"{where}: same_population with sizes {n_pre} != {n_post}")
    check_values(rule, weight, delay, where)
    lo, hi = _target_range(target_range, n_post, where)
    bd = BlockBuild(rule, n_pre, n_post, bool(same_population and not allow_autapses), bool(allow_multapses),
                    streams, int(block), lo, hi, where, max(int(threads), 1))
    # Two passes: count each source's synapses while the blocks are drawn, then place them.
    rowptr = np.zeros(n_pre + 1, np.int64)
    chunks, store = [], _Store()
    for ch in ([] if is_empty(bd) or lo == hi else block_chunks(bd)):
        csr.count_sources(ch.rowptr, ch.sources, ch.keep, rowptr[1:])
        ch.sources = store.keep(ch.sources)
        chunks.append(ch)
    del store
    np.cumsum(rowptr, out=rowptr)
    return _place(bd, chunks, rowptr, weight, delay)


class _Store:
    """The drawn blocks' sources, copied into buffers of 64 MiB while the blocks are drawn.

    NOTE: kept as they were drawn, thousands of ~400 KB arrays came from the heap and, freed while
    the rows are filled, stayed with the process: +19 % peak RSS at 1e8 synapses. Large buffers are
    mapped on their own and return to the system when their last block is placed; each block's own
    array is freed at once and its memory reused by the next block.
    """

    SIZE = 1 << 24  # int32 entries per buffer

    def __init__(self):
        self.buffer, self.used = np.empty(0, np.int32), 0

    def keep(self, a: np.ndarray) -> np.ndarray:
        """A copy of ``a`` (int32) in the current buffer, or in a new one if it does not fit."""
        if self.used + a.size > self.buffer.size:
            self.buffer, self.used = np.empty(max(self.SIZE, a.size), np.int32), 0
        view = self.buffer[self.used:self.used + a.size]
        view[:] = a
        self.used += a.size
        return view


def _place(bd: BlockBuild, chunks: list, rowptr: np.ndarray, weight, delay) -> ProjectionData:
    """Place the chunks' synapses into CSR rows (freeing each chunk), with their weights and delays.

    Per-synapse values are drawn (or taken from the ``explicit`` arrays) one block at a time from the
    block's values stream: delays first, then weights.
    """
    S = int(rowptr[-1])
    w_one, d_one = weight_value(weight), delay_value(delay)
    targets = np.empty(S, np.int32)
    w = np.empty(S if w_one is None else 0, np.float64)  # empty: one weight for all
    d = np.empty(S if d_one is None else 0, np.int32)
    drawn = (w_one is None and not isinstance(weight, np.ndarray)) or (d_one is None and not isinstance(delay, np.ndarray))
    pos = rowptr[:-1]  # each row's next free slot (no copy): row i's start ends at its end, shifted below
    for i, ch in enumerate(chunks):
        chunks[i] = None
        n = ch.sources.size
        rng = bd.streams.values(ch.block) if drawn and n else None  # delays first, then weights
        d_block = delays(delay, ch.order, n, rng, f"{bd.where}.delay") if d_one is None else d
        w_block = weights(weight, ch.order, n, rng, f"{bd.where}.weight") if w_one is None else w
        csr.place_block(ch.targets, ch.rowptr, ch.sources, ch.keep, pos, targets, w_block, w, d_block, d)
    rowptr[1:] = rowptr[:-1]  # numpy copies overlapping operands
    rowptr[0] = 0
    if d_one is None:
        csr.sort_rows_by_delay(rowptr, d, targets, w)
    return ProjectionData(rowptr, targets, w if w_one is None else w_one, d if d_one is None else d_one,
                          (bd.lo, bd.hi))


def join_parts(parts: list) -> ProjectionData:
    """Join the parts of one projection built for consecutive target ranges into one.

    Each row is the concatenation of the parts' rows, stably sorted by delay when delays are per
    synapse (as the rows of one build are). Used to check that parts make the whole, and to gather.

    Parameters
    ----------
    parts : list of ProjectionData
        From :func:`build_projection` with ``target_range`` ``[a0, a1), [a1, a2), ...``.

    Returns
    -------
    ProjectionData
        Targets ``[a0, a_last)``. Complexity: O(S log S).
    """
    for p, q in zip(parts[:-1], parts[1:]):
        if p.target_range[1] != q.target_range[0] or p.rowptr.size != q.rowptr.size:
            raise ValueError("join_parts: parts must cover consecutive target ranges of one projection")
    n_pre = parts[0].rowptr.size - 1
    src = np.concatenate([np.repeat(np.arange(n_pre), np.diff(p.rowptr)) for p in parts])
    order = np.argsort(src, kind="stable")
    rowptr = csr.rowptr_from_counts(np.bincount(src, minlength=n_pre))
    targets = np.concatenate([p.targets for p in parts])[order]
    w, d = ([getattr(p, f) for p in parts] for f in ("weight", "delay"))
    w = np.concatenate(w)[order] if isinstance(w[0], np.ndarray) else w[0]
    d = np.concatenate(d)[order] if isinstance(d[0], np.ndarray) else d[0]
    if isinstance(d, np.ndarray):
        csr.sort_rows_by_delay(rowptr, d, targets, w if isinstance(w, np.ndarray) else np.zeros(0))
    return ProjectionData(rowptr, targets, w, d, (parts[0].target_range[0], parts[-1].target_range[1]))


# ------------------------------------------------------------------------------------ all projections
def _offsets(sizes) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(np.asarray(sizes, np.int64), out=out[1:])
    return out


def assemble(projections: list, pop_start: np.ndarray) -> dict:
    """Join built projections into the connectivity fields of :class:`eventsim.prepared.Prepared`.

    Parameters
    ----------
    projections : list of (int, int, ProjectionData)
        ``(pre population index, post population index, data)`` in projection order.
    pop_start : int64[P+1]
        First global id of each population (and the total at the end).

    Returns
    -------
    dict
        ``proj_pre_pop``, ``proj_post_pop``, ``proj_rowptr_start``, ``rowptr``, ``syn_target``,
        ``proj_weight``, ``proj_weight_shift``, ``syn_weight``, ``proj_delay``,
        ``proj_delay_shift``, ``syn_delay``, ``pop_proj_ptr``, ``pop_proj``, with global synapse
        indices in ``rowptr`` and global int32 targets (see :mod:`eventsim.prepared`).

    Complexity: O(S + sum of n_pre) time; the result is a copy (the inputs are not changed).
    """
    pop_start = np.asarray(pop_start, np.int64)
    if pop_start[-1] > MAX_NEURONS:
        raise ValidationError("populations", f"{int(pop_start[-1])} neurons; at most {MAX_NEURONS} are supported")
    pre = np.array([p for p, _, _ in projections], np.int32)
    post = np.array([q for _, q, _ in projections], np.int32)
    data = [d for _, _, d in projections]
    for j, d in enumerate(data):
        if d.rowptr.size != pop_start[pre[j] + 1] - pop_start[pre[j]] + 1:
            raise ValueError(f"projection {j}: rowptr has {d.rowptr.size} entries for population {pre[j]}")
    syn_start = _offsets([d.n_synapses for d in data])
    rowptr_start = _offsets([d.rowptr.size for d in data])
    rowptr = np.empty(rowptr_start[-1], np.int64)
    syn_target = np.empty(syn_start[-1], np.int32)
    for j, d in enumerate(data):
        np.add(d.rowptr, syn_start[j], out=rowptr[rowptr_start[j]:rowptr_start[j + 1]])
        np.add(d.targets, np.int32(pop_start[post[j]]), out=syn_target[syn_start[j]:syn_start[j + 1]])
    w_value, w_shift, syn_weight = _per_synapse([d.weight for d in data], syn_start, np.float64, np.nan)
    d_value, d_shift, syn_delay = _per_synapse([d.delay for d in data], syn_start, np.int32, -1)
    order = np.argsort(pre, kind="stable").astype(np.int32)
    return dict(proj_pre_pop=pre, proj_post_pop=post, proj_rowptr_start=rowptr_start[:-1].copy(),
                rowptr=rowptr, syn_target=syn_target, proj_weight=w_value.astype(np.float64),
                proj_weight_shift=w_shift, syn_weight=syn_weight, proj_delay=d_value.astype(np.int64),
                proj_delay_shift=d_shift, syn_delay=syn_delay,
                pop_proj_ptr=_offsets(np.bincount(pre, minlength=pop_start.size - 1)), pop_proj=order)


def _per_synapse(values: list, syn_start: np.ndarray, dtype, missing):
    """Split per-projection values into (one value or ``missing``, shift, concatenated arrays)."""
    J = len(values)
    one = np.full(J, missing, np.float64 if dtype == np.float64 else np.int64)
    shift = np.zeros(J, np.int64)
    sizes = [v.size if isinstance(v, np.ndarray) else 0 for v in values]
    start = _offsets(sizes)
    out = np.empty(start[-1], dtype)
    for j, v in enumerate(values):
        if isinstance(v, np.ndarray):
            out[start[j]:start[j + 1]] = v
            shift[j] = start[j] - syn_start[j]
        else:
            one[j] = v
    return one, shift, out
