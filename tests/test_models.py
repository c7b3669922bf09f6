"""The model registry and interface (eventsim/models/): choosing a model in the API and in
scenario files, mixed-model networks, and what the compiled engine refuses."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

import eventsim
from eventsim import scenario
from eventsim.errors import ScenarioError
from eventsim.models import REGISTRY, resolve_parameters
from eventsim.reference import ReferenceEngine


def test_registry_lists_each_model_with_its_spec_and_operations():
    assert list(REGISTRY) == ["lif", "qif", "lif_psc_exp"]
    for name, module in REGISTRY.items():
        spec = module.SPEC
        assert spec.name == name and set(spec.defaults) <= set(spec.units)
        for op in ("initial_state", "advance", "advance_clamped", "receive", "fires", "reset", "time_to_spike"):
            assert callable(getattr(module.ReferenceOps, op))
        assert isinstance(module.ReferenceOps.receives_while_refractory, bool)
    assert eventsim.MODELS["qif"] is REGISTRY["qif"].SPEC


@pytest.mark.parametrize("model", ["lif", "qif", "lif_psc_exp"])
def test_resolver_returns_every_array_the_engines_read(model, rng):
    vals = resolve_parameters(model, 3, {}, rng, "populations.p")
    for key in ("C_m", "tau_m", "E_L", "V_th", "V_reset", "V_init", "I_e", "V_c", "delta_theta", "tau_theta",
                "tau_syn_ex", "tau_syn_in"):
        assert vals[key].dtype == np.float64 and vals[key].shape == (3,), key
    assert vals["t_ref"].dtype == np.int64 and vals["model_id"] == list(REGISTRY).index(model)
    if model == "qif":
        assert np.array_equal(vals["V_th"], vals["V_peak"])


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(eventsim.ValidationError, match=r"^populations\.p\.model: unknown model 'qf'; known models: "
                                                      r"lif, qif, lif_psc_exp \(did you mean 'qif'\?\)$"):
        eventsim.Network().add_population("p", 1, model="qf")


@pytest.mark.parametrize("params, where, words", [
    ({"V_th": -50.0}, "V_th", "unknown parameter of model 'qif'"),
    ({"V_c": -75.0}, "V_c", "must be above E_L"),
    ({"V_reset": -30.0, "V_peak": -40.0}, "V_reset", "must be below V_peak"),
    ({"t_ref": -1.0}, "t_ref", "must be in [0"),
])
def test_qif_parameters_are_validated(params, where, words):
    with pytest.raises(eventsim.ValidationError) as info:
        eventsim.Network().add_population("p", 1, model="qif", **params)
    assert str(info.value).startswith(f"populations.p.{where}: ") and words in str(info.value)


@pytest.mark.parametrize("model, params", [("qif", {"I_e": 300.0}), ("lif", {"delta_theta": 1.0, "I_e": 500.0})])
def test_compiled_engine_takes_qif_and_adaptive_lif(model, params):
    net = eventsim.Network()
    net.add_population("ok", 2)
    net.add_population("p", 2, model=model, **params)
    assert net.run(50.0).spike_ids.size > 0  # (they ran on the reference engine only before)


def test_compiled_engine_takes_lif_with_zero_delta_theta(rng):
    net = eventsim.Network(seed=1)
    pop = net.add_population("p", 10, delta_theta=0.0, tau_theta=5.0, I_e=500.0)
    assert net.run(50.0).spike_ids.size > 0
    assert not np.any(net.prepare().delta_theta) and net.prepare().pop_model == ("lif",)
    del pop


@pytest.mark.parametrize("seed", range(4))
def test_mixed_networks_connect_both_ways(seed):
    """qif driven by lif and the reverse; the reference engine's invariants hold throughout and
    the spikes reach both populations (inputs change the receivers' spike trains)."""
    trains = []
    for w in (0.0, 3.0):
        net = eventsim.Network(seed=seed, engine="reference")
        a = net.add_population("a", 20, I_e={"distribution": "uniform", "min": 380.0, "max": 450.0},
                               delta_theta=1.0, tau_theta=30.0)
        b = net.add_population("b", 20, model="qif", V_reset=-60.0,
                               I_e={"distribution": "uniform", "min": 300.0, "max": 400.0})
        net.connect(a, b, "fixed_indegree", indegree=4, weight=w, delay=1.0)
        net.connect(b, a, "fixed_indegree", indegree=4, weight=w, delay=2.0)
        eng = ReferenceEngine(net.prepare())
        for stop in (50, 100, 150):
            eng.advance(stop * 10**6)
            eng._check()
        ids, ticks, fracs = eng.spikes()
        trains.append((ids, ticks + fracs))
    for lo, hi in ((0, 20), (20, 40)):
        (i0, t0), (i1, t1) = trains
        s0, s1 = t0[(i0 >= lo) & (i0 < hi)], t1[(i1 >= lo) & (i1 < hi)]
        assert s0.size > 0 and (s0.size != s1.size or not np.array_equal(s0, s1)), (lo, hi)


SCENARIO = """
schema = 1
[run]
duration = 50.0
engine = "reference"
[populations.q]
model = "qif"
size = 4
V_c = -50.0
V_peak = -20.0
I_e = 400.0
[populations.l]
size = 4
delta_theta = 2.0
tau_theta = 20.0
I_e = 500.0
[[projections]]
source = "q"
target = "l"
rule = "all_to_all"
weight = 1.0
delay = 1.0
"""


def test_scenario_model_key_and_model_parameters(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    net = scenario.load(path).network()
    assert [p.model for p in net.populations] == ["qif", "lif"]
    res = net.run(50.0)
    assert res.spike_ids.size > 0
    path.write_text(SCENARIO.replace('model = "qif"', 'model = "qiff"'))
    with pytest.raises(ScenarioError, match=r"populations\.q\.model.*qif"):
        scenario.load(path).network()
    path.write_text(SCENARIO.replace("V_c = -50.0", "V_th = -50.0"))
    with pytest.raises(ScenarioError, match=r"populations\.q.*V_th"):
        scenario.load(path).network()


def test_command_line_runs_qif_and_adaptive_lif_on_the_compiled_engine(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.replace('engine = "reference"', 'engine = "numba"'))
    out = subprocess.run([sys.executable, "-m", "eventsim", "run", str(path), "-o", str(tmp_path / "out"), "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    want = scenario.load(path).network()
    want.engine_name = "reference"
    got = scenario.load(path).network()
    assert np.array_equal(got.run(50.0).spike_times, want.run(50.0).spike_times)


def test_run_size_estimate_uses_each_models_own_period():
    """eventsim.workload counts the constant-current spikes of each population with its model's closed form."""
    from eventsim import workload
    from eventsim.models import lif, qif

    net = eventsim.Network(engine="reference")
    net.add_population("l", 2, I_e=500.0, t_ref=2.0)
    net.add_population("q", 2, model="qif", I_e=200.0, t_ref=1.0)
    net.add_population("quiet", 1, model="qif", I_e=0.0)
    p = net.prepare()
    rate = workload.firing_rate_bound(p)
    lif_per = lif.period(tau_m=p.tau_m[0], V_th=p.V_th[0], V_reset=p.V_reset[0], t_ref=2.0,
                         v_inf=lif.v_inf(p.E_L[0], p.I_e[0], p.tau_m[0], p.C_m[0]))
    qif_per = qif.period(C_m=p.C_m[2], tau_m=p.tau_m[2], E_L=p.E_L[2], V_c=p.V_c[2], V_peak=p.V_th[2],
                         V_reset=p.V_reset[2], t_ref=1.0, I_e=200.0)
    assert np.isfinite(lif_per) and np.isfinite(qif_per) and lif_per != qif_per
    np.testing.assert_allclose(rate, [1 / lif_per, 1 / lif_per, 1 / qif_per, 1 / qif_per, 0.0], rtol=1e-12)


def test_bundled_adaptive_threshold_scenario_shows_adaptation():
    """scenarios/adaptive_threshold.toml: under the step, the adapting population's rate falls, the plain one's does not."""
    path = pathlib.Path(__file__).resolve().parents[1] / "scenarios" / "adaptive_threshold.toml"
    sc = scenario.load(path, ["populations.plain.size=10", "populations.adapting.size=10", "run.duration=700"])
    res = sc.network().run(sc.duration)

    def rate(name, t0, t1):
        _, times = res.spikes_of(name)
        return np.count_nonzero((times >= t0) & (times < t1)) / (10 * (t1 - t0) / 1000.0)

    early, late = (100.0, 200.0), (400.0, 700.0)
    assert rate("adapting", *early) > 1.5 * rate("adapting", *late) > 0
    assert rate("plain", *late) > 0.9 * rate("plain", *early) > 0
    assert rate("plain", 0.0, 100.0) == rate("adapting", 0.0, 100.0) == 0  # no drive before the step


def test_every_registered_model_gives_its_constant_current_rate():
    """eventsim.workload asks each population's model for rate_bound: a model without one could not run."""
    for name, module in REGISTRY.items():
        assert callable(getattr(module, "rate_bound", None)), name
