"""Random streams: the compiled and the pure-Python SplitMix64 agree bit for bit."""

import numpy as np

from eventsim import rng
from eventsim.engine import kernels as K


def test_compiled_and_python_streams_agree_bitwise():
    # 3 x 4000 draws: ~130 take the wedge test and a few the tail, so every branch is compared
    keys = rng.stream_keys(123, rng.PURPOSE_POISSON, 4, np.arange(3))
    streams = np.zeros(keys.size, K.STREAM)
    streams["state"] = keys
    for m, key in enumerate(keys):
        state = int(key)
        for _ in range(4000):
            state, gap = rng.exponential_gap(state, 0.7)
            assert K.exponential_gap(streams[m], 0.7) == gap  # bit identity is the claim
            assert int(streams[m]["state"]) == state


def test_ziggurat_tables_tile_the_density():
    x, f = rng.ZIG_X, rng.ZIG_F
    assert x[1] == rng.ZIG_R and x[256] == 0.0 and np.all(np.diff(x) < 0)
    assert np.allclose(f, np.exp(-x), rtol=1e-15, atol=0)
    # every layer has the same area V: rectangles x[i] (f[i+1] - f[i]); the base strip plus tail
    # x[1] f[1] + exp(-R) = V as well
    areas = x[1:256] * (f[2:] - f[1:256])
    assert np.allclose(areas, rng.ZIG_V, rtol=1e-9)
    assert abs(x[1] * f[1] + np.exp(-x[1]) - rng.ZIG_V) < 1e-15
    assert abs(f[256] - 1.0) < 1e-15


def test_standard_exponential_has_the_exponential_distribution():
    state = int(rng.stream_keys(4, 1, 0, np.array([7]))[0])
    xs = np.empty(100_000)
    for k in range(xs.size):
        state, xs[k] = rng.standard_exponential(state)
    xs.sort()
    # Kolmogorov-Smirnov distance to 1 - exp(-x); the 0.1 % critical value is 1.95 / sqrt(n)
    cdf = 1.0 - np.exp(-xs)
    n = xs.size
    d = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert d < 1.95 / np.sqrt(n)
    # the tail beyond R (probability exp(-R) = 4.5e-4) is drawn too: 45 expected, 5 sigma
    tail = np.count_nonzero(xs > rng.ZIG_R)
    assert abs(tail - n * np.exp(-rng.ZIG_R)) < 5 * np.sqrt(n * np.exp(-rng.ZIG_R))


def test_stream_keys_depend_on_seed_generator_and_target_only():
    a = rng.stream_keys(1, 1, 0, np.array([3, 4, 5]))
    b = rng.stream_keys(1, 1, 0, np.array([5, 3]))
    assert a[2] == b[0] and a[0] == b[1]
    assert len(set(rng.stream_keys(1, 1, 0, np.arange(1000)).tolist())) == 1000
    assert rng.stream_keys(2, 1, 0, np.array([3]))[0] != a[0]
    assert rng.stream_keys(1, 1, 1, np.array([3]))[0] != a[0]


def test_exponential_gaps_have_the_right_mean():
    state = int(rng.stream_keys(9, 1, 0, np.array([0]))[0])
    gaps = []
    for _ in range(20000):
        state, g = rng.exponential_gap(state, 2.0)
        gaps.append(g)
    gaps = np.array(gaps)
    # mean 0.5 ms, standard error 0.5/sqrt(20000) = 0.0035: 5 sigma
    assert abs(gaps.mean() - 0.5) < 5 * 0.5 / np.sqrt(gaps.size)
    assert np.all(gaps > 0)


def test_build_generators_are_independent_per_purpose():
    a = rng.build_generator(5, 3, 0).random(4)
    b = rng.build_generator(5, 3, 1).random(4)
    c = rng.build_generator(5, 3, 0).random(4)
    assert not np.array_equal(a, b)
    assert np.array_equal(a, c)


def test_connection_streams_are_keyed_and_independent():
    """Each kind of connectivity stream and each key gives its own numbers; the same key the same
    numbers (in any process: SeedSequence spawn keys, no state shared)."""
    s = rng.ConnectionStreams(7, 2)
    draws = {key: g.random(4) for key, g in [("c0", s.connections(0)), ("c1", s.connections(1)),
                                             ("v0", s.values(0)), ("n01", s.node(0, 1)), ("split", s.split()),
                                             ("other projection", rng.ConnectionStreams(7, 3).connections(0)),
                                             ("other seed", rng.ConnectionStreams(8, 2).connections(0)),
                                             ("old key", rng.build_generator(7, rng.PURPOSE_CONNECT, 2))]}
    values = [tuple(v) for v in draws.values()]
    assert len(set(values)) == len(values)
    assert np.array_equal(rng.ConnectionStreams(7, 2).connections(1).random(4), draws["c1"])
