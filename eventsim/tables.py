"""Table files of a scenario: CSV with a header row, NPZ and NPY, read as numeric columns.

Per-neuron values (``{file, column}``), connection tables (``source``, ``target`` and optional
``weight``, ``delay`` columns) and spike tables (``target``/``ids``, ``time``/``times``, ...) are
read here as a :class:`Table` of 1-D float64 columns (ids checked and turned into int64). A spike
table may also be one population of a SONATA spike file (``.h5``, ``.sonata``), read by
:mod:`eventsim.sonata` as a :class:`SonataTable` with the columns ``ids`` and ``times``, so it
takes the same checks and the same replay path as a CSV table.

CSV: UTF-8 (a leading byte-order mark allowed), comma-separated, the first line that is not
blank or a comment is the header; blank lines and ``#`` comments (to the end of a line) are
skipped; every other line holds one number per column. Errors name the line.

Every function takes ``ck``, the scenario's checker (:class:`eventsim.checker.Checker`): problems
are reported through ``ck.fail`` as a :class:`~eventsim.errors.ScenarioError` naming the scenario
file, the key path and the table file.
"""

from __future__ import annotations

import csv
import re
import warnings
import zipfile
from array import array
from pathlib import Path

import numpy as np

from eventsim.documents import not_utf8
from eventsim.errors import ValidationError, did_you_mean

__all__ = ["Table", "SonataTable", "read_table", "read_sonata", "column", "check_ids", "check_rows", "file_values",
           "csv_cells", "read_bytes_bound", "MAX_ID", "SONATA_SUFFIXES"]

MAX_ID = 2**53  # float64 holds every integer below this exactly; any id this large is out of range anyway
BYTES_PER_CELL = 16
"""Peak bytes per CSV cell while reading: the parsed float64 block and its per-column copies."""
SONATA_SUFFIXES = (".h5", ".sonata")
"""Suffixes of SONATA spike files, which a spike table may be."""


class Table:
    """The columns of one table file.

    Attributes
    ----------
    path : pathlib.Path
    columns : dict of str -> numpy.ndarray
        The columns read: 1-D arrays of equal length, in file order.
    header : list of str
        The names of all the file's columns.
    """

    def __init__(self, path: Path, columns: dict, header=None):
        self.path, self.columns = path, columns
        self.header = list(columns) if header is None else header
        self.named = {}  # a column's name in the file, by the name it was asked for (time -> times)

    @property
    def name(self) -> str:
        return self.path.name

    def row(self, i: int) -> str:
        """Where row ``i`` (0-based) is, for messages: ``"line 7"`` (CSV) or ``"row 6"``."""
        if self.path.suffix.lower() != ".csv":
            return f"row {i}"
        with open(self.path, newline="", encoding="utf-8-sig") as fh:
            for k, (line, _) in enumerate(_data_lines(fh)):
                if k == i + 1:  # the header is data line 0
                    return f"line {line}"
        return f"row {i}"

    def at(self, i: int, name: str | None = None) -> str:
        """Where row ``i`` (and column ``name``) is, for messages: ``"in.csv line 7, column 'time'"``."""
        return f"{self.name} {self.row(i)}" + (f", column {name!r}" if name is not None else "")


class SonataTable(Table):
    """The spikes of one population of a SONATA spike file, as a spike table.

    Columns ``ids`` (the file's ``node_ids``) and ``times`` (its ``timestamps`` in ms), the
    column names eventsim's own ``spikes.npz`` uses; messages name the HDF5 datasets.

    Attributes
    ----------
    population : str
        The SONATA population read.
    """

    DATASETS = {"ids": "node_ids", "times": "timestamps"}

    def __init__(self, path: Path, population: str, ids: np.ndarray, times: np.ndarray):
        super().__init__(path, {"ids": ids, "times": times})
        self.population = population

    def at(self, i: int, name: str | None = None) -> str:
        """``"in.h5: /spikes/lgn/timestamps[4]"``: the element of column ``name`` (default the node ids)."""
        return f"{self.name}: /spikes/{self.population}/{self.DATASETS.get(name, 'node_ids')}[{i}]"


def _names(names, show=str, most: int = 20) -> str:
    """Column names for a message, the first ``most`` of them."""
    names = list(names)
    return ", ".join(map(show, names[:most])) + (f", ... ({len(names)} in all)" if len(names) > most else "")


# ------------------------------------------------------------------------------------------- CSV
def _data_lines(fh):
    """(line number, fields) of every line that is not blank or a comment; the header is the first."""
    for line, text in enumerate(fh, start=1):
        text = text.split("#", 1)[0]
        if text.strip():
            yield line, next(csv.reader([text]))


def csv_cells(path: Path) -> int:
    """An upper bound on the cells of a CSV file (lines x header fields), read in 1 MiB blocks."""
    lines, header = 0, None
    with open(path, "rb") as fh:
        while block := fh.read(2**20):
            lines += max(block.count(b"\n"), block.count(b"\r")) + 1
            if header is None:
                header = block
    first = next((t for t in re.split(rb"[\r\n]", header or b"") if t.split(b"#")[0].strip()), b"")
    return lines * (first.count(b",") + 1)


def read_bytes_bound(path: Path) -> int:
    """An upper bound on the bytes of reading a table file: 16 per CSV cell (the parsed block and
    its column copies), twice the arrays of an NPZ (ids become float64, then int64), 32 per spike
    of a SONATA file (see :func:`eventsim.sonata.read_bytes_bound`)."""
    if path.suffix.lower() == ".csv":
        return BYTES_PER_CELL * csv_cells(path)
    if path.suffix.lower() in SONATA_SUFFIXES:
        try:
            from eventsim import sonata
        except ImportError:
            return 0  # reading it reports the missing h5py
        return sonata.read_bytes_bound(path)
    try:
        with zipfile.ZipFile(path) as z:
            return 2 * sum(info.file_size for info in z.infolist())
    except (OSError, zipfile.BadZipFile):
        return 0  # reading it reports the problem


def _parse_fast(path: Path, header_line: int, width: int):
    """The data rows as a float64 (rows, width) array via numpy's C reader, or None when it objects."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": a header alone is a valid empty table
            a = np.loadtxt(path, delimiter=",", comments="#", skiprows=header_line, dtype=np.float64, ndmin=2,
                           encoding="utf-8-sig", quotechar='"')
    except ValueError:  # a malformed line (or one only the careful parser accepts): parse again carefully
        return None
    if a.size == 0:
        return np.zeros((0, width))
    return a if a.shape[1] == width else None


def _parse_careful(ck, lines, header: list, keep: list, name: str, where: str) -> list:
    """The ``keep`` columns (indices) as compact arrays, line by line; fails at the first bad line."""
    cols = [array("d") for _ in keep]
    for line, row in lines:
        if len(row) != len(header):
            ck.fail(where, f"{name} line {line}: expected {len(header)} fields ({_names(header)}), got {len(row)}")
        for j, out in zip(keep, cols):
            x = row[j]
            try:
                out.append(float(x if "_" not in x else "not a number"))  # float() takes 1_000, CSV does not
            except ValueError:
                ck.fail(where, f"{name} line {line}, column {header[j]!r}: expected a number, got {x.strip()!r}")
    return [np.frombuffer(c, dtype=np.float64) if len(c) else np.zeros(0) for c in cols]


def _check_header(ck, header: list, at: str, where: str) -> None:
    if len(header) == 1 and any(c in header[0] for c in ";\t|"):
        ck.fail(where, f"{at}: expected comma-separated column names, got {header[0]!r}")
    if "" in header or len(set(header)) < len(header):
        ck.fail(where, f"{at}: expected a header of distinct column names, got {_names(header, repr)}")
    try:
        [float(h) for h in header]
    except ValueError:
        return
    ck.fail(where, f"{at}: expected a header naming the columns, got numbers ({_names(header)})")


def _read_csv(ck, path: Path, where: str, choose) -> tuple:
    """(header, the columns ``choose(header)`` picks as float64 arrays); every cell of those is checked."""
    bad = not_utf8(path)
    if bad:
        ck.fail(where, f"{path.name} is not UTF-8 text ({bad}); save it as UTF-8 CSV")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            lines = _data_lines(fh)
            first = next(lines, None)
            if first is None:
                ck.fail(where, f"{path.name} is empty (expected a header row naming the columns)")
            header_line, header = first[0], [h.strip() for h in first[1]]
            _check_header(ck, header, f"{path.name} line {header_line}", where)
            keep = [j for j, h in enumerate(header) if h in choose(header)]
            block = _parse_fast(path, header_line, len(header))
            if block is None:  # e.g. text in a column not read: only the careful parser can skip it
                cols = _parse_careful(ck, lines, header, keep, path.name, where)
                return header, dict(zip([header[j] for j in keep], cols))
    except (OSError, csv.Error) as e:
        ck.fail(where, f"cannot read {path.name}: {e}")
    return header, {header[j]: np.ascontiguousarray(block[:, j]) for j in keep}


def _read_npz(ck, path: Path, where: str, choose) -> tuple:
    try:
        with np.load(path, allow_pickle=False) as z:
            return z.files, {k: np.asarray(z[k]) for k in choose(z.files)}
    except Exception as e:  # numpy raises many types for corrupt files
        ck.fail(where, f"cannot read {path.name}: {type(e).__name__}: {e}")


def read_table(ck, path: Path, where: str, allowed=None, ignore=(), only=None) -> Table:
    """Read a CSV (header row) or NPZ table file into equally long 1-D columns.

    Parameters
    ----------
    ck : Checker
    path : pathlib.Path
    where : str
        Key path of the file, for messages.
    allowed : tuple of str, optional
        The columns this table may have; any other fails, with a did-you-mean, unless listed in
        ``ignore``. None: any columns (per-neuron value files).
    ignore : sequence of str
        Columns not to read (the scenario's ``ignore_columns``); each must be a column of the file.
    only : sequence of str, optional
        Read only these columns (those the file has); None: all that are not ignored.
    """

    def choose(names: list) -> list:
        """Check the file's column names; return those to read."""
        for name in ignore:
            if name not in names:
                ck.fail(where, f"{path.name}: ignore_columns names {name!r}, which is not a column "
                               f"(has {_names(names) or 'none'})")
        for name in names if allowed is not None else ():
            if name not in allowed and name not in ignore:
                hint = did_you_mean(name, allowed)
                ck.fail(where, f"{path.name}: unknown column {name!r}{hint}; allowed: {', '.join(allowed)} "
                               "(or list it in ignore_columns)")
        return [n for n in names if n not in ignore and (only is None or n in only)]

    read = _read_csv if path.suffix.lower() == ".csv" else _read_npz
    header, cols = read(ck, path, where, choose)
    shapes = {k: a.shape for k, a in cols.items()}
    if any(a.ndim != 1 for a in cols.values()) or len(set(shapes.values())) > 1:
        ck.fail(where, f"{path.name}: expected 1-D columns of equal length, got shapes {shapes}")
    return Table(path, cols, list(header))


def read_sonata(ck, path: Path, where: str, population: str | None) -> SonataTable:
    """One population of a SONATA spike file as a spike table.

    Parameters
    ----------
    ck : Checker
    path : pathlib.Path
    where : str
        Key path of the stimulus: problems with the file are reported at ``where.file``, an
        unknown or missing population name at ``where.sonata_population``.
    population : str, optional
        The SONATA population; None: the file's only one.
    """
    try:
        from eventsim import sonata
    except ImportError:
        ck.fail(f"{where}.file", f'reading {path.name} (SONATA) needs h5py: pip install "eventsim[sonata]"')

    def call(key: str, fn, *args):
        try:
            return fn(*args)
        except ValidationError as e:  # e.where is the path; the scenario names the file by its key
            ck.fail(f"{where}.{key}", f"{path.name}: {e.detail}")

    names = call("file", sonata.populations, path)
    name = call("sonata_population", sonata.choose_population, path, names, population)
    spikes = call("file", sonata.read_spikes, path, name)
    return SonataTable(path, name, spikes.node_ids, spikes.times)


# ---------------------------------------------------------------------------------------- columns
def column(ck, table: Table, name: str, where: str, *, also: str | None = None, integer=False, required=True):
    """Column ``name`` (or ``also``, another name for it) of a table as finite float64 (int64 ids if ``integer``).

    A missing column fails if ``required``, else gives None.
    """
    found = [a for a in (name, also) if a is not None and a in table.columns]
    if len(found) > 1:
        ck.fail(where, f"{table.name}: columns {found[0]!r} and {found[1]!r} are the same; keep one")
    if not found:
        if required:
            ck.fail(where, f"{table.name}: missing column {name!r} (has {_names(table.header) or 'none'})")
        return None
    a = table.columns[found[0]]
    table.named[name] = found[0]
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        ck.fail(where, f"{table.name}: column {found[0]!r} must be numeric, got {a.dtype}")
    a = a.astype(np.float64, copy=False)
    check_rows(ck, table, where, found[0], ~np.isfinite(a), a, "expected a finite number")
    if integer:
        check_rows(ck, table, where, found[0], (np.abs(a) >= MAX_ID) | (a != np.round(a)), a, "expected an integer id")
        return a.astype(np.int64)
    return a


def check_rows(ck, table: Table, where: str, name: str, bad: np.ndarray, values: np.ndarray, expected: str) -> None:
    """Fail at the first row where ``bad`` holds: ``"in.csv line 7, column 'time': <expected>, got -1.0"``."""
    if bad.any():
        i = int(np.argmax(bad))
        ck.fail(where, f"{table.at(i, table.named.get(name, name))}: {expected}, got {float(values[i])!r}")


def check_ids(ck, ids: np.ndarray, lo: int, hi: int, where: str, what: str, table: Table | None = None) -> None:
    """Fail unless every id is in ``[lo, hi)``; ``what`` names them, ``table`` (if any) says where."""
    bad = (ids < lo) | (ids >= hi)
    if bad.any():
        i = int(np.argmax(bad))
        at = f"{table.at(i)}: " if table is not None else ""
        ck.fail(where, f"{at}{what} id {int(ids[i])} out of range [{lo}, {hi})")


def file_values(ck, v: dict, where: str, n: int | None) -> np.ndarray:
    """Values of ``{file, column}``: a CSV/NPZ column by name, a 1-D NPY, or a 2-D NPY's column index.

    ``n`` is the number of values expected (one per neuron), or None for any number.
    """
    path = ck.file(v["file"], f"{where}.file", (".csv", ".npy", ".npz"))
    name = v.get("column")
    if path.suffix.lower() == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except Exception as e:
            ck.fail(f"{where}.file", f"cannot read {path.name}: {type(e).__name__}: {e}")
        if a.ndim == 2:
            if name is None:
                ck.fail(f"{where}.column", f"missing required key: {path.name} is 2-D, give the column index "
                                           f"(0 to {a.shape[1] - 1})")
            a = a[:, ck.number(name, f"{where}.column", integer=True, minimum=0, maximum=a.shape[1] - 1)]
        if a.ndim != 1:
            ck.fail(f"{where}.file", f"{path.name}: expected a 1-D array (or 2-D with an integer column), got shape {a.shape}")
        table, name = Table(path, {"values": a}), "values"
    else:
        table = read_table(ck, path, f"{where}.file", only=[name] if isinstance(name, str) else [])
        if name is None:
            ck.fail(f"{where}.column", f"missing required key: which column of {path.name} to read "
                                       f"({_names(table.header) or 'it has none'})")
        name = ck.string(name, f"{where}.column")
    a = column(ck, table, name, f"{where}.column")
    if n is not None and a.size != n:
        ck.fail(f"{where}.file", f"{path.name}: expected {n} values (one per neuron), got {a.size}")
    return a
