"""Simulation time: integer ticks of 1 ns plus a fractional part.

A time is the pair ``(tick, frac)``: ``tick`` an int64 count of :data:`TICK_MS` (1e-6 ms = 1 ns) and
``frac`` a float64 in ``[0, 1)`` ticks. Delays and refractory periods are whole ticks, so adding a
delay never rounds: ``(t + d1) + d2`` and ``(t + d2) + d1`` are the same pair, bit for bit, and
mathematically simultaneous events stay simultaneous. Times that arise inside the simulation
(a constant-current threshold crossing, a Poisson arrival) keep their exact value in ``frac``.

Range: int64 ticks of 1 ns reach 2**63 ns = 292 years. Resolution of delays: 1 ns (values are
rounded to the nearest tick). A time given in ms is snapped onto the tick grid when it is within
1e-6 tick (1e-12 ms) of a grid point, or within the float64 rounding of ``t / TICK_MS``, so any
decimal time written with at most six decimals (10.3, 0.125, 1.000001 ms) is a grid time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TICK_MS", "TICKS_PER_MS", "MAX_MS", "ms_to_ticks", "ms_to_time", "time_to_ms"]

TICK_MS = 1e-6
"""Length of one tick in ms (1 ns)."""

TICKS_PER_MS = 1_000_000
"""Ticks in one ms (an exact integer)."""

MAX_MS = 1e11
"""Largest time accepted anywhere, in ms (1e11 ms, about 3.2 years; int64 ticks overflow after 292 years)."""

_SNAP_TICKS = 1e-6


def ms_to_ticks(value_ms, *, minimum_ticks: int = 0) -> np.ndarray:
    """Round durations in ms (delays, refractory periods) to whole ticks.

    Parameters
    ----------
    value_ms : array_like of float
        Durations in ms; must be finite and at most :data:`MAX_MS` (checked by the caller).
    minimum_ticks : int
        Smallest allowed result; values that round below it are raised to it.

    Returns
    -------
    numpy.ndarray of int64
    """
    x = np.asarray(value_ms, dtype=np.float64)
    ticks = np.rint(x * TICKS_PER_MS).astype(np.int64)
    if minimum_ticks:
        np.maximum(ticks, minimum_ticks, out=ticks)
    return ticks


def ms_to_time(t_ms) -> tuple[np.ndarray, np.ndarray]:
    """Convert times in ms to ``(tick, frac)`` pairs, snapping near-grid values onto the grid.

    Parameters
    ----------
    t_ms : array_like of float
        Non-negative finite times in ms.

    Returns
    -------
    tick : numpy.ndarray of int64
    frac : numpy.ndarray of float64, in ``[0, 1)``
    """
    x = np.asarray(t_ms, dtype=np.float64) * TICKS_PER_MS
    nearest = np.rint(x)
    tolerance = np.maximum(_SNAP_TICKS, 4.0 * np.spacing(np.abs(x)))
    on_grid = np.abs(x - nearest) <= tolerance
    floor = np.floor(x)
    tick = np.where(on_grid, nearest, floor).astype(np.int64)
    frac = np.where(on_grid, 0.0, x - floor)
    return tick, frac


def ticks_to_ms(tick: int) -> float:
    """A whole number of ticks in ms, the float64 nearest to it (426764897 -> 426.764897, where
    ``tick * TICK_MS`` gives 426.76489699999996): for times reported to people, e.g. ``t_stop``."""
    return int(tick) / TICKS_PER_MS


def time_to_ms(tick, frac) -> np.ndarray:
    """Convert ``(tick, frac)`` pairs to float64 ms (rounded to float64)."""
    tick = np.asarray(tick, dtype=np.int64)
    return (tick // TICKS_PER_MS).astype(np.float64) + (
        (tick % TICKS_PER_MS).astype(np.float64) + np.asarray(frac, dtype=np.float64)
    ) * TICK_MS
