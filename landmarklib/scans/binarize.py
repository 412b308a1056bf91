"""Scans -> the common binary domain (paper, Sec. 2.1, last paragraph).

"By marking the position in 2D binary image where image intensity value is above the air threshold
along the depth direction of the 3D medical image, the 3D medical images were mapped to the same
domain as the 2D synthetic images." and "CT scanner tables were eliminated [...] by accumulating the
number of high image intensity values along the depth direction."

The steps, for simulated and real scans alike:

1. **Reorient** the voxel array from its affine with nibabel's orientation tools
   (:func:`nibabel.orientations.io_orientation`) so that array axes are ``(row, column, depth)`` =
   towards (Inferior, Left, Posterior). This is the project's camera (see ``helper_common``/frames):
   viewer in front of the subject looking along +posterior, image x grows towards the subject's left,
   image y grows downwards (towards the feet / wrist). A volume stored RAS, LPS or with flipped axes
   gives the same image.
2. **Threshold** above air (:func:`air_threshold`): CT in HU (default -400 HU), MR relative to the
   volume's robust maximum (default 0.25 x the 99.5th percentile).
3. **Project**: a pixel is foreground if any voxel along the depth axis is above the threshold; the
   depth map is the first such voxel, in voxels (voxel ``d`` -> ``d + 0.5``: distance from the volume's
   front face, in voxel units, to the voxel centre).
4. **Table removal** (CT): count the above-threshold voxels along depth; pixels whose count times the
   depth spacing is below ``table_min_mm`` are dropped (the two thin table plates add only a few mm, a
   body column many centimetres). Small 2D specks (noise) are dropped too: connected components
   smaller than ``min_component`` x the largest one.
5. **Landmarks**: world mm -> voxel (inverse affine) -> ``(x, y)`` pixel + depth, in the same frame.
6. **Patch**: resample the 2D image to square pixels, then crop/scale with
   :func:`landmarklib.geometry.fit_transform` + :func:`~landmarklib.geometry.warp_mask` (the renderer's
   functions) to the paper's patch; eq. (1) is :func:`landmarklib.geometry.to_unit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from nibabel.affines import apply_affine
from scipy import ndimage

from ..errors import LandmarkError
from ..geometry import Similarity, bbox_of_mask, fit_transform, patch_size, warp_mask
from .io import world_to_voxel

__all__ = ["VIEW_AXCODES", "CT_THRESHOLD_HU", "MR_THRESHOLD_FRACTION", "view_transform", "reorient", "air_threshold", "Projection", "remove_table", "project", "binarize_volume", "Patch", "to_patch"]

#: Array axes after :func:`reorient`: rows towards Inferior, columns towards Left, depth towards Posterior.
VIEW_AXCODES = ("I", "L", "P")
#: Default CT air threshold in HU (air -1000, lung about -850 lies inside the body, fat -100).
CT_THRESHOLD_HU = -400.0
#: Default MR threshold, as a fraction of the volume's 99.5th intensity percentile.
MR_THRESHOLD_FRACTION = 0.25


def view_transform(affine: np.ndarray) -> np.ndarray:
    """The ``(3, 2)`` nibabel orientation transform from a file's array axes to the camera frame
    :data:`VIEW_AXCODES` (used by :func:`reorient`; inverted by :mod:`landmarklib.scans.world`)."""
    start = nib.orientations.io_orientation(affine)
    return nib.orientations.ornt_transform(start, nib.orientations.axcodes2ornt(VIEW_AXCODES))


def reorient(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flip/transpose the voxel array into the camera frame ``(row=I, column=L, depth=P)``.

    Parameters
    ----------
    data
        ``(I, J, K)`` voxels in the file's order.
    affine
        ``(4, 4)`` voxel -> world RAS mm.

    Returns
    -------
    view : ndarray
        ``(H, W, D)`` voxels; ``view[r, c, d]``: row ``r`` towards the feet, column ``c`` towards the
        subject's left, ``d`` away from the viewer (posterior).
    view_affine : ndarray
        ``(4, 4)`` voxel index of ``view`` -> world RAS mm.
    spacing : ndarray
        ``(3,)`` mm per voxel along (row, column, depth).
    """
    transform = view_transform(affine)
    view = nib.orientations.apply_orientation(data, transform)
    view_affine = affine @ nib.orientations.inv_ornt_aff(transform, data.shape)
    spacing = np.sqrt((view_affine[:3, :3] ** 2).sum(axis=0))
    return np.ascontiguousarray(view), view_affine, spacing


def air_threshold(data: np.ndarray, modality: str, *, value: float | None = None) -> float:
    """The intensity above air.

    Parameters
    ----------
    data
        The volume (any shape).
    modality
        ``"ct"``: :data:`CT_THRESHOLD_HU` (Hounsfield units are absolute). ``"mr"``: MR intensities are
        arbitrary, so :data:`MR_THRESHOLD_FRACTION` x the 99.5th percentile of the volume.
    value
        An explicit threshold (same unit as ``data``) that overrides the default.
    """
    if value is not None:
        return float(value)
    modality = modality.lower()
    if modality == "ct":
        return CT_THRESHOLD_HU
    if modality == "mr":
        return float(MR_THRESHOLD_FRACTION * np.percentile(data, 99.5))
    raise LandmarkError(f"unknown modality {modality!r}; use 'mr' or 'ct'")


@dataclass
class Projection:
    """A scan seen from the front: the 2D binary image and depth map, with landmarks.

    Attributes
    ----------
    mask
        ``(H, W)`` bool foreground after table removal and speck removal.
    raw_mask
        ``(H, W)`` bool: any voxel above threshold (before table removal).
    count
        ``(H, W)`` int: number of above-threshold voxels along depth.
    depth
        ``(H, W)`` float32: first above-threshold voxel along depth, ``index + 0.5`` voxels from the
        volume's front face; ``NaN`` where ``mask`` is False.
    landmarks
        ``(k, 2)`` landmark ``(x, y)`` in continuous pixel coordinates of the image.
    landmark_depth
        ``(k,)`` landmark depth, voxels, same convention as ``depth``.
    pixel_mm
        ``(2,)`` mm per pixel along ``(x, y)`` = (column, row).
    depth_mm
        mm per voxel along depth.
    threshold
        The air threshold used.
    view_affine
        ``(4, 4)`` voxel index of the reoriented ``(row, column, depth)`` array -> world RAS mm.
    """

    mask: np.ndarray
    raw_mask: np.ndarray
    count: np.ndarray
    depth: np.ndarray
    landmarks: np.ndarray
    landmark_depth: np.ndarray
    pixel_mm: np.ndarray
    depth_mm: float
    threshold: float
    view_affine: np.ndarray

    def to_world(self, points: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Image ``(k, 2)`` pixel ``(x, y)`` + ``(k,)`` depth (voxels) -> ``(k, 3)`` world RAS mm."""
        points = np.asarray(points, dtype=np.float64)
        vox = np.stack([points[:, 1] - 0.5, points[:, 0] - 0.5, np.asarray(depth, np.float64) - 0.5], axis=1)
        return apply_affine(self.view_affine, vox)


def remove_table(count: np.ndarray, depth_mm: float, table_min_mm: float) -> np.ndarray:
    """Pixels whose above-threshold extent along depth is at least ``table_min_mm`` (paper Sec. 2.1).

    Parameters
    ----------
    count
        ``(H, W)`` number of above-threshold voxels along the depth axis.
    depth_mm
        Voxel size along depth, mm.
    table_min_mm
        Minimum extent in mm; ``0`` keeps every pixel with ``count > 0``.

    Returns
    -------
    ndarray
        ``(H, W)`` bool mask.
    """
    return (count > 0) & (count * depth_mm >= table_min_mm)


def _drop_specks(mask: np.ndarray, min_component: float) -> np.ndarray:
    if min_component <= 0 or not mask.any():
        return mask
    labels, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= min_component * sizes.max()
    return keep[labels]


def project(
    view: np.ndarray,
    threshold: float,
    *,
    depth_mm: float,
    table_min_mm: float = 0.0,
    min_component: float = 0.02,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Threshold and project a reoriented ``(H, W, D)`` volume along depth.

    Returns
    -------
    mask, raw_mask, count, depth
        See :class:`Projection`.
    """
    above = view > threshold  # (H, W, D)
    count = above.sum(axis=2)
    raw_mask = count > 0
    mask = _drop_specks(remove_table(count, depth_mm, table_min_mm), min_component)
    first = np.argmax(above, axis=2).astype(np.float32) + 0.5
    depth = np.where(mask, first, np.nan).astype(np.float32)
    return mask, raw_mask, count, depth


def binarize_volume(
    data: np.ndarray,
    affine: np.ndarray,
    landmarks_mm: np.ndarray,
    *,
    modality: str,
    threshold: float | None = None,
    table_min_mm: float = 0.0,
    min_component: float = 0.02,
    source: str = "volume",
) -> Projection:
    """Binarize one scan and carry its landmarks into the image.

    Parameters
    ----------
    data
        ``(I, J, K)`` voxels in the file's axis order.
    affine
        ``(4, 4)`` voxel -> world RAS mm.
    landmarks_mm
        ``(k, 3)`` world RAS mm.
    modality
        ``"mr"`` or ``"ct"`` (default threshold, see :func:`air_threshold`).
    threshold
        Explicit air threshold (``None``: the modality's default).
    table_min_mm
        Table removal: minimum above-threshold extent along depth, mm (``0``: off; used for CT).
    min_component
        2D connected components smaller than this fraction of the largest are dropped (noise specks).
    source
        Name used in error messages (the file).

    Raises
    ------
    LandmarkError
        Nothing above the threshold (or nothing left after table removal).
    """
    view, view_affine, spacing = reorient(np.asarray(data), np.asarray(affine, dtype=np.float64))
    thr = air_threshold(view, modality, value=threshold)
    mask, raw_mask, count, depth = project(
        view, thr, depth_mm=float(spacing[2]), table_min_mm=table_min_mm, min_component=min_component
    )
    if not raw_mask.any():
        raise LandmarkError(
            f"{source}: no voxel above the air threshold {thr:g}; check the modality ({modality}) or pass "
            "an explicit threshold in the volume's intensity unit"
        )
    if not mask.any():
        raise LandmarkError(
            f"{source}: the mask is empty after table removal (table_min_mm={table_min_mm:g}); lower it"
        )
    vox = world_to_voxel(landmarks_mm, view_affine)  # (k, 3) row, col, depth
    landmarks = np.stack([vox[:, 1] + 0.5, vox[:, 0] + 0.5], axis=1)  # (x, y) continuous pixel coords
    return Projection(
        mask=mask, raw_mask=raw_mask, count=count, depth=depth, landmarks=landmarks,
        landmark_depth=vox[:, 2] + 0.5, pixel_mm=np.array([spacing[1], spacing[0]]),
        depth_mm=float(spacing[2]), threshold=thr, view_affine=view_affine,
    )


@dataclass
class Patch:
    """One scan in the paper's patch (the :class:`~landmarklib.data.LandmarkSet` domain).

    ``mask`` ``(p_h, p_w)`` bool, ``depth`` ``(p_h, p_w)`` float32 voxels (NaN background),
    ``landmarks`` ``(k, 2)`` patch pixels, ``landmark_depth`` ``(k,)`` voxels, ``mm_per_px`` ``(2,)``,
    ``transform`` the crop (square-pixel image -> patch), ``pixel_scale`` ``(2,)`` image pixel ->
    square pixel factors along ``(x, y)``.
    """

    mask: np.ndarray
    depth: np.ndarray
    landmarks: np.ndarray
    landmark_depth: np.ndarray
    mm_per_px: np.ndarray
    transform: Similarity
    pixel_scale: np.ndarray

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Patch pixels ``(k, 2)`` -> pixels of the :class:`Projection` image."""
        return self.transform.invert(points) / self.pixel_scale


def _square_pixels(proj: Projection) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """Nearest-neighbour resample mask and depth to square pixels of the finer spacing."""
    sx, sy = (float(v) for v in proj.pixel_mm)
    s = min(sx, sy)
    h, w = proj.mask.shape
    new_w, new_h = int(np.ceil(w * sx / s - 1e-6)), int(np.ceil(h * sy / s - 1e-6))
    cols = np.minimum(np.floor((np.arange(new_w) + 0.5) * s / sx).astype(int), w - 1)
    rows = np.minimum(np.floor((np.arange(new_h) + 0.5) * s / sy).astype(int), h - 1)
    mask = proj.mask[rows][:, cols]
    depth = proj.depth[rows][:, cols]
    factor = np.array([sx / s, sy / s])
    return mask, depth, proj.landmarks * factor, s, factor


def to_patch(proj: Projection, task: str) -> Patch:
    """Crop/scale a :class:`Projection` into the task's patch with the renderer's functions.

    The image is first resampled to square pixels (scans have anisotropic voxels; renders are
    isotropic), then :func:`~landmarklib.geometry.fit_transform` of the mask's bounding box and
    :func:`~landmarklib.geometry.warp_mask` map it into ``(p_w, p_h)``.
    """
    mask, depth, landmarks, s, factor = _square_pixels(proj)
    size = patch_size(task)
    transform = fit_transform(bbox_of_mask(mask), size)
    return Patch(
        mask=warp_mask(mask, transform, size, fill=False),
        depth=warp_mask(depth, transform, size, fill=np.nan),
        landmarks=transform.apply(landmarks).astype(np.float32),
        landmark_depth=proj.landmark_depth.astype(np.float32),
        mm_per_px=np.full(2, s / transform.scale, dtype=np.float32), transform=transform, pixel_scale=factor,
    )
