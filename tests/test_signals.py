"""Stop signals (SIGINT, SIGTERM, SIGHUP) sent with os.kill to a real ``eventsim run`` process.

The child is ``cli.main`` with one hook that creates a marker file when a chosen stage is reached
(and, for the build and the writing, makes that stage last), so the test knows when to send the signal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli import BRIEF, SCENARIOS, sets

from eventsim import cli

ROOT = Path(__file__).resolve().parent.parent
LONG = ["run", str(SCENARIOS / "brunel_delta.toml"), *sets(BRIEF["brunel_delta"] + ["run.duration=1000000"])]

CHILD = r"""
import pathlib, sys, time
import numpy as np
from eventsim import cli, network

marker, stages = pathlib.Path(sys.argv[1]), sys.argv[2].split(",")

def reached(stage, sleep_s):
    pathlib.Path(f"{marker}.{stage}").touch()
    time.sleep(sleep_s)  # the stage lasts: the signal arrives during it

def hook(owner, name, stage, sleep_s):
    original = getattr(owner, name)
    def wrapper(*args, **kw):
        if stage in stages:
            stages.remove(stage)
            reached(stage, sleep_s)
        return original(*args, **kw)
    setattr(owner, name, wrapper)

hook(network.Network, "prepare", "build", 60.0)
hook(cli._Progress, "__call__", "simulate", 0.0)
hook(np, "savez", "write", float(sys.argv[3]))
sys.exit(cli.main(sys.argv[4:]))
"""


def start(tmp_path, stages, args, write_s=60.0, env=None):
    argv = [sys.executable, "-c", CHILD, str(tmp_path / "marker"), stages, str(write_s), *args]
    env = dict(os.environ if env is None else env, PYTHONPATH=str(ROOT))
    return subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(tmp_path, stage, proc, timeout=180.0):
    path, t0 = tmp_path / f"marker.{stage}", time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"exited {proc.returncode} before {stage}: {proc.communicate()}")
        assert time.monotonic() - t0 < timeout, f"{stage} not reached"
        time.sleep(0.05)


def finish(proc, timeout=60.0):
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err, time.monotonic() - t0


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("marker"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_during_the_simulation_writes_partial_results(tmp_path, sig):
    proc = start(tmp_path, "simulate", [*LONG, "-o", "out", "--quiet"])
    wait_for(tmp_path, "simulate", proc)
    os.kill(proc.pid, sig)
    code, _, err, _ = finish(proc)
    assert code == 128 + sig, err
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["interrupted"] is True and s["signal"] == sig.name and 0 < s["simulated_ms"] < 1e6
    times = np.load(tmp_path / "out" / "spikes.npz")["times"]
    assert times.size == s["spikes"] and (times.size == 0 or times.max() < s["simulated_ms"])
    assert err == (f"eventsim: interrupted by {sig.name} at {s['simulated_ms']:g} ms; partial results in "
                   f"{tmp_path / 'out'}\n")
    assert leftovers(tmp_path) == ["out"]


def test_signal_during_the_build_quits_at_once_writing_nothing(tmp_path):
    proc = start(tmp_path, "build", [*LONG, "-o", "out"])
    wait_for(tmp_path, "build", proc)
    os.kill(proc.pid, signal.SIGTERM)
    code, out, err, waited = finish(proc)
    assert code == 143 and out == "" and waited < 10.0
    assert err == "eventsim: interrupted by SIGTERM before the simulation started; nothing written\n"
    assert leftovers(tmp_path) == []


def test_ctrl_c_during_the_first_compile_quits_at_once(tmp_path):
    """A cold Numba cache (a fresh NUMBA_CACHE_DIR): the compile is announced and Ctrl-C stops it."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    proc = start(tmp_path, "", [*LONG, "-o", "out"], env=env)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    t0 = time.monotonic()
    while not any("compiling the engine" in line for line in lines):
        if proc.poll() is not None:
            pytest.skip(f"the engine did not compile (cache kept elsewhere?): {lines}")
        assert time.monotonic() - t0 < 180, lines
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    t_kill = time.monotonic()
    proc.wait(timeout=60)
    reader.join(timeout=10)
    assert proc.returncode == 130 and time.monotonic() - t_kill < 10.0
    assert lines == ["eventsim: compiling the engine (once, a few minutes)...\n",
                     "eventsim: interrupted by SIGINT before the simulation started; nothing written\n"]
    assert leftovers(tmp_path) == ["numba-cache"]


def test_a_second_signal_while_writing_quits_without_leaving_anything(tmp_path):
    proc = start(tmp_path, "simulate,write", [*LONG, "-o", "out", "--quiet"])
    wait_for(tmp_path, "simulate", proc)
    os.kill(proc.pid, signal.SIGINT)
    wait_for(tmp_path, "write", proc)
    os.kill(proc.pid, signal.SIGINT)
    code, _, err, waited = finish(proc)
    assert code == 130 and waited < 10.0
    assert err == "eventsim: interrupted by SIGINT a second time; nothing written\n"
    assert leftovers(tmp_path) == []


def test_a_first_signal_while_writing_lets_the_complete_results_be_written(tmp_path):
    short = ["run", str(SCENARIOS / "brunel_delta.toml"), *sets(BRIEF["brunel_delta"])]
    proc = start(tmp_path, "write", [*short, "-o", "out", "--quiet"], write_s=3.0)
    wait_for(tmp_path, "write", proc)
    os.kill(proc.pid, signal.SIGTERM)
    code, _, err, _ = finish(proc)
    assert code == 143
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["interrupted"] is False and s["signal"] is None and s["simulated_ms"] == 20.0
    assert err == f"eventsim: SIGTERM came after the simulation had finished; complete results in {tmp_path / 'out'}\n"


# --------------------------------------------------------------------------------- in-process
def test_compile_notice_only_when_the_first_call_is_slow(tmp_path, monkeypatch, capsys):
    from eventsim.network import Network

    run = Network.run

    def slow_first_call(self, duration, progress=None):
        if duration == 0.0:
            time.sleep(0.5)  # as a compile would
        return run(self, duration, progress)

    monkeypatch.setattr(Network, "run", slow_first_call)
    monkeypatch.setattr(cli, "COMPILE_NOTICE_S", 0.1)
    dc = [str(SCENARIOS / "single_lif_dc.toml"), "--set", "run.duration=10"]
    assert cli.main(["run", *dc, "-o", str(tmp_path / "a")]) == 0
    assert capsys.readouterr().err == "eventsim: compiling the engine (once, a few minutes)...\n"
    assert cli.main(["run", *dc, "-o", str(tmp_path / "b"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(cli, "COMPILE_NOTICE_S", 5.0)
    assert cli.main(["run", *dc, "-o", str(tmp_path / "c")]) == 0
    assert capsys.readouterr().err == ""


def test_handlers_are_restored(tmp_path):
    before = {s: signal.getsignal(s) for s in cli.STOP_SIGNALS}
    assert cli.main(["run", str(SCENARIOS / "single_lif_dc.toml"), "-o", str(tmp_path / "o"), "--quiet"]) == 0
    assert {s: signal.getsignal(s) for s in cli.STOP_SIGNALS} == before


def test_a_late_signal_cannot_kill_a_finished_program(tmp_path):
    """Once the program's command has finished, stop signals are ignored while Python shuts down
    (a signal then used to kill finished runs: Python resets its handlers during the shutdown)."""
    code = ("import os, signal, time\nfrom eventsim import cli\n"
            "with cli._StopSignals(keep=True):\n    pass\n"
            "for s in cli.STOP_SIGNALS:\n    os.kill(os.getpid(), s)\n"
            "time.sleep(0.1); print('alive', flush=True)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.stdout == "alive\n" and r.returncode == 0


def test_a_signal_in_the_last_chunk_does_not_mark_complete_results_interrupted():
    stop = cli._StopSignals()
    stop.signum = signal.SIGTERM
    progress = cli._Progress(lambda: 0, total_ms=300.0, show=False, stop=stop)
    try:
        progress(300.0)  # the run is complete: nothing left to stop
    except KeyboardInterrupt:
        pytest.fail("a complete run was stopped")
    with pytest.raises(KeyboardInterrupt):
        progress(299.5)
