"""Value specifications: a number, an array or a distribution, and drawing values from them.

Weights (mV), delays (ms) and per-neuron parameters are each given as a number, a 1-D array or a
distribution, :class:`Uniform` or :class:`Normal` (also written as a dict with a ``"distribution"``
key). :func:`value_spec` validates and normalises such a spec; :func:`fill` draws from a
distribution into an array, and :func:`draw` turns any spec into ``n`` values (per-neuron
parameters). :mod:`eventsim.connectivity` draws per-synapse values with :func:`fill` in chunks,
and splits synapse counts over blocks of targets with :func:`split_count` (binomial or
hypergeometric splits).

Randomness comes only from the ``numpy.random.Generator`` passed in. ``Uniform`` draws
``min + (max - min) * U`` and ``Normal`` ``mean + std * Z`` (the same values as
``Generator.uniform`` / ``Generator.normal``), then redraws values outside ``[min, max]`` in index
order, up to 1000 rounds.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from eventsim.errors import ValidationError

__all__ = ["Uniform", "Normal", "DISTRIBUTIONS", "value_spec", "check_distribution", "fill", "draw",
           "is_real", "describe", "hypergeometric", "split_count"]

DISTRIBUTIONS = {"uniform": (("min", "max"), ()), "normal": (("mean", "std"), ("min", "max"))}
"""Distribution name -> (required keys, optional keys) of its dict form."""

_REDRAWS = 1000  # rounds of redrawing truncated-normal values before giving up
_Z_MAX = 40.0  # no float64 standard normal draw comes near this (P(|Z| > 40) ~ 1e-350)


@dataclass(frozen=True)
class Uniform:
    """Values drawn uniformly on ``[min, max)`` (in the unit of the quantity: mV, ms, ...)."""

    min: float
    max: float


@dataclass(frozen=True)
class Normal:
    """Normal values with ``mean`` and ``std``, truncated to ``[min, max]`` by redrawing."""

    mean: float
    std: float
    min: float = -math.inf
    max: float = math.inf


def is_real(x) -> bool:
    """Whether ``x`` is a real number (numpy scalars included, booleans excluded)."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def describe(x) -> str:
    """``x``'s type and a repr shortened to 60 characters, for error messages."""
    text = " ".join(repr(x).split())  # one line, whatever the repr (numpy arrays span several)
    return f"{type(x).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def check_distribution(spec, where: str) -> None:
    """Raise ValidationError unless the distribution's parameters are usable."""
    fields = ("min", "max") if isinstance(spec, Uniform) else ("mean", "std", "min", "max")
    for f in fields:
        if not is_real(getattr(spec, f)) or math.isnan(getattr(spec, f)):
            raise ValidationError(where, f"{f} must be a number, got {describe(getattr(spec, f))}")
    # draws compute min + (max - min) U and mean + std Z (|Z| < 40 in float64): neither may overflow
    if isinstance(spec, Uniform):
        if not (math.isfinite(spec.max - spec.min) and spec.min < spec.max):
            raise ValidationError(where, f"uniform needs finite min < max with a finite max - min, got min={spec.min}, "
                                         f"max={spec.max}")
    elif not (math.isfinite(abs(spec.mean) + _Z_MAX * spec.std) and spec.std >= 0):
        raise ValidationError(where, f"normal needs a finite mean and a std >= 0 with |mean| + {_Z_MAX:g} std finite, "
                                     f"got mean={spec.mean}, std={spec.std}")
    elif not spec.min <= spec.max:
        raise ValidationError(where, f"normal needs min <= max, got min={spec.min}, max={spec.max}")


def _spec_from_dict(d: dict, where: str):
    if "distribution" not in d:
        raise ValidationError(where, f"a dict value needs the key 'distribution' ('uniform' or 'normal'), got keys "
                                     f"{', '.join(map(repr, d)) or 'none'}")
    kind = d.get("distribution")
    if kind not in DISTRIBUTIONS:
        raise ValidationError(where, f"distribution must be 'uniform' or 'normal', got {kind!r}")
    required, optional = DISTRIBUTIONS[kind]
    given = set(d) - {"distribution"}
    for k in sorted(given - set(required) - set(optional)):
        raise ValidationError(where, f"{kind} takes {', '.join(required + optional)}, got unknown key {k!r}")
    for k in required:
        if k not in d:
            raise ValidationError(where, f"{kind} needs key {k!r} ({', '.join(required)})")
    for k in given:
        if not is_real(d[k]):
            raise ValidationError(where, f"{k} must be a number, got {describe(d[k])}")
    values = {k: float(d[k]) for k in given}
    spec = Uniform(**values) if kind == "uniform" else Normal(**values)
    check_distribution(spec, where)
    return spec


def value_spec(x, where: str):
    """Normalise a weight, delay or parameter spec.

    Parameters
    ----------
    x : float, int, Uniform, Normal, dict or 1-D array_like of numbers
        A dict is ``{"distribution": "uniform", "min": a, "max": b}`` or ``{"distribution":
        "normal", "mean": m, "std": s}`` with optional ``"min"``/``"max"`` truncation bounds.
    where : str
        Name of the parameter, for error messages.

    Returns
    -------
    float, Uniform, Normal or numpy.ndarray of float64 (a copy)

    Raises
    ------
    ValidationError
        For anything else, or a distribution with unusable parameters.
    """
    if isinstance(x, (Uniform, Normal)):
        check_distribution(x, where)
        return x
    if is_real(x):
        return float(x)
    if isinstance(x, dict):
        return _spec_from_dict(x, where)
    allowed = ("expected a number, a 1-D array of numbers, Uniform/Normal or a dict with 'distribution' "
               f"('uniform' or 'normal'), got {describe(x)}")
    if isinstance(x, (str, bytes)) or x is None:
        raise ValidationError(where, allowed)
    try:
        a = np.asarray(x)
    except (ValueError, TypeError):
        raise ValidationError(where, allowed) from None
    if a.size == 0 and a.ndim == 1:
        return np.zeros(0)
    if a.dtype.kind not in "iuf" or a.ndim > 1:
        raise ValidationError(where, allowed)
    return float(a) if a.ndim == 0 else a.astype(np.float64)


def fill(rng: np.random.Generator, spec, x: np.ndarray, lo: float, hi: float, where: str) -> None:
    """Fill float64 ``x`` in place with draws from ``spec``; a Normal is truncated to ``[lo, hi]``.

    Raises
    ------
    ValidationError
        When a Normal's values still fall outside ``[lo, hi]`` after 1000 rounds of redrawing.
    """
    if isinstance(spec, Uniform):
        rng.random(out=x)
        x *= spec.max - spec.min
        x += spec.min
        return
    rng.standard_normal(out=x)
    x *= spec.std
    x += spec.mean
    bad = np.flatnonzero((x < lo) | (x > hi))
    for _ in range(_REDRAWS):
        if bad.size == 0:
            return
        x[bad] = rng.normal(spec.mean, spec.std, bad.size)
        bad = bad[(x[bad] < lo) | (x[bad] > hi)]
    raise ValidationError(where, f"normal(mean={spec.mean}, std={spec.std}) almost never falls in [{lo}, {hi}]")


def draw(spec, n: int, rng: np.random.Generator, where: str) -> np.ndarray:
    """``n`` float64 values from a spec (e.g. one per neuron).

    Parameters
    ----------
    spec : anything :func:`value_spec` accepts
        A number is repeated, an array must have ``n`` values (copied), a distribution is drawn
        from ``rng`` (a Normal truncated to its ``[min, max]``).
    n : int
    rng : numpy.random.Generator
        Used only for distributions.
    where : str
        Name of the quantity, for error messages.

    Raises
    ------
    ValidationError
        A bad spec, an array of the wrong length, or a truncated Normal that cannot be drawn.
    """
    spec = value_spec(spec, where)
    if isinstance(spec, float):
        return np.full(n, spec)
    if isinstance(spec, np.ndarray):
        if spec.shape != (n,):
            raise ValidationError(where, f"expected a scalar, a distribution or {n} values, got {spec.size} values")
        return spec
    out = np.empty(n, np.float64)
    fill(rng, spec, out, spec.min, spec.max, where)
    return out


# ------------------------------------------------------------------------------------ counts
_HYPERGEOM_MAX = 10**9  # numpy's hypergeometric refuses populations of this size or more


def hypergeometric(rng: np.random.Generator, good: np.ndarray, bad: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Hypergeometric variates: of ``n[i]`` items drawn without replacement from ``good[i]`` good
    and ``bad[i]`` bad ones, how many are good (int64 arrays, elementwise).

    numpy's sampler where both populations are below 10**9 (drawn first, in index order), an
    exact sequential sampler (:func:`eventsim.engine.csr.hypergeometric_draws`, O(min(n, good +
    bad - n)) per variate) for the others.
    """
    from eventsim.engine.csr import hypergeometric_draws

    good, bad, n = (np.asarray(x, np.int64) for x in (good, bad, n))
    out = np.zeros(n.size, np.int64)
    small = (good < _HYPERGEOM_MAX) & (bad < _HYPERGEOM_MAX)
    if small.any():
        out[small] = rng.hypergeometric(good[small], bad[small], n[small])
    if not small.all():
        out[~small] = hypergeometric_draws(rng, good[~small], bad[~small], n[~small])
    return out


def split_count(rng: np.random.Generator, n: int, sizes: np.ndarray, distinct: bool) -> np.ndarray:
    """How ``n`` items fall into parts of ``sizes`` items each (int64 array of one count per part).

    Without ``distinct``, each item falls into a part with probability proportional to its size,
    independently (multinomial). With ``distinct``, the ``n`` items are a uniform random subset of
    the ``sum(sizes)`` (multivariate hypergeometric; needs ``n <= sum(sizes)``), drawn by halving
    the parts recursively, each split one hypergeometric variate, level by level.

    Complexity: O(len(sizes)) (plus :func:`hypergeometric`'s cost for populations >= 10**9).
    """
    sizes = np.asarray(sizes, np.int64)
    if not distinct:
        total = int(sizes.sum())
        return rng.multinomial(n, sizes / total) if total else np.zeros(sizes.size, np.int64)
    out = np.zeros(sizes.size, np.int64)
    csum = np.concatenate(([0], np.cumsum(sizes)))
    first, end, count = np.array([0]), np.array([sizes.size]), np.array([n], np.int64)
    while first.size:
        keep = count > 0
        first, end, count = first[keep], end[keep], count[keep]
        leaf = end - first == 1
        out[first[leaf]] = count[leaf]
        first, end, count = first[~leaf], end[~leaf], count[~leaf]
        mid = (first + end) // 2
        left = hypergeometric(rng, csum[mid] - csum[first], csum[end] - csum[mid], count)
        first, end = np.concatenate((first, mid)), np.concatenate((mid, end))
        count = np.concatenate((left, count - left))
    return out
