"""Helpers of the results pages: reading every prediction table, wide tables, the paper's pixel frame,
the training scale of a profile beside the paper's, and the verdict text."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import LandmarkError
from ..evaluation.metrics import REFERENCE, paper_summary, task_label
from ..evaluation.results import METHODS, REGISTRY, read_predictions
from ..landmarks import landmark_names, parse_task

__all__ = ["summary_wide", "method_means", "paper_frame_readings", "PAPER_PARAMETERS", "SCALE_KEYS",
           "training_scale", "scale_sentence", "load_predictions", "missing_methods", "write_table",
           "verdict_markdown", "claims_display", "figure_display"]


def summary_wide(summary: pd.DataFrame, task: str, *, summary_mm: pd.DataFrame | None = None,
                 digits: int = 1) -> pd.DataFrame:
    """``summary`` of one task as methods x landmarks, each cell ``mean ± std [ci_low, ci_high]`` (patch
    px), followed by ``(mean mm)`` from ``summary_mm`` (:func:`~landmarklib.evaluation.metrics.summarize`
    with ``unit="mm"``) when given. The mean shape, if summarised, is the last row."""
    part = summary[summary["task"] == task]
    if part.empty:
        return pd.DataFrame(columns=list(landmark_names(task)))
    mm = {}
    if summary_mm is not None:
        rows = summary_mm[summary_mm["task"] == task]
        mm = {(r.method, r.landmark): r.mean for r in rows.itertuples()}

    def cell(r: pd.Series) -> str:
        text = (f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f} "
                f"[{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]")
        value = mm.get((r["method"], r["landmark"]), np.nan)
        return text + (f" ({value:.{digits}f} mm)" if np.isfinite(value) else "")

    wide = part.assign(cell=part.apply(cell, axis=1), label=part["method"].map(lambda m: task_label(m, task))).pivot(
        index="label", columns="landmark", values="cell")
    order = [task_label(m, task) for m in (*METHODS, REFERENCE) if task_label(m, task) in wide.index]
    return wide.loc[order, [n for n in landmark_names(task) if n in wide.columns]].rename_axis(index="method")


# --------------------------------------------------------------------------------------------------
# Our errors beside the paper's, and the paper's pixel frame
# --------------------------------------------------------------------------------------------------


def method_means(summary: pd.DataFrame, summary_mm: pd.DataFrame, scale: pd.DataFrame) -> pd.DataFrame:
    """Per task and method, the mean error over landmarks: ours in patch px and mm, the paper's in its
    own px, and the paper's under reading (a), its px taken as our patch px (x the cohort's median mm
    per patch px, ``scale`` = :func:`~landmarklib.evaluation.metrics.mm_per_patch_px`). Reading (b),
    pixels of the paper's original images, needs their voxel size, which we found published nowhere:
    that column is absent on purpose (:func:`paper_frame_readings`)."""
    ours = summary.groupby(["task", "method"], sort=False)["mean"].mean().rename("ours px")
    ours_mm = summary_mm.groupby(["task", "method"], sort=False)["mean"].mean().rename("ours mm")
    paper = paper_summary("fig2").groupby(["task", "method"], sort=False)["mean"].mean().rename("paper px")
    table = pd.concat([ours, ours_mm, paper], axis=1)
    factor = scale["median"].reindex(table.index.get_level_values("task")).to_numpy()
    table["paper mm, reading (a)"] = table["paper px"].to_numpy() * factor
    order = {m: i for i, m in enumerate([*REGISTRY, REFERENCE])}
    table = table.reset_index()
    table = table.assign(_t=table["task"].map({"hand": 0, "body": 1}), _m=table["method"].map(order))
    table = table.sort_values(["_t", "_m"]).drop(columns=["_t", "_m"])
    table["method"] = [task_label(m, t) for m, t in zip(table["method"], table["task"])]
    return table.set_index(["task", "method"])


def paper_frame_readings(scale: pd.DataFrame) -> pd.DataFrame:
    """The paper's Fig. 2 values under the two readings of its "px", per task.

    Parameters
    ----------
    scale
        :func:`~landmarklib.evaluation.metrics.mm_per_patch_px` of our cohorts.

    Returns
    -------
    pandas.DataFrame
        Index ``task``; ``paper px`` (range of its Fig. 2 means), ``(a) patch px: our mm per px``
        (median), ``(a) patch px: mm`` (the range at that scale), ``(b) original-image px: voxel size``
        (none found: the paper and the sources we could search give no voxel size for either cohort)
        and ``(b) mm`` (unknown: the paper's px times a voxel size nobody published).
    """
    paper = paper_summary("fig2").groupby("task", sort=False)["mean"].agg(["min", "max"])
    rows = {}
    for task, (low, high) in paper.iterrows():
        mm = float(scale["median"].get(task, np.nan))
        rows[task] = {
            "paper px": f"{low:.1f}-{high:.1f}",
            "(a) patch px: our mm per px": round(mm, 2),
            "(a) patch px: mm": f"{low * mm:.0f}-{high * mm:.0f}" if np.isfinite(mm) else "unknown",
            "(b) original-image px: voxel size": "none found",
            "(b) mm": "unknown",
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(index="task")


# --------------------------------------------------------------------------------------------------
# The training scale of a profile beside the paper's
# --------------------------------------------------------------------------------------------------

#: Where the paper gives the value that the ``paper`` profile holds (every other key of that profile
#: is our choice; :func:`training_scale` and the appendix mark them so).
PAPER_PARAMETERS: dict[str, str] = {
    "batch_size": "Sec. 2.2: mini-batch size of 100",
    "lr": "Sec. 3: learning rate of 0.01",
    "momentum": "Sec. 3: momentum term of 0.9",
    "lr_decay": "Sec. 3: decreased after each epoch by a factor of 0.7943",
    "finetune_lr_drop_after": "Sec. 3: once after 500 iterations",
    "finetune_lr_drop": "Sec. 3: by a factor of 0.1",
    "pretrain_epochs": "Sec. 3: 30 epochs",
    "finetune_epochs": "Sec. 3: 700 epochs",
    "hand_renders": "Sec. 3: around 2.2M synthetic images",
    "body_renders": "Sec. 3: 600,000 synthetic images",
    "hand_pretrain_images": "Sec. 3 (our reading: every render in each epoch)",
    "body_pretrain_images": "Sec. 3 (our reading: every render in each epoch)",
    "mr_subjects": "Sec. 3: N = 132",
    "ct_subjects": "Sec. 3: N = 20",
    "nn_k": "Sec. 4: the three nearest patches",
}

#: The sizes that set the training scale, compared with the paper's in :func:`training_scale`.
SCALE_KEYS: tuple[str, ...] = ("hand_renders", "body_renders", "hand_pretrain_images", "body_pretrain_images",
                               "pretrain_epochs", "finetune_epochs", "depth_renders", "mr_subjects", "ct_subjects")


def training_scale(profiles: Mapping[str, Mapping[str, object]] | None = None) -> pd.DataFrame:
    """Each profile's training sizes as ratios to the ``paper`` profile's (:data:`SCALE_KEYS`).

    Returns
    -------
    pandas.DataFrame
        Index: the size; columns: ``<profile>`` (its value) and ``<profile> / paper`` for every profile,
        then ``paper's value from`` (:data:`PAPER_PARAMETERS`, or "ours" where the paper gives none).
    """
    from ..profiles import PROFILES

    profiles = PROFILES if profiles is None else profiles
    paper = profiles["paper"]
    table = {}
    for name, values in profiles.items():
        table[name] = {k: values[k] for k in SCALE_KEYS}
        if name != "paper":
            table[f"{name} / paper"] = {k: float(values[k]) / float(paper[k]) for k in SCALE_KEYS}
    frame = pd.DataFrame(table)
    frame["paper's value from"] = [PAPER_PARAMETERS.get(k, "ours: the paper gives no number") for k in SCALE_KEYS]
    return frame


def scale_sentence(cfg: Mapping[str, object]) -> str:
    """One sentence, from ``cfg``, on how this run's training compares with the paper's."""
    from ..profiles import PROFILES

    paper = PROFILES["paper"]

    def pair(key: str) -> str:
        return f"{int(cfg[key]):,} (paper {int(paper[key]):,})"

    return (f"Profile `{cfg['profile']}`: CNN pretraining on {pair('hand_pretrain_images')} hand and "
            f"{pair('body_pretrain_images')} body renders for {pair('pretrain_epochs')} epochs, fine-tuning for "
            f"{pair('finetune_epochs')} epochs, on {pair('mr_subjects')} simulated MR hands and "
            f"{pair('ct_subjects')} simulated CT bodies.")


# --------------------------------------------------------------------------------------------------
# Reading the result files
# --------------------------------------------------------------------------------------------------


def load_predictions(
    profile: str, *, tasks: Sequence[str] = ("hand", "body"), methods: Sequence[str] | None = None,
    renders_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Every prediction table of ``profile`` for ``tasks`` (and ``methods``; ``None``: every method of
    :data:`~landmarklib.evaluation.results.REGISTRY`); an empty table where none exist yet.

    Unlike :func:`landmarklib.evaluation.results.read_predictions` this does not raise when a task has no
    results, so the results page can say what is missing (:func:`missing_methods`) instead of
    stopping.
    """
    frames = []
    for task in tasks:
        parse_task(task)
        try:
            frames.append(read_predictions(profile, task=task, methods=methods, renders_dir=renders_dir))
        except LandmarkError:
            continue
    if not frames:
        from ..evaluation.results import COLUMNS

        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)


def missing_methods(predictions: pd.DataFrame, *, tasks: Sequence[str] = ("hand", "body")) -> list[str]:
    """``"task: method"`` for every method of :data:`~landmarklib.evaluation.results.REGISTRY` (on the
    tasks it runs on) without predictions."""
    have = set(zip(predictions.get("task", []), predictions.get("method", [])))
    return [f"{task}: {m.label(task)}" for task in tasks for m in REGISTRY.values()
            if task in m.tasks and (task, m.name) not in have]


def write_table(
    frame: pd.DataFrame, name: str, params: Mapping[str, object], **extra: object,
) -> Path:
    """Write ``frame`` as ``renders/results/<profile>/<name>.csv`` with a provenance sidecar, atomically.

    ``params`` is the run's :class:`~landmarklib.profiles.Config` (``profile``, ``renders_dir``)."""
    from ..paths import subdir
    from ..provenance import atomic_path, provenance, write_json

    path = subdir("results", str(params["profile"]), renders_dir=params.get("renders_dir")) / f"{name}.csv"
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    write_json(path.with_suffix(".json"), provenance(params, table=name, rows=len(frame), **extra))
    return path


def _claim_line(row: object, part: pd.DataFrame) -> str:
    line = f"- **{row.claim}: {row.verdict}** ({row.comparisons_holding} comparisons hold). {row.statement}"
    off = part[part["verdict"] != "holds"]
    if row.verdict not in ("holds", "not evaluated") and len(off):
        shown = "; ".join(f"{r.comparison}: {r.verdict}" for r in off.head(4).itertuples())
        more = f" and {len(off) - 4} more" if len(off) > 4 else ""
        line += f" Not confirmed: {shown}{more}."
    ratio = part[part["statistic"] == "ratio"]
    for r in ratio.itertuples():
        if np.isfinite(r.value):
            line += (f" Ratio {r.value:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] (paper {r.paper_value:.2f})"
                     f"{': ' + r.note if r.note else ''}.")
    line += (" The paper's own figure means satisfy this rule." if row.paper_agrees else
             " The paper's own figure means do not satisfy this rule either.")
    return line


def verdict_markdown(
    table: pd.DataFrame, detail: pd.DataFrame, missing: Sequence[str] = (), *,
    figure: pd.DataFrame | None = None, readings: pd.DataFrame | None = None,
    cfg: Mapping[str, object] | None = None,
) -> str:
    """The verdict in markdown, every sentence generated from the tables (nothing typed by hand).

    Parameters
    ----------
    table, detail
        :func:`~landmarklib.evaluation.claims.claims_table` (with its ``ref`` row, if any) and
        :func:`~landmarklib.evaluation.claims.claims_detail`.
    missing
        :func:`missing_methods`.
    figure
        :func:`~landmarklib.evaluation.claims.figure_table`: the orderings only Fig. 2 shows,
        summarised apart from the claims.
    readings
        :func:`paper_frame_readings`: the paper's pixel frame under both readings.
    cfg
        The run's configuration: the training scale beside the paper's (:func:`scale_sentence`).
    """
    lines = []
    if cfg is not None:
        lines.append(f"- **Scale.** {scale_sentence(cfg)} The verdicts below hold for this scale and for "
                     "simulated cohorts; smoke-test profiles say nothing about the paper.")
    claims = table[table["claim"] != "ref"]
    for row in claims.itertuples():
        lines.append(_claim_line(row, detail[detail["claim"] == row.claim]))
    ref = table[table["claim"] == "ref"]
    for row in ref.itertuples():
        lines.append(f"- **Mean-shape reference** (not a claim): of the task and method pairs, {row.comparisons_holding}"
                     f" ({row.note}). A method that does not beat \"always answer the training-fold average\" has "
                     "learned little from the image.")
    if figure is not None and len(figure):
        held = figure[figure["verdict"] == "holds"]
        rest = figure[figure["verdict"] != "holds"]
        text = (f"- **Read off Fig. 2** (orderings the text does not state; no claim's verdict uses them): "
                f"{len(held)} of {len(figure)} hold")
        if len(rest):
            text += "; not confirmed: " + "; ".join(f"{r.task}: {r.comparison.split(' (')[0]} ({r.verdict})"
                                                    for r in rest.itertuples())
        lines.append(text + ".")
    if readings is not None and len(readings):
        parts = [f"{task}: {r['paper px']} px, which as patch px at our {r['(a) patch px: our mm per px']} mm per px "
                 f"would be {r['(a) patch px: mm']} mm" for task, r in readings.iterrows()]
        lines.append("- **The paper's pixels.** Its frame is unstated. " + "; ".join(parts) + ". As pixels of its "
                     "original images they need a voxel size, and none was found for either cohort. No verdict "
                     "rests on either reading: claims compare orderings and ratios within each study; our "
                     "magnitudes are given in mm.")
    if missing:
        lines.append(f"- Missing predictions (claims that need them are not evaluated): {', '.join(missing)}.")
    return "\n".join(lines)


def claims_display(table: pd.DataFrame):
    """The claims table for a page: claim, the paper's sentence, what is tested, ours, paper, verdict;
    wide text columns kept readable.

    Returns a :class:`pandas.io.formats.style.Styler` (verdict cells coloured: green holds, red does
    not hold, grey otherwise).
    """
    columns = ["claim", "quote", "statement", "ours", "paper", "verdict", "comparisons_holding", "paper_agrees"]
    colors = {"holds": "#d9f2d9", "does not hold": "#f8d7d7"}
    return (
        table[columns].style.hide(axis="index")
        .set_properties(**{"font-size": "85%", "vertical-align": "top", "text-align": "left"})
        .set_properties(subset=["quote", "statement"], **{"min-width": "18em"})
        .set_properties(subset=["ours", "paper"], **{"min-width": "16em"})
        .map(lambda v: f"background-color: {colors.get(v, '#eeeeee')}", subset=["verdict"])
    )


def figure_display(figure: pd.DataFrame):
    """The "read off Fig. 2" table for a page: ordering, our difference in px and mm with CIs, the
    verdict, and the paper's own margin (px, its frame)."""
    if figure.empty:
        return figure
    shown = pd.DataFrame({
        "task": figure["task"], "ordering (Fig. 2 only)": figure["comparison"], "scans": figure["n_scans"],
        "ours, px [95% CI]": [f"{r.value:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]" for r in figure.itertuples()],
        "ours, mm [95% CI]": [f"{r.value_mm:+.1f} [{r.ci_low_mm:+.1f}, {r.ci_high_mm:+.1f}]"
                              if np.isfinite(r.value_mm) else "" for r in figure.itertuples()],
        "verdict": figure["verdict"], "paper margin, px": figure["paper_margin"].round(2),
    })
    colors = {"holds": "#d9f2d9", "does not hold": "#f8d7d7"}
    return (shown.style.hide(axis="index").format(precision=2)
            .map(lambda v: f"background-color: {colors.get(v, '#eeeeee')}", subset=["verdict"]))
