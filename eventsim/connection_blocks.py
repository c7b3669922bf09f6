"""Each connection rule's synapses for one block of targets, from streams keyed by the block.

:func:`eventsim.connectivity.build_projection` describes a build by a :class:`BlockBuild` (the
rule, sizes, streams, the target range) and takes the :class:`Chunk` of each block that holds
targets of the range from :func:`block_chunks`, in block order; :func:`is_empty` checks the rule
against the populations first (on the whole projection, so every part raises alike).

The targets are cut into blocks of :data:`eventsim.connectivity.TARGET_BLOCK` (1024) consecutive
local indices, a constant: never derived from the number of processes or threads. All randomness
comes from streams of :class:`eventsim.rng.ConnectionStreams` keyed by (seed, projection, ...):

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

A block is always drawn whole; :func:`block_chunks` marks which of its synapses fall in the range.

Cost per block: one stream for its connections (~24 us to create), O(its synapses) draws (Floyd's
algorithm per target without multapses: O(k) for k of n candidates with 2k <= n, else O(n)), and
the int32 sources it returns (4 bytes per synapse until the rows are filled).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from eventsim.distributions import hypergeometric, split_count
from eventsim.engine import csr
from eventsim.errors import ValidationError
from eventsim.rng import ConnectionStreams

if TYPE_CHECKING:
    from eventsim.connectivity import Rule

__all__ = ["BlockBuild", "Chunk", "is_empty", "block_chunks"]


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
class BlockBuild:
    """One build of a projection's synapses onto targets ``[lo, hi)``: the rule and the sizes, the
    streams, the number of threads drawing blocks, and each thread's work array of distinct draws
    (one stamp per row it ever drew)."""

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
    threads: int = 1
    work: threading.local = field(default_factory=threading.local)

    @property
    def n_src(self) -> int:
        """Candidate sources of one target."""
        return max(self.n_pre - int(self.exclude_self), 0)

    def block_range(self, b: int) -> tuple[int, int]:
        return b * self.block, min((b + 1) * self.block, self.n_post)

    def sample(self, rng, counts, n_range, excluded, distinct):
        """Rows of ``counts`` values drawn uniformly from ``[0, n_range)`` without ``excluded[r]``
        (-1: none): ``(rowptr, values int32)``. Distinct values by :func:`csr.sample_rows` with the
        calling thread's work array and fresh stamps, else independent draws."""
        if not distinct:
            rowptr = csr.rowptr_from_counts(counts)
            n = n_range - (excluded >= 0)  # candidates per row
            # NOTE: numpy's vectorised integers() costs ~2 ns a value, a per-value draw in Numba ~8 ns
            high = n[0] if n.size and np.all(n == n[0]) else np.repeat(n, counts)
            values = rng.integers(0, high, size=int(rowptr[-1]), dtype=np.int32)
            csr.shift_past(rowptr, values, excluded)
            return rowptr, values
        w = self.work
        if getattr(w, "mark", None) is None:
            w.mark, w.stamp = np.full(max(self.n_pre, min(self.block, self.n_post)), -1, np.int64), 0
        out = csr.sample_rows(rng, counts, n_range, excluded, w.mark, w.stamp)
        w.stamp += counts.size
        return out


@dataclass
class Chunk:
    """The synapses of one block by target: ``sources[rowptr[r]:rowptr[r+1]]`` go to target
    ``targets[r]`` (ascending); ``keep`` marks the synapses onto the build's targets (empty: all);
    ``order`` the ``explicit`` entries of the synapses (None for drawn rules)."""

    block: int
    targets: np.ndarray
    rowptr: np.ndarray
    sources: np.ndarray
    order: np.ndarray | None = None
    keep: np.ndarray = None


def _onto_targets(bd: BlockBuild, rng, b: int, counts: np.ndarray, distinct: bool) -> Chunk:
    """Block ``b``'s targets get ``counts`` sources each, uniform among their candidates."""
    t0, t1 = bd.block_range(b)
    rows = np.arange(t0, t1, dtype=np.int32)
    excluded = rows.astype(np.int64) if bd.exclude_self else np.full(rows.size, -1, np.int64)
    rowptr, sources = bd.sample(rng, np.asarray(counts, np.int64), bd.n_pre, excluded, distinct)
    return Chunk(b, rows, rowptr, sources)


def _all_to_all(bd: BlockBuild, b: int, split) -> Chunk:
    t0, t1 = bd.block_range(b)  # a dense row takes every candidate: no draws
    return _onto_targets(bd, bd.streams.connections(b), b, np.full(t1 - t0, bd.n_src), True)


def _one_to_one(bd: BlockBuild, b: int, split) -> Chunk:
    t0, t1 = bd.block_range(b)
    rows = np.arange(t0, t1, dtype=np.int32)
    rowptr = np.zeros(rows.size + 1, np.int64) if bd.exclude_self else np.arange(rows.size + 1, dtype=np.int64)
    return Chunk(b, rows, rowptr, rows[:0].copy() if bd.exclude_self else rows.copy())


def _fixed_indegree(bd: BlockBuild, b: int, split) -> Chunk:
    t0, t1 = bd.block_range(b)
    counts = np.full(t1 - t0, bd.rule.params["indegree"])
    return _onto_targets(bd, bd.streams.connections(b), b, counts, not bd.multapses)


def _pairwise_bernoulli(bd: BlockBuild, b: int, split) -> Chunk:
    # Per target, the number of sources is Binomial(n, p) and, given it, the set of sources is a
    # uniform subset: exactly independent Bernoulli(p) trials per pair, in O(synapses) memory.
    t0, t1 = bd.block_range(b)
    rng = bd.streams.connections(b)
    counts = rng.binomial(bd.n_src, bd.rule.params["p"], size=t1 - t0)
    return _onto_targets(bd, rng, b, counts, True)


def _fixed_total_number(bd: BlockBuild, b: int, split) -> Chunk:
    t0, t1 = bd.block_range(b)
    rng = bd.streams.connections(b)
    counts = split_count(rng, int(split[b]), np.full(t1 - t0, bd.n_src), not bd.multapses)
    return _onto_targets(bd, rng, b, counts, not bd.multapses)


def _total_number_split(bd: BlockBuild) -> np.ndarray:
    """Synapses per block of a ``fixed_total_number`` projection, from the projection's split stream."""
    n_blocks = -(-bd.n_post // bd.block)
    sizes = np.full(n_blocks, bd.block, np.int64)
    sizes[-1] = bd.n_post - (n_blocks - 1) * bd.block
    return split_count(bd.streams.split(), bd.rule.params["N"], sizes * bd.n_src, not bd.multapses)


def _outdegree_leaves(bd: BlockBuild, first: int, end: int, node=None):
    """``(block, sources, counts)`` of the blocks in ``[first, end)`` that get synapses of a
    ``fixed_outdegree`` projection, in block order: the sources' counts, split down the tree of
    halved block ranges from ``node = (its first block, its end block, sources, counts)`` (default:
    the root, every source with the whole outdegree). Subtrees outside ``[first, end)`` are not
    drawn, nor are those no source reaches."""
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


def _outdegree_block(bd: BlockBuild, b: int, ids: np.ndarray, counts: np.ndarray) -> Chunk:
    """Block ``b``'s synapses of ``fixed_outdegree``: each source draws its count of targets in the
    block, then the synapses are regrouped by target (sources ascending within a target)."""
    t0, t1 = bd.block_range(b)
    inside = bd.exclude_self & (ids >= t0) & (ids < t1)
    excluded = np.where(inside, ids.astype(np.int64) - t0, -1)
    rowptr, offsets = bd.sample(bd.streams.connections(b), counts, t1 - t0, excluded, not bd.multapses)
    colptr, sources = csr.by_column(ids, rowptr, offsets, t1 - t0)
    return Chunk(b, np.arange(t0, t1, dtype=np.int32), colptr, sources)


def _check_ids(a: np.ndarray, n: int, where: str, what: str) -> None:
    bad = np.flatnonzero((a < 0) | (a >= n))
    if bad.size:
        i = int(bad[0])
        allowed = f"[0, {n - 1}]" if n else "none (the population is empty)"
        raise ValidationError(where, f"entry {i} is {int(a[i])}, outside the {what} population's local "
                                     f"indices {allowed}")


def _check_explicit(bd: BlockBuild) -> None:
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


def _explicit_chunks(bd: BlockBuild, first: int, end: int):
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
            rowptr = csr.rowptr_from_counts(counts)
            yield Chunk(b, rows.astype(np.int32), rowptr, src[order].astype(np.int32), order)


_BLOCK_RULES = {"all_to_all": _all_to_all, "one_to_one": _one_to_one, "fixed_indegree": _fixed_indegree,
                "fixed_total_number": _fixed_total_number, "pairwise_bernoulli": _pairwise_bernoulli}


def is_empty(bd: BlockBuild) -> bool:
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


def _drawn(bd: BlockBuild, first: int, end: int):
    """The drawn blocks' chunks, in block order (drawn on ``bd.threads`` threads: the same chunks)."""
    if bd.rule.name == "fixed_outdegree":
        jobs = ((_outdegree_block, (bd, b, ids, counts)) for b, ids, counts in _outdegree_leaves(bd, first, end))
    else:
        split = _total_number_split(bd) if bd.rule.name == "fixed_total_number" else None
        jobs = ((_BLOCK_RULES[bd.rule.name], (bd, b, split)) for b in range(first, end))
    if bd.threads <= 1:
        yield from (f(*a) for f, a in jobs)
        return
    # NOTE: blocks are independent (own streams, per-thread work arrays) and the sampling kernels
    # release the GIL, so threads draw them concurrently; map() keeps block order.
    with ThreadPoolExecutor(bd.threads) as pool:
        yield from pool.map(lambda job: job[0](*job[1]), jobs)


def block_chunks(bd: BlockBuild):
    """The chunks of the blocks that hold the build's targets, in block order, each with ``keep``."""
    first, end = bd.lo // bd.block, -(-bd.hi // bd.block)
    chunks = _explicit_chunks(bd, first, end) if bd.rule.name == "explicit" else _drawn(bd, first, end)
    for ch in chunks:
        t0, t1 = bd.block_range(ch.block)
        ch.keep = np.zeros(0, np.bool_)
        if t0 < bd.lo or t1 > bd.hi:  # a block cut by the range: keep its synapses onto the range
            tg = np.repeat(ch.targets, np.diff(ch.rowptr))
            ch.keep = (tg >= bd.lo) & (tg < bd.hi)
        yield ch
