"""SONATA spike files: read them as replay input, write a run's spikes.

A SONATA spike file (the SONATA developer guide, "Spike file"; the format bmtk, libsonata and
NEST's ``SonataNetwork`` read) is HDF5 with one group per node population::

    /spikes/<population>/timestamps   spike times (double; attribute ``units``, "ms" if absent)
    /spikes/<population>/node_ids     node ids (uint64), 0-based within <population>
    /spikes/<population>              attribute ``sorting``: none, by_id or by_time (optional)

plus, at the root, ``magic`` (uint32 0x0A7A) and ``version`` (two uint32). ``timestamps[k]`` is a
spike of node ``node_ids[k]``. See docs/formats.md.

Reading (:func:`read_spikes`) accepts what other tools write: ``sorting`` as an HDF5 enum
(libsonata) or a string (bmtk), float32 or float64 times, ``units`` "ms" or "s" (times in
seconds are multiplied by 1000.0, rounded to float64 once), any integer type for node ids, and
no root attributes. A file that breaks the format fails with one :class:`ValidationError`
line naming the file and the HDF5 object: not HDF5, no ``/spikes``, a missing dataset, lengths
that differ, a time that is NaN, infinite or negative, a negative node id, units other than ms
or s, a ``sorting`` the data do not follow, an unknown population.

Writing (:func:`write_spikes`, :func:`write_populations`) puts each eventsim population in a
SONATA population of the same name with local node ids (global id minus the population's first
id), times as float64 ms (eventsim's values, bit for bit), node ids as uint64 and ``sorting`` as
libsonata's enum. The file is written under a temporary name and renamed, so a reader never sees
half a file and a failed write leaves any older file in place.

``h5py`` is an optional dependency (``pip install "eventsim[sonata]"``); importing this module
without it raises ``ImportError``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    import h5py
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('eventsim.sonata needs h5py: pip install "eventsim[sonata]"') from exc

from eventsim.errors import ValidationError, did_you_mean

__all__ = ["PopulationSpikes", "populations", "choose_population", "read_spikes", "write_spikes",
           "write_populations", "read_bytes_bound", "SORTINGS", "SORTING_DTYPE", "UNITS", "MAGIC", "VERSION"]

MAGIC = 0x0A7A
"""Value of the root attribute ``magic`` of every SONATA HDF5 file."""
VERSION = (0, 1)
"""The SONATA version written to the root attribute ``version``."""
SORTINGS = ("none", "by_id", "by_time")
"""Values of the ``sorting`` attribute, in the order of libsonata's enum (none = 0, by_id = 1, by_time = 2)."""
SORTING_DTYPE = h5py.enum_dtype({name: k for k, name in enumerate(SORTINGS)}, basetype="i1")
UNITS = {"ms": 1.0, "s": 1000.0}
"""Time units read, with the factor that turns them into ms."""
MAX_NODE_ID = 2**63 - 1  # node ids become int64
BYTES_PER_SPIKE = 32
"""Peak bytes per spike while reading: the file's arrays and their int64 / float64 copies."""


@dataclass(frozen=True)
class PopulationSpikes:
    """The spikes of one population of a SONATA file.

    Attributes
    ----------
    population : str
        The population's name (its group under ``/spikes``).
    node_ids : int64 array
        Node id of each spike, 0-based within the population, in file order.
    times : float64 array
        Spike times in ms, aligned with ``node_ids``.
    sorting : str
        The file's ``sorting`` attribute ("none" when absent); the data were checked to follow it.
    units : str
        The ``units`` of the file's timestamps ("ms" when absent, or "s").
    """

    population: str
    node_ids: np.ndarray
    times: np.ndarray
    sorting: str
    units: str


def _fail(path, message: str):
    raise ValidationError(str(path), message)


# ------------------------------------------------------------------------------------------ reading
@contextlib.contextmanager
def _open(path):
    """The file open for reading; a missing file or one that is not HDF5 fails with one line."""
    path = Path(path)
    if not path.is_file():
        _fail(path, "is not a file" if path.exists() else "does not exist")
    try:
        hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        _fail(path, f"cannot read: {e}")
    if not hdf5:
        _fail(path, "not an HDF5 file (a SONATA spike file is HDF5 holding /spikes/<population>/timestamps "
                    "and node_ids)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        _fail(path, f"cannot read: {e}")
    with f:
        yield f


def _population_groups(f, path) -> list[str]:
    spikes = f.get("spikes")
    if spikes is None:
        top = ", ".join(f.keys()) or "nothing"
        _fail(path, f"no /spikes group (the file holds {top}): not a SONATA spike file")
    if not isinstance(spikes, h5py.Group):
        _fail(path, "/spikes is a dataset; expected a group holding one group per population")
    names = [k for k, v in spikes.items() if isinstance(v, h5py.Group)]
    if not names and "timestamps" in spikes:
        _fail(path, "/spikes holds timestamps directly (the layout before SONATA had populations); "
                    "expected /spikes/<population>/timestamps and node_ids")
    if not names:
        _fail(path, "/spikes holds no population group")
    return names


def populations(path) -> list[str]:
    """Names of the populations of a SONATA spike file (the groups under ``/spikes``).

    Raises
    ------
    ValidationError
        The file is missing, not HDF5, or has no ``/spikes`` group with populations.
    """
    with _open(path) as f:
        return _population_groups(f, path)


def choose_population(path, names: list[str], population: str | None) -> str:
    """``population`` if it is one of ``names``; the only name if ``population`` is None.

    Raises
    ------
    ValidationError
        An unknown name (with a did-you-mean), or None when the file has several populations.
    """
    if population is None:
        if len(names) > 1:
            _fail(path, f"holds populations {', '.join(names)}: say which one to read")
        return names[0]
    if population not in names:
        _fail(path, f"unknown population {population!r}{did_you_mean(population, names)}; "
                    f"the file holds {', '.join(names)}")
    return population


def _text(v) -> str | None:
    """A string attribute as str, whether stored variable-length, fixed-length or as a 1-element array."""
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.reshape(-1)[0]
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return v.strip() if isinstance(v, str) else None


def _dataset(path, group, where: str, key: str):
    d = group.get(key)
    if d is None:
        _fail(path, f"{where}: missing dataset {key!r} (has {', '.join(group.keys()) or 'nothing'})")
    if not isinstance(d, h5py.Dataset):
        _fail(path, f"{where}/{key} is a group; expected a dataset")
    if d.ndim != 1:
        _fail(path, f"{where}/{key}: expected a 1-D dataset, got shape {d.shape}")
    return d


def _first(path, bad: np.ndarray, values: np.ndarray, at: str, expected: str, unit: str = "") -> None:
    """Fail at the first index where ``bad`` holds: ``"/spikes/a/timestamps[3]: <expected>, got -1.0"``."""
    if bad.any():
        i = int(np.argmax(bad))
        _fail(path, f"{at}[{i}]: {expected}, got {values[i].item()!r}{unit}")


def _node_ids(path, group, where: str) -> np.ndarray:
    d = _dataset(path, group, where, "node_ids")
    if d.dtype.kind not in "iu":
        _fail(path, f"{where}/node_ids: expected integer node ids (uint64), got {d.dtype}")
    a = d[()]
    at = f"{where}/node_ids"
    if d.dtype.kind == "u":
        _first(path, a > MAX_NODE_ID, a, at, "expected a node id below 2**63")
    else:
        _first(path, a < 0, a, at, "expected a node id >= 0")
    return a.astype(np.int64)


def _timestamps(path, group, where: str) -> tuple[np.ndarray, str]:
    """The times in ms and the file's units."""
    d = _dataset(path, group, where, "timestamps")
    at = f"{where}/timestamps"
    if d.dtype.kind not in "fiu":
        _fail(path, f"{at}: expected numbers (double), got {d.dtype}")
    units = "ms"
    if "units" in d.attrs:
        units = _text(d.attrs["units"])
        if units not in UNITS:
            _fail(path, f"{at}: attribute units is {units if units is not None else d.attrs['units']!r}; "
                        f"expected {' or '.join(map(repr, UNITS))}")
    raw = d[()]
    if d.dtype.kind == "f":
        _first(path, ~np.isfinite(raw), raw, at, "expected a finite time")
    _first(path, raw < 0, raw, at, "expected a time >= 0", f" {units}")
    times = raw.astype(np.float64)
    if UNITS[units] != 1.0:
        with np.errstate(over="ignore"):
            times = times * UNITS[units]
        # a finite time in seconds can overflow in ms (1e307 s): refuse it here, not as an inf later
        _first(path, ~np.isfinite(times), raw, at, f"expected a time below {np.finfo(np.float64).max / UNITS[units]:g} "
                                                   f"{units} (finite in ms)", f" {units}")
    return times, units


def _sorting(path, group, where: str) -> str:
    if "sorting" not in group.attrs:
        return "none"
    value = group.attrs["sorting"]
    enum = h5py.check_enum_dtype(group.attrs.get_id("sorting").dtype)
    if enum:  # libsonata's enum: map by the names it declares, not by number
        by_value = {v: k for k, v in enum.items()}
        name = by_value.get(int(np.asarray(value).reshape(-1)[0]))
    else:  # bmtk writes a string
        name = _text(value)
    if name not in SORTINGS:
        _fail(path, f"{where}: attribute sorting is {name if name is not None else value!r}; "
                    f"expected one of {', '.join(SORTINGS)}")
    return name


def _check_sorted(path, where: str, sorting: str, ids: np.ndarray, times: np.ndarray) -> None:
    """The data follow ``sorting`` (by_id: node ids never decrease; by_time: times never decrease)."""
    key, values = {"by_id": ("node_ids", ids), "by_time": ("timestamps", times)}.get(sorting, (None, None))
    if key is None or values.size < 2:
        return
    down = values[1:] < values[:-1]
    if down.any():
        i = int(np.argmax(down))
        unit = " ms" if key == "timestamps" else ""
        _fail(path, f"{where}: attribute sorting is {sorting!r} but {key}[{i + 1}] = {values[i + 1].item()!r}{unit} "
                    f"comes after {key}[{i}] = {values[i].item()!r}{unit}")


def read_spikes(path, population: str | None = None) -> PopulationSpikes:
    """Read the spikes of one population of a SONATA spike file.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file.
    population : str, optional
        The population (group under ``/spikes``) to read; None: the file's only population.

    Returns
    -------
    PopulationSpikes
        Node ids (int64, as in the file, 0-based within the population) and times (float64 ms:
        a float64 file's values bit for bit, float32 widened exactly, seconds times 1000.0), in
        file order. O(N) for N spikes (O(N) checks of the declared sorting included).

    Raises
    ------
    ValidationError
        One line naming the file and the HDF5 object at fault, see the module docstring.
    """
    with _open(path) as f:
        name = choose_population(path, _population_groups(f, path), population)
        group, where = f["spikes"][name], f"/spikes/{name}"
        ids = _node_ids(path, group, where)
        times, units = _timestamps(path, group, where)
        if ids.size != times.size:
            _fail(path, f"{where}: node_ids has {ids.size} values but timestamps has {times.size}; "
                        "expected one node id per timestamp")
        sorting = _sorting(path, group, where)
        _check_sorted(path, where, sorting, ids, times)
    return PopulationSpikes(name, ids, times, sorting, units)


def read_bytes_bound(path) -> int:
    """An upper bound on the bytes of reading one population: 32 per spike of the whole file; 0 if unreadable."""
    try:
        with h5py.File(path, "r") as f:
            spikes = f["spikes"]
            return BYTES_PER_SPIKE * sum(g["timestamps"].size for g in spikes.values()
                                         if isinstance(g, h5py.Group) and "timestamps" in g)
    except Exception:  # h5py raises many types for files that are not SONATA; reading reports them
        return 0


# ------------------------------------------------------------------------------------------ writing
def _population_data(name, ids, times, sorting: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked uint64 node ids and float64 times of one population, in the order ``sorting`` asks."""
    where = f"population {name!r}"
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValidationError(where, "expected a non-empty name without '/' (it names an HDF5 group)")
    ids, times = np.asarray(ids), np.asarray(times)
    if ids.ndim != 1 or times.ndim != 1 or ids.size != times.size:
        raise ValidationError(where, f"expected 1-D node ids and times of equal length, got shapes "
                                     f"{ids.shape} and {times.shape}")
    if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0):
        raise ValidationError(f"{where}.node_ids", "expected integers >= 0")
    times = times.astype(np.float64, copy=False)
    if not np.all(np.isfinite(times) & (times >= 0)):
        raise ValidationError(f"{where}.times", "expected finite times >= 0 ms")
    if sorting == "by_time":
        order = np.lexsort((ids, times))  # ties in time by node id: one documented order
    elif sorting == "by_id":
        order = np.lexsort((times, ids))  # the guide's secondary key: each node's times in order
    else:
        order = np.arange(ids.size)
    return ids[order].astype(np.uint64), times[order]


def _write_atomic(path: Path, write) -> Path:
    """Call ``write(h5py.File)`` on a new file beside ``path``, then rename it to ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with h5py.File(tmp, "x") as f:  # "x": never reuse a file; created with the usual permissions
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def write_populations(path, spikes: Mapping, *, sorting: str = "by_time") -> Path:
    """Write a SONATA spike file from arrays, one population per entry.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file, replaced atomically if it exists.
    spikes : mapping of str -> (node_ids, times)
        Per population name: node ids (integers >= 0, 0-based within the population) and spike
        times (ms, finite, >= 0). A population may have no spikes.
    sorting : {"by_time", "by_id", "none"}
        Order of each population's spikes: by time (ties by node id), by node id (each node's
        times in order) or as given. Stored as the ``sorting`` attribute.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValidationError
        A bad population name, unequal lengths, a negative id, a time that is not finite or < 0.
    OSError
        The file cannot be written (nothing is left behind).
    """
    if sorting not in SORTINGS:
        raise ValidationError("sorting", f"expected one of {', '.join(SORTINGS)}, got {sorting!r}")
    data = {name: _population_data(name, ids, times, sorting) for name, (ids, times) in spikes.items()}

    def write(f):
        f.attrs["magic"] = np.uint32(MAGIC)
        f.attrs["version"] = np.asarray(VERSION, dtype=np.uint32)
        root = f.create_group("spikes", track_order=True)  # populations listed in the order given
        for name, (ids, times) in data.items():
            group = root.create_group(name)
            group.attrs.create("sorting", SORTINGS.index(sorting), dtype=SORTING_DTYPE)
            group.create_dataset("timestamps", data=times).attrs["units"] = "ms"
            group.create_dataset("node_ids", data=ids)

    return _write_atomic(Path(path), write)


def _selected(results, population_names) -> dict:
    """eventsim population -> SONATA population name, checked against ``results``."""
    recorded = lambda name: bool(results.recorded[results.population_of(name)].any())  # noqa: E731
    if population_names is None:
        return {name: name for name in results.pop_names if recorded(name)}
    if isinstance(population_names, str):
        population_names = [population_names]
    pairs = population_names.items() if isinstance(population_names, Mapping) else [(n, n) for n in population_names]
    out = {}
    for name, renamed in pairs:
        if name not in results.pop_names:
            hint = did_you_mean(name, results.pop_names, otherwise=f"; have {', '.join(results.pop_names)}")
            raise ValidationError("population_names", f"unknown population {name!r}{hint}")
        if not recorded(name):
            raise ValidationError("population_names", f"no neuron of population {name!r} was recorded")
        out[name] = renamed
    if len(set(out.values())) < len(out):
        raise ValidationError("population_names", f"expected distinct SONATA names, got {list(out.values())}")
    return out


def write_spikes(path, results, population_names=None, *, sorting: str = "by_time") -> Path:
    """Write the spikes of a run as a SONATA spike file.

    Each eventsim population becomes the SONATA population of the same name (or the name
    ``population_names`` maps it to), with node ids local to it (global id minus its first id)
    and times in ms exactly as recorded. Only spikes are written: SONATA has no place for the
    set of recorded neurons or the simulated duration.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file, replaced atomically if it exists.
    results : eventsim.Results
    population_names : sequence of str or mapping of str -> str, optional
        The populations to write (all of them must have recorded neurons), or a mapping from
        eventsim population to SONATA population name. None: every population with at least
        one recorded neuron, under its own name.
    sorting : {"by_time", "by_id", "none"}
        See :func:`write_populations`; "by_time" keeps the order of ``results``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValidationError
        An unknown or unrecorded population, or two mapped to the same name.
    """
    spikes = {}
    for name, renamed in _selected(results, population_names).items():
        ids, times = results.spikes_of(name)
        spikes[renamed] = (ids - results.population_of(name).start, times)
    return write_populations(path, spikes, sorting=sorting)
