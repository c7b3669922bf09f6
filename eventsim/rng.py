"""Seeded random streams that do not depend on processing order.

Two kinds of randomness:

* **Build-time draws** (connections, distributed parameters, initial potentials) come from
  ``numpy.random.Generator`` objects made by :func:`build_generator` from the run seed and a
  *purpose key* (e.g. ``(PURPOSE_CONNECT, 2, ...)``) through ``SeedSequence`` spawn keys, so adding
  a projection does not change the draws of another. A projection's connectivity comes from many
  such streams, keyed by (seed, projection, block of targets) (:class:`ConnectionStreams`), so any
  process can draw the synapses onto its own neurons alone and get the same network.
* **Run-time draws** (Poisson arrivals) come from one SplitMix64 stream per (generator, target
  neuron) pair, keyed by :func:`stream_keys`. A stream's numbers depend only on the seed, the
  generator index and the target id, never on the order in which neurons are processed, so a
  neuron's input is the same whatever engine, chunking or (later) process count runs it.

Exponential gaps are drawn with a 256-layer ziggurat (Marsaglia and Tsang's method): one SplitMix64
output, a table lookup, a multiply and a compare for ~99 % of the draws, no logarithm; the rest take
the wedge test (one more output and an ``exp``) or the tail (memoryless: ``R`` plus a new draw).
The SplitMix64 step and the ziggurat are written twice, here in plain Python for the reference
engine and in ``eventsim.engine.kernels`` for the compiled loop, from the same tables
(:data:`ZIG_X`, :data:`ZIG_F`); ``tests/test_rng.py`` checks they agree bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "build_generator",
    "stream_keys",
    "splitmix64_next",
    "exponential_gap",
    "standard_exponential",
    "PURPOSE_POISSON",
    "PURPOSE_CONNECT",
    "ConnectionStreams",
    "ZIG_X",
    "ZIG_F",
]

GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_MASK = (1 << 64) - 1
PURPOSE_POISSON = 1
PURPOSE_CONNECT = 3
"""Spawn-key purpose of connectivity streams (2 is per-population parameters, in ``network``)."""
_U53 = 1.0 / 9007199254740992.0  # 2**-53

ZIG_R = 7.69711747013104972
"""Start of the ziggurat's tail: the base strip is cut at x = R."""
ZIG_V = 0.0039496598225815571993
"""Area of each of the 256 layers (base strip with tail included) under exp(-x)."""


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray]:
    """Layer edges x[0..256] (x[0] = V / exp(-R) is the base strip's virtual width, x[1] = R,
    x[256] = 0) and f[i] = exp(-x[i]); layer i spans x in [0, x[i]] and heights [f[i], f[i+1]]."""
    x = np.empty(257)
    x[0] = ZIG_V / math.exp(-ZIG_R)
    x[1] = ZIG_R
    for i in range(1, 255):
        x[i + 1] = -math.log(math.exp(-x[i]) + ZIG_V / x[i])
    x[256] = 0.0
    f = np.array([math.exp(-v) for v in x])
    return x, f


ZIG_X, ZIG_F = _ziggurat_tables()
_ZX = ZIG_X.tolist()
_ZF = ZIG_F.tolist()


def _mix64_array(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = z.copy()
    z ^= z >> np.uint64(30)
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return z


def stream_keys(seed: int, purpose: int, generator: int, targets: np.ndarray) -> np.ndarray:
    """Initial SplitMix64 states for the streams of one generator, one per target.

    Parameters
    ----------
    seed : int
        Run seed (0 <= seed < 2**63).
    purpose : int
        What the streams are for (:data:`PURPOSE_POISSON`).
    generator : int
        Index of the stimulus generator in the network description.
    targets : array of int
        Global ids of the target neurons.

    Returns
    -------
    numpy.ndarray of uint64
    """
    with np.errstate(over="ignore"):
        base = _mix64_array(np.array([seed & _MASK], dtype=np.uint64))
        base = _mix64_array(base ^ np.uint64((purpose << 32) ^ generator))
        t = np.asarray(targets, dtype=np.int64).astype(np.uint64)
        keys = _mix64_array(_mix64_array(base ^ (t * np.uint64(GOLDEN))))
    return keys


def splitmix64_next(state: int) -> tuple[int, int]:
    """One SplitMix64 step in plain Python.

    Returns
    -------
    (new_state, output) : tuple of int, both in ``[0, 2**64)``
    """
    state = (state + GOLDEN) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return state, z ^ (z >> 31)


def standard_exponential(state: int) -> tuple[int, float]:
    """Draw an Exp(1) variate from a SplitMix64 stream (ziggurat; see the module docstring).

    Returns
    -------
    (new_state, x) : the stream state after the draw and x >= 0
    """
    offset = 0.0
    while True:
        state, z = splitmix64_next(state)
        i = z & 0xFF
        x = (z >> 11) * _U53 * _ZX[i]
        if x < _ZX[i + 1]:  # inside the layer's rectangle, under the curve
            return state, offset + x
        if i == 0:  # the tail beyond R: memoryless, so R plus a fresh draw
            offset += ZIG_R
            continue
        state, z = splitmix64_next(state)
        if _ZF[i] + (z >> 11) * _U53 * (_ZF[i + 1] - _ZF[i]) < math.exp(-x):  # the wedge
            return state, offset + x


def exponential_gap(state: int, rate_per_ms: float) -> tuple[int, float]:
    """Draw an exponential inter-arrival gap in ms: :func:`standard_exponential` / rate."""
    state, x = standard_exponential(state)
    return state, x / rate_per_ms


def build_generator(seed: int, *purpose: int) -> np.random.Generator:
    """A ``numpy.random.Generator`` for one build-time purpose, independent of all others.

    Parameters
    ----------
    seed : int
        Run seed.
    *purpose : int
        Spawn key, e.g. ``(2, projection_index)``.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(int(p) for p in purpose)))


_CONNECTIONS, _VALUES, _NODE, _SPLIT = 0, 1, 2, 3  # kinds of connectivity stream


@dataclass(frozen=True)
class ConnectionStreams:
    """The build-time streams of one projection's connectivity (:mod:`eventsim.connectivity`).

    Every stream is a :func:`build_generator` keyed by ``(seed, PURPOSE_CONNECT, projection, kind,
    ...)``: the same key gives the same numbers in any process, and different keys are independent.

    Parameters
    ----------
    seed : int
        Run seed.
    projection : int
        Index of the projection in the network description.
    """

    seed: int
    projection: int

    def _stream(self, *key: int) -> np.random.Generator:
        return build_generator(self.seed, PURPOSE_CONNECT, self.projection, *key)

    def connections(self, block: int) -> np.random.Generator:
        """Which synapses block ``block`` of the targets gets."""
        return self._stream(_CONNECTIONS, block)

    def values(self, block: int) -> np.random.Generator:
        """The drawn delays and weights of block ``block``'s synapses."""
        return self._stream(_VALUES, block)

    def node(self, first: int, end: int) -> np.random.Generator:
        """How counts split between the two halves of blocks ``[first, end)`` (``fixed_outdegree``)."""
        return self._stream(_NODE, first, end)

    def split(self) -> np.random.Generator:
        """How a projection's synapse count splits over its blocks (``fixed_total_number``)."""
        return self._stream(_SPLIT)
