"""Connectivity drawn by blocks of targets: any partition of the targets gives the same projection.

Streams are keyed by (seed, projection, block of targets) (``eventsim.rng.ConnectionStreams``), so
a process can build only the synapses onto its neurons. These tests build projections whole and in
parts (``build_projection(..., target_range=...)``), with small blocks so that parts and blocks cut
each other in every way, and check that the parts joined are the whole bit for bit; that the
statistics of each rule hold across blocks; and that networks are deterministic per seed.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_connectivity import _rule_strategy, _spec_strategy, build, pair_counts

from eventsim import Network
from eventsim import connectivity as C
from eventsim.errors import ValidationError
from eventsim.rng import ConnectionStreams


def assert_same(a: C.ProjectionData, b: C.ProjectionData) -> None:
    """Bit-identical projections: row pointers, targets, and weights and delays of the same kind."""
    assert np.array_equal(a.rowptr, b.rowptr) and np.array_equal(a.targets, b.targets)
    for f in ("weight", "delay"):
        x, y = getattr(a, f), getattr(b, f)
        assert type(x) is type(y), f
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x.view(np.uint8), y.view(np.uint8)), f
        else:
            assert x == y, f


@st.composite
def projections(draw):
    same = draw(st.booleans())
    n_pre = draw(st.integers(0, 24))
    n_post = n_pre if same else draw(st.integers(0, 24))
    autapses, multapses = draw(st.booleans()), draw(st.booleans())
    name, params = _rule_strategy(draw, n_pre, n_post, same, multapses, autapses)
    m = len(params["sources"]) if name == "explicit" else None
    cuts = sorted(draw(st.lists(st.integers(0, n_post), max_size=4)))
    return dict(rule=name, n_pre=n_pre, n_post=n_post, same=same, autapses=autapses, multapses=multapses,
                weight=_spec_strategy(draw, "weight", m), delay=_spec_strategy(draw, "delay", m),
                block=draw(st.sampled_from([1, 2, 3, 5, 8, C.TARGET_BLOCK])), seed=draw(st.integers(0, 2**32)),
                bounds=[0] + cuts + [n_post], params=params)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(projections())
def test_parts_joined_are_the_whole(pr):
    """Any partition of the targets into ranges, built part by part and joined, is the whole build."""
    kw = dict(same=pr["same"], weight=pr["weight"], delay=pr["delay"], autapses=pr["autapses"],
              multapses=pr["multapses"], seed=pr["seed"], block=pr["block"], **pr["params"])
    whole = build(pr["rule"], pr["n_pre"], pr["n_post"], **kw)
    b = pr["bounds"]
    parts = [build(pr["rule"], pr["n_pre"], pr["n_post"], target_range=(lo, hi), **kw) for lo, hi in zip(b[:-1], b[1:])]
    assert sum(p.n_synapses for p in parts) == whole.n_synapses
    assert_same(C.join_parts(parts), whole)


@pytest.mark.parametrize("rule, params", [("fixed_indegree", {"indegree": 30}), ("pairwise_bernoulli", {"p": 0.1}),
                                          ("fixed_outdegree", {"outdegree": 40}), ("fixed_total_number", {"N": 9000}),
                                          ("all_to_all", {})])
@pytest.mark.parametrize("multapses", [True, False])
def test_parts_of_the_default_block_size(rule, params, multapses):
    """With the real block size: 3000 targets in parts that cut blocks, per-synapse values."""
    kw = dict(same=True, autapses=False, multapses=multapses,
              weight={"distribution": "normal", "mean": 0.0, "std": 1.0},
              delay={"distribution": "uniform", "min": 1.0, "max": 1.01}, seed=7, **params)
    whole = build(rule, 3000, 3000, **kw)
    bounds = [0, 1, 1000, 1024, 2500, 3000]
    parts = [build(rule, 3000, 3000, target_range=(a, b), **kw) for a, b in zip(bounds[:-1], bounds[1:])]
    assert_same(C.join_parts(parts), whole)
    assert whole.n_synapses > 0 and all(s != t for s, t in pair_counts(whole))


@pytest.mark.parametrize("rule, params", [("fixed_indegree", {"indegree": 40}), ("pairwise_bernoulli", {"p": 0.2}),
                                          ("fixed_outdegree", {"outdegree": 40}), ("fixed_total_number", {"N": 20000}),
                                          ("all_to_all", {})])
@pytest.mark.parametrize("multapses", [True, False])
def test_threads_give_the_same_projection(rule, params, multapses):
    """Blocks drawn on 1, 2 or 3 threads (each its own work array of distinct draws): the same bits."""
    kw = dict(same=True, autapses=False, multapses=multapses,
              weight={"distribution": "uniform", "min": 0.0, "max": 1.0}, seed=11, block=37, target_range=(5, 990), **params)
    one = build(rule, 1000, 1000, **kw)
    assert one.n_synapses > 0
    for threads in (2, 3):
        assert_same(build(rule, 1000, 1000, threads=threads, **kw), one)


def test_target_range_errors():
    with pytest.raises(ValidationError, match=r"proj: target_range must satisfy 0 <= lo <= hi <= 5, got \[3, 6\)"):
        build("all_to_all", 5, 5, target_range=(3, 6))
    with pytest.raises(ValidationError, match=r"indegree 6 is impossible"):  # the whole rule is checked, not the part
        build("fixed_indegree", 5, 5, multapses=False, indegree=6, target_range=(0, 0))
    assert build("fixed_indegree", 5, 5, indegree=2, target_range=(2, 2)).n_synapses == 0


# ------------------------------------------------------------------------------------ statistics across blocks
def assert_pairs_uniform(counts: Counter, pairs: set, reps: int, per_rep: float, var_per_rep: float) -> None:
    """Each pair's count over ``reps`` builds has mean ``reps * per_rep``: a chi-square-like sum of
    squared standardised deviations over all pairs stays within 6 standard deviations of its mean."""
    assert set(counts) == pairs
    z2 = sum((counts[p] - reps * per_rep) ** 2 / (reps * var_per_rep) for p in pairs)
    assert z2 < len(pairs) + 6 * math.sqrt(2 * len(pairs)), (z2, len(pairs))


@pytest.mark.parametrize("multapses", [True, False])
@pytest.mark.parametrize("block", [1, 3, C.TARGET_BLOCK])
def test_fixed_outdegree_pairs_equally_likely(multapses, block):
    """The tree split of each source's outdegree over blocks leaves every pair equally likely."""
    n, k, reps = 10, 3, 600
    counts = Counter()
    for seed in range(reps):
        pd = build("fixed_outdegree", n, n, same=True, autapses=False, multapses=multapses, outdegree=k, seed=seed,
                   block=block)
        assert np.all(np.diff(pd.rowptr) == k)
        counts.update(pair_counts(pd))
    q = 1 / (n - 1)
    p, var = (k * q, k * q * (1 - q)) if multapses else (k * q, k * q * (1 - k * q))
    assert_pairs_uniform(counts, {(i, j) for i in range(n) for j in range(n) if i != j}, reps, p, var)


@pytest.mark.parametrize("multapses", [True, False])
def test_fixed_total_number_pairs_equally_likely_across_blocks(multapses):
    n, N, reps = 4, 5, 1500
    counts = Counter()
    for seed in range(reps):
        pd = build("fixed_total_number", n, n, same=True, autapses=False, multapses=multapses, N=N, seed=seed, block=1)
        assert pd.n_synapses == N
        counts.update(pair_counts(pd))
    p = N / 12
    var = N * (1 / 12) * (11 / 12) if multapses else p * (1 - p)
    assert_pairs_uniform(counts, {(i, j) for i in range(n) for j in range(n) if i != j}, reps, p, var)


def test_fixed_total_number_block_split_follows_pairs():
    """Blocks get synapses in proportion to their pairs: the last, short block too."""
    n_post, block, N, reps = 10, 4, 200, 400  # blocks of 4, 4 and 2 targets
    per_block = np.zeros(3)
    for seed in range(reps):
        pd = build("fixed_total_number", 7, n_post, N=N, seed=seed, block=block)
        per_block += np.bincount(pd.targets // block, minlength=3)
    assert np.allclose(per_block / (reps * N), [0.4, 0.4, 0.2], atol=0.01)


# ------------------------------------------------------------------------------------ determinism
def _network(seed: int, extra: bool = False) -> Network:
    net = Network(seed=seed)
    a = net.add_population("a", 2500, V_init=0.0)
    b = net.add_population("b", 1300, V_init=0.0)
    net.connect(a, b, "fixed_indegree", indegree=20, weight={"distribution": "uniform", "min": 0.0, "max": 1.0})
    net.connect(a, b, "fixed_indegree", indegree=20, weight={"distribution": "uniform", "min": 0.0, "max": 1.0})
    net.connect(b, a, "fixed_outdegree", outdegree=30, delay={"distribution": "uniform", "min": 1.0, "max": 2.0})
    if extra:
        net.connect(a, a, "pairwise_bernoulli", p=0.01)
    return net


def _projection(prepared, j: int):
    """Projection ``j``'s (sources, targets, weights, delays) as global arrays."""
    n_pre = prepared.pop_start[prepared.proj_pre_pop[j] + 1] - prepared.pop_start[prepared.proj_pre_pop[j]]
    start = prepared.proj_rowptr_start[j]
    rp = prepared.rowptr[start:start + n_pre + 1]
    lo, hi = rp[0], rp[-1]
    w = prepared.syn_weight[lo + prepared.proj_weight_shift[j]:hi + prepared.proj_weight_shift[j]] \
        if np.isnan(prepared.proj_weight[j]) else prepared.proj_weight[j]
    return np.diff(rp), prepared.syn_target[lo:hi], w


def test_same_seed_same_network_and_projections_independent():
    a, b = _network(3).prepare(), _network(3).prepare()
    for f in ("rowptr", "syn_target", "syn_weight", "syn_delay"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
    p0, p1 = _projection(a, 0), _projection(a, 1)  # same populations and rule, own streams
    assert not np.array_equal(p0[1], p1[1]) and not np.array_equal(p0[2], p1[2])
    c = _network(4).prepare()
    assert not np.array_equal(_projection(c, 0)[1], p0[1])
    d = _network(3, extra=True).prepare()  # another projection changes nothing of these
    for j in range(3):
        for x, y in zip(_projection(d, j), _projection(a, j)):
            assert np.array_equal(x, y)


def test_network_is_the_same_built_in_parts():
    """What a process owning global neurons [lo, hi) builds of each projection (its targets' part)
    joins into the network that Network.prepare builds, for K = 2 and 3 equal parts."""
    net = _network(5)
    whole = net.prepare()
    for K in (2, 3):
        bounds = np.linspace(0, net.n_neurons, K + 1).astype(int)
        for j, pr in enumerate(net.projections):
            pre, post = net.populations[pr["pre"]], net.populations[pr["post"]]
            parts = []
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                local = (min(max(lo - post.start, 0), post.size), min(max(hi - post.start, 0), post.size))
                parts.append(C.build_projection(pr["rule"], pre.size, post.size, pre is post, pr["weight"], pr["delay"],
                                                streams=ConnectionStreams(net.seed, j), target_range=local))
            joined = C.join_parts(parts)
            counts, targets, _ = _projection(whole, j)
            assert np.array_equal(np.diff(joined.rowptr), counts)
            assert np.array_equal(joined.targets + post.start, targets)
