"""Chapter 5: CNN(real) and CNN(ft) through the shared folds, and the learning curve (Sec. 3).

:func:`finetune` trains one network on scans with the paper's fine-tuning schedule (from random weights
for CNN(real), from CNN(syn) for CNN(ft)); :func:`cross_validate` runs either method through
:func:`landmarklib.engine.crossval.cross_validate_arrays` and returns the one prediction table;
:func:`learning_curve` measures when pretraining pays off (error against real subjects and renders).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data import LandmarkSet
from ..engine.crossval import cross_validate_arrays
from ..engine.folds import ensure_folds
from ..engine.training import (
    _fingerprint,
    _model_seed,
    _to_px,
    checkpoint_path,
    finetune_schedule,
    fit,
    set_inputs,
    set_targets,
)
from ..errors import LandmarkError
from ..evaluation.metrics import landmark_errors
from ..evaluation.results import predictions_frame
from ..experiments.pretraining import load_pretrained, pretrain, synthetic_data
from ..models.cnn import LandmarkCNN
from ..progress import bar
from ..provenance import atomic_path

__all__ = ["finetune", "cross_validate", "subject_subset", "learning_curve", "write_learning_curve"]


def finetune(
    model: LandmarkCNN | None,
    train: LandmarkSet,
    cfg: Mapping[str, Any],
    *,
    name: str,
    seed: int,
    progress: bool | None = None,
) -> tuple[LandmarkCNN, dict[str, Any]]:
    """Train on all of ``train`` with the fine-tuning schedule's iterations (``finetune_schedule(...,
    n_images=)``): from ``model`` (CNN(ft), copied, not modified) or from random weights when ``model``
    is ``None`` (CNN(real))."""
    torch.manual_seed(seed)
    net = LandmarkCNN(train.task) if model is None else copy.deepcopy(model)
    ckpt = checkpoint_path(name, task=train.task, profile=cfg.profile, renders_dir=cfg.renders_dir)
    history = fit(net, set_inputs(train), set_targets(train), finetune_schedule(cfg, n_images=len(train)), seed=seed,
                  checkpoint=ckpt, device=cfg.device, desc=name, progress=progress)
    return net, history


def cross_validate(
    real: LandmarkSet,
    cfg: Mapping[str, Any],
    *,
    method: str,
    pretrained: LandmarkCNN | None = None,
    progress: bool | None = None,
    folds: Sequence[Mapping[str, Sequence[str]]] | None = None,
    tag: str = "",
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """CNN(real) (``pretrained=None``) or CNN(ft) over the shared folds of ``real``'s subjects.

    ``folds`` replaces the shared folds (the learning curve: the same test sets, fewer training
    subjects) and ``tag`` names its fold files (``cnn_ft<tag>_fold<i>.npz``); the seeds are the
    method's, so the learning curve's full point is this chapter's cross-validation, read back.

    Returns
    -------
    (frame, histories)
        The prediction table (:func:`landmarklib.evaluation.results.predictions_frame`, patch pixels; the
        ``[-1, 1]`` values follow by eq. 1) for every scan from the fold that held it out, and one
        training history per fold.
    """
    if method not in ("CNN(real)", "CNN(ft)"):
        raise LandmarkError(f"method must be 'CNN(real)' or 'CNN(ft)', got {method!r}")
    if (method == "CNN(ft)") != (pretrained is not None):
        raise LandmarkError("CNN(ft) needs the pretrained CNN(syn) model; CNN(real) takes none")
    if folds is None:
        folds = ensure_folds(real.ids, real.task, profile=cfg.profile, seed=int(cfg.seed), renders_dir=cfg.renders_dir)
    name = "cnn_real" if pretrained is None else "cnn_ft"

    def make_model(fold: int) -> LandmarkCNN:
        torch.manual_seed(_model_seed(cfg, f"{name}/init/fold", fold))
        return LandmarkCNN(real.task) if pretrained is None else copy.deepcopy(pretrained)

    stem = checkpoint_path(f"{name}{tag}", task=real.task, profile=cfg.profile, renders_dir=cfg.renders_dir)
    pred, fold_of, histories = cross_validate_arrays(
        set_inputs(real), set_targets(real), real.ids, folds, make_model, finetune_schedule(cfg),
        seed=_model_seed(cfg, f"{name}/fit/fold"), checkpoint_stem=stem.with_suffix(""), device=cfg.device,
        progress=progress, workers=cfg.fold_workers,
        # CNN(ft)'s folds belong to the CNN(syn) they start from: a retrained CNN(syn) is never paired
        # with fold results of the old one
        model_identity=None if pretrained is None else _fingerprint(
            *(v.detach().cpu().numpy() for v in pretrained.state_dict().values())),
    )
    frame = predictions_frame(task=real.task, method=method, fold=fold_of, subjects=real.ids,
                              pred_px=_to_px(pred, real.task), true_px=real.landmarks, mm_per_px=real.mm_per_px)
    return frame, histories


# --------------------------------------------------------------------------------------------------
# learning curve (issue 8): when does synthetic pretraining pay off?
# --------------------------------------------------------------------------------------------------
def _counts(counts: Sequence[int | None] | None, full: int) -> list[int]:
    """Sorted distinct counts, ``None`` (or anything above ``full``) meaning ``full``."""
    return sorted({full if c is None else min(int(c), full) for c in (counts or [None])})


def subject_subset(train_ids: Sequence[str], n: int, *, seed: int, fold: int) -> list[str]:
    """``n`` of a fold's training ids, drawn without replacement by a RNG seeded from ``(seed, n, fold)``.

    The same arguments give the same subset; only ``train_ids`` are ever drawn (no test leakage).
    """
    ids = sorted(np.asarray(train_ids).astype(str).tolist())
    if n >= len(ids):
        return ids
    rng = np.random.default_rng([int(seed), int(n), int(fold)])
    return sorted(rng.choice(ids, size=n, replace=False).tolist())


def _pretrained_on(task: str, cfg: Mapping[str, Any], n: int, full: int, renders: LandmarkSet | None,
                   progress: bool | None) -> LandmarkCNN:
    """CNN(syn) on the first ``n`` renders (``cnn_syn_n<n>.pt``, cached), or the profile's own CNN(syn)."""
    if renders is not None:
        return pretrain(task, cfg, renders.subset(slice(0, n)), name=f"cnn_syn_n{n}", progress=progress)[0]
    if n >= full:
        return load_pretrained(task, cfg, progress=progress)[0]
    data, stream, _ = synthetic_data(task, cfg)
    if stream is not None:
        from ..synth import rendering

        stream = rendering.SyntheticStream(task, seed=int(cfg.seed), n=n)
    return pretrain(task, cfg, None if data is None else data.subset(slice(0, n)), stream=stream, stream_n=n,
                    name=f"cnn_syn_n{n}", progress=progress)[0]


def learning_curve(
    task: str,
    cfg: Mapping[str, Any],
    real: LandmarkSet,
    *,
    subject_counts: Sequence[int | None] | None = None,
    render_counts: Sequence[int | None] | None = None,
    renders: LandmarkSet | None = None,
    write: bool = True,
    progress: bool | None = None,
) -> pd.DataFrame:
    """CNN(real) and CNN(ft) error against the number of real training subjects and of renders.

    Subject curve: for each count ``n`` and each shared fold (:func:`landmarklib.engine.folds.ensure_folds`),
    ``n`` of the fold's *training* subjects (:func:`subject_subset`, seeded) train CNN(real) from
    scratch and fine-tune CNN(ft) from the profile's CNN(syn); the fold's test subjects are scored.
    Every point goes through :func:`cross_validate` (the one fold loop: resumable fold files, parallel
    folds); the full point is chapter 5's cross-validation itself.
    Render curve: CNN(syn) pretrained on the first ``n`` renders (cached checkpoints
    ``cnn_syn_n<n>.pt``), fine-tuned on all training subjects of every fold; CNN(real) on all subjects
    is repeated at every render count as the reference line that pretraining has to beat.

    Parameters
    ----------
    subject_counts, render_counts
        Counts; ``None`` (or more than there are) means all. Defaults: ``cfg.curve_subjects`` and
        ``cfg.curve_renders``.
    renders
        Synthetic set to pretrain on instead of the profile's (``cfg.pretrain_source``,
        ``cfg.<task>_pretrain_images``); every count then gets its own ``cnn_syn_n<n>`` checkpoint.
    write
        Merge the rows into :func:`landmarklib.viz.figures.learning_curve_path` (replacing this task's
        earlier rows), atomically, with a JSON provenance sidecar.

    Returns
    -------
    pandas.DataFrame
        One row per (curve, method, count): ``task, curve ("subjects"|"renders"), method, n_subjects,
        n_renders, error`` (mean Euclidean landmark error over the test scans of all folds and their
        landmarks, patch px), ``error_mm`` and ``n_scans`` (test scans scored).
    """
    folds = ensure_folds(real.ids, task, profile=cfg.profile, seed=int(cfg.seed),
                         renders_dir=cfg.renders_dir)
    seed = int(cfg.seed)
    full_renders = int(cfg[f"{task}_pretrain_images"]) if renders is None else len(renders)
    max_train = max(len(f["train"]) for f in folds)
    subjects = _counts(cfg.curve_subjects if subject_counts is None else subject_counts, max_train)
    render_ns = _counts(cfg.curve_renders if render_counts is None else render_counts, full_renders)
    jobs = [("subjects", n, full_renders) for n in subjects] + [("renders", max_train, r) for r in render_ns]
    cache: dict[tuple[str, int, int], pd.DataFrame] = {}
    models: dict[int, LandmarkCNN] = {}
    rows = []
    for curve, n_sub, n_ren in bar(jobs, desc=f"learning curve {task}", progress=progress):
        if n_ren not in models:
            models[n_ren] = _pretrained_on(task, cfg, n_ren, full_renders, renders, progress)
        for method, base in (("CNN(real)", None), ("CNN(ft)", models[n_ren])):
            key = (method, n_sub, n_ren if method == "CNN(ft)" else full_renders)
            if key not in cache:
                # the full point (all subjects, the profile's own CNN(syn)) is chapter 5's cross-validation
                own = method == "CNN(real)" or (renders is None and n_ren >= full_renders)
                tag = ("" if n_sub >= max_train else f"_curve_s{n_sub}") + ("" if own else f"_curve_r{n_ren}")
                sub_folds = [{"train": subject_subset(f["train"], n_sub, seed=seed, fold=i), "test": list(f["test"])}
                             for i, f in enumerate(folds)]
                frame, _ = cross_validate(real, cfg, method=method, pretrained=base, progress=progress,
                                          folds=sub_folds, tag=tag)
                cache[key] = landmark_errors(frame)
            err = cache[key]
            rows.append({"task": task, "curve": curve, "method": method,
                         "n_subjects": n_sub if curve == "subjects" else np.nan,
                         "n_renders": n_ren if curve == "renders" else np.nan,
                         "error": float(err["error_px"].mean()), "error_mm": float(err["error_mm"].mean()),
                         "n_scans": int(err["subject"].nunique())})
    table = pd.DataFrame(rows)
    if write:
        write_learning_curve(table, cfg)
    return table


def write_learning_curve(table: pd.DataFrame, cfg: Mapping[str, Any]) -> Path:
    """Merge ``table`` into the profile's learning-curve CSV (its tasks' old rows replaced); atomic, with
    a provenance sidecar ``learning_curve.json``. Returns the CSV path."""
    from ..provenance import provenance, write_json
    from ..viz.figures import learning_curve_path

    path = learning_curve_path(cfg.profile, renders_dir=cfg.renders_dir)
    if path.is_file():
        old = pd.read_csv(path)
        table = pd.concat([old[~old["task"].isin(table["task"].unique())], table], ignore_index=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    write_json(path.with_suffix(".json"), provenance(dict(cfg), tasks=sorted(table["task"].unique()),
                                                     rows=len(table)))
    return path
