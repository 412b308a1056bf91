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

This module holds only what is particular to depth: the normalisation and :class:`DepthTransform`, the
target transform that the shared fold loop
(:func:`landmarklib.engine.crossval.cross_validate_arrays`) fits per fold, applies and inverts. Fold
loop, seeds (:data:`landmarklib.engine.training.SEED_SALTS`), checkpoints, the prediction table
(:mod:`landmarklib.evaluation.results`: methods ``mean depth`` and ``CNN(depth)``), errors, Fig. 4's
summary and claim C6 (:mod:`landmarklib.evaluation.claims`) are the shared ones.

Units: synthetic depth is in model units (metres), scan depth in voxels along the depth axis; a
normalised depth is unit-free. Landmark positions are ``(x, y)`` patch pixels (see
:mod:`landmarklib.geometry`); the network regresses them in ``[-1, 1]`` (eq. 1).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data import LandmarkSet
from ..engine.crossval import TargetTransform, cross_validate_arrays, fold_index
from ..engine.training import _fingerprint, _model_seed
from ..errors import LandmarkError
from ..geometry import from_unit, patch_size
from ..profiles import base_profile

__all__ = ["BACKGROUND", "DepthStats", "normalize_depth", "normalize_landmark_depth", "DepthTransform", "depth_inputs", "depth_targets", "outputs_to_predictions", "mean_depth_baseline", "fig4_table", "compare_2d", "default_model_factory", "pretrain_depth_cnn", "predict_depth_cnn", "cross_validate_depth", "run_depth_experiment"]

#: Value of background pixels in a normalised depth image (paper, Sec. 3).
BACKGROUND = 3.0

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


class DepthTransform(TargetTransform):
    """The depth CNN's target transform: per-image normalisation of the landmark depth, centred on the
    training mean; :meth:`invert` undoes both (:class:`~landmarklib.engine.crossval.TargetTransform`).

    Targets are ``(N, 3 k)``, per landmark ``(x, y, depth)``: ``x, y`` in ``[-1, 1]`` (eq. 1, left as
    they are) and the depth in the depth map's unit. :meth:`apply` maps the depth of image ``i`` to
    ``(d - mean_i) / std_i - offset`` with the image's :class:`DepthStats` and the ``(k,)`` ``offset``
    that :meth:`fit` takes from the training images.

    Why the centring (a choice the paper does not make; documented in ``book/06_depth.ipynb``): the
    fingertips lie far behind the mean depth of the hand pixels (on the simulated MR hands 2 to 4
    per-image standard deviations), so the uncentred L2 loss starts ~10x larger than the 2D one and the
    paper's SGD schedule (lr 0.01, momentum 0.9) diverged to NaN within a few fine-tuning epochs.

    Parameters
    ----------
    stats
        The per-image statistics of every row of the data set (from the depth maps, never the
        annotations).
    offset
        ``(k,)`` mean normalised landmark depth of the training rows (``None``: not fitted, 0).
    """

    def __init__(self, stats: DepthStats, offset: np.ndarray | None = None) -> None:
        self.stats = stats
        self.offset = None if offset is None else np.asarray(offset, dtype=np.float64)

    @property
    def identity(self) -> str:  # type: ignore[override]
        return f"depth:{_fingerprint(self.stats.mean, self.stats.std)}"

    def _normalised(self, targets: np.ndarray, rows: np.ndarray) -> np.ndarray:
        t = np.array(targets, dtype=np.float32).reshape(len(targets), -1, 3)  # (n, k, 3)
        t[..., 2] = self.stats.subset(rows).apply(t[..., 2]).astype(np.float32)
        return t

    def fit(self, targets: np.ndarray, rows: np.ndarray) -> DepthTransform:
        return DepthTransform(self.stats, self._normalised(targets, rows)[..., 2].mean(axis=0, dtype=np.float64))

    def apply(self, targets: np.ndarray, rows: np.ndarray) -> np.ndarray:
        t = self._normalised(targets, rows)
        if self.offset is not None:
            t[..., 2] -= self.offset.astype(np.float32)
        return t.reshape(len(t), -1)

    def invert(self, outputs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        t = np.array(outputs, dtype=np.float32).reshape(len(outputs), -1, 3)
        if self.offset is not None:
            t[..., 2] += self.offset.astype(np.float32)
        out = t.astype(np.float64)
        out[..., 2] = self.stats.subset(rows).invert(t[..., 2])
        return out.reshape(len(out), -1)


def depth_inputs(
    samples: LandmarkSet, *, dtype: Any = np.float32, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray, DepthTransform]:
    """Network inputs, targets in their own units and the (unfitted) :class:`DepthTransform` of a set.

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
        ``(N, 1, p_h, p_w)`` normalised depth patches (:func:`normalize_depth`).
    targets
        ``(N, 3 k)`` float32, per landmark ``(x, y, depth)``: ``x, y`` in ``[-1, 1]`` and the annotated
        depth in the depth map's unit, landmark after landmark (``x1, y1, d1, x2, ...``: the order of
        :class:`landmarklib.models.cnn.LandmarkCNN` with ``outputs_per_landmark=3``).
    transform
        :class:`DepthTransform` with every image's :class:`DepthStats`.
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
    targets = np.concatenate([samples.unit_landmarks(), samples.landmark_depth[..., None]], axis=-1)  # (N, k, 3)
    return images, targets.reshape(n, -1).astype(np.float32), DepthTransform(DepthStats(mean, std))


def depth_targets(
    samples: LandmarkSet, *, dtype: Any = np.float32, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray, DepthStats]:
    """Network inputs and normalised (uncentred) targets of a :class:`LandmarkSet` with depth.

    Returns
    -------
    images, targets, stats
        As :func:`depth_inputs`, but the depth of ``targets`` normalised per image (the paper's
        targets) and the per-image :class:`DepthStats`.
    """
    images, targets, transform = depth_inputs(samples, dtype=dtype, chunk=chunk)
    return images, transform.apply(targets, np.arange(len(targets))), transform.stats


def _split(targets: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 3 k)`` targets in their own units -> ``(N, k, 2)`` patch pixels and ``(N, k)`` depth."""
    out = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1, 3)
    return from_unit(out[..., :2], patch_size(task)), out[..., 2]


def outputs_to_predictions(
    outputs: np.ndarray, stats: DepthStats, task: str = "hand", *, offset: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Map network outputs ``(N, 3 k)`` back: ``(N, k, 2)`` patch pixels and ``(N, k)`` depth in the
    depth maps' own unit (voxels for scans), each image with its own :class:`DepthStats`; ``offset``:
    the ``(k,)`` training mean the outputs are relative to (:class:`DepthTransform`)."""
    return _split(DepthTransform(stats, offset).invert(outputs, np.arange(len(outputs))), task)


# --------------------------------------------------------------------------------------------------
# Baseline
# --------------------------------------------------------------------------------------------------
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
        ``(N,)`` fold index of each image (:func:`landmarklib.engine.crossval.fold_index`).
    """
    d = np.asarray(landmark_depth, dtype=np.float64)
    ids = np.asarray(ids).astype(str)
    fold = fold_index(ids, folds)
    pred = np.empty_like(d)
    for f, split in enumerate(folds):
        train = np.isin(ids, np.asarray(split["train"], dtype=str))
        if not train.any():
            raise LandmarkError(f"fold {f} has no training images")
        pred[fold == f] = d[train].mean(axis=0)
    return pred, fold


# --------------------------------------------------------------------------------------------------
# Evaluation: Fig. 4 and the 2D comparison (claim C6 is in landmarklib.evaluation.claims)
# --------------------------------------------------------------------------------------------------
def fig4_table(frame: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Fig. 4 as a table: :func:`~landmarklib.evaluation.metrics.summarize` of the depth error
    (voxels) per method and landmark, bootstrap 95% CIs over scans, beside the paper's values."""
    from ..evaluation.metrics import beside_paper, landmark_errors, summarize

    summary = summarize(landmark_errors(frame), n_resamples=n_resamples, seed=seed, unit="voxel")
    return beside_paper(summary, "fig4")


def compare_2d(predictions: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """2D landmark error of the depth-input ``CNN(depth)`` against the binary-input ``CNN(ft)``.

    Parameters
    ----------
    predictions
        Prediction rows of both methods (:func:`landmarklib.evaluation.results.read_predictions`).

    Returns
    -------
    DataFrame
        Per landmark and ``all``: ``depth_px``, ``binary_px`` (mean landmark error, patch px),
        ``diff_px`` (depth - binary; negative = depth helps) with its paired bootstrap 95% CI over
        the scans both methods have (:func:`landmarklib.evaluation.claims.compare`), and ``n`` scans.
    """
    from ..evaluation.claims import compare, less
    from ..evaluation.metrics import landmark_errors
    from ..landmarks import landmark_names

    errors = landmark_errors(predictions)
    rows = []
    for name in [*landmark_names("hand"), "all"]:
        row = compare(errors, less("hand", "CNN(depth)", "CNN(ft)", None if name == "all" else [name]),
                      n_resamples=n_resamples, seed=seed)
        if row["verdict"].startswith("not evaluated") or not row["n_scans"]:
            raise LandmarkError(f"CNN(depth) and CNN(ft) share no scan: {row['verdict']}")
        rows.append({"landmark": name, "depth_px": row["lhs"], "binary_px": row["rhs"], "diff_px": row["value"],
                     "ci_low": row["ci_low"], "ci_high": row["ci_high"], "n": row["n_scans"]})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# The depth CNN
# --------------------------------------------------------------------------------------------------
def default_model_factory(task: str = "hand") -> Any:
    """The Table 1 network with 3 outputs per landmark (:class:`landmarklib.models.cnn.LandmarkCNN`)."""
    from ..models.cnn import LandmarkCNN

    return LandmarkCNN(task, outputs_per_landmark=3)


def pretrain_depth_cnn(
    synthetic: LandmarkSet,
    cfg: Mapping[str, Any],
    *,
    model_factory: Callable[[], Any] | None = None,
    progress: bool | None = None,
) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """Pretrain the depth CNN on normalised synthetic depth patches (pretraining schedule of the paper).

    :func:`landmarklib.engine.training.fit` with :func:`~landmarklib.engine.training.pretrain_schedule`
    on the :class:`DepthTransform` of the renders fitted on all of them; the resumable checkpoint is
    ``renders/models/<profile>/hand/cnn_depth_syn_n<N>.pt`` with fit's identity (schedule, seed, the
    targets' fingerprint): other renders of the same count are refused, never resumed.

    Returns
    -------
    (model, offset, history)
        The trained network (CPU, eval mode), the ``(k,)`` depth offset its outputs are relative to
        (for :func:`predict_depth_cnn`), and the training history.
    """
    import torch

    from ..engine import training

    images, targets, transform = depth_inputs(synthetic, dtype=np.float16)
    rows = np.arange(len(synthetic))
    transform = transform.fit(targets, rows)
    torch.manual_seed(_model_seed(cfg, "depth_syn/init"))
    model = (model_factory or default_model_factory)()
    ckpt = training.checkpoint_path(f"cnn_depth_syn_n{len(synthetic)}", task=synthetic.task,
                                    profile=base_profile(cfg.profile), renders_dir=cfg.renders_dir)  # scans unseen
    history = training.fit(model, images, transform.apply(targets, rows), training.pretrain_schedule(cfg),
                           seed=_model_seed(cfg, "depth_syn/fit"), checkpoint=ckpt, device=cfg.device,
                           desc="pretrain depth CNN", progress=progress)
    return model, transform.offset, history


def predict_depth_cnn(
    model: Any, samples: LandmarkSet, *, offset: np.ndarray | None = None, device: str = "auto",
    precision: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Predict with a depth CNN: ``(N, k, 2)`` patch pixels and ``(N, k)`` depth in ``samples``' unit.

    ``offset``: the ``(k,)`` training mean the model's depth outputs are relative to (``None``: 0).
    ``precision``: as the training run's (``cfg.precision``).
    """
    from ..engine import training

    images, _targets, stats = depth_targets(samples)
    outputs = training.predict(model, images, device=device, precision=precision)
    return outputs_to_predictions(outputs, stats, samples.task, offset=offset)


def cross_validate_depth(
    pretrained: Any,
    real: LandmarkSet,
    folds: Sequence[Mapping[str, Sequence[str]]],
    cfg: Mapping[str, Any],
    *,
    progress: bool | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """CNN(depth): fine-tune a copy of ``pretrained`` per fold, predict the fold's test scans.

    :func:`landmarklib.engine.crossval.cross_validate_arrays` with the fine-tuning schedule and the
    :class:`DepthTransform` (fitted on each fold's training scans), finished folds kept as
    ``renders/models/<profile>/hand/cnn_depth_fold<i>.npz``.

    Returns
    -------
    (frame, histories)
        The ``CNN(depth)`` prediction table (:func:`landmarklib.evaluation.results.predictions_frame`,
        patch px and voxels) and one training history per fold.
    """
    from ..engine import training
    from ..evaluation.results import predictions_frame

    def make_model(fold: int) -> Any:
        import torch

        torch.manual_seed(_model_seed(cfg, "depth/init/fold", fold))
        return copy.deepcopy(pretrained)

    images, targets, transform = depth_inputs(real)
    stem = training.checkpoint_path("cnn_depth", task=real.task, profile=cfg.profile, renders_dir=cfg.renders_dir)
    pred, fold, histories = cross_validate_arrays(
        images, targets, real.ids, folds, make_model, training.finetune_schedule(cfg),
        seed=_model_seed(cfg, "depth/fit/fold"), checkpoint_stem=stem.with_suffix(""), device=cfg.device,
        progress=progress, workers=cfg.fold_workers, target_transform=transform, model_identity=_fingerprint(
            *(v.detach().cpu().numpy() for v in pretrained.state_dict().values())),
    )
    px, depth = _split(pred, real.task)
    frame = predictions_frame(task=real.task, method="CNN(depth)", fold=fold, subjects=real.ids, pred_px=px,
                              true_px=real.landmarks, mm_per_px=real.mm_per_px, depth_pred=depth,
                              depth_true=real.landmark_depth)
    return frame, histories


def run_depth_experiment(
    cfg: Mapping[str, Any],
    synthetic: LandmarkSet,
    real: LandmarkSet,
    *,
    model_factory: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """The whole depth experiment: baseline, pretraining + 3-fold fine-tuning, prediction files, Fig. 4.

    Parameters
    ----------
    cfg
        The resolved :class:`~landmarklib.profiles.Config`.
    synthetic
        Hand renders with depth (model units).
    real
        MR hands with depth (voxels).
    model_factory
        Makes an untrained network with ``3 k`` outputs; default :func:`default_model_factory`.

    Returns
    -------
    dict
        ``frame`` (rows of ``mean depth`` and ``CNN(depth)``), ``files`` (their prediction CSVs under
        ``renders/results/<profile>/predictions/``, written by
        :func:`landmarklib.evaluation.results.write_predictions`, and the Fig. 4 table) and ``fig4``
        (:func:`fig4_table`). Claim C6 is :func:`landmarklib.evaluation.claims.claims_table`'s.
    """
    from ..engine.folds import ensure_folds
    from ..evaluation.report import write_table
    from ..evaluation.results import predictions_frame, write_predictions

    if real.task != "hand" or synthetic.task != "hand":
        raise LandmarkError("the depth experiment is defined for the hand task (paper, Sec. 3)")
    folds = ensure_folds(real.ids, "hand", profile=cfg.profile, seed=cfg.seed, renders_dir=cfg.renders_dir)
    base_pred, fold = mean_depth_baseline(real.landmark_depth, real.ids, folds)
    baseline = predictions_frame(task="hand", method="mean depth", fold=fold, subjects=real.ids, pred_px=None,
                                 true_px=real.landmarks, mm_per_px=real.mm_per_px, depth_pred=base_pred,
                                 depth_true=real.landmark_depth)
    model, _offset, _history = pretrain_depth_cnn(synthetic, cfg, model_factory=model_factory)
    cnn, _histories = cross_validate_depth(model, real, folds, cfg)
    extra = {"n_synthetic": len(synthetic), "n_real": len(real), "unit_depth": "voxel"}
    files = {f["method"].iloc[0]: write_predictions(f, params=cfg, **extra)
             for f in (baseline, cnn)}
    frame = pd.concat([baseline, cnn], ignore_index=True)
    fig4 = fig4_table(frame, n_resamples=int(cfg.bootstrap), seed=cfg.seed)
    files["fig4"] = write_table(fig4, "fig4_depth_errors", cfg, **extra)
    return {"frame": frame, "files": files, "fig4": fig4}
