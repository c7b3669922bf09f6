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

Randomness: keyed streams, the same in every process
----------------------------------------------------
The targets are cut into blocks of :data:`TARGET_BLOCK` (1024) consecutive local indices, a
constant: never derived from the number of processes or threads. All randomness comes from streams
of :class:`eventsim.rng.ConnectionStreams` keyed by (seed, projection, ...):

* ``connections(b)``: which synapses block ``b``'s targets get. ``fixed_indegree``: ``indegree``
  sources per target, i.i.d. uniform (distinct without multapses: Floyd's sampling);
  ``pairwise_bernoulli``: per target ``Binomial(n, p)`` sources, then a uniform subset of that size
  (exactly independent trials per pair); ``all_to_all``, ``one_to_one``: no draws.
* ``split()`` (per projection, global randomness): ``fixed_total_number`` first splits ``N`` over
  the blocks, in proportion to their pairs: a multinomial (with multapses) or a multivariate
  hypergeometric drawn by halving the blocks recursively (without), the whole split vector in every
  process, O(number of blocks); ``connections(b)`` then splits the block's count over its targets
  the same way and draws each target's sources as ``fixed_indegree`` does.
* ``node(a, c)`` (per source randomness): ``fixed_outdegree`` splits each source's ``outdegree``
  down a binary tree of block ranges, root ``[0, n_blocks)``; at node ``[a, c)`` a source's count
  goes to the left half ``[a, (a+c)//2)`` by a binomial (with multapses) or hypergeometric
  (without) variate over the candidate targets of the halves (its own index left out without
  autapses). Only sources with a non-zero count go down, so a block costs O(n_pre) at the top
  levels and O(its synapses) below; ``connections(b)`` then draws each source's targets in ``b``.
* ``values(b)``: block ``b``'s per-synapse delays, then weights, one per synapse in the block's
  order: targets ascending, each target's sources in draw order (``fixed_outdegree``: ascending).
  Separate from the connection streams, so the same seed gives the same connections whatever the
  weight and delay specs.

A block is always drawn whole; a range that cuts a block draws it and keeps the synapses in the
range. Rows of a range are its blocks' synapses in block order (a stable counting sort by source),
then, with per-synapse delays, stably sorted by delay: so the rows of the whole projection are the
rows of its parts joined in target order, and every partition of the targets gives the same network.

Cost: O(S) time for S synapses, plus O(k log k) per row of k synapses with per-synapse delays, and
about 24 us per stream created (two per block). Memory: the result plus the drawn blocks' pairs
(4 bytes per synapse, int32 sources or targets; freed while the rows are filled) plus O(n_pre).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eventsim.distributions import describe, hypergeometric, is_real, split_count
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


def _impossible(where: str, what: str, n_eff: int, n: int, exclude_self: bool, multapses: bool):
    """The error for a degree or count that the populations cannot provide."""
    why = " with autapses excluded" if exclude_self and n_eff < n else ""
    if not multapses:
        why += " and multapses excluded (allow_multapses=False)" if why else " without multapses (allow_multapses=False)"
    return ValidationError(where, f"{what} is impossible: only {n_eff} candidate(s){why}")


def _degree(params, key: str, n_rows: int, n_cand: int, exclude_self, multapses, where) -> int:
    """The fixed in- or outdegree ``key`` of ``n_rows`` rows drawn from ``n_cand`` neurons; 0 when
    there is nothing to draw. Raises when it is impossible."""
    k = params[key]
    n_eff = max(n_cand - int(exclude_self), 0)
    if k == 0 or n_rows == 0:
        return 0
    if n_eff == 0 or (not multapses and k > n_eff):
        raise _impossible(f"{where}.rule", f"{key} {k}", n_eff, n_cand, exclude_self, multapses)
    return k


@dataclass
class _Build:
    """One build of a projection's synapses onto targets ``[lo, hi)``: the rule and the sizes, the
    streams, and the work array of distinct draws (one stamp per row ever drawn)."""

    rule: Rule
    n_pre: int
    n_post: int
    exclude_self: bool
    multapses: bool
    streams: ConnectionStreams
    block: int
    lo: int
    hi: int
    where: str
    mark: np.ndarray = None
    stamp: int = 0

    @property
    def n_src(self) -> int:
        """Candidate sources of one target."""
        return max(self.n_pre - int(self.exclude_self), 0)

    def block_range(self, b: int) -> tuple[int, int]:
        return b * self.block, min((b + 1) * self.block, self.n_post)

    def sample(self, rng, counts, n_range, excluded, distinct):
        """:func:`csr.sample_rows` with this build's work array and fresh stamps."""
        if self.mark is None or (distinct and self.mark.size == 0):  # the distinct draws' work array
            self.mark = np.full(max(self.n_pre, min(self.block, self.n_post)) if distinct else 0, -1, np.int64)
        out = csr.sample_rows(rng, counts, n_range, excluded, distinct, self.mark, self.stamp)
        self.stamp += counts.size
        return out


@dataclass
class _Chunk:
    """The synapses of one block by target: ``sources[rowptr[r]:rowptr[r+1]]`` go to target
    ``targets[r]`` (ascending); ``keep`` marks the synapses onto the build's targets (empty: all);
    ``order`` the ``explicit`` entries of the synapses (None for drawn rules)."""

    block: int
    targets: np.ndarray
    rowptr: np.ndarray
    sources: np.ndarray
    order: np.ndarray | None = None
    keep: np.ndarray = None


def _onto_targets(bd: _Build, rng, b: int, counts: np.ndarray, distinct: bool) -> _Chunk:
    """Block ``b``'s targets get ``counts`` sources each, uniform among their candidates."""
    t0, t1 = bd.block_range(b)
    rows = np.arange(t0, t1, dtype=np.int32)
    excluded = rows.astype(np.int64) if bd.exclude_self else np.full(rows.size, -1, np.int64)
    rowptr, sources = bd.sample(rng, np.asarray(counts, np.int64), bd.n_pre, excluded, distinct)
    return _Chunk(b, rows, rowptr, sources)


def _all_to_all(bd: _Build, b: int, split) -> _Chunk:
    t0, t1 = bd.block_range(b)  # a dense row takes every candidate: no draws
    return _onto_targets(bd, bd.streams.connections(b), b, np.full(t1 - t0, bd.n_src), True)


def _one_to_one(bd: _Build, b: int, split) -> _Chunk:
    t0, t1 = bd.block_range(b)
    rows = np.arange(t0, t1, dtype=np.int32)
    rowptr = np.zeros(rows.size + 1, np.int64) if bd.exclude_self else np.arange(rows.size + 1, dtype=np.int64)
    return _Chunk(b, rows, rowptr, rows[:0].copy() if bd.exclude_self else rows.copy())


def _fixed_indegree(bd: _Build, b: int, split) -> _Chunk:
    t0, t1 = bd.block_range(b)
    counts = np.full(t1 - t0, bd.rule.params["indegree"])
    return _onto_targets(bd, bd.streams.connections(b), b, counts, not bd.multapses)


def _pairwise_bernoulli(bd: _Build, b: int, split) -> _Chunk:
    # Per target, the number of sources is Binomial(n, p) and, given it, the set of sources is a
    # uniform subset: exactly independent Bernoulli(p) trials per pair, in O(synapses) memory.
    t0, t1 = bd.block_range(b)
    rng = bd.streams.connections(b)
    counts = rng.binomial(bd.n_src, bd.rule.params["p"], size=t1 - t0)
    return _onto_targets(bd, rng, b, counts, True)


def _fixed_total_number(bd: _Build, b: int, split) -> _Chunk:
    t0, t1 = bd.block_range(b)
    rng = bd.streams.connections(b)
    counts = split_count(rng, int(split[b]), np.full(t1 - t0, bd.n_src), not bd.multapses)
    return _onto_targets(bd, rng, b, counts, not bd.multapses)


def _total_number_split(bd: _Build) -> np.ndarray:
    """Synapses per block of a ``fixed_total_number`` projection, from the projection's split stream."""
    n_blocks = -(-bd.n_post // bd.block)
    sizes = np.full(n_blocks, bd.block, np.int64)
    sizes[-1] = bd.n_post - (n_blocks - 1) * bd.block
    return split_count(bd.streams.split(), bd.rule.params["N"], sizes * bd.n_src, not bd.multapses)


def _outdegree_leaves(bd: _Build, first: int, end: int, node=None):
    """``(block, sources, counts)`` of the blocks in ``[b_first, b_end)`` that get synapses of a
    ``fixed_outdegree`` projection, in block order: the sources' counts, split down the tree of
    halved block ranges from ``node = (first block, end block, sources, counts)``."""
    if node is None:
        n_blocks = -(-bd.n_post // bd.block)
        node = (0, n_blocks, np.arange(bd.n_pre, dtype=np.int32), np.full(bd.n_pre, bd.rule.params["outdegree"]))
    a, c, ids, counts = node
    if ids.size == 0 or c <= first or a >= end:
        return
    if c - a == 1:
        yield a, ids, counts
        return
    m = (a + c) // 2
    ta, tm, tc = bd.block_range(a)[0], bd.block_range(m)[0], bd.block_range(c - 1)[1]
    left, right = np.full(ids.size, tm - ta), np.full(ids.size, tc - tm)
    if bd.exclude_self:
        left -= (ids >= ta) & (ids < tm)
        right -= (ids >= tm) & (ids < tc)
    rng = bd.streams.node(a, c)
    n_left = (rng.binomial(counts, left / (left + right)) if bd.multapses
              else hypergeometric(rng, left, right, counts))
    for part in ((a, m, n_left), (m, c, counts - n_left)):
        nz = part[2] > 0
        yield from _outdegree_leaves(bd, first, end, (part[0], part[1], ids[nz], part[2][nz]))


def _outdegree_block(bd: _Build, b: int, ids: np.ndarray, counts: np.ndarray) -> _Chunk:
    """Block ``b``'s synapses of ``fixed_outdegree``: each source draws its count of targets in the
    block, then the synapses are regrouped by target (sources ascending within a target)."""
    t0, t1 = bd.block_range(b)
    inside = bd.exclude_self & (ids >= t0) & (ids < t1)
    excluded = np.where(inside, ids.astype(np.int64) - t0, -1)
    rowptr, offsets = bd.sample(bd.streams.connections(b), counts, t1 - t0, excluded, not bd.multapses)
    colptr, sources = csr.by_column(ids, rowptr, offsets, t1 - t0)
    return _Chunk(b, np.arange(t0, t1, dtype=np.int32), colptr, sources)


def _check_ids(a: np.ndarray, n: int, where: str, what: str) -> None:
    bad = np.flatnonzero((a < 0) | (a >= n))
    if bad.size:
        i = int(bad[0])
        allowed = f"[0, {n - 1}]" if n else "none (the population is empty)"
        raise ValidationError(where, f"entry {i} is {int(a[i])}, outside the {what} population's local "
                                     f"indices {allowed}")


def _check_explicit(bd: _Build) -> None:
    """The checks of an ``explicit`` rule's whole arrays (the same on every part of a projection)."""
    src, tgt, where = bd.rule.params["sources"], bd.rule.params["targets"], bd.where
    _check_ids(src, bd.n_pre, f"{where}.sources", "source")
    _check_ids(tgt, bd.n_post, f"{where}.targets", "target")
    if bd.exclude_self:
        self_pairs = np.flatnonzero(src == tgt)
        if self_pairs.size:
            i = int(self_pairs[0])
            raise ValidationError(f"{where}.sources", f"entry {i} connects neuron {int(src[i])} to itself, "
                                                      "but allow_autapses=False")
    if not bd.multapses:
        order = np.argsort(src * bd.n_post + tgt, kind="stable")  # by (source, target, entry)
        key = (src * bd.n_post + tgt)[order]
        dup = np.flatnonzero(key[1:] == key[:-1])
        if dup.size:
            i, j = int(order[dup[0]]), int(order[dup[0] + 1])
            raise ValidationError(f"{where}.targets", f"entries {i} and {j} both connect {int(src[i])} -> "
                                                      f"{int(tgt[i])}, but allow_multapses=False")


def _explicit_chunks(bd: _Build, first: int, end: int):
    """The ``explicit`` entries onto blocks ``[first, end)``, one chunk per block, in target order
    (entries onto one target in their given order)."""
    src, tgt = bd.rule.params["sources"], bd.rule.params["targets"]
    t_first, t_end = first * bd.block, min(end * bd.block, bd.n_post)
    sel = np.flatnonzero((tgt >= t_first) & (tgt < t_end))
    sel = sel[np.argsort(tgt[sel], kind="stable")]
    bounds = np.searchsorted(tgt[sel], np.arange(first, end + 1) * bd.block)
    for b in range(first, end):
        order = sel[bounds[b - first]:bounds[b - first + 1]]
        if order.size:
            rows, counts = np.unique(tgt[order], return_counts=True)
            yield _Chunk(b, rows.astype(np.int32), _rowptr(counts), src[order].astype(np.int32), order)


def _rowptr(counts) -> np.ndarray:
    rowptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=rowptr[1:])
    return rowptr


_BLOCK_RULES = {"all_to_all": _all_to_all, "one_to_one": _one_to_one, "fixed_indegree": _fixed_indegree,
                "fixed_total_number": _fixed_total_number, "pairwise_bernoulli": _pairwise_bernoulli}


def _nothing(bd: _Build) -> bool:
    """Whether the rule gives no synapse at all; raises when the populations cannot satisfy it."""
    name, p, where = bd.rule.name, bd.rule.params, bd.where
    if name == "one_to_one" and bd.n_pre != bd.n_post:
        raise ValidationError(f"{where}.rule", f"one_to_one needs populations of equal size, got {bd.n_pre} "
                                               f"sources and {bd.n_post} targets")
    if name == "explicit":
        _check_explicit(bd)
        return p["sources"].size == 0
    if name == "fixed_indegree":
        return _degree(p, "indegree", bd.n_post, bd.n_pre, bd.exclude_self, bd.multapses, where) == 0
    if name == "fixed_outdegree":
        return _degree(p, "outdegree", bd.n_pre, bd.n_post, bd.exclude_self, bd.multapses, where) == 0
    if name == "fixed_total_number":
        n_pairs = bd.n_post * bd.n_src
        if p["N"] and (n_pairs == 0 or (not bd.multapses and p["N"] > n_pairs)):
            raise _impossible(f"{where}.rule", f"N = {p['N']} synapses", n_pairs, bd.n_pre * bd.n_post,
                              bd.exclude_self, bd.multapses)
        return p["N"] == 0
    return (name == "pairwise_bernoulli" and p["p"] == 0.0) or bd.n_src == 0


def _chunks(bd: _Build):
    """The chunks of the blocks that hold the build's targets, in block order, each with ``keep``."""
    first, end = bd.lo // bd.block, -(-bd.hi // bd.block)
    if bd.rule.name == "explicit":
        chunks = _explicit_chunks(bd, first, end)
    elif bd.rule.name == "fixed_outdegree":
        chunks = (_outdegree_block(bd, b, ids, counts) for b, ids, counts in _outdegree_leaves(bd, first, end))
    else:
        split = _total_number_split(bd) if bd.rule.name == "fixed_total_number" else None
        chunks = (_BLOCK_RULES[bd.rule.name](bd, b, split) for b in range(first, end))
    for ch in chunks:
        t0, t1 = bd.block_range(ch.block)
        tg = np.repeat(ch.targets, np.diff(ch.rowptr))
        ch.keep = (tg >= bd.lo) & (tg < bd.hi) if t0 < bd.lo or t1 > bd.hi else np.zeros(0, np.bool_)
        yield ch


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
                     where: str = "projection") -> ProjectionData:
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
    block)) for its splits), O(k log k) per row of k synapses with per-synapse delays.
    """
    n_pre, n_post = int(n_pre), int(n_post)
    if same_population and n_pre != n_post:
        raise ValueError(f"{where}: same_population with sizes {n_pre} != {n_post}")
    check_values(rule, weight, delay, where)
    lo, hi = _target_range(target_range, n_post, where)
    bd = _Build(rule, n_pre, n_post, bool(same_population and not allow_autapses), bool(allow_multapses), streams,
                int(block), lo, hi, where)
    chunks = [] if _nothing(bd) or lo == hi else list(_chunks(bd))
    count = np.zeros(n_pre, np.int64)
    for ch in chunks:
        csr.count_sources(ch.rowptr, ch.sources, ch.keep, count)
    rowptr = _rowptr(count)
    return _place(bd, chunks, rowptr, weight, delay)


def _place(bd: _Build, chunks: list, rowptr: np.ndarray, weight, delay) -> ProjectionData:
    """Place the chunks' pairs into CSR rows (freeing each chunk), with their weights and delays."""
    S = int(rowptr[-1])
    w_one, d_one = weight_value(weight), delay_value(delay)
    targets = np.empty(S, np.int32)
    w = np.empty(S if w_one is None else 0, np.float64)  # empty: one weight for all
    d = np.empty(S if d_one is None else 0, np.int32)
    drawn = (w_one is None and not isinstance(weight, np.ndarray)) or (d_one is None and not isinstance(delay, np.ndarray))
    pos = rowptr[:-1].copy()
    for i, ch in enumerate(chunks):
        chunks[i] = None
        n = ch.sources.size
        rng = bd.streams.values(ch.block) if drawn and n else None  # delays first, then weights
        d_block = delays(delay, ch.order, n, rng, f"{bd.where}.delay") if d_one is None else d
        w_block = weights(weight, ch.order, n, rng, f"{bd.where}.weight") if w_one is None else w
        csr.place_block(ch.targets, ch.rowptr, ch.sources, ch.keep, pos, targets, w_block, w, d_block, d)
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
    rowptr = _rowptr(np.bincount(src, minlength=n_pre))
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
