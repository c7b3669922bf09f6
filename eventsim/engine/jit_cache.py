"""Numba's on-disk cache, keyed by the whole engine's source, so that stale machine code is never loaded.

Numba stamps each cached kernel with a hash of the one file that defines it. A kernel that calls
(and inlines) a kernel of another module, or freezes another module's global (the ziggurat tables
of :mod:`eventsim.rng`), would be loaded stale after that other module changed. Here every kernel
of the engine is stamped instead with one hash over all the sources compiled code depends on
(:data:`HASHED`): change any of them and every kernel recompiles at the next start, so the engine
can be split into modules by responsibility.

It works through Numba's cache-locator chain: :class:`EngineSourceLocator` goes first, claims the
functions defined in ``eventsim/engine/``, keeps the cache folder the usual locator would choose
(``__pycache__`` beside the source, ``NUMBA_CACHE_DIR`` when set, or the user-wide cache) and
replaces only the stamp. ``NUMBA_CACHE_LOCATOR_CLASSES``, when a user sets it, replaces the whole
chain, this locator included.

It also makes the symbols of compiled code unique across processes. Numba names each compiled
function by its qualified name, its argument types and a per-process counter (the ``v<uid>`` ABI
tag), and a cached kernel carries its callees' code under those names as weak symbols. Two processes
that compile the same functions in the same order, with different types whose per-process codes
coincide (``Record`` types mangle by that code), write different code under one name; a third
process that loads both binds every call to whichever was loaded first, and runs the wrong code
(a segmentation fault, seen on 2026-12-03 after runs of different networks had shared one cache;
Numba issues #10128, #10486). :func:`install` draws each process's counter from a random 64-bit
start, and again in a forked child, so no two processes name two functions alike.

And it names each cached kernel's data file by its index key (signature, target, stamp), not by
Numba's next free number: two processes that compile different signatures of one kernel at the same
time (runs of different networks started together on a fresh cache) each read the index, pick the
same free number and write their data under it, and the index could end up pointing one signature at
the other's code. Named by key, different signatures never share a file; the data is written before
the index entry that points to it. A race can still drop an index entry: that kernel is compiled
again at the next start. The first save under a new source removes the data files the index of the
previous source named, so a cache holds about one generation per function. A damaged index or data
file of the engine (truncated, overwritten) is a cache miss with a warning, and the kernel is
compiled again and saved over it, where Numba would stop the run with an unpickling error.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import os
import pickle
import secrets
import warnings
from pathlib import Path

from numba.core import caching as _caching
from numba.core.bytecode import FunctionIdentity
from numba.core.caching import IndexDataCacheFile, _CacheLocator

# NOTE: Numba renamed _CacheImpl to CacheImpl (0.61); both hold the locator chain as a class list.
_CacheImpl = getattr(_caching, "CacheImpl", None) or _caching._CacheImpl

__all__ = ["HASHED", "engine_source_hash", "EngineSourceLocator", "ProcessUniqueIds", "install",
           "save_named_by_key", "load_or_miss",
           "engine_cache_dir", "engine_cache_files"]

_PACKAGE = Path(__file__).resolve().parent.parent
_ENGINE = _PACKAGE / "engine"
HASHED = ("engine", "models", "rng.py")
"""Paths, relative to the ``eventsim`` package, whose ``.py`` files compiled kernels depend on."""
_STAMP_TAG = "eventsim-engine"


def _sources() -> list[Path]:
    files = []
    for rel in HASHED:
        p = _PACKAGE / rel
        files += sorted(p.rglob("*.py")) if p.is_dir() else ([p] if p.is_file() else [])
    return files


@functools.lru_cache(maxsize=None)
def engine_source_hash() -> str:
    """SHA-256 (hex) over the names and contents of every file in :data:`HASHED`, computed once per process."""
    h = hashlib.sha256()
    for f in _sources():
        h.update(f.relative_to(_PACKAGE).as_posix().encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


class EngineSourceLocator(_CacheLocator):
    """The usual Numba locator of an engine kernel, with :func:`engine_source_hash` as its source stamp."""

    def __init__(self, inner: _CacheLocator):
        self._inner = inner

    def ensure_cache_path(self):
        self._inner.ensure_cache_path()

    def get_cache_path(self):
        return self._inner.get_cache_path()

    def get_source_stamp(self):
        return (_STAMP_TAG, engine_source_hash())

    def get_disambiguator(self):
        return self._inner.get_disambiguator()

    @classmethod
    def from_function(cls, py_func, py_file):
        try:
            if not Path(py_file).resolve().is_relative_to(_ENGINE):
                return None
        except OSError:
            return None
        for other in _CacheImpl._locator_classes:
            if other is cls:
                continue
            inner = other.from_function(py_func, py_file)
            if inner is not None:
                return cls(inner)
        return None


class ProcessUniqueIds:
    """Numba's per-compilation ids (``FunctionIdentity._unique_ids``), counted from a random 64-bit
    start drawn per process: unique within the process as Numba's own counter, and two processes'
    ranges (a few thousand ids each) overlap with a probability of about 1e-15."""

    def __init__(self):
        self.reseed()

    def reseed(self) -> None:
        """A new random start: at construction and in a forked child (which would otherwise count
        on from its parent's state, as its siblings do)."""
        self._ids = itertools.count(secrets.randbits(64) + 1)

    def __iter__(self):
        return self

    def __next__(self) -> int:
        return next(self._ids)


_numba_save = IndexDataCacheFile.save
_numba_load = IndexDataCacheFile.load


def _is_engine(cache_file: IndexDataCacheFile) -> bool:
    stamp = cache_file._source_stamp
    return isinstance(stamp, tuple) and stamp[:1] == (_STAMP_TAG,)


def _damaged(cache_file: IndexDataCacheFile, error: Exception) -> None:
    warnings.warn(f"damaged compiled-code cache {cache_file._index_path} or its data "
                  f"({type(error).__name__}: {error}): compiling again", RuntimeWarning, stacklevel=2)


def save_named_by_key(cache_file: IndexDataCacheFile, key, data) -> None:
    """``IndexDataCacheFile.save`` for the engine's kernels: the data file named by a hash of the
    source stamp and the index key, written before the index entry (see the module). Other
    functions' caches (another stamp) are saved by Numba's own method."""
    if not _is_engine(cache_file):
        return _numba_save(cache_file, key, data)
    base = cache_file._index_name[:-len(".nbi")]
    digest = hashlib.sha256(repr((cache_file._source_stamp, key)).encode()).hexdigest()[:20]
    data_name = f"{base}.{digest}.nbc"
    cache_file._save_data(data_name, data)
    try:
        overloads = cache_file._load_index()
    except Exception:  # damaged (load_or_miss warned): replaced
        overloads = {}
    if not overloads:
        _remove_previous_generation(cache_file, base)
    overloads[key] = data_name
    cache_file._save_index(overloads)


def _remove_previous_generation(cache_file: IndexDataCacheFile, base: str) -> None:
    """Delete the data files that the index on disk names if it is another source's (best effort:
    an index it cannot read is left alone, a file another process has removed is skipped)."""
    try:
        with open(cache_file._index_path, "rb") as f:
            pickle.load(f)  # Numba's version
            stamp, overloads = pickle.loads(f.read())
    except Exception:
        return
    if stamp == cache_file._source_stamp or not isinstance(overloads, dict):
        return
    for name in set(overloads.values()):
        if isinstance(name, str) and name.startswith(base + ".") and name.endswith(".nbc") and "/" not in name:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(cache_file._cache_path, name))


def load_or_miss(cache_file: IndexDataCacheFile, key):
    """``IndexDataCacheFile.load`` for the engine's kernels: a damaged index or data file is a
    miss (``None``, with a warning), not an error. Other functions' caches: Numba's own method."""
    if not _is_engine(cache_file):
        return _numba_load(cache_file, key)
    try:
        return _numba_load(cache_file, key)
    except Exception as error:  # unpickling a truncated or overwritten file: any error type
        _damaged(cache_file, error)
        return None


def engine_cache_dir() -> Path:
    """The folder Numba keeps the engine's compiled kernels in, here and now: ``__pycache__`` beside
    the engine's sources when that is writable, else under ``NUMBA_CACHE_DIR`` when set, else the
    user-wide cache (the choice of :class:`EngineSourceLocator`'s inner locator)."""
    from eventsim.engine import loop

    fn = loop.advance.py_func
    locator = EngineSourceLocator.from_function(fn, fn.__code__.co_filename)
    if locator is None:  # NUMBA_CACHE_LOCATOR_CLASSES replaced the chain
        return Path(loop.advance._cache._cache_path)
    return Path(locator.get_cache_path())


def engine_cache_files(folder: Path) -> list[Path]:
    """The engine cache's files in ``folder``: indexes, data and unfinished writes of Numba's cache
    (``*.nbi``, ``*.nbc``, ``*.tmp.*``), never Python's own ``.pyc`` files beside them."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and (p.suffix in (".nbi", ".nbc") or ".nbi.tmp." in p.name or ".nbc.tmp." in p.name))


def install() -> None:
    """Put :class:`EngineSourceLocator` first in Numba's locator chain, give Numba
    :class:`ProcessUniqueIds`, and save and load the engine's kernels with :func:`save_named_by_key`
    and :func:`load_or_miss` (all idempotent).

    Must run before the first ``@njit(cache=True)`` kernel of the engine is defined (or compiled):
    ``eventsim/engine/__init__.py`` calls it.
    """
    chain = _CacheImpl._locator_classes
    if EngineSourceLocator not in chain:
        chain.insert(0, EngineSourceLocator)
    if not isinstance(FunctionIdentity._unique_ids, ProcessUniqueIds):
        ids = ProcessUniqueIds()
        FunctionIdentity._unique_ids = ids
        os.register_at_fork(after_in_child=ids.reseed)
    if IndexDataCacheFile.save is not save_named_by_key:
        IndexDataCacheFile.save = save_named_by_key
    if IndexDataCacheFile.load is not load_or_miss:
        IndexDataCacheFile.load = load_or_miss
