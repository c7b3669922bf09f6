"""External stimuli: Poisson generators, spike trains, replayed spike tables, current steps.

Each stimulus is a small description; :func:`stimulus_arrays` turns all of them into the flat
``ps_*`` (Poisson streams), ``sa_*`` (scheduled arrivals) and ``cc_*`` (current changes) arrays of
:class:`~eventsim.prepared.Prepared`. Times are ms, rates Hz, weights mV, currents pA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventsim.errors import ValidationError
from eventsim.models import check_magnitude
from eventsim.rng import PURPOSE_POISSON, stream_keys
from eventsim.timebase import MAX_MS, ms_to_ticks, ms_to_time

__all__ = ["PoissonGenerator", "SpikeTrain", "SpikeTable", "CurrentSteps", "stimulus_arrays"]

_NEVER = np.iinfo(np.int64).max


def _weights(values, where: str, unit: str = "mV") -> np.ndarray:
    """Finite weights (or currents) at most :data:`~eventsim.models.MAX_VALUE` in magnitude."""
    a = _finite(values, where)
    check_magnitude(a, where, unit)
    return a


def _finite(values, where: str, *, minimum=None, strict=False, maximum=None) -> np.ndarray:
    a = np.atleast_1d(np.asarray(values, dtype=np.float64))
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValidationError(where, f"must be finite, got {a[bad][0]}")
    if minimum is not None:
        low = a <= minimum if strict else a < minimum
        if low.any():
            raise ValidationError(where, f"must be {'>' if strict else '>='} {minimum:g}, got {a[low][0]:g}")
    if maximum is not None and np.any(a > maximum):
        raise ValidationError(where, f"must be <= {maximum:g}, got {a.max():g}")
    return a


def _distinct(ids: np.ndarray, where: str, why: str) -> None:
    unique, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        raise ValidationError(where, f"neuron {int(unique[counts > 1][0])} is given more than once; {why}")


def _delay_ticks(delay_ms, where: str) -> np.ndarray:
    d = _finite(delay_ms, where, minimum=0.0, strict=True, maximum=MAX_MS)
    ticks = ms_to_ticks(d)
    if np.any(ticks < 1):
        raise ValidationError(where, f"must be at least 1e-6 ms (1 ns), got {d[ticks < 1][0]:g}")
    return ticks


@dataclass
class PoissonGenerator:
    """Independent Poisson spike train per target, each spike a jump of ``weight`` mV.

    Parameters
    ----------
    targets : int64 array of global neuron ids
    rate : float, Hz
    weight : float, mV
    start, stop : float, ms; active on ``[start, stop)`` (``stop=None``: forever)
    """

    targets: np.ndarray
    rate: float
    weight: float
    start: float = 0.0
    stop: float | None = None
    where: str = "poisson"

    def validate(self) -> None:
        """Raise ValidationError for a bad value, or a target given twice (it would get the same
        train twice, not two independent ones)."""
        _distinct(self.targets, f"{self.where}.targets", "each target gets one independent train (raise the rate "
                                                          "for more input)")
        _finite(self.rate, f"{self.where}.rate", minimum=0.0)
        _weights(self.weight, f"{self.where}.weight")
        _finite(self.start, f"{self.where}.start", minimum=0.0, maximum=MAX_MS)
        if self.stop is not None:
            _finite(self.stop, f"{self.where}.stop", minimum=self.start, maximum=MAX_MS)


@dataclass
class SpikeTrain:
    """The same spike times delivered to every target with one weight and delay.

    Parameters
    ----------
    targets : int64 array of global neuron ids
    times : float array, ms (spike emission times; arrival = time + delay)
    weight : float, mV
    delay : float, ms (> 0; added in exact tick arithmetic)
    """

    targets: np.ndarray
    times: np.ndarray
    weight: float
    delay: float = 1.0
    where: str = "spike_train"

    def validate(self) -> None:
        """Raise ValidationError for a bad time, weight or delay."""
        _finite(self.times, f"{self.where}.times", minimum=0.0, maximum=MAX_MS)
        _weights(self.weight, f"{self.where}.weight")
        _delay_ticks(self.delay, f"{self.where}.delay")


@dataclass
class SpikeTable:
    """Rows of (target, time, weight, delay): a replayed or external spike table."""

    target: np.ndarray
    time: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    where: str = "spike_table"

    def validate(self) -> None:
        """Raise ValidationError for a bad time, weight or delay (all columns equally long)."""
        _finite(self.time, f"{self.where}.time", minimum=0.0, maximum=MAX_MS)
        _weights(self.weight, f"{self.where}.weight")
        if len(self.delay):
            _delay_ticks(self.delay, f"{self.where}.delay")


@dataclass
class CurrentSteps:
    """Piecewise-constant injected current: ``amplitudes[k]`` pA from ``times[k]`` ms on.

    The current adds to the neuron's ``I_e`` and is 0 before the first time.
    """

    targets: np.ndarray
    times: np.ndarray
    amplitudes: np.ndarray
    where: str = "current_steps"

    def validate(self) -> None:
        """Raise ValidationError for bad times (finite, increasing) or amplitudes (one per time)."""
        times = _finite(self.times, f"{self.where}.times", minimum=0.0, maximum=MAX_MS)
        amps = _weights(self.amplitudes, f"{self.where}.amplitudes", "pA")
        if times.shape != amps.shape:
            raise ValidationError(f"{self.where}.amplitudes", f"expected {times.size} values (one per time), "
                                                              f"got {amps.size}")
        if np.any(np.diff(times) <= 0):
            raise ValidationError(f"{self.where}.times", "must be strictly increasing")


def _grid_tick(t_ms: float) -> int:
    """A Poisson generator's start or stop time, in whole ticks (rounded up to the ns grid)."""
    tick, frac = ms_to_time(np.atleast_1d(t_ms))
    return int(tick[0]) + (1 if frac[0] > 0 else 0)


def _poisson_arrays(gens: list[tuple[int, PoissonGenerator]], n: int, seed: int) -> dict:
    parts = []
    for index, g in gens:
        g.validate()
        if g.rate <= 0 or len(g.targets) == 0:
            continue
        t = np.asarray(g.targets, dtype=np.int64)
        m = t.size
        stop = _NEVER if g.stop is None else _grid_tick(g.stop)
        parts.append((t, np.full(m, index, np.int64), np.full(m, g.rate / 1000.0), np.full(m, float(g.weight)),
                      np.full(m, _grid_tick(g.start), np.int64), np.full(m, stop, np.int64),
                      stream_keys(seed, PURPOSE_POISSON, index, t)))
    if not parts:
        target = np.zeros(0, np.int64)
        cols = [target, target, np.zeros(0), np.zeros(0), target, target, np.zeros(0, np.uint64)]
    else:
        cols = [np.concatenate(c) for c in zip(*parts)]
    target, gen, rate, weight, start, stop, key = cols
    order = np.lexsort((gen, target))
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(target, minlength=n), out=ptr[1:])
    return dict(ps_target=target[order], ps_rate=rate[order], ps_weight=weight[order],
                ps_start=start[order], ps_stop=stop[order], ps_key=key[order], neuron_ps_ptr=ptr)


def _arrival_arrays(trains: list[SpikeTrain], tables: list[SpikeTable]) -> dict:
    ticks, fracs, targets, weights = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for tr in trains:
        tr.validate()
        w = float(tr.weight)
        d = int(_delay_ticks(tr.delay, f"{tr.where}.delay")[0])
        tk, fr = ms_to_time(np.asarray(tr.times, np.float64).reshape(-1))
        tg = np.asarray(tr.targets, dtype=np.int64)
        ticks.append(np.repeat(tk + d, tg.size))
        fracs.append(np.repeat(fr, tg.size))
        targets.append(np.tile(tg, tk.size))
        weights.append(np.full(tk.size * tg.size, w))
    for tb in tables:
        tb.validate()
        w = np.asarray(tb.weight, np.float64)
        d = _delay_ticks(tb.delay, f"{tb.where}.delay") if len(tb.delay) else np.zeros(0, np.int64)
        tk, fr = ms_to_time(np.asarray(tb.time, np.float64))
        ticks.append(tk + d)
        fracs.append(fr)
        targets.append(np.asarray(tb.target, dtype=np.int64))
        weights.append(w)
    tick, frac, target, weight = (np.concatenate(x) for x in (ticks, fracs, targets, weights))
    order = np.lexsort((target, frac, tick))
    return dict(sa_tick=tick[order], sa_frac=frac[order], sa_target=target[order], sa_weight=weight[order])


def _current_arrays(steps: list[CurrentSteps]) -> dict:
    ticks, fracs, targets, deltas = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for cs in steps:
        cs.validate()
        times, amps = np.asarray(cs.times, np.float64), np.asarray(cs.amplitudes, np.float64)
        delta = np.diff(amps, prepend=0.0)
        tk, fr = ms_to_time(times)
        tg = np.asarray(cs.targets, dtype=np.int64)
        ticks.append(np.repeat(tk, tg.size))
        fracs.append(np.repeat(fr, tg.size))
        targets.append(np.tile(tg, tk.size))
        deltas.append(np.repeat(delta, tg.size))
    tick, frac, target, delta = (np.concatenate(x) for x in (ticks, fracs, targets, deltas))
    order = np.lexsort((target, frac, tick))
    return dict(cc_tick=tick[order], cc_frac=frac[order], cc_target=target[order], cc_delta=delta[order])


def stimulus_arrays(stimuli: list, n_neurons: int, seed: int) -> dict:
    """Flatten all stimuli into the ``ps_*``, ``neuron_ps_ptr``, ``sa_*`` and ``cc_*`` arrays.

    ``stimuli`` is the network's list in order of addition; a Poisson generator's index in it
    keys its random streams, so adding another stimulus later does not change its spikes.
    """
    gens = [(k, s) for k, s in enumerate(stimuli) if isinstance(s, PoissonGenerator)]
    trains = [s for s in stimuli if isinstance(s, SpikeTrain)]
    tables = [s for s in stimuli if isinstance(s, SpikeTable)]
    steps = [s for s in stimuli if isinstance(s, CurrentSteps)]
    out = _poisson_arrays(gens, n_neurons, seed)
    out.update(_arrival_arrays(trains, tables))
    out.update(_current_arrays(steps))
    return out
