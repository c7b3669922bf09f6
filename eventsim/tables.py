"""Table files of a scenario: CSV with a header row, NPZ and NPY, read as numeric columns.

Per-neuron values (``{file, column}``), connection tables (``source``, ``target`` and optional
``weight``, ``delay`` columns) and spike tables (``target``/``ids``, ``time``/``times``, ...) are
read here, column by column, as 1-D float64 arrays (int64 for ids). ``ids`` and ``times`` are
accepted for ``target`` and ``time`` so that eventsim's own ``spikes.npz`` can be replayed.

Every function takes ``ck``, the scenario's checker (:class:`eventsim.scenario.Checker`): problems
are reported through ``ck.fail`` as a :class:`~eventsim.errors.ScenarioError` naming the scenario
file, the key path and the table file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ["read_columns", "column", "check_ids", "file_values"]

_COLUMN_ALIASES = {"target": ("target", "ids"), "time": ("time", "times")}  # read eventsim's spikes.npz directly


def _read_csv(ck, path: Path, where: str) -> dict:
    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        ck.fail(where, f"cannot read {path.name}: {e}")
    if not rows:
        ck.fail(where, f"{path.name} is empty (expected a header row naming the columns)")
    header = [h.strip() for h in rows[0]]
    cols = {h: [] for h in header}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            ck.fail(where, f"{path.name} row {line}: expected {len(header)} fields, got {len(row)}")
        for h, x in zip(header, row):
            try:
                cols[h].append(float(x))
            except ValueError:
                ck.fail(where, f"{path.name} row {line}, column {h!r}: expected a number, got {x.strip()!r}")
    return {h: np.asarray(v, dtype=np.float64) for h, v in cols.items()}


def read_columns(ck, path: Path, where: str) -> dict:
    """Columns of a CSV (header row) or NPZ table file, as 1-D arrays of equal length."""
    if path.suffix.lower() == ".csv":
        cols = _read_csv(ck, path, where)
    else:
        try:
            with np.load(path, allow_pickle=False) as z:
                cols = {k: np.asarray(z[k]) for k in z.files}
        except Exception as e:  # numpy raises many types for corrupt files
            ck.fail(where, f"cannot read {path.name}: {type(e).__name__}: {e}")
    lengths = {k: a.size for k, a in cols.items()}
    if any(a.ndim != 1 for a in cols.values()) or len(set(lengths.values())) > 1:
        ck.fail(where, f"{path.name}: expected 1-D columns of equal length, got sizes {lengths}")
    return cols


def column(ck, cols: dict, name: str, path: Path, where: str, *, integer=False, required=True):
    """Column ``name`` (or an alias) of a table as finite float64 (int64 ids if ``integer``).

    A missing column fails if ``required``, else gives None.
    """
    for alias in _COLUMN_ALIASES.get(name, (name,)):
        if alias in cols:
            a = cols[alias]
            break
    else:
        if required:
            ck.fail(where, f"{path.name}: missing column {name!r} (has {', '.join(cols) or 'none'})")
        return None
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        ck.fail(where, f"{path.name}: column {name!r} must be numeric, got {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        ck.fail(where, f"{path.name}: column {name!r} holds non-finite values")
    if integer:
        if np.any(a != np.round(a)):
            ck.fail(where, f"{path.name}: column {name!r} must hold integer ids")
        return a.astype(np.int64)
    return a


def check_ids(ck, ids: np.ndarray, lo: int, hi: int, where: str, what: str) -> None:
    """Fail unless every id is in ``[lo, hi)``; ``what`` names them in the message."""
    bad = (ids < lo) | (ids >= hi)
    if bad.any():
        ck.fail(where, f"{what} id {int(ids[bad][0])} out of range [{lo}, {hi})")


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
        if a.ndim == 2 and name is not None:
            a = a[:, ck.number(name, f"{where}.column", integer=True, minimum=0, maximum=a.shape[1] - 1)]
        if a.ndim != 1:
            ck.fail(f"{where}.file", f"{path.name}: expected a 1-D array (or 2-D with an integer column), got shape {a.shape}")
        cols, name = {"values": a}, "values"
    else:
        cols = read_columns(ck, path, f"{where}.file")
        name = ck.string(name, f"{where}.column")
    a = column(ck, cols, name, path, f"{where}.column")
    if n is not None and a.size != n:
        ck.fail(f"{where}.file", f"{path.name}: expected {n} values (one per neuron), got {a.size}")
    return a
