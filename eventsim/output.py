"""Output folders of ``eventsim run``: where one may go, recognising one, writing one atomically.

An output folder is written complete into a hidden temporary sibling (``.NAME.tmp-*``) and renamed
into place in one step, so nobody ever sees half of one. ``--force`` replaces only an earlier
eventsim output folder (:func:`why_not_output`), and only the very one that was checked before the
run: if the destination appeared or changed while the run went on (another run wrote it), the new
results go beside it, to the first free ``NAME-2``, ``NAME-3``, ... Simulated results are never
thrown away, and nothing that eventsim did not write is ever deleted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from eventsim.errors import ValidationError

__all__ = ["FORMAT", "FILES", "Destination", "plan", "write_temporary", "move_into_place", "why_not_output"]

FORMAT = "eventsim-output/1"
"""Value of the ``format`` key of the ``summary.json`` written by this version."""

FORMATS = ("npz", "sonata")
"""Spike file formats of an output folder: ``npz`` (spikes.npz, always written) and ``sonata`` (spikes.h5)."""

FILES = ("spikes.npz", "summary.json", "scenario.toml", "voltages.npz", "spikes.h5", "raster.png")
"""Every file an output folder may hold (``eventsim run`` writes the first five, spikes.h5 with ``--format sonata``; ``eventsim plot`` the last)."""

_REQUIRED = ("spikes.npz", "summary.json")
# summary.json as written before the ``format`` key existed: exactly these keys
_OLD_KEYS = frozenset({"scenario", "seed", "engine", "versions", "neurons", "synapses", "duration_ms", "simulated_ms",
                       "interrupted", "spikes", "populations", "events", "wall_s", "events_per_s", "created", "host"})
_MAX_BESIDE = 1000


def why_not_output(path: Path) -> str | None:
    """Why ``path`` is not an eventsim output folder that ``--force`` may replace; None if it is one.

    An output folder holds ``spikes.npz`` and a ``summary.json`` with ``"format": "eventsim-output/1"``
    (or the exact keys of the summary written before that key existed), and no file or folder that
    eventsim does not write (:data:`FILES`). An empty folder may be replaced too (nothing is lost).
    """
    if path.is_symlink():
        return "it is a symbolic link"
    if not path.is_dir():
        return "it is a file, not a folder" if path.exists() else "it does not exist"
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        return f"its contents cannot be listed ({e.strerror})"
    if not names:
        return None
    foreign = [n for n in names if n not in FILES or not (path / n).is_file() or (path / n).is_symlink()]
    if foreign:
        return f"it holds {foreign[0]!r}, which eventsim does not write"
    missing = [n for n in _REQUIRED if n not in names]
    if missing:
        return f"it has no {missing[0]}"
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return "its summary.json is not eventsim's (not readable JSON)"
    if not isinstance(summary, dict) or not (summary.get("format") == FORMAT or _old_layout(summary)):
        return f"its summary.json is not eventsim's (no \"format\": \"{FORMAT}\")"
    return None


def _old_layout(summary: dict) -> bool:
    versions = summary.get("versions")
    return set(summary) == _OLD_KEYS and isinstance(versions, dict) and "eventsim" in versions


def _identity(path: Path) -> tuple | None:
    """What tells this folder from another at the same path: inode and summary.json's hash (None if absent)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    try:
        digest = hashlib.sha256((path / "summary.json").read_bytes()).hexdigest()
    except OSError:
        digest = None
    return st.st_dev, st.st_ino, digest


@dataclass(frozen=True)
class Destination:
    """Where :func:`write` puts an output folder.

    Attributes
    ----------
    path : Path
        The folder asked for, absolute.
    replaces : tuple or None
        Identity of the earlier output folder at ``path`` that ``--force`` allows to replace.
    """

    path: Path
    replaces: tuple | None


def plan(path, force: bool) -> Destination:
    """Check, before simulating, that an output folder can be written at ``path``.

    Parameters
    ----------
    path : str or Path
        Requested output folder, relative to the current folder; made absolute without following
        symbolic links (so that ``.`` has a parent).
    force : bool
        Whether an earlier eventsim output folder at ``path`` may be replaced.

    Raises
    ------
    ValidationError
        ``path`` exists (without ``force``), is not an eventsim output folder (with ``force``), or
        cannot be created (a parent is a file, or not writable). The message starts with ``path``.
    """
    try:
        path = Path(os.path.abspath(path))
    except FileNotFoundError:  # os.getcwd() of a deleted folder
        raise ValidationError(str(path), "the current folder no longer exists; give an absolute -o OUTDIR") from None
    _check_parent(path)
    if not os.path.lexists(path):
        return Destination(path, None)
    if not force:
        raise ValidationError(str(path), "output folder exists already (use --force to replace it, or -o OUTDIR)")
    reason = why_not_output(path)
    if reason is not None:
        raise ValidationError(str(path), f"not replaced: {reason}; --force only replaces an earlier eventsim "
                                         "output folder (choose another -o OUTDIR)")
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValidationError(str(path), "not replaced: the folder is not writable, so its files cannot be removed")
    return Destination(path, _identity(path))


def _check_parent(path: Path) -> None:
    if path.parent == path:
        raise ValidationError(str(path), "cannot be an output folder (a root directory)")
    ancestor = path.parent
    while not os.path.lexists(ancestor):
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValidationError(str(path), f"cannot create the output folder: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValidationError(str(path), f"cannot create the output folder: {ancestor} is not writable")


def write_temporary(dest: Destination, files: dict) -> Path:
    """Write the files of an output folder into a new hidden sibling of ``dest.path``; returns it.

    Parameters
    ----------
    dest : Destination
        From :func:`plan`.
    files : dict of str -> callable
        File name -> ``writer(path)`` that writes that file.

    Raises
    ------
    OSError
        A file could not be written (disk full, permissions); ``filename`` is ``dest.path``. On any
        exception (a KeyboardInterrupt too) the temporary folder is removed: nothing is left behind.
    """
    parent = dest.path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, f"cannot create the output folder: {e.strerror}", str(dest.path)) from None
    tmp = parent / f".{dest.path.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:  # mkdir inside the try: an interruption just after it still removes the folder
        os.mkdir(tmp)  # mode 0o777 minus the umask, as the output folder should have
        for name, writer in files.items():
            try:
                writer(tmp / name)
            except OSError as e:
                raise OSError(e.errno, f"cannot write {name}: {e.strerror or e}; nothing written",
                              str(dest.path)) from None
    except BaseException as e:
        if not (isinstance(e, FileExistsError) and e.filename == str(tmp)):  # else: that name was not ours
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.filename != str(dest.path):  # from mkdir
            raise OSError(e.errno, f"cannot create the output folder: {e.strerror}", str(dest.path)) from None
        raise
    return tmp


def move_into_place(tmp: Path, dest: Destination) -> Path:
    """Rename the finished folder ``tmp`` to ``dest.path``, or beside it; returns where it went.

    ``dest.path`` is replaced only if it is still the very earlier output that :func:`plan`
    allowed to replace; otherwise the results go to the first free ``NAME-2``, ``NAME-3``, ...
    A caller minding signals should not let one interrupt this (it takes two renames).

    Raises
    ------
    OSError
        The folder could not be renamed; it is kept, and the message says where.
    """
    try:
        return _place(tmp, dest)
    except OSError as e:
        raise OSError(e.errno, f"results kept in {tmp}: cannot move them into place: {e.strerror or e}",
                      str(dest.path)) from None


def _place(tmp: Path, dest: Destination) -> Path:
    """Rename the finished folder ``tmp`` to ``dest.path`` (replacing what --force allows) or beside it."""
    path = dest.path
    if dest.replaces is not None and _identity(path) == dest.replaces:
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:12]}")
        os.rename(path, old)  # a sibling: renaming within one folder needs no write access to the moved one
        if why_not_output(old) is None and _identity(old) == dest.replaces:
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
            return path
        os.rename(old, path)  # it changed between the check and the move: leave it alone
    return _beside(tmp, path)


def _beside(tmp: Path, path: Path) -> Path:
    """Rename ``tmp`` to the first free name of ``path``, ``path-2``, ``path-3``, ..."""
    for k in range(1, _MAX_BESIDE + 1):
        target = path if k == 1 else path.with_name(f"{path.name}-{k}")
        if os.path.lexists(target):
            continue
        try:
            os.rename(tmp, target)  # fails on a non-empty folder or a file created since the check
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                continue
            raise
        return target
    raise OSError(errno.EEXIST, f"{path.name}-2 ... {path.name}-{_MAX_BESIDE} all exist", str(path))
