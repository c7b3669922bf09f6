"""Scenario documents as TOML: read, override from the command line, hash and write back.

These work on the parsed document (nested dicts and lists) and know nothing of its schema:
:mod:`eventsim.scenario` validates it. Reading uses :mod:`tomllib`; :func:`dumps_toml` writes the
subset of TOML that scenario documents use (the resolved copy that ``eventsim run`` saves).
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import math
import re
import tomllib

from eventsim.errors import ScenarioError

__all__ = ["read_document", "apply_overrides", "document_hash", "dumps_toml", "toml_type_name", "NotUTF8",
           "utf8_blocks", "not_utf8", "depth", "MAX_BYTES", "MAX_DEPTH"]


def toml_type_name(v) -> str:
    """What a parsed TOML value is, in words ("an integer", "a table", ...), for error messages."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table",
             datetime.datetime: "a date-time", datetime.date: "a date", datetime.time: "a time"}
    return names.get(type(v), type(v).__name__)


MAX_BYTES = 256 * 2**20
"""Largest scenario file read (bytes); big arrays belong in table files."""
MAX_DEPTH = 32
"""Deepest nesting of tables and arrays accepted (a scenario needs 5)."""


class NotUTF8(ValueError):
    """A file is not UTF-8 text; the message is ``"byte 0xff at offset 12"``."""


def utf8_blocks(fh, size: int = 2**20):
    """Yield the text of binary file ``fh`` block by block, checking that it is UTF-8.

    Raises
    ------
    NotUTF8
        At the first byte that is not UTF-8 (its value and offset in the file).
    """
    base, carry = 0, b""
    while True:
        block = fh.read(size)
        data = carry + block
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            if block and e.reason == "unexpected end of data":  # a character cut by the block boundary
                yield data[:e.start].decode("utf-8")
                base, carry = base + e.start, data[e.start:]
                continue
            raise NotUTF8(f"byte 0x{data[e.start]:02x} at offset {base + e.start}") from None
        yield text
        if not block:
            return
        base, carry = base + len(data), b""


def not_utf8(path) -> str | None:
    """Where file ``path`` stops being UTF-8 (``"byte 0xff at offset 12"``), or None if it is UTF-8 text."""
    try:
        with open(path, "rb") as fh:
            for _ in utf8_blocks(fh):
                pass
    except NotUTF8 as e:
        return str(e)
    return None


def depth(node) -> int:
    """Nesting depth of tables and arrays (0 for a scalar), without recursion."""
    deepest, stack = 0, [(node, 0)]
    while stack:
        v, d = stack.pop()
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        if children is not None:
            deepest = max(deepest, d + 1)
            stack.extend((c, d + 1) for c in children)
    return deepest


def _check_depth(doc: dict, path) -> dict:
    if depth(doc) > MAX_DEPTH:
        raise ScenarioError(str(path), "", f"tables and arrays nested more than {MAX_DEPTH} deep")
    return doc


def read_document(path) -> dict:
    """Parse a scenario file (UTF-8, a leading byte-order mark allowed) with :mod:`tomllib`.

    Raises
    ------
    ScenarioError
        Unreadable, larger than :data:`MAX_BYTES`, not UTF-8 (naming the byte offset), not TOML,
        or nested deeper than :data:`MAX_DEPTH`.
    """
    pieces = []
    try:
        with open(path, "rb") as fh:
            for piece in utf8_blocks(fh):
                pieces.append(piece)
                if fh.tell() > MAX_BYTES:
                    raise ScenarioError(str(path), "", f"larger than {MAX_BYTES // 2**20} MiB: is it a scenario? "
                                                       "(put big arrays in table files)")
    except OSError as e:
        raise ScenarioError(str(path), "", f"cannot read the scenario file: {e.strerror or e}") from None
    except NotUTF8 as e:  # checked block by block: a binary file is refused at its first bytes
        raise ScenarioError(str(path), "", f"not UTF-8 text ({e}); save the scenario as UTF-8") from None
    # spreadsheet programs and some editors start UTF-8 files with a byte-order mark
    text = "".join(pieces).removeprefix("\ufeff")
    if not text.strip():
        raise ScenarioError(str(path), "", "the file is empty (a scenario has schema = 1, [run] and "
                                           "[populations.NAME])")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(str(path), "", f"not valid TOML: {e}") from None
    except RecursionError:
        raise ScenarioError(str(path), "", f"tables and arrays nested more than {MAX_DEPTH} deep") from None
    return _check_depth(doc, path)


def _parse_value(text: str):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except RecursionError:
        raise tomllib.TOMLDecodeError(f"nested more than {MAX_DEPTH} deep") from None
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
    return _check_depth(doc, path)


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
