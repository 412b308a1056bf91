"""Metrics and the claims table: from the prediction tables to "does the paper's finding hold?".

Everything here reads the one long table of :mod:`landmarklib.evaluation.results` (one row per scan and
landmark) and never a number typed by hand. The paper's own values come from
:func:`landmarklib.paper.paper_values`.

Error of one landmark on one scan
    The Euclidean distance between estimate and ground truth, ``sqrt(dx**2 + dy**2)``, in pixels of
    the task's patch (96 x 96 hand, 76 x 160 body), and in millimetres through the scan's spacing,
    ``sqrt((dx * mm_x)**2 + (dy * mm_y)**2)``. The paper calls its per-landmark measure an RMSE
    without saying over what; for one 2D point the root of the summed squares is this distance.
Per method and landmark
    Mean, standard deviation (``ddof=1``) and a 95% percentile-bootstrap confidence interval of the
    mean over scans (``cfg.bootstrap`` resamples, seeded; :func:`scipy.stats.bootstrap`).
Claims
    Each claim of the paper (:data:`CLAIMS`) is a set of *comparisons* ``lhs < rhs`` between
    quantities that are weighted sums of per-scan errors (for example "the mean error of CNN(ft) over
    the five fingertips"). For every comparison we form, per scan, the paired difference
    ``d = lhs - rhs`` over the scans that have every term, and bootstrap the mean of ``d``:

    * **holds** when the 95% bootstrap CI of the mean paired difference lies entirely below 0,
    * **does not hold** when it lies entirely above 0,
    * **inconclusive** otherwise (the CI contains 0, or fewer than 2 paired scans).

    A claim made of several comparisons *holds* when every comparison holds, *does not hold* when at
    least one comparison does not hold, and is *inconclusive* otherwise. No correction for multiple
    comparisons is applied; the per-comparison rows are reported next to the verdict.

    "Much worse" and "a large gain" are made precise with the factor :data:`MUCH` (= 1.25): "A is much
    worse than B" is the comparison ``MUCH * B < A`` (A has at least a quarter more error than B).
    This factor was fixed before any result was seen; it is not tuned.

The paper reports pixels in an unstated image frame, so only the *direction* of each comparison is
compared with the paper (its own numbers, put through the same comparison, are shown in the
``paper`` column), never raw pixel values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import LandmarkError
from ..evaluation.results import METHODS, method_label
from ..landmarks import landmark_names

__all__ = ["landmark_errors", "mean_shape_reference", "constant_methods", "bootstrap_ci", "summarize", "paper_summary"]

_ERROR_COLUMNS = ("task", "method", "fold", "subject", "landmark", "dx_px", "dy_px", "error_px", "error_mm")


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
        minus ground truth, patch px), ``error_px`` (Euclidean distance, patch px) and ``error_mm``
        (Euclidean distance in mm; NaN where the spacing is unknown).
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
    return out.reset_index(drop=True)


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
            ref["method"] = "mean shape"
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
            flagged.append(f"{task}: {method_label(method, task)}")
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


def summarize(
    errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, unit: str = "px"
) -> pd.DataFrame:
    """Per task, method and landmark: mean, std and 95% bootstrap CI of the error over scans.

    Parameters
    ----------
    errors
        Output of :func:`landmark_errors`.
    n_resamples, seed
        Bootstrap resamples (``cfg.bootstrap``) and seed (``cfg.seed``).
    unit
        ``"px"`` (patch pixels) or ``"mm"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``task, method, landmark, n, mean, std, ci_low, ci_high, unit``, methods in
        :data:`~landmarklib.evaluation.results.METHODS` order and landmarks in the paper's order.
    """
    if unit not in ("px", "mm"):
        raise LandmarkError(f"unit must be 'px' or 'mm', got {unit!r}")
    column = f"error_{unit}"
    rows = []
    for (task, method, landmark), group in errors.groupby(["task", "method", "landmark"], sort=False):
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
    """Sort by task (hand, body), method (Fig. 2 order) and landmark (paper order)."""
    if table.empty:
        return table
    order_l = {name: i for task in ("hand", "body") for i, name in enumerate(landmark_names(task))}
    key = pd.DataFrame({
        "t": table["task"].map({"hand": 0, "body": 1}),
        "m": table["method"].map({m: i for i, m in enumerate(METHODS)}),
        "l": table["landmark"].map(order_l),
    })
    return table.iloc[np.lexsort((key["l"], key["m"], key["t"]))].reset_index(drop=True)


def paper_summary() -> pd.DataFrame:
    """The paper's Fig. 2 values as a table shaped like :func:`summarize` (``mean`` only, px)."""
    from ..paper import paper_values

    values = paper_values("fig2")
    table = values.rename(columns={"value": "mean"})[["task", "method", "landmark", "mean"]].copy()
    table["unit"] = "px (paper's frame)"
    return _ordered(table)
