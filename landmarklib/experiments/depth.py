"""The depth experiment (Riegler et al. 2015, Sec. 3 "Infer Depth ..." and Fig. 4).

Binary patches give only the 2D position of a landmark. The paper refines it with a CNN trained on
*depth* patches: per image, the depth of the pixels that belong to the hand is normalised to zero mean
and unit standard deviation, background pixels are set to 3, and the depth annotation of every landmark
is normalised with the same per-image mean and standard deviation (:func:`normalize_depth`,
:func:`normalize_landmark_depth`, inverse :meth:`DepthStats.invert`). The network is the Table 1 CNN
with three outputs per landmark ``(x, y, depth)``, pretrained on synthetic depth renders and fine-tuned
on the MR hands with the same 3-fold cross-validation as the 2D experiment. Its depth estimates are
mapped back to voxels with the test image's own statistics (computed from its depth map, never from its
annotation) and compared with the baseline of the paper: the mean depth of the training-fold annotations
(:func:`mean_depth_baseline`).

Units: synthetic depth is in model units (metres), scan depth in voxels along the depth axis; a
normalised depth is unit-free. Landmark positions are ``(x, y)`` patch pixels (see
:mod:`landmarklib.geometry`); the network regresses them in ``[-1, 1]`` (eq. 1).

Results are written like :func:`landmarklib.evaluation.results.write_predictions` (same columns plus
``depth_true``/``depth_pred`` in voxels) but under ``renders/results/<profile>/depth/``, with the methods
:data:`DEPTH_METHODS`, because the depth CNN is a different model from the 2D ``CNN(ft)``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..evaluation.results import COLUMNS
from ..geometry import from_unit, patch_size
from ..landmarks import landmark_names
from ..paths import subdir
from ..provenance import atomic_path, provenance, write_json

__all__ = ["BACKGROUND", "DEPTH_METHODS", "C6_LIMIT", "C6_STRONGER", "C6_VERDICTS", "DepthStats", "normalize_depth", "normalize_landmark_depth", "depth_targets", "outputs_to_predictions", "depth_spread", "spread_table", "mean_depth_baseline", "depth_frame", "write_depth_predictions", "read_depth_predictions", "depth_errors", "fig4_table", "ratio_with_ci", "c6_verdict", "claim_c6", "compare_2d", "default_model_factory", "depth_offset", "shift_depth", "pretrain_depth_cnn", "predict_depth_cnn", "crossvalidate_depth_cnn", "run_depth_experiment", "read_depth_summary"]

#: Value of background pixels in a normalised depth image (paper, Sec. 3).
BACKGROUND = 3.0

#: The two methods of Fig. 4: the training-fold mean depth and the depth-input CNN.
DEPTH_METHODS: tuple[str, ...] = ("mean depth", "CNN(depth)")

#: Claim C6 ("the CNN reduces the depth error to about a third"): the CNN/baseline error ratio must
#: lie below ``C6_LIMIT`` = 2/3, the midpoint between a third (the claim) and 1 (no reduction); a ratio
#: below ``C6_STRONGER`` = 1/6 (half of a third) is flagged as a stronger reduction than claimed.
C6_LIMIT: float = 2 / 3
C6_STRONGER: float = 1 / 6

#: C6 verdicts, in the vocabulary of :mod:`landmarklib.evaluation` (claims C1-C5).
C6_VERDICTS: tuple[str, ...] = ("holds", "does not hold", "inconclusive")


# --------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DepthStats:
    """Per-image statistics of the hand pixels' depth, in the depth map's own unit.

    Attributes
    ----------
    mean, std
        ``(N,)`` float64 mean and (population) standard deviation of the depth of the hand pixels.
    """

    mean: np.ndarray
    std: np.ndarray

    def __len__(self) -> int:
        return len(self.mean)

    def _bcast(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim < 1 or len(values) != len(self.mean):
            raise LandmarkError(
                f"depth values must have {len(self.mean)} rows (one per image), got {values.shape}"
            )
        shape = (len(self.mean),) + (1,) * (values.ndim - 1)
        return values, self.mean.reshape(shape), self.std.reshape(shape)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Original units -> normalised: ``(d - mean_i) / std_i`` for ``(N, ...)`` values of image ``i``."""
        values, mean, std = self._bcast(values)
        return (values - mean) / std

    def invert(self, values: np.ndarray) -> np.ndarray:
        """Normalised -> original units (metres for renders, voxels for scans): ``d * std_i + mean_i``."""
        values, mean, std = self._bcast(values)
        return values * std + mean

    def subset(self, index: np.ndarray | slice) -> DepthStats:
        return DepthStats(self.mean[index], self.std[index])


def _hand_pixels(depth: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
    hand = np.isfinite(depth)
    if masks is not None:
        masks = np.asarray(masks, dtype=bool)
        if masks.shape != depth.shape:
            raise LandmarkError(f"masks {masks.shape} and depth {depth.shape} must have the same shape")
        hand &= masks
    return hand


def normalize_depth(
    depth: np.ndarray, masks: np.ndarray | None = None, *, background: float = BACKGROUND
) -> tuple[np.ndarray, DepthStats]:
    """Normalise depth patches as in the paper (Sec. 3).

    Parameters
    ----------
    depth
        ``(N, p_h, p_w)`` depth maps (any unit), ``NaN`` on the background.
    masks
        Optional ``(N, p_h, p_w)`` bool silhouettes; a hand pixel is one inside the mask with a finite
        depth (``None``: every finite pixel).
    background
        Value given to every non-hand pixel (the paper: 3).

    Returns
    -------
    images
        ``(N, p_h, p_w)`` float32: hand pixels with zero mean and unit (population) std per image,
        background pixels ``background``.
    stats
        The per-image :class:`DepthStats` (for the annotations and the inverse map).

    Raises
    ------
    LandmarkError
        An image with fewer than two hand pixels or a constant hand depth (no std to divide by).
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 3:
        raise LandmarkError(f"depth must be (N, p_h, p_w), got {depth.shape}")
    hand = _hand_pixels(depth, masks)
    count = hand.sum(axis=(1, 2))
    values = np.where(hand, depth, 0.0)
    mean = values.sum(axis=(1, 2)) / np.maximum(count, 1)
    var = (np.where(hand, depth - mean[:, None, None], 0.0) ** 2).sum(axis=(1, 2)) / np.maximum(count, 1)
    std = np.sqrt(var)
    bad = np.flatnonzero((count < 2) | ~(std > 0))
    if bad.size:
        raise LandmarkError(
            f"{bad.size} depth image(s) (first index {bad[0]}) have fewer than 2 hand pixels or a constant "
            "depth; check the depth maps (NaN on the background, finite on the hand)"
        )
    images = np.where(hand, (depth - mean[:, None, None]) / std[:, None, None], background)
    return images.astype(np.float32), DepthStats(mean, std)


def normalize_landmark_depth(landmark_depth: np.ndarray, stats: DepthStats) -> np.ndarray:
    """``(N, k)`` landmark depths normalised with the SAME per-image mean/std as the image (float32)."""
    return stats.apply(landmark_depth).astype(np.float32)


def depth_targets(
    samples: LandmarkSet, *, dtype: Any = np.float32, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray, DepthStats]:
    """Network inputs and targets of a :class:`LandmarkSet` with depth.

    Parameters
    ----------
    dtype
        Dtype of the returned images (``np.float16`` halves the memory of a large render set; the
        training loop casts every batch to float32).
    chunk
        Images normalised at a time (bounds the float64 temporaries).

    Returns
    -------
    images
        ``(N, 1, p_h, p_w)`` normalised depth patches.
    targets
        ``(N, 3 k)`` float32, per landmark ``(x, y, depth)``: ``x, y`` in ``[-1, 1]`` (eq. 1) and the
        normalised depth, landmark after landmark (``x1, y1, d1, x2, ...``: the order of
        :class:`landmarklib.models.cnn.LandmarkCNN` with ``outputs_per_landmark=3``).
    stats
        Per-image :class:`DepthStats`.
    """
    if samples.depth is None or samples.landmark_depth is None:
        raise LandmarkError(
            f"the {samples.task} set has no depth maps/landmark depth; load renders or scans with depth"
        )
    n = len(samples)
    pw, ph = samples.patch_size
    images = np.empty((n, 1, ph, pw), dtype=dtype)
    mean, std = np.empty(n), np.empty(n)
    for lo in range(0, n, chunk):
        sl = slice(lo, lo + chunk)
        part, stats = normalize_depth(samples.depth[sl], samples.masks[sl])
        images[sl, 0], mean[sl], std[sl] = part, stats.mean, stats.std
    stats = DepthStats(mean, std)
    zs = normalize_landmark_depth(samples.landmark_depth, stats)
    targets = np.concatenate([samples.unit_landmarks(), zs[..., None]], axis=-1)  # (N, k, 3)
    return images, targets.reshape(n, -1).astype(np.float32), stats


def outputs_to_predictions(
    outputs: np.ndarray, stats: DepthStats, task: str = "hand"
) -> tuple[np.ndarray, np.ndarray]:
    """Map network outputs ``(N, 3 k)`` back: ``(N, k, 2)`` patch pixels and ``(N, k)`` depth in the
    depth maps' own unit (voxels for scans), each image with its own :class:`DepthStats`."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1, 3)
    return from_unit(out[..., :2], patch_size(task)), stats.invert(out[..., 2])


def depth_spread(landmark_depth: np.ndarray, names: Sequence[str]) -> pd.DataFrame:
    """Cohort spread of landmark depth: standard deviation from the mean, per landmark.

    Parameters
    ----------
    landmark_depth
        ``(N, k)`` depths (voxels for scans).
    names
        The ``k`` landmark names.

    Returns
    -------
    DataFrame
        ``landmark, mean, std`` (sample std, ``ddof=1``) and ``expected_mae``, the mean absolute error
        of predicting the mean if the depths were Gaussian (``std * sqrt(2/pi)``), the baseline's
        expected error.
    """
    d = np.asarray(landmark_depth, dtype=np.float64)
    std = d.std(axis=0, ddof=1)
    return pd.DataFrame(
        {
            "landmark": list(names),
            "mean": d.mean(axis=0),
            "std": std,
            "expected_mae": std * np.sqrt(2 / np.pi),
        }
    )


def spread_table(samples: LandmarkSet) -> pd.DataFrame:
    """:func:`depth_spread` of a cohort next to the paper's values (``paper_values("depth_std")``, voxels).

    The paper quotes only the two ends of its range (pinky 3.137, thumb 3.183); other fingers get ``NaN``.
    """
    from ..paper import paper_values

    if samples.landmark_depth is None:
        raise LandmarkError("the cohort has no landmark depth")
    paper = paper_values("depth_std").set_index("landmark")["value"]
    table = depth_spread(samples.landmark_depth, samples.landmark_names)
    table["paper_std"] = table["landmark"].map(paper)
    return table


# --------------------------------------------------------------------------------------------------
# Baseline
# --------------------------------------------------------------------------------------------------
def _fold_index(ids: np.ndarray, folds: Sequence[Mapping[str, Sequence[str]]]) -> np.ndarray:
    fold = np.full(len(ids), -1)
    for f, split in enumerate(folds):
        fold[np.isin(ids, np.asarray(split["test"], dtype=str))] = f
    if (fold < 0).any():
        raise LandmarkError(
            f"subjects {sorted(set(ids[fold < 0]))[:5]} are in no test fold; delete the folds file"
        )
    return fold


def mean_depth_baseline(
    landmark_depth: np.ndarray, ids: Sequence[str], folds: Sequence[Mapping[str, Sequence[str]]]
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's baseline: each test image gets the mean depth of the training-fold annotations.

    Parameters
    ----------
    landmark_depth
        ``(N, k)`` annotated depths (voxels).
    ids
        ``(N,)`` subject id of each image (several images may share one).
    folds
        ``[{"train": [...], "test": [...]}, ...]`` as from :func:`landmarklib.engine.folds.ensure_folds`.

    Returns
    -------
    pred
        ``(N, k)`` the per-landmark mean over the images of the training subjects of the image's fold.
    fold
        ``(N,)`` fold index of each image.
    """
    d = np.asarray(landmark_depth, dtype=np.float64)
    ids = np.asarray(ids).astype(str)
    fold = _fold_index(ids, folds)
    pred = np.empty_like(d)
    for f, split in enumerate(folds):
        train = np.isin(ids, np.asarray(split["train"], dtype=str))
        if not train.any():
            raise LandmarkError(f"fold {f} has no training images")
        pred[fold == f] = d[train].mean(axis=0)
    return pred, fold


# --------------------------------------------------------------------------------------------------
# Result files
# --------------------------------------------------------------------------------------------------
def _slug(method: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", method.lower()).strip("-")


def depth_frame(
    *,
    method: str,
    fold: int | Sequence[int] | np.ndarray,
    samples: LandmarkSet,
    depth_pred: np.ndarray,
    pred_px: np.ndarray | None = None,
) -> pd.DataFrame:
    """The long prediction table of :mod:`landmarklib.evaluation.results` with ``depth_true``/``depth_pred``.

    Parameters
    ----------
    method
        One of :data:`DEPTH_METHODS`.
    samples
        The scans (ids, 2D and depth ground truth, mm per pixel).
    depth_pred
        ``(N, k)`` estimated depth (voxels).
    pred_px
        ``(N, k, 2)`` estimated 2D position (patch pixels); ``None`` (the baseline): ``NaN``.
    """
    if method not in DEPTH_METHODS:
        raise LandmarkError(f"unknown depth method {method!r}; use one of {', '.join(DEPTH_METHODS)}")
    if samples.landmark_depth is None:
        raise LandmarkError("the scans have no landmark depth")
    n, k = len(samples), len(samples.landmark_names)
    pred_px = np.full((n, k, 2), np.nan) if pred_px is None else np.asarray(pred_px, float)
    depth_pred = np.asarray(depth_pred, float)
    if pred_px.shape != (n, k, 2) or depth_pred.shape != (n, k):
        raise LandmarkError(
            f"predictions must be ({n}, {k}, 2) and ({n}, {k}); got {pred_px.shape}, {depth_pred.shape}"
        )
    mm = np.full((n, 2), np.nan) if samples.mm_per_px is None else samples.mm_per_px.astype(float)
    true = samples.landmarks.astype(float)
    return pd.DataFrame(
        {
            "task": samples.task,
            "method": method,
            "fold": np.repeat(np.broadcast_to(np.asarray(fold, dtype=int), (n,)), k),
            "subject": np.repeat(samples.ids, k),
            "landmark": np.tile(samples.landmark_names, n),
            "x_true": true[..., 0].ravel(),
            "y_true": true[..., 1].ravel(),
            "x_pred": pred_px[..., 0].ravel(),
            "y_pred": pred_px[..., 1].ravel(),
            "mm_per_px_x": np.repeat(mm[:, 0], k),
            "mm_per_px_y": np.repeat(mm[:, 1], k),
            "depth_true": samples.landmark_depth.astype(float).ravel(),
            "depth_pred": depth_pred.ravel(),
        }
    )


def _depth_dir(profile: str, renders_dir: str | os.PathLike | None) -> Path:
    return subdir("results", profile, "depth", renders_dir=renders_dir)


def write_depth_predictions(
    frame: pd.DataFrame,
    *,
    params: Mapping[str, Any],
    renders_dir: str | os.PathLike | None = None,
    **extra: Any,
) -> Path:
    """Write one method's depth table atomically, with a provenance sidecar; returns the CSV path.

    The file is ``renders/results/<profile>/depth/<task>_<method-slug>.csv`` (+ ``.json``).
    """
    needed = [*COLUMNS, "depth_true", "depth_pred"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise LandmarkError(f"depth prediction table lacks columns {missing}")
    tasks, methods = frame["task"].unique(), frame["method"].unique()
    if len(tasks) != 1 or len(methods) != 1:
        raise LandmarkError("write one depth table per (task, method)")
    folder = _depth_dir(params["profile"], renders_dir)
    csv = folder / f"{tasks[0]}_{_slug(methods[0])}.csv"
    with atomic_path(csv) as tmp:
        frame[needed].to_csv(tmp, index=False)
    write_json(
        csv.with_suffix(".json"),
        provenance(params, task=tasks[0], method=methods[0], rows=len(frame), unit="voxel", **extra),
    )
    return csv


def read_depth_predictions(
    profile: str, *, task: str = "hand", renders_dir: str | os.PathLike | None = None
) -> pd.DataFrame:
    """All depth tables of ``profile`` and ``task``, concatenated."""
    folder = _depth_dir(profile, renders_dir)
    files = sorted(folder.glob(f"{task}_*.csv"))
    if not files:
        raise LandmarkError(f"no depth predictions in {folder}; run book/07_depth.ipynb first")
    return pd.concat([pd.read_csv(f, dtype={"subject": str}) for f in files], ignore_index=True)


# --------------------------------------------------------------------------------------------------
# Evaluation: Fig. 4, claim C6, 2D comparison
# --------------------------------------------------------------------------------------------------
def depth_errors(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``abs_depth_error`` (voxels), ``error_px`` (Euclidean 2D error, patch px) and ``image``.

    ``image`` numbers the rows of one (method, subject, landmark) in table order, so that a subject
    with several images (the paper: 263 images of 132 subjects) pairs image by image across methods.
    """
    out = frame.copy()
    out["image"] = out.groupby(["method", "subject", "landmark"], sort=False).cumcount()
    out["abs_depth_error"] = (out["depth_pred"] - out["depth_true"]).abs()
    out["error_px"] = np.hypot(out["x_pred"] - out["x_true"], out["y_pred"] - out["y_true"])
    return out


def _bootstrap_mean_ci(values: np.ndarray, n_resamples: int, seed: int) -> tuple[float, float]:
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.ptp(values) == 0:
        return float(values.mean()), float(values.mean())
    res = bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=0.95,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def fig4_table(frame: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Fig. 4 as a table: mean absolute depth error per method and landmark with bootstrap 95% CIs.

    Parameters
    ----------
    frame
        Depth prediction rows (:func:`depth_frame`), one or both :data:`DEPTH_METHODS`.

    Returns
    -------
    DataFrame
        ``method, landmark, mae, ci_low, ci_high, n, paper`` (voxels); ``paper`` from
        :func:`landmarklib.paper.paper_values` ``("fig4")``. Resampling unit: the image.
    """
    from ..paper import paper_values

    errors = depth_errors(frame)
    paper = paper_values("fig4").set_index(["method", "landmark"])["value"]
    rows = []
    for (method, landmark), group in errors.groupby(["method", "landmark"], sort=False):
        e = group["abs_depth_error"].to_numpy()
        lo, hi = _bootstrap_mean_ci(e, n_resamples, seed)
        rows.append(
            {
                "method": method,
                "landmark": landmark,
                "mae": e.mean(),
                "ci_low": lo,
                "ci_high": hi,
                "n": len(e),
                "paper": paper.get((method, landmark), np.nan),
            }
        )
    table = pd.DataFrame(rows)
    table["method"] = pd.Categorical(table["method"], [m for m in DEPTH_METHODS if m in set(table["method"])])
    table["landmark"] = pd.Categorical(table["landmark"], landmark_names(frame["task"].iloc[0]))
    table = table.sort_values(["method", "landmark"]).reset_index(drop=True)
    return table.astype({"method": str, "landmark": str})


def ratio_with_ci(
    cnn_errors: np.ndarray, baseline_errors: np.ndarray, *, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """``mean(cnn) / mean(baseline)`` with a paired bootstrap 95% CI over images.

    Parameters
    ----------
    cnn_errors, baseline_errors
        ``(N, k)`` absolute depth errors of the same images and landmarks (rows resampled together).

    Returns
    -------
    ratio, ci_low, ci_high
    """
    a = np.asarray(cnn_errors, dtype=float).reshape(len(cnn_errors), -1)
    b = np.asarray(baseline_errors, dtype=float).reshape(len(baseline_errors), -1)
    if a.shape != b.shape:
        raise LandmarkError(f"paired errors must have the same shape, got {a.shape} and {b.shape}")
    ratio = a.mean() / b.mean()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_resamples, len(a)))
    boot = a[idx].mean(axis=(1, 2)) / b[idx].mean(axis=(1, 2))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(ratio), float(lo), float(hi)


def c6_verdict(ratio: float, ci_low: float, ci_high: float) -> tuple[str, str]:
    """Verdict on claim C6, "the CNN reduces the depth error to about a third of the baseline's".

    Rule, on ``ratio`` = mean CNN error / mean baseline error and its bootstrap 95% CI over images:

    * ``"holds"``: the whole CI lies below :data:`C6_LIMIT` (2/3, halfway between a third and no
      reduction);
    * ``"does not hold"``: the whole CI lies above :data:`C6_LIMIT`;
    * ``"inconclusive"``: the CI contains :data:`C6_LIMIT`.

    Returns
    -------
    (verdict, note)
        One of :data:`C6_VERDICTS`, and a note: ``"stronger than claimed"`` when the whole CI lies below
        :data:`C6_STRONGER` (1/6), ``"no reduction"`` when the CI lies at or above 1, else ``""``.

    Examples
    --------
    >>> c6_verdict(0.33, 0.30, 0.37)
    ('holds', '')
    >>> c6_verdict(0.95, 0.85, 1.05)
    ('does not hold', '')
    """
    if not (np.isfinite([ratio, ci_low, ci_high]).all() and ci_low <= ratio <= ci_high):
        raise LandmarkError(f"ratio {ratio} must be finite and lie inside its CI [{ci_low}, {ci_high}]")
    if ci_high < C6_LIMIT:
        verdict = "holds"
    elif ci_low > C6_LIMIT:
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    note = "stronger than claimed" if ci_high < C6_STRONGER else "no reduction" if ci_low >= 1 else ""
    return verdict, note


def claim_c6(frame: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Claim C6 on depth prediction rows of both :data:`DEPTH_METHODS`.

    Returns
    -------
    dict
        ``ours``, ``ci_low``, ``ci_high`` (our error ratio CNN/baseline over all fingertips),
        ``paper`` (the same ratio from the paper's Fig. 4 values), ``mae_cnn``, ``mae_baseline``
        (voxels), ``paper_mae_cnn``, ``paper_mae_baseline`` (the paper's, averaged over the fingertips),
        ``verdict`` and ``note`` (:func:`c6_verdict`) and ``rule`` (its text).
    """
    from ..paper import paper_values

    errors = depth_errors(frame)
    wide = errors.pivot_table(
        index=["subject", "image", "landmark"], columns="method", values="abs_depth_error"
    )
    missing = [m for m in DEPTH_METHODS if m not in wide.columns]
    if missing:
        raise LandmarkError(f"claim C6 needs rows of {missing}; run the depth experiment first")
    k = errors["landmark"].nunique()
    wide = wide[list(DEPTH_METHODS)].dropna()
    if len(wide) == 0 or len(wide) % k:
        raise LandmarkError("claim C6 needs both methods on the same images, every landmark of each")
    cnn = wide["CNN(depth)"].to_numpy().reshape(-1, k)
    base = wide["mean depth"].to_numpy().reshape(-1, k)
    ratio, lo, hi = ratio_with_ci(cnn, base, n_resamples=n_resamples, seed=seed)
    verdict, note = c6_verdict(ratio, lo, hi)
    paper = paper_values("fig4").groupby("method")["value"].mean()
    return {
        "ours": ratio,
        "ci_low": lo,
        "ci_high": hi,
        "paper": float(paper["CNN(depth)"] / paper["mean depth"]),
        "mae_cnn": float(cnn.mean()),
        "mae_baseline": float(base.mean()),
        "paper_mae_cnn": float(paper["CNN(depth)"]),
        "paper_mae_baseline": float(paper["mean depth"]),
        "verdict": verdict,
        "note": note,
        "rule": (
            f"holds if the bootstrap 95% CI of the error ratio CNN/baseline lies below {C6_LIMIT:.3f} "
            "(halfway between a third and no reduction), does not hold if it lies above, else inconclusive; "
            f"'stronger than claimed' if it lies below {C6_STRONGER:.3f}"
        ),
    }


def compare_2d(
    depth_frame_: pd.DataFrame, binary_frame: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """2D error of the depth-input CNN against the binary-input ``CNN(ft)``, on the common images.

    Parameters
    ----------
    depth_frame_
        Rows of ``CNN(depth)`` (:func:`depth_frame`).
    binary_frame
        Rows of ``CNN(ft)`` (:func:`landmarklib.evaluation.results.read_predictions`).

    Returns
    -------
    DataFrame
        Per landmark and ``all``: ``depth_px``, ``binary_px`` (mean Euclidean error, patch px),
        ``diff_px`` (depth - binary; negative = depth helps) with a paired bootstrap 95% CI, and ``n``.
    """
    keys = ["subject", "image", "landmark"]
    d = depth_errors(depth_frame_[depth_frame_["method"] == "CNN(depth)"])
    b = depth_errors(
        binary_frame[binary_frame["method"] == "CNN(ft)"].assign(depth_pred=np.nan, depth_true=np.nan)
    )
    both = d[keys + ["error_px"]].merge(b[keys + ["error_px"]], on=keys, suffixes=("_depth", "_binary"))
    if both.empty:
        raise LandmarkError(
            "the depth CNN and CNN(ft) share no (subject, landmark); were they run on the same scans?"
        )
    rows = []
    names = list(dict.fromkeys(d["landmark"]))
    for name in [*names, "all"]:
        g = both if name == "all" else both[both["landmark"] == name]
        diff = (g["error_px_depth"] - g["error_px_binary"]).to_numpy()
        lo, hi = _bootstrap_mean_ci(diff, n_resamples, seed)
        rows.append(
            {
                "landmark": name,
                "depth_px": g["error_px_depth"].mean(),
                "binary_px": g["error_px_binary"].mean(),
                "diff_px": diff.mean(),
                "ci_low": lo,
                "ci_high": hi,
                "n": len(g),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# The depth CNN
# --------------------------------------------------------------------------------------------------
def _seed(cfg: Mapping[str, Any], salt: int) -> int:
    """Seeds of the depth CNN, apart from the 2D CNNs' (``landmarklib.engine.training`` uses salts 1..21)."""
    return int(cfg.seed) * 1_000 + salt


def default_model_factory(task: str = "hand") -> Any:
    """The Table 1 network with 3 outputs per landmark (:class:`landmarklib.models.cnn.LandmarkCNN`)."""
    from ..models.cnn import LandmarkCNN

    return LandmarkCNN(task, outputs_per_landmark=3)


def depth_offset(targets: np.ndarray) -> np.ndarray:
    """``(k,)`` mean normalised landmark depth of a training set (its ``(N, 3 k)`` targets)."""
    t = np.asarray(targets, dtype=np.float64)
    return t.reshape(len(t), -1, 3)[..., 2].mean(axis=0)


def shift_depth(targets: np.ndarray, offset: np.ndarray, sign: int = -1) -> np.ndarray:
    """Subtract (``sign=-1``) or add back (``+1``) ``offset`` ``(k,)`` on the depth outputs of ``(N, 3 k)``.

    Why (a choice the paper does not make; see :func:`pretrain_depth_cnn`): the network learns the
    normalised depth *relative to the training set's mean* per landmark, the mean is added back at
    prediction time.
    """
    t = np.array(targets, dtype=np.float32).reshape(len(targets), -1, 3)
    t[..., 2] += sign * np.asarray(offset, dtype=np.float32)
    return t.reshape(len(t), -1)


def pretrain_depth_cnn(
    synthetic: LandmarkSet,
    cfg: Mapping[str, Any],
    *,
    model_factory: Callable[[], Any] | None = None,
    progress: bool | None = None,
) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """Pretrain the depth CNN on normalised synthetic depth patches (pretraining schedule of the paper).

    Uses :func:`landmarklib.engine.training.fit` with :func:`landmarklib.engine.training.pretrain_schedule`; the
    resumable checkpoint is ``renders/models/<profile>/hand/cnn_depth_syn_<n>_<hash>.pt``, its name tied
    to the render ids so that another render set never resumes from it.

    Deviation from the paper (documented in ``book/07_depth.ipynb``): the depth targets are centred on
    the training set's mean normalised landmark depth (:func:`depth_offset`, :func:`shift_depth`). The
    fingertips lie far behind the mean depth of the hand pixels (on the simulated MR hands 2 to 4
    per-image standard deviations), so the uncentred L2 loss starts ~10x larger than the 2D one and
    the paper's SGD schedule (lr 0.01, momentum 0.9) diverged to NaN within a few fine-tuning epochs.

    Returns
    -------
    (model, offset, history)
        The trained network (CPU, eval mode), the ``(k,)`` depth offset its outputs are relative to,
        and the training history.
    """
    import hashlib

    import torch

    from ..engine import training

    inputs, targets, _ = depth_targets(synthetic, dtype=np.float16)
    offset = depth_offset(targets)
    torch.manual_seed(_seed(cfg, 31))
    model = (model_factory or default_model_factory)()
    digest = hashlib.sha1("\n".join(synthetic.ids).encode()).hexdigest()[:10]
    ckpt = training.checkpoint_path(
        f"cnn_depth_syn_{len(synthetic)}_{digest}",
        task=synthetic.task,
        profile=cfg.profile,
        renders_dir=cfg.renders_dir,
    )
    history = training.fit(
        model,
        inputs,
        shift_depth(targets, offset),
        training.pretrain_schedule(cfg),
        seed=_seed(cfg, 32),
        checkpoint=ckpt,
        device=cfg.device,
        desc="pretrain depth CNN",
        progress=progress,
    )
    return model, offset, history


def predict_depth_cnn(
    model: Any, samples: LandmarkSet, *, offset: np.ndarray | None = None, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Predict with a depth CNN: ``(N, k, 2)`` patch pixels and ``(N, k)`` depth in ``samples``' unit.

    ``offset``: the ``(k,)`` training mean the model's depth outputs are relative to (``None``: 0).
    """
    from ..engine import training

    images, _targets, stats = depth_targets(samples)
    out = training.predict(model, images, device=device)
    if offset is not None:
        out = shift_depth(out, offset, +1)
    return outputs_to_predictions(out, stats, samples.task)


def crossvalidate_depth_cnn(
    pretrained: Any,
    real: LandmarkSet,
    folds: Sequence[Mapping[str, Sequence[str]]],
    cfg: Mapping[str, Any],
    *,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fine-tune a copy of ``pretrained`` per fold on its training subjects and predict its test subjects.

    :func:`landmarklib.engine.training.fit` with the fine-tuning schedule, per fold, on targets centred on that
    fold's training mean (:func:`shift_depth`), added back to the test predictions. No checkpoints:
    fine-tuning is cheap next to pretraining and must follow a retrained ``pretrained``.

    Returns
    -------
    px, depth, fold
        ``(N, k, 2)`` patch px, ``(N, k)`` voxels, ``(N,)`` fold index, in ``real``'s order.
    """
    import torch
    from tqdm.auto import tqdm

    from ..engine import training

    fold = _fold_index(real.ids, folds)
    inputs, targets, stats = depth_targets(real)
    out = np.full(targets.shape, np.nan, dtype=np.float32)
    schedule = training.finetune_schedule(cfg)
    for f, split in enumerate(
        tqdm(folds, desc="folds", leave=False, disable=(not progress) if progress is not None else None)
    ):
        train = np.isin(real.ids, np.asarray(split["train"], dtype=str))
        offset = depth_offset(targets[train])
        torch.manual_seed(_seed(cfg, 40) + f)
        model = copy.deepcopy(pretrained)
        training.fit(
            model,
            inputs[train],
            shift_depth(targets[train], offset),
            schedule,
            seed=_seed(cfg, 41) + f,
            device=cfg.device,
            desc=f"fine-tune fold {f + 1}/{len(folds)}",
            progress=progress,
        )
        test = fold == f
        out[test] = shift_depth(
            training.predict(model, inputs[test], device=cfg.device, precision=schedule.precision), offset, +1
        )
    px, depth = outputs_to_predictions(out, stats, real.task)
    return px, depth, fold


def run_depth_experiment(
    cfg: Mapping[str, Any],
    synthetic: LandmarkSet,
    real: LandmarkSet,
    *,
    model_factory: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """The whole depth experiment: baseline, pretrain + 3-fold fine-tuning, result files, Fig. 4, C6.

    Parameters
    ----------
    cfg
        Resolved parameters (profile, seed, batch_size, lr, momentum, lr_decay, pretrain_epochs,
        finetune_epochs, finetune_lr_drop_after, finetune_lr_drop, bootstrap, device, renders_dir).
    synthetic
        Hand renders with depth (model units).
    real
        MR hands with depth (voxels).
    model_factory
        Makes an untrained network with ``3 k`` outputs; default :func:`default_model_factory`.

    Returns
    -------
    dict
        ``frame`` (rows of both methods), ``files`` (CSV paths and the ``summary`` JSON),
        ``fig4`` (:func:`fig4_table`), ``spread`` (:func:`spread_table`), ``c6`` (:func:`claim_c6`).
        The summary (``renders/results/<profile>/depth/summary.json``) holds ``c6``, ``fig4`` and
        ``spread`` with provenance (:func:`read_depth_summary`).
    """
    from ..engine.folds import ensure_folds

    if real.task != "hand" or synthetic.task != "hand":
        raise LandmarkError("the depth experiment is defined for the hand task (paper, Sec. 3)")
    renders_dir = cfg.renders_dir
    folds = ensure_folds(real.ids, "hand", profile=cfg.profile, seed=cfg.seed, renders_dir=renders_dir)
    base_pred, fold = mean_depth_baseline(real.landmark_depth, real.ids, folds)
    model, _offset, _history = pretrain_depth_cnn(synthetic, cfg, model_factory=model_factory)
    px, depth, _ = crossvalidate_depth_cnn(model, real, folds, cfg)
    frames = {
        "mean depth": depth_frame(method="mean depth", fold=fold, samples=real, depth_pred=base_pred),
        "CNN(depth)": depth_frame(method="CNN(depth)", fold=fold, samples=real, depth_pred=depth, pred_px=px),
    }
    extra = {"n_synthetic": len(synthetic), "n_real": len(real)}
    files = {
        m: write_depth_predictions(f, params=cfg, renders_dir=renders_dir, **extra) for m, f in frames.items()
    }
    frame = pd.concat(frames.values(), ignore_index=True)
    n_boot = int(cfg.bootstrap)
    out = {
        "frame": frame,
        "files": files,
        "fig4": fig4_table(frame, n_resamples=n_boot, seed=cfg.seed),
        "spread": spread_table(real),
        "c6": claim_c6(frame, n_resamples=n_boot, seed=cfg.seed),
    }
    files["summary"] = write_json(
        _depth_dir(cfg.profile, renders_dir) / "summary.json",
        provenance(
            cfg,
            c6=out["c6"],
            fig4=out["fig4"].to_dict("records"),
            spread=out["spread"].to_dict("records"),
            **extra,
        ),
    )
    return out


def read_depth_summary(profile: str, *, renders_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The record :func:`run_depth_experiment` writes: ``c6``, ``fig4``, ``spread`` and provenance.

    For the claims table of the results page (claim C6).
    """
    from ..provenance import read_json

    path = _depth_dir(profile, renders_dir) / "summary.json"
    if not path.is_file():
        raise LandmarkError(f"{path}: no depth results; run book/07_depth.ipynb with profile={profile!r}")
    return read_json(path)
