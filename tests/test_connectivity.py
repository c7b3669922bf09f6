"""The connectivity builder: rules, value specs, CSR layout, validation and assembly.

Every built projection is checked with ``ProjectionData._check`` (dtypes, ranges, row order); the
property test checks that :func:`assemble` keeps the multiset of synapses and the layout invariants
of :class:`eventsim.prepared.Prepared`.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsim import connectivity as C
from eventsim import distributions as D
from eventsim.connection_blocks import BlockBuild
from eventsim.engine import csr
from eventsim.errors import ValidationError
from eventsim.prepared import Prepared
from eventsim.rng import ConnectionStreams

MS = 1_000_000  # ticks per ms


def build(rule, n_pre, n_post, *, same=False, weight=1.0, delay=1.0, seed=0, autapses=True, multapses=True,
          block=C.TARGET_BLOCK, target_range=None, threads=1, **params):
    """Build one projection (projection 0 of network ``seed``) and check its invariants."""
    r = rule if isinstance(rule, C.Rule) else C.make_rule(rule, **params)
    pd = C.build_projection(r, n_pre, n_post, same, D.value_spec(weight, "w"), D.value_spec(delay, "d"),
                            allow_autapses=autapses, allow_multapses=multapses, streams=ConnectionStreams(seed, 0),
                            target_range=target_range, block=block, threads=threads, where="proj")
    pd._check(n_post)
    return pd


def sources(pd):
    return np.repeat(np.arange(pd.rowptr.size - 1), np.diff(pd.rowptr))


def pair_counts(pd):
    return Counter(zip(sources(pd).tolist(), pd.targets.tolist()))


def synapse_list(pd):
    """Sorted list of (source, target, weight, delay ticks) of a projection."""
    S = pd.n_synapses
    w = pd.weight if isinstance(pd.weight, np.ndarray) else np.full(S, pd.weight)
    d = pd.delay if isinstance(pd.delay, np.ndarray) else np.full(S, pd.delay)
    return sorted(zip(sources(pd).tolist(), pd.targets.tolist(), w.tolist(), d.tolist()))


# ------------------------------------------------------------------------------------ rules: counts
@pytest.mark.parametrize("autapses", [True, False])
def test_all_to_all(autapses):
    pd = build("all_to_all", 5, 5, same=True, autapses=autapses)
    pairs = pair_counts(pd)
    expected = {(i, j) for i in range(5) for j in range(5) if autapses or i != j}
    assert set(pairs) == expected and max(pairs.values()) == 1
    assert pd.n_synapses == (25 if autapses else 20)
    assert pd.nbytes() == 4 * pd.n_synapses + 8 * 6


def test_one_to_one():
    pd = build("one_to_one", 4, 4)
    assert sources(pd).tolist() == [0, 1, 2, 3] and pd.targets.tolist() == [0, 1, 2, 3]
    assert build("one_to_one", 4, 4, same=True, autapses=False).n_synapses == 0
    with pytest.raises(ValidationError, match="one_to_one.*3 sources and 4 targets"):
        build("one_to_one", 3, 4)


@pytest.mark.parametrize("block", [C.TARGET_BLOCK, 2])  # one block, and blocks of 2 targets
@pytest.mark.parametrize("same, autapses, multapses", [(False, True, True), (True, False, True),
                                                       (True, True, False), (True, False, False)])
def test_fixed_indegree_exact(same, autapses, multapses, block):
    pd = build("fixed_indegree", 30, 30, same=same, autapses=autapses, multapses=multapses, indegree=7, seed=3,
               block=block)
    assert np.all(np.bincount(pd.targets, minlength=30) == 7)
    pairs = pair_counts(pd)
    if not autapses:
        assert all(i != j for i, j in pairs)
    if not multapses:
        assert max(pairs.values()) == 1


def test_fixed_indegree_full_without_multapses_and_limits():
    pd = build("fixed_indegree", 6, 6, same=True, autapses=False, multapses=False, indegree=5)
    assert set(pair_counts(pd)) == {(i, j) for i in range(6) for j in range(6) if i != j}
    assert build("fixed_indegree", 2, 5, indegree=9).n_synapses == 45  # multapses: more than n_pre
    with pytest.raises(ValidationError, match=r"proj\.rule.*indegree 6.*5 candidate"):
        build("fixed_indegree", 6, 6, same=True, autapses=False, multapses=False, indegree=6)
    with pytest.raises(ValidationError, match="indegree 3"):
        build("fixed_indegree", 1, 1, same=True, autapses=False, indegree=3)


@pytest.mark.parametrize("block", [C.TARGET_BLOCK, 2])  # one block, and blocks of 2 targets
@pytest.mark.parametrize("same, autapses, multapses", [(False, True, True), (True, False, True),
                                                       (True, True, False), (True, False, False)])
def test_fixed_outdegree_exact(same, autapses, multapses, block):
    pd = build("fixed_outdegree", 25, 25, same=same, autapses=autapses, multapses=multapses, outdegree=9, seed=5,
               block=block)
    assert np.all(np.diff(pd.rowptr) == 9)
    pairs = pair_counts(pd)
    if not autapses:
        assert all(i != j for i, j in pairs)
    if not multapses:
        assert max(pairs.values()) == 1
    with pytest.raises(ValidationError, match="outdegree 26"):
        build("fixed_outdegree", 25, 25, multapses=False, outdegree=26, block=block)


@pytest.mark.parametrize("block", [C.TARGET_BLOCK, 2])  # one block, and blocks of 2 targets
@pytest.mark.parametrize("N", [0, 1, 17, 60, 89, 90, 91, 100])  # 60: more than half the pairs (dense rows)
@pytest.mark.parametrize("autapses", [True, False])
def test_fixed_total_number_exact(N, autapses, block):
    """Without multapses N distinct pairs, up to all of them: 100, or 90 without autapses."""
    n_pairs = 100 if autapses else 90
    if N > n_pairs:
        with pytest.raises(ValidationError, match=f"N = {N} synapses is impossible: only 90 candidate"):
            build("fixed_total_number", 10, 10, same=True, autapses=False, multapses=False, N=N, block=block)
        return
    pd = build("fixed_total_number", 10, 10, same=True, autapses=autapses, multapses=False, N=N, seed=N, block=block)
    pairs = pair_counts(pd)
    assert pd.n_synapses == N and (N == 0 or max(pairs.values()) == 1)
    assert autapses or all(i != j for i, j in pairs)
    pd = build("fixed_total_number", 10, 7, N=3 * N, seed=N, block=block)
    assert pd.n_synapses == 3 * N


def test_fixed_total_number_limits():
    with pytest.raises(ValidationError, match="N = 91"):
        build("fixed_total_number", 10, 10, same=True, autapses=False, multapses=False, N=91)
    with pytest.raises(ValidationError, match="N = 1"):
        build("fixed_total_number", 0, 10, N=1)


@pytest.mark.parametrize("block", [C.TARGET_BLOCK, 2])  # one block, and blocks of 2 targets
@pytest.mark.parametrize("dense", [False, True])
def test_distinct_sampling_is_uniform(dense, block):
    """Each pair is equally likely in N-of-M sampling without multapses (both code paths)."""
    N, reps = (7 if dense else 3), 1500
    counts = Counter()
    for seed in range(reps):
        counts.update(pair_counts(build("fixed_total_number", 3, 3, multapses=False, N=N, seed=seed, block=block)))
    p = N / 9
    mean, sd = reps * p, math.sqrt(reps * p * (1 - p))
    assert len(counts) == 9 and all(abs(c - mean) < 5 * sd for c in counts.values())


@pytest.mark.parametrize("block", [C.TARGET_BLOCK, 2])  # one block, and blocks of 2 targets
@pytest.mark.parametrize("p", [0.05, 0.3, 0.8])
@pytest.mark.parametrize("autapses", [True, False])
def test_pairwise_bernoulli_count(p, autapses, block):
    n = 150
    pd = build("pairwise_bernoulli", n, n, same=True, autapses=autapses, p=p, seed=11, block=block)
    trials = n * n if autapses else n * (n - 1)
    mean, sd = trials * p, math.sqrt(trials * p * (1 - p))
    assert abs(pd.n_synapses - mean) < 5 * sd
    pairs = pair_counts(pd)
    assert max(pairs.values()) == 1 and (autapses or all(i != j for i, j in pairs))


def test_pairwise_bernoulli_extremes_and_alias():
    assert build("pairwise_bernoulli", 8, 9, p=0.0).n_synapses == 0
    assert build("pairwise_bernoulli", 8, 9, p=1.0).n_synapses == 72
    assert build("fixed_probability", 8, 8, same=True, autapses=False, p=1.0).n_synapses == 56
    assert C.make_rule("fixed_probability", p=0.5).name == "pairwise_bernoulli"


@pytest.mark.parametrize("block", [C.TARGET_BLOCK, 2])  # one block, and blocks of 2 targets
def test_pairwise_bernoulli_each_pair_equally_likely(block):
    counts, reps, p = Counter(), 1000, 0.3
    for seed in range(reps):
        counts.update(pair_counts(build("pairwise_bernoulli", 3, 4, p=p, seed=seed, block=block)))
    mean, sd = reps * p, math.sqrt(reps * p * (1 - p))
    assert len(counts) == 12 and all(abs(c - mean) < 5 * sd for c in counts.values())


def test_explicit_round_trip():
    src = np.array([2, 0, 2, 1, 2, 0])
    tgt = np.array([1, 3, 0, 0, 1, 3])  # (0 -> 3) and (2 -> 1) twice: multapses
    w = np.array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    d = np.array([2.0, 1.0, 1.0, 3.0, 1.5, 1.0])
    pd = build("explicit", 3, 4, weight=w, delay=d, sources=src, targets=tgt)
    expected = sorted(zip(src.tolist(), tgt.tolist(), w.tolist(), np.rint(d * MS).astype(int).tolist()))
    assert synapse_list(pd) == expected
    # row 2 sorted by (delay, target): (1 ms, 0), (1.5 ms, 1), (2 ms, 1)
    lo, hi = pd.rowptr[2], pd.rowptr[3]
    assert pd.targets[lo:hi].tolist() == [0, 1, 1] and pd.delay[lo:hi].tolist() == [MS, 1.5 * MS, 2 * MS]
    assert pd.weight[lo:hi].tolist() == [2.5, 4.5, 0.5]


def test_explicit_homogeneous_delay_keeps_input_order_of_multapses():
    pd = build("explicit", 2, 2, weight=[3.0, 1.0, 2.0], sources=[1, 1, 1], targets=[1, 0, 1])
    assert pd.targets.tolist() == [0, 1, 1] and pd.weight.tolist() == [1.0, 3.0, 2.0]


def test_explicit_errors():
    with pytest.raises(ValidationError, match=r"proj\.sources.*entry 1 is 3.*\[0, 2\]"):
        build("explicit", 3, 4, sources=[0, 3], targets=[0, 0])
    with pytest.raises(ValidationError, match=r"proj\.targets.*entry 0 is -1.*\[0, 3\]"):
        build("explicit", 3, 4, sources=[0, 1], targets=[-1, 0])
    with pytest.raises(ValidationError, match="sources has 2 entries but targets has 1"):
        C.make_rule("explicit", sources=[0, 1], targets=[0])
    with pytest.raises(ValidationError, match="sources must be a 1-D array of integer"):
        C.make_rule("explicit", sources=[0.5], targets=[0])
    with pytest.raises(ValidationError, match=r"proj\.targets.*both connect 1 -> 2.*allow_multapses"):
        build("explicit", 3, 3, multapses=False, sources=[1, 0, 1], targets=[2, 2, 2])
    with pytest.raises(ValidationError, match=r"proj\.sources.*entry 1 connects neuron 2 to itself"):
        build("explicit", 3, 3, same=True, autapses=False, sources=[1, 2], targets=[2, 2])
    with pytest.raises(ValidationError, match=r"proj\.weight.*expected 2 values.*got 3"):
        build("explicit", 3, 3, weight=[1.0, 2.0, 3.0], sources=[1, 2], targets=[2, 2])
    with pytest.raises(ValidationError, match=r"proj\.delay.*expected 2 values.*got 1"):
        build("explicit", 3, 3, delay=[1.0], sources=[1, 2], targets=[2, 2])


# ------------------------------------------------------------------------------------ storage and order
@pytest.mark.parametrize("rule, params", [("fixed_indegree", {"indegree": 12}), ("fixed_outdegree", {"outdegree": 12}),
                                          ("fixed_total_number", {"N": 500}), ("pairwise_bernoulli", {"p": 0.3}),
                                          ("all_to_all", {})])
def test_storage_and_row_order(rule, params):
    homo = build(rule, 40, 50, **params)
    assert isinstance(homo.weight, float) and isinstance(homo.delay, int)
    assert homo.nbytes() == 4 * homo.n_synapses + 8 * 41
    per = build(rule, 40, 50, weight={"distribution": "uniform", "min": -1.0, "max": 1.0},
                delay=D.Uniform(0.1, 0.1001), **params)  # 100 distinct tick values: many ties
    assert per.weight.dtype == np.float64 and per.delay.dtype == np.int32
    assert per.nbytes() == 16 * per.n_synapses + 8 * 41
    assert np.all((per.weight >= -1.0) & (per.weight < 1.0))
    assert np.all((per.delay >= 100_000) & (per.delay <= 100_100))
    # connections are drawn before values, so the same seed gives the same pairs
    assert pair_counts(per) == pair_counts(homo)
    only_w = build(rule, 40, 50, weight=D.Normal(0.0, 1.0, -0.5, 0.5), **params)
    assert isinstance(only_w.delay, int) and np.all(np.abs(only_w.weight) <= 0.5)


def test_explicit_all_equal_arrays_are_homogeneous():
    pd = build("explicit", 2, 2, weight=[0.25, 0.25], delay=[1.5, 1.5], sources=[0, 1], targets=[1, 0])
    assert pd.weight == 0.25 and pd.delay == 1_500_000 and pd.nbytes() == 8 + 8 * 3


def test_normal_delays_are_truncated_to_one_tick():
    pd = build("fixed_indegree", 50, 50, delay=D.Normal(0.0, 1e-5), indegree=20)
    assert pd.delay.min() >= 1 and pd.delay.max() < 100


def test_determinism():
    for rule, params in [("fixed_indegree", {"indegree": 5}), ("pairwise_bernoulli", {"p": 0.2}),
                         ("fixed_total_number", {"N": 80}), ("fixed_outdegree", {"outdegree": 4})]:
        kw = dict(weight=D.Normal(1.0, 0.5), delay=D.Uniform(1.0, 2.0), multapses=False, **params)
        a, b, c = build(rule, 20, 20, seed=4, **kw), build(rule, 20, 20, seed=4, **kw), build(rule, 20, 20, seed=5, **kw)
        for f in ("rowptr", "targets", "weight", "delay"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), (rule, f)
        assert not np.array_equal(a.weight, c.weight)


# ------------------------------------------------------------------------------------ delays
def test_delay_rounding():
    assert build("all_to_all", 1, 1, delay=1.0000004).delay == 1_000_000
    assert build("all_to_all", 1, 1, delay=1.0000006).delay == 1_000_001
    assert build("all_to_all", 1, 1, delay=1e-6).delay == 1
    pd = build("explicit", 1, 3, delay=[0.1, 0.0000012, 2147.483647], sources=[0, 0, 0], targets=[0, 1, 2])
    assert pd.delay.tolist() == [1, 100_000, 2_147_483_647]
    assert build("all_to_all", 1, 1, delay=1e6).delay == 10**12  # a single delay has no int32 limit


@pytest.mark.parametrize("delay, match", [
    (-1.0, "got -1.0"), (0.0, "got 0.0"), (float("nan"), "got nan"), (4e-7, ">= 1e-06"), (float("inf"), "got inf"),
    (D.Uniform(0.0, 1.0), "uniform min 0.0 ms rounds to 0 ticks"),
    (D.Uniform(1.0, 3000.0), "exceeds 2147.483647 ms"),
    (D.Normal(1.0, 1.0, min=3000.0), "leave nothing"),
    (np.array([1.0, 3000.0]), "entry 1 is 3000.0 ms.*<= 2147.483647 ms"),
    (np.array([1.0, -2.0]), "entry 1 is -2.0 ms; delays must be >= 1e-06 ms"),
    (np.array([1.0, np.nan]), "entry 1 is nan"),
    (1e300, "got 1e\\+300"), (D.Uniform(1.0, 1e300), "exceeds 2147.483647 ms"),
    (np.array([1e13, 1e13]), "entry 0 is 10000000000000.0 ms; a delay must be <="),
])
@pytest.mark.filterwarnings("error")  # no overflow in the range checks
def test_bad_delays(delay, match):
    with pytest.raises(ValidationError, match=r"proj\.delay: .*" + match):
        build("explicit", 2, 2, delay=delay, sources=[0, 1], targets=[1, 1])


def test_bad_weights():
    with pytest.raises(ValidationError, match=r"proj\.weight: .*finite.*inf"):
        build("all_to_all", 2, 2, weight=math.inf)
    with pytest.raises(ValidationError, match=r"proj\.weight: an array of 4 values needs the 'explicit' rule"):
        build("fixed_indegree", 2, 2, weight=[1.0, 2.0, 3.0, 4.0], indegree=2)
    with pytest.raises(ValidationError, match=r"proj\.delay: an array"):
        build("all_to_all", 2, 2, delay=[1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValidationError, match=r"proj\.weight: normal.*almost never"):
        build("all_to_all", 2, 2, weight=D.Normal(0.0, 1.0, min=40.0, max=41.0))


# ------------------------------------------------------------------------------------ specs and rules
def test_value_spec_forms():
    assert D.value_spec(3, "w") == 3.0 and isinstance(D.value_spec(np.int64(3), "w"), float)
    assert D.value_spec({"distribution": "uniform", "min": 1, "max": 2}, "w") == D.Uniform(1.0, 2.0)
    assert D.value_spec({"distribution": "normal", "mean": 1, "std": 2, "min": 0}, "w") == D.Normal(1.0, 2.0, 0.0)
    n = D.Normal(0.0, 1.0)
    assert D.value_spec(n, "w") is n
    a = D.value_spec([1, 2, 3], "w")
    assert a.dtype == np.float64 and a.tolist() == [1.0, 2.0, 3.0]
    assert D.value_spec([], "w").shape == (0,)


@pytest.mark.parametrize("x, match", [
    ("1.0", "got str '1.0'"), (None, "got NoneType"), (True, "got bool"), ([[1.0]], "1-D array"),
    ({"distribution": "gamma"}, "distribution must be 'uniform' or 'normal', got 'gamma'"),
    ({"distribution": "uniform", "min": 1.0}, "needs key 'max'"),
    ({"distribution": "uniform", "min": 1.0, "max": 2.0, "mean": 3.0}, "unknown key 'mean'"),
    ({"distribution": "uniform", "min": 2.0, "max": 1.0}, "min < max"),
    ({"distribution": "normal", "mean": 0.0, "std": -1.0}, "std >= 0"),
    ({"distribution": "normal", "mean": "a", "std": 1.0}, "mean must be a number"),
    (D.Uniform(0.0, math.inf), "finite min < max"),
    (["a", "b"], "1-D array of numbers"),
])
def test_value_spec_errors(x, match):
    with pytest.raises(ValidationError, match=r"weight: .*" + match):
        D.value_spec(x, "weight")


@pytest.mark.parametrize("name, params, match", [
    ("fixed_indgree", {"indegree": 1}, "unknown connection rule 'fixed_indgree'.*did you mean 'fixed_indegree'"),
    ("ring", {}, "unknown connection rule 'ring'; allowed: all_to_all, one_to_one"),
    ("pairwise_bernoulli", {"p": 1.5}, "p must be a probability in \\[0, 1\\], got float 1.5"),
    ("pairwise_bernoulli", {"p": -0.1}, "p must be a probability"),
    ("pairwise_bernoulli", {"p": math.nan}, "p must be a probability"),
    ("pairwise_bernoulli", {}, "needs parameter 'p'"),
    ("fixed_indegree", {"indegree": -1}, "indegree must be an integer >= 0, got int -1"),
    ("fixed_outdegree", {"outdegree": 2.5}, "outdegree must be an integer"),
    ("fixed_total_number", {"N": True}, "N must be an integer"),
    ("all_to_all", {"p": 0.1}, "has no parameter 'p'; it takes no parameters"),
    ("fixed_indegree", {"outdegree": 3}, "has no parameter 'outdegree'; it takes indegree"),
])
def test_make_rule_errors(name, params, match):
    with pytest.raises(ValidationError, match=r"projections\[0\]\.rule: .*" + match):
        C.make_rule(name, where="projections[0].rule", **params)


def test_make_rule_normalises():
    assert C.make_rule("fixed_indegree", indegree=4.0) == C.Rule("fixed_indegree", {"indegree": 4})
    r = C.make_rule("explicit", sources=(0, 1), targets=np.array([1, 0], np.uint8))
    assert r.params["sources"].dtype == np.int64 and r.params["targets"].tolist() == [1, 0]


# one value for every rule parameter of RULE_PARAMS, and the synapses it gives between 4 and 4 neurons
_EXAMPLE = {"indegree": 2, "outdegree": 3, "N": 5, "p": 1.0, "sources": [0, 3], "targets": [1, 1]}
_SYNAPSES = {"all_to_all": 16, "one_to_one": 4, "fixed_indegree": 8, "fixed_outdegree": 12,
             "fixed_total_number": 5, "pairwise_bernoulli": 16, "explicit": 2}


@pytest.mark.parametrize("name", C.RULES + tuple(C.ALIASES))
def test_every_listed_rule_validates_and_builds(name):
    """RULES, ALIASES, RULE_PARAMS and the builders agree: each listed name takes exactly its
    listed parameters and builds the expected number of synapses."""
    canon = C.ALIASES.get(name, name)
    params = {k: _EXAMPLE[k] for k in C.RULE_PARAMS[canon]}
    rule = C.make_rule(name, **params)
    assert rule.name == canon and set(rule.params) == set(params)
    assert build(rule, 4, 4, seed=1).n_synapses == _SYNAPSES[canon]
    for extra in set(_EXAMPLE) - set(params):
        with pytest.raises(ValidationError, match=f"has no parameter '{extra}'"):
            C.make_rule(name, **params, **{extra: _EXAMPLE[extra]})
    assert set(C.RULE_PARAMS) == set(C.RULES) == set(_SYNAPSES)


# ------------------------------------------------------------------------------------ kernels
def test_bounded_int_is_uniform():
    rng = np.random.default_rng(1)
    none = np.full(6000, -1, np.int64)
    counts = csr.sample_rows(rng, np.full(6000, 1, np.int64), 7, none, np.full(7, -1, np.int64), 0)[1]
    hist = np.bincount(counts, minlength=7)
    assert abs(hist - 6000 / 7).max() < 5 * math.sqrt(6000 / 7)


@pytest.mark.parametrize("distinct", [False, True])
def test_sample_rows_excludes(distinct):
    """Row r draws from [0, 10) without excluded[r]; distinct rows have no repeats, sparse and dense."""
    counts = np.array([0, 2, 9, 5, 4, 3], np.int64)  # 9 of 9 candidates and 5 of 10 are dense
    excluded = np.array([-1, 4, 0, -1, 9, 2], np.int64)
    bd = BlockBuild(C.make_rule("all_to_all"), 10, 10, True, not distinct, ConnectionStreams(0, 0), 4, 0, 10, "p")
    rp, v = bd.sample(np.random.default_rng(3), counts, 10, excluded, distinct)
    assert rp.tolist() == [0, 0, 2, 11, 16, 20, 23]
    for r in range(6):
        row = v[rp[r]:rp[r + 1]]
        assert np.all((row >= 0) & (row < 10)) and excluded[r] not in row
        assert not distinct or np.unique(row).size == row.size
    if distinct:
        assert v[rp[2]:rp[3]].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_hypergeometric_beyond_numpy_limit():
    """The sequential sampler (populations >= 1e9) has the hypergeometric mean and variance, and
    numpy's sampler serves the small ones."""
    rng = np.random.default_rng(4)
    g, b, n, reps = 3 * 10**9, 10**9, 40, 4000
    x = D.hypergeometric(rng, np.full(reps, g), np.full(reps, b), np.full(reps, n))
    mean, var = n * 0.75, n * 0.75 * 0.25  # the finite-population correction is ~1 here
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / reps) and abs(x.var() / var - 1) < 0.15
    y = D.hypergeometric(rng, np.array([5, 3 * 10**9]), np.array([5, 10]), np.array([10, 3 * 10**9 + 4]))
    assert y.tolist() == [5, 3 * 10**9 - 6]  # all good ones taken; 6 of the 3e9 left out, flipped path


@pytest.mark.parametrize("distinct", [False, True])
def test_split_count_sums_and_means(distinct):
    """Counts sum to n, an empty part gets none, and each part's mean is n times its share."""
    sizes = np.array([5, 0, 20, 75, 100], np.int64)
    reps, n = 3000, 50
    rng = np.random.default_rng(5)
    got = np.array([D.split_count(rng, n, sizes, distinct) for _ in range(reps)])
    assert np.all(got.sum(axis=1) == n) and np.all(got[:, 1] == 0) and np.all(got <= (sizes if distinct else n))
    p = sizes / sizes.sum()
    sd = np.sqrt(n * p * (1 - p) / reps)
    assert np.all(np.abs(got.mean(axis=0) - n * p) <= 5 * sd + 1e-12)


# ------------------------------------------------------------------------------------ assemble
CONNECTIVITY_FIELDS = ("proj_pre_pop", "proj_post_pop", "proj_rowptr_start", "rowptr", "syn_target", "proj_weight",
                       "proj_weight_shift", "syn_weight", "proj_delay", "proj_delay_shift", "syn_delay",
                       "pop_proj_ptr", "pop_proj")


def check_assembled(conn: dict, built: list, pop_start: np.ndarray) -> None:
    """Layout invariants of the assembled arrays and the multiset of global synapses."""
    assert tuple(conn) == CONNECTIVITY_FIELDS
    names = [f.name for f in dataclasses.fields(Prepared)]
    assert names[names.index("proj_pre_pop"):names.index("pop_proj") + 1] == list(CONNECTIVITY_FIELDS)
    J, P = len(built), pop_start.size - 1
    assert conn["syn_target"].dtype == np.int32 and conn["syn_delay"].dtype == np.int32
    assert conn["rowptr"].dtype == np.int64 and conn["proj_delay"].dtype == np.int64
    assert conn["proj_pre_pop"].dtype == np.int32 and conn["pop_proj"].dtype == np.int32
    for name in ("proj_pre_pop", "proj_post_pop", "proj_rowptr_start", "proj_weight", "proj_weight_shift",
                 "proj_delay", "proj_delay_shift"):
        assert conn[name].shape == (J,), name
    got, want = Counter(), Counter()
    end = 0
    for j, (pre, post, pd) in enumerate(built):
        n_pre = int(pop_start[pre + 1] - pop_start[pre])
        o = int(conn["proj_rowptr_start"][j])
        rp = conn["rowptr"][o:o + n_pre + 1]
        assert rp[0] == end and np.all(np.diff(rp) >= 0)
        end = int(rp[-1])
        lo, hi = int(rp[0]), int(rp[-1])
        tg = conn["syn_target"][lo:hi]
        assert np.all((tg >= pop_start[post]) & (tg < pop_start[post + 1]))
        src = pop_start[pre] + np.repeat(np.arange(n_pre), np.diff(rp))
        if np.isnan(conn["proj_weight"][j]):
            sh = int(conn["proj_weight_shift"][j])
            assert 0 <= lo + sh and hi + sh <= conn["syn_weight"].size
            w = conn["syn_weight"][lo + sh:hi + sh]
        else:
            w = np.full(hi - lo, conn["proj_weight"][j])
        if conn["proj_delay"][j] < 0:
            sh = int(conn["proj_delay_shift"][j])
            assert 0 <= lo + sh and hi + sh <= conn["syn_delay"].size
            d = conn["syn_delay"][lo + sh:hi + sh]
        else:
            d = np.full(hi - lo, conn["proj_delay"][j])
        got.update(zip(src.tolist(), tg.tolist(), w.tolist(), d.tolist()))
        for s, t, ww, dd in synapse_list(pd):
            want[(int(pop_start[pre]) + s, int(pop_start[post]) + t, ww, dd)] += 1
    assert end == conn["syn_target"].size and got == want
    ptr = conn["pop_proj_ptr"]
    assert ptr.shape == (P + 1,) and ptr[0] == 0 and ptr[-1] == J
    for p in range(P):
        js = conn["pop_proj"][ptr[p]:ptr[p + 1]]
        assert np.all(np.diff(js) > 0) and np.all(conn["proj_pre_pop"][js] == p)


def _rule_strategy(draw, n_pre, n_post, same, multapses, autapses):
    excl = int(same and not autapses)
    name = draw(st.sampled_from(C.RULES + ("fixed_probability",)))
    if name == "one_to_one" and n_pre != n_post:
        name = "all_to_all"
    if name == "fixed_indegree":
        top = 4 if multapses else n_pre - excl
        return name, {"indegree": draw(st.integers(0, max(top, 0))) if n_pre - excl > 0 else 0}
    if name == "fixed_outdegree":
        top = 4 if multapses else n_post - excl
        return name, {"outdegree": draw(st.integers(0, max(top, 0))) if n_post - excl > 0 else 0}
    if name == "fixed_total_number":
        pairs = n_pre * (n_post - excl)
        return name, {"N": draw(st.integers(0, 30 if multapses else pairs)) if pairs else 0}
    if name in ("pairwise_bernoulli", "fixed_probability"):
        return name, {"p": draw(st.floats(0.0, 1.0))}
    if name == "explicit":
        m = draw(st.integers(0, 12)) if n_pre and n_post else 0
        src = draw(st.lists(st.integers(0, max(n_pre - 1, 0)), min_size=m, max_size=m))
        tgt = draw(st.lists(st.integers(0, max(n_post - 1, 0)), min_size=m, max_size=m))
        keep = [k for k in range(m) if not (excl and src[k] == tgt[k])]
        if not multapses:
            keep = list({(src[k], tgt[k]): k for k in keep}.values())
        return name, {"sources": [src[k] for k in keep], "targets": [tgt[k] for k in keep]}
    return name, {}


def _spec_strategy(draw, kind, m):
    options = ["scalar", "uniform", "normal"] + (["array", "equal_array"] if m is not None else [])
    choice = draw(st.sampled_from(options))
    lo = 0.001 if kind == "delay" else -5.0
    if choice == "scalar":
        return draw(st.floats(lo, 5.0))
    if choice == "uniform":
        a = draw(st.floats(lo, 4.0))
        return D.Uniform(a, a + draw(st.floats(0.001, 1.0)))
    if choice == "normal":  # delays: below 1e-6 ms is redrawn, so keep the mean positive
        mean = draw(st.floats(-1.0 if kind == "weight" else 0.5, 3.0))
        return D.Normal(mean, draw(st.floats(0.0, 1.0)), min=lo if kind == "weight" else -math.inf)
    if choice == "equal_array":
        return np.full(m, draw(st.floats(lo, 5.0)))
    return np.array(draw(st.lists(st.floats(lo, 5.0), min_size=m, max_size=m)))


@st.composite
def networks(draw):
    sizes = draw(st.lists(st.integers(0, 9), min_size=1, max_size=3))
    pop_start = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    projections = []
    for j in range(draw(st.integers(0, 5))):
        pre, post = draw(st.integers(0, len(sizes) - 1)), draw(st.integers(0, len(sizes) - 1))
        same = pre == post
        autapses, multapses = draw(st.booleans()), draw(st.booleans())
        name, params = _rule_strategy(draw, sizes[pre], sizes[post], same, multapses, autapses)
        m = len(params["sources"]) if name == "explicit" else None
        projections.append(dict(pre=pre, post=post, name=name, params=params, same=same, autapses=autapses,
                                multapses=multapses, weight=_spec_strategy(draw, "weight", m),
                                delay=_spec_strategy(draw, "delay", m), seed=j))
    return sizes, pop_start, projections


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_assemble_keeps_synapses_and_layout(net):
    sizes, pop_start, projections = net
    built = []
    for pr in projections:
        pd = build(pr["name"], sizes[pr["pre"]], sizes[pr["post"]], same=pr["same"], weight=pr["weight"],
                   delay=pr["delay"], autapses=pr["autapses"], multapses=pr["multapses"], seed=pr["seed"],
                   **pr["params"])
        if not pr["autapses"] and pr["same"]:
            assert all(s != t for s, t in pair_counts(pd))
        if not pr["multapses"]:
            assert not pd.n_synapses or max(pair_counts(pd).values()) == 1
        built.append((pr["pre"], pr["post"], pd))
    check_assembled(C.assemble(built, pop_start), built, pop_start)


def test_assemble_empty_and_shifts():
    pop_start = np.array([0, 3, 5], np.int64)
    a = build("all_to_all", 3, 2, weight=D.Uniform(0.0, 1.0))
    b = build("one_to_one", 2, 2, delay=D.Uniform(1.0, 2.0))
    c = build("all_to_all", 3, 3, same=True, weight=D.Uniform(2.0, 3.0), delay=D.Uniform(1.0, 2.0))
    built = [(0, 1, a), (1, 1, b), (0, 0, c)]
    conn = C.assemble(built, pop_start)
    check_assembled(conn, built, pop_start)
    assert conn["pop_proj"].tolist() == [0, 2, 1] and conn["pop_proj_ptr"].tolist() == [0, 2, 3]
    assert conn["proj_weight_shift"].tolist() == [0, 0, -2]  # syn_weight holds a then c
    assert conn["proj_delay_shift"].tolist() == [0, -6, -6]
    empty = C.assemble([], pop_start)
    check_assembled(empty, [], pop_start)
    assert empty["rowptr"].size == 0 and empty["pop_proj_ptr"].tolist() == [0, 0, 0]


@pytest.mark.parametrize("span", [3, 300, 70_000, 2**31 - 2])  # one to four radix passes
def test_sort_rows_by_delay_is_stable(span):
    """Rows sorted by target come out sorted by (delay, target), equal keys in their former order
    (the weights tell), for short rows (insertion sort) and long ones (radix sort)."""
    rng = np.random.default_rng(span)
    lengths = rng.integers(0, 80, 200)
    rp = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    tg = np.concatenate([np.sort(rng.integers(0, 20, k)) for k in lengths]).astype(np.int32)
    d = (1 + rng.integers(0, span + 1, rp[-1])).astype(np.int32)
    d[::7] = d[0]  # many equal delays
    w = np.arange(rp[-1], dtype=np.float64)
    expected = [sorted(zip(d[a:b].tolist(), tg[a:b].tolist(), w[a:b].tolist())) for a, b in zip(rp[:-1], rp[1:])]
    csr.sort_rows_by_delay(rp, d, tg, w)
    got = [list(zip(d[a:b].tolist(), tg[a:b].tolist(), w[a:b].tolist())) for a, b in zip(rp[:-1], rp[1:])]
    assert got == expected  # w ascends with the former position: sorted() on (d, t, w) is the stable order
