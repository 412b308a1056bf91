"""Figures of the baselines chapter: nearest neighbours of a scan, and the forest's vote maps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..data import LandmarkSet
from ..landmarks import landmark_names
from ..models.forest import RegressionForest
from ..models.nn import BinaryNN

__all__ = ["plot_neighbours", "plot_vote_maps"]


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
