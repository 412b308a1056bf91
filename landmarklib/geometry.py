"""The common 2D frame of the paper: crop to the object, scale into a fixed patch, eq. (1).

Both domains go through these functions: the renderer maps projected mesh vertices with
:func:`fit_transform`, and the scan path crops/scales the binarized image with the same transform,
so a landmark means the same pixel in both.

Conventions (used throughout the project)
-----------------------------------------
* Points are ``(x, y)`` = (column, row) in *continuous pixel coordinates*: the patch covers
  ``[0, p_w] x [0, p_h]`` and pixel ``(i, j)`` (column ``i``, row ``j``) has its centre at
  ``(i + 0.5, j + 0.5)``.
* Eq. (1) of the paper maps the patch to ``[-1, 1]``: ``x' = (x - p_w/2) / (p_w/2)``,
  ``y' = (y - p_h/2) / (p_h/2)`` (:func:`to_unit`, inverse :func:`from_unit`).
* The crop keeps the aspect ratio: one scale factor for both axes, the object centred in the patch
  with a small margin.
* Depth is not scaled by the crop; callers keep it in their own unit (model units, voxels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .landmarks import parse_task

__all__ = ["PATCH_SIZE", "Similarity", "fit_transform", "to_unit", "from_unit", "bbox_of_mask", "warp_mask"]

#: (p_w, p_h) of the paper (Sec. 3): 96 x 96 for the hand, 76 x 160 for the body.
PATCH_SIZE: dict[str, tuple[int, int]] = {"hand": (96, 96), "body": (76, 160)}

#: Fraction of the patch left free on each side around the object's bounding box.
DEFAULT_MARGIN = 0.02


@dataclass(frozen=True)
class Similarity:
    """``p_patch = scale * p_image + offset`` (isotropic scale, no rotation).

    ``scale`` is patch pixels per source unit (image pixels, or model units for the renderer).
    """

    scale: float
    offset: tuple[float, float]

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` source points to patch pixels."""
        points = np.asarray(points, dtype=np.float64)
        return points * self.scale + np.asarray(self.offset)

    def invert(self, points: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` patch pixels back to the source frame."""
        points = np.asarray(points, dtype=np.float64)
        return (points - np.asarray(self.offset)) / self.scale


def fit_transform(
    box: tuple[float, float, float, float] | np.ndarray,
    patch_size: tuple[int, int],
    *,
    margin: float = DEFAULT_MARGIN,
) -> Similarity:
    """The transform that puts bounding box ``(x0, y0, x1, y1)`` centred into the patch, aspect kept.

    Parameters
    ----------
    box
        Object bounds in the source frame, continuous coordinates (``x1 > x0``, ``y1 > y0``).
    patch_size
        ``(p_w, p_h)`` in pixels.
    margin
        Fraction of the patch kept free on each side.

    Examples
    --------
    >>> t = fit_transform((0, 0, 10, 20), (76, 160), margin=0)
    >>> t.apply([[0, 0], [10, 20]]).round(2).tolist()
    [[33.0, 0.0], [43.0, 160.0]]
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    width, height = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
    pw, ph = patch_size
    avail_w, avail_h = pw * (1 - 2 * margin), ph * (1 - 2 * margin)
    scale = min(avail_w / width, avail_h / height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Similarity(scale=scale, offset=(pw / 2 - scale * cx, ph / 2 - scale * cy))


def to_unit(points: np.ndarray, patch_size: tuple[int, int]) -> np.ndarray:
    """Eq. (1): patch pixels ``(..., 2)`` -> ``[-1, 1]``."""
    half = np.asarray(patch_size, dtype=np.float64) / 2
    return (np.asarray(points, dtype=np.float64) - half) / half


def from_unit(points: np.ndarray, patch_size: tuple[int, int]) -> np.ndarray:
    """Inverse of eq. (1): ``[-1, 1]`` -> patch pixels."""
    half = np.asarray(patch_size, dtype=np.float64) / 2
    return np.asarray(points, dtype=np.float64) * half + half


def patch_size(task: str) -> tuple[int, int]:
    """``(p_w, p_h)`` of ``task``."""
    return PATCH_SIZE[parse_task(task)]


def bbox_of_mask(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Continuous ``(x0, y0, x1, y1)`` bounds of the ``True`` pixels of a 2D ``(H, W)`` mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("empty mask: no object to crop")
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def warp_mask(
    image: np.ndarray, transform: Similarity, patch_size: tuple[int, int], *, fill: float = 0
) -> np.ndarray:
    """Resample a 2D ``(H, W)`` image into the patch by ``transform`` (nearest neighbour).

    Each patch pixel centre is mapped back to the source and takes the source pixel it falls in;
    outside the source it gets ``fill``. Works for masks and depth maps alike.
    """
    pw, ph = patch_size
    xs = (np.arange(pw) + 0.5 - transform.offset[0]) / transform.scale
    ys = (np.arange(ph) + 0.5 - transform.offset[1]) / transform.scale
    ix, iy = np.floor(xs).astype(np.int64), np.floor(ys).astype(np.int64)
    h, w = image.shape
    valid_x, valid_y = (ix >= 0) & (ix < w), (iy >= 0) & (iy < h)
    out = np.full((ph, pw), fill, dtype=image.dtype)
    sub = image[np.clip(iy, 0, h - 1)][:, np.clip(ix, 0, w - 1)]
    keep = valid_y[:, None] & valid_x[None, :]
    out[keep] = sub[keep]
    return out
