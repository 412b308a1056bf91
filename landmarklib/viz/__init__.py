"""Every figure and the interactive viewer."""

from __future__ import annotations

from . import baselines, depth, figures, scans, synth, viewer
from .baselines import plot_neighbours, plot_vote_maps
from .depth import plot_fig4, plot_normalized_examples
from .figures import (
    LANDMARK_PALETTE,
    METHOD_COLORS,
    TASKS,
    fig2,
    fig3,
    learning_curve,
    learning_curve_path,
    publish,
    save_figure,
)
from .scans import plot_patches, plot_projection, plot_scan, plot_table_removal
from .synth import plot_samples
from .viewer import OverlayViewer, estimates_for, frame_errors, frame_png, load_cohorts

__all__ = ["figures", "METHOD_COLORS", "LANDMARK_PALETTE", "TASKS", "fig2", "fig3", "learning_curve", "learning_curve_path", "save_figure", "publish", "scans", "plot_scan", "plot_projection", "plot_patches", "plot_table_removal", "synth", "plot_samples", "baselines", "plot_neighbours", "plot_vote_maps", "depth", "plot_normalized_examples", "plot_fig4", "viewer", "frame_png", "estimates_for", "frame_errors", "OverlayViewer", "load_cohorts"]
