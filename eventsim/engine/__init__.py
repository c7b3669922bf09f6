"""The compiled engine. Importing it keys Numba's on-disk cache by the engine's whole source
(:mod:`eventsim.engine.jit_cache`) before any kernel is defined."""

from eventsim.engine import jit_cache as _jit_cache

_jit_cache.install()
