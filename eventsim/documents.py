"""Scenario documents as TOML: read, override from the command line, hash and write back.

These work on the parsed document (nested dicts and lists) and know nothing of its schema:
:mod:`eventsim.scenario` validates it. Reading uses :mod:`tomllib`; :func:`dumps_toml` writes the
subset of TOML that scenario documents use (the resolved copy that ``eventsim run`` saves).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import tomllib

from eventsim.errors import ScenarioError

__all__ = ["read_document", "apply_overrides", "document_hash", "dumps_toml", "toml_type_name"]


def toml_type_name(v) -> str:
    """What a parsed TOML value is, in words ("an integer", "a table", ...), for error messages."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}
    return names.get(type(v), type(v).__name__)


def read_document(path) -> dict:
    """Parse a scenario file with :mod:`tomllib`; unreadable or malformed files raise ScenarioError."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise ScenarioError(str(path), "", f"cannot read the scenario file: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(str(path), "", f"not valid TOML: {e}") from None


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", text.strip()):
            return text.strip()  # a bare word: --set run.engine=reference
        raise


def apply_overrides(doc: dict, overrides, path="<scenario>") -> dict:
    """Return a copy of ``doc`` with each ``"dotted.key=value"`` set (value parsed as TOML).

    Keys are table keys and list indices: ``run.duration=200``, ``projections.0.weight=0.2`` or
    ``projections[0].weight=0.2``. Missing table keys are created; unknown ones are then reported
    by validation like any other key.
    """
    doc = copy.deepcopy(doc)
    for item in overrides or ():
        key, sep, text = item.partition("=")
        key = re.sub(r"\[(\d+)\]", r".\1", key.strip())
        parts = key.split(".")
        if not sep or not all(parts):
            raise ScenarioError(str(path), key or item, f"--set expects KEY=VALUE with a dotted key, got {item!r}")
        try:
            value = _parse_value(text)
        except tomllib.TOMLDecodeError as e:
            raise ScenarioError(str(path), key, f"--set value {text!r} is not a TOML value ({e})") from None
        node = doc
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError(str(path), where, f"--set: expected an index below {len(node)}, got {part!r}")
                part = int(part)
            elif not isinstance(node, dict):
                raise ScenarioError(str(path), where, f"--set: {'.'.join(parts[:depth])} is {toml_type_name(node)}, not a table")
            if last:
                node[part] = value
            else:
                if isinstance(node, dict) and part not in node:
                    node[part] = {}
                node = node[part]
    return doc


def document_hash(doc: dict) -> str:
    """sha256 of the canonical JSON form of a document (sorted keys, no whitespace)."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


_BARE = re.compile(r"^[A-Za-z0-9_\-]+$")


def _key(k) -> str:
    return k if _BARE.match(str(k)) else json.dumps(str(k))


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_scalar(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _is_table_array(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _emit(lines: list, table: dict, prefix: tuple, depth: int) -> None:
    """Scalars first, then sub-tables as [sections] (two levels deep) and arrays of tables."""
    nested = lambda v: depth < 2 and (isinstance(v, dict) or _is_table_array(v))  # noqa: E731
    for k, v in table.items():
        if not nested(v):
            lines.append(f"{_key(k)} = {_scalar(v)}")
    for k, v in table.items():
        if nested(v) and isinstance(v, dict):
            inner = depth + 1 < 2 and all(isinstance(x, dict) or _is_table_array(x) for x in v.values())
            if not (inner and v):  # [a.b] sections define [a] implicitly
                lines.extend(["", "[" + ".".join(map(_key, prefix + (k,))) + "]"])
            _emit(lines, v, prefix + (k,), depth + 1)
        elif nested(v):
            for item in v:
                lines.extend(["", "[[" + ".".join(map(_key, prefix + (k,))) + "]]"])
                _emit(lines, item, prefix + (k,), 2)


def dumps_toml(doc: dict) -> str:
    """Write a document (tables, arrays of tables, strings, numbers, booleans, arrays) as TOML."""
    lines: list = []
    _emit(lines, doc, (), 0)
    return "\n".join(lines).lstrip("\n") + "\n"
