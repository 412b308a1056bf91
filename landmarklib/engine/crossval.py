"""Cross-validation shared by every learned method: one fold loop, one fold index, target transforms.

:func:`cross_validate_arrays` trains a network per fold on the fold's training ids and predicts its test
ids (CNN(real), CNN(ft) and CNN(depth) all go through it). What a method needs done to its targets
(the depth CNN: per-image normalisation of the landmark depth and centring on the fold's training
mean) is a :class:`TargetTransform`, in the spirit of MONAI's ``Invertd``: the loop fits it on each
fold's training targets, trains on the transformed targets and inverts the network's outputs, so every
method returns predictions in its own target units and every method gets the same fold resume and the
same overlap/coverage checks (:func:`fold_index`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine.training import Schedule, _check_arrays, _fingerprint, fit, predict
from ..errors import LandmarkError
from ..progress import bar
from ..provenance import save_npz

__all__ = ["TargetTransform", "fold_index", "cross_validate_arrays"]


class TargetTransform:
    """A fold-fitted, invertible map of the targets (the identity here; subclass it).

    ``rows`` are the indices of the given targets/outputs in the whole data set, so that a transform
    with per-row state (the depth CNN's per-image statistics) picks the right rows.

    * :meth:`fit` on a fold's training targets returns the fitted transform (``self`` when nothing is
      learnt); it must not modify ``self``.
    * :meth:`apply` maps ``(n, m)`` targets to what the network is trained on;
    * :meth:`invert` maps ``(n, m)`` network outputs back to target units;
    * :attr:`identity` names the transform and its state before fitting: part of a fold's identity, so
      a finished fold made with another transform is never reused.
    """

    identity: str = "none"

    def fit(self, targets: np.ndarray, rows: np.ndarray) -> TargetTransform:
        return self

    def apply(self, targets: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.asarray(targets, dtype=np.float32)

    def invert(self, outputs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return np.asarray(outputs, dtype=np.float32)


def fold_index(ids: Sequence[str], folds: Sequence[Mapping[str, Sequence[str]]]) -> np.ndarray:
    """``(N,)`` index of the fold whose ``test`` set holds each id (several rows may share an id).

    Raises
    ------
    LandmarkError
        A fold's test ids overlap its training ids or another fold's test ids, or an id is in no fold's
        test set (the folds file was made for other subjects: delete it to remake it).
    """
    ids = np.asarray(ids).astype(str)
    fold_of = np.full(len(ids), -1, dtype=int)
    for i, fold in enumerate(folds):
        train = np.isin(ids, np.asarray(fold["train"]).astype(str))
        test = np.isin(ids, np.asarray(fold["test"]).astype(str))
        if (fold_of[test] >= 0).any() or (train & test).any():
            raise LandmarkError(f"fold {i}: its test ids overlap its training ids or another fold's test ids")
        fold_of[test] = i
    if (fold_of < 0).any():
        missing = ids[fold_of < 0][:5].tolist()
        raise LandmarkError(f"ids {missing} are in no fold's test set; delete the folds file to remake it")
    return fold_of


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
    target_transform: TargetTransform | None = None,
    model_identity: str | None = None,
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
    target_transform
        Fitted on each fold's training targets, applied to them before training, inverted on the
        fold's test outputs (:class:`TargetTransform`; ``None``: the targets as they are). Its
        :attr:`~TargetTransform.identity` is part of each finished fold's identity.
    model_identity
        Names the starting weights (e.g. a fingerprint of a pretrained network's state); part of each
        finished fold's identity, so folds fine-tuned from other weights are never reused.

    Returns
    -------
    (pred, fold_of, histories)
        ``pred (N, m)`` test-time outputs for every id (from the fold that held it out; the target
        transform inverted),
        ``fold_of (N,)`` that fold's index, and one :func:`fit` history per fold.
    """
    ids = np.asarray(ids).astype(str)
    inputs, targets = _check_arrays(inputs, targets)
    transform = target_transform or TargetTransform()
    fold_of = fold_index(ids, folds)  # refuses overlapping folds and uncovered ids before any training
    pred = np.full(targets.shape, np.nan, dtype=np.float32)
    histories = []
    for i, fold in enumerate(bar(folds, desc="folds", leave=False, progress=progress)):
        train = np.flatnonzero(np.isin(ids, np.asarray(fold["train"]).astype(str)))
        test = np.flatnonzero(fold_of == i)
        ckpt = None if checkpoint_stem is None else Path(f"{checkpoint_stem}_fold{i}.pt")
        done = None if ckpt is None else ckpt.with_suffix(".npz")
        identity = json.dumps({"schedule": asdict(schedule), "seed": seed + i, "test": ids[test].tolist(),
                               "n_train": len(train), "data": _fingerprint(targets[train], targets[test]),
                               **({} if target_transform is None else {"transform": transform.identity}),
                               **({} if model_identity is None else {"model": model_identity})})
        if done is not None and done.is_file():
            with np.load(done, allow_pickle=False) as z:
                if str(z["identity"]) == identity:
                    pred[test] = z["pred"]
                    histories.append(json.loads(str(z["history"])))
                    continue
            raise LandmarkError(f"{done} was made for another fold, schedule, seed or transform; delete it to retrain")
        fitted = transform.fit(targets[train], train)
        model = make_model(i)
        history = fit(model, inputs[train], fitted.apply(targets[train], train), schedule, seed=seed + i,
                      checkpoint=ckpt, device=device, desc=f"fold {i + 1}/{len(folds)}", progress=progress,
                      save_final=keep_models)
        pred[test] = fitted.invert(predict(model, inputs[test], device=device, precision=schedule.precision), test)
        histories.append(history)
        if done is not None and ckpt is not None:
            # the fold's result is small; its checkpoint (weights + momentum, 0.2-0.3 GB) is not kept
            save_npz(done, pred=pred[test], identity=np.array(identity), history=np.array(json.dumps(history)))
            if not keep_models:
                ckpt.unlink(missing_ok=True)
    return pred, fold_of, histories
