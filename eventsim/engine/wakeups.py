"""Wake-up bounds and the end of a window: which neurons may act on their own (a Poisson arrival,
a crossing) before a time, kept per neuron and as minima per block of 64 neurons, so that a
window's end visits only neurons that may act.
"""

from __future__ import annotations

from numba import njit

from eventsim.engine import generic as G
from eventsim.engine.clock import frame_exp
from eventsim.engine.lif_frame import catch_up, crossing_bound, dirty_bound, needs_catch_up
from eventsim.engine.records import BLOCK_SHIFT, FALSE, FRAME_LIF, NEVER, ZERO, _OPTS


@njit(**_OPTS)
def set_wake(wake, block_min, i, t):
    """Neuron i may next act on its own at tick t (its Poisson arrival or crossing); O(1)."""
    set_wake_inline(wake, block_min, i, t)


@njit(inline="always", **_OPTS)
def set_wake_inline(wake, block_min, i, t):
    """:func:`set_wake` inlined into its caller."""
    wake[i] = t
    b = i >> BLOCK_SHIFT
    if t < block_min[b]:
        block_min[b] = t


@njit(**_OPTS)
def update_wake(r, nr, i, tick, e_t, wake, block_min):
    """Recompute neuron i's wake-up tick after its state changed at ``tick``."""
    update_wake_inline(r, nr, i, tick, e_t, wake, block_min)


@njit(inline="always", **_OPTS)
def update_wake_inline(r, nr, i, tick, e_t, wake, block_min):
    """:func:`update_wake` inlined into its caller (direct delivery, after each excitatory input while
    V_inf > V_th): the same bound, the same stores.

    NOTE: LLVM stopped inlining the call into deliver_batch once that grew (the batch bound, the
    prefetches); the call is per input in Benchmark 4."""
    t = crossing_bound(r, nr, tick, e_t)
    if r.ps_tick < t:
        t = r.ps_tick
    set_wake_inline(wake, block_min, i, t)


@njit(inline="always", **_OPTS)
def wake_after_input(r, i, tick, e_t, tau_ticks, wake, block_min):
    """:func:`update_wake_inline` for a plain-LIF neuron with ``V_inf > V_th`` whose ``ctick`` was just
    made DIRTY by an input at ``tick`` (direct delivery, per excitatory input): the same bound in the
    same floats as :func:`~eventsim.engine.lif_frame.crossing_bound`, the same stores, with tau_m in
    ticks taken from the neuron's time-constant class (``Net.cls_tau``, ``tau_m * TICKS_PER_MS``).

    NOTE: crossing_bound read ``tau_m`` from the neuron's NEURON record, a cache line that nothing
    else of a delivery reads (a miss per input), and was a call (every float register spilled around
    it): 11 % of Benchmark 4's samples were in it."""
    t = dirty_bound(r, tick, e_t, tau_ticks)
    if r.ps_tick < t:
        t = r.ps_tick
    set_wake_inline(wake, block_min, i, t)


@njit(**_OPTS)
def set_window_end_E(cls_q, class_E, class_stamp, base, t_end):
    """``E(t_end)`` per time-constant class, for the window's end; forget direct delivery's
    per-batch values."""
    for k in range(cls_q.size):
        class_E[k] = frame_exp(t_end, 0.0, base, cls_q[k])
        class_stamp[k] = -1


@njit(**_OPTS)
def end_of_window(nrn, neuron, gen, t_end, cls_q, class_E, c, stream, win, wake, block_min):
    """Bring every neuron that may act on its own before t_end (Poisson arrival, crossing) up to it.

    Only blocks of 64 neurons whose wake-up minimum is before t_end are looked at, so a window
    in which few neurons can fire by themselves costs little more than its block scan. Leaves
    the smallest wake-up of all in ``c.wake_min``.
    """
    c.wake_min = wake_blocks(nrn, neuron, gen, t_end, cls_q, class_E, c, stream, win, wake, block_min, ZERO,
                             block_min.size)


@njit(**_OPTS)
def wake_blocks(nrn, neuron, gen, t_end, cls_q, class_E, c, stream, win, wake, block_min, b_lo, b_hi):
    """:func:`end_of_window` for the blocks ``b_lo:b_hi`` of 64 neurons; returns their smallest wake-up."""
    n = nrn.size
    wake_min = NEVER
    for b in range(b_lo, b_hi):
        if block_min[b] >= t_end:
            if block_min[b] < wake_min:
                wake_min = block_min[b]
            continue
        m = NEVER
        for i in range(b << BLOCK_SHIFT, min(n, (b + 1) << BLOCK_SHIFT)):
            if wake[i] < t_end:
                r, nr = nrn[i], neuron[i]
                if r.model != FRAME_LIF:
                    G.catch_up(r, nr, gen[i], i, t_end, 0.0, c, stream, win, FALSE)
                    wake[i] = G.wake_tick(r)
                    if wake[i] < m:
                        m = wake[i]
                    continue
                e = class_E[r.cls]
                if needs_catch_up(r, t_end, 0.0, e):
                    catch_up(r, nr, i, t_end, 0.0, e, cls_q[r.cls], c, stream, win, FALSE)
                t = crossing_bound(r, nr, t_end, e)
                wake[i] = r.ps_tick if r.ps_tick < t else t
            if wake[i] < m:
                m = wake[i]
        block_min[b] = m
        if m < wake_min:
            wake_min = m
    return wake_min
