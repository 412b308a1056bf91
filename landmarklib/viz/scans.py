"""Figures of the binarization chapter: a scan's slices, its projection, patches, table removal."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import LandmarkSet

__all__ = ["plot_scan", "plot_projection", "plot_patches", "plot_table_removal"]



# ----------------------------------------------------------------------------------------------
# Figures for the book


def plot_scan(scan: Any, axes: Any, *, title: str = "") -> None:
    """Three panels on ``axes`` (3 matplotlib axes): a frontal slice at the landmarks' mean depth, a
    sagittal slice through the middle column, and the maximum-intensity projection along depth, all
    in the camera frame (:func:`landmarklib.scans.binarize.reorient`), with the voxel aspect ratio."""
    from ..scans.binarize import reorient
    from ..scans.io import world_to_voxel

    view, view_aff, sp = reorient(scan.data, scan.affine)
    vox = world_to_voxel(scan.landmarks_mm, view_aff)  # (k, 3) row, col, depth
    d = int(np.clip(np.round(vox[:, 2].mean()), 0, view.shape[2] - 1))
    c = view.shape[1] // 2
    lo, hi = np.percentile(view, [1, 99.9])
    panels = [(view[:, :, d], sp[0] / sp[1], f"frontal slice, depth {d}"),
              (view[:, c, :], sp[0] / sp[2], f"sagittal slice, column {c}"),
              (view.max(axis=2), sp[0] / sp[1], "MIP along depth")]
    for ax, (img, aspect, name) in zip(axes, panels, strict=True):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, aspect=aspect, interpolation="nearest")
        ax.set_title(f"{title} {name}".strip(), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].plot(vox[:, 1], vox[:, 0], "r+", ms=8)
    axes[2].plot(vox[:, 1], vox[:, 0], "r+", ms=8)


def plot_projection(proj: Any, axes: Any, *, title: str = "") -> None:
    """Two panels: the binary image and the depth map (voxels), with the landmarks, real aspect."""
    aspect = proj.pixel_mm[1] / proj.pixel_mm[0]
    pts = proj.landmarks - 0.5  # continuous -> imshow's pixel-centre coordinates
    axes[0].imshow(proj.mask, cmap="gray", aspect=aspect, interpolation="nearest")
    im = axes[1].imshow(proj.depth, cmap="viridis", aspect=aspect, interpolation="nearest")
    for ax, name in zip(axes, ("binary image", "depth map (voxels)"), strict=True):
        ax.plot(pts[:, 0], pts[:, 1], "r+", ms=8)
        ax.set_title(f"{title} {name}".strip(), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].figure.colorbar(im, ax=axes[1], fraction=0.046)


def plot_patches(data: LandmarkSet, axes: Any, *, title: str = "") -> None:
    """The first ``len(axes)`` patches of a :class:`LandmarkSet` with their landmarks."""
    for ax, i in zip(np.ravel(axes), range(len(data)), strict=False):
        ax.imshow(data.masks[i], cmap="gray", interpolation="nearest")
        ax.plot(data.landmarks[i, :, 0] - 0.5, data.landmarks[i, :, 1] - 0.5, "r.", ms=5)
        ax.set_title(f"{title} {data.ids[i]}".strip(), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])


def plot_table_removal(raw: Any, proj: Any, axes: Any, *, table_min_mm: float) -> None:
    """Four panels: threshold only, above-air extent along depth (mm), and after table removal
    (binary image and depth map)."""
    aspect = proj.pixel_mm[1] / proj.pixel_mm[0]
    axes[0].imshow(raw.mask, cmap="gray", aspect=aspect, interpolation="nearest")
    axes[0].set_title("threshold only", fontsize=9)
    im = axes[1].imshow(raw.count * raw.depth_mm, aspect=aspect, interpolation="nearest")
    axes[1].set_title("above-air extent along depth (mm)", fontsize=9)
    axes[1].figure.colorbar(im, ax=axes[1], fraction=0.046)
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
    plot_projection(proj, axes[2:], title=f"extent < {table_min_mm:g} mm removed:")
