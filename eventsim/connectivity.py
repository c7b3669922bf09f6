"""Connection rules and weight/delay specs to CSR arrays.

A projection connects a *pre* population to a *post* population by a :class:`Rule` (NEST's rule
names and parameters) with a weight spec (mV) and a delay spec (ms), each a number, a distribution
(:mod:`eventsim.distributions`) or, for the ``explicit`` rule, one value per synapse (checked and
drawn by :mod:`eventsim.synapses`).
:func:`build_projection` turns one projection into :class:`ProjectionData` (CSR by source, local
indices) and :func:`assemble` joins all projections into the connectivity fields of
:class:`eventsim.prepared.Prepared` (global indices).

Storage: a scalar spec is stored once per projection; a distribution or an array gives per-synapse
values (float64 weights, int32 delay ticks), except that an explicit array whose values are all
equal is stored once. Rows are sorted by target, or by (delay, target) when delays are per synapse;
multapses are repeated targets in a row.

Randomness: everything is drawn from the ``numpy.random.Generator`` passed in, in a fixed order
(connections, then delays, then weights), so the same generator state gives identical arrays and
the same seed gives the same connections whatever the weight and delay specs. Drawn delays come
in the order of rows sorted by target and then reorder each row; drawn weights come in the final
order.

Cost: O(S) time and memory for S synapses, plus O(k log k) for a row of k synapses that a rule
does not produce sorted; no Python loop per neuron or synapse (loops run per projection, per block
of rows of equal length, or per chunk of 2**16 values). Transient memory beyond the result: about
4 bytes per synapse for homogeneous projections (the drawn sources of ``fixed_indegree``), about
none for drawn per-synapse values (their 8-byte sort keys are freed before the weights are drawn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from eventsim.distributions import describe, is_real
from eventsim.engine import csr
from eventsim.errors import ValidationError, did_you_mean
from eventsim.synapses import MAX_DELAY_TICKS, check_delay, check_weight, delays, weights

__all__ = ["MAX_NEURONS", "RULES", "RULE_PARAMS", "ALIASES", "Rule", "make_rule", "check_values", "ProjectionData",
           "build_projection", "assemble"]

RULES = ("all_to_all", "one_to_one", "fixed_indegree", "fixed_outdegree", "fixed_total_number",
         "pairwise_bernoulli", "explicit")
"""Connection rule names (NEST's); ``fixed_probability`` is accepted for ``pairwise_bernoulli``."""

ALIASES = {"fixed_probability": "pairwise_bernoulli"}
"""Other names accepted for rules -> the canonical name."""
RULE_PARAMS = {"all_to_all": (), "one_to_one": (), "fixed_indegree": ("indegree",),
               "fixed_outdegree": ("outdegree",), "fixed_total_number": ("N",),
               "pairwise_bernoulli": ("p",), "explicit": ("sources", "targets")}
"""Rule name -> the parameters it requires (and the only ones it takes)."""
_CHUNK = 1 << 16  # values sorted or packed per block: bounds temporaries, keeps them in cache
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
    """

    rowptr: np.ndarray
    targets: np.ndarray
    weight: float | np.ndarray
    delay: int | np.ndarray

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
        assert np.all((tg >= 0) & (tg < n_post))
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


def _empty_rows(n_pre: int):
    return np.zeros(n_pre + 1, np.int64), np.zeros(0, np.int32), None


def _impossible(where: str, what: str, n_eff: int, n: int, exclude_self: bool, multapses: bool):
    """The error for a degree or count that the populations cannot provide."""
    why = " with autapses excluded" if exclude_self and n_eff < n else ""
    if not multapses:
        why += " and multapses excluded (allow_multapses=False)" if why else " without multapses (allow_multapses=False)"
    return ValidationError(where, f"{what} is impossible: only {n_eff} candidate(s){why}")


def _draw_rows(rng, rowptr: np.ndarray, n: int, exclude_self: bool) -> np.ndarray:
    """Values drawn uniformly with replacement from ``[0, n)`` (without ``r`` in row ``r`` if
    ``exclude_self``, then ``n`` counts the other candidates), int32, rows unsorted."""
    values = rng.integers(0, n, size=int(rowptr[-1]), dtype=np.int32)
    if exclude_self:
        csr.shift_rows(rowptr, values)
    return values


def _sort_rows(rowptr: np.ndarray, values: np.ndarray) -> None:
    """Sort each row of ``values`` in place.

    Uses numpy's vectorised sort on blocks of rows of equal length (about 5x faster than Numba's
    per-row quicksort): O(k log k) per row, O(n_rows log n_rows) grouping, O(_CHUNK) extra memory.
    """
    lengths = np.diff(rowptr)
    if values.size == 0:
        return
    if np.all(lengths == lengths[0]):  # rows of one length are a 2-D view
        values.reshape(lengths.size, int(lengths[0])).sort(axis=1)
        return
    rows = np.argsort(lengths, kind="stable")
    sorted_len = lengths[rows]
    first = np.searchsorted(sorted_len, 2)  # rows shorter than 2 are sorted already
    change = np.flatnonzero(np.diff(sorted_len)) + 1
    bounds = np.concatenate(([first], change[change > first], [rows.size]))
    for a, b in zip(bounds[:-1], bounds[1:]):
        if a == b:
            continue
        length = int(sorted_len[a])
        per = max(1, _CHUNK // length)
        for c in range(a, b, per):
            idx = rowptr[rows[c:min(c + per, b)], None] + np.arange(length)
            block = values[idx]
            block.sort(axis=1)
            values[idx] = block


def _sort_by_delay(rowptr: np.ndarray, targets: np.ndarray, delays: np.ndarray) -> None:
    """Sort each row by (delay, target) in place, via int64 keys ``delay << 31 | target``.

    The keys carry no other payload, so per-synapse weights must be drawn afterwards.
    """
    # NOTE: packing both fields into one key lets numpy's vectorised sort order the rows; a
    # stable argsort carrying targets and weights (csr.sort_rows_by_delay) is about 3x slower.
    key = np.empty(targets.size, np.int64)
    for a in range(0, key.size, _CHUNK):
        b = min(a + _CHUNK, key.size)
        np.left_shift(delays[a:b], 31, out=key[a:b], dtype=np.int64)
        key[a:b] |= targets[a:b]
    _sort_rows(rowptr, key)
    for a in range(0, key.size, _CHUNK):
        b = min(a + _CHUNK, key.size)
        targets[a:b] = key[a:b] & 0x7FFFFFFF
        delays[a:b] = key[a:b] >> 31


def _all_to_all(params, n_pre, n_post, exclude_self, multapses, rng, where):
    rowptr, targets = csr.all_to_all_rows(n_pre, n_post, exclude_self)
    return rowptr, targets, None


def _one_to_one(params, n_pre, n_post, exclude_self, multapses, rng, where):
    if n_pre != n_post:
        raise ValidationError(f"{where}.rule", f"one_to_one needs populations of equal size, got {n_pre} "
                                               f"sources and {n_post} targets")
    if exclude_self:  # every pair i -> i is an autapse
        return _empty_rows(n_pre)
    return np.arange(n_pre + 1, dtype=np.int64), np.arange(n_post, dtype=np.int32), None


def _degree(params, key: str, n_rows: int, n_cand: int, exclude_self, multapses, where):
    """``(k, candidates per row)`` of a fixed in- or outdegree ``key`` over ``n_rows`` rows drawn from
    ``n_cand`` neurons; ``k == 0`` when there is nothing to draw. Raises when ``k`` is impossible."""
    k = params[key]
    n_eff = max(n_cand - int(exclude_self), 0)
    if k == 0 or n_rows == 0:
        return 0, n_eff
    if n_eff == 0 or (not multapses and k > n_eff):
        raise _impossible(f"{where}.rule", f"{key} {k}", n_eff, n_cand, exclude_self, multapses)
    return k, n_eff


def _fixed_indegree(params, n_pre, n_post, exclude_self, multapses, rng, where):
    k, n_src = _degree(params, "indegree", n_post, n_pre, exclude_self, multapses, where)
    if k == 0:
        return _empty_rows(n_pre)
    if multapses:
        src = rng.integers(0, n_src, size=n_post * k, dtype=np.int32)
    else:
        src = csr.sample_rows(rng, np.full(n_post, k, np.int64), n_pre, exclude_self)[1]
    rowptr, targets = csr.rows_from_blocked_sources(src, k, n_pre, exclude_self and multapses)
    return rowptr, targets, None


def _fixed_outdegree(params, n_pre, n_post, exclude_self, multapses, rng, where):
    k, n_tgt = _degree(params, "outdegree", n_pre, n_post, exclude_self, multapses, where)
    if k == 0:
        return _empty_rows(n_pre)
    if not multapses:
        rowptr, targets = csr.sample_rows(rng, np.full(n_pre, k, np.int64), n_post, exclude_self)
    else:
        rowptr = np.arange(n_pre + 1, dtype=np.int64) * k
        targets = _draw_rows(rng, rowptr, n_tgt, exclude_self)
    _sort_rows(rowptr, targets)
    return rowptr, targets, None


def _rowptr(counts) -> np.ndarray:
    rowptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=rowptr[1:])
    return rowptr


def _distinct_pairs(rng, n: int, n_rows: int, n_cols: int):
    """``n`` distinct (row, column) pairs, uniform among all such sets; rows sorted. Needs 2n <= pairs.

    Draws pairs uniformly with replacement, keeps the distinct ones and draws the shortfall again:
    the result is the first ``n`` distinct pairs of an i.i.d. uniform sequence, hence a uniform
    ``n``-subset. At most half the pairs are taken, so each round at least halves the shortfall.
    """
    rowptr, values = np.zeros(n_rows + 1, np.int64), np.zeros(0, np.int32)
    p = np.full(n_rows, 1.0 / n_rows)
    while values.size < n:
        short = n - values.size
        rp_new = _rowptr(rng.multinomial(short, p))
        new = _draw_rows(rng, rp_new, n_cols, False)
        _sort_rows(rp_new, new)
        rowptr, values = csr.merge_unique_rows(rowptr, values, rp_new, new)
    return rowptr, values


def _fixed_total_number(params, n_pre, n_post, exclude_self, multapses, rng, where):
    n = params["N"]
    n_tgt = max(n_post - int(exclude_self), 0)
    n_pairs = n_pre * n_tgt
    if n == 0:
        return _empty_rows(n_pre)
    if n_pairs == 0 or (not multapses and n > n_pairs):
        raise _impossible(f"{where}.rule", f"N = {n} synapses", n_pairs, n_pre * n_post, exclude_self, multapses)
    if multapses:
        rowptr = _rowptr(rng.multinomial(n, np.full(n_pre, 1.0 / n_pre)))
        targets = _draw_rows(rng, rowptr, n_tgt, exclude_self)
        _sort_rows(rowptr, targets)
        return rowptr, targets, None
    if 2 * n <= n_pairs:
        rowptr, targets = _distinct_pairs(rng, n, n_pre, n_tgt)
    else:  # more than half of all pairs: choose the ones left out
        rowptr, targets = csr.complement_rows(*_distinct_pairs(rng, n_pairs - n, n_pre, n_tgt), n_tgt)
    if exclude_self:
        csr.shift_rows(rowptr, targets)
    return rowptr, targets, None


def _pairwise_bernoulli(params, n_pre, n_post, exclude_self, multapses, rng, where):
    # Per source, the number of targets is Binomial(n, p) and, given it, the set of targets is a
    # uniform subset: exactly independent Bernoulli(p) trials per pair, in O(synapses) memory.
    n_tgt = max(n_post - int(exclude_self), 0)
    counts = rng.binomial(n_tgt, params["p"], size=n_pre).astype(np.int64)
    rowptr, targets = csr.sample_rows(rng, counts, n_post, exclude_self)
    _sort_rows(rowptr, targets)
    return rowptr, targets, None


def _check_ids(a: np.ndarray, n: int, where: str, what: str) -> None:
    bad = np.flatnonzero((a < 0) | (a >= n))
    if bad.size:
        i = int(bad[0])
        allowed = f"[0, {n - 1}]" if n else "none (the population is empty)"
        raise ValidationError(where, f"entry {i} is {int(a[i])}, outside the {what} population's local "
                                     f"indices {allowed}")


def _explicit(params, n_pre, n_post, exclude_self, multapses, rng, where):
    src, tgt = params["sources"], params["targets"]
    _check_ids(src, n_pre, f"{where}.sources", "source")
    _check_ids(tgt, n_post, f"{where}.targets", "target")
    if exclude_self:
        self_pairs = np.flatnonzero(src == tgt)
        if self_pairs.size:
            i = int(self_pairs[0])
            raise ValidationError(f"{where}.sources", f"entry {i} connects neuron {int(src[i])} to itself, "
                                                      "but allow_autapses=False")
    rowptr, order = csr.counting_sort_order(src, n_pre)
    key = tgt[order]
    csr.sort_rows_by_key(rowptr, key, order)
    targets = key.astype(np.int32)
    if not multapses:
        s = csr.first_duplicate(rowptr, targets)
        if s >= 0:
            i, j = int(order[s - 1]), int(order[s])
            raise ValidationError(f"{where}.targets", f"entries {i} and {j} both connect {int(src[i])} -> "
                                                      f"{int(tgt[i])}, but allow_multapses=False")
    return rowptr, targets, order


def check_values(rule: Rule, weight, delay, where: str = "projection") -> None:
    """Raise ValidationError unless the weight and delay specs suit the rule (arrays only with
    ``explicit``, one value per synapse) and the engine's limits (:mod:`eventsim.synapses`)."""
    n_explicit = rule.params["sources"].size if rule.name == "explicit" else None
    check_weight(weight, n_explicit, f"{where}.weight")
    check_delay(delay, n_explicit, f"{where}.delay")


_BUILDERS = {"all_to_all": _all_to_all, "one_to_one": _one_to_one, "fixed_indegree": _fixed_indegree,
             "fixed_outdegree": _fixed_outdegree, "fixed_total_number": _fixed_total_number,
             "pairwise_bernoulli": _pairwise_bernoulli, "explicit": _explicit}


def build_projection(rule: Rule, n_pre: int, n_post: int, same_population: bool, weight, delay, *,
                     allow_autapses: bool = True, allow_multapses: bool = True,
                     rng: np.random.Generator, where: str = "projection") -> ProjectionData:
    """Build one projection's CSR arrays from its rule and weight/delay specs.

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
    rng : numpy.random.Generator
        Source of all randomness of this projection.
    where : str, default "projection"
        Prefix of error locations (``where + ".delay"``, ``".weight"``, ``".rule"``, ...).

    Returns
    -------
    ProjectionData

    Raises
    ------
    ValidationError
        Bad weight or delay, indices out of range, or a rule the populations cannot satisfy.

    Complexity: O(S) time and memory for S synapses, plus O(k log k) per unsorted row of k.
    """
    n_pre, n_post = int(n_pre), int(n_post)
    if same_population and n_pre != n_post:
        raise ValueError(f"{where}: same_population with sizes {n_pre} != {n_post}")
    exclude_self = bool(same_population and not allow_autapses)
    check_values(rule, weight, delay, where)
    rowptr, targets, order = _BUILDERS[rule.name](rule.params, n_pre, n_post, exclude_self,
                                                  bool(allow_multapses), rng, where)
    d = delays(delay, order, targets.size, rng, f"{where}.delay")
    if isinstance(d, np.ndarray) and order is None:  # drawn delays: sort keys, then draw weights
        _sort_by_delay(rowptr, targets, d)
        w = weights(weight, order, targets.size, rng, f"{where}.weight")
    else:
        w = weights(weight, order, targets.size, rng, f"{where}.weight")
        if isinstance(d, np.ndarray):
            csr.sort_rows_by_delay(rowptr, d, targets, w if isinstance(w, np.ndarray) else np.zeros(0))
    return ProjectionData(rowptr=rowptr, targets=targets, weight=w, delay=d)


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
