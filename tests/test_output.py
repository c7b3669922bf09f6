"""Output folders: what ``--force`` may replace, results kept when OUTDIR appears during a run, atomic writes.

The rule under test: eventsim never deletes anything it did not write, and never throws away
simulated results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_cli import BRIEF, SCENARIOS, bad, run, sets  # noqa: F401  (run is a fixture)

from eventsim import cli, output

DC = SCENARIOS / "single_lif_dc.toml"
QUICK = ["--quiet", "--set", "run.duration=20"]


def tree(path: Path) -> dict:
    """Every file under ``path`` with its bytes (symlinks as their target), to prove nothing changed."""
    out = {}
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        out[rel] = ("link", os.readlink(p)) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


@pytest.fixture
def earlier(run, tmp_path) -> Path:
    """An output folder of an earlier run, at tmp_path/out."""
    out = tmp_path / "out"
    assert run("run", DC, "-o", out, *QUICK)[0] == 0
    return out


# ------------------------------------------------------------------------- what --force replaces
def test_existing_outdir_needs_force(run, earlier):
    before = tree(earlier)
    err = bad(run, "run", DC, "-o", earlier, *QUICK)
    assert f"{earlier}: output folder exists already" in err and "--force" in err
    assert tree(earlier) == before


def test_force_replaces_an_earlier_output_and_leaves_no_temporary_folder(run, earlier, tmp_path):
    first = json.loads((earlier / "summary.json").read_text())
    assert first["format"] == output.FORMAT
    (earlier / "raster.png").write_bytes(b"png")  # eventsim plot writes this: still an output folder
    assert run("run", DC, "-o", earlier, "--force", "--quiet", "--set", "run.duration=30")[0] == 0
    assert json.loads((earlier / "summary.json").read_text())["simulated_ms"] == 30.0
    assert not (earlier / "raster.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_force_refuses_a_project_folder(run, tmp_path):
    """``eventsim run proj/s.toml -o proj --force`` used to delete the project, scenario included."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "s.toml").write_bytes(DC.read_bytes())
    (proj / "notes.txt").write_text("mine")
    before = tree(proj)
    err = bad(run, "run", proj / "s.toml", "-o", proj, "--force", *QUICK)
    assert f"{proj}: not replaced: it holds 'notes.txt', which eventsim does not write" in err
    assert tree(proj) == before


def test_force_refuses_an_output_folder_with_a_foreign_file(run, earlier):
    (earlier / "analysis.ipynb").write_text("{}")
    before = tree(earlier)
    assert "it holds 'analysis.ipynb'" in bad(run, "run", DC, "-o", earlier, "--force", *QUICK)
    assert tree(earlier) == before


def test_force_does_not_turn_a_file_into_a_folder(run, tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_bytes(DC.read_bytes())
    err = bad(run, "run", scenario, "-o", scenario, "--force", *QUICK)
    assert f"{scenario}: not replaced: it is a file, not a folder" in err
    assert scenario.is_file() and scenario.read_bytes() == DC.read_bytes()


def test_force_does_not_follow_or_replace_a_symlink(run, earlier, tmp_path):
    link = tmp_path / "latest"
    link.symlink_to(earlier)
    before = tree(earlier)
    assert "it is a symbolic link" in bad(run, "run", DC, "-o", link, "--force", *QUICK)
    assert link.is_symlink() and tree(earlier) == before


def test_force_in_the_current_folder_leaves_nothing_behind(run, earlier, tmp_path, monkeypatch):
    """``-o . --force`` from inside an earlier output used to leave a ``..old-XXXX/`` folder."""
    monkeypatch.chdir(earlier)
    assert run("run", DC, "-o", ".", "--force", "--quiet", "--set", "run.duration=30")[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["simulated_ms"] == 30.0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scenario.toml", "spikes.npz", "summary.json",
                                                                    "voltages.npz"]


def test_force_replaces_an_empty_folder(run, tmp_path):
    (tmp_path / "out").mkdir()
    assert run("run", DC, "-o", tmp_path / "out", "--force", *QUICK)[0] == 0
    assert (tmp_path / "out" / "spikes.npz").is_file()


# A summary.json written before the "format" key existed (eventsim 0.1.0 up to this change).
OLD_SUMMARY = {"scenario": {"path": "/x/s.toml", "sha256": "0" * 64, "overrides": []}, "seed": 1, "engine": "numba",
               "versions": {"eventsim": "0.1.0", "numba": "0.60", "numpy": "2.0", "python": "3.11"},
               "neurons": 1, "synapses": 0, "duration_ms": 10.0, "simulated_ms": 10.0, "interrupted": False,
               "spikes": 0, "populations": {}, "events": {}, "wall_s": {}, "events_per_s": 0.0,
               "created": "2026-11-01T00:00:00+0000", "host": "h"}


def make_output(path: Path, summary, extra=()) -> Path:
    path.mkdir()
    np.savez(path / "spikes.npz", ids=np.zeros(0, np.int64), times=np.zeros(0))
    (path / "summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    for name in extra:
        (path / name).write_text("x")
    return path


def test_the_older_summary_layout_is_recognised(run, tmp_path):
    old = make_output(tmp_path / "out", OLD_SUMMARY, ["scenario.toml"])
    assert output.why_not_output(old) is None
    assert run("run", DC, "-o", old, "--force", *QUICK)[0] == 0
    assert json.loads((old / "summary.json").read_text())["format"] == output.FORMAT


@pytest.mark.parametrize("summary, extra, reason", [
    ({**OLD_SUMMARY, "project": "mine"}, (), "summary.json is not eventsim's"),  # not exactly the old keys
    ({"format": "something-else/1"}, (), "summary.json is not eventsim's"),
    ("[1, 2]", (), "summary.json is not eventsim's"),
    ("not json", (), "not readable JSON"),
    ({"format": output.FORMAT}, ("spikes.csv",), "it holds 'spikes.csv'"),
    ({"format": output.FORMAT}, (".hidden",), "it holds '.hidden'"),
])
def test_not_an_output_folder(tmp_path, summary, extra, reason):
    assert reason in output.why_not_output(make_output(tmp_path / "d", summary, extra))


def test_not_an_output_folder_without_spikes_or_with_a_subfolder(tmp_path):
    d = make_output(tmp_path / "d", {"format": output.FORMAT})
    (d / "raster.png").mkdir()
    assert "it holds 'raster.png'" in output.why_not_output(d)
    (d / "raster.png").rmdir()
    (d / "spikes.npz").unlink()
    assert output.why_not_output(d) == "it has no spikes.npz"


# --------------------------------------------------------------------------- where it can go
def test_a_parent_that_is_a_file_is_named(run, tmp_path):
    err = bad(run, "run", DC, "-o", "/dev/null/x", *QUICK)
    assert "/dev/null/x: cannot create the output folder: /dev/null is not a directory" in err
    (tmp_path / "f").write_text("")
    assert f"{tmp_path / 'f'} is not a directory" in bad(run, "run", DC, "-o", tmp_path / "f" / "a" / "b", *QUICK)
    assert (tmp_path / "f").read_text() == ""


def test_missing_parents_are_created(run, tmp_path):
    assert run("run", DC, "-o", tmp_path / "a" / "b" / "out", *QUICK)[0] == 0
    assert (tmp_path / "a" / "b" / "out" / "summary.json").is_file()


def test_an_unwritable_parent_is_refused_before_simulating(run, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root may write anywhere: let access() answer as for an unprivileged user
        real = os.access
        monkeypatch.setattr(output.os, "access", lambda p, mode: not Path(p) == ro and real(p, mode))
    try:
        err = bad(run, "run", DC, "-o", ro / "out", *QUICK)
        assert err == f"eventsim: error: {ro / 'out'}: cannot create the output folder: {ro} is not writable\n"
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# ----------------------------------------------------------------- OUTDIR appearing during a run
def appear_during_the_run(monkeypatch, make):
    """Call ``make()`` as the simulation runs (as another run finishing first would)."""
    original = cli._Progress.__call__

    def hook(self, t_ms):
        if not hasattr(self, "made"):
            self.made = make()
        return original(self, t_ms)

    monkeypatch.setattr(cli._Progress, "__call__", hook)


def test_results_go_beside_when_outdir_appears_during_the_run(run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    appear_during_the_run(monkeypatch, lambda: make_output(out, {"format": output.FORMAT}, ["scenario.toml"]))
    (tmp_path / "out-2").write_text("taken")  # the first free name is the next one
    code, _, err = run("run", DC, "-o", out, "--quiet", "--set", "run.duration=100")
    assert code == 0, err
    assert err == (f"eventsim: {out} was created or changed during the run (another run?); "
                   f"results written to {tmp_path / 'out-3'} instead\n")
    assert json.loads((out / "summary.json").read_text()) == {"format": output.FORMAT}  # the other run's, untouched
    assert (tmp_path / "out-2").read_text() == "taken"
    s = json.loads((tmp_path / "out-3" / "summary.json").read_text())
    assert s["simulated_ms"] == 100.0 and s["spikes"] == np.load(tmp_path / "out-3" / "spikes.npz")["ids"].size


def test_force_does_not_replace_an_output_written_during_the_run(run, earlier, tmp_path, monkeypatch):
    """Two runs --force into one folder: the one finishing second must not delete the first one's results."""

    def other_run():  # what a concurrent `eventsim run --force` does: its own folder renamed into place
        other = make_output(tmp_path / "other", {"format": output.FORMAT, "created": "by the other run"})
        os.rename(earlier, tmp_path / "gone")
        os.rename(other, earlier)

    appear_during_the_run(monkeypatch, other_run)
    code, _, err = run("run", DC, "-o", earlier, "--force", "--quiet", "--set", "run.duration=100")
    assert code == 0 and "results written to" in err and str(tmp_path / "out-2") in err
    assert json.loads((earlier / "summary.json").read_text())["created"] == "by the other run"
    assert json.loads((tmp_path / "out-2" / "summary.json").read_text())["simulated_ms"] == 100.0


def test_force_does_not_replace_a_folder_that_gained_a_foreign_file(run, earlier, tmp_path, monkeypatch):
    appear_during_the_run(monkeypatch, lambda: (earlier / "notes.txt").write_text("mine"))
    code, _, err = run("run", DC, "-o", earlier, "--force", "--quiet", "--set", "run.duration=100")
    assert code == 0 and f"results written to {tmp_path / 'out-2'}" in err
    assert (earlier / "notes.txt").read_text() == "mine" and (tmp_path / "out-2" / "spikes.npz").is_file()


def test_two_runs_into_one_default_folder_at_once(tmp_path):
    """Real processes: both finish with exit 0 and both results are kept (out and out-2)."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    # ~3 s of simulation each: both are still simulating when the other one has started
    argv = [sys.executable, "-m", "eventsim", "run", str(SCENARIOS / "brunel_delta.toml"), "--quiet",
            *sets(BRIEF["brunel_delta"] + ["run.duration=15000"])]
    procs = [subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brunel_delta-out", "brunel_delta-out-2"]
    assert sum("results written to" in e for e in errs) == 1
    for d in tmp_path.iterdir():
        assert json.loads((d / "summary.json").read_text())["simulated_ms"] == 15000.0


# ------------------------------------------------------------------------------- write failures
def test_disk_full_names_the_path_and_leaves_nothing(run, tmp_path, monkeypatch):
    def full(*a, **k):  # as a write into a full disk fails: an OSError without a file name
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    code, _, err = run("run", DC, "-o", tmp_path / "out", *QUICK)
    assert code == 1
    assert err == (f"eventsim: error: {tmp_path / 'out'}: cannot write spikes.npz: No space left on device; "
                   "nothing written\n")
    assert list(tmp_path.iterdir()) == []


def test_results_are_kept_when_they_cannot_be_moved_into_place(run, tmp_path, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(output.os, "rename", refuse)
    code, _, err = run("run", DC, "-o", tmp_path / "out", *QUICK)
    kept = [p for p in tmp_path.iterdir()]
    assert code == 1 and len(kept) == 1 and kept[0].name.startswith(".out.tmp-")
    assert err == f"eventsim: error: {tmp_path / 'out'}: results kept in {kept[0]}: cannot move them into place: " \
                  "Permission denied\n"
    assert (kept[0] / "summary.json").is_file()


def test_an_interruption_just_after_the_temporary_folder_is_made_leaves_nothing(run, tmp_path, monkeypatch):
    mkdir = os.mkdir

    def mkdir_then_interrupted(path, *a):
        mkdir(path, *a)
        raise KeyboardInterrupt

    monkeypatch.setattr(output.os, "mkdir", mkdir_then_interrupted)
    code, _, err = run("run", DC, "-o", tmp_path / "out", *QUICK)
    assert code == 130 and "nothing written" in err
    assert list(tmp_path.iterdir()) == []


def test_signals_cannot_interrupt_moving_the_results_into_place(run, earlier, tmp_path, monkeypatch):
    """Two Ctrl-C between 'move the earlier output away' and 'move the new one in' used to hide both."""
    import signal

    place = output._place

    def signalled(tmp, dest):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        return place(tmp, dest)

    monkeypatch.setattr(output, "_place", signalled)
    code, _, err = run("run", DC, "-o", earlier, "--force", "--quiet", "--set", "run.duration=30")
    assert code == 130
    assert err == f"eventsim: SIGINT came after the simulation had finished; complete results in {earlier}\n"
    assert json.loads((earlier / "summary.json").read_text())["simulated_ms"] == 30.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
