"""crossval: split out of landmarklib.engine.training."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..engine.training import Schedule, _check_arrays, _fingerprint, fit, predict
from ..errors import LandmarkError
from ..provenance import save_npz

__all__ = ["cross_validate_arrays"]


def cross_validate_arrays(
    inputs: np.ndarray,
    targets: np.ndarray,
    ids: Sequence[str],
    folds: Sequence[Mapping[str, Sequence[str]]],
    make_model: Callable[[int], torch.nn.Module],
    schedule: Schedule,
    *,
    seed: int,
    checkpoint_stem: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    progress: bool | None = None,
    keep_models: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Generic cross-validation: train on each fold's ``train`` ids, predict its ``test`` ids.

    Parameters
    ----------
    inputs, targets
        ``(N, C, H, W)`` and ``(N, m)``, one row per id.
    folds
        From :func:`landmarklib.engine.folds.ensure_folds`; every id must be in exactly one test set.
    make_model
        ``make_model(fold) -> model``: a fresh or pretrained network for that fold.
    checkpoint_stem
        Per-fold checkpoints ``<stem>_fold<i>.pt`` while a fold trains, and ``<stem>_fold<i>.npz``
        (its test predictions and history) once it is done; a rerun skips finished folds
        (``None``: nothing saved).
    keep_models
        Keep each fold's final ``.pt`` (0.2-0.3 GB each) instead of deleting it after prediction.

    Returns
    -------
    (pred, fold_of, histories)
        ``pred (N, m)`` test-time outputs for every id (from the fold that held it out),
        ``fold_of (N,)`` that fold's index, and one :func:`fit` history per fold.
    """
    ids = np.asarray(ids).astype(str)
    inputs, targets = _check_arrays(inputs, targets)
    pred = np.full(targets.shape, np.nan, dtype=np.float32)
    fold_of = np.full(len(ids), -1, dtype=int)
    histories = []
    for i, fold in enumerate(tqdm(folds, desc="folds", leave=False, disable=(not progress) if progress is not None else None)):
        train = np.isin(ids, np.asarray(fold["train"]).astype(str))
        test = np.isin(ids, np.asarray(fold["test"]).astype(str))
        if (fold_of[test] >= 0).any() or (train & test).any():
            raise LandmarkError(f"fold {i}: its test ids overlap its training ids or another fold's test ids")
        fold_of[test] = i
        ckpt = None if checkpoint_stem is None else Path(f"{checkpoint_stem}_fold{i}.pt")
        done = None if ckpt is None else ckpt.with_suffix(".npz")
        identity = json.dumps({"schedule": asdict(schedule), "seed": seed + i, "test": ids[test].tolist(),
                               "n_train": int(train.sum()), "data": _fingerprint(targets[train], targets[test])})
        if done is not None and done.is_file():
            with np.load(done, allow_pickle=False) as z:
                if str(z["identity"]) == identity:
                    pred[test] = z["pred"]
                    histories.append(json.loads(str(z["history"])))
                    continue
            raise LandmarkError(f"{done} was made for another fold, schedule or seed; delete it to retrain")
        model = make_model(i)
        history = fit(model, inputs[train], targets[train], schedule, seed=seed + i, checkpoint=ckpt,
                      device=device, desc=f"fold {i + 1}/{len(folds)}", progress=progress, save_final=keep_models)
        pred[test] = predict(model, inputs[test], device=device, precision=schedule.precision)
        histories.append(history)
        if done is not None and ckpt is not None:
            # the fold's result is small; its checkpoint (weights + momentum, 0.2-0.3 GB) is not kept
            save_npz(done, pred=pred[test], identity=np.array(identity), history=np.array(json.dumps(history)))
            if not keep_models:
                ckpt.unlink(missing_ok=True)
    if (fold_of < 0).any():
        missing = ids[fold_of < 0][:5].tolist()
        raise LandmarkError(f"ids {missing} are in no fold's test set; delete the folds file to remake it")
    return pred, fold_of, histories
