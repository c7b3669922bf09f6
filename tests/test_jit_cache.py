"""Numba's on-disk cache is keyed by the whole engine's source (eventsim/engine/jit_cache.py).

A cached kernel that freezes a constant of *another* engine module must recompile when that module
changes; with Numba's own per-file stamp it would load stale machine code. The test copies the
package, adds a two-module probe to its engine and runs three fresh processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numba
import pytest

import eventsim
from eventsim.engine import jit_cache
from eventsim.engine import kernels as K

PACKAGE = Path(eventsim.__file__).resolve().parent
PROBE = """
from numba import njit
from eventsim.engine._probe_const import VALUE

@njit(cache=True)
def probe():
    return VALUE

print(probe(), sum(probe.stats.cache_hits.values()), sum(probe.stats.cache_misses.values()))
"""


def test_engine_kernels_use_the_engine_locator():
    assert jit_cache.EngineSourceLocator in type(K.advance._cache._impl)._locator_classes
    locator = K.advance._cache._impl.locator
    assert isinstance(locator, jit_cache.EngineSourceLocator)
    assert locator.get_source_stamp() == ("eventsim-engine", jit_cache.engine_source_hash())
    assert len(jit_cache.engine_source_hash()) == 64


def _run(root: Path, env_extra=None) -> tuple[int, int, int]:
    env = dict(os.environ, PYTHONPATH=str(root), **(env_extra or {}))
    env.pop("NUMBA_CACHE_DIR", None)
    r = subprocess.run([sys.executable, "-c", "import eventsim.engine._probe"], env=env, cwd=root,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    value, hits, misses = (int(x) for x in r.stdout.split())
    return value, hits, misses


def _copy_with_probe(dest: Path) -> Path:
    shutil.copytree(PACKAGE, dest / "eventsim", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "eventsim" / "engine" / "_probe.py").write_text(PROBE)
    (dest / "eventsim" / "engine" / "_probe_const.py").write_text("VALUE = 1\n")
    return dest


def test_changing_another_engine_module_recompiles(tmp_path):
    root = _copy_with_probe(tmp_path)
    assert _run(root) == (1, 0, 1)  # compiled and saved
    assert _run(root) == (1, 1, 0)  # loaded from the cache
    (root / "eventsim" / "engine" / "_probe_const.py").write_text("VALUE = 2\n")
    assert _run(root) == (2, 0, 1)  # the other module changed: recompiled, not stale


@pytest.mark.skipif(not hasattr(numba.config, "CACHE_LOCATOR_CLASSES"), reason="needs NUMBA_CACHE_LOCATOR_CLASSES")
def test_numbas_own_stamp_would_load_stale_code(tmp_path):
    """The hazard the engine locator removes (and proof that the test above can fail)."""
    root = _copy_with_probe(tmp_path)
    plain = {"NUMBA_CACHE_LOCATOR_CLASSES": "InTreeCacheLocator"}
    assert _run(root, plain)[0] == 1
    (root / "eventsim" / "engine" / "_probe_const.py").write_text("VALUE = 2\n")
    assert _run(root, plain) == (1, 1, 0)  # stale: the old constant, from the cache


# Two processes compile the same callee for two record types whose per-process type codes coincide;
# a third loads both callers from the cache. With Numba's per-process counter both callee copies get
# one symbol name and the third process runs the first copy for both (numba issues #10128, #10486).
COLLISION_PROBE = """
import sys
if sys.argv[1] == "eventsim":
    import eventsim.engine  # noqa: F401  (installs the process-unique ids)
import numpy as np
from numba import njit


@njit(cache=True)
def field_b(a, n):
    s = 0.0
    for _ in range(n):
        for i in range(a.size):
            if a[i].b > s:
                s += a[i].b * 0.5
            else:
                s -= a[i].b
    return s


@njit(cache=True)
def via_one(a, n):
    return field_b(a, n)


@njit(cache=True)
def via_two(a, n):
    return field_b(a, n)


def filled(dtype):
    x = np.zeros(3, dtype)
    x["a"] = 100.0
    x["b"] = [1.0, 2.0, 3.0]
    return x


ONE = np.dtype([("a", "f8"), ("b", "f8")])
TWO = np.dtype([("b", "f8"), ("a", "f8")])
out = []
if sys.argv[2] in ("one", "both"):
    out.append(via_one(filled(ONE), 1))
if sys.argv[2] in ("two", "both"):
    out.append(via_two(filled(TWO), 1))
print(*out)
"""


# NOTE: field_b's result is 0.5 + 1.0 + 1.5 = 3.0 exactly in binary floating point (the wrong callee,
# reading field a, gives 0.0), so the results are compared exactly.
def _collision_run(folder: Path, setup: str, mode: str) -> list[float]:
    env = dict(os.environ)
    env.pop("NUMBA_CACHE_DIR", None)
    r = subprocess.run([sys.executable, "probe_collision.py", setup, mode], env=env, cwd=folder,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return [float(x) for x in r.stdout.split()]


def _collision_case(folder: Path, setup: str) -> list[float]:
    (folder / "probe_collision.py").write_text(COLLISION_PROBE)
    assert _collision_run(folder, setup, "one") == [3.0]
    assert _collision_run(folder, setup, "two") == [3.0]
    return _collision_run(folder, setup, "both")  # both callers from the cache, in one process


def test_kernels_cached_by_different_processes_keep_their_own_callees(tmp_path):
    assert _collision_case(tmp_path, "eventsim") == [3.0, 3.0]


def test_numbas_own_ids_would_mix_callees_of_different_processes(tmp_path):
    """The hazard the process-unique ids remove (and proof that the test above can fail)."""
    result = _collision_case(tmp_path, "plain")
    if result == [3.0, 3.0]:
        pytest.skip(f"numba {numba.__version__} no longer gives both callees one name")
    assert result[0] == 3.0 and result[1] != 3.0  # the second caller ran the first one's callee


def test_ids_differ_between_processes_and_after_fork():
    code = ("import os, eventsim.engine\n"
            "from numba.core.bytecode import FunctionIdentity as F\n"
            "a = next(F._unique_ids); b = next(F._unique_ids)\n"
            "r, w = os.pipe()\n"
            "if os.fork() == 0:\n"
            "    os.write(w, str(next(F._unique_ids)).encode()); os._exit(0)\n"
            "os.wait(); print(a, b, os.read(r, 64).decode(), next(F._unique_ids))\n")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:]
    (a1, b1, child1, c1), (a2, _, _, _) = ([int(x) for x in r.stdout.split()] for r in runs)
    assert b1 == a1 + 1 and c1 == b1 + 1  # a counter within the process
    assert a2 != a1 and a1 > 2**20  # a random start per process
    assert child1 not in (b1 + 1, c1)  # a forked child draws its own start


def _stale_saves(tmp_path, stamp):
    """Two processes save different signatures of one kernel, each having read the index before the
    other wrote it: the data files on disk, and what each key loads afterwards."""
    from numba.core.caching import IndexDataCacheFile

    first, second = (IndexDataCacheFile(str(tmp_path), "kernel-1.py311", stamp) for _ in range(2))
    first.save(("sig A",), "code A")
    second._load_index = lambda: {}  # its view of the index: read before the first one's save
    second.save(("sig B",), "code B")
    del second._load_index
    reader = IndexDataCacheFile(str(tmp_path), "kernel-1.py311", stamp)
    return sorted(p.name for p in tmp_path.glob("*.nbc")), reader.load(("sig A",)), reader.load(("sig B",))


def test_engine_kernels_of_different_signatures_never_share_a_data_file(tmp_path):
    files, a, b = _stale_saves(tmp_path, ("eventsim-engine", jit_cache.engine_source_hash()))
    assert len(files) == 2  # one per signature, named by its key
    assert a in ("code A", None) and b == "code B"  # the index may lose A (recompiled), never swap code


def test_numbas_own_numbering_gives_both_signatures_one_file(tmp_path):
    """What the naming by key avoids, still Numba's behaviour for other functions' caches: both saves
    pick number 1; had the first index write come last, signature A would load B's code."""
    files, a, b = _stale_saves(tmp_path, ("another", "stamp"))
    assert files == ["kernel-1.py311.1.nbc"]
    assert b == "code B"


def test_a_damaged_engine_cache_file_is_a_miss_with_a_warning(tmp_path):
    from numba.core.caching import IndexDataCacheFile

    stamp = ("eventsim-engine", jit_cache.engine_source_hash())
    cache = IndexDataCacheFile(str(tmp_path), "kernel-1.py311", stamp)
    cache.save(("sig",), "code")
    (data,) = tmp_path.glob("*.nbc")
    data.write_bytes(data.read_bytes()[:10])  # truncated
    with pytest.warns(RuntimeWarning, match="damaged compiled-code cache"):
        assert cache.load(("sig",)) is None  # compiled again ...
    cache.save(("sig",), "code")  # ... and saved over it
    assert cache.load(("sig",)) == "code"
    (tmp_path / "kernel-1.py311.nbi").write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="damaged compiled-code cache"):
        assert cache.load(("sig",)) is None
    cache.save(("sig",), "code")
    assert cache.load(("sig",)) == "code"
    other = IndexDataCacheFile(str(tmp_path), "other-1.py311", ("another", "stamp"))
    other.save(("sig",), "code")
    (tmp_path / "other-1.py311.nbi").write_bytes(b"garbage")
    with pytest.raises(Exception):  # other functions' caches: Numba's own behaviour
        other.load(("sig",))


def test_a_new_source_replaces_the_previous_generation_of_data_files(tmp_path):
    from numba.core.caching import IndexDataCacheFile

    def saved(stamp, *sigs):
        cache = IndexDataCacheFile(str(tmp_path), "kernel-1.py311", ("eventsim-engine", stamp))
        for sig in sigs:
            cache.save((sig,), f"code {stamp} {sig}")
        return cache

    first = saved("one", "a", "b")
    (tmp_path / "kernel-1.py311.unrelated.nbc").write_bytes(b"x")  # not named by the index: kept
    assert len(list(tmp_path.glob("kernel-1.py311.*.nbc"))) == 3
    (tmp_path / first._load_index()[("a",)]).unlink()  # removed by another process already: skipped
    cache = saved("two", "a")
    assert sorted(p.name for p in tmp_path.glob("*.nbc")) == sorted(
        [cache._index_name[:-4] + ".unrelated.nbc", cache._load_index()[("a",)]])
    assert cache.load(("a",)) == "code two a" and cache.load(("b",)) is None


def test_cache_command_shows_and_clears_only_the_engine_cache(tmp_path, monkeypatch, capsys):
    from eventsim.cli import main

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))  # as NUMBA_CACHE_DIR=tmp_path would
    folder = jit_cache.engine_cache_dir()
    assert folder.is_relative_to(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    ours = ["loop.advance-398.py311.nbi", "loop.advance-398.py311.1a2b.nbc", "heap.heap_push-38.py311.nbi.tmp.abc"]
    theirs = ["loop.cpython-311.pyc", "notes.txt"]
    for name in ours + theirs:
        (folder / name).write_bytes(b"x" * 1000)
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(folder) in out and "3 files" in out
    assert main(["cache", "--clear"]) == 0
    assert "removed 3 files" in capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == sorted(theirs)
    assert main(["cache", "--clear"]) == 0  # nothing left: fine
    assert "removed 0 files" in capsys.readouterr().out
