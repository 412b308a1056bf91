"""The one result format every method writes and the results page reads.

A prediction file is a long table, one row per (scan, landmark), stored as CSV under
``renders/results/<profile>/predictions/<task>_<method-slug>.csv`` with a JSON sidecar holding its
provenance (profile, seed, versions, commit). Columns:

=============  =====================================================================
task           ``hand`` or ``body``
method         one of :data:`METHODS` (``NN(syn)`` ... ``CNN(ft)``)
fold           cross-validation fold index (``-1``: no training on scans)
subject        scan id
landmark       landmark name (:mod:`landmarklib.landmarks`)
x_true y_true  ground truth in patch pixels (x, y)
x_pred y_pred  estimate in patch pixels
mm_per_px_x/y  millimetres per patch pixel for that scan (NaN when unknown)
=============  =====================================================================

Optional columns: ``depth_true``, ``depth_pred`` (voxels along the depth axis).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LandmarkError
from ..landmarks import landmark_names, parse_task
from ..paths import subdir
from ..provenance import atomic_path, provenance, read_json, write_json

__all__ = ["METHODS", "COLUMNS", "method_label", "predictions_frame", "write_predictions", "read_predictions", "read_provenance"]

#: The six methods of Fig. 2, in its order. ``real`` is shown as ``MR`` (hand) or ``CT`` (body).
METHODS: tuple[str, ...] = ("NN(syn)", "NN(real)", "RF", "CNN(syn)", "CNN(real)", "CNN(ft)")

COLUMNS: tuple[str, ...] = (
    "task", "method", "fold", "subject", "landmark",
    "x_true", "y_true", "x_pred", "y_pred", "mm_per_px_x", "mm_per_px_y",
)


def method_label(method: str, task: str) -> str:
    """Display name as in the paper: ``CNN(real)`` -> ``CNN(MR)`` for hands, ``CNN(CT)`` for bodies."""
    return method.replace("real", "MR" if parse_task(task) == "hand" else "CT")


def _slug(method: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", method.lower()).strip("-")


def predictions_frame(
    *,
    task: str,
    method: str,
    fold: int | Sequence[int],
    subjects: Sequence[str],
    pred_px: np.ndarray,
    true_px: np.ndarray,
    mm_per_px: np.ndarray | None = None,
    depth_pred: np.ndarray | None = None,
    depth_true: np.ndarray | None = None,
) -> pd.DataFrame:
    """Build the long table from arrays.

    Parameters
    ----------
    pred_px, true_px
        ``(N, k, 2)`` patch pixels ``(x, y)``.
    fold
        One fold index for all, or ``(N,)``.
    mm_per_px
        ``(N, 2)`` or ``None``.
    depth_pred, depth_true
        Optional ``(N, k)``.
    """
    names = landmark_names(task)
    if method not in METHODS:
        raise LandmarkError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    pred_px, true_px = np.asarray(pred_px, float), np.asarray(true_px, float)
    n, k = len(subjects), len(names)
    if pred_px.shape != (n, k, 2) or true_px.shape != (n, k, 2):
        raise LandmarkError(f"predictions must be ({n}, {k}, 2); got {pred_px.shape} and {true_px.shape}")
    folds = np.broadcast_to(np.asarray(fold, dtype=int), (n,))
    mm = np.full((n, 2), np.nan) if mm_per_px is None else np.asarray(mm_per_px, float)
    frame = pd.DataFrame(
        {
            "task": task,
            "method": method,
            "fold": np.repeat(folds, k),
            "subject": np.repeat(np.asarray(subjects, dtype=str), k),
            "landmark": np.tile(names, n),
            "x_true": true_px[..., 0].ravel(), "y_true": true_px[..., 1].ravel(),
            "x_pred": pred_px[..., 0].ravel(), "y_pred": pred_px[..., 1].ravel(),
            "mm_per_px_x": np.repeat(mm[:, 0], k), "mm_per_px_y": np.repeat(mm[:, 1], k),
        }
    )
    if depth_pred is not None and depth_true is not None:
        frame["depth_true"] = np.asarray(depth_true, float).ravel()
        frame["depth_pred"] = np.asarray(depth_pred, float).ravel()
    return frame


def _paths(profile: str, task: str, method: str, renders_dir: str | os.PathLike | None) -> tuple[Path, Path]:
    folder = subdir("results", profile, "predictions", renders_dir=renders_dir)
    stem = f"{task}_{_slug(method)}"
    return folder / f"{stem}.csv", folder / f"{stem}.json"


def write_predictions(
    frame: pd.DataFrame,
    *,
    params: Mapping[str, Any],
    renders_dir: str | os.PathLike | None = None,
    **extra: Any,
) -> Path:
    """Write one (task, method) table and its provenance sidecar atomically; returns the CSV path."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise LandmarkError(f"prediction table lacks columns {missing}")
    tasks, methods = frame["task"].unique(), frame["method"].unique()
    if len(tasks) != 1 or len(methods) != 1:
        raise LandmarkError("write one table per (task, method)")
    csv, sidecar = _paths(params["profile"], tasks[0], methods[0], renders_dir)
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False)
    write_json(sidecar, provenance(params, task=tasks[0], method=methods[0], rows=len(frame), **extra))
    return csv


def read_predictions(
    profile: str, *, task: str | None = None, renders_dir: str | os.PathLike | None = None
) -> pd.DataFrame:
    """All prediction tables of ``profile`` (optionally one task), concatenated."""
    folder = subdir("results", profile, "predictions", renders_dir=renders_dir)
    files = sorted(folder.glob(f"{task or '*'}_*.csv"))
    if not files:
        raise LandmarkError(f"no predictions in {folder}; run the training and baseline notebooks first")
    return pd.concat([pd.read_csv(f, dtype={"subject": str}) for f in files], ignore_index=True)


def read_provenance(csv_path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar record of a prediction file."""
    return read_json(Path(csv_path).with_suffix(".json"))
