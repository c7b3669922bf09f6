"""Weights and delays of one projection: checks against the engine's limits, per-synapse values.

A weight spec (mV) or delay spec (ms) from :func:`eventsim.distributions.value_spec` is a number
(stored once per projection), an array (one value per synapse of an ``explicit`` rule) or a
distribution (drawn per synapse). Delays become int64 ticks of 1 ns: a delay stored once may be up
to 2**62 ticks, a per-synapse delay is int32 (at most 2147.483647 ms); every delay is >= 1 tick.
Normal delays are truncated to that range by redrawing; weights are at most 1e100 mV in magnitude
(:data:`~eventsim.models.MAX_VALUE`; Normal weights truncated alike). Whether a projection stores
one value or one per synapse is decided on the whole spec (:func:`weight_value`,
:func:`delay_value`). Used by :func:`eventsim.connectivity.build_projection`, which fixes the
streams and the order of the draws.

Cost: O(n) for n synapses; drawn values come in chunks of 2**16 so that float64 temporaries stay
small (delays are drawn as float64 ms and stored as int32 ticks).
"""

from __future__ import annotations

import math

import numpy as np

from eventsim.distributions import Normal, Uniform, check_distribution, describe, fill
from eventsim.errors import ValidationError
from eventsim.models import MAX_VALUE, check_magnitude
from eventsim.timebase import TICK_MS, ms_to_ticks

__all__ = ["MAX_SYN_DELAY_TICKS", "MAX_DELAY_TICKS", "check_weight", "check_delay", "weight_value", "delay_value",
           "weights", "delays"]

MAX_SYN_DELAY_TICKS = 2**31 - 1  # per-synapse delays are int32 ticks (2147.483647 ms)
MAX_DELAY_TICKS = 2**62  # a single delay is int64 ticks; keep headroom for adding it to times
_CHUNK = 1 << 16  # values drawn per block: bounds float64 temporaries, keeps them in cache


def _check_array(a: np.ndarray, n_explicit, where: str) -> None:
    if n_explicit is None:
        raise ValidationError(where, f"an array of {a.size} values needs the 'explicit' rule; use a number "
                                     "or a distribution")
    if a.ndim != 1 or a.size != n_explicit:
        raise ValidationError(where, f"expected {n_explicit} values (one per synapse of 'explicit'), got {a.size}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ValidationError(where, f"values must be finite, entry {int(bad[0])} is {a[bad[0]]}")


def check_weight(spec, n_explicit, where: str) -> None:
    """Raise ValidationError unless ``spec`` is a finite weight, a usable distribution or, when
    ``n_explicit`` is not None, ``n_explicit`` finite values (one per synapse), all at most
    :data:`~eventsim.models.MAX_VALUE` mV in magnitude (a Normal is truncated to that range)."""
    if isinstance(spec, float):
        if not math.isfinite(spec):
            raise ValidationError(where, f"weight must be finite, got {spec}")
        check_magnitude(spec, where, "mV")
    elif isinstance(spec, (Uniform, Normal)):
        check_distribution(spec, where)
        check_magnitude([spec.min, spec.max] if isinstance(spec, Uniform) else spec.mean, where, "mV")
    elif isinstance(spec, np.ndarray):
        _check_array(spec, n_explicit, where)
        check_magnitude(spec, where, "mV")
    else:
        raise ValidationError(where, f"expected a float, Uniform, Normal or array (see distributions.value_spec), got {describe(spec)}")


def _ticks(ms):
    """``ms_to_ticks`` of values clipped to a range that cannot overflow (for range checks)."""
    return ms_to_ticks(np.clip(ms, -1.0, 1.5 * MAX_DELAY_TICKS * TICK_MS))


def _delay_bounds(spec, where: str) -> tuple[float, float]:
    """Truncation bounds (ms) of a delay distribution; every value in them rounds to 1..2**31-1 ticks."""
    top = MAX_SYN_DELAY_TICKS * TICK_MS
    if isinstance(spec, Uniform):
        if _ticks(spec.min) < 1:
            raise ValidationError(where, f"uniform min {spec.min} ms rounds to {int(_ticks(spec.min))} ticks; "
                                         "delays must be >= 1e-06 ms")
        if _ticks(spec.max) > MAX_SYN_DELAY_TICKS:
            raise ValidationError(where, f"uniform max {spec.max} ms exceeds {top} ms, the most a per-synapse "
                                         "delay can be")
        return spec.min, spec.max
    lo, hi = max(spec.min, TICK_MS), min(spec.max, top)
    if lo > hi:
        raise ValidationError(where, f"normal delays truncated to [{spec.min}, {spec.max}] ms leave nothing in "
                                     f"the allowed [{TICK_MS}, {top}] ms")
    return lo, hi


def check_delay(spec, n_explicit, where: str) -> None:
    """Raise ValidationError unless ``spec`` gives delays of at least 1 tick that fit their storage
    (see the module docstring); arrays as in :func:`check_weight`."""
    if isinstance(spec, float):
        limit = MAX_DELAY_TICKS * TICK_MS
        if not (math.isfinite(spec) and 1 <= _ticks(spec) <= MAX_DELAY_TICKS):
            raise ValidationError(where, f"delay must be finite, >= 1e-06 ms (1 tick) and <= {limit:.4g} ms, "
                                         f"got {spec}")
    elif isinstance(spec, (Uniform, Normal)):
        check_distribution(spec, where)
        _delay_bounds(spec, where)
    elif isinstance(spec, np.ndarray):
        _check_array(spec, n_explicit, where)
        _check_delay_array(spec, where)
    else:
        raise ValidationError(where, f"expected a float, Uniform, Normal or array (see distributions.value_spec), got {describe(spec)}")


def _check_delay_array(a: np.ndarray, where: str) -> None:
    """Per-synapse delays round to 1 .. 2**31-1 ticks (an all-equal array may be up to 2**62)."""
    ticks = _ticks(a)
    bad = np.flatnonzero(ticks < 1)
    if bad.size:
        raise ValidationError(where, f"entry {int(bad[0])} is {a[bad[0]]} ms; delays must be >= 1e-06 ms (1 tick)")
    uniform = a.size > 0 and np.all(ticks == ticks[0])
    limit = MAX_DELAY_TICKS if uniform else MAX_SYN_DELAY_TICKS
    bad = np.flatnonzero(ticks > limit)
    if bad.size:
        kind = "a delay" if uniform else "per-synapse delays"
        raise ValidationError(where, f"entry {int(bad[0])} is {a[bad[0]]} ms; {kind} must be <= "
                                     f"{limit * TICK_MS:.10g} ms")


def _draw(rng, spec, out: np.ndarray, lo: float, hi: float, where: str) -> None:
    """Fill ``out`` (float64 values, or int32 ticks from values in ms) with draws from ``spec``.

    Drawn in chunks of :data:`_CHUNK` values so float64 temporaries stay small and in cache.
    """
    buf = np.empty(0 if out.dtype == np.float64 else min(_CHUNK, out.size))
    for a in range(0, out.size, _CHUNK):
        b = min(a + _CHUNK, out.size)
        if out.dtype == np.float64:
            fill(rng, spec, out[a:b], lo, hi, where)
        else:
            fill(rng, spec, buf[:b - a], lo, hi, where)
            out[a:b] = ms_to_ticks(buf[:b - a])


def weight_value(spec) -> float | None:
    """The one weight (mV) of a spec stored once per projection (a number, or an array of equal
    values), or None when weights are per synapse. Decided on the whole spec, so every part of a
    projection built by target ranges stores its weights alike."""
    if isinstance(spec, float):
        return spec
    if isinstance(spec, np.ndarray) and spec.size and np.all(spec == spec[0]):
        return float(spec[0])
    return None


def delay_value(spec) -> int | None:
    """The one delay (ticks) of a spec stored once per projection, or None (as :func:`weight_value`)."""
    if isinstance(spec, float):
        return int(ms_to_ticks(spec))
    if isinstance(spec, np.ndarray) and spec.size:
        ticks = ms_to_ticks(spec)
        if np.all(ticks == ticks[0]):
            return int(ticks[0])
    return None


def weights(spec, order, n: int, rng, where: str) -> np.ndarray:
    """Per-synapse weights, float64[n]: ``spec[order]`` for an array, else ``n`` draws from ``rng``."""
    if isinstance(spec, np.ndarray):
        return spec[order]
    out = np.empty(n, np.float64)
    _draw(rng, spec, out, max(spec.min, -MAX_VALUE), min(spec.max, MAX_VALUE), where)
    return out


def delays(spec, order, n: int, rng, where: str) -> np.ndarray:
    """Per-synapse delays in ticks, int32[n]: of ``spec[order]`` for an array, else ``n`` draws."""
    if isinstance(spec, np.ndarray):
        return ms_to_ticks(spec[order]).astype(np.int32)
    lo, hi = _delay_bounds(spec, where)
    out = np.empty(n, np.int32)
    _draw(rng, spec, out, lo, hi, where)
    return out
