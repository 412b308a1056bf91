"""The project's one exception type.

Every problem a user can fix (a bad parameter, an unreadable scan, a missing landmark) is raised as a
:class:`LandmarkError` whose message names the file or value and says what to do. In Jupyter (and so
in notebooks executed by papermill) it is shown as a single line instead of a traceback wall.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["LandmarkError", "refuse_unknown"]


class LandmarkError(ValueError):
    """A problem with the user's input or configuration, with the fix in its message."""

    def _render_traceback_(self) -> list[str]:  # IPython hook: one line, no traceback
        return [f"LandmarkError: {self}"]


def refuse_unknown(given: Iterable[str], valid: Iterable[str], *, what: str, hint: str = "") -> None:
    """Raise one :class:`LandmarkError` naming every name of ``given`` not in ``valid`` and listing
    the valid ones, e.g. ``unknown parameters a, b; valid names are: c, d (see ...)``.

    ``what`` names the kind (``"parameter"``; an ``s`` is added for several), ``hint`` is appended.
    """
    valid = sorted(set(valid))
    unknown = sorted(set(given) - set(valid))
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise LandmarkError(f"unknown {what}{plural} {', '.join(unknown)}; valid names are: {', '.join(valid)}{hint}")
