"""perf/compare.py and perf/peers on ``brunel_psc_exp``: the peers' network is the bundled scenario's,
the CV is one definition, compare.py says which engine ran. No timing assertions.

The peer runs need the peers environment (perf/peers/setup.sh) and are skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PERF = ROOT / "perf"


def _peers_common():
    spec = importlib.util.spec_from_file_location("peers_common", PERF / "peers" / "common.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


common = _peers_common()


def test_the_peers_network_is_the_bundled_scenario():
    sc = tomllib.loads((ROOT / "scenarios" / "brunel_psc_exp.toml").read_text())
    net = common.BrunelPscExp(1.0)
    exc, inh = sc["populations"]["exc"], sc["populations"]["inh"]
    assert (net.NE, net.NI, net.seed) == (exc["size"], inh["size"], sc["run"]["seed"])
    for pop in (exc, inh):
        assert pop["model"] == "lif_psc_exp"
        for key, value in (("C_m", net.C_m), ("tau_m", net.tau_m), ("tau_syn_ex", net.tau_syn),
                           ("tau_syn_in", net.tau_syn), ("E_L", net.E_L), ("V_th", net.V_th),
                           ("V_reset", net.V_reset), ("V_init", net.V_init), ("t_ref", net.t_ref)):
            assert pop[key] == value, key
    for prj in sc["projections"]:
        assert prj["rule"] == "fixed_indegree" and prj["delay"] == net.delay
        assert (prj["indegree"], prj["weight"]) == ((net.CE, net.J) if prj["source"] == "exc" else (net.CI, net.J_in))
    assert [s["rate"] for s in sc["stimuli"]] == [net.ext_rate_hz] * 2 == [3000.0] * 2
    assert [s["weight"] for s in sc["stimuli"]] == [net.J] * 2
    assert net.nu_th == pytest.approx(0.05, rel=1e-15)  # 50 Hz, as the scenario's comment derives it
    assert common.network(type("A", (), {"model": "brunel_psc_exp", "scale": 0.5, "seed": None})).N == 250


def test_cv_isi_is_the_mean_over_neurons_with_three_spikes_or_more():
    ids = [1, 0, 0, 2, 0, 1, 3, 3, 3, 3]
    times = [5.0, 3.0, 0.0, 9.0, 1.0, 7.0, 0.0, 2.0, 4.0, 6.0]  # any order
    # neuron 0: ISIs 1, 2 -> std 0.5 / mean 1.5; neuron 3: regular -> 0; neurons 1 (2 spikes) and 2 are left out
    assert common.cv_isi(ids, times, 5) == pytest.approx((0.5 / 1.5 + 0.0) / 2, rel=1e-15)
    assert common.cv_isi([0, 0], [1.0, 2.0], 1) is None
    rng = np.random.default_rng(1)  # a Poisson train has CV 1
    t = np.cumsum(rng.exponential(1.0, 20000))
    assert common.cv_isi(np.zeros(t.size, np.int64), t, 1) == pytest.approx(1.0, abs=0.03)


def _compare(tmp_path, *args):
    out_file = tmp_path / "cmp.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(PERF / "compare.py"), "--model", "brunel_psc_exp", "--scale", "0.2",
                           "--duration", "60", "--repeat", "1", "--peers", "none", "--out", str(out_file), *args],
                          capture_output=True, text=True, timeout=300, env=env)
    return proc, out_file


def test_compare_runs_brunel_psc_exp_on_the_reference_engine_and_says_so(tmp_path):
    proc, out_file = _compare(tmp_path, "--engine", "reference")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "eventsim's reference engine" in proc.stdout and "| eventsim (reference)" in proc.stdout
    assert all(col in proc.stdout for col in ("exc Hz", "inh Hz", "CV ISI"))
    (run,) = [json.loads(x) for x in out_file.read_text().splitlines() if json.loads(x)["sim"] == "eventsim"]
    rec = run["record"]
    assert rec["engine"] == "reference" and rec["model"] == "brunel_psc_exp" and rec["neurons"] == 100
    assert rec["spikes"] > 0 and len(rec["rate_pop_hz"]) == 2 and 0.0 <= rec["cv_isi"] < 2.0


def test_compare_runs_on_the_compiled_engine_by_default(tmp_path):
    """Default engine: numba, which runs lif_psc_exp; the table says which engine ran."""
    proc, _ = _compare(tmp_path)
    assert proc.returncode == 0 and "| eventsim (numba)" in proc.stdout, proc.stderr[-2000:]


# ------------------------------------------------------------------------------------------- the peers
def _peers_python(module: str):
    python = os.environ.get("EVENTSIM_PEERS_PYTHON") or str(ROOT / ".venv-peers" / "bin" / "python")
    if not Path(python).exists():
        return None
    probe = subprocess.run([python, "-c", f"import {module}"], capture_output=True, timeout=300)
    return python if probe.returncode == 0 else None


@pytest.mark.parametrize("script, args, peer", [
    ("nest_peer.py", ["--neuron", "ps"], "nest-iaf_psc_exp_ps"),
    ("nest_peer.py", ["--neuron", "grid"], "nest-iaf_psc_exp"),
    ("brian2_peer.py", ["--target", "numpy"], "brian2-numpy"),
])
def test_peers_simulate_brunel_psc_exp(script, args, peer):
    python = _peers_python("nest" if script.startswith("nest") else "brian2")
    if python is None:
        pytest.skip("no peers environment: perf/peers/setup.sh")
    proc = subprocess.run([python, str(PERF / "peers" / script), "--model", "brunel_psc_exp", "--scale", "0.4",
                           "--duration", "100", *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rec["peer"] == peer and rec["model"] == "brunel_psc_exp" and rec["neurons"] == 200
    assert rec["synapses"] == 200 * 50
    # the scenario's regime (about 36 Hz, CV about 0.45 over 300 ms at scale 1): loose bounds for a small, short run
    assert 15.0 < rec["rate_exc_hz"] < 60.0 and 15.0 < rec["rate_inh_hz"] < 60.0
    assert 0.2 < rec["cv_isi"] < 0.8
