"""Smoke test of the perf/ scripts: they run, and their JSON is complete and self-consistent.

No timing assertions: this only keeps perf/bench.py and perf/compare.py from going stale.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parent.parent / "perf"
FIELDS = ("model", "scale", "neurons", "synapses", "simulated_ms", "build_s", "compile_s", "sim_s", "sim_cpu_s",
          "spikes", "rate_hz", "syn_events", "ext_events", "events_per_s", "ns_per_event", "bytes_per_synapse",
          "peak_rss_mb", "engine", "seed", "machine", "date", "command", "versions")


def _env() -> dict:
    """The environment of a perf script run here: it imports the eventsim these tests import (the
    checkout, whose Numba cache the tests before have filled), not an installed copy, whose first
    start compiles every kernel again (over 2 minutes on 2 cores: a timeout that kills a process
    writing Numba's cache leaves it broken for the next ones)."""
    import eventsim

    root = str(Path(eventsim.__file__).resolve().parent.parent)
    return dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _run(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(PERF / script), *args], capture_output=True, text=True,
                          timeout=timeout, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _bench(*args: str) -> dict:
    out = _run("bench.py", *args, "--json").stdout.strip().splitlines()
    assert len(out) == 1, out  # --json: exactly one line on stdout
    return json.loads(out[0])


@pytest.mark.parametrize("model, scale, duration, neurons, has_ext", [
    ("brunel", 0.02, 20.0, 250, True),
    ("benchmark4", 0.05, 50.0, 200, False),
])
def test_bench_json(model, scale, duration, neurons, has_ext):
    rec = _bench("--model", model, "--scale", str(scale), "--duration", str(duration))
    missing = [k for k in FIELDS if k not in rec]
    assert not missing, missing
    assert rec["model"] == model and rec["scale"] == scale and rec["engine"] == "numba"
    assert rec["neurons"] == neurons and rec["simulated_ms"] == duration
    assert rec["synapses"] > 0 and rec["spikes"] > 0 and rec["syn_events"] > 0
    assert (rec["ext_events"] > 0) == has_ext
    events = rec["syn_events"] + rec["ext_events"]
    assert rec["events_per_s"] > 0
    assert rec["events_per_s"] == pytest.approx(events / rec["sim_s"], rel=0.01)
    assert rec["ns_per_event"] == pytest.approx(rec["sim_s"] * 1e9 / events, rel=0.01)
    assert rec["rate_hz"] == pytest.approx(rec["spikes"] / (neurons * duration / 1000.0), rel=1e-3)
    assert rec["counters"]["spikes"] == rec["spikes"]
    assert rec["syn_events"] <= rec["spikes"] * rec["synapses"]
    if has_ext:  # Brunel: one 20 kHz Poisson train per neuron
        assert rec["ext_events"] == pytest.approx(neurons * 20000.0 * duration / 1000.0, rel=0.05)
    assert 4.0 <= rec["bytes_per_synapse"] <= 16.0 + 8.0 * neurons / rec["synapses"]
    assert min(rec["build_s"], rec["compile_s"], rec["sim_s"]) >= 0 and rec["peak_rss_mb"] > 0
    assert 0 < rec["sim_cpu_s"] < rec["sim_s"] * rec["threads"] + 0.5  # one thread's CPU seconds, at most its wall
    assert rec["machine"]["nproc"] >= 1 and "numba" in rec["versions"]


def test_bench_table_and_repeat():
    out = _run("bench.py", "--model", "brunel", "--scale", "0.01", "--duration", "10", "--repeat", "2").stdout
    lines = out.strip().splitlines()
    rec = json.loads(lines[-1])
    assert rec["repeat"] == 2 and rec["sim_s_min"] <= rec["sim_s"] <= rec["sim_s_max"]
    assert any(line.startswith("events/s") for line in lines[:-1])


def test_compare_eventsim_alone(tmp_path):
    out_file = tmp_path / "cmp.jsonl"
    out = _run("compare.py", "--model", "benchmark4", "--scale", "0.05", "--duration", "20", "--repeat", "1",
               "--peers", "none", "--out", str(out_file)).stdout
    assert "| eventsim" in out
    lines = [json.loads(x) for x in out_file.read_text().splitlines()]
    assert lines[0]["sim"] == "meta"
    runs = [x for x in lines if x["sim"] == "eventsim"]
    assert len(runs) == 1 and runs[0]["status"] == "ok" and runs[0]["record"]["model"] == "benchmark4"


def test_compare_missing_peer_env_is_skipped(tmp_path):
    out = _run("compare.py", "--model", "brunel", "--scale", "0.01", "--duration", "10", "--repeat", "1",
               "--peers", "nest-ps", "--peer-python", str(tmp_path / "no-such-python"),
               "--out", str(tmp_path / "cmp.jsonl")).stdout
    assert "skipped" in out and "| nest-ps" in out


def test_ab_same_tree_twice():
    root = str(PERF.parent)
    out = _run("ab.py", "--a", root, "--b", root, "--model", "benchmark4", "--scale", "0.05", "--duration", "20",
               "--rounds", "2").stdout.strip().splitlines()
    rec = json.loads(out[-1])
    assert rec["same_spikes"] and rec["spikes"]["a"] == rec["spikes"]["b"] and rec["spikes"]["a"][0] > 0
    assert rec["rounds"] == 2 and rec["ratio_sim_b_over_a"] > 0
    for side in ("a", "b"):
        s = rec["stats"][side]["sim_s"]
        assert s["min"] <= s["median"] <= s["max"]
    assert any(line.startswith("B/A median sim_s") for line in out)


def test_ab_cpu_compares_the_simulations_cpu_seconds():
    root = str(PERF.parent)
    out = _run("ab.py", "--a", root, "--b", root, "--model", "benchmark4", "--scale", "0.05", "--duration", "20",
               "--rounds", "1", "--cpu").stdout.strip().splitlines()
    rec = json.loads(out[-1])
    assert rec["metric"] == "sim_cpu_s" and rec["same_spikes"]
    cpu = {side: rec["stats"][side]["sim_cpu_s"]["median"] for side in ("a", "b")}
    assert min(cpu.values()) > 0 and rec["ratio_cpu_b_over_a"] == pytest.approx(cpu["b"] / cpu["a"])
    assert any(line.startswith("B/A median sim_cpu_s") for line in out)


def test_ab_cpu_rejects_a_bench_without_cpu_seconds(tmp_path):
    (tmp_path / "eventsim").mkdir()
    (tmp_path / "perf").mkdir()
    old = {"sim_s": 1.0, "build_s": 1.0, "events_per_s": 1, "spikes": 1}  # a bench.py from before sim_cpu_s
    (tmp_path / "perf" / "bench.py").write_text(f"print({json.dumps(old)!r})\n")
    proc = subprocess.run([sys.executable, str(PERF / "ab.py"), "--a", str(tmp_path), "--b", str(tmp_path),
                           "--model", "benchmark4", "--duration", "1", "--rounds", "1", "--cpu"],
                          capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode != 0 and "does not report sim_cpu_s" in proc.stderr


def test_compare_threads_runs_each_thread_count_and_reports_the_speed_up(tmp_path):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("two threads need NUMBA_NUM_THREADS >= 2")
    out_file = tmp_path / "cmp.jsonl"
    out = _run("compare.py", "--model", "benchmark4", "--scale", "0.05", "--duration", "20", "--repeat", "1",
               "--threads", "1,2", "--peers", "none", "--out", str(out_file)).stdout
    assert "| eventsim (numba) x1" in out and "| eventsim (numba) x2" in out and "x threads" in out
    runs = [json.loads(x) for x in out_file.read_text().splitlines()][1:]
    assert [(r["sim"], r["threads"], r["record"]["threads"]) for r in runs] == [("eventsim x1", 1, 1),
                                                                               ("eventsim x2", 2, 2)]
    assert runs[0]["record"]["spikes"] == runs[1]["record"]["spikes"]  # bit-identical for any thread count


def test_thread_paths_runs_both_parallel_paths_with_the_same_spikes():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("two threads need NUMBA_NUM_THREADS >= 2")
    out = _run("thread_paths.py", "--scale", "0.22", "--duration", "5", "--rounds", "1").stdout
    assert "threads 2 items" in out and "threads 2 buckets" in out
    assert "same spikes in every run: True" in out
    items_line = next(x for x in out.splitlines() if "threads 2 items" in x)
    assert "scatter 0.00" in items_line  # the items path writes no bucket entries


@pytest.mark.parametrize("threads", ["0", "1,1", "one"])
def test_compare_rejects_bad_thread_counts(threads):
    proc = subprocess.run([sys.executable, str(PERF / "compare.py"), "--model", "brunel", "--duration", "10",
                           "--threads", threads], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--threads" in proc.stderr.splitlines()[-1]


@pytest.mark.parametrize("script, args, threads", [
    ("brian2_peer.py", ["--target", "numpy"], "1"),  # Benchmark 4 has no drive (neuron_model read net.J)
    ("nest_peer.py", ["--neuron", "grid"], "2"),
])
def test_peers_run_benchmark4_and_report_their_threads(script, args, threads):
    from test_compare_psc_exp import _peers_python  # the peers' interpreter, or None without the env

    python = _peers_python("nest" if script.startswith("nest") else "brian2")
    if python is None:
        pytest.skip("no peers environment: perf/peers/setup.sh")
    proc = subprocess.run([python, str(PERF / "peers" / script), "--model", "benchmark4", "--scale", "0.1",
                           "--duration", "50", "--threads", threads, *args], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rec["model"] == "benchmark4" and rec["neurons"] == 400 and rec["threads"] == int(threads)
    assert rec["spikes"] > 0


def test_sweep_huge_is_the_sparse_network_ten_times_larger(tmp_path):
    sys.path.insert(0, str(PERF))
    try:
        import sweep
    finally:
        sys.path.remove(str(PERF))
    huge = sweep.parse_args(["--huge"])
    assert huge.large and huge.scale_list == [10.0] and huge.duration == 10.0 and huge.out.name == "huge.jsonl"
    large = sweep.parse_args(["--large"])
    assert large.scale_list == [1.0] and large.duration == 100.0 and large.out.name == "large.jsonl"
    with pytest.raises(SystemExit):
        sweep.parse_args(["--large", "--huge"])
    # a tiny --large run prints where its time went
    out = _run("sweep.py", "--large", "--large-scale", "0.01", "--duration", "5", "--out",
               str(tmp_path / "large.jsonl")).stdout
    assert "ns per event by phase" in out and "% Poisson arrivals" in out
