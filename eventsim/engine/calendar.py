"""The calendar of delivery runs: spikes of projections with per-synapse delays, queued by the window
in which they arrive.

A spike of such a projection is split, at the end of the window that emitted it, into its row's runs
of equal delays (rows are sorted by (delay, target)); each run ``(arrival tick, frac, synapses [lo,
hi), projection)`` is appended to the *slot* of its arrival window, slot ``window % R`` of a ring of
R slots (R covers the largest delay where it can, so a slot holds one window's runs; with fewer
slots a slot may also hold runs of later laps, which stay in it). A slot is a chain of blocks of
:data:`BLOCK` runs from one pool (a free list recycles them). Where no slot holds later laps, a run
of one synapse (nearly all with continuous delays) is instead an :data:`ENTRY` appended to the
slot's *stream* of its target's bucket, counted there as it is queued: the buckets then read each
stream once, in :func:`eventsim.engine.buckets.order_calendar`, with no pass over the window's runs
to count and scatter them; direct delivery and a window cut by a stop time first turn the slot's
streams into runs (:func:`spill_streams`). When a window opens, its runs become
*due*: bucket delivery takes them straight from the slot, each synapse an entry of its target's
bucket carrying its own time and weight, sorted there (:func:`eventsim.engine.buckets.fill_due`,
:func:`eventsim.engine.buckets.order_timed`, then :func:`release_taken`); direct delivery moves them
into the *due* list (:func:`due_list`), sorted by time (:func:`sort_due`: an LSD radix sort of the
arrival ticks within the window, then equal ticks by frac), and takes them in order, merged with
the heap of homogeneous spike groups and the scheduled events (:mod:`~eventsim.engine.direct`).

Cost: O(1) per run to queue it (no division: a row's arrival windows only grow), O(blocks) to open
its window, O(1) per synapse to take it into a bucket and sort it there, or O(1) per run to sort
it for direct delivery (``ceil(log2(W) / 11)`` radix passes): where the heap paid a pop and a push,
O(log n), per run. Same-time runs need only be adjacent, not ordered: a neuron's same-time inputs
are summed exactly, in any order.

The scalars live in the run's ``CTL`` record (``cal_*``, ``due_n``, ``due_p``, ``due_in_slot``); the
arrays in :data:`Calendar`, part of the loop's regrowable buffers.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from eventsim.engine.borrowed import borrowed
from eventsim.engine.clock import time_lt
from eventsim.engine.prefetch import prefetch_read, prefetch_write
from eventsim.engine.records import SAMPLE, _OPTS

RUN = np.dtype([("tick", np.int64), ("frac", np.float64), ("w", np.float64), ("lo", np.int64), ("n", np.int32),
                ("aux", np.int32)], align=True)
"""A delivery run arriving at (tick, frac): synapses ``[lo, lo + n)`` (equal delays, consecutive in
the source's row) of projection ``aux`` with its weight ``w`` (NaN: per synapse); a run of one
synapse (``n == 1``, nearly all with continuous delays) keeps its target in ``aux`` and its weight
in ``w``, so that delivering it reads no synapse table. 40 bytes."""

ENTRY = np.dtype([("key", np.int64), ("frac", np.float64), ("w", np.float64)], align=True)
"""A delivery of one synapse queued in its slot's stream of its target's bucket: ``key`` its arrival
tick's offset in the window ``<< 32 | target``, the spike's ``frac``, its weight ``w``. 24 bytes."""

Calendar = namedtuple("Calendar", "runs link fill slot due keys tmp spare epool elink ehead etail ecnt etot emeta tsyn")
"""The calendar's arrays: ``runs`` the pool of RUN records in blocks of :data:`BLOCK`, ``link`` and
``fill`` per block (next block of its slot's chain or of the free list, -1 ending it; runs in it),
``slot`` (R, 2) the first and last block of each slot's chain (-1: empty); ``due`` the open window's
runs (in time order once :func:`sort_due` ran: ``ctl.cal_sorted``); ``keys`` their sort keys
(``(tick - window start) << 32 | index``), ``tmp`` the radix sort's second buffer, ``spare`` the due
list's second buffer (allocated by the first sort).

The *streams* (when no slot can hold later laps): one-synapse deliveries, queued as :data:`ENTRY`
records per (slot, bucket of the target) rather than as runs: ``epool`` blocks of :data:`EB` entries,
``elink`` the next block of a stream's chain or of the free list; ``ehead``, ``etail``, ``ecnt``
(slots x buckets, flattened) a stream's first and last block and its entries (a stream's blocks are
full but its last, so its count places the next entry); ``etot`` the entries per slot; ``emeta``
the free list's first block and the blocks in use; ``tsyn`` a synapse onto each neuron (-1: none),
the ``lo`` of a one-synapse run made of an entry (:func:`spill_streams`: direct delivery reads its
target as ``syn_target[lo]``, its weight from the run). Empty arrays (``etot.size == 0``): no
streams."""

BLOCK = 128
"""Runs per block of the pool (4 KiB): a slot wastes at most one partly filled block."""
EB = 256
"""Entries per block of the streams' pool (6 KiB). NOTE: 64 (1.5 KiB) made following a stream's
chain (its links in ``elink``, evicted by the streaming) a visible stall of order_calendar."""
_EMASK = EB - 1
MAX_SLOTS = 4096
"""Most slots of the ring: delays longer than this many windows make slots hold later laps too."""
_INDEX = 0xFFFFFFFF
_DIGIT = 11  # radix bits per pass: 2,048 counters stay in L1


def slot_count(max_delay: int, window: int) -> int:
    """Slots of the ring for delays up to ``max_delay`` ticks in windows of ``window`` ticks:
    every window a pending run can arrive in has its own slot (capped at :data:`MAX_SLOTS`)."""
    if max_delay <= 0:
        return 1
    return int(min(MAX_SLOTS, max_delay // window + 2))


def make_calendar(slots: int, buckets: int = 0, tsyn: np.ndarray | None = None) -> Calendar:
    """An empty calendar of ``slots`` slots (the pool starts small and grows), with streams of
    one-synapse deliveries per (slot, bucket) when ``buckets`` > 0 (only where no slot holds
    later laps: ``slots`` below :data:`MAX_SLOTS`); ``tsyn``: a synapse onto each neuron (streams only)."""
    e = buckets > 0
    return Calendar(runs=np.empty(4 * BLOCK, RUN), link=np.full(4, -1, np.int64), fill=np.zeros(4, np.int64),
                    slot=np.full((slots, 2), -1, np.int64), due=np.empty(64, RUN), keys=np.empty(64, np.int64),
                    tmp=np.empty(64, np.int64), spare=np.empty(0, RUN),
                    epool=np.empty(4 * EB if e else 0, ENTRY), elink=np.full(4 if e else 0, -1, np.int64),
                    ehead=np.full(slots * buckets, -1, np.int64), etail=np.full(slots * buckets, -1, np.int64),
                    ecnt=np.zeros(slots * buckets, np.int64), etot=np.zeros(slots if e else 0, np.int64),
                    emeta=np.array([-1, 0], np.int64),
                    tsyn=np.asarray(tsyn, np.int64) if e and tsyn is not None else np.empty(0, np.int64))


def calendar_bytes(cal: Calendar) -> int:
    """Bytes held by the calendar's arrays."""
    return int(sum(a.nbytes for a in cal))


@njit(**_OPTS)
def _reserve(cal, n):
    """The calendar with a pool of at least n blocks (grown by doubling)."""
    return cal if n <= cal.fill.size else _grown_pool(cal, n)


@njit(**_OPTS)
def _grown_pool(cal, need):
    m = max(need, 2 * cal.link.size)
    b = cal.link.size
    runs = np.empty(m * BLOCK, cal.runs.dtype)
    runs[:b * BLOCK] = cal.runs
    link = np.full(m, -1, np.int64)
    link[:b] = cal.link
    fill = np.zeros(m, np.int64)
    fill[:b] = cal.fill
    return Calendar(runs, link, fill, cal.slot, cal.due, cal.keys, cal.tmp, cal.spare, cal.epool, cal.elink,
                    cal.ehead, cal.etail, cal.ecnt, cal.etot, cal.emeta, cal.tsyn)


@njit(**_OPTS)
def _ereserve(cal, n):
    """The calendar with a streams' pool of at least n blocks (grown by doubling)."""
    return cal if n <= cal.elink.size else _grown_streams(cal, n)


@njit(**_OPTS)
def _grown_streams(cal, need):
    m = max(need, 2 * cal.elink.size)
    b = cal.elink.size
    epool = np.empty(m * EB, cal.epool.dtype)
    epool[:b * EB] = cal.epool
    elink = np.full(m, -1, np.int64)
    elink[:b] = cal.elink
    return Calendar(cal.runs, cal.link, cal.fill, cal.slot, cal.due, cal.keys, cal.tmp, cal.spare, epool, elink,
                    cal.ehead, cal.etail, cal.ecnt, cal.etot, cal.emeta, cal.tsyn)


@njit(inline="always", **_OPTS)
def slot_block(slot, fill, link, c, s):
    """The block of slot s a run is appended to: its last block, or, when that is full or the slot
    empty, a new one from the pool (the free list first) chained after it. The pool has room."""
    b = slot[s, 1]
    if b < 0 or fill[b] == BLOCK:
        nb = c.cal_free
        if nb >= 0:
            c.cal_free = link[nb]
        else:
            nb = c.cal_blocks
            c.cal_blocks = nb + 1
        link[nb] = -1
        fill[nb] = 0
        if b < 0:
            slot[s, 0] = nb
        else:
            link[b] = nb
        slot[s, 1] = nb
        b = nb
    return b


@njit(**_OPTS)
def push_row(cal, c, tick, frac, proj, lo, hi, syn_delay, shift, syn_target, syn_weight, weight, weight_shift):
    """Queue a spike at (tick, frac) of projection ``proj`` through its synapses ``[lo, hi)`` (a row,
    sorted by delay; delay of synapse s is ``syn_delay[s + shift]``, ticks; its weight ``weight``, or
    ``syn_weight[s + weight_shift]`` when NaN): one run per distinct delay, in the slot of its
    arrival window. O(hi - lo); returns the calendar (its pool may grow)."""
    # NOTE: room for a new block per run first, so that the loop below works on plain arrays; the
    # loop is written out: through an inlined helper it ran 10x slower (~190 against ~20 ns a run)
    cal = _reserve(cal, c.cal_blocks + hi - lo)
    streams = cal.etot.size > 0
    if streams:
        cal = _ereserve(cal, cal.emeta[1] + hi - lo)
    # NOTE: borrowed (the room is made above, nothing regrows them below, cal owns them): indexed
    # without wraparound (engine/borrowed.py)
    runs, link, fill, slot = borrowed((cal.runs, cal.link, cal.fill, cal.slot))
    epool, elink, ehead, etail, ecnt, etot, emeta = borrowed((cal.epool, cal.elink, cal.ehead, cal.etail, cal.ecnt,
                                                              cal.etot, cal.emeta))
    W = c.window
    R = slot.shape[0]
    nbk = ecnt.size // R  # buckets
    bsh = c.bucket_shift
    s = lo
    k = (tick + syn_delay[s + shift]) // W
    edge = (k + 1) * W  # NOTE: rows are sorted by delay: the arrival window only grows, no division per run
    slot_k = k % R
    n = 0
    while s < hi:
        d = syn_delay[s + shift]
        e = s + 1
        while e < hi and syn_delay[e + shift] == d:
            e += 1
        arrive = tick + d
        while arrive >= edge:
            edge += W
            slot_k = slot_k + 1 if slot_k + 1 < R else 0
        if streams and e == s + 1:  # one synapse: into the stream of (slot, its target's bucket)
            i = np.int64(syn_target[s])
            x = slot_k * nbk + (i >> bsh)
            m = ecnt[x]
            if m & _EMASK == 0:  # the stream's last block is full (or it has none)
                nb_ = emeta[0]
                if nb_ >= 0:
                    emeta[0] = elink[nb_]
                else:
                    nb_ = emeta[1]
                    emeta[1] = nb_ + 1
                elink[nb_] = -1
                if m == 0:
                    ehead[x] = nb_
                else:
                    elink[etail[x]] = nb_
                etail[x] = nb_
            p = etail[x] * EB + (m & _EMASK)
            # NOTE: the stream's next line, written when the stream next gets an entry (one of a
            # few hundred streams): its write-allocate miss was where push_row waited
            prefetch_write(epool, p + 3)
            en = epool[p]
            en.key = ((arrive - edge + W) << 32) | i
            en.frac = frac
            en.w = weight if not np.isnan(weight) else syn_weight[s + weight_shift]
            ecnt[x] = m + 1
            etot[slot_k] += 1
            n += 1
            s = e
            continue
        b = slot_block(slot, fill, link, c, slot_k)  # the slot's last block, or a new one
        q = fill[b]
        r = runs[b * BLOCK + q]
        fill[b] = q + 1
        r.tick, r.frac, r.lo = arrive, frac, s
        if e == s + 1:  # one synapse: its target and weight, read here in row order
            r.w = weight if not np.isnan(weight) else syn_weight[s + weight_shift]
            r.n, r.aux = 1, syn_target[s]
        else:
            r.w, r.n, r.aux = weight, e - s, proj
        n += 1
        s = e
    # a lap or more ahead of the current window (the longest delay is last): slots may hold later laps
    if tick + syn_delay[hi - 1 + shift] >= (c.now // W + R) * W:
        c.cal_laps = 1
    c.cal_n += n
    c.cal_pushes += n
    return cal


@njit(inline="always", **_OPTS)
def reset_window(c, k):
    """Make window k the calendar's open window with nothing due yet: :func:`open_window`'s first step,
    and all of it for a network without per-synapse delays (its calendar stays empty)."""
    c.cal_window = k
    c.due_n = 0
    c.due_p = 0
    c.cal_sorted = 1
    c.due_in_slot = 0


@njit(**_OPTS)
def open_window(cal, c, k):
    """Open window k (the previous window's runs must all be taken): its runs before the window's
    end become due, left in their slot (``ctl.due_in_slot``) for the buckets to take
    (:func:`eventsim.engine.buckets.fill_due`, then :func:`release_taken`), or moved into the due
    list first for direct delivery (:func:`due_list`). O(blocks of the slot); O(runs in it) once a
    run was queued a lap or more ahead (``ctl.cal_laps``: the ring is shorter than the delays)."""
    reset_window(c, k)
    R = cal.slot.shape[0]
    s = k % R
    ne = cal.etot[s] if cal.etot.size > 0 else 0
    if cal.slot[s, 0] < 0 and ne == 0:
        return cal
    end = (k + 1) * c.window
    m = ne  # the streams' entries (streams: no later laps)
    b = cal.slot[s, 0]
    while b >= 0:
        if not c.cal_laps:  # every run of the slot arrives in this window
            m += cal.fill[b]
        else:
            for q in range(b * BLOCK, b * BLOCK + cal.fill[b]):
                m += cal.runs[q].tick < end
        b = cal.link[b]
    c.cal_n -= m
    c.due_n = m
    c.due_in_slot = 1
    c.cal_sorted = 0
    return cal


@njit(**_OPTS)
def due_list(cal, c):
    """Move the open window's due runs still in its slot into the due list (unsorted: the order they
    were queued); the slot keeps its runs of later laps. Returns the calendar. O(runs in the slot)."""
    cal = spill_streams(cal, c)
    s = c.cal_window % cal.slot.shape[0]
    end = (c.cal_window + 1) * c.window
    n = 0
    b = cal.slot[s, 0]
    while b >= 0:
        n += cal.fill[b]
        b = cal.link[b]
    cal = _room(cal, n)
    runs, due = cal.runs, cal.due
    m = 0
    b = cal.slot[s, 0]
    while b >= 0:
        for q in range(b * BLOCK, b * BLOCK + cal.fill[b]):
            if runs[q].tick < end:
                due[m] = runs[q]
                m += 1
        b = cal.link[b]
    if n > 0:
        _keep_later_laps(cal, c, s, end, m < n)
    c.due_n = m
    c.due_p = 0
    c.due_in_slot = 0
    c.cal_sorted = 0
    return cal


@njit(**_OPTS)
def release_taken(cal, c, t_end, taken):
    """Bucket delivery took the open window's ``taken`` runs before ``t_end`` straight from its slot:
    the slot keeps its other runs (those of a window cut by a stop time, and of later laps), the
    blocks left over are freed."""
    s = c.cal_window % cal.slot.shape[0]
    n = 0
    b = cal.slot[s, 0]
    while b >= 0:
        n += cal.fill[b]
        b = cal.link[b]
    if n > 0:
        _keep_later_laps(cal, c, s, t_end, taken < n)
    c.due_n -= taken


@njit(**_OPTS)
def spill_streams(cal, c):
    """Move the open window's stream entries into its slot's chain as one-synapse runs (for direct
    delivery, or a window cut by a stop time: the runs' paths handle both); returns the calendar.
    O(entries); the counts (``cal_n``, ``due_n``) stay."""
    if cal.etot.size == 0:
        return cal
    R = cal.slot.shape[0]
    s = c.cal_window % R
    ne = cal.etot[s]
    if ne == 0:
        return cal
    cal = _reserve(cal, c.cal_blocks + ne // BLOCK + 2)
    runs, link, fill, slot = cal.runs, cal.link, cal.fill, cal.slot
    epool, elink, ehead, ecnt = cal.epool, cal.elink, cal.ehead, cal.ecnt
    nb = ecnt.size // R
    t0 = c.cal_window * c.window
    for bk in range(nb):
        x = s * nb + bk
        blk = ehead[x]
        for q in range(ecnt[x]):
            if q > 0 and q & _EMASK == 0:
                blk = elink[blk]
            en = epool[blk * EB + (q & _EMASK)]
            b = slot_block(slot, fill, link, c, s)
            r = runs[b * BLOCK + fill[b]]
            fill[b] += 1
            i = en.key & _INDEX
            r.tick, r.frac, r.w, r.lo, r.n, r.aux = t0 + (en.key >> 32), en.frac, en.w, cal.tsyn[i], 1, i
    free_streams(cal, s)
    return cal


@njit(**_OPTS)
def prefetch_stream(epool, elink, b, q, m):
    """Prefetch the entries ``q:m`` of a stream, entry q (a multiple of 8) in its block b: its blocks
    are scattered in the pool, where the hardware prefetchers do not follow them."""
    while q < m:
        prefetch_stream_8(epool, b, q)
        q += 8
        if q & _EMASK == 0 and q < m:
            b = elink[b]


@njit(inline="always", **_OPTS)
def prefetch_stream_8(epool, b, q):
    """Prefetch the 8 entries (3 lines: 192 bytes, blocks start on a line) of a stream from its q-th
    (a multiple of 8), in its block b."""
    r = b * EB + (q & _EMASK)
    prefetch_read(epool, r)
    prefetch_read(epool, r + 3)
    prefetch_read(epool, r + 6)


@njit(**_OPTS)
def free_streams(cal, s):
    """Empty the streams of slot s, their blocks returned to the free list; returns its entries. O(buckets)."""
    R = cal.slot.shape[0]
    nb = cal.ecnt.size // R
    elink, ehead, etail, ecnt, emeta = cal.elink, cal.ehead, cal.etail, cal.ecnt, cal.emeta
    for x in range(s * nb, (s + 1) * nb):
        if ecnt[x] > 0:
            elink[etail[x]] = emeta[0]
            emeta[0] = ehead[x]
            ehead[x] = -1
            etail[x] = -1
            ecnt[x] = 0
    ne = cal.etot[s]
    cal.etot[s] = 0
    return ne


@njit(**_OPTS)
def sort_due(cal, c):
    """Sort the due runs not yet taken by time, for direct delivery: keys ``(tick - window start) << 32
    | index`` radix-sorted, the runs copied once in that order (through ``spare``, then swapped with
    ``due``), equal ticks ordered by frac. Returns the calendar."""
    p0, n = c.due_p, c.due_n - c.due_p
    t0 = c.cal_window * c.window
    keys, due = cal.keys, cal.due
    for q in range(n):
        keys[q] = ((due[p0 + q].tick - t0) << 32) | q
    radix_sort(keys, cal.tmp, n, np.int64(32), tick_bits(c.window))
    spare = cal.spare if cal.spare.size >= cal.due.size else np.empty(cal.due.size, cal.due.dtype)
    for q in range(n):
        spare[p0 + q] = due[p0 + (keys[q] & _INDEX)]
    _order_equal_ticks(spare[p0:], n)
    c.cal_sorted = 1
    return Calendar(cal.runs, cal.link, cal.fill, cal.slot, spare, cal.keys, cal.tmp, due, cal.epool, cal.elink,
                    cal.ehead, cal.etail, cal.ecnt, cal.etot, cal.emeta, cal.tsyn)


@njit(**_OPTS)
def _room(cal, n):
    """The calendar with room for n due runs (keys, the radix buffer, the due list)."""
    if n <= cal.keys.size:
        return cal
    m = max(n, 2 * cal.keys.size)
    return Calendar(cal.runs, cal.link, cal.fill, cal.slot, np.empty(m, cal.due.dtype), np.empty(m, np.int64),
                    np.empty(m, np.int64), cal.spare[:0], cal.epool, cal.elink, cal.ehead, cal.etail, cal.ecnt,
                    cal.etot, cal.emeta, cal.tsyn)


@njit(**_OPTS)
def _keep_later_laps(cal, c, s, end, any_kept):
    """Empty slot s of its runs before ``end`` (taken): keep its runs of later laps, written back
    from the chain's start, and free the blocks left over."""
    runs, link, fill = cal.runs, cal.link, cal.fill
    first = cal.slot[s, 0]
    kb, kept = first, 0
    if any_kept:
        b = first
        while b >= 0:
            for q in range(b * BLOCK, b * BLOCK + fill[b]):
                if runs[q].tick >= end:
                    if kept == BLOCK:
                        kb = link[kb]
                        kept = 0
                    runs[kb * BLOCK + kept] = runs[q]
                    kept += 1
            b = link[b]
    if kept == 0:
        free_from = first
        cal.slot[s, 0] = -1
        cal.slot[s, 1] = -1
    else:
        free_from = link[kb]
        link[kb] = -1
        fill[kb] = kept
        cal.slot[s, 1] = kb
    b = free_from
    while b >= 0:
        nxt = link[b]
        link[b] = c.cal_free
        c.cal_free = b
        b = nxt


@njit(inline="always", **_OPTS)
def tick_bits(W):
    """Bits of a tick offset within a window of W ticks. The window is never longer than the
    shortest delay, and per-synapse delays are int32 ticks, so offsets fit in 31 bits, above the 32
    of an index in a sort key."""
    bits = 0
    while (np.int64(1) << bits) < W:
        bits += 1
    return bits


@njit(**_OPTS)
def radix_sort(keys, tmp, n, shift, bits):
    """LSD radix sort of ``keys[:n]`` by their bits ``[shift, shift + bits)``, in place (``tmp``: as
    many scratch slots), in ``ceil(bits / 11)`` passes of equal digits."""
    passes = (bits + _DIGIT - 1) // _DIGIT
    if passes == 0:
        return
    digit = (bits + passes - 1) // passes
    cnt = np.empty(1 << digit, np.int64)
    mask = (1 << digit) - 1
    src, dst = keys, tmp
    for t in range(passes):
        sh = shift + t * digit
        cnt[:] = 0
        for q in range(n):
            cnt[(src[q] >> sh) & mask] += 1
        total = 0
        for d in range(cnt.size):
            m = cnt[d]
            cnt[d] = total
            total += m
        for q in range(n):
            x = src[q]
            d = (x >> sh) & mask
            dst[cnt[d]] = x
            cnt[d] += 1
        src, dst = dst, src
    if passes % 2 == 1:
        keys[:n] = tmp[:n]


@njit(**_OPTS)
def _order_equal_ticks(due, n):
    """Within stretches of equal ticks (short: continuous times rarely share a tick), order by frac."""
    for q in range(1, n):
        if due[q - 1].tick != due[q].tick or due[q - 1].frac <= due[q].frac:
            continue
        x = due[q]
        tick, frac, w, lo, n_x, aux = x.tick, x.frac, x.w, x.lo, x.n, x.aux
        p = q
        while p > 0 and due[p - 1].tick == tick and due[p - 1].frac > frac:
            due[p] = due[p - 1]
            p -= 1
        y = due[p]
        y.tick, y.frac, y.w, y.lo, y.n, y.aux = tick, frac, w, lo, n_x, aux


@njit(inline="always", **_OPTS)
def due_run(cal, p):
    """The p-th due run in time order (a RUN record)."""
    return cal.due[p]


@njit(inline="always", **_OPTS)
def due_first(cal, c, kind, tick, frac):
    """True when the next due run comes before the event ``kind`` at (tick, frac): strictly before
    it, or at its time when it is a voltage sample (inputs come before samples)."""
    if c.due_p >= c.due_n:
        return False
    r = due_run(cal, c.due_p)
    if time_lt(r.tick, r.frac, tick, frac):
        return True
    return kind == SAMPLE and r.tick == tick and r.frac == frac


@njit(**_OPTS)
def next_window(cal, c, k):
    """The first window after k whose slot holds runs (a lower bound when slots hold later laps),
    or -1 when the calendar is empty; O(slots)."""
    if c.cal_n == 0:
        return -1
    R = cal.slot.shape[0]
    streams = cal.etot.size > 0
    for m in range(1, R + 1):
        s = (k + m) % R
        if cal.slot[s, 0] >= 0 or (streams and cal.etot[s] > 0):
            return k + m
    return -1


@njit(**_OPTS)
def calendar_check(cal, c):
    """True when the calendar's invariants hold (tests): every block in exactly one chain or the free
    list, chains' fills in range, ``cal_n`` their total (with the open window's due runs where
    they are still in its slot), the due list's runs not yet taken sorted by time when
    ``ctl.cal_sorted`` says so."""
    seen = np.zeros(c.cal_blocks, np.int64)
    total = 0
    R = cal.slot.shape[0]
    for s in range(R):
        b = cal.slot[s, 0]
        last = -1
        while b >= 0:
            if seen[b]:
                return False
            seen[b] = 1
            n_b = cal.fill[b]
            if n_b < 0 or n_b > BLOCK or (n_b == 0 and cal.link[b] >= 0):
                return False
            for q in range(b * BLOCK, b * BLOCK + n_b):
                if (cal.runs[q].tick // c.window) % R != s:
                    return False
            total += n_b
            last = b
            b = cal.link[b]
        if last != cal.slot[s, 1]:
            return False
    b = c.cal_free
    while b >= 0:
        if seen[b]:
            return False
        seen[b] = 1
        b = cal.link[b]
    if cal.etot.size > 0:  # the streams: chains of full blocks but the last, counts per slot, a free list
        nb = cal.ecnt.size // R
        eseen = np.zeros(cal.emeta[1], np.int64)
        for s in range(R):
            tot = 0
            for x in range(s * nb, (s + 1) * nb):
                m = cal.ecnt[x]
                tot += m
                if m == 0:
                    if cal.ehead[x] != -1 or cal.etail[x] != -1:
                        return False
                    continue
                b = cal.ehead[x]
                last = -1
                for _ in range((m + EB - 1) // EB):
                    if b < 0 or eseen[b]:
                        return False
                    eseen[b] = 1
                    last = b
                    b = cal.elink[b]
                if b != -1 or last != cal.etail[x]:
                    return False
                b = cal.ehead[x]
                for q in range(m):  # entries of the stream's bucket, offsets within a window
                    if q > 0 and q & _EMASK == 0:
                        b = cal.elink[b]
                    key = cal.epool[b * EB + (q & _EMASK)].key
                    if (key >> 32) >= c.window or ((key & _INDEX) >> c.bucket_shift) != x - s * nb:
                        return False
            if tot != cal.etot[s]:
                return False
            total += tot
        b = cal.emeta[0]
        while b >= 0:
            if eseen[b]:
                return False
            eseen[b] = 1
            b = cal.elink[b]
        if eseen.sum() != cal.emeta[1]:
            return False
    if total != c.cal_n + (c.due_n - c.due_p if c.due_in_slot else 0) or seen.sum() != c.cal_blocks:
        return False
    if c.due_in_slot or not c.cal_sorted:
        return True
    for p in range(c.due_p + 1, c.due_n):
        a, r = due_run(cal, p - 1), due_run(cal, p)
        if time_lt(r.tick, r.frac, a.tick, a.frac):
            return False
    return True
