"""Figures of the depth chapter: normalised depth patches and Fig. 4."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..data import LandmarkSet
from ..evaluation.results import DEPTH_METHODS
from ..experiments.depth import BACKGROUND, depth_targets
from .figures import METHOD_COLORS

__all__ = ["plot_normalized_examples", "plot_fig4"]


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------
def plot_normalized_examples(synthetic: LandmarkSet, real: LandmarkSet, *, n: int = 3) -> Any:
    """Normalised depth patches, synthetic (top row) and MR (bottom row), with the landmarks (red).

    The network sees the background as 3; it is drawn grey here so that it stands apart from the hand.
    """
    import matplotlib.pyplot as plt

    n = min(n, len(synthetic), len(real))
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 5), squeeze=False)
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    for row, (name, samples) in enumerate((("synthetic", synthetic), ("MR", real))):
        part = samples.subset(np.arange(n))
        images, _targets, _stats = depth_targets(part)
        for i, ax in enumerate(axes[row]):
            shown = np.ma.masked_where(images[i, 0] == BACKGROUND, images[i, 0])
            im = ax.imshow(shown, cmap=cmap, vmin=-BACKGROUND, vmax=BACKGROUND)
            ax.scatter(*part.landmarks[i].T, s=12, c="red")
            ax.set_title(f"{name} {part.ids[i]}", fontsize=8)
            ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.7, label="normalised depth (background = 3, grey)")
    return fig


def plot_fig4(table: pd.DataFrame) -> Any:
    """Fig. 4: mean depth error per fingertip, ours (bars, 95% CI) and the paper's (markers).

    ``table``: :func:`landmarklib.experiments.depth.fig4_table` (``method, landmark, mean, ci_low,
    ci_high, paper``, voxels)."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(table["landmark"]))
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.38
    for j, method in enumerate(DEPTH_METHODS):
        t = table[table["method"] == method].set_index("landmark").reindex(names)
        pos = x + (j - 0.5) * width
        ax.bar(
            pos,
            t["mean"],
            width,
            color=METHOD_COLORS[method],
            alpha=0.8,
            label=f"{method} (ours)",
            yerr=[t["mean"] - t["ci_low"], t["ci_high"] - t["mean"]],
            capsize=3,
        )
        ax.scatter(pos, t["paper"], marker="D", color="black", zorder=3, label="paper" if j == 0 else None)
    ax.set_xticks(x, names)
    ax.set_ylabel("mean depth error (voxels)")
    ax.set_title("Fig. 4 regenerated: depth error per fingertip (95% CI)", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
