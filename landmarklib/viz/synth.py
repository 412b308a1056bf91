"""Figures of the renders chapter: a grid of synthetic patches with their landmarks."""

from __future__ import annotations

from typing import Any

from ..data import LandmarkSet

__all__ = ["plot_samples"]


def plot_samples(ls: LandmarkSet, n: int = 6, *, axes: Any = None) -> Any:
    """Silhouettes (top row) and depth maps (bottom row) of the first ``n`` samples, landmarks in red."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, n, figsize=(1.6 * n * ls.patch_size[0] / ls.patch_size[1] * 1.4 + 1, 5.5))
    for j in range(n):
        for row, image in enumerate((ls.masks[j], None if ls.depth is None else ls.depth[j])):
            ax = axes[row, j]
            if image is not None:
                ax.imshow(image, cmap="gray" if row == 0 else "viridis", interpolation="nearest",
                          extent=(0, ls.patch_size[0], ls.patch_size[1], 0))
            ax.scatter(ls.landmarks[j, :, 0], ls.landmarks[j, :, 1], s=10, c="red")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, j].set_title(ls.ids[j].rsplit("-", 1)[-1], fontsize=8)
    return axes
