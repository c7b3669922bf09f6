"""Hostile SONATA spike files (eventsim/sonata.py): odd but readable contents, and bad ones that must
fail as one ValidationError line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

import eventsim  # noqa: E402
from eventsim import sonata  # noqa: E402


def write(path, ids, times, units=None):
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes/a")
        g.create_dataset("node_ids", data=np.asarray(ids, dtype=np.uint64))
        d = g.create_dataset("timestamps", data=np.asarray(times, dtype=np.float64))
        if units is not None:
            d.attrs["units"] = units
    return path


def test_seconds_that_overflow_in_ms_are_refused(tmp_path):
    """1e307 s is finite but 1e310 ms is not: it was returned as inf (with a RuntimeWarning)."""
    path = write(tmp_path / "s.h5", [0, 1], [1.0, 1e307], units="s")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(eventsim.ValidationError, match=r"timestamps\[1\]: expected a time below .* s"):
            sonata.read_spikes(path)


def test_empty_and_duplicated_populations_read(tmp_path):
    """An empty population and repeated (node, time) pairs are legal SONATA and read as given."""
    s = sonata.read_spikes(write(tmp_path / "e.h5", [], []))
    assert s.node_ids.size == 0 and s.times.size == 0
    s = sonata.read_spikes(write(tmp_path / "d.h5", [0, 0, 0], [1.0, 1.0, 1.0]))
    assert s.node_ids.tolist() == [0, 0, 0] and s.times.tolist() == [1.0, 1.0, 1.0]
