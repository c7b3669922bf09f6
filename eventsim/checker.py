"""Key and type checks of a parsed scenario document, each failing with a one-line ScenarioError.

:class:`Checker` knows one scenario file: every check names the key path (``projections[2].delay``)
and what was expected. :mod:`eventsim.scenario` uses it for the document's schema and
:mod:`eventsim.tables` for table files.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from eventsim import tables
from eventsim.documents import toml_type_name
from eventsim.errors import ScenarioError, did_you_mean
from eventsim.memory import megabytes

__all__ = ["Checker", "show", "missing_file"]


def show(v) -> str:
    """A parsed TOML value for messages: ``"a float 1.5"``, ``"a string 'x'"``, ``"an array"``."""
    if isinstance(v, (list, dict)):
        return toml_type_name(v)
    return f"{toml_type_name(v)} {v!r}" if isinstance(v, (str, int, float)) else f"{toml_type_name(v)} {v}"


def _num(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


class Checker:
    """Type and key checks that raise :class:`ScenarioError` for one scenario file."""

    def __init__(self, path: Path, available: int | None = None):
        self.path = path
        self.available = available  # bytes a table file may take to read, None: unchecked

    def fail(self, where: str, message: str):
        raise ScenarioError(str(self.path), where, message)

    def keys(self, table, allowed, where: str, required=()) -> None:
        if not isinstance(table, dict):
            self.fail(where, f"expected a table, got {show(table)}")
        for key in table:
            if key not in allowed:
                hint = did_you_mean(key, allowed, otherwise=f"; allowed: {', '.join(allowed)}")
                self.fail(f"{where}.{key}" if where else key, f"unknown key{hint}")
        for key in required:
            if key not in table:
                self.fail(f"{where}.{key}" if where else key, "missing required key")

    def number(self, v, where: str, *, integer=False, minimum=None, strict=False, maximum=None):
        what = "an integer" if integer else "a number"
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if not ok or isinstance(v, bool):
            self.fail(where, f"expected {what}, got {show(v)}")
        if not integer and not math.isfinite(v):
            self.fail(where, f"expected a finite number, got {v!r}")
        if integer:  # TOML integers are unbounded; arrays of them become int64
            minimum = -(2**63) if minimum is None else minimum
            maximum = 2**63 - 1 if maximum is None else maximum
        if minimum is not None and (v <= minimum if strict else v < minimum):
            self.fail(where, f"expected {what} {'>' if strict else '>='} {_num(minimum)}, got {v!r}")
        if maximum is not None and v > maximum:
            self.fail(where, f"expected {what} <= {_num(maximum)}, got {v!r}")
        return v

    def string(self, v, where: str, choices=None) -> str:
        if not isinstance(v, str):
            self.fail(where, f"expected a string, got {show(v)}")
        if choices is not None and v not in choices:
            self.fail(where, f"expected one of {', '.join(map(repr, choices))}, got {v!r}{did_you_mean(v, choices)}")
        return v

    def boolean(self, v, where: str) -> bool:
        if not isinstance(v, bool):
            self.fail(where, f"expected true or false, got {show(v)}")
        return v

    def numbers(self, v, where: str, *, integer=False, minimum=None, maximum=None) -> np.ndarray:
        if not isinstance(v, list):
            self.fail(where, f"expected an array of numbers, got {show(v)}")
        for k, x in enumerate(v):
            self.number(x, f"{where}[{k}]", integer=integer, minimum=minimum, maximum=maximum)
        return np.asarray(v, dtype=np.int64 if integer else np.float64)

    def file(self, rel, where: str, suffixes) -> Path:
        self.string(rel, where)
        p = Path(rel) if Path(rel).is_absolute() else self.path.parent / rel
        if p.suffix.lower() not in suffixes:
            listed = " or ".join(suffixes) if len(suffixes) < 3 else f"{', '.join(suffixes[:-1])} or {suffixes[-1]}"
            self.fail(where, f"expected a {listed} file, got {rel!r}")
        if not p.is_file():
            self.fail(where, missing_file(p))
        if self.available is not None and p.suffix.lower() in (".csv", ".npz") + tables.SONATA_SUFFIXES:
            need = tables.read_bytes_bound(p)
            if need > self.available:
                self.fail(where, f"reading {p.name} needs up to {megabytes(need)} but only "
                                 f"{megabytes(self.available)} of memory is available")
        return p

    def table(self, spec: dict, where: str, allowed, sonata: bool = False) -> tables.Table:
        """The table file ``spec["file"]`` with its ``ignore_columns``, only ``allowed`` columns.

        With ``sonata``, the file may also be a SONATA spike file (``.h5``, ``.sonata``), whose
        population ``spec["sonata_population"]`` (default: its only one) is read as a
        :class:`~eventsim.tables.SonataTable`.
        """
        suffixes = (".csv", ".npz") + (tables.SONATA_SUFFIXES if sonata else ())
        path = self.file(spec["file"], f"{where}.file", suffixes)
        if path.suffix.lower() in tables.SONATA_SUFFIXES:
            if "ignore_columns" in spec:
                self.fail(f"{where}.ignore_columns", f"only used with CSV and NPZ tables; {path.name} is a SONATA file")
            population = spec.get("sonata_population")
            if population is not None:
                self.string(population, f"{where}.sonata_population")
            return tables.read_sonata(self, path, where, population)
        if "sonata_population" in spec:
            self.fail(f"{where}.sonata_population", f"only used with a SONATA file (.h5, .sonata), got {path.name}")
        ignore = spec.get("ignore_columns", [])
        if not isinstance(ignore, list) or not all(isinstance(x, str) for x in ignore):
            self.fail(f"{where}.ignore_columns", f"expected an array of column names, got {show(ignore)}")
        return tables.read_table(self, path, f"{where}.file", allowed, ignore)


def missing_file(path: Path) -> str:
    """The message for a table file that cannot be read as one."""
    return f"table file {str(path)!r} {'is not a file' if path.exists() else 'does not exist'}"
