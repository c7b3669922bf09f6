"""The calendar of delivery runs (eventsim.engine.calendar) on its own: hypothesis stress test of
queueing rows and opening windows, with ``calendar_check`` after every mutation."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.engine import calendar as C
from eventsim.engine.records import CTL

W = 1000  # window, ticks

rows = st.lists(st.integers(W, 40 * W), min_size=1, max_size=12).map(sorted)
ops = st.lists(
    st.one_of(st.tuples(st.just("push"), st.integers(0, 3 * W), st.sampled_from([0.0, 0.25, 0.5, 0.75]), rows),
              st.tuples(st.just("open"), st.integers(1, 3))),
    max_size=60,
)


def fresh(slots):
    c = np.zeros(1, CTL)
    c["window"] = W
    c["cal_free"] = -1
    c["cal_window"] = -1
    return C.make_calendar(slots), c


@settings(max_examples=80, deadline=None)
@given(ops, st.sampled_from([1, 3, 8, 64]))
def test_runs_come_out_by_window_and_time(operations, slots):
    """Every queued run comes out once, in the window it arrives in, the due list sorted by time;
    with fewer slots than windows ahead, runs of later laps wait in their slot."""
    cal, c = fresh(slots)
    ctl = c[0]
    pending = []  # (tick, frac, w, lo, n, aux)
    window = 0  # the next window to open; spikes are emitted in the window before it
    proj = 0
    for op in operations:
        if op[0] == "push":
            _, offset, frac, delays = op
            tick = max(window - 1, 0) * W + offset % W  # a spike of the last window opened
            d = np.array(delays, np.int32)
            targets = np.arange(100, 100 + d.size, dtype=np.int32)
            weights = np.linspace(-1.0, 1.0, d.size + 3)
            proj += 1
            weight = np.nan if proj % 2 else 0.5  # per synapse (at s + 3) or the projection's
            cal = C.push_row(cal, ctl, np.int64(tick), frac, np.int64(proj % 7), np.int64(0), np.int64(d.size), d,
                             np.int64(0), targets, weights, weight, np.int64(3))
            lo = 0
            while lo < d.size:  # one run per distinct delay; one synapse: its target and weight
                n = int(np.sum(d[lo:] == d[lo]))
                if n == 1:
                    run = (float(weights[lo + 3]) if proj % 2 else 0.5, lo, 1, int(targets[lo]))
                else:
                    run = (weight, lo, n, proj % 7)
                pending.append((tick + int(d[lo]), frac, *run))
                lo += n
        else:
            for _ in range(op[1]):
                cal = C.open_window(cal, ctl, np.int64(window))
                assert C.calendar_check(cal, ctl)
                cal = C.due_list(cal, ctl)
                assert C.calendar_check(cal, ctl)
                if window % 2:  # the buckets take the runs as queued, direct delivery sorted
                    cal = C.sort_due(cal, ctl)
                    assert ctl["cal_sorted"] and C.calendar_check(cal, ctl)
                due = [C.due_run(cal, p) for p in range(ctl["due_n"])]
                got = [(int(r["tick"]), float(r["frac"]), float(r["w"]), int(r["lo"]), int(r["n"]), int(r["aux"]))
                       for r in due]
                want = [x for x in pending if x[0] // W == window]
                assert sorted(map(repr, got)) == sorted(map(repr, want))  # repr: NaN weights compare equal
                if window % 2:
                    assert [x[:2] for x in got] == sorted(x[:2] for x in got)
                pending = [x for x in pending if x[0] // W != window]
                ctl["due_p"] = ctl["due_n"]  # taken
                window += 1
        assert C.calendar_check(cal, ctl)
        assert ctl["cal_n"] == len(pending)


def test_slot_count():
    assert C.slot_count(0, W) == 1
    assert C.slot_count(W, W) == 3
    assert C.slot_count(2147 * 10**6, 10**5) == C.MAX_SLOTS


def test_radix_sort_orders_long_windows():
    """The longest window (the longest int32 delay, 2**31 - 1 ticks) sorts in three radix passes;
    equal ticks are ordered by frac."""
    g = np.random.default_rng(1)
    n = 5000
    W_max = 2**31 - 1
    cal, c = fresh(4)
    ctl = c[0]
    ctl["window"] = W_max
    ticks = np.sort(g.integers(0, W_max, n))
    ticks[::7] = ticks[0]  # many equal ticks
    d = np.array([1], np.int32)
    for t in g.permutation(ticks):
        cal = C.push_row(cal, ctl, np.int64(t + W_max - 1), float(g.random()), np.int64(0), np.int64(0), np.int64(1),
                         d, np.int64(0), np.zeros(1, np.int32), np.zeros(1), 1.0, np.int64(0))
    cal = C.sort_due(C.due_list(C.open_window(cal, ctl, np.int64(1)), ctl), ctl)
    assert ctl["due_n"] == n
    assert C.calendar_check(cal, ctl)


def test_order_timed_sorts_a_buckets_deliveries_and_merges_them_with_its_items():
    """A bucket's calendar entries come out sorted by (tick, frac), weights moved with them; equal
    times share a time index, an item's where one has that time; merged with the items: at one time
    after a current change, beside inputs, before a sample."""
    from eventsim.engine import buckets as B
    from eventsim.engine.clock import frame_exp
    from eventsim.engine.records import CURRENT, GROUP, INPUTS, SAMPLE, WTIME

    c = np.zeros(1, CTL)
    c["window"], c["cal_window"], c["base"], c["win_times"] = W, 3, 2500, 3
    item_times = [(3100, 0.5), (3200, 0.0), (3300, 0.25)]
    grp = np.zeros(3, GROUP)
    grp["ti"], grp["kind"] = [0, 1, 2], [CURRENT, INPUTS, SAMPLE]
    cal_times = [(3300, 0.25), (3100, 0.5), (3050, 0.9), (3050, 0.1), (3200, 0.0), (3050, 0.1), (3999, 0.0)]
    n = 3 + len(cal_times)
    ent = np.array([5 << 32 | g for g in range(3)] + [7 << 32 | int(B.TIMED)] * len(cal_times), np.int64)
    ent_w = np.array([np.nan] * 3 + [float(q + 1) for q in range(len(cal_times))])
    times = np.zeros(3 + n, WTIME)
    for k, (t, f) in enumerate(item_times + [(0, 0.0)] * 3 + cal_times):
        times[k] = (t, f)
    time_E = np.zeros(3 + n)
    cls_q = np.array([1 / 20e6])
    B.order_timed(ent, ent_w, times, time_E, grp, 0, n, c[0], cls_q)
    got = []
    for j in range(n):
        x = int(ent[j])
        if x & int(B.TIMED):
            ti = x & int(B.TI_MASK)
            got.append(("cal", (int(times[ti]["tick"]), float(times[ti]["frac"])), ti, ent_w[j]))
            assert x >> 32 == 7
            if ti >= 3:
                assert time_E[ti] == frame_exp(np.int64(times[ti]["tick"]), times[ti]["frac"], np.int64(2500), cls_q[0])
        else:
            g = x & 0xFFFFFFFF
            got.append((int(grp[g]["kind"]), item_times[g], g, None))
    kinds = [k for k, *_ in got]
    assert kinds == ["cal", "cal", "cal", CURRENT, "cal", INPUTS, "cal", "cal", SAMPLE, "cal"] or \
        kinds == ["cal", "cal", "cal", CURRENT, "cal", "cal", INPUTS, "cal", SAMPLE, "cal"]
    cal = [(t, ti, w) for k, t, ti, w in got if k == "cal"]
    assert [t for t, _, _ in cal] == sorted(t for t, _, _ in cal)
    assert sorted(w for _, _, w in cal) == [float(q + 1) for q in range(len(cal_times))]
    for (t, ti, w) in cal:
        assert cal_times[int(w) - 1] == t  # the weight travelled with its time
        if t in item_times:
            assert ti == item_times.index(t)  # an item's time index: one batch with it
    assert cal[0][1] == cal[1][1]  # equal times, one index


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 40), st.integers(0, 700), st.sampled_from([1, 8, 64]))
def test_calendar_by_neuron_is_order_calendar_then_the_sort_by_neuron(seed, n_due, n_stream, nl):
    """A bucket of calendar entries only (some written by fill_due into ``ent``, the rest in its stream,
    over several blocks of the pool), put into neuron order in one sort: each neuron gets the same
    entries, times and weights, in time order, as order_calendar followed by the sort by neuron; a
    neuron's equal times share one time index (one batch), each index's E is the frame exponential."""
    from eventsim.engine import buckets as B
    from eventsim.engine.clock import frame_exp
    from eventsim.engine.neuron_pass import sort_by_neuron
    from eventsim.engine.records import GROUP, WTIME

    g = np.random.default_rng(seed)
    m = n_due + n_stream
    if m == 0:
        return
    i0, n_t, t0 = 3 * nl, 2, 5 * W
    c = np.zeros(1, CTL)
    c["window"], c["cal_window"], c["base"], c["win_times"] = W, 5, 4321, n_t
    few_ticks = g.integers(0, W, 6)  # repeated times: within one neuron (one batch) and across neurons
    tgt = g.integers(i0, i0 + nl, m)
    tick = np.where(g.random(m) < 0.3, g.choice(few_ticks, m), g.integers(0, W, m)) + t0
    frac = np.where(g.random(m) < 0.5, 0.0, g.random(m))
    w = g.normal(size=m)
    j0 = 4  # the bucket's entries start here in ent
    j1 = j0 + m

    def fresh_arrays():  # the bucket's entries, weights, times and a table of E per time index
        ent = np.full(j1 + 3, -1, np.int64)
        ent_w = np.full(j1 + 3, np.nan)
        times = np.zeros(n_t + j1 + 3, WTIME)
        for q in range(n_due):  # fill_due's entries: in ent, their times at n_t + j
            ent[j0 + q] = (int(tgt[q]) << 32) | int(B.TIMED)
            ent_w[j0 + q] = w[q]
            times[n_t + j0 + q] = (tick[q], frac[q])
        return ent, ent_w, times, np.zeros((n_t + j1 + 3) * n_cls)

    # the stream: blocks 2, 0, 1 of the pool chained in that order
    epool = np.zeros(3 * C.EB, C.ENTRY)
    elink = np.array([1, -1, 0], np.int64)
    order = [2, 0, 1]
    for s in range(n_stream):
        q = n_due + s
        e = epool[order[s // C.EB] * C.EB + s % C.EB]
        e["key"], e["frac"], e["w"] = ((int(tick[q]) - t0) << 32) | int(tgt[q]), frac[q], w[q]
    cls_q = np.array([1 / 20e6, 1 / 10e6])
    n_cls = cls_q.size

    ent, ent_w, times, time_E = fresh_arrays()
    cnt = np.zeros(nl + 1, np.int64)
    s_ent, s_w = np.zeros(m, np.int64), np.zeros(m)
    B.calendar_by_neuron(ent, ent_w, times, time_E, j0, j1, c[0], cls_q, epool, elink, 2 if n_stream else -1,
                         n_stream, -1, 0, 0, i0, cnt, s_ent, s_w)
    ent2, ent_w2, times2, time_E2 = fresh_arrays()
    B.order_calendar(ent2, ent_w2, times2, time_E2, np.zeros(0, GROUP), j0, j1, c[0], cls_q, epool, elink,
                     2 if n_stream else -1, n_stream, -1, 0, 0)
    cnt2 = np.zeros(nl + 1, np.int64)
    s_ent2, s_w2 = np.zeros(m, np.int64), np.zeros(m)
    sort_by_neuron(ent2, ent_w2, j0, j1, i0, cnt2, s_ent2, s_w2, True)

    assert list(cnt) == list(cnt2) and cnt[-1] == m
    for l in range(nl):
        a, b = cnt[l], cnt[l + 1]
        got, want = [], []
        for x, wt, tm, E, out in ((s_ent, s_w, times, time_E, got), (s_ent2, s_w2, times2, time_E2, want)):
            for p in range(a, b):
                assert int(x[p]) >> 32 == i0 + l and int(x[p]) & int(B.TIMED)
                ti = int(x[p]) & int(B.TI_MASK)
                out.append(((int(tm[ti]["tick"]), float(tm[ti]["frac"])), ti, float(wt[p])))
                for k in range(n_cls):
                    assert E[ti * n_cls + k] == frame_exp(np.int64(tm[ti]["tick"]), tm[ti]["frac"], np.int64(4321),
                                                          cls_q[k])
        assert [t for t, _, _ in got] == [t for t, _, _ in want] == sorted(t for t, _, _ in got)
        # one batch per distinct time of the neuron, the same weights in it
        for seq in (got, want):
            for (ta, ia, _), (tb, ib, _) in zip(seq, seq[1:]):
                assert (ta == tb) == (ia == ib)
        by_time = {}
        for t, _, wt in got:
            by_time.setdefault(t, []).append(wt)
        for t, _, wt in want:
            by_time[t].remove(wt)
        assert all(not v for v in by_time.values())
