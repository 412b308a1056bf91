"""The paper's baselines: nearest neighbours NN(syn), NN(real) and the regression forest RF of [3].

All three work in the common binary domain (:class:`~landmarklib.data.LandmarkSet`: silhouettes
cropped and scaled into the task's patch, landmarks ``(x, y)`` in patch pixels) and are evaluated
with the folds every method shares (:func:`landmarklib.folds.ensure_folds`); each writes one
prediction table (:mod:`landmarklib.results`).

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

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from tqdm.auto import tqdm

from .data import LandmarkSet
from .errors import LandmarkError
from .folds import ensure_folds
from .geometry import patch_size
from .landmarks import landmark_names, parse_task
from .results import predictions_frame, write_predictions

__all__ = [
    "BASELINE_METHODS",
    "pack_masks",
    "unpack_masks",
    "BinaryNN",
    "BoxFeatures",
    "RegressionForest",
    "fold_seed",
    "run_baselines",
    "error_summary",
    "baseline_claims",
    "plot_neighbours",
    "plot_vote_maps",
]

#: Database block of the exact Hamming scan, in bytes (about an L2/L3 cache's worth; see BinaryNN.search_codes).
SEARCH_BLOCK_BYTES = 8 * 2**20

#: The three baselines of Fig. 2, in its order.
BASELINE_METHODS: tuple[str, ...] = ("NN(syn)", "NN(real)", "RF")


# --------------------------------------------------------------------------------------------------
# input checks


def _parse_masks(masks: np.ndarray | LandmarkSet, task: str, what: str = "masks") -> np.ndarray:
    """``(N, p_h, p_w)`` bool silhouettes of ``task``, or one clear error."""
    parse_task(task)
    if isinstance(masks, LandmarkSet):
        if masks.task != task:
            raise LandmarkError(
                f"{what} are {masks.task!r} patches but this model is for {task!r}; "
                f"pass a {task} LandmarkSet"
            )
        return masks.masks
    arr = np.asarray(masks)
    if arr.ndim == 2:
        arr = arr[None]
    pw, ph = patch_size(task)
    if arr.ndim != 3 or arr.shape[1:] != (ph, pw):
        raise LandmarkError(
            f"{what} must be {task} patches of shape (N, {ph}, {pw}) (p_h, p_w), got {arr.shape}; "
            "crop and scale them with landmarklib.geometry.fit_transform first"
        )
    if arr.dtype != bool:
        values = np.unique(arr)
        if not np.isin(values, (0, 1)).all():
            raise LandmarkError(f"{what} must be binary (0/1 or bool), found values such as {values[:5]}")
    return arr.astype(bool, copy=False)


def _parse_landmarks(landmarks: np.ndarray, task: str, n: int) -> np.ndarray:
    arr = np.asarray(landmarks, dtype=np.float32)
    k = len(landmark_names(task))
    if arr.shape != (n, k, 2):
        raise LandmarkError(f"{task} landmarks must be ({n}, {k}, 2) (x, y in patch px), got {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------------
# bit packing and nearest neighbours


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Bit-pack silhouettes row-major: ``(N, p_h, p_w)`` bool -> ``(N, p_h * p_w / 8)`` uint8.

    Examples
    --------
    >>> pack_masks(np.ones((1, 2, 8), bool)).tolist()
    [[255, 255]]
    """
    masks = np.asarray(masks, dtype=bool)
    flat = masks.reshape(len(masks), -1)
    if flat.shape[1] % 8:
        raise LandmarkError(f"a patch must have a multiple of 8 pixels to bit-pack, got {flat.shape[1]}")
    return np.ascontiguousarray(np.packbits(flat, axis=1))


def unpack_masks(codes: np.ndarray, task: str) -> np.ndarray:
    """Inverse of :func:`pack_masks` for ``task``'s patch: ``(N, B)`` uint8 -> ``(N, p_h, p_w)`` bool."""
    pw, ph = patch_size(task)
    codes = np.asarray(codes, dtype=np.uint8)
    if codes.ndim != 2 or codes.shape[1] * 8 != pw * ph:
        raise LandmarkError(f"{task} codes must be (N, {pw * ph // 8}) uint8, got {codes.shape}")
    return np.unpackbits(codes, axis=1, count=pw * ph).reshape(-1, ph, pw).astype(bool)


class BinaryNN:
    """Exact k-nearest-neighbour landmark regression on binary patches (Hamming distance).

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``; fixes the patch size and the landmarks.
    k
        Number of neighbours whose landmarks are averaged (the paper: 3).

    Notes
    -----
    The index holds ``p_h * p_w / 8`` bytes per patch (1152 B for hands: 2.2M renders = 2.5 GB) plus
    ``k_landmarks * 2`` float32 per patch. Add large sets in shards with :meth:`add`; nothing else
    is kept.
    """

    def __init__(self, task: str, *, k: int = 3) -> None:
        self.task = parse_task(task)
        if int(k) < 1:
            raise LandmarkError(f"k must be at least 1, got {k}")
        self.k = int(k)
        pw, ph = patch_size(task)
        self.n_bits = pw * ph
        self.index = faiss.IndexBinaryFlat(self.n_bits)
        self._landmarks: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def fit(cls, data: LandmarkSet, *, k: int = 3, chunk: int = 65_536) -> BinaryNN:
        """An index over every patch of ``data``."""
        nn = cls(data.task, k=k)
        nn.add(data, chunk=chunk)
        return nn

    def add(
        self,
        masks: np.ndarray | LandmarkSet,
        landmarks: np.ndarray | None = None,
        ids: Sequence[str] | None = None,
        *,
        chunk: int = 65_536,
    ) -> BinaryNN:
        """Add patches ``(N, p_h, p_w)`` with their landmarks ``(N, k, 2)`` (patch px); packs in chunks."""
        if isinstance(masks, LandmarkSet):
            data = masks
            arr = _parse_masks(data, self.task, "training patches")
            landmarks, ids = data.landmarks, data.ids
        else:
            arr = _parse_masks(masks, self.task, "training patches")
            if landmarks is None:
                raise LandmarkError("add() needs the landmarks of the patches")
        landmarks = _parse_landmarks(landmarks, self.task, len(arr))
        for start in range(0, len(arr), chunk):
            self.index.add(pack_masks(arr[start : start + chunk]))
        self._landmarks.append(landmarks)
        self._ids.append(np.asarray(ids if ids is not None else [""] * len(arr)).astype(str))
        return self

    def add_codes(self, codes: np.ndarray, landmarks: np.ndarray) -> BinaryNN:
        """Add already bit-packed patches ``(N, p_h * p_w / 8)`` uint8 (see :func:`pack_masks`)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] * 8 != self.n_bits:
            raise LandmarkError(f"{self.task} codes must be (N, {self.n_bits // 8}) uint8, got {codes.shape}")
        self._landmarks.append(_parse_landmarks(landmarks, self.task, len(codes)))
        self._ids.append(np.full(len(codes), "", dtype=str))
        self.index.add(codes)
        return self

    @property
    def landmarks(self) -> np.ndarray:
        """``(N, k, 2)`` landmarks of the indexed patches (patch px)."""
        if len(self._landmarks) != 1:
            merged = np.concatenate(self._landmarks) if self._landmarks else np.zeros((0, 0, 2), np.float32)
            self._landmarks = [merged]
        return self._landmarks[0]

    @property
    def ids(self) -> np.ndarray:
        """``(N,)`` ids of the indexed patches (empty strings where none were given)."""
        if len(self._ids) != 1:
            self._ids = [np.concatenate(self._ids) if self._ids else np.zeros(0, str)]
        return self._ids[0]

    def search(self, masks: np.ndarray | LandmarkSet) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed patches of each query.

        Returns
        -------
        distances
            ``(Q, k)`` int32 Hamming distances (differing pixels), ascending.
        indices
            ``(Q, k)`` int64 rows of the index.
        """
        queries = _parse_masks(masks, self.task, "query patches")
        return self.search_codes(pack_masks(queries))

    def search_codes(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` for bit-packed queries ``(Q, p_h * p_w / 8)`` uint8."""
        if len(self) < self.k:
            raise LandmarkError(f"the index holds {len(self)} patches, fewer than k={self.k}; add more")
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        # Cache blocking (faiss's public knobs): all queries in one batch, database blocks of ~8 MiB, so
        # each block is read from RAM once and reused by every query from cache. With faiss's defaults
        # (32 queries, 65,536-code blocks = 75 MB) the scan streams the database from RAM once per
        # query and runs 2.5x slower (benchmarks/bench_nn.py). Results are identical.
        self.index.query_batch_size = max(32, len(codes))
        saved = faiss.cvar.hamming_batch_size
        faiss.cvar.hamming_batch_size = max(1024, SEARCH_BLOCK_BYTES // (self.n_bits // 8))
        try:
            distances, indices = self.index.search(codes, self.k)
        finally:
            faiss.cvar.hamming_batch_size = saved
        return distances, indices

    def predict(self, masks: np.ndarray | LandmarkSet) -> np.ndarray:
        """``(Q, k_landmarks, 2)`` mean landmarks of the ``k`` nearest patches (patch px)."""
        _, indices = self.search(masks)
        return self.landmarks[indices].mean(axis=1)


# --------------------------------------------------------------------------------------------------
# long-range box features


@dataclass(frozen=True)
class BoxFeatures:
    """A bank of ``F`` box-mean features relative to a pixel (choice 3 of the module docstring).

    Attributes
    ----------
    boxes
        ``(F, 2, 4)`` int: for each feature two boxes ``(dx0, dy0, dx1, dy1)``, half-open pixel
        ranges relative to the voter's pixel ``(col, row)``. An empty second box (``dx0 == dx1``)
        makes the feature the mean of the first box alone.
    """

    boxes: np.ndarray

    @classmethod
    def random(cls, task: str, n: int, *, max_offset: float, max_box: float, seed: int) -> BoxFeatures:
        """Draw ``n`` features: centres within ``max_offset``, sides up to ``max_box`` (fractions of
        the patch's longer side); half of them single-box."""
        if n < 1 or not 0 < max_offset <= 2 or not 0 < max_box <= 1:
            raise LandmarkError(
                f"feature bank needs n >= 1, 0 < max_offset <= 2, 0 < max_box <= 1; got {n}, {max_offset}, {max_box}"
            )
        rng = np.random.default_rng(seed)
        longest = max(patch_size(task))
        reach, side = max_offset * longest, max(1.0, max_box * longest)
        centre = rng.uniform(-reach, reach, size=(n, 2, 2))  # (F, box, xy)
        size = rng.uniform(1.0, side, size=(n, 2, 2))
        lo = np.floor(centre - size / 2).astype(np.int64)
        hi = lo + np.maximum(1, np.round(size).astype(np.int64))
        boxes = np.concatenate([lo, hi], axis=-1)  # (F, 2, 4) = dx0, dy0, dx1, dy1
        single = rng.random(n) < 0.5
        boxes[single, 1] = 0
        return cls(boxes=boxes)

    def __len__(self) -> int:
        return len(self.boxes)

    def compute(self, masks: np.ndarray, pixels: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
        """Feature values of voter pixels.

        Parameters
        ----------
        masks
            ``(N, p_h, p_w)`` bool patches.
        pixels
            ``(P, 3)`` int: ``(image index, row, col)`` of each voter.

        Returns
        -------
        numpy.ndarray
            ``(P, F)`` float32, each in ``[-1, 1]``.
        """
        masks = np.asarray(masks, dtype=bool)
        n, h, w = masks.shape
        integral = np.zeros((n, h + 1, w + 1), np.int32)
        integral[:, 1:, 1:] = masks.cumsum(1, dtype=np.int32).cumsum(2, dtype=np.int32)
        flat = integral.reshape(-1)
        stride_img, stride_row = (h + 1) * (w + 1), w + 1
        pixels = np.asarray(pixels, dtype=np.int64)
        out = np.empty((len(pixels), len(self.boxes)), np.float32)
        area = (self.boxes[..., 2] - self.boxes[..., 0]) * (self.boxes[..., 3] - self.boxes[..., 1])  # (F, 2)
        for start in range(0, len(pixels), chunk):
            img, row, col = (pixels[start : start + chunk, i, None, None] for i in range(3))  # (P, 1, 1)
            x0 = np.clip(col + self.boxes[None, :, :, 0], 0, w)  # (P, F, 2)
            y0 = np.clip(row + self.boxes[None, :, :, 1], 0, h)
            x1 = np.clip(col + self.boxes[None, :, :, 2], 0, w)
            y1 = np.clip(row + self.boxes[None, :, :, 3], 0, h)
            base = img * stride_img
            total = (
                flat[base + y1 * stride_row + x1] - flat[base + y0 * stride_row + x1]
                - flat[base + y1 * stride_row + x0] + flat[base + y0 * stride_row + x0]
            )
            mean = np.divide(total, area[None], out=np.zeros(total.shape), where=area[None] > 0)
            out[start : start + chunk] = mean[..., 0] - mean[..., 1]
        return out


def _silhouette_pixels(masks: np.ndarray, *, per_image: int | None, rng: np.random.Generator | None) -> np.ndarray:
    """``(P, 3)`` ``(image, row, col)`` of silhouette pixels: all, or up to ``per_image`` sampled."""
    chunks = []
    for i, mask in enumerate(masks):
        rows, cols = np.nonzero(mask)
        if per_image is not None and len(rows) > per_image:
            keep = np.sort(rng.choice(len(rows), per_image, replace=False))
            rows, cols = rows[keep], cols[keep]
        chunks.append(np.stack([np.full(len(rows), i), rows, cols], axis=1))
    return np.concatenate(chunks) if chunks else np.zeros((0, 3), np.int64)


# --------------------------------------------------------------------------------------------------
# regression forest


class RegressionForest:
    """Pixel-voting regression forest after Criminisi et al. 2011, adapted to 2D silhouettes.

    See the module docstring for every choice of the adaptation; parameter names follow the
    profile keys (``rf_*``).

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``.
    n_trees, max_depth, min_samples_leaf
        Forest size (``rf_trees``, ``rf_depth``, ``rf_min_leaf``).
    n_features, features_per_node
        Size of the random feature bank and features tried per split (``rf_features``,
        ``rf_features_per_node``).
    pixels_per_image
        Silhouette pixels sampled per training image (``rf_pixels``).
    max_offset, max_box
        Box displacement and side limits as fractions of the patch's longer side.
    vote_fraction
        Fraction of the most confident votes kept per scan and landmark.
    seed
        Makes pixel sampling, the feature bank and the trees reproducible.
    n_jobs
        Threads for scikit-learn (results do not depend on it).
    """

    def __init__(
        self,
        task: str,
        *,
        n_trees: int = 10,
        max_depth: int = 10,
        n_features: int = 100,
        features_per_node: int = 20,
        pixels_per_image: int = 200,
        min_samples_leaf: int = 5,
        max_offset: float = 0.5,
        max_box: float = 0.25,
        vote_fraction: float = 0.25,
        seed: int = 0,
        n_jobs: int | None = None,
    ) -> None:
        self.task = parse_task(task)
        if not 0 < vote_fraction <= 1:
            raise LandmarkError(f"vote_fraction must be in (0, 1], got {vote_fraction}")
        if features_per_node > n_features:
            raise LandmarkError(
                f"features_per_node={features_per_node} exceeds the bank of n_features={n_features}"
            )
        self.n_landmarks = len(landmark_names(task))
        self.pixels_per_image = int(pixels_per_image)
        self.vote_fraction = float(vote_fraction)
        self.seed = int(seed)
        self.features = BoxFeatures.random(
            task, int(n_features), max_offset=max_offset, max_box=max_box, seed=self.seed
        )
        self.forest = RandomForestRegressor(
            n_estimators=int(n_trees), max_depth=int(max_depth), max_features=int(features_per_node),
            min_samples_leaf=int(min_samples_leaf), bootstrap=False, random_state=self.seed, n_jobs=n_jobs,
        )
        self.leaf_mean: list[np.ndarray] = []  # per tree (n_nodes, K, 2) px
        self.leaf_var: list[np.ndarray] = []  # per tree (n_nodes, K) px^2
        self.mean_landmarks: np.ndarray | None = None

    @classmethod
    def from_config(cls, task: str, cfg: Mapping[str, Any], *, seed: int | None = None, **kwargs: Any) -> RegressionForest:
        """A forest sized by the profile keys ``rf_*`` of ``cfg`` (seed: ``cfg['seed']`` unless given)."""
        return cls(
            task, n_trees=cfg["rf_trees"], max_depth=cfg["rf_depth"], n_features=cfg["rf_features"],
            features_per_node=cfg["rf_features_per_node"], pixels_per_image=cfg["rf_pixels"],
            min_samples_leaf=cfg["rf_min_leaf"], max_offset=cfg["rf_max_offset"], max_box=cfg["rf_max_box"],
            vote_fraction=cfg["rf_vote_fraction"], seed=cfg["seed"] if seed is None else seed, **kwargs,
        )

    def _pixel_centres(self, pixels: np.ndarray) -> np.ndarray:
        """``(P, 2)`` continuous ``(x, y)`` of voter pixels (centre = index + 0.5)."""
        return np.stack([pixels[:, 2], pixels[:, 1]], axis=1).astype(np.float64) + 0.5

    def fit(self, data: LandmarkSet) -> RegressionForest:
        """Train on the silhouette pixels of ``data`` (a real-domain training fold)."""
        masks = _parse_masks(data, self.task, "training data")
        rng = np.random.default_rng(self.seed)
        pixels = _silhouette_pixels(masks, per_image=self.pixels_per_image, rng=rng)
        if len(pixels) == 0:
            raise LandmarkError("the training silhouettes are all empty; check the binarization")
        x = self.features.compute(masks, pixels)
        offsets = data.landmarks[pixels[:, 0]].astype(np.float64) - self._pixel_centres(pixels)[:, None, :]
        self.forest.fit(x, offsets.reshape(len(pixels), -1))
        self.mean_landmarks = data.landmarks.mean(axis=0)
        self.leaf_mean, self.leaf_var = [], []
        leaves = self.forest.apply(x)  # (P, T)
        for t, tree in enumerate(self.forest.estimators_):
            n_nodes = tree.tree_.node_count
            count = np.bincount(leaves[:, t], minlength=n_nodes).astype(np.float64)
            safe = np.maximum(count, 1)[:, None, None]
            s1 = np.stack([np.bincount(leaves[:, t], w, minlength=n_nodes) for w in offsets.reshape(len(x), -1).T], 1)
            s2 = np.stack([np.bincount(leaves[:, t], w**2, minlength=n_nodes) for w in offsets.reshape(len(x), -1).T], 1)
            mean = s1.reshape(n_nodes, self.n_landmarks, 2) / safe
            var = (s2.reshape(n_nodes, self.n_landmarks, 2) / safe - mean**2).clip(min=0).sum(-1)
            self.leaf_mean.append(mean.astype(np.float32))
            self.leaf_var.append(var.astype(np.float32))
        return self

    def votes(self, masks: np.ndarray | LandmarkSet) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every (silhouette pixel, tree) vote of each image.

        Returns
        -------
        list of (positions, variance)
            Per image: ``(V, K, 2)`` voted landmark positions (patch px) and ``(V, K)`` leaf
            variance (px^2), ``V = pixels x trees``.
        """
        if not self.leaf_mean:
            raise LandmarkError("the forest is not trained; call fit() first")
        masks = _parse_masks(masks, self.task, "query patches")
        pixels = _silhouette_pixels(masks, per_image=None, rng=None)
        x = self.features.compute(masks, pixels)
        leaves = self.forest.apply(x)  # (P, T)
        centres = self._pixel_centres(pixels)
        out = []
        for i in range(len(masks)):
            sel = pixels[:, 0] == i
            pos = np.concatenate(
                [centres[sel, None, :] + self.leaf_mean[t][leaves[sel, t]] for t in range(leaves.shape[1])]
            )
            var = np.concatenate([self.leaf_var[t][leaves[sel, t]] for t in range(leaves.shape[1])])
            out.append((pos.astype(np.float32), var))
        return out

    def _confident(self, var: np.ndarray) -> np.ndarray:
        """``(m, K)`` indices of the ``vote_fraction`` smallest-variance votes per landmark."""
        m = max(1, int(np.ceil(self.vote_fraction * len(var))))
        return np.argsort(var, axis=0, kind="stable")[:m]

    def predict(self, masks: np.ndarray | LandmarkSet) -> np.ndarray:
        """``(N, K, 2)`` landmark estimates (patch px): mean of each landmark's confident votes."""
        result = []
        for pos, var in self.votes(masks):
            if len(pos) == 0:
                warnings.warn("an empty silhouette got the training mean landmarks", stacklevel=2)
                result.append(self.mean_landmarks)
                continue
            keep = self._confident(var)  # (m, K)
            chosen = np.take_along_axis(pos, keep[..., None], axis=0)  # (m, K, 2)
            result.append(chosen.mean(axis=0))
        return np.asarray(result, dtype=np.float32).reshape(-1, self.n_landmarks, 2)

    def vote_maps(self, mask: np.ndarray, *, confident_only: bool = True) -> np.ndarray:
        """``(K, p_h, p_w)`` counts of (confident) votes per pixel for one patch ``(p_h, p_w)``."""
        pw, ph = patch_size(self.task)
        pos, var = self.votes(np.asarray(mask)[None])[0]
        maps = np.zeros((self.n_landmarks, ph, pw), np.float32)
        if len(pos) == 0:
            return maps
        keep = self._confident(var) if confident_only else np.tile(np.arange(len(pos))[:, None], self.n_landmarks)
        for j in range(self.n_landmarks):
            xy = np.floor(pos[keep[:, j], j]).astype(int)
            inside = (xy[:, 0] >= 0) & (xy[:, 0] < pw) & (xy[:, 1] >= 0) & (xy[:, 1] < ph)
            np.add.at(maps[j], (xy[inside, 1], xy[inside, 0]), 1)
        return maps


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
    progress: bool = True,
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
        The binarized scans; their ids are the subjects of :func:`~landmarklib.folds.ensure_folds`.
    methods
        Any of :data:`BASELINE_METHODS`.
    write
        Write each table with :func:`~landmarklib.results.write_predictions`.

    Returns
    -------
    dict
        ``{method: prediction table}`` in the format of :mod:`landmarklib.results`. NN(syn) trains on
        no scan; its ``fold`` column is the fold in which the scan is tested, for comparability.
    """
    parse_task(task)
    unknown = [m for m in methods if m not in BASELINE_METHODS]
    if unknown:
        raise LandmarkError(f"unknown baseline {unknown}; use any of {', '.join(BASELINE_METHODS)}")
    _check_task(real, task, "real")
    if "NN(syn)" in methods and synthetic is None:
        raise LandmarkError("NN(syn) needs the synthetic renders (landmarklib.rendering.load_renders)")
    if len(set(real.ids)) != len(real):
        raise LandmarkError("the scans' ids must be unique subject ids")
    folds = ensure_folds(real.ids, task, profile=cfg["profile"], seed=cfg["seed"])
    fold_of = {sid: i for i, fold in enumerate(folds) for sid in fold["test"]}
    k = int(cfg["nn_k"])
    preds: dict[str, list[tuple[int, LandmarkSet, np.ndarray]]] = {m: [] for m in methods}
    if "NN(syn)" in methods:
        nn = BinaryNN(task, k=k)
        for shard in [synthetic] if isinstance(synthetic, LandmarkSet) else synthetic:
            nn.add(_check_task(shard, task, "synthetic"))
        if len(nn) == 0:
            raise LandmarkError("NN(syn) needs the synthetic renders, got an empty set")
        preds["NN(syn)"].append((-1, real, nn.predict(real)))
    for i, fold in enumerate(tqdm(folds, desc=f"{task} baselines", disable=not progress)):
        train, test = real.select_ids(fold["train"]), real.select_ids(fold["test"])
        if "NN(real)" in methods:
            preds["NN(real)"].append((i, test, BinaryNN.fit(train, k=k).predict(test)))
        if "RF" in methods:
            forest = RegressionForest.from_config(task, cfg, seed=fold_seed(cfg["seed"], i)).fit(train)
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


def baseline_claims(summary: pd.DataFrame) -> pd.DataFrame:
    """The paper's statements about the baselines, checked on ``summary`` (:func:`error_summary`).

    * C2: NN(syn) is (much) worse than NN(real), per task (ratio of mean errors over landmarks).
    * C3, forest part: on hands RF is worse than NN(real), most of all on the thumb; on bodies RF is
      the best baseline on both shoulders and the head (the CNN side is checked on the results page).
    """
    rows = []
    mean = summary.pivot_table(index=["task", "landmark"], columns="method", values="mean_px", sort=False)
    for task in summary["task"].unique():
        m = mean.loc[task]
        if {"NN(syn)", "NN(real)"} <= set(m.columns):
            ratio = m["NN(syn)"].mean() / m["NN(real)"].mean()
            rows.append(("C2", task, "NN(syn) worse than NN(real)", f"mean error ratio {ratio:.2f}", ratio > 1))
        if task == "hand" and {"RF", "NN(real)"} <= set(m.columns):
            gap = m["RF"] - m["NN(real)"]
            rows.append(("C3", task, "RF worse than NN(real)", f"{m['RF'].mean():.1f} vs {m['NN(real)'].mean():.1f} px",
                         m["RF"].mean() > m["NN(real)"].mean()))
            rows.append(("C3", task, "RF's gap to NN(real) largest on the thumb", f"largest on {gap.idxmax()}",
                         gap.idxmax() == "thumb"))
        if task == "body" and set(BASELINE_METHODS) <= set(m.columns):
            best = m[list(BASELINE_METHODS)].idxmin(axis=1)
            points = ["shoulderL", "shoulderR", "head"]
            rows.append(("C3", task, "RF the best baseline on shoulders and head",
                         ", ".join(f"{p}: {best[p]}" for p in points), bool((best[points] == "RF").all())))
    return pd.DataFrame(rows, columns=["claim", "task", "statement", "measured", "holds"])


def plot_neighbours(
    queries: LandmarkSet,
    sources: Mapping[str, tuple[BinaryNN, LandmarkSet]],
    *,
    axes_size: float = 1.6,
) -> Any:
    """Each query next to its ``k`` nearest patches in every source; returns the matplotlib figure.

    Parameters
    ----------
    queries
        The scans to show (a few).
    sources
        ``{label: (index, the LandmarkSet it was built from)}``, e.g. ``{"NN(syn)": ...}``.
    """
    import matplotlib.pyplot as plt

    k = max(nn.k for nn, _ in sources.values())
    ncols = 1 + k * len(sources)
    fig, axes = plt.subplots(len(queries), ncols, figsize=(axes_size * ncols, axes_size * len(queries) * queries.masks.shape[1] / queries.masks.shape[2]), squeeze=False)
    for row in range(len(queries)):
        panels = [(f"query {queries.ids[row]}", queries.masks[row], queries.landmarks[row])]
        for label, (nn, data) in sources.items():
            dist, idx = nn.search(queries.masks[row : row + 1])
            panels += [(f"{label} #{j + 1}: {dist[0, j]}", data.masks[idx[0, j]], data.landmarks[idx[0, j]])
                       for j in range(nn.k)]
        for ax, (title, mask, pts) in zip(axes[row], panels, strict=False):
            ax.imshow(mask, cmap="gray", interpolation="nearest")
            ax.scatter(pts[:, 0] - 0.5, pts[:, 1] - 0.5, s=8, c="tab:red")
            ax.set_title(title, fontsize=7)
            ax.set_axis_off()
    fig.tight_layout()
    return fig


def plot_vote_maps(forest: RegressionForest, sample: LandmarkSet, index: int = 0) -> Any:
    """The confident votes of every landmark of one scan, with truth (+) and estimate (x)."""
    import matplotlib.pyplot as plt

    names = landmark_names(forest.task)
    maps = forest.vote_maps(sample.masks[index])
    pred = forest.predict(sample.masks[index : index + 1])[0]
    fig, axes = plt.subplots(1, len(names), figsize=(1.8 * len(names), 1.8 * maps.shape[1] / maps.shape[2] + 0.4))
    for j, ax in enumerate(axes):
        ax.imshow(sample.masks[index], cmap="gray", alpha=0.35, interpolation="nearest")
        ax.imshow(np.ma.masked_equal(maps[j], 0), cmap="magma_r", interpolation="nearest")
        ax.plot(*(sample.landmarks[index, j] - 0.5), "+", c="tab:green", ms=10, mew=2)
        ax.plot(*(pred[j] - 0.5), "x", c="tab:blue", ms=8, mew=2)
        ax.set_title(names[j], fontsize=8)
        ax.set_axis_off()
    fig.suptitle(f"{sample.ids[index]}: confident votes (+ truth, x estimate)", fontsize=9)
    fig.tight_layout()
    return fig
