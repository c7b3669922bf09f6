"""Shared fixtures: both engines, seeded generators."""

import numpy as np
import pytest

import eventsim


@pytest.fixture(params=["numba", "reference"])
def engine(request):
    """Each test using this runs once per engine."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


def lif_net(engine, n=1, seed=0, **params):
    """A network with one population ``n`` of LIF neurons (NEST defaults unless given)."""
    net = eventsim.Network(seed=seed, engine=engine)
    pop = net.add_population("p", n, **params)
    return net, pop
