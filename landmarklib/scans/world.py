"""Patch pixels + depth -> world millimetres: the exact inverse of the scan path.

The forward path (:mod:`landmarklib.scans.binarize`, :mod:`landmarklib.geometry`) takes a voxel of the
file's array to the camera frame and on into the patch::

    file voxel (i, j, k) --reorient--> view voxel (row, column, depth)    axes towards (I, L, P)
    view voxel           --project---> image pixel (x, y) = (column + 0.5, row + 0.5), depth + 0.5
    image pixel          --square----> square pixel  = image pixel * pixel_scale       (x, y)
    square pixel         --crop------> patch pixel   = scale * square pixel + offset   (eq. 1's frame)

Every step is a bijection of continuous coordinates, so the inverse is exact: :func:`patch_to_world`
undoes them one by one (:func:`patch_to_image`, :func:`image_to_view`, :func:`view_to_voxel`,
:func:`voxel_to_world`). Units: patch and image points are ``(x, y)`` continuous pixels (pixel ``(i,
j)`` has its centre at ``(i + 0.5, j + 0.5)``), depth is in voxels along the camera's depth axis
(voxel ``d``'s centre at ``d + 0.5``), world points are nibabel's RAS+ millimetres.

Only the *discretisation* of the forward path loses information (the depth map keeps the first voxel
above threshold; the patch is a nearest-neighbour resampling); a landmark's own continuous position
goes through both directions unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from nibabel.affines import apply_affine

from ..geometry import Similarity
from .binarize import Patch, view_transform

__all__ = ["ScanGeometry", "patch_to_image", "image_to_view", "view_to_voxel", "voxel_to_world", "patch_to_world",
           "silhouette_mid_depth", "solid_body", "table_layers"]


@dataclass(frozen=True)
class ScanGeometry:
    """What the inverse path needs of one scan (no voxels): kept per scan by the detector.

    Attributes
    ----------
    affine
        ``(4, 4)`` file voxel index -> world RAS mm.
    shape
        The file's array shape ``(I, J, K)``.
    transform
        The crop (square-pixel image -> patch), :attr:`landmarklib.scans.binarize.Patch.transform`.
    pixel_scale
        ``(2,)`` image pixel -> square pixel factors along ``(x, y)``.
    """

    affine: np.ndarray
    shape: tuple[int, int, int]
    transform: Similarity
    pixel_scale: np.ndarray

    @classmethod
    def of(cls, shape: tuple[int, ...], affine: np.ndarray, patch: Patch) -> ScanGeometry:
        """The geometry of a volume of ``shape`` with ``affine`` that was cut into ``patch``."""
        return cls(affine=np.asarray(affine, dtype=np.float64), shape=tuple(int(n) for n in shape[:3]),
                   transform=patch.transform, pixel_scale=np.asarray(patch.pixel_scale, dtype=np.float64))

    @property
    def view_to_voxel_affine(self) -> np.ndarray:
        """``(4, 4)`` view voxel ``(row, column, depth)`` -> file voxel ``(i, j, k)``."""
        return nib.orientations.inv_ornt_aff(view_transform(self.affine), self.shape)

    def to_world(self, points_px: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """:func:`patch_to_world` for this scan."""
        return patch_to_world(points_px, depth, self)


def patch_to_image(points_px: np.ndarray, geometry: ScanGeometry) -> np.ndarray:
    """``(..., 2)`` patch pixels ``(x, y)`` -> pixels of the projection image (undo crop and squaring)."""
    return geometry.transform.invert(points_px) / geometry.pixel_scale


def image_to_view(points_image: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """``(k, 2)`` image pixels ``(x, y)`` + ``(k,)`` depth (voxels, ``d + 0.5`` convention) ->
    ``(k, 3)`` continuous view voxel indices ``(row, column, depth)``."""
    points = np.asarray(points_image, dtype=np.float64).reshape(-1, 2)
    depth = np.asarray(depth, dtype=np.float64).reshape(-1)
    return np.stack([points[:, 1] - 0.5, points[:, 0] - 0.5, depth - 0.5], axis=1)


def view_to_voxel(view_vox: np.ndarray, geometry: ScanGeometry) -> np.ndarray:
    """``(k, 3)`` view voxel indices -> ``(k, 3)`` continuous voxel indices of the file's array."""
    return apply_affine(geometry.view_to_voxel_affine, np.asarray(view_vox, dtype=np.float64))


def voxel_to_world(voxels: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``(k, 3)`` file voxel indices -> ``(k, 3)`` world RAS mm (``nibabel.affines.apply_affine``)."""
    return apply_affine(np.asarray(affine, dtype=np.float64), np.asarray(voxels, dtype=np.float64))


def patch_to_world(points_px: np.ndarray, depth: np.ndarray, geometry: ScanGeometry) -> np.ndarray:
    """The whole inverse: ``(k, 2)`` patch pixels ``(x, y)`` + ``(k,)`` depth (voxels) -> ``(k, 3)`` RAS mm.

    Examples
    --------
    >>> import numpy as np
    >>> from landmarklib.geometry import Similarity
    >>> g = ScanGeometry(np.diag([2.0, 2.0, 2.0, 1.0]), (10, 10, 10), Similarity(1.0, (0.0, 0.0)), np.ones(2))
    >>> # a RAS file: view voxel (0, 0, 0) is its superior, right, anterior corner, file voxel (9, 9, 9)
    >>> patch_to_world([[0.5, 0.5]], [0.5], g).round(3).tolist()
    [[18.0, 18.0, 18.0]]
    """
    image = patch_to_image(np.asarray(points_px, dtype=np.float64).reshape(-1, 2), geometry)
    return voxel_to_world(view_to_voxel(image_to_view(image, depth), geometry), geometry.affine)


def silhouette_mid_depth(inside: np.ndarray, mask: np.ndarray, points_image: np.ndarray) -> np.ndarray:
    """Depth half-way through the first body part on the ray of each point.

    The estimate of a landmark's depth where no depth model exists (the body task: the paper infers
    depth for the hands only): on the ray of the point, the first run of ``inside`` voxels (from the
    first one to the next gap) and its middle. A point whose ray misses the silhouette ``mask`` takes
    the ray of the nearest silhouette pixel.

    Parameters
    ----------
    inside
        ``(H, W, D)`` bool, the reoriented volume above the air threshold (:func:`solid_body` fills
        enclosed air such as the lungs and drops the CT table's layers).
    mask
        ``(H, W)`` bool silhouette (after table removal).
    points_image
        ``(k, 2)`` image pixels ``(x, y)``.

    Returns
    -------
    ndarray
        ``(k,)`` depth in voxels, ``d + 0.5`` convention (``NaN`` where the ray holds nothing).
    """
    from scipy import ndimage

    h, w, _ = inside.shape
    pts = np.asarray(points_image, dtype=np.float64).reshape(-1, 2)
    cols = np.clip(np.floor(pts[:, 0]).astype(int), 0, w - 1)
    rows = np.clip(np.floor(pts[:, 1]).astype(int), 0, h - 1)
    _, (near_r, near_c) = ndimage.distance_transform_edt(~mask, return_indices=True)
    rows, cols = near_r[rows, cols], near_c[rows, cols]
    out = np.full(len(pts), np.nan)
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        ray = inside[r, c]
        if not ray.any():
            continue
        first = int(np.argmax(ray))
        gap = np.flatnonzero(~ray[first:])
        last = first + (int(gap[0]) - 1 if gap.size else len(ray) - first - 1)
        out[i] = (first + last) / 2 + 0.5
    return out


def solid_body(view: np.ndarray, threshold: float, mask: np.ndarray, *, table: bool) -> np.ndarray:
    """``(H, W, D)`` bool: above ``threshold``, the CT table's layers dropped (``table``,
    :func:`table_layers`), enclosed air (lungs) filled (:func:`scipy.ndimage.binary_fill_holes`)."""
    from scipy import ndimage

    above = view > threshold
    if table:
        above &= ~table_layers(view, threshold, mask)[None, None, :]
    return ndimage.binary_fill_holes(above)


def table_layers(view: np.ndarray, threshold: float, mask: np.ndarray) -> np.ndarray:
    """``(D,)`` bool: depth layers above ``threshold`` on most rays *outside* the silhouette.

    After table removal (:func:`landmarklib.scans.binarize.remove_table`) the CT table is what is left
    above air beside the body: plates normal to the depth axis. Those layers are excluded when a ray's
    extent is measured. No such rays (MR, or no table): nothing excluded.
    """
    above = view > threshold  # (H, W, D)
    beside = above[~mask & above.any(axis=2)]  # (n_rays, D)
    if len(beside) == 0:
        return np.zeros(view.shape[2], dtype=bool)
    return beside.mean(axis=0) > 0.5
