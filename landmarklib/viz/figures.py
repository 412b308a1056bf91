"""The paper's Fig. 2 and Fig. 3 regenerated from the result tables, and a learning-curve figure.

* :func:`fig2`: grouped bars per landmark, one colour per method, hand and body panels as in the
  paper; our means with their 95% bootstrap CI on top, with the mean-shape reference as a grey bar and
  a millimetre axis beside the patch-pixel one; the paper's own values (read off its vector figure,
  :func:`landmarklib.paper.paper_values`) below, with the millimetres they would be if they were patch
  pixels of our cohorts (reading (a); as pixels of its original images they need a voxel size that no
  source gives). Compare rankings and ratios, not raw heights.
* :func:`fig3`: every estimate of one method (CNN(ft) by default) projected into one common image, the
  mean binarized patch of the cohort, plus the per-landmark scatter of estimate minus ground truth.
* :func:`learning_curve`: error against the number of real training subjects or of synthetic renders,
  from a table the training stage computes.
* :func:`save_figure`: PNG under ``renders/results/<profile>/figures/`` with a provenance sidecar.

All functions return a :class:`matplotlib.figure.Figure` and draw a clear "no results" note where a
table is empty instead of failing, so the results page can be built before every method has run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.container import BarContainer

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..evaluation.metrics import REFERENCE, task_label
from ..evaluation.results import METHODS, REGISTRY, method_label
from ..geometry import patch_size
from ..landmarks import landmark_names

__all__ = ["METHOD_COLORS", "REFERENCE_COLOR", "LANDMARK_PALETTE", "TASKS", "fig2", "fig3", "learning_curve", "learning_curve_path", "save_figure", "publish"]

#: One colour per method, the same in every figure and in the viewer.
METHOD_COLORS: dict[str, str] = dict(zip(REGISTRY, sns.color_palette("colorblind", len(REGISTRY)).as_hex()))

#: The mean-shape reference: grey, apart from the methods' colours.
REFERENCE_COLOR: str = "#9e9e9e"

#: Colour per landmark index (up to 9 landmarks).
LANDMARK_PALETTE: list[str] = sns.color_palette("tab10", 10).as_hex()

TASKS = ("hand", "body")


def _note(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True, fontsize=9,
            color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def _bars(ax: plt.Axes, table: pd.DataFrame, task: str, *, with_ci: bool) -> None:
    """Grouped bars of ``table`` (columns method, landmark, mean[, ci_low, ci_high]) for ``task``."""
    names = list(landmark_names(task))
    part = table[table["task"] == task]
    if part.empty:
        _note(ax, f"no {task} results yet")
        return
    methods = [m for m in (*METHODS, REFERENCE) if m in set(part["method"])]
    labels = [task_label(m, task) for m in methods]
    data = part[part["method"].isin(methods)]
    data = data.assign(label=data["method"].map(lambda m: task_label(m, task)))
    sns.barplot(data=data, x="landmark", y="mean", hue="label", order=names, hue_order=labels,
                palette=[METHOD_COLORS.get(m, REFERENCE_COLOR) for m in methods], errorbar=None, ax=ax,
                saturation=1.0)
    if with_ci:
        lookup = data.set_index(["label", "landmark"])
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        for container, label in zip(bars, labels):  # one container per hue level, in order
            for patch in container:
                i = int(round(patch.get_x() + patch.get_width() / 2))
                if not (0 <= i < len(names)) or (label, names[i]) not in lookup.index:
                    continue
                row = lookup.loc[(label, names[i])]
                if np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"]):
                    x = patch.get_x() + patch.get_width() / 2
                    ax.errorbar(x, row["mean"], yerr=[[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]],
                                fmt="none", ecolor="0.15", elinewidth=0.8, capsize=1.5)
    ax.set_xlabel("")
    ax.tick_params(axis="x", labelrotation=0 if task == "hand" else 45)
    if with_ci:
        ax.legend(fontsize=7, ncols=2 if task == "hand" else 3, frameon=False, loc="best")
    else:
        ax.get_legend().remove()


def _mm_axis(ax: plt.Axes, mm_per_px: float, label: str) -> None:
    """A right-hand axis in mm: ``px * mm_per_px``."""
    if not np.isfinite(mm_per_px) or mm_per_px <= 0:
        return
    sec = ax.secondary_yaxis("right", functions=(lambda y: y * mm_per_px, lambda y: y / mm_per_px))
    sec.set_ylabel(label, fontsize=8)


def fig2(summary: pd.DataFrame, paper: pd.DataFrame | None = None, *, unit: str = "px",
         mm_per_px: Mapping[str, float] | None = None) -> plt.Figure:
    """Fig. 2: mean error per landmark and method, hand (left) and body (right); ours above the paper's.

    Parameters
    ----------
    summary
        Output of :func:`landmarklib.evaluation.summarize` (``task, method, landmark, mean, ci_low,
        ci_high``), with the mean-shape reference if it was summarised (drawn as a grey last bar).
        Error bars are the 95% bootstrap CI of the mean over scans (not the std).
    paper
        The paper's values shaped the same way (default
        :func:`landmarklib.evaluation.paper_summary`); drawn without error bars (the paper's bars
        show a spread we cannot read reliably).
    unit
        Axis label of our row (``"px"`` = patch pixels, ``"mm"``).
    mm_per_px
        ``{task: mm per patch px}`` (the cohort's median,
        :func:`~landmarklib.evaluation.metrics.mm_per_patch_px`): adds a mm axis on the right of our
        panels (approximate: each scan has its own scale) and of the paper's (reading (a): its px taken
        as our patch px). ``None``: no mm axes.
    """
    from ..evaluation.metrics import paper_summary

    paper = paper_summary() if paper is None else paper
    mm_per_px = dict(mm_per_px or {})
    fig, axes = plt.subplots(2, 2, figsize=(13.5, 7.5), gridspec_kw={"width_ratios": [5, 9]}, sharey="row")
    for col, task in enumerate(TASKS):
        _bars(axes[0, col], summary, task, with_ci=True)
        _bars(axes[1, col], paper, task, with_ci=False)
        name = "MR hand" if task == "hand" else "CT whole body"
        axes[0, col].set_title(f"{name} (simulated): this study")
        axes[1, col].set_title(f"{name}: paper (Fig. 2, same colours)")
        if unit == "px" and task in mm_per_px:
            scale = float(mm_per_px[task])
            _mm_axis(axes[0, col], scale, f"mm (x {scale:.2f} mm/px, median scan)")
            _mm_axis(axes[1, col], scale, f"mm if patch px (x {scale:.2f})")
    axes[0, 0].set_ylabel(f"mean error ({'patch px' if unit == 'px' else unit}), 95% bootstrap CI")
    axes[1, 0].set_ylabel("mean RMSE (px, paper's frame)")
    fig.tight_layout()
    return fig


def _mean_mask(cohort: LandmarkSet | None) -> np.ndarray | None:
    return None if cohort is None or len(cohort) == 0 else cohort.masks.mean(axis=0)


def fig3(
    predictions: pd.DataFrame,
    cohorts: Mapping[str, LandmarkSet | None] | None = None,
    *,
    method: str = "CNN(ft)",
) -> plt.Figure:
    """Fig. 3: all estimates of ``method`` in one common image, and their offsets from the truth.

    Parameters
    ----------
    predictions
        Long prediction table(s) of :mod:`landmarklib.evaluation.results` (any tasks and methods; only
        ``method`` is drawn).
    cohorts
        ``{task: LandmarkSet}`` of the binarized scans; the common image is the mean of their masks
        (the fraction of scans covering each pixel). ``None`` or a missing task: no background.
    method
        The method to draw (the paper shows CNN(ft)).

    Returns
    -------
    matplotlib.figure.Figure
        Top row: estimates (dots, one colour per landmark) and the mean ground truth (black crosses)
        in patch pixels over the mean mask, hand left, body right. Bottom row: estimate minus ground
        truth per landmark (patch px; x right, y down as in the image).
    """
    if method not in METHODS:
        raise LandmarkError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    cohorts = dict(cohorts or {})
    fig, axes = plt.subplots(2, 2, figsize=(10, 9), gridspec_kw={"height_ratios": [1.6, 1]})
    for col, task in enumerate(TASKS):
        top, bottom = axes[0, col], axes[1, col]
        part = predictions[(predictions["task"] == task) & (predictions["method"] == method)]
        pw, ph = patch_size(task)
        mean_mask = _mean_mask(cohorts.get(task))
        if mean_mask is not None:
            top.imshow(mean_mask, cmap="Greys", vmin=0, vmax=1.5, extent=(0, pw, ph, 0), interpolation="nearest")
        top.set_xlim(0, pw)
        top.set_ylim(ph, 0)
        top.set_aspect("equal")
        top.set_title(f"{method_label(method, task)} on {'MR hands' if task == 'hand' else 'CT bodies'}: "
                      f"{part['subject'].nunique()} scans")
        if part.empty:
            _note(bottom, f"no {method_label(method, task)} {task} predictions yet")
            continue
        names = list(landmark_names(task))
        for i, name in enumerate(names):
            rows = part[part["landmark"] == name]
            color = LANDMARK_PALETTE[i]
            top.scatter(rows["x_pred"], rows["y_pred"], s=10, color=color, alpha=0.6, linewidths=0, label=name)
            top.scatter(rows["x_true"].mean(), rows["y_true"].mean(), marker="x", s=30, color="k", linewidths=1)
            bottom.scatter(rows["x_pred"] - rows["x_true"], rows["y_pred"] - rows["y_true"], s=10, color=color,
                           alpha=0.6, linewidths=0, label=name)
        top.legend(fontsize=7, markerscale=2, frameon=False, loc="lower center", ncols=3 if task == "body" else 5,
                   bbox_to_anchor=(0.5, -0.16))
        bottom.axhline(0, color="0.6", lw=0.8)
        bottom.axvline(0, color="0.6", lw=0.8)
        lim = float(np.nanpercentile(np.abs(np.r_[part["x_pred"] - part["x_true"], part["y_pred"] - part["y_true"]]),
                                     99)) * 1.1 + 1
        bottom.set_xlim(-lim, lim)
        bottom.set_ylim(lim, -lim)
        bottom.set_aspect("equal")
        bottom.set_xlabel("estimate - truth, x (patch px)")
        bottom.set_ylabel("estimate - truth, y (patch px, down)")
    fig.tight_layout()
    return fig


def learning_curve(table: pd.DataFrame, *, methods: Sequence[str] = ("CNN(real)", "CNN(ft)")) -> plt.Figure:
    """Error against training-set size: real subjects and/or synthetic renders (one panel each).

    Parameters
    ----------
    table
        Columns ``method``, ``error`` (mean error over scans and landmarks, patch px) and at least one
        of ``n_subjects`` (real training subjects) and ``n_renders`` (synthetic renders used for
        pretraining); optional ``task`` (one line style per task), ``ci_low``/``ci_high`` (drawn as
        a band). Rows with NaN in a size column do not belong to that panel.
    methods
        Methods to draw, in legend order.

    The table itself comes from the training stage (``landmarklib.engine.training``); this function only
    draws it.
    """
    sizes = [c for c in ("n_subjects", "n_renders") if c in table.columns]
    if not sizes or "method" not in table.columns or "error" not in table.columns:
        raise LandmarkError("learning_curve needs columns method, error and n_subjects and/or n_renders")
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        part = table[table["method"].isin(methods) & table[size].notna()].copy()
        if part.empty:
            _note(ax, f"no rows with {size}")
            continue
        style = "task" if "task" in part.columns else None
        sns.lineplot(data=part, x=size, y="error", hue="method", hue_order=[m for m in methods if m in set(part["method"])],
                     palette=METHOD_COLORS, style=style, marker="o", errorbar=None, ax=ax)
        if {"ci_low", "ci_high"} <= set(part.columns):
            for keys, group in part.groupby(["method", *([style] if style else [])]):
                group = group.sort_values(size)
                method = keys[0] if isinstance(keys, tuple) else keys
                ax.fill_between(group[size], group["ci_low"], group["ci_high"], color=METHOD_COLORS[method], alpha=0.15)
        if size == "n_renders":
            ax.set_xscale("log")
        ax.set_xlabel("real training subjects" if size == "n_subjects" else "synthetic renders (pretraining)")
        ax.set_ylabel("mean error (patch px)")
    fig.tight_layout()
    return fig


def learning_curve_path(profile: str, *, renders_dir: str | os.PathLike | None = None) -> Path:
    """Where the training stage writes the learning-curve table: ``renders/results/<profile>/learning_curve.csv``.

    Columns as :func:`learning_curve` expects (``method, error`` and ``n_subjects`` and/or
    ``n_renders``, optionally ``task, ci_low, ci_high``).
    """
    from ..paths import subdir

    return subdir("results", profile, renders_dir=renders_dir) / "learning_curve.csv"


def save_figure(fig: plt.Figure, name: str, params: Mapping[str, Any], *, dpi: int = 110, **extra: Any) -> Path:
    """Save ``fig`` as ``renders/results/<profile>/figures/<name>.png`` (+ ``.json`` provenance), atomically;
    ``params`` is the run's :class:`~landmarklib.profiles.Config` (``profile``, ``renders_dir``)."""
    from ..paths import subdir
    from ..provenance import atomic_path, provenance, write_json

    path = subdir("results", str(params["profile"]), "figures", renders_dir=params.get("renders_dir")) / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    write_json(path.with_suffix(".json"), provenance(params, figure=name, **extra))
    return path


def publish(fig: plt.Figure, name: str, params: Mapping[str, Any], **extra: Any) -> Path:
    """Save ``fig`` (:func:`save_figure`), display it in the notebook whatever the backend, and close it."""
    from IPython.display import display

    path = save_figure(fig, name, params, **extra)
    display(fig)
    plt.close(fig)
    return path
