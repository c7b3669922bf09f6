"""eventsim Results -> neo.Block: exact spike times, units, annotations; Elephant reads it."""

import numpy as np
import pytest

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")

import eventsim  # noqa: E402
from eventsim import neo_io  # noqa: E402


def _network(engine="numba"):
    net = eventsim.Network(seed=7, engine=engine)
    lif = dict(tau_m=20.0, V_th=20.0, V_reset=10.0, E_L=0.0, t_ref=2.0)
    exc = net.add_population("exc", 40, **lif, V_init=eventsim.Uniform(0.0, 20.0))
    inh = net.add_population("inh", 10, **lif, V_init=eventsim.Uniform(0.0, 20.0))
    net.connect(exc, inh, "fixed_indegree", indegree=8, weight=0.3, delay=1.5)
    net.connect(inh, exc, "fixed_indegree", indegree=4, weight=-0.8, delay=0.7)
    net.add_poisson(exc, rate=12000.0, weight=0.12)
    net.add_poisson(inh, rate=12000.0, weight=0.12)
    net.record_voltage(exc[:3], times=np.arange(0.0, 200.0, 0.25), name="v_exc")
    net.record_voltage(inh[[1, 4]], times=[0.0, 1.0, 3.5, 10.0, 123.456789, 250.0], name="v_inh")
    return net


@pytest.fixture(scope="module")
def results():
    return _network().run(200.0)


@pytest.fixture(scope="module")
def block(results):
    return neo_io.to_neo(results, name="test")


def test_one_segment_one_train_per_recorded_neuron(results, block):
    assert isinstance(block, neo.Block) and len(block.segments) == 1
    trains = block.segments[0].spiketrains
    assert [st.annotations["channel_id"] for st in trains] == list(range(50))
    assert [st.annotations["source_population"] for st in trains] == ["exc"] * 40 + ["inh"] * 10
    assert [st.annotations["source_index"] for st in trains] == list(range(40)) + list(range(10))


def test_spike_times_exact_in_ms(results, block):
    trains = block.segments[0].spiketrains
    assert sum(st.size for st in trains) == results.spike_ids.size > 100
    for st in trains:
        assert st.units == pq.ms and st.t_start == 0.0 * pq.ms and st.t_stop == results.t_stop * pq.ms
        expected = np.sort(results.spike_times[results.spike_ids == st.annotations["channel_id"]])
        # bit-identical: the float64 ms values are handed over without conversion
        assert np.array_equal(st.magnitude, expected)


def test_only_recorded_neurons_get_trains():
    net = eventsim.Network(seed=1)
    pop = net.add_population("p", 5, I_e=400.0)
    net.record_spikes(pop[[1, 3]])
    res = net.run(50.0)
    trains = neo_io.to_neo(res).segments[0].spiketrains
    assert [st.annotations["channel_id"] for st in trains] == [1, 3]
    assert all(st.size == np.count_nonzero(res.spike_ids == st.annotations["channel_id"]) > 0 for st in trains)


def test_regular_voltage_trace_is_an_analog_signal(results, block):
    seg = block.segments[0]
    (sig,) = [s for s in seg.analogsignals if s.name == "v_exc"]
    trace = results.voltages["v_exc"]
    assert sig.units == pq.mV and sig.shape == (800, 3)
    assert sig.t_start == 0.0 * pq.ms and abs(sig.sampling_period.rescale("ms").magnitude - 0.25) < 1e-12
    assert np.array_equal(sig.magnitude, trace.values.T)
    assert np.max(np.abs(sig.times.rescale("ms").magnitude - trace.times)) < 1e-9
    assert list(sig.array_annotations["channel_ids"]) == [0, 1, 2]
    assert sig.annotations["source_population"] == "exc"


def test_irregular_voltage_trace_keeps_exact_times_and_drops_unreached(results, block):
    (sig,) = block.segments[0].irregularlysampledsignals
    trace = results.voltages["v_inh"]
    # 250 ms is after t_stop = 200 ms: not simulated, not in the signal
    assert np.array_equal(sig.times.magnitude, trace.times[:5]) and sig.times.units == pq.ms
    assert np.array_equal(sig.magnitude, trace.values[:, :5].T) and sig.units == pq.mV
    assert not np.isnan(sig.magnitude).any()
    assert list(sig.array_annotations["channel_ids"]) == [41, 44]
    assert list(sig.array_annotations["channel_index"]) == [1, 4]


def test_spike_trains_sorts_each_train_and_keeps_empty_ones():
    trains = neo_io.spike_trains([3, 1, 3, 1], [5.0, 2.0, 1.0, 0.5], [1, 2, 3], 0.0, 10.0, "p", [1, 2, 3])
    assert [list(st.magnitude) for st in trains] == [[0.5, 2.0], [], [1.0, 5.0]]


def test_elephant_rate_and_cv_match_eventsim(results, block):
    statistics = pytest.importorskip("elephant.statistics")
    trains = [st for st in block.segments[0].spiketrains if st.annotations["source_population"] == "exc"]
    rates = [float(statistics.mean_firing_rate(st).rescale("Hz").magnitude) for st in trains]
    assert np.mean(rates) == pytest.approx(results.rates()["exc"], rel=1e-12)
    # CV of the inter-spike intervals of neuron 0, from eventsim's arrays directly
    t0 = np.sort(results.spike_times[results.spike_ids == 0])
    isi = np.diff(t0)
    assert isi.size >= 3
    cv = statistics.cv(statistics.isi(trains[0]))
    assert float(cv) == pytest.approx(isi.std() / isi.mean(), rel=1e-12)


def test_unsorted_sample_times_come_out_in_time_order():
    net = eventsim.Network(seed=1)
    pop = net.add_population("p", 1, I_e=100.0)
    net.record_voltage(pop, times=[3.0, 1.0, 2.0], name="v")
    res = net.run(5.0)
    (sig,) = neo_io.to_neo(res).segments[0].analogsignals
    assert np.array_equal(sig.times.magnitude, [1.0, 2.0, 3.0])
    assert np.array_equal(sig.magnitude[:, 0], res.voltages["v"].values[0, [1, 2, 0]])


def test_results_to_neo_is_the_same_block(results, block):
    via_method = results.to_neo(name="test")
    a, b = via_method.segments[0], block.segments[0]
    assert via_method.name == "test" and len(a.spiketrains) == len(b.spiketrains)
    for x, y in zip(a.spiketrains, b.spiketrains):
        assert x.annotations == y.annotations and np.array_equal(x.magnitude, y.magnitude)
    assert [s.name for s in a.analogsignals + a.irregularlysampledsignals] == \
        [s.name for s in b.analogsignals + b.irregularlysampledsignals]
