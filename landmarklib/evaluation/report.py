"""Helpers of the results pages: reading every prediction table, wide tables, the verdict text."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..errors import LandmarkError
from ..evaluation.results import METHODS, REGISTRY, method_label, read_predictions
from ..landmarks import landmark_names, parse_task

__all__ = ["summary_wide", "load_predictions", "missing_methods", "write_table", "verdict_markdown", "claims_display"]


def summary_wide(summary: pd.DataFrame, task: str, *, digits: int = 1) -> pd.DataFrame:
    """``summary`` of one task as methods x landmarks, each cell ``mean ± std [ci_low, ci_high]``."""
    part = summary[summary["task"] == task]
    cell = part.apply(lambda r: f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f} "
                                f"[{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]", axis=1)
    if part.empty:
        return pd.DataFrame(columns=list(landmark_names(task)))
    wide = part.assign(cell=cell, label=part["method"].map(lambda m: method_label(m, task))).pivot(
        index="label", columns="landmark", values="cell")
    order = [method_label(m, task) for m in METHODS if method_label(m, task) in wide.index]
    return wide.loc[order, [n for n in landmark_names(task) if n in wide.columns]].rename_axis(index="method")


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


def verdict_markdown(table: pd.DataFrame, detail: pd.DataFrame, missing: Sequence[str] = ()) -> str:
    """A short markdown summary of the claims table: verdicts, where we and the paper differ, what is missing.

    Every sentence is generated from ``table`` (:func:`claims_table`) and ``detail``
    (:func:`claims_detail`); nothing is typed by hand.
    """
    lines = []
    for row in table.itertuples():
        part = detail[detail["claim"] == row.claim]
        line = f"- **{row.claim}: {row.verdict}** ({row.comparisons_holding} comparisons hold). {row.statement}"
        off = part[part["verdict"] != "holds"]
        if row.verdict not in ("holds", "not evaluated") and len(off):
            shown = "; ".join(f"{r.comparison}: {r.verdict}" for r in off.head(4).itertuples())
            more = f" and {len(off) - 4} more" if len(off) > 4 else ""
            line += f" Not confirmed: {shown}{more}."
        if not row.paper_agrees:
            line += " The paper's own Fig. 2 means do not satisfy every comparison either."
        lines.append(line)
    if missing:
        lines.append(f"- Missing predictions (claims that need them are not evaluated): {', '.join(missing)}.")
    return "\n".join(lines)


def claims_display(table: pd.DataFrame):
    """The claims table for a page: claim, statement, ours, paper, verdict; wide text columns kept readable.

    Returns a :class:`pandas.io.formats.style.Styler` (verdict cells coloured: green holds, red does
    not hold, grey otherwise).
    """
    columns = ["claim", "statement", "ours", "paper", "verdict", "comparisons_holding", "paper_agrees"]
    colors = {"holds": "#d9f2d9", "does not hold": "#f8d7d7"}
    return (
        table[columns].style.hide(axis="index")
        .set_properties(**{"font-size": "85%", "vertical-align": "top", "text-align": "left"})
        .set_properties(subset=["statement"], **{"min-width": "18em"})
        .set_properties(subset=["ours", "paper"], **{"min-width": "16em"})
        .map(lambda v: f"background-color: {colors.get(v, '#eeeeee')}", subset=["verdict"])
    )
