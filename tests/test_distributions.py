"""Value specs: dict forms and distributions whose draws would overflow float64."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from eventsim.distributions import Normal, Uniform, draw, value_spec
from eventsim.errors import ValidationError


def test_missing_distribution_key_names_it():
    """It said "distribution must be 'uniform' or 'normal', got None" (issue 8, item 13)."""
    with pytest.raises(ValidationError, match=r"V_init: a dict value needs the key 'distribution' \('uniform' or "
                                              r"'normal'\), got keys 'min', 'max'"):
        value_spec({"min": 0.0, "max": 1.0}, "V_init")


@pytest.mark.parametrize("spec, words", [
    (Normal(0.0, 1e308), "|mean| + 40 std finite"),
    (Normal(1.7e308, 1e307), "|mean| + 40 std finite"),
    ({"distribution": "uniform", "min": -1e308, "max": 1e308}, "finite max - min"),
])
def test_draws_that_would_overflow_are_refused(spec, words):
    """std = 1e308 gave RuntimeWarnings and infinite weights."""
    with pytest.raises(ValidationError, match=words):
        value_spec(spec, "weight")


def test_wide_but_safe_distributions_draw_finite_values():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for spec in (Normal(0.0, 1e300), Uniform(-1e307, 1e307)):
            x = draw(spec, 10_000, np.random.default_rng(1), "w")
            assert np.all(np.isfinite(x))
