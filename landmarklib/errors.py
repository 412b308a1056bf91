"""The project's one exception type.

Every problem a user can fix (a bad parameter, an unreadable scan, a missing landmark) is raised as a
:class:`LandmarkError` whose message names the file or value and says what to do. In Jupyter (and so
in notebooks executed by papermill) it is shown as a single line instead of a traceback wall.
"""

from __future__ import annotations

__all__ = ["LandmarkError"]


class LandmarkError(ValueError):
    """A problem with the user's input or configuration, with the fix in its message."""

    def _render_traceback_(self) -> list[str]:  # IPython hook: one line, no traceback
        return [f"LandmarkError: {self}"]
