"""Metrics, defined once: landmark error, scan RMSE, depth error, their summaries and bootstrap CIs.

Everything here reads the one long table of :mod:`landmarklib.evaluation.results` (one row per scan and
landmark) and never a number typed by hand. The paper's own values come from
:func:`landmarklib.paper.paper_values`.

The metrics (:data:`METRICS`; every table and figure of the book uses these names):

landmark error (``error_px``, ``error_mm``; :func:`landmark_errors`)
    The Euclidean distance between estimate and ground truth of one landmark on one scan,
    ``sqrt(dx**2 + dy**2)``, in pixels of the task's patch (96 x 96 hand, 76 x 160 body), and in
    millimetres through the scan's spacing, ``sqrt((dx * mm_x)**2 + (dy * mm_y)**2)``. The paper calls
    its per-landmark measure an RMSE without saying over what; for one 2D point the root of the summed
    squares is this distance. **This is what the book plots** (Fig. 2, per landmark, mean over scans),
    because the paper's Fig. 2 is per landmark.
scan RMSE (:func:`scan_rmse`)
    The root mean square of one scan's landmark errors over its landmarks, ``sqrt(mean_k error_k**2)``:
    one number per scan, never less than the mean landmark error of that scan. Reported beside the
    mean landmark error, never instead of it.
depth error (``depth_error``; :func:`landmark_errors`)
    ``|depth_pred - depth_true|`` of one landmark on one scan, voxels along the depth axis (Fig. 4).
Per method and landmark
    Mean, standard deviation (``ddof=1``) and a 95% percentile-bootstrap confidence interval of the
    mean over scans (``cfg.bootstrap`` resamples, seeded; :func:`scipy.stats.bootstrap`).
Claims
    The paper's claims, the orderings only its Fig. 2 shows and the rules that judge them are in
    :mod:`landmarklib.evaluation.claims`.
mean shape (:data:`REFERENCE`; :func:`mean_shape_reference`)
    The trivial estimator: every test scan gets the mean landmark positions of its fold's training
    scans. Shown beside every method in Fig. 2, the error tables and the claims table.

The paper reports pixels in an unstated image frame (patch pixels or pixels of its original images,
whose voxel size it does not give), so only the *direction* of each comparison is compared with the
paper (its own numbers, put through the same comparison, are shown in the ``paper`` column), never
raw pixel values; :func:`mm_per_patch_px` gives our cohorts' scale for the reading "patch pixels".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import LandmarkError
from ..evaluation.results import DEPTH_METHODS, METHODS, REGISTRY, method_label
from ..landmarks import landmark_names

__all__ = ["REFERENCE", "task_label", "mm_per_patch_px", "beside_paper", "METRICS", "landmark_errors", "scan_rmse", "ratio_ci", "mean_shape_reference", "constant_methods", "bootstrap_ci", "summarize", "paper_summary"]

#: The book's error metrics by name, with the column of :func:`landmark_errors` or the function that holds them.
METRICS: dict[str, str] = {
    "landmark error": "error_px / error_mm (landmark_errors): Euclidean distance, one landmark on one scan",
    "scan RMSE": "scan_rmse: root mean square of one scan's landmark errors over its landmarks",
    "depth error": "depth_error (landmark_errors): |depth_pred - depth_true|, voxels",
}

#: The name of the mean-shape reference in the tables (not a method of the paper: not in ``REGISTRY``).
REFERENCE: str = "mean shape"

#: The column of :func:`landmark_errors` that :func:`summarize` reads per unit.
_UNIT_COLUMN = {"px": "error_px", "mm": "error_mm", "voxel": "depth_error"}


def task_label(method: str, task: str) -> str:
    """Display name of ``method`` for ``task`` (:func:`~landmarklib.evaluation.results.method_label`),
    or the reference's own name (:data:`REFERENCE`)."""
    return method if method == REFERENCE else method_label(method, task)


# --------------------------------------------------------------------------------------------------
# Errors and their summaries
# --------------------------------------------------------------------------------------------------


def landmark_errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per scan and landmark error, in patch pixels and millimetres.

    Parameters
    ----------
    predictions
        A long table of :mod:`landmarklib.evaluation.results` (columns ``task, method, fold, subject, landmark,
        x_true, y_true, x_pred, y_pred, mm_per_px_x, mm_per_px_y``).

    Returns
    -------
    pandas.DataFrame
        One row per input row: ``task, method, fold, subject, landmark``, ``dx_px, dy_px`` (estimate
        minus ground truth, patch px), ``error_px`` (the landmark error, patch px), ``error_mm`` (in
        mm; NaN where the spacing is unknown) and ``depth_error`` (voxels; NaN for a method without
        depth). A method without a 2D estimate (``mean depth``) has NaN 2D errors.
    """
    needed = ("task", "method", "fold", "subject", "landmark", "x_true", "y_true", "x_pred", "y_pred",
              "mm_per_px_x", "mm_per_px_y")
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise LandmarkError(f"prediction table lacks columns {missing}; write it with results.predictions_frame")
    dx = predictions["x_pred"].to_numpy(float) - predictions["x_true"].to_numpy(float)
    dy = predictions["y_pred"].to_numpy(float) - predictions["y_true"].to_numpy(float)
    mmx = predictions["mm_per_px_x"].to_numpy(float)
    mmy = predictions["mm_per_px_y"].to_numpy(float)
    out = predictions[["task", "method", "fold", "subject", "landmark"]].copy()
    out["subject"] = out["subject"].astype(str)
    out["dx_px"], out["dy_px"] = dx, dy
    out["error_px"] = np.hypot(dx, dy)
    out["error_mm"] = np.hypot(dx * mmx, dy * mmy)
    if "depth_pred" in predictions.columns and "depth_true" in predictions.columns:
        out["depth_error"] = np.abs(predictions["depth_pred"].to_numpy(float) - predictions["depth_true"].to_numpy(float))
    else:
        out["depth_error"] = np.nan
    return out.reset_index(drop=True)


def scan_rmse(errors: pd.DataFrame, *, unit: str = "px") -> pd.DataFrame:
    """Scan RMSE: per task, method and scan, ``sqrt(mean over landmarks of landmark error**2)``.

    Parameters
    ----------
    errors
        Output of :func:`landmark_errors`.
    unit
        ``"px"`` or ``"mm"``.

    Returns
    -------
    pandas.DataFrame
        ``task, method, subject, rmse`` (one row per scan; several images of one subject count as one).
    """
    if unit not in ("px", "mm"):
        raise LandmarkError(f"unit must be 'px' or 'mm', got {unit!r}")
    sq = errors.assign(sq=errors[_UNIT_COLUMN[unit]] ** 2)
    out = sq.groupby(["task", "method", "subject"], sort=False)["sq"].mean() ** 0.5
    return out.rename("rmse").reset_index()


def mm_per_patch_px(predictions: pd.DataFrame) -> pd.DataFrame:
    """Millimetres per patch pixel of each task's scans: median, min and max over the scans.

    Read from the prediction table's ``mm_per_px_x``/``mm_per_px_y`` (one value per scan; the crop
    keeps the aspect, so both axes agree). A scan of a large subject has more mm per patch pixel.

    Returns
    -------
    pandas.DataFrame
        Index ``task``; columns ``median, min, max`` (mm per patch px) and ``scans``; a task whose
        spacing is unknown (NaN) is left out.
    """
    need = {"task", "subject", "mm_per_px_x", "mm_per_px_y"}
    if not need <= set(predictions.columns):
        raise LandmarkError(f"prediction table lacks columns {sorted(need - set(predictions.columns))}")
    per_scan = predictions.groupby(["task", "subject"], sort=False)[["mm_per_px_x", "mm_per_px_y"]].first()
    per_scan = per_scan.mean(axis=1).dropna().rename("mm").reset_index()
    out = per_scan.groupby("task", sort=False)["mm"].agg(["median", "min", "max", "size"])
    return out.rename(columns={"size": "scans"})


def mean_shape_reference(predictions: pd.DataFrame, *, method: str = "NN(real)") -> pd.DataFrame:
    """The trivial estimator: every test scan gets the mean ground truth of its fold's training scans.

    A learned method that is not clearly better than this has learned nothing from the image (our
    first cpu run's CNNs collapsed to exactly this; see :mod:`landmarklib.engine.training`). The folds are
    those of ``method``'s table (cross-validation: every other fold's scans are the training scans);
    a task whose table has a single fold has no such training scans and is left out.

    Returns
    -------
    pandas.DataFrame
        A prediction table like ``method``'s, with method ``"mean shape"`` and the estimates
        replaced; feed it to :func:`landmark_errors` / :func:`summarize`.
    """
    rows = predictions[predictions["method"] == method]
    out = []
    for _task, table in rows.groupby("task", sort=False):
        if table["fold"].nunique() < 2:
            continue
        for fold, test in table.groupby("fold", sort=False):
            train = table[table["fold"] != fold]
            mean = train.groupby("landmark")[["x_true", "y_true"]].mean()
            ref = test.copy()
            ref["method"] = REFERENCE
            ref["x_pred"] = mean.loc[test["landmark"], "x_true"].to_numpy()
            ref["y_pred"] = mean.loc[test["landmark"], "y_true"].to_numpy()
            out.append(ref)
    return pd.concat(out, ignore_index=True) if out else predictions.iloc[:0].copy()


def constant_methods(predictions: pd.DataFrame, *, fraction: float = 0.1) -> list[str]:
    """``"task: method"`` whose estimates barely move between scans.

    Per landmark and axis, the standard deviation of the estimates over scans, averaged, below
    ``fraction`` of the same for the ground truth. The 10 % is a sanity bound fixed in advance (a
    working estimator follows most of the true spread; a collapsed network has ~0 %), not tuned.
    """
    flagged = []
    for (task, method), table in predictions.groupby(["task", "method"], sort=False):
        by = table.groupby("landmark")
        pred = float(by[["x_pred", "y_pred"]].std().to_numpy().mean())
        true = float(by[["x_true", "y_true"]].std().to_numpy().mean())
        if len(table["subject"].unique()) > 1 and true > 0 and pred < fraction * true:
            flagged.append(f"{task}: {task_label(method, task)}")
    return flagged


def bootstrap_ci(
    values: np.ndarray, *, n_resamples: int, seed: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of ``values`` (``(n,)``); ``(nan, nan)`` when ``n < 2``.

    Uses :func:`scipy.stats.bootstrap` with ``method="percentile"`` and a seeded generator, so the
    same values and seed give the same interval.
    """
    from scipy.stats import bootstrap

    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (np.nan, np.nan)
    if np.all(values == values[0]):  # no spread: the interval is the point (scipy warns otherwise)
        return (float(values[0]), float(values[0]))
    res = bootstrap(
        (values,), np.mean, n_resamples=int(n_resamples), confidence_level=confidence,
        method="percentile", vectorized=True, random_state=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def ratio_ci(
    numerator: np.ndarray, denominator: np.ndarray, *, n_resamples: int, seed: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """``mean(numerator) / mean(denominator)`` with a paired percentile-bootstrap CI.

    Parameters
    ----------
    numerator, denominator
        ``(n,)`` values of the same ``n`` units (scans), resampled together
        (:func:`scipy.stats.bootstrap` with ``paired=True``, seeded).

    Returns
    -------
    ratio, ci_low, ci_high
        ``(ratio, nan, nan)`` when ``n < 2``.
    """
    from scipy.stats import bootstrap

    a, b = np.asarray(numerator, float), np.asarray(denominator, float)
    if a.shape != b.shape or a.ndim != 1:
        raise LandmarkError(f"paired values must be two (n,) arrays, got {a.shape} and {b.shape}")
    ratio = float(a.mean() / b.mean()) if len(a) else np.nan
    if len(a) < 2:
        return ratio, np.nan, np.nan
    if np.all(a == a[0]) and np.all(b == b[0]) or np.allclose(a, ratio * b):  # no spread in the ratio
        return ratio, ratio, ratio
    res = bootstrap(
        (a, b), lambda x, y, axis: x.mean(axis=axis) / y.mean(axis=axis), paired=True, vectorized=True,
        n_resamples=int(n_resamples), confidence_level=confidence, method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(
    errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, unit: str = "px",
    methods: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per task, method and landmark: mean, std and 95% bootstrap CI of the error over scans.

    Parameters
    ----------
    errors
        Output of :func:`landmark_errors`.
    n_resamples, seed
        Bootstrap resamples (``cfg.bootstrap``) and seed (``cfg.seed``).
    unit
        ``"px"`` or ``"mm"`` (landmark error, Fig. 2) or ``"voxel"`` (depth error, Fig. 4).
    methods
        The methods to summarise (default: those of the unit's figure, :data:`METHODS` and the
        :data:`REFERENCE` for px and mm, :data:`DEPTH_METHODS` for voxel); only those present are.

    Returns
    -------
    pandas.DataFrame
        Columns ``task, method, landmark, n, mean, std, ci_low, ci_high, unit``, methods in
        :data:`~landmarklib.evaluation.results.REGISTRY` order (the reference last) and landmarks in
        the paper's order.
    """
    if unit not in _UNIT_COLUMN:
        raise LandmarkError(f"unit must be one of {', '.join(_UNIT_COLUMN)}, got {unit!r}")
    column = _UNIT_COLUMN[unit]
    methods = (DEPTH_METHODS if unit == "voxel" else (*METHODS, REFERENCE)) if methods is None else methods
    rows = []
    chosen = errors[errors["method"].isin(list(methods))]
    for (task, method, landmark), group in chosen.groupby(["task", "method", "landmark"], sort=False):
        values = group[column].to_numpy(float)
        values = values[np.isfinite(values)]
        low, high = bootstrap_ci(values, n_resamples=n_resamples, seed=seed)
        rows.append({
            "task": task, "method": method, "landmark": landmark, "n": len(values),
            "mean": float(np.mean(values)) if len(values) else np.nan,
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
            "ci_low": low, "ci_high": high, "unit": unit,
        })
    table = pd.DataFrame(rows, columns=["task", "method", "landmark", "n", "mean", "std", "ci_low",
                                        "ci_high", "unit"])
    return _ordered(table)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Sort by task (hand, body), method (:data:`REGISTRY` order) and landmark (paper order)."""
    if table.empty:
        return table
    order_l = {name: i for task in ("hand", "body") for i, name in enumerate(landmark_names(task))}
    key = pd.DataFrame({
        "t": table["task"].map({"hand": 0, "body": 1}),
        "m": table["method"].map({m: i for i, m in enumerate([*REGISTRY, REFERENCE])}),
        "l": table["landmark"].map(order_l),
    })
    return table.iloc[np.lexsort((key["l"], key["m"], key["t"]))].reset_index(drop=True)


def beside_paper(summary: pd.DataFrame, figure: str) -> pd.DataFrame:
    """``summary`` (:func:`summarize`) with a ``paper`` column: the paper's value of the same task,
    method and landmark in ``figure`` (:func:`paper_summary`; NaN where it has none)."""
    paper = paper_summary(figure).set_index(["task", "method", "landmark"])["mean"]
    keys = pd.MultiIndex.from_frame(summary[["task", "method", "landmark"]])
    return summary.assign(paper=paper.reindex(keys).to_numpy())


def paper_summary(figure: str | None = "fig2") -> pd.DataFrame:
    """The paper's values as a table shaped like :func:`summarize` (``mean`` only).

    ``figure``: ``"fig2"`` (landmark error, px in the paper's unstated frame), ``"fig4"`` (depth
    error, voxels) or ``None`` (both).
    """
    from ..paper import paper_values

    if figure not in ("fig2", "fig4", None):
        raise LandmarkError(f"figure must be 'fig2', 'fig4' or None, got {figure!r}")
    values = pd.concat([paper_values(f) for f in ("fig2", "fig4") if figure in (f, None)], ignore_index=True)
    table = values.rename(columns={"value": "mean"})[["task", "method", "landmark", "mean"]].copy()
    table["unit"] = np.where(values["figure"] == "fig4", "voxel", "px (paper's frame)")
    return _ordered(table)
