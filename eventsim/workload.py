"""How much work a run is: expected events, a rough wall time, and the limits that follow.

The events a run must process that are known before it starts are the Poisson arrivals and the
spikes of neurons driven above threshold by a constant current. Their expected number is the one
estimate of a run's size (:func:`estimate`): :func:`check` refuses a run that could not finish
(more than :data:`REFUSED_EVENTS` events) and warns about one that would take long; the compiled
engine also bounds its window length by the same rates (:func:`autonomous_rate`), so that a
window, and hence the time between two looks at Ctrl-C, stays short whatever the rates.

Synaptic events are not counted: they depend on the network's activity, which is not known in
advance. The estimate is therefore a lower bound for recurrent networks. The wall time weighs each
event by the cost of its neuron's model (:data:`SECONDS_PER_EVENT`): a Poisson arrival by its
target's, a current-driven spike by the spiking neuron's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from eventsim.errors import ValidationError
from eventsim.models import REGISTRY
from eventsim.models.spec import MIN_PERIOD_MS
from eventsim.prepared import Prepared
from eventsim.stimuli import PoissonGenerator
from eventsim.timebase import TICK_MS

__all__ = ["Workload", "firing_rate_bound", "autonomous_rate", "seconds_per_event", "estimate", "check",
           "runaway_error", "REFUSED_EVENTS", "WARNED_SECONDS", "SECONDS_PER_EVENT"]

REFUSED_EVENTS = 1e12
"""Runs expected to process more events than this are refused (days of wall time at best)."""

WARNED_SECONDS = 300.0
"""Runs expected to take longer than this (wall seconds) are warned about."""

SECONDS_PER_EVENT = {
    "numba": {"lif": 40e-9, "lif_adaptive": 115e-9, "qif": 135e-9, "lif_psc_exp": 330e-9},
    "reference": {"lif": 5e-6, "lif_adaptive": 5e-6, "qif": 5.5e-6, "lif_psc_exp": 12e-6},
}
"""Rough wall time (s) per event of each engine and neuron model, for the estimate only: Brunel's network
with both populations of one model (``perf/bench.py --neuron``), each model's ratio to ``lif`` measured in
one session, times ``lif``'s figure on a quiet machine (perf/RESULTS.md, 2026-12-01). ``lif_adaptive`` is
``lif`` with an adaptive threshold (``delta_theta > 0``), which the compiled engine runs on its generic path."""


@dataclass(frozen=True)
class Workload:
    """Expected size of a run.

    Attributes
    ----------
    events : float
        Expected Poisson arrivals plus constant-current spikes (inf if a neuron would fire
        infinitely often).
    seconds : float
        Rough wall time with the chosen engine, s.
    key : str
        The parameter most of the events come from (e.g. ``"stimuli[0].rate"``,
        ``"populations.exc.I_e"``), for messages.
    duration_ms : float
        The simulated time the estimate covers.
    """

    events: float
    seconds: float
    key: str
    duration_ms: float


def firing_rate_bound(p: Prepared) -> np.ndarray:
    """Firing rate of each neuron under its constant current alone, spikes per ms (float64[N]).

    Each population's model gives it (``rate_bound`` of its module in :data:`eventsim.models.REGISTRY`,
    e.g. ``1 / (t_ref + tau_m ln((V_reset - V_inf) / (V_th - V_inf)))`` for ``lif``); inf where the
    period is 0. Inputs can make a neuron fire faster; current steps are not counted.
    """
    rate = np.zeros(p.n_neurons)
    for model, lo, hi in zip(p.pop_model, p.pop_start[:-1], p.pop_start[1:]):
        rate[lo:hi] = REGISTRY[model].rate_bound(p, int(lo), int(hi))
    return rate


def autonomous_rate(p: Prepared) -> float:
    """Poisson arrivals plus constant-current spikes per ms of the whole network (may be inf)."""
    return float(np.sum(p.ps_rate) + np.sum(firing_rate_bound(p)))


def _poisson_events(stimuli, t0_ms: float, t1_ms: float) -> list[tuple[float, str, np.ndarray]]:
    """Expected arrivals of each Poisson generator in ``[t0, t1)`` with the key of its rate and its targets
    (global neuron ids; each receives the same expected number)."""
    out = []
    for s in stimuli:
        if not isinstance(s, PoissonGenerator):
            continue
        lo = max(t0_ms, s.start)
        hi = t1_ms if s.stop is None else min(t1_ms, s.stop)
        targets = np.asarray(s.targets, dtype=np.int64)
        out.append((targets.size * s.rate * 1e-3 * max(0.0, hi - lo), f"{s.where}.rate", targets))
    return out


def seconds_per_event(p: Prepared, engine: str = "numba") -> np.ndarray:
    """Rough wall time of one event of each neuron, s (float64[N]), by its model (:data:`SECONDS_PER_EVENT`;
    an unknown engine counts as ``"numba"``)."""
    costs = SECONDS_PER_EVENT.get(engine, SECONDS_PER_EVENT["numba"])
    out = np.empty(p.n_neurons)
    for model, lo, hi in zip(p.pop_model, p.pop_start[:-1], p.pop_start[1:]):
        out[lo:hi] = costs[model]
        if model == "lif":  # the adaptive threshold runs the generic path
            out[lo:hi][p.delta_theta[lo:hi] > 0.0] = costs["lif_adaptive"]
    return out


def estimate(p: Prepared, stimuli, t0_ms: float, t1_ms: float, engine: str = "numba") -> Workload:
    """Expected events of simulating ``[t0_ms, t1_ms)`` and a rough wall time.

    Parameters
    ----------
    p : Prepared
        The network's arrays (neuron parameters, models).
    stimuli : list
        The network's stimuli (``Network.stimuli``); the :class:`~eventsim.stimuli.PoissonGenerator`
        among them are counted, named by their ``where``.
    t0_ms, t1_ms : float
        The simulated interval, ms.
    engine : str
        ``"numba"`` or ``"reference"`` (only changes ``seconds``).

    Returns
    -------
    Workload
        ``seconds`` weighs each event by its neuron's model (:func:`seconds_per_event`).
    """
    duration = max(0.0, t1_ms - t0_ms)
    cost = seconds_per_event(p, engine)
    parts, seconds = [], 0.0
    for events, key, targets in _poisson_events(stimuli, t0_ms, t1_ms):
        parts.append((events, key))
        seconds += events * float(np.mean(cost[targets])) if events > 0 else 0.0
    rate = firing_rate_bound(p)
    for k, name in enumerate(p.pop_names):
        lo, hi = p.pop_start[k], p.pop_start[k + 1]
        r = rate[lo:hi]
        if r.size and np.any(r > 0):
            parts.append((float(np.sum(r)) * duration if duration > 0 else 0.0, f"populations.{name}.I_e"))
            seconds += float(np.sum(r * cost[lo:hi])) * duration if duration > 0 else 0.0
    events = float(sum(e for e, _ in parts))
    key = max(parts)[1] if parts else ""
    return Workload(events, seconds, key, duration)


def check(w: Workload) -> None:
    """Refuse a run that cannot finish, warn about one that will take long.

    Raises
    ------
    ValidationError
        More than :data:`REFUSED_EVENTS` expected events (or infinitely many), naming the
        parameter they come from.

    Warns
    -----
    UserWarning
        An expected wall time above :data:`WARNED_SECONDS`, one line with the estimate.
    """
    if not np.isfinite(w.events):
        raise ValidationError(w.key, "with t_ref = 0 this current puts V_inf so far above V_th that the firing "
                                     "period rounds to 0 ms: the neuron would fire without end at one time "
                                     "(lower it, or give t_ref > 0)")
    if w.events > REFUSED_EVENTS:
        raise ValidationError(w.key, f"about {w.events:.3g} events expected in {w.duration_ms:g} ms (roughly "
                                     f"{w.seconds / 3600:.3g} hours), more than the {REFUSED_EVENTS:.0e} one run "
                                     "can simulate: lower the rate or run shorter")
    if w.seconds > WARNED_SECONDS:
        warnings.warn(f"{w.key}: about {w.events:.3g} events expected in {w.duration_ms:g} ms, roughly "
                      f"{w.seconds / 3600:.2g} hours of simulation", stacklevel=3)


def runaway_error(p: Prepared, i: int, tick: int, frac: float) -> ValidationError:
    """The error that stops a run in which neuron ``i``, with ``t_ref = 0``, would fire again less than
    :data:`~eventsim.models.spec.MIN_PERIOD_MS` after its spike at ``(tick, frac)``: its input (a synaptic
    current of ``lif_psc_exp``) drives it so hard that it would fire without end at one time. Both
    engines raise it, at the same spike."""
    pop = int(np.searchsorted(p.pop_start, i, side="right")) - 1
    return ValidationError(f"populations.{p.pop_names[pop]}.t_ref",
                           f"with t_ref = 0, neuron {i - int(p.pop_start[pop])} would fire again less than "
                           f"{MIN_PERIOD_MS:g} ms after its spike at {(tick + frac) * TICK_MS:.9g} ms, without "
                           "end: its input drives it too hard (lower the weights, or give t_ref > 0)")
