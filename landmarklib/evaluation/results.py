"""The one result format every method writes and the results page reads.

A prediction file is a long table, one row per (scan, landmark), stored as CSV under
``renders/results/<profile>/predictions/<task>_<method-slug>.csv`` with a JSON sidecar holding its
provenance (profile, seed, versions, commit). Columns:

=============  =====================================================================
task           ``hand`` or ``body``
method         one of :data:`REGISTRY` (``NN(syn)`` ... ``CNN(ft)``, ``mean depth``, ``CNN(depth)``)
fold           cross-validation fold index (``-1``: no training on scans)
subject        scan id
landmark       landmark name (:mod:`landmarklib.landmarks`)
x_true y_true  ground truth in patch pixels (x, y)
x_pred y_pred  estimate in patch pixels (NaN for a method without a 2D estimate: ``mean depth``)
mm_per_px_x/y  millimetres per patch pixel for that scan (NaN when unknown)
depth_true     only for methods that predict depth (:attr:`Method.depth`): landmark depth and
depth_pred     its estimate, voxels along the scan's depth axis
=============  =====================================================================

Every method, the 2D ones of Fig. 2 and the depth ones of Fig. 4, is one entry of :data:`REGISTRY`
and writes through :func:`write_predictions`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LandmarkError
from ..landmarks import landmark_names, parse_task
from ..paths import subdir
from ..provenance import atomic_path, provenance, read_json, write_json

__all__ = ["Method", "REGISTRY", "METHODS", "DEPTH_METHODS", "COLUMNS", "DEPTH_COLUMNS", "method_label", "predictions_frame", "write_predictions", "read_predictions", "read_provenance"]


@dataclass(frozen=True)
class Method:
    """One method of the study.

    Attributes
    ----------
    name
        Its name in the tables (``CNN(real)``: ``real`` is shown as ``MR``/``CT``, :meth:`label`).
    depth
        Whether it predicts landmark depth (its table has ``depth_true``/``depth_pred``).
    figure
        The paper's figure it belongs to: ``"fig2"`` (2D error) or ``"fig4"`` (depth error).
    tasks
        The tasks it runs on (the depth experiment: hands only, Sec. 3).
    """

    name: str
    depth: bool
    figure: str
    tasks: tuple[str, ...] = ("hand", "body")

    def label(self, task: str) -> str:
        """Display name as in the paper: ``CNN(real)`` -> ``CNN(MR)`` for hands, ``CNN(CT)`` for bodies."""
        return self.name.replace("real", "MR" if parse_task(task) == "hand" else "CT")


#: Every method, in the order of the paper's figures (Fig. 2, then Fig. 4 with its baseline first).
REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("NN(syn)", False, "fig2"), Method("NN(real)", False, "fig2"), Method("RF", False, "fig2"),
    Method("CNN(syn)", False, "fig2"), Method("CNN(real)", False, "fig2"), Method("CNN(ft)", False, "fig2"),
    Method("mean depth", True, "fig4", ("hand",)), Method("CNN(depth)", True, "fig4", ("hand",)),
)}

#: The six methods of Fig. 2, in its order.
METHODS: tuple[str, ...] = tuple(m.name for m in REGISTRY.values() if m.figure == "fig2")

#: The two methods of Fig. 4: the training-fold mean depth (the paper's baseline) and the depth CNN.
DEPTH_METHODS: tuple[str, ...] = tuple(m.name for m in REGISTRY.values() if m.figure == "fig4")

COLUMNS: tuple[str, ...] = (
    "task", "method", "fold", "subject", "landmark",
    "x_true", "y_true", "x_pred", "y_pred", "mm_per_px_x", "mm_per_px_y",
)
DEPTH_COLUMNS: tuple[str, ...] = ("depth_true", "depth_pred")


def _method(method: str) -> Method:
    if method not in REGISTRY:
        raise LandmarkError(f"unknown method {method!r}; use one of {', '.join(REGISTRY)}")
    return REGISTRY[method]


def method_label(method: str, task: str) -> str:
    """Display name of ``method`` for ``task`` (:meth:`Method.label`)."""
    return _method(method).label(task)


def _slug(method: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", method.lower()).strip("-")


def predictions_frame(
    *,
    task: str,
    method: str,
    fold: int | Sequence[int],
    subjects: Sequence[str],
    pred_px: np.ndarray | None,
    true_px: np.ndarray,
    mm_per_px: np.ndarray | None = None,
    depth_pred: np.ndarray | None = None,
    depth_true: np.ndarray | None = None,
) -> pd.DataFrame:
    """Build the long table from arrays.

    Parameters
    ----------
    method
        A method of :data:`REGISTRY`.
    pred_px, true_px
        ``(N, k, 2)`` patch pixels ``(x, y)``; ``pred_px=None`` for a method without a 2D estimate
        (``mean depth``): NaN.
    fold
        One fold index for all, or ``(N,)``.
    mm_per_px
        ``(N, 2)`` or ``None``.
    depth_pred, depth_true
        ``(N, k)`` voxels; required for a method that predicts depth, refused for the others.
    """
    names = landmark_names(task)
    n, k = len(subjects), len(names)
    if _method(method).depth != (depth_pred is not None and depth_true is not None):
        need = "needs" if _method(method).depth else "takes no"
        raise LandmarkError(f"{method} {need} depth_pred and depth_true")
    pred_px = np.full((n, k, 2), np.nan) if pred_px is None else np.asarray(pred_px, float)
    true_px = np.asarray(true_px, float)
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
        depth_true, depth_pred = np.asarray(depth_true, float), np.asarray(depth_pred, float)
        if depth_true.shape != (n, k) or depth_pred.shape != (n, k):
            raise LandmarkError(f"depth must be ({n}, {k}); got {depth_true.shape} and {depth_pred.shape}")
        frame["depth_true"], frame["depth_pred"] = depth_true.ravel(), depth_pred.ravel()
    return frame


def _paths(profile: str, task: str, method: str, renders_dir: str | os.PathLike | None) -> tuple[Path, Path]:
    folder = subdir("results", profile, "predictions", renders_dir=renders_dir)
    stem = f"{task}_{_slug(method)}"
    return folder / f"{stem}.csv", folder / f"{stem}.json"


def write_predictions(
    frame: pd.DataFrame,
    *,
    params: Mapping[str, Any],
    **extra: Any,
) -> Path:
    """Write one (task, method) table and its provenance sidecar atomically; returns the CSV path.

    ``params`` is the run's :class:`~landmarklib.profiles.Config`: its ``profile`` and ``renders_dir``
    place the file, and it is the provenance record.

    The file is ``renders/results/<profile>/predictions/<task>_<method-slug>.csv`` (+ ``.json``), for
    every method of :data:`REGISTRY`, the depth methods with their ``depth_true``/``depth_pred``.
    """
    tasks, methods = frame["task"].unique(), frame["method"].unique()
    if len(tasks) != 1 or len(methods) != 1:
        raise LandmarkError("write one table per (task, method)")
    needed = COLUMNS + (DEPTH_COLUMNS if _method(methods[0]).depth else ())
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise LandmarkError(f"the {methods[0]} prediction table lacks columns {missing}")
    csv, sidecar = _paths(params["profile"], tasks[0], methods[0], params.get("renders_dir"))
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False)
    write_json(sidecar, provenance(params, task=tasks[0], method=methods[0], rows=len(frame), **extra))
    return csv


def read_predictions(
    profile: str, *, task: str | None = None, methods: Sequence[str] | None = None,
    renders_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The prediction tables of ``profile`` (optionally one task, only ``methods``), concatenated.

    Tables of the 2D methods have no depth columns; in the concatenation they are NaN there.
    """
    folder = subdir("results", profile, "predictions", renders_dir=renders_dir)
    files = sorted(folder.glob(f"{task or '*'}_*.csv"))
    if methods is not None:
        slugs = {_slug(_method(m).name) for m in methods}
        files = [f for f in files if f.stem.split("_", 1)[1] in slugs]
    if not files:
        which = "" if methods is None else f" of {', '.join(methods)}"
        raise LandmarkError(f"no predictions{which} in {folder}; run the notebooks that make them first")
    return pd.concat([pd.read_csv(f, dtype={"subject": str}) for f in files], ignore_index=True)


def read_provenance(csv_path: str | os.PathLike) -> dict[str, Any]:
    """The sidecar record of a prediction file."""
    return read_json(Path(csv_path).with_suffix(".json"))
