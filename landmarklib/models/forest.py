"""The regression forest of [3] (Criminisi et al. 2011), adapted to 2D binary patches.

Long-range box-difference features (:class:`BoxFeatures`) of silhouette pixels feed a scikit-learn
forest that regresses each pixel's offsets to the landmarks; a scan's estimate is the mean of the most
confident votes (:class:`RegressionForest`). The paper's RF works in 3D on the scans' intensities: this
is a different method on the common binary domain (see the book's departures table).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..geometry import patch_size
from ..landmarks import landmark_names, parse_task
from ..models.nn import _parse_masks
from ..parallel import usable_cores

__all__ = ["BoxFeatures", "RegressionForest"]


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
        Threads that grow and apply the trees (scikit-learn's; ``None``: every usable core). The trees
        are seeded before they are shared out, so the forest does not depend on it (test); under the cpu
        profile 2 threads halve the fit (a 50-tree hand fold of 35k pixels: 148 -> 75 s).
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
            min_samples_leaf=int(min_samples_leaf), bootstrap=False, random_state=self.seed,
            n_jobs=usable_cores() if n_jobs is None else int(n_jobs),
        )
        self.leaf_mean: list[np.ndarray] = []  # per tree (n_nodes, K, 2) px
        self.leaf_var: list[np.ndarray] = []  # per tree (n_nodes, K) px^2
        self.mean_landmarks: np.ndarray | None = None

    @classmethod
    def from_config(cls, task: str, cfg: Mapping[str, Any], *, seed: int | None = None, **kwargs: Any) -> RegressionForest:
        """A forest sized by the profile keys ``rf_*`` of ``cfg`` (seed: ``cfg['seed']`` unless given)."""
        return cls(
            task, n_trees=cfg.rf_trees, max_depth=cfg.rf_depth, n_features=cfg.rf_features,
            features_per_node=cfg.rf_features_per_node, pixels_per_image=cfg.rf_pixels,
            min_samples_leaf=cfg.rf_min_leaf, max_offset=cfg.rf_max_offset, max_box=cfg.rf_max_box,
            vote_fraction=cfg.rf_vote_fraction, seed=cfg.seed if seed is None else seed, **kwargs,
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
