"""The landmarks of the two tasks, named once, in the order of the paper's Fig. 2.

Coordinates everywhere in this project are ``(x, y)``: ``x`` is the image column (to the right),
``y`` the image row (downwards), as in eq. (1) of the paper. A 3D point adds ``depth`` (away from
the viewer along the scan's depth axis).
"""

from __future__ import annotations

__all__ = ["TASKS", "HAND", "BODY", "landmark_names", "parse_task"]

from .errors import LandmarkError

#: Fingertips of the left hand (Sec. 3, "five landmarks are located at the top of the fingers").
HAND: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

#: Whole-body landmarks in Fig. 2's order: big-toe tips, knees (joint centre), middle fingertips,
#: shoulders (joint centre), top of the head. ``L``/``R`` are the subject's left and right.
BODY: tuple[str, ...] = (
    "footL", "footR", "kneeL", "kneeR", "handL", "handR", "shoulderL", "shoulderR", "head",
)

TASKS: dict[str, tuple[str, ...]] = {"hand": HAND, "body": BODY}


def parse_task(task: str) -> str:
    """Check that ``task`` is ``"hand"`` or ``"body"``."""
    if task not in TASKS:
        raise LandmarkError(f"unknown task {task!r}; use 'hand' (MR, 5 fingertips) or 'body' (CT, 9 points)")
    return task


def landmark_names(task: str) -> tuple[str, ...]:
    """The ordered landmark names of ``task``."""
    return TASKS[parse_task(task)]
