"""Unusual PyNN scripts on ``eventsim.pynn``: what PyNN's common code cannot do (empty populations and
views) fails as one clear PyNN error, and the script can go on. Skipped without PyNN."""

import numpy as np
import pytest

pytest.importorskip("pyNN")
pytest.importorskip("neo")

import eventsim.pynn as sim  # noqa: E402
from pyNN.errors import InvalidDimensionsError  # noqa: E402


@pytest.fixture
def setup():
    sim.setup(rng_seed=5, engine="reference")
    yield sim
    sim.end()


def test_zero_size_population_is_one_clear_error(setup):
    """Population(0) raised IndexError from PyNN's common code (its first cell's id)."""
    with pytest.raises(InvalidDimensionsError, match=r"Population 'e': size must be at least 1 .* got 0"):
        sim.Population(0, sim.IF_curr_delta(), label="e")
    cells = sim.Population(2, sim.IF_curr_delta(i_offset=2.0))  # the script goes on
    cells.record("spikes")
    sim.run(15.0)  # first spike at 20 ln(1.6) = 9.4 ms, the second at 20.8 ms
    assert [len(st) for st in cells.get_data().segments[0].spiketrains] == [1, 1]


@pytest.mark.parametrize("selector", [[], np.array([], dtype=int), slice(3, 3), np.zeros(5, dtype=bool)])
def test_empty_view_is_one_clear_error(setup, selector):
    """p[[]] raised "arrays used as indices must be of integer type", p[3:3] a ValueError from np.min."""
    cells = sim.Population(5, sim.IF_curr_delta(), label="cells")
    with pytest.raises(InvalidDimensionsError, match="selects no cell"):
        cells[selector]
    assert cells[[1, 3]].size == 2 and cells[1:3].size == 2
