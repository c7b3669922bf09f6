"""Runs over MPI: ``mpiexec -n K eventsim run`` gives the output of one process, bit for bit.

Each test starts real processes with the ``mpiexec`` of the MPICH wheel (installed by the ``mpi``
and ``test`` extras next to ``python``); K = 3 on a 2-core machine is oversubscribed, which only
costs time. The in-process identity of parts (every model, threads x parts, ...) is in
tests/test_parts.py; this file checks the MPI layer: the exchange, the gathered output, per-rank
figures and the failures that must end every process with one line instead of a hang.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")

try:
    import mpi4py  # noqa: F401  (only checks the install: MPI is initialised in the child processes)
except ImportError:
    mpi4py = None

pytestmark = pytest.mark.skipif(MPIEXEC is None or mpi4py is None, reason="needs mpi4py and mpiexec (extra 'mpi')")

BRUNEL = ["--set", "populations.exc.size=2000", "--set", "populations.inh.size=500", "--set", "run.duration=60"]
TIMEOUT = 300


def env():
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.pop("PMI_SIZE", None)
    return e


def eventsim(tmp_path, args, n=None, timeout=TIMEOUT, python=None):
    """Run ``eventsim`` (under ``mpiexec -n n`` when n is given); returns the CompletedProcess."""
    cmd = [python or sys.executable, "-m", "eventsim", *args]
    if n is not None:
        cmd = [MPIEXEC, "-n", str(n), *cmd]
    return subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=timeout)


def spikes(out: Path):
    with np.load(out / "spikes.npz") as z:
        return z["ids"], z["times"]


def assert_same_output(a: Path, b: Path):
    for x, y in zip(spikes(a), spikes(b)):
        np.testing.assert_array_equal(x, y)  # bit-identity is the claim
    if (a / "voltages.npz").exists():
        with np.load(a / "voltages.npz") as va, np.load(b / "voltages.npz") as vb:
            assert sorted(va.files) == sorted(vb.files)
            for k in va.files:
                np.testing.assert_array_equal(va[k], vb[k])
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    for key in ("neurons", "synapses", "spikes", "populations", "simulated_ms"):
        assert sa[key] == sb[key], key
    assert sa["events"]["syn_events"] == sb["events"]["syn_events"]
    assert sa["events"]["ext_events"] == sb["events"]["ext_events"]


@pytest.fixture(scope="module")
def brunel_one(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one")
    r = eventsim(tmp, ["run", str(SCENARIOS / "brunel_delta.toml"), *BRUNEL, "-o", "out", "--quiet"])
    assert r.returncode == 0, r.stderr
    return tmp / "out"


@pytest.mark.parametrize("k", [1, 2, 3])
def test_brunel_identical_for_any_number_of_processes(tmp_path, brunel_one, k):
    r = eventsim(tmp_path, ["run", str(SCENARIOS / "brunel_delta.toml"), *BRUNEL, "-o", "out"], n=k)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert_same_output(brunel_one, out)
    s = json.loads((out / "summary.json").read_text())
    assert s["ranks"] == k
    assert [p["rank"] for p in s["per_rank"]] == list(range(k))
    assert sum(p["neurons"] for p in s["per_rank"]) == 2500
    assert sum(p["synapses"] for p in s["per_rank"]) == s["synapses"]
    assert sum(p["events"] for p in s["per_rank"]) == s["events"]["syn_events"] + s["events"]["ext_events"]
    for p in s["per_rank"]:
        assert p["wall_s"] > 0 and 0 <= p["comm_wait_s"] <= p["wall_s"] and p["peak_rss_bytes"] > 0
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out"]  # no file of another rank, no temporary
    if k > 1:
        assert r.stdout.count("output:") == 1  # one summary, from rank 0


def test_threads_and_ranks(tmp_path, brunel_one):
    r = eventsim(tmp_path, ["run", str(SCENARIOS / "brunel_delta.toml"), *BRUNEL, "-o", "out", "--threads", "2",
                            "--quiet"], n=2)
    assert r.returncode == 0, r.stderr
    assert_same_output(brunel_one, tmp_path / "out")


MIXED = """
schema = 1
[run]
duration = 80.0
seed = 5
[populations.a]
size = 37
V_th = -55.0
I_e = 160.0
[populations.b]
model = "qif"
size = 11
I_e = 60.0
[populations.c]
model = "lif_psc_exp"
size = 9
I_e = 300.0
[[projections]]
source = "a"
target = "a"
rule = "fixed_indegree"
indegree = 6
weight = { distribution = "uniform", min = 0.5, max = 3.0 }
delay = { distribution = "uniform", min = 0.7, max = 2.5 }
[[projections]]
source = "a"
target = "b"
rule = "pairwise_bernoulli"
p = 0.3
weight = 1.5
delay = 1.0
[[projections]]
source = "b"
target = "c"
rule = "fixed_total_number"
N = 40
weight = 40.0
delay = 0.8
[[projections]]
source = "c"
target = "a"
rule = "fixed_outdegree"
outdegree = 5
weight = -1.0
delay = 1.3
[[stimuli]]
type = "poisson"
targets = "a"
rate = 3000.0
weight = 0.4
[[stimuli]]
type = "spike_train"
targets = "b"
times = [5.0, 5.0, 17.25, 40.0]
weight = 4.0
[[stimuli]]
type = "current_steps"
targets = "c"
times = [20.0, 50.0]
amplitudes = [100.0, -100.0]
[recorders]
spikes = "all"
[[recorders.voltage]]
name = "a0"
population = "a"
ids = [0, 20, 36]
times = { start = 1.0, stop = 70.0, step = 0.5 }
"""


def test_mixed_models_delays_and_stimuli(tmp_path):
    (tmp_path / "mixed.toml").write_text(MIXED)
    one = eventsim(tmp_path, ["run", "mixed.toml", "-o", "one", "--quiet"])
    assert one.returncode == 0, one.stderr
    three = eventsim(tmp_path, ["run", "mixed.toml", "-o", "three", "--quiet"], n=3)
    assert three.returncode == 0, three.stderr
    assert spikes(tmp_path / "one")[0].size > 50
    assert_same_output(tmp_path / "one", tmp_path / "three")


def test_replayed_table(tmp_path):
    shutil.copy(SCENARIOS / "replay.toml", tmp_path)
    shutil.copy(SCENARIOS / "replay_input.csv", tmp_path)
    one = eventsim(tmp_path, ["run", "replay.toml", "-o", "one", "--quiet"])
    two = eventsim(tmp_path, ["run", "replay.toml", "-o", "two", "--quiet"], n=2)
    assert one.returncode == 0 and two.returncode == 0, (one.stderr, two.stderr)
    assert_same_output(tmp_path / "one", tmp_path / "two")


# ------------------------------------------------------------------------------------- failures
def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_more_processes_than_neurons(tmp_path):
    r = eventsim(tmp_path, ["run", str(SCENARIOS / "single_lif_dc.toml"), "-o", "out"], n=3, timeout=120)
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert line.startswith("eventsim: error: ") and "3 processes" in line and "1 neuron" in line
    assert not (tmp_path / "out").exists()


def test_scenario_that_differs_between_ranks(tmp_path):
    src = (SCENARIOS / "replay.toml").read_text()
    (tmp_path / "replay.toml").write_text(src)
    shutil.copy(SCENARIOS / "replay_input.csv", tmp_path)
    cmd = [sys.executable, "-m", "eventsim", "run", "replay.toml", "-o", "out"]
    r = subprocess.run([MPIEXEC, "-n", "1", *cmd, ":", "-n", "1", *cmd, "--set", "run.seed=8"], cwd=tmp_path,
                       env=env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert "differs between processes" in line and "rank 1" in line
    assert not (tmp_path / "out").exists()


def test_error_in_scenario_said_once(tmp_path):
    (tmp_path / "bad.toml").write_text("schema = 1\n[run]\nduration = -5.0\n[populations.a]\nsize = 3\n")
    r = eventsim(tmp_path, ["run", "bad.toml"], n=2, timeout=120)
    assert r.returncode == 2
    assert one_line(r.stderr).startswith("eventsim: error: bad.toml") or "bad.toml" in one_line(r.stderr)


def test_existing_output_is_kept(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "precious.txt").write_text("mine")
    r = eventsim(tmp_path, ["run", str(SCENARIOS / "replay.toml"), "-o", "out", "--force"], n=2, timeout=120)
    assert r.returncode == 2
    one_line(r.stderr)
    assert (tmp_path / "out" / "precious.txt").read_text() == "mine"


def test_mpi4py_missing(tmp_path):
    """A launcher's environment with several processes but no mpi4py: one line, exit 2, nothing run."""
    code = ("import sys; sys.modules['mpi4py'] = None; from eventsim.cli import main; "
            f"sys.exit(main(['run', {str(SCENARIOS / 'replay.toml')!r}, '-o', 'out']))")
    e = dict(env(), PMI_SIZE="2", PMI_RANK="0")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=e, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert "mpi4py" in line and 'pip install "eventsim[mpi]"' in line
    assert not (tmp_path / "out").exists()


DYING = r"""
import os, sys
import eventsim
from eventsim import mpi
net = eventsim.Network(seed=3)
a = net.add_population("a", 200, V_th=-55.0)
net.connect(a, a, rule="fixed_indegree", indegree=10, weight=0.5, delay=1.0)
net.add_poisson(a, rate=8000.0, weight=0.5)
comm = mpi.MpiComm()
def progress(t_ms):
    if comm.rank == 1 and t_ms > 20.0:
        os._exit(7)
mpi.run(net, 1e6, comm=comm, progress=progress)
"""


def test_a_rank_that_dies_stops_the_others(tmp_path):
    r = subprocess.run([MPIEXEC, "-n", "3", sys.executable, "-c", DYING], cwd=tmp_path, env=env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0


API = r"""
import sys
import numpy as np
import eventsim
from eventsim import mpi
net = eventsim.Network(seed=11)
a = net.add_population("a", 300, V_th=-55.0)
b = net.add_population("b", 100, V_th=-55.0)
net.connect(a, b, rule="fixed_indegree", indegree=30, weight=0.8,
            delay={"distribution": "uniform", "min": 1.0, "max": 2.0})
net.connect(b, a, rule="fixed_indegree", indegree=10, weight=-1.0, delay=1.2)
net.add_poisson(a, rate=12000.0, weight=0.4)
net.record_voltage(b, [5.0, 10.0, 30.5])
if sys.argv[1] == "one":
    res = net.run(50.0)
else:
    res, run = mpi.run(net, 50.0)
    if res is None:
        sys.exit(0)
    assert len(run.per_rank) == mpi.MpiComm().size
tr = res.voltages[next(iter(res.voltages))]
np.savez(sys.argv[2], ids=res.spike_ids, times=res.spike_times, v=tr.values)
"""


def test_python_api(tmp_path):
    one = subprocess.run([sys.executable, "-c", API, "one", "one.npz"], cwd=tmp_path, env=env(), capture_output=True,
                         text=True, timeout=120)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-c", API, "mpi", "two.npz"], cwd=tmp_path,
                         env=env(), capture_output=True, text=True, timeout=120)
    assert two.returncode == 0, two.stderr
    with np.load(tmp_path / "one.npz") as a, np.load(tmp_path / "two.npz") as b:
        assert a["ids"].size > 100
        for k in ("ids", "times", "v"):
            np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("args, words", [
    (["profile", str(SCENARIOS / "replay.toml")], "runs in one process"),
    (["run", str(SCENARIOS / "replay.toml"), "--engine", "reference", "-o", "out"], "run.engine"),
], ids=["profile", "reference-engine"])
def test_what_runs_in_one_process_only(tmp_path, args, words):
    r = eventsim(tmp_path, args, n=2, timeout=120)
    assert r.returncode == 2
    assert words in one_line(r.stderr)
    assert list(tmp_path.iterdir()) == []
