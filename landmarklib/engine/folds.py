"""Cross-validation folds, fixed by seed and saved, shared by every method.

The paper evaluates the MR hands with 3-fold cross-validation and the CT bodies leave-one-out
(Sec. 3). :func:`ensure_folds` makes the split once per (profile, task) and every method reads the
same file, so NN, RF and the CNNs are compared on identical train/test subjects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold, LeaveOneOut

from ..errors import LandmarkError
from ..landmarks import parse_task
from ..paths import subdir
from ..provenance import read_json, write_json

__all__ = ["SCHEMES", "make_folds", "folds_path", "ensure_folds"]

#: The paper's protocol per task.
SCHEMES = {"hand": "3-fold", "body": "leave-one-out"}


def make_folds(ids: Sequence[str], task: str, seed: int) -> list[dict[str, list[str]]]:
    """Split subject ``ids`` by the task's protocol.

    Returns
    -------
    list of dict
        One ``{"train": [...], "test": [...]}`` per fold; every id is in exactly one test set.
    """
    parse_task(task)
    ids = sorted({str(i) for i in ids})
    if len(ids) < 3:
        raise LandmarkError(f"cross-validation needs at least 3 subjects, got {len(ids)}")
    splitter = LeaveOneOut() if SCHEMES[task] == "leave-one-out" else KFold(3, shuffle=True, random_state=seed)
    arr = np.array(ids)
    return [{"train": arr[tr].tolist(), "test": arr[te].tolist()} for tr, te in splitter.split(arr)]


def folds_path(profile: str, task: str, renders_dir: str | os.PathLike | None = None) -> Path:
    return subdir("results", profile, renders_dir=renders_dir) / f"folds_{task}.json"


def ensure_folds(
    ids: Sequence[str], task: str, *, profile: str, seed: int, renders_dir: str | os.PathLike | None = None,
) -> list[dict[str, list[str]]]:
    """Load the saved folds of (profile, task), or make and save them.

    A saved file made for another set of subjects or seed is refused with a clear error rather than
    silently reused.
    """
    path = folds_path(profile, task, renders_dir)
    wanted = sorted({str(i) for i in ids})
    if path.is_file():
        saved = read_json(path)
        have = sorted(i for fold in saved["folds"] for i in fold["test"])
        if have == wanted and saved["seed"] == seed:
            return saved["folds"]
        raise LandmarkError(
            f"{path} was made for other subjects or another seed; delete it to make new folds"
        )
    folds = make_folds(wanted, task, seed)
    write_json(path, {"task": task, "scheme": SCHEMES[task], "seed": seed, "profile": profile, "folds": folds})
    return folds
