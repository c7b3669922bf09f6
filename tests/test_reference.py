"""The reference engine against closed forms of the LIF neuron and the rules of docs/semantics.md.

Networks are built by hand as :class:`Prepared` arrays (``make_prepared``), so these tests depend
on nothing but the engine, the timebase and the RNG.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsim.errors import ValidationError
from eventsim.prepared import Prepared
from eventsim.reference import ReferenceEngine, add_ms
from eventsim.rng import PURPOSE_POISSON, exponential_gap, stream_keys
from eventsim.timebase import time_to_ms

MS = 1_000_000  # ticks per ms

# Default neuron: rest -65 mV, threshold 15 mV above it, R_m = tau_m / C_m = 0.04 GOhm.
DEFAULTS = dict(C_m=250.0, tau_m=10.0, E_L=-65.0, V_th=-50.0, V_reset=-70.0, V_init=-65.0, I_e=0.0, t_ref=2 * MS)


def _csr(pop_start, projections):
    """Connectivity arrays of ``Prepared`` for projections given as lists of synapses.

    Each projection is a dict with ``pre``, ``post`` (population indices), ``synapses`` (list of
    ``(k, target, weight_mV, delay_ticks)`` with ``k`` the source's index in ``pre``) and optional
    ``per_synapse_weight`` / ``per_synapse_delay`` flags (otherwise all synapses must share it).
    """
    P = len(pop_start) - 1
    out = {k: [] for k in ("pre", "post", "rp_start", "rowptr", "target", "w", "w_shift", "syn_w",
                           "d", "d_shift", "syn_d")}
    for pr in projections:
        pre, post = pr["pre"], pr["post"]
        n_pre = pop_start[pre + 1] - pop_start[pre]
        per_d = pr.get("per_synapse_delay", False)
        syns = sorted(pr["synapses"], key=lambda s: (s[0], s[3], s[1]) if per_d else (s[0], s[1]))
        lo = len(out["target"])
        out["pre"].append(pre)
        out["post"].append(post)
        out["rp_start"].append(len(out["rowptr"]))
        counts = np.bincount([s[0] for s in syns], minlength=n_pre)
        out["rowptr"].extend((lo + np.concatenate([[0], np.cumsum(counts)])).tolist())
        out["target"].extend(s[1] for s in syns)
        for flag, idx, scalar, shift, per_syn in (("per_synapse_weight", 2, "w", "w_shift", "syn_w"),
                                                  ("per_synapse_delay", 3, "d", "d_shift", "syn_d")):
            values = [s[idx] for s in syns]
            if pr.get(flag, False):
                out[scalar].append(np.nan if scalar == "w" else -1)
                out[shift].append(len(out[per_syn]) - lo)
                out[per_syn].extend(values)
            else:
                assert len(set(values)) <= 1, "shared weight/delay expected"
                out[scalar].append(values[0] if values else (0.0 if scalar == "w" else 1))
                out[shift].append(0)
    pop_proj = [[j for j, pr in enumerate(projections) if pr["pre"] == p] for p in range(P)]
    return dict(
        proj_pre_pop=np.array(out["pre"], np.int32),
        proj_post_pop=np.array(out["post"], np.int32),
        proj_rowptr_start=np.array(out["rp_start"], np.int64),
        rowptr=np.array(out["rowptr"], np.int64),
        syn_target=np.array(out["target"], np.int32),
        proj_weight=np.array(out["w"], np.float64),
        proj_weight_shift=np.array(out["w_shift"], np.int64),
        syn_weight=np.array(out["syn_w"], np.float64),
        proj_delay=np.array(out["d"], np.int64),
        proj_delay_shift=np.array(out["d_shift"], np.int64),
        syn_delay=np.array(out["syn_d"], np.int32),
        pop_proj_ptr=np.array([0] + np.cumsum([len(p) for p in pop_proj]).tolist(), np.int64),
        pop_proj=np.array([j for p in pop_proj for j in p], np.int32),
    )


def _events(rows, names, dtypes):
    """Columns of (tick, frac, target, value) rows, sorted by (tick, frac, target), stable."""
    rows = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
    return {name: np.array([r[c] for r in rows], dt) for c, (name, dt) in enumerate(zip(names, dtypes))}


def make_prepared(sizes=(1,), *, projections=(), poisson=(), arrivals=(), currents=(), samples=(),
                  record=True, **neuron) -> Prepared:
    """A checked ``Prepared``: empty arrays of the right dtypes, overridden by the arguments.

    ``neuron`` overrides ``DEFAULTS`` with a scalar or a per-neuron sequence. ``poisson`` rows are
    ``(target, rate_per_ms, weight, start_tick, stop_tick, key)``; ``arrivals`` and ``currents``
    rows ``(tick, frac, target, weight_or_delta)``; ``samples`` rows ``(tick, frac, target)`` with
    slot = position in the list.
    """
    pop_start = [0] + np.cumsum(sizes).tolist()
    n = pop_start[-1]
    fields = {}
    for name, default in DEFAULTS.items():
        dtype = np.int64 if name == "t_ref" else np.float64
        fields[name] = np.broadcast_to(np.asarray(neuron.pop(name, default), dtype), (n,)).copy()
    assert not neuron, f"unknown overrides {sorted(neuron)}"
    ps = sorted(poisson, key=lambda r: r[0])  # sorted by target, stable: (target, generator)
    ps_target = np.array([r[0] for r in ps], np.int64)
    slots = [(t, f, i, slot) for slot, (t, f, i) in enumerate(samples)]
    prepared = Prepared(
        pop_names=tuple(f"p{k}" for k in range(len(sizes))),
        pop_start=np.array(pop_start, np.int64),
        **fields,
        **_csr(pop_start, list(projections)),
        ps_target=ps_target,
        ps_rate=np.array([r[1] for r in ps], np.float64),
        ps_weight=np.array([r[2] for r in ps], np.float64),
        ps_start=np.array([r[3] for r in ps], np.int64),
        ps_stop=np.array([r[4] for r in ps], np.int64),
        ps_key=np.array([r[5] for r in ps], np.uint64),
        neuron_ps_ptr=np.searchsorted(ps_target, np.arange(n + 1)).astype(np.int64),
        **_events(arrivals, ("sa_tick", "sa_frac", "sa_target", "sa_weight"),
                  (np.int64, np.float64, np.int64, np.float64)),
        **_events(currents, ("cc_tick", "cc_frac", "cc_target", "cc_delta"),
                  (np.int64, np.float64, np.int64, np.float64)),
        **_events(slots, ("vs_tick", "vs_frac", "vs_target", "vs_slot"),
                  (np.int64, np.float64, np.int64, np.int64)),
        record_spikes=np.full(n, record, np.bool_),
    )
    prepared._check()
    return prepared


def run(prepared, *stops):
    """A reference engine advanced to each stop tick in turn (checking invariants after each)."""
    eng = ReferenceEngine(prepared)
    eng._check()
    for stop in stops:
        eng.advance(stop)
        eng._check()
    return eng


def spike_ms(eng, neuron=None):
    ids, ticks, fracs = eng.spikes()
    keep = np.ones(ids.size, bool) if neuron is None else ids == neuron
    return time_to_ms(ticks[keep], fracs[keep])


def v_free(v0, v_inf, t_ms, tau=10.0):
    """Closed-form free LIF evolution over t_ms from v0."""
    return v_inf + (v0 - v_inf) * math.exp(-t_ms / tau)


def crossing_ms(v0, v_inf, v_th=-50.0, tau=10.0):
    """Time in ms for a neuron at v0 to reach v_th under constant drive towards v_inf > v_th."""
    return tau * math.log((v_inf - v0) / (v_inf - v_th))


# ---------------------------------------------------------------------------------------------
# Constant current: period and crossings
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("t_ref_ms", [2.0, 0.0])
def test_regular_firing_period(t_ref_ms):
    v_inf = -45.0  # I_e = 500 pA
    eng = run(make_prepared(I_e=500.0, V_init=-70.0, t_ref=round(t_ref_ms * MS)), 2000 * MS)
    first = crossing_ms(-70.0, v_inf)
    period = t_ref_ms + first
    t = spike_ms(eng)
    assert t.size >= 100
    assert abs((t[-1] - t[0]) / (t.size - 1) - period) <= 1e-9 * period
    expected = first + period * np.arange(t.size)
    assert np.max(np.abs(t - expected)) <= 1e-9
    assert eng.counters == {"syn_events": 0, "ext_events": 0, "discarded": 0,
                            "spikes": t.size, "crossing_spikes": t.size}


def test_inhibitory_input_delays_crossing():
    v_inf = -45.0
    v_before = v_free(-70.0, v_inf, 8.0)
    new_crossing = 8.0 + crossing_ms(v_before - 5.0, v_inf)
    prep = make_prepared(I_e=500.0, V_init=-70.0, arrivals=[(8 * MS, 0.0, 0, -5.0)])
    eng = run(prep, math.ceil((new_crossing + 1.0) * MS))
    t = spike_ms(eng)
    assert crossing_ms(-70.0, v_inf) < new_crossing  # the stale prediction was earlier
    assert t.size == 1 and abs(t[0] - new_crossing) <= 1e-9
    assert eng.counters["crossing_spikes"] == 1


def test_inhibitory_input_moves_crossing_past_run_end():
    v_inf = -45.0
    new_crossing = 8.0 + crossing_ms(v_free(-70.0, v_inf, 8.0) - 20.0, v_inf)
    assert crossing_ms(-70.0, v_inf) < 20.0 < new_crossing
    eng = run(make_prepared(I_e=500.0, V_init=-70.0, arrivals=[(8 * MS, 0.0, 0, -20.0)]), 20 * MS)
    assert eng.counters["spikes"] == 0  # the prediction at 16.09 ms is stale and must not fire
    eng.advance(30 * MS)
    t = spike_ms(eng)
    assert t.size == 1 and abs(t[0] - new_crossing) <= 1e-9


def test_current_change_cancels_crossing():
    samples = [(100 * MS, 0.0, 0)]
    prep = make_prepared(I_e=500.0, V_init=-70.0, currents=[(8 * MS, 0.0, 0, -400.0)], samples=samples)
    eng = run(prep, 101 * MS)
    assert eng.counters["spikes"] == 0
    v8 = v_free(-70.0, -45.0, 8.0)
    assert eng.voltages[0] == pytest.approx(v_free(v8, -61.0, 92.0), rel=1e-12)


def test_excitatory_input_brings_crossing_earlier():
    v_inf = -45.0
    v_after = v_free(-70.0, v_inf, 8.0) + 5.0
    assert v_after < -50.0
    new_crossing = 8.0 + crossing_ms(v_after, v_inf)
    eng = run(make_prepared(I_e=500.0, V_init=-70.0, arrivals=[(8 * MS, 0.0, 0, 5.0)]), 20 * MS)
    t = spike_ms(eng)
    assert new_crossing < crossing_ms(-70.0, v_inf)
    assert abs(t[0] - new_crossing) <= 1e-9 and t.size == 1
    assert eng.counters["crossing_spikes"] == 1 and eng.counters["ext_events"] == 1


def test_crossing_comes_before_input_at_the_same_time():
    base = dict(I_e=500.0, V_init=-70.0)
    _ids, ticks, fracs = run(make_prepared(**base), 17 * MS).spikes()
    t_s, f_s = int(ticks[0]), float(fracs[0])
    # An input at exactly the crossing time falls into the refractory period the crossing starts.
    eng = run(make_prepared(**base, arrivals=[(t_s, f_s, 0, -10.0)]), 17 * MS)
    ids, ticks2, fracs2 = eng.spikes()
    assert (ticks2.tolist(), fracs2.tolist()) == ([t_s], [f_s])
    assert eng.counters == {"syn_events": 0, "ext_events": 1, "discarded": 1, "spikes": 1, "crossing_spikes": 1}


def test_current_change_during_refractoriness_acts_after_it():
    prep = make_prepared(arrivals=[(1 * MS, 0.0, 0, 20.0)], currents=[(2 * MS, 0.0, 0, 500.0)])
    eng = run(prep, 30 * MS)
    t = spike_ms(eng)
    assert t.size == 2 and t[0] == 1.0
    assert abs(t[1] - (3.0 + crossing_ms(-70.0, -45.0))) <= 1e-9
    assert eng.counters["crossing_spikes"] == 1


# ---------------------------------------------------------------------------------------------
# Sub-threshold dynamics and refractoriness
# ---------------------------------------------------------------------------------------------
def test_subthreshold_jump_decays_exactly():
    v_inf = -57.0  # I_e = 200 pA
    times = [(0, 0.0), (1 * MS, 0.0), (3 * MS, 0.0), (3 * MS + 500_000, 0.0), (7_123_456, 0.25),
             (10 * MS, 0.0), (50 * MS, 0.0), (60 * MS, 0.0)]
    prep = make_prepared(I_e=200.0, arrivals=[(3 * MS, 0.0, 0, 4.0)], samples=[(t, f, 0) for t, f in times])
    eng = run(prep, 50 * MS)
    assert np.isnan(eng.voltages[-2:]).all()  # a sample at exactly the stop time belongs to the next run
    eng.advance(50 * MS + 1)
    v3 = v_free(-65.0, v_inf, 3.0) + 4.0
    for slot, (tick, frac) in enumerate(times[:-1]):
        t = (tick + frac) / MS
        expected = v_free(-65.0, v_inf, t) if t < 3.0 else v_free(v3, v_inf, t - 3.0)
        assert eng.voltages[slot] == pytest.approx(expected, rel=1e-12, abs=0.0), (slot, t)
    assert np.isnan(eng.voltages[-1])  # 60 ms not reached yet
    assert eng.counters["spikes"] == 0 and eng.counters["ext_events"] == 1


def test_input_during_refractoriness_is_discarded():
    arrivals = [(1 * MS, 0.0, 0, 20.0), (1 * MS + 500_000, 0.0, 0, 5.0), (3 * MS - 1, 0.999, 0, 5.0),
                (3 * MS, 0.0, 0, 3.0)]
    samples = [(1 * MS, 0.0, 0), (2 * MS, 0.0, 0), (3 * MS - 1, 0.9995, 0), (3 * MS, 0.0, 0), (5 * MS, 0.0, 0)]
    eng = run(make_prepared(arrivals=arrivals, samples=samples), 10 * MS)
    assert spike_ms(eng).tolist() == [1.0]
    assert eng.counters == {"syn_events": 0, "ext_events": 4, "discarded": 2, "spikes": 1, "crossing_spikes": 0}
    # Clamped at V_reset until 3 ms; the input at exactly 3 ms = t_s + t_ref counts.
    assert eng.voltages[:3].tolist() == [-70.0, -70.0, -70.0]
    assert eng.voltages[3] == -67.0
    assert eng.voltages[4] == pytest.approx(v_free(-67.0, -65.0, 2.0), rel=1e-12)


def test_input_at_refractory_end_with_fractional_time_counts():
    base = dict(I_e=500.0, V_init=-70.0)
    _ids, ticks, fracs = run(make_prepared(**base), 17 * MS).spikes()
    t_s, f_s = int(ticks[0]), float(fracs[0])
    assert f_s > 0.0
    end = (t_s + 2 * MS, f_s)
    arrivals = [(end[0], np.nextafter(f_s, 0.0), 0, -30.0), (end[0], f_s, 0, -5.0)]
    eng = run(make_prepared(**base, arrivals=arrivals), 40 * MS)
    t = spike_ms(eng)
    first = time_to_ms(t_s, f_s)
    assert eng.counters["discarded"] == 1 and t.size == 2 and t[0] == first
    expected = first + 2.0 + crossing_ms(-75.0, -45.0)  # from V_reset - 5 at the end of t_ref
    assert abs(t[1] - expected) <= 1e-9


def test_initial_potential_at_threshold_fires_at_zero():
    eng = run(make_prepared(V_init=-50.0, arrivals=[(0, 0.0, 0, 1.0)], samples=[(0, 0.0, 0), (2 * MS, 0.0, 0)]),
              5 * MS)
    ids, ticks, fracs = eng.spikes()
    assert ids.tolist() == [0] and ticks.tolist() == [0] and fracs.tolist() == [0.0]
    assert eng.counters == {"syn_events": 0, "ext_events": 1, "discarded": 1, "spikes": 1, "crossing_spikes": 0}
    assert eng.voltages.tolist() == [-70.0, -70.0]


def test_initial_spike_without_refractoriness_then_input_at_zero_counts():
    eng = run(make_prepared(V_init=-40.0, t_ref=0, arrivals=[(0, 0.0, 0, 3.0)], samples=[(0, 0.0, 0)]), 1 * MS)
    assert eng.counters["spikes"] == 1 and eng.counters["discarded"] == 0
    assert eng.voltages[0] == -67.0


# ---------------------------------------------------------------------------------------------
# Simultaneous inputs
# ---------------------------------------------------------------------------------------------
def test_simultaneous_subthreshold_inputs_are_summed():
    eng = run(make_prepared(arrivals=[(5 * MS, 0.0, 0, 10.0), (5 * MS, 0.0, 0, 10.0)]), 10 * MS)
    ids, ticks, fracs = eng.spikes()
    assert ticks.tolist() == [5 * MS] and fracs.tolist() == [0.0]
    assert eng.counters == {"syn_events": 0, "ext_events": 2, "discarded": 0, "spikes": 1, "crossing_spikes": 0}


@pytest.mark.parametrize("weights", [(20.0, -10.0), (-10.0, 20.0)])
def test_simultaneous_excitation_and_inhibition_net_subthreshold(weights):
    arrivals = [(5 * MS, 0.0, 0, w) for w in weights]
    eng = run(make_prepared(arrivals=arrivals, samples=[(5 * MS, 0.0, 0)]), 10 * MS)
    assert eng.counters["spikes"] == 0 and eng.counters["ext_events"] == 2
    assert eng.voltages[0] == -55.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-20.0, 20.0, allow_nan=False), min_size=2, max_size=6), st.randoms(use_true_random=False),
       st.floats(-64.0, -51.0))
def test_same_time_inputs_do_not_depend_on_order(weights, rnd, v0):
    """Both engines: same counters, voltages and spikes bit for bit in any order of the inputs
    (after an earlier input, so that V is not a round number), and the documented decision at rest."""
    from eventsim.engine.numba_engine import NumbaEngine
    shuffled = list(weights)
    rnd.shuffle(shuffled)
    for engine in (ReferenceEngine, NumbaEngine):
        results = []
        for ws in (weights, shuffled):
            prep = make_prepared((2,), t_ref=0, V_init=[-65.0, v0],
                                 arrivals=[(1 * MS, 0.0, 1, 1.25)] + [(2 * MS, 0.0, i, w) for w in ws for i in (0, 1)],
                                 samples=[(2 * MS, 0.0, 0), (2 * MS, 0.0, 1), (4 * MS, 0.0, 0), (4 * MS, 0.0, 1)])
            eng = engine(prep)
            eng.advance(5 * MS)
            results.append((eng.counters, eng.voltages.tolist(), [a.tolist() for a in eng.spikes()]))
        assert results[0] == results[1], engine
        assert (0 in results[0][2][0]) == (-65.0 + math.fsum(weights) >= -50.0), engine


@pytest.mark.parametrize("per_synapse", [False, True])
def test_delay_chain_ties_stay_exact(per_synapse):
    # p0: source with one crossing spike at a fractional time; p1: two relays; p2: the target.
    if per_synapse:
        projections = [
            dict(pre=0, post=1, synapses=[(0, 1, 20.0, 100_000), (0, 2, 20.0, 200_000)],
                 per_synapse_delay=True, per_synapse_weight=True),
            dict(pre=1, post=2, synapses=[(0, 3, 10.0, 200_000), (1, 3, 10.0, 100_000)],
                 per_synapse_delay=True, per_synapse_weight=True),
        ]
    else:
        projections = [dict(pre=0, post=1, synapses=[(0, 1, 20.0, 100_000)]),
                       dict(pre=0, post=1, synapses=[(0, 2, 20.0, 200_000)]),
                       dict(pre=1, post=2, synapses=[(0, 3, 10.0, 200_000)]),
                       dict(pre=1, post=2, synapses=[(1, 3, 10.0, 100_000)])]
    prep = make_prepared((1, 2, 1), projections=projections, I_e=[500.0, 0, 0, 0],
                         V_init=[-70.0, -65.0, -65.0, -65.0], t_ref=[1000 * MS, 2 * MS, 2 * MS, 2 * MS])
    eng = run(prep, 30 * MS)
    ids, ticks, fracs = eng.spikes()
    assert ids.tolist() == [0, 1, 2, 3]
    t_s, f_s = int(ticks[0]), float(fracs[0])
    assert f_s != 0.0
    assert list(zip(ticks.tolist(), fracs.tolist())) == [
        (t_s, f_s), (t_s + 100_000, f_s), (t_s + 200_000, f_s), (t_s + 300_000, f_s)]
    assert eng.counters == {"syn_events": 4, "ext_events": 0, "discarded": 0, "spikes": 4, "crossing_spikes": 1}


def test_autapse_delivers_to_itself():
    prep = make_prepared(V_init=-50.0, projections=[dict(pre=0, post=0, synapses=[(0, 0, 20.0, 5 * MS)])])
    eng = run(prep, 51 * MS)
    ids, ticks, fracs = eng.spikes()
    assert ticks.tolist() == [5 * MS * k for k in range(11)] and not fracs.any()
    assert eng.counters["syn_events"] == 10 and eng.counters["spikes"] == 11


# ---------------------------------------------------------------------------------------------
# Poisson streams
# ---------------------------------------------------------------------------------------------
def _poisson_arrivals(key, rate, start, stop):
    """Arrival times of one stream, re-computed directly from the definition."""
    state, tick, frac, out = int(key), start, 0.0, []
    while True:
        state, gap = exponential_gap(state, rate)
        y = frac + gap * 1e6
        k = math.floor(y)
        tick, frac = tick + k, y - k
        if tick >= stop:
            return out
        out.append((tick, frac))


def test_poisson_arrival_times_match_direct_computation():
    keys = stream_keys(1234, PURPOSE_POISSON, 0, np.array([0, 0, 1]))
    keys[1] = stream_keys(1234, PURPOSE_POISSON, 1, np.array([0]))[0]
    streams = [(0, 2.0, 30.0, 0, 80 * MS, keys[0]), (0, 0.5, 30.0, 10 * MS, 200 * MS, keys[1]),
               (1, 1.0, 30.0, 5 * MS, 50 * MS + 123, keys[2])]
    # Each arrival lifts the neuron above threshold and t_ref = 0: one spike per arrival.
    eng = run(make_prepared((2,), poisson=streams, t_ref=0), 60 * MS, 300 * MS)
    expected = sorted((t, f, target) for target, rate, _w, start, stop, key in streams
                      for t, f in _poisson_arrivals(key, rate, start, stop))
    ids, ticks, fracs = eng.spikes()
    assert list(zip(ticks.tolist(), fracs.tolist(), ids.tolist())) == expected
    assert eng.counters["ext_events"] == len(expected) > 150
    assert ticks[ids == 0].max() >= 80 * MS  # the second stream of neuron 0 outlives the first


def test_poisson_input_while_refractory_is_discarded_but_counted():
    key = stream_keys(7, PURPOSE_POISSON, 0, np.array([0]))[0]
    eng = run(make_prepared(poisson=[(0, 5.0, 30.0, 0, 20 * MS, key)], t_ref=1 * MS), 20 * MS)
    n = len(_poisson_arrivals(key, 5.0, 0, 20 * MS))
    c = eng.counters
    assert c["ext_events"] == n and c["discarded"] > 0 and c["spikes"] + c["discarded"] == n


def test_add_ms_matches_definition():
    assert add_ms(5, 0.5, 0.25e-6) == (5, 0.75)
    assert add_ms(5, 0.5, 1.0) == (1_000_005, 0.5)
    assert add_ms(0, 0.0, 0.0) == (0, 0.0)


# ---------------------------------------------------------------------------------------------
# Runs in pieces
# ---------------------------------------------------------------------------------------------
def _random_network(seed):
    rng = np.random.default_rng(seed)
    sizes = (8, 6, 4)
    pop_start = np.concatenate([[0], np.cumsum(sizes)])
    n = int(pop_start[-1])
    projections = []
    for pre, post, per_w, per_d in [(0, 1, True, True), (1, 2, False, True), (2, 0, True, False),
                                    (1, 1, False, False), (0, 2, False, False)]:
        syns = [(k, int(pop_start[post] + m), float(rng.uniform(-4, 9)) if per_w else 6.0,
                 int(rng.integers(1, 30)) * 100_000 if per_d else 1_500_000)
                for k in range(sizes[pre]) for m in range(sizes[post]) if rng.random() < 0.5]
        projections.append(dict(pre=pre, post=post, synapses=syns, per_synapse_weight=per_w, per_synapse_delay=per_d))
    keys = stream_keys(seed, PURPOSE_POISSON, 0, np.arange(n))
    poisson = [(i, 1.5, 3.0, 0, 180 * MS, keys[i]) for i in range(n) if i < 8 or i % 2]
    arrivals = [(int(rng.integers(0, 200)) * MS // 4, 0.0, int(rng.integers(n)), 8.0) for _ in range(40)]
    currents = [(int(rng.integers(0, 200 * MS)), 0.0, int(rng.integers(n)), float(rng.uniform(-200, 300)))
                for _ in range(20)]
    samples = [(int(rng.integers(0, 200)) * MS // 2, float(rng.choice([0.0, 0.5])), int(rng.integers(n)))
               for _ in range(60)]
    return make_prepared(sizes, projections=projections, poisson=poisson, arrivals=arrivals, currents=currents,
                         samples=samples, I_e=rng.uniform(0, 420, n), t_ref=rng.choice([0, 500_000, 2 * MS], n),
                         V_init=rng.uniform(-70, -48, n), record=rng.random(n) < 0.8)


@pytest.mark.parametrize("seed", [1, 2])
def test_advance_in_pieces_is_bit_identical(seed):
    prep = _random_network(seed)
    whole = run(prep, 200 * MS)
    stops = sorted({int(s) for s in np.random.default_rng(seed).integers(0, 200 * MS, 25)}
                   | {int(t) for t in prep.sa_tick[:5]} | {0, 50 * MS, 200 * MS})
    pieces = run(prep, *stops)
    for a, b in zip(whole.spikes(), pieces.spikes()):
        assert np.array_equal(a, b)
    assert np.array_equal(whole.voltages, pieces.voltages, equal_nan=True)
    assert whole.counters == pieces.counters
    assert whole.counters["spikes"] > 100 and whole.counters["syn_events"] > 500
    assert whole.counters["discarded"] > 0 and whole.counters["crossing_spikes"] > 0
    assert not np.isnan(whole.voltages).any()


def test_advance_backwards_is_refused():
    eng = run(make_prepared(), 5 * MS)
    with pytest.raises(ValidationError):
        eng.advance(4 * MS)
    eng.advance(5 * MS)  # standing still is allowed
    assert eng.now_tick == 5 * MS
