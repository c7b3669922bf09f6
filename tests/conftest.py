"""Shared fixtures: both engines, seeded generators."""

import numpy as np
import pytest

import eventsim


@pytest.fixture(params=["numba", "reference"])
def engine(request):
    """Each test using this runs once per engine."""
    return request.param


@pytest.fixture(autouse=True)
def _delivery_mode_by_fixed_sizes(monkeypatch):
    """Every test's windows go directly or through buckets by the fixed sizes of numba_engine
    (``DIRECT_MAX_NEURONS``, ``DIRECT_MAX_ENTRIES``, as the tests set them), not by this machine's
    level-2 cache (``DIRECT_L2_MULTIPLE``): each test covers the same delivery path on every machine.
    tests/test_direct_paths.py tests the cache's rule itself."""
    from eventsim.engine import numba_engine

    monkeypatch.setattr(numba_engine, "DIRECT_L2_MULTIPLE", 0)


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


def lif_net(engine, n=1, seed=0, **params):
    """A network with one population ``n`` of LIF neurons (NEST defaults unless given)."""
    net = eventsim.Network(seed=seed, engine=engine)
    pop = net.add_population("p", n, **params)
    return net, pop
