"""How much do the verdicts depend on the simulated cohort? The realism ladder (issue 16).

Every verdict of the book is conditional on how the simulated scans are made
(:mod:`landmarklib.scans.simulate`). This module reruns the comparisons behind the claims C1-C5 on
the cohorts of each realism level (:data:`landmarklib.scans.simulate.REALISM`) with everything else
fixed: the pretraining (CNN(syn)) is shared across levels, the folds are those of the same subject
ids, and each level's prediction tables and fine-tuned checkpoints go to their own folders
(``renders/results/<profile>/realism-<level>[-<strengths>]/``, likewise under ``renders/models/``), so
the main chapters' predictions are never overwritten.

Functions
---------
* :func:`level_config`: the run's :class:`~landmarklib.profiles.Config` at one level, with its own
  results key.
* :func:`run_level`: NN(syn) (if renders are given), NN(real), RF, CNN(syn), CNN(real) and CNN(ft)
  on one level's cohort, written as prediction tables.
* :func:`level_summary`, :func:`verdicts_by_level`: mean error per method and level; which claim
  holds at which level (:func:`landmarklib.evaluation.claims.claims_table`).
* :func:`fig2_rank_correlation`: per method, Spearman's rank correlation of our per-landmark mean
  errors with the paper's Fig. 2 (a frame-free check of each landmark's relative difficulty).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..paper import paper_values
from ..profiles import Config, base_profile
from ..scans.simulate import LEVELS, realism

__all__ = ["LADDER_METHODS", "level_config", "plan", "run_level", "level_summary", "verdicts_by_level", "fig2_rank_correlation"]

#: The methods of the ladder (NN(syn) only when renders are given).
LADDER_METHODS = ("NN(syn)", "NN(real)", "RF", "CNN(syn)", "CNN(real)", "CNN(ft)")


def level_config(cfg: Config, level: str, *, ladder: bool = True) -> Config:
    """``cfg`` with ``realism=level`` and the results key ``<profile>/realism-<level>[-<strengths>][-n<hands>]``.

    The key is the ``profile`` attribute every writer reads (predictions, folds, checkpoints), so a
    level's files never mix with the clean cohort's. ``ladder=True`` (the sensitivity chapter) also
    takes the first ``sensitivity_mr_subjects`` hands (``-n`` in the key when fewer than
    ``mr_subjects``); ``ladder=False`` keeps the cohort size (the main chapters run with ``-p realism
    LEVEL``, :func:`landmarklib.notebook.configure`). A level's config may be given: its base profile
    is used (not a ladder level's: refused). Load the shared CNN(syn) with the run's own config. (The key is not a profile name; a
    level's config still accepts :meth:`Config.replace`.)
    """
    realism(level)  # a clear error for an unknown level
    import re

    from ..scans.cohorts import _strengths_key

    if ladder and re.search(r"/realism-.*-n\d+$", cfg.profile):  # its mr_subjects is already the ladder's
        raise LandmarkError(f"{cfg.profile!r} is already a ladder level's config; pass the run's own config")
    base = base_profile(cfg.profile)
    key = level if level == "clean" else f"{level}-{_strengths_key(level)}"  # a recalibrated level: new folders
    n = min(int(cfg.sensitivity_mr_subjects), int(cfg.mr_subjects)) if ladder else int(cfg.mr_subjects)
    if n < int(cfg.mr_subjects):  # the ladder's smaller hand cohorts (the first n subjects): their own folders
        key = f"{key}-n{n}"
    return dataclasses.replace(cfg, realism=level, profile=f"{base}/realism-{key}", mr_subjects=n)


def run_level(
    task: str, cfg: Config, level: str, *, pretrained: Any, synthetic: LandmarkSet | None = None,
    real: LandmarkSet | None = None, progress: bool | None = None,
) -> pd.DataFrame:
    """The ladder's methods on the cohort of ``level``; every table written under the level's key.

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``.
    cfg
        The run's config (not a level's).
    pretrained
        CNN(syn) of ``task`` (:func:`landmarklib.experiments.pretraining.load_pretrained`), shared by all levels.
    synthetic
        The renders NN(syn) searches; ``None`` leaves NN(syn) out.
    real
        The level's cohort (default: :func:`landmarklib.scans.cohorts.load_cohort` at the level).

    Returns
    -------
    pandas.DataFrame
        The prediction tables of every method, concatenated, with a ``realism`` column.
    """
    from ..engine.training import predict_set
    from ..evaluation.results import predictions_frame, write_predictions
    from ..scans.cohorts import load_cohort
    from .baselines import run_baselines
    from .finetuning import cross_validate

    lcfg = level_config(cfg, level)
    real = load_cohort(task, lcfg) if real is None else real
    methods = ("NN(syn)", "NN(real)", "RF") if synthetic is not None else ("NN(real)", "RF")
    tables = dict(run_baselines(task, lcfg, synthetic, real, methods=methods, progress=progress))
    base = tables["NN(real)"]
    fold_of = dict(zip(base["subject"].astype(str), base["fold"], strict=False))
    tables["CNN(syn)"] = predictions_frame(
        task=task, method="CNN(syn)", fold=[fold_of[str(s)] for s in real.ids], subjects=real.ids,
        pred_px=predict_set(pretrained, real, device=lcfg.device, precision=lcfg.precision), true_px=real.landmarks, mm_per_px=real.mm_per_px)
    write_predictions(tables["CNN(syn)"], params=lcfg)
    for method, model in (("CNN(real)", None), ("CNN(ft)", pretrained)):
        frame, _ = cross_validate(real, lcfg, method=method, pretrained=model, progress=progress)
        write_predictions(frame, params=lcfg)
        tables[method] = frame
    out = pd.concat(tables.values(), ignore_index=True)
    out["realism"] = level
    return out


def level_summary(predictions: pd.DataFrame) -> pd.DataFrame:
    """Mean landmark error (patch px) per task, method and level, with the mean-shape reference.

    ``predictions``: the concatenated outputs of :func:`run_level` (a ``realism`` column).
    """
    from ..evaluation.metrics import landmark_errors, mean_shape_reference

    rows = []
    for level, table in predictions.groupby("realism", sort=False):
        errors = pd.concat([landmark_errors(table), landmark_errors(mean_shape_reference(table))])
        mean = errors.groupby(["task", "method"], sort=False)["error_px"].mean().rename("mean_px").reset_index()
        rows.append(mean.assign(realism=level))
    out = pd.concat(rows, ignore_index=True)
    out["realism"] = pd.Categorical(out["realism"], categories=list(LEVELS), ordered=True)
    return out.sort_values(["task", "realism"], kind="stable").reset_index(drop=True)


def verdicts_by_level(predictions: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Which claim holds at which level: one row per claim of
    :data:`~landmarklib.evaluation.claims.CLAIMS`, one column per level.

    A level run on one task (``quick`` and ``cpu`` run hands only) judges the part of each claim that
    compares methods of that task, combined as :func:`~landmarklib.evaluation.claims.claims_table`
    combines a claim's comparisons, and says so (``"holds (hand part)"``); a claim with no comparison
    on the tasks run is ``"not evaluated"``.
    """
    from ..evaluation.claims import CLAIMS, _combine_verdicts, claims_detail
    from ..evaluation.metrics import landmark_errors

    columns = {}
    for level, table in predictions.groupby("realism", sort=False):
        detail = claims_detail(landmark_errors(table), n_resamples=n_resamples, seed=seed)
        tasks = set(table["task"].unique())
        verdicts = {}
        for claim in CLAIMS:
            rows = detail[(detail["claim"] == claim.id) & detail["task"].isin(tasks)]
            if rows.empty:
                verdicts[claim.id] = "not evaluated"
                continue
            verdict = _combine_verdicts(list(rows["verdict"]))
            partial = {c.task for c in claim.comparisons} - tasks
            verdicts[claim.id] = f"{verdict} ({', '.join(sorted(tasks))} part)" if partial else verdict
        columns[level] = pd.Series(verdicts)
    return pd.DataFrame(columns)[[lv for lv in LEVELS if lv in columns]]


def fig2_rank_correlation(predictions: pd.DataFrame) -> pd.DataFrame:
    """Spearman rank correlation of our per-landmark mean errors with the paper's Fig. 2, per task,
    method and level (``realism`` column; missing means one level).

    Fig. 2's pixels are in the paper's own frame; the ranking of the landmarks' difficulty is not.

    Returns
    -------
    pandas.DataFrame
        ``task, method, realism, spearman, landmarks`` (landmarks compared).
    """
    from scipy.stats import spearmanr

    from ..evaluation.metrics import landmark_errors

    paper = paper_values("fig2").drop_duplicates(["task", "method", "landmark"])
    if "realism" not in predictions.columns:
        predictions = predictions.assign(realism="clean")
    rows = []
    for level, table in predictions.groupby("realism", sort=False):
        ours = landmark_errors(table).groupby(["task", "method", "landmark"])["error_px"].mean()
        for (task, method), part in ours.groupby(level=[0, 1], sort=False):
            ref = paper[(paper["task"] == task) & (paper["method"] == method)].set_index("landmark")["value"]
            both = pd.concat([part.droplevel([0, 1]), ref], axis=1, join="inner").dropna()
            rho = float(spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic) if len(both) >= 3 else float("nan")
            rows.append({"task": task, "method": method, "realism": level, "spearman": rho, "landmarks": len(both)})
    return pd.DataFrame(rows)


def _check_levels(levels: Sequence[str]) -> list[str]:
    for level in levels:
        realism(level)
    return list(levels)


def plan(cfg: Mapping[str, Any]) -> pd.DataFrame:
    """The profile's ladder: which levels and tasks it runs (``sensitivity_levels``, ``sensitivity_tasks``)
    and on how many scans (``sensitivity_mr_subjects`` hands, all ``ct_subjects`` bodies)."""
    levels = _check_levels(cfg["sensitivity_levels"])
    n = {"hand": min(int(cfg["sensitivity_mr_subjects"]), int(cfg["mr_subjects"])), "body": int(cfg["ct_subjects"])}
    return pd.DataFrame([{"task": t, "realism": lv, "scans": n[t]} for t in cfg["sensitivity_tasks"] for lv in levels])
