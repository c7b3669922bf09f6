"""The ``eventsim`` command line: run, validate, plot, profile; output folders; bad input; replay.

Most tests call :func:`eventsim.cli.main` in-process (fast, Numba's cache warm); a few run
``python -m eventsim`` in a subprocess to check the real entry point, exit codes and stderr.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

from eventsim import cli, documents, scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

# Brief versions of the bundled scenarios (sizes, in-degrees and durations overridden down).
BRIEF = {
    "single_lif_dc": ["run.duration=100"],
    "brunel_delta": ["populations.exc.size=200", "populations.inh.size=50", "run.duration=20",
                     "projections.0.indegree=20", "projections.1.indegree=20", "projections.2.indegree=5",
                     "projections.3.indegree=5"],
    "brunel_delays": ["populations.exc.size=200", "populations.inh.size=50", "run.duration=20",
                      "projections.0.indegree=20", "projections.1.indegree=20", "projections.2.indegree=5",
                      "projections.3.indegree=5"],
    "benchmark4": ["populations.exc.size=320", "populations.inh.size=80", "run.duration=20",
                   "projections.0.p=0.2", "projections.1.p=0.2", "projections.2.p=0.2", "projections.3.p=0.2"],
    "replay": ["run.duration=50"],
    "adaptive_threshold": ["run.duration=150", "populations.plain.size=4", "populations.adapting.size=4"],
    "qif_network": ["run.duration=30", "populations.exc.size=80", "populations.inh.size=20"],
    "brunel_psc_exp": ["populations.exc.size=80", "populations.inh.size=20", "run.duration=40",
                       "projections.0.indegree=8", "projections.1.indegree=8", "projections.2.indegree=2",
                       "projections.3.indegree=2"],
}


def sets(items):
    return [a for item in items for a in ("--set", item)]


@pytest.fixture
def run(capsys):
    """run(*args) -> (exit code, stdout, stderr) of ``eventsim args`` in-process."""

    def _run(*args):
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def bad(run, *args) -> str:
    code, out, err = run(*args)
    assert code == 2, (out, err)
    assert err.startswith("eventsim: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_bundled_scenarios_are_covered():
    assert {p.stem for p in SCENARIOS.glob("*.toml")} == set(BRIEF)


@pytest.mark.parametrize("name", sorted(BRIEF))
def test_bundled_scenarios_validate_and_run_briefly(run, tmp_path, name):
    path = SCENARIOS / f"{name}.toml"
    code, out, _ = run("validate", path)
    assert code == 0 and "valid" in out and "memory estimate" in out
    code, out, err = run("run", path, "-o", tmp_path / "out", "--quiet", *sets(BRIEF[name]))
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["simulated_ms"] == pytest.approx(scenario.load(path, BRIEF[name]).duration)
    assert summary["spikes"] > 0 and not summary["interrupted"]


def test_single_lif_dc_period_and_outputs(run, tmp_path):
    out = tmp_path / "dc"
    code, stdout, _ = run("run", SCENARIOS / "single_lif_dc.toml", "-o", out)
    assert code == 0 and str(out) in stdout and "neuron" in stdout
    z = np.load(out / "spikes.npz")
    assert z["ids"].dtype == np.int64 and z["times"].dtype == np.float64
    period = 2 + 20 * math.log(2)
    expected = 10 * math.log(4) + period * np.arange(63)
    assert z["times"].size == 63 and np.allclose(z["times"], expected, rtol=0, atol=1e-9)
    v = np.load(out / "voltages.npz")
    assert set(v.files) == {"v_ids", "v_times", "v_values"} and v["v_values"].shape == (1, 500)
    assert v["v_values"][0, 0] == -70.0 and np.all(v["v_values"] < -55.0)
    s = json.loads((out / "summary.json").read_text())
    assert s["seed"] == 1 and s["engine"] == "numba" and s["neurons"] == 1 and s["synapses"] == 0
    assert s["populations"]["neuron"]["spikes"] == 63 and s["populations"]["neuron"]["rate_hz"] == pytest.approx(63.0)
    assert set(s["versions"]) == {"eventsim", "numba", "numpy", "python"}
    assert set(s["wall_s"]) == {"build", "compile", "simulate"} and len(s["scenario"]["sha256"]) == 64
    assert "spikes" in s["events"] and "events_per_s" in s
    copy = out / "scenario.toml"
    code, _, _ = run("run", copy, "-o", tmp_path / "again", "--quiet")
    assert code == 0
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["scenario"]["sha256"] == s["scenario"]["sha256"]
    assert np.array_equal(np.load(tmp_path / "again" / "spikes.npz")["times"], z["times"])


def test_seed_engine_and_set_flags(run, tmp_path):
    path = SCENARIOS / "brunel_delta.toml"
    args = ["--quiet", *sets(BRIEF["brunel_delta"] + ["run.duration=10"])]
    assert run("run", path, "-o", tmp_path / "a", "--seed", 5, *args)[0] == 0
    assert run("run", path, "-o", tmp_path / "b", "--seed", 5, "--engine", "reference", *args)[0] == 0
    sa, sb = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    assert sa["seed"] == sb["seed"] == 5 and sb["engine"] == "reference" and sa["simulated_ms"] == 10.0
    za, zb = np.load(tmp_path / "a" / "spikes.npz"), np.load(tmp_path / "b" / "spikes.npz")
    assert np.array_equal(za["ids"], zb["ids"]) and np.allclose(za["times"], zb["times"], rtol=0, atol=1e-9)
    assert "seed = 5" in (tmp_path / "b" / "scenario.toml").read_text()


def test_threads_flag_gives_the_same_spikes(run, tmp_path):
    """Brunel above direct delivery's size (busy windows in buckets), one thread against all Numba may use."""
    path = SCENARIOS / "brunel_delta.toml"
    args = ["--quiet", *sets(["populations.exc.size=2000", "populations.inh.size=500", "run.duration=30",
                              "projections.0.indegree=40", "projections.1.indegree=40",
                              "projections.2.indegree=10", "projections.3.indegree=10"])]
    threads = numba.config.NUMBA_NUM_THREADS
    assert run("run", path, "-o", tmp_path / "a", *args)[0] == 0
    assert run("run", path, "-o", tmp_path / "b", "--threads", threads, *args)[0] == 0
    sa, sb = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    assert sa["threads"] == 1 and sb["threads"] == threads
    za, zb = np.load(tmp_path / "a" / "spikes.npz"), np.load(tmp_path / "b" / "spikes.npz")
    assert za["ids"].size > 500
    assert np.array_equal(za["ids"], zb["ids"]) and np.array_equal(za["times"], zb["times"])


def test_bad_thread_counts(run):
    limit = numba.config.NUMBA_NUM_THREADS
    assert "brunel_delta.toml: run.threads: expected an integer >= 1, got 0" in bad(run, "run", *brunel(),
                                                                                   "--threads", 0)
    err = bad(run, "validate", *brunel(f"run.threads={limit + 1}"))
    assert f"run.threads: expected at most NUMBA_NUM_THREADS = {limit}" in err
    assert "run.threads: expected an integer" in bad(run, "validate", *brunel('run.threads="2"'))


# ------------------------------------------------------------------------------------- replay
UPSTREAM = """
[populations.up]
size = 20
tau_m = 20.0
E_L = 0.0
V_th = 20.0
V_reset = 10.0
V_init = {{ distribution = "uniform", min = 0.0, max = 20.0 }}
"""
UP_DRIVE = """
[[projections]]
source = "up"
target = "up"
rule = "fixed_indegree"
indegree = 4
weight = -1.0
delay = 0.7

[[stimuli]]
type = "poisson"
targets = "up"
rate = 12000.0
weight = 0.2
"""
DOWN = """
[populations.down]
size = 20
tau_m = 10.0
E_L = 0.0
V_th = 20.0
V_reset = 0.0
t_ref = 1.0
V_init = 0.0
"""


def test_round_trip_replay_of_recorded_spikes(run, tmp_path):
    """up -> down in one run equals: run up alone, then replay its spikes.npz into down."""
    head = "schema = 1\n[run]\nduration = 100.0\nseed = 11\n"
    both = head + UPSTREAM.format() + DOWN + UP_DRIVE + """
[[projections]]
source = "up"
target = "down"
rule = "one_to_one"
weight = 12.0
delay = 1.25
"""
    up_only = head + UPSTREAM.format() + UP_DRIVE
    down_only = head + DOWN + """
[[stimuli]]
type = "spike_table"
file = "up-out/spikes.npz"
population = "down"
weight = 12.0
delay = 1.25
"""
    for name, text in (("both", both), ("up", up_only), ("down", down_only)):
        (tmp_path / f"{name}.toml").write_text(text)
        code, _, err = run("run", tmp_path / f"{name}.toml", "-o", tmp_path / f"{name}-out", "--quiet")
        assert code == 0, err
    zb, zu, zd = (np.load(tmp_path / f"{n}-out" / "spikes.npz") for n in ("both", "up", "down"))
    up = zb["ids"] < 20
    # the upstream population is the same network in both runs (same seed streams): identical spikes
    assert np.array_equal(zb["ids"][up], zu["ids"]) and np.array_equal(zb["times"][up], zu["times"])
    assert zu["ids"].size > 20
    # downstream: the same spikes; times equal up to the float64 ms round trip of the table (1e-13 ms)
    assert zd["ids"].size > 5
    assert np.array_equal(zb["ids"][~up] - 20, zd["ids"])
    assert np.allclose(zb["times"][~up], zd["times"], rtol=0, atol=1e-9)


# --------------------------------------------------------------------------------- bad input
def brunel(*items):
    return [SCENARIOS / "brunel_delta.toml", *sets(items)]


def test_bad_unknown_key(run):
    err = bad(run, "validate", *brunel("projections.2.dela=1.0"))
    assert "brunel_delta.toml: projections[2].dela: unknown key (did you mean 'delay'?)" in err


def test_bad_wrong_type(run):
    assert "brunel_delta.toml: populations.exc.size: expected an integer" in bad(run, "validate", *brunel("populations.exc.size='big'"))


def test_bad_missing_required(run, tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("schema = 1\n[run]\nduration = 1.0\n[populations.a]\ntau_m = 10.0\n")
    assert f"{path}: populations.a.size: missing required key" in bad(run, "run", path)


def test_bad_unknown_population(run):
    err = bad(run, "run", *brunel("projections.1.target='inhib'"))
    assert "brunel_delta.toml: projections[1].target: unknown population 'inhib' (did you mean 'inh'?)" in err


@pytest.mark.parametrize("delay", ["0", "-1.5"])
def test_bad_delay(run, delay):
    assert "brunel_delta.toml: projections[2].delay: expected delays > 0 ms" in bad(run, "validate", *brunel(f"projections.2.delay={delay}"))


def test_bad_size_does_not_fit_in_memory(run):
    err = bad(run, "run", *brunel("populations.exc.size=2000000000"))
    assert "brunel_delta.toml: populations: the network needs about" in err and "available" in err


def test_bad_missing_table_file(run):
    err = bad(run, "run", SCENARIOS / "replay.toml", "--set", "stimuli.0.file='missing.csv'")
    assert "replay.toml: stimuli[0].file: table file" in err and "missing.csv" in err


def test_bad_malformed_table_file(run, tmp_path):
    (tmp_path / "in.csv").write_text("target,time,weight\n0,1.0,x\n")
    err = bad(run, "run", SCENARIOS / "replay.toml", "--set", f"stimuli.0.file='{tmp_path / 'in.csv'}'")
    assert "replay.toml: stimuli[0].file: in.csv line 2, column 'weight': expected a number, got 'x'" in err


def test_bad_ids_out_of_range(run):
    err = bad(run, "validate", SCENARIOS / "replay.toml", "--set", "populations.layer.size=40")
    assert "replay.toml: stimuli[0].file: replay_input.csv line " in err and "out of range [0, 40)" in err


def test_bad_missing_scenario_file(run, tmp_path):
    assert "nope.toml: cannot read the scenario file" in bad(run, "validate", tmp_path / "nope.toml")


def test_bad_value_from_the_engine_layer(run):
    err = bad(run, "validate", *brunel("populations.inh.t_ref=-1.0"))
    assert "brunel_delta.toml: populations.inh.t_ref: must be in" in err


def test_bad_input_subprocess_has_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "eventsim", "validate", str(SCENARIOS / "brunel_delta.toml"),
                        "--set", "projections.0.weight='strong'"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"eventsim: error: {SCENARIOS / 'brunel_delta.toml'}: projections[0].weight: expected a number, an array, "
        "a distribution table or {file, column}, got a string 'strong'"]


# ------------------------------------------------------------------------------ output folder
def test_default_outdir_is_next_to_cwd(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("run", SCENARIOS / "single_lif_dc.toml", "--quiet", "--set", "run.duration=10")[0] == 0
    assert (tmp_path / "single_lif_dc-out" / "spikes.npz").exists()


def test_failed_write_leaves_nothing(run, tmp_path, monkeypatch):
    def broken(*a, **k):  # fails after spikes.npz and summary.json are in the temporary folder
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(documents, "dumps_toml", broken)
    code, _, err = run("run", SCENARIOS / "single_lif_dc.toml", "-o", tmp_path / "out", "--quiet")
    assert code == 1 and err.count("\n") == 1
    assert f"{tmp_path / 'out'}: cannot write scenario.toml: No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_interrupted_run_writes_partial_results(run, tmp_path, monkeypatch):
    calls = []

    def interrupt_on_third(self, t_ms):
        calls.append(t_ms)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli._Progress, "__call__", interrupt_on_third)
    out = tmp_path / "out"
    code, stdout, err = run("run", *brunel(*BRIEF["brunel_delta"], "run.duration=200"), "-o", out)
    assert code == 130 and "interrupted" in err and "INTERRUPTED by SIGINT" in stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["interrupted"] and s["signal"] == "SIGINT" and 0 < s["simulated_ms"] < 200.0
    assert s["simulated_ms"] == pytest.approx(calls[-1])
    times = np.load(out / "spikes.npz")["times"]
    assert times.size == s["spikes"] and (times.size == 0 or times.max() < s["simulated_ms"])


# ---------------------------------------------------------------------------- plot and profile
@pytest.fixture(scope="module")
def brunel_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "brunel"
    assert cli.main(["run", str(SCENARIOS / "brunel_delta.toml"), "-o", str(out), "--quiet", *sets(BRIEF["brunel_delta"])]) == 0
    return out


def test_plot_writes_png(run, brunel_out, tmp_path):
    code, out, _ = run("plot", brunel_out)
    assert code == 0 and (brunel_out / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run("plot", brunel_out, "-o", tmp_path / "r.png")
    assert code == 0 and (tmp_path / "r.png").stat().st_size > 1000


def test_plot_subsamples_large_runs(run, brunel_out, tmp_path, monkeypatch):
    """Beyond MAX_POINTS spikes the raster shows a random MAX_POINTS of them (real ones), and says so."""
    from eventsim import plotting

    monkeypatch.setattr(plotting, "MAX_POINTS", 10)
    data = plotting.read_output(brunel_out)
    assert data.ids.size > 10
    raster = plotting.figure(data).axes[0]
    shown = np.concatenate([np.column_stack(line.get_data()) for line in raster.lines])
    assert shown.shape == (10, 2)
    spikes = set(zip(data.times.tolist(), data.ids.tolist()))
    assert all((t, i) in spikes for t, i in shown.tolist())
    assert f"{data.ids.size:,} spikes" in raster.get_title() and "raster shows a random 10" in raster.get_title()
    assert run("plot", brunel_out, "-o", tmp_path / "r.png")[0] == 0


def test_plot_bad_folder_and_missing_matplotlib(run, brunel_out, tmp_path, monkeypatch):
    assert "spikes.npz: missing" in bad(run, "plot", tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert "install eventsim[plot]" in bad(run, "plot", brunel_out)


def test_profile_prints_table(run):
    code, out, _ = run("profile", *brunel(*BRIEF["brunel_delta"]))
    assert code == 0
    for word in ("build_s", "compile_s", "simulate_s", "bytes_per_synapse", "syn_events", "ext_events",
                 "events_per_s", "ns_per_event", "peak_rss_MiB", "time by phase", "gather", "buckets", "window_end"):
        assert word in out


def test_python_m_eventsim_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "eventsim", "run", str(SCENARIOS / "replay.toml"), "-o", "r"],
                       capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "layer" in r.stdout and "output:" in r.stdout
    # no progress bar off a terminal; the compile notice only with a cold Numba cache
    assert r.stderr in ("", "eventsim: compiling the engine (once, a few minutes)...\n")
    z = np.load(tmp_path / "r" / "spikes.npz")
    first = z["times"][z["ids"] == 0]
    assert first.size and first[0] == 10.5  # the two table rows that arrive together at 10.5 ms
    r = subprocess.run([sys.executable, "-m", "eventsim", "plot", "r"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0 and (tmp_path / "r" / "raster.png").exists()


# ------------------------------------------------------------------------------ out of memory
@pytest.mark.parametrize("where", ["eventsim.network.Network.prepare", "eventsim.engine.numba_engine.make_state",
                                   "eventsim.scenario.Scenario.network"])
def test_out_of_memory_while_building_is_one_line(run, monkeypatch, where):
    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(where, no_memory)
    for command in ("run", "profile"):
        err = bad(run, command, *brunel(*BRIEF["brunel_delta"]))
        assert err.endswith("brunel_delta.toml: populations: out of memory while building the network "
                            "(`eventsim validate` prints its memory estimate)\n")


def test_out_of_memory_while_validating_or_reading_is_one_line(run, monkeypatch):
    monkeypatch.setattr("eventsim.stimuli.stimulus_arrays", lambda *a, **k: (_ for _ in ()).throw(MemoryError))
    assert "out of memory while building the network" in bad(run, "validate", *brunel())
    monkeypatch.setattr("eventsim.scenario.load", lambda *a, **k: (_ for _ in ()).throw(MemoryError))
    assert "brunel_delta.toml: out of memory while reading the scenario" in bad(run, "validate", *brunel())


def test_out_of_memory_during_the_simulation_exits_1(run, tmp_path, monkeypatch):
    from eventsim.engine.numba_engine import NumbaEngine

    def no_memory_after_the_compile(self, stop_tick):
        if stop_tick > 0:
            raise MemoryError

    monkeypatch.setattr(NumbaEngine, "_call", no_memory_after_the_compile)
    code, _, err = run("run", *brunel(*BRIEF["brunel_delta"]), "-o", tmp_path / "out")
    assert code == 1 and err.endswith("brunel_delta.toml: out of memory during the simulation; nothing written\n")
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_a_long_run_is_warned_about_in_one_line(tmp_path, capsys, monkeypatch):
    from eventsim import workload

    monkeypatch.setattr(workload, "WARNED_SECONDS", 0.0)  # every run counts as long
    out = tmp_path / "o"
    assert cli.main(["run", str(SCENARIOS / "single_lif_dc.toml"), "-o", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("eventsim: warning: populations.neuron.I_e: about ") and err.count("\n") == 1
    assert (out / "spikes.npz").is_file()
