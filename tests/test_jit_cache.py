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
