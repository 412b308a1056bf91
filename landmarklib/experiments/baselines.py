"""The paper's baselines: nearest neighbours NN(syn), NN(real) and the regression forest RF of [3].

All three work in the common binary domain (:class:`~landmarklib.data.LandmarkSet`: silhouettes
cropped and scaled into the task's patch, landmarks ``(x, y)`` in patch pixels) and are evaluated
with the folds every method shares (:func:`landmarklib.engine.folds.ensure_folds`); each writes one
prediction table (:mod:`landmarklib.evaluation.results`).

Nearest neighbour (Riegler et al. 2015, Sec. 4)
------------------------------------------------
"We compute the location estimates by taking the mean annotation of the three nearest patches."
Silhouettes are binary, so the distance is the Hamming distance (number of differing pixels)
between the two ``p_h x p_w`` patches. Patches are bit-packed row-major (``numpy.packbits``: 96 x 96
-> 1152 bytes, 76 x 160 -> 1520 bytes) and searched exactly with faiss's binary flat index
(``faiss.IndexBinaryFlat``, popcount on 64-bit words); the estimate is the plain mean of the ``k``
neighbours' landmarks in patch pixels. NN(syn) searches the synthetic renders, NN(real) the
binarized scans of the training folds. Ties at equal distance are broken by faiss (deterministic
for the same index contents). The scan is blocked for the cache (all queries share each ~8 MiB block
of the database), which is 2.5x faster than faiss's defaults on 2 cores and gives the same result.

Regression forest after Criminisi et al. 2011 ([3] of the paper)
-----------------------------------------------------------------
[3] localizes organs in 3D CT: every voxel votes, through a regression forest, for its offset to
each organ's bounding box, using long-range context features (mean intensity of boxes displaced
from the voxel, computed with integral volumes); each leaf stores a Gaussian of the offsets and only
the most confident leaves (smallest covariance) enter the final estimate, the expectation of the
mixture of their votes. The 2D adaptation here makes these choices:

1. *Voters*: the pixels inside the silhouette (the scans' only content after binarization). Training
   samples ``rf_pixels`` of them per training image, uniformly at random (fewer if the silhouette is
   smaller); prediction lets every silhouette pixel vote.
2. *Targets*: the offset from the pixel centre to each of the ``k`` landmarks, ``(dx, dy)`` in patch
   pixels, regressed jointly (one multi-output tree, ``2k`` outputs), as [3] regresses all box walls
   jointly.
3. *Features*: box means of the binary image (the fraction of a box covered by the silhouette).
   A feature is ``mean(B1) - mean(B2)`` for two boxes displaced from the pixel, or ``mean(B1)`` alone
   (half of the features, as [3] uses both kinds). Box centres are displaced by up to
   ``rf_max_offset`` times the patch's longer side in x and y, box sides are 1 px up to ``rf_max_box``
   times the longer side. Pixels outside the patch count as background (0) and the mean divides by
   the full box area. Box sums come from one integral image per patch (4 look-ups per box).
4. *Random feature selection*: [3] draws fresh random features at every node. scikit-learn trees
   take a fixed feature matrix, so a bank of ``rf_features`` random features is drawn once per
   forest (from the seed) and every split tries a random ``rf_features_per_node`` of them
   (``max_features``), choosing the best threshold for each.
5. *Split criterion*: scikit-learn's multi-output squared error, i.e. the trace of the offsets'
   covariance, where [3] uses the Gaussian information gain (log-determinant). Trees are grown to
   ``rf_depth`` with at least ``rf_min_leaf`` pixels per leaf, each on all training pixels (no
   bootstrap: the randomness is in the features, as in [3]'s randomized node optimization)
   (``sklearn.ensemble.RandomForestRegressor``).
6. *Leaf model and confidence*: each leaf keeps, per landmark, the mean offset and the variance
   ``var(dx) + var(dy)`` of its training pixels (px^2), the 2D analogue of [3]'s leaf Gaussian.
7. *Aggregation*: every (pixel, tree) pair casts one vote per landmark at ``pixel + leaf mean``.
   Per scan and landmark the ``rf_vote_fraction`` votes with the smallest leaf variance are kept and
   averaged with equal weights: the expectation of the mixture of the confident leaves, as in [3].
   A scan with an empty silhouette gets the training mean landmarks (with a warning).

The forest is trained on the real-domain training folds only, as a classical method would be.
Everything is deterministic for a seed (pixel sampling, feature bank, sklearn's ``random_state``).

References
----------
A. Criminisi, J. Shotton, D. Robertson, E. Konukoglu. Regression forests for efficient anatomy
detection and localization in CT studies. MICCAI workshop Medical Computer Vision, 2010/2011.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data import LandmarkSet
from ..engine.folds import ensure_folds
from ..errors import LandmarkError
from ..evaluation.results import predictions_frame, write_predictions
from ..landmarks import parse_task
from ..models.forest import RegressionForest
from ..models.nn import BinaryNN
from ..progress import bar as progress_bar

__all__ = ["BASELINE_METHODS", "fold_seed", "run_baselines", "error_summary"]

#: The three baselines of Fig. 2, in its order.
BASELINE_METHODS: tuple[str, ...] = ("NN(syn)", "NN(real)", "RF")


# --------------------------------------------------------------------------------------------------
# the evaluation protocol


def _check_task(data: LandmarkSet, task: str, name: str) -> LandmarkSet:
    if not isinstance(data, LandmarkSet):
        raise LandmarkError(f"the {name} data must be a LandmarkSet, got {type(data).__name__}")
    if data.task != task:
        raise LandmarkError(f"the {name} set holds {data.task!r} patches but the task is {task!r}")
    return data


def fold_seed(seed: int, fold: int) -> int:
    """A reproducible per-fold seed derived from the run's ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(fold)]).generate_state(1)[0])


def run_baselines(
    task: str,
    cfg: Mapping[str, Any],
    synthetic: LandmarkSet | Iterable[LandmarkSet] | None,
    real: LandmarkSet,
    *,
    methods: Sequence[str] = BASELINE_METHODS,
    write: bool = True,
    progress: bool | None = None,
) -> dict[str, pd.DataFrame]:
    """Evaluate NN(syn), NN(real) and RF on the shared folds and write one table per method.

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``.
    cfg
        Resolved parameters (:func:`landmarklib.configure`): ``profile``, ``seed``, ``nn_k``, ``rf_*``.
    synthetic
        The renders NN(syn) searches: one set, or an iterable of shards (for the ``paper`` profile's
        2.2M renders, which only fit in memory bit-packed); ``None`` when NN(syn) is not asked for.
    real
        The binarized scans; their ids are the subjects of :func:`~landmarklib.engine.folds.ensure_folds`.
    methods
        Any of :data:`BASELINE_METHODS`.
    write
        Write each table with :func:`~landmarklib.evaluation.results.write_predictions` under
        ``cfg.renders_dir``.
    progress
        A bar over the folds (:mod:`landmarklib.progress`).

    Returns
    -------
    dict
        ``{method: prediction table}`` in the format of :mod:`landmarklib.evaluation.results`. NN(syn) trains on
        no scan; its ``fold`` column is the fold in which the scan is tested, for comparability.
    """
    parse_task(task)
    unknown = [m for m in methods if m not in BASELINE_METHODS]
    if unknown:
        raise LandmarkError(f"unknown baseline {unknown}; use any of {', '.join(BASELINE_METHODS)}")
    _check_task(real, task, "real")
    if "NN(syn)" in methods and synthetic is None:
        raise LandmarkError("NN(syn) needs the synthetic renders (landmarklib.synth.rendering.load_renders)")
    if len(set(real.ids)) != len(real):
        raise LandmarkError("the scans' ids must be unique subject ids")
    folds = ensure_folds(real.ids, task, profile=cfg.profile, seed=cfg.seed, renders_dir=cfg.renders_dir)
    fold_of = {sid: i for i, fold in enumerate(folds) for sid in fold["test"]}
    k = int(cfg.nn_k)
    preds: dict[str, list[tuple[int, LandmarkSet, np.ndarray]]] = {m: [] for m in methods}
    if "NN(syn)" in methods:
        nn = BinaryNN(task, k=k)
        for shard in [synthetic] if isinstance(synthetic, LandmarkSet) else synthetic:
            nn.add(_check_task(shard, task, "synthetic"))
        if len(nn) == 0:
            raise LandmarkError("NN(syn) needs the synthetic renders, got an empty set")
        preds["NN(syn)"].append((-1, real, nn.predict(real)))
    for i, fold in enumerate(progress_bar(folds, desc=f"{task} baselines", unit="fold", progress=progress)):
        train, test = real.select_ids(fold["train"]), real.select_ids(fold["test"])
        if "NN(real)" in methods:
            preds["NN(real)"].append((i, test, BinaryNN.fit(train, k=k).predict(test)))
        if "RF" in methods:
            forest = RegressionForest.from_config(task, cfg, seed=fold_seed(cfg.seed, i)).fit(train)
            preds["RF"].append((i, test, forest.predict(test)))
    tables: dict[str, pd.DataFrame] = {}
    for method in methods:
        frames = []
        for i, test, pred in preds[method]:
            fold = [fold_of[s] for s in test.ids] if i < 0 else i
            frames.append(predictions_frame(
                task=task, method=method, fold=fold, subjects=test.ids, pred_px=pred,
                true_px=test.landmarks, mm_per_px=test.mm_per_px,
            ))
        tables[method] = pd.concat(frames, ignore_index=True)
        if write:
            extra = {"n_synthetic": len(nn)} if method == "NN(syn)" else {}
            write_predictions(tables[method], params=cfg, n_folds=len(folds), **extra)
    return tables


# --------------------------------------------------------------------------------------------------
# summaries and figures for the notebook


def error_summary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean and standard deviation of the 2D landmark error (px) per method and landmark.

    The per-scan error of one landmark is the Euclidean distance ``|pred - true|`` in patch pixels.
    The paper's per-landmark "RMSE" (Fig. 2: its mean and std over scans) is this distance, or
    ``sqrt(2)`` less if the mean runs over x and y; the results page (evaluation) fixes the convention.

    Returns
    -------
    pandas.DataFrame
        Columns ``task, method, landmark, mean_px, std_px, n`` in the landmarks' order.
    """
    frame = pd.concat(list(tables.values()), ignore_index=True)
    frame["error_px"] = np.hypot(frame["x_pred"] - frame["x_true"], frame["y_pred"] - frame["y_true"])
    out = (
        frame.groupby(["task", "method", "landmark"], sort=False)["error_px"]
        .agg(mean_px="mean", std_px="std", n="size")
        .reset_index()
    )
    return out
