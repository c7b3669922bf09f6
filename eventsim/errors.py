"""Exception types of eventsim.

Every error caused by bad input is a :class:`ValidationError`, a ``ValueError`` subclass whose
message is one line naming where the problem is (file, key path or parameter), what was given
and what was expected.
"""

from __future__ import annotations

import difflib

__all__ = ["EventsimError", "ValidationError", "ScenarioError", "did_you_mean"]


def did_you_mean(name, options, otherwise: str = "") -> str:
    """``" (did you mean 'x'?)"`` for the option closest to ``name``, else ``otherwise``."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else otherwise


class EventsimError(Exception):
    """Base class of all errors raised deliberately by eventsim."""


class ValidationError(EventsimError, ValueError):
    """Bad input: a parameter, connection rule or stimulus that cannot be simulated.

    Parameters
    ----------
    where : str
        What is wrong, e.g. ``"V_reset"`` or ``"projections[2].delay"``.
    message : str
        What was given and what was expected.
    """

    def __init__(self, where: str, message: str):
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)


class ScenarioError(ValidationError):
    """Bad input in a scenario file; the message starts with the file name."""

    def __init__(self, path: str, where: str, message: str):
        self.path = str(path)
        ValidationError.__init__(self, where, message)
        self.args = (f"{self.path}: {where}: {message}" if where else f"{self.path}: {message}",)

    def __str__(self) -> str:
        return self.args[0]
