"""A window worked in parts of neurons on threads: each part counts into its own CTL record and
writes its spikes into its own slice of the window's spike buffer; :func:`start_parts` sets the
records up, :func:`merge_parts` adds them back into the run's (shared by the bucket path,
:func:`~eventsim.engine.buckets.work_buckets_in_parallel`, and the item path,
:func:`~eventsim.engine.items.deliver_items_in_parallel`).
"""

from __future__ import annotations

from numba import njit

from eventsim.engine.cycles import ACT_IDLE, ACT_NONE, ACT_PARTS, PH_WINDOW_END, mark_activity, mark_phase
from eventsim.engine.records import NEVER, _OPTS


@njit(**_OPTS)
def start_parts(ctl, ctls):
    """Each part's record: a copy of the run's ``ctl`` (clock, frame base, batch stamp...) with
    the counters it adds back, its spike count and side buffer at zero."""
    mark_activity(ctl[0], ACT_PARTS)  # until merge_parts (each part marks its own record)
    for t in range(ctls.size):
        ctls[t:t + 1] = ctl
        ct = ctls[t]
        ct.runaway = 0
        ct.win_n = 0
        ct.side_n = 0
        ct.overflow = 0
        ct.discarded = 0
        ct.batches = 0
        ct.ext_events = 0
        ct.spikes = 0
        ct.crossing_spikes = 0
        mark_activity(ct, ACT_NONE)  # (copied: the run's ACT_PARTS)


@njit(inline="always", **_OPTS)
def part_window_end(ct):
    """Part record ``ct``'s thread brings its neurons to the window's end (the sampler's marks)."""
    mark_phase(ct, PH_WINDOW_END)
    mark_activity(ct, ACT_NONE)


@njit(inline="always", **_OPTS)
def part_done(ct):
    """Part record ``ct``'s thread has finished its part and waits for the others (the sampler's mark)."""
    mark_activity(ct, ACT_IDLE)


@njit(**_OPTS)
def merge_parts(ctl, ctls, win, bounds, per_neuron):
    """Add the parts' counts and smallest wake-ups into the run's ``ctl`` and move their spikes
    (part t's at ``win[bounds[t] * per_neuron:]``, its neurons ``bounds[t]:bounds[t + 1]``) to the
    start of ``win`` in part order. A part that overflowed its slice sets ``ctl.overflow`` and
    ``ctl.win_n`` to a buffer size that gives it room (the window is then simulated again)."""
    c = ctl[0]
    need = 0
    c.wake_min = NEVER
    for t in range(ctls.size):
        ct = ctls[t]
        c.wake_min = min(c.wake_min, ct.wake_min)
        if ct.runaway and c.runaway == 0:  # the first in part order, as one thread finds it
            c.runaway, c.runaway_tick, c.runaway_frac = ct.runaway, ct.runaway_tick, ct.runaway_frac
        c.discarded += ct.discarded
        c.batches += ct.batches
        c.ext_events += ct.ext_events
        c.spikes += ct.spikes
        c.crossing_spikes += ct.crossing_spikes
        lo, hi = bounds[t], bounds[t + 1]
        k = ct.win_n
        if ct.overflow or k > (hi - lo) * per_neuron:
            c.overflow = 1
            # a buffer that gives this part's neurons room for k spikes
            need = max(need, (k * bounds[ctls.size]) // max(hi - lo, 1) + 1)
            continue
        src = lo * per_neuron
        dst = c.win_n
        for s in range(k):  # dst <= src: moving towards the start in order is safe
            win[dst + s] = win[src + s]
        c.win_n = dst + k
    if c.overflow:
        c.win_n = max(c.win_n, need)
    mark_activity(c, ACT_NONE)
