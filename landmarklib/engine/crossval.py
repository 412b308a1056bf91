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

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine.training import Schedule, _check_arrays, _fingerprint, fit, predict
from ..errors import LandmarkError
from ..parallel import ignore_interrupts, run_pool, usable_cores
from ..progress import bar
from ..provenance import save_npz

__all__ = ["TargetTransform", "fold_index", "fold_workers", "cross_validate_arrays"]

#: Seconds between a fold's mid-training checkpoints (weights + momentum, 0.2-0.3 GB, 0.6-1.8 s to
#: write here). A finished fold is kept as its small result file, so a crash costs at most the fold in
#: progress; fine-tuning folds take 1-4 min under cpu, and the 60 s default of :func:`fit` wrote one or
#: two checkpoints per fold (about 90 in the cpu book, ~2 min) that were deleted when the fold ended.
FOLD_CHECKPOINT_S = 600.0


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
    workers: int | None = 1,
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
    workers
        Processes of one thread each that train the folds in parallel on a CPU where the cores allow it
        (:func:`fold_workers`; ``None``: 2). A process of fewer threads may round differently, so when
        the profile asks for workers every fold runs on one thread, also a fold retrained alone.

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
    job = _FoldJob(inputs, targets, ids, list(folds), fold_of, make_model, schedule, seed, checkpoint_stem, device,
                   keep_models, transform, target_transform is not None, model_identity)
    pending = [i for i in range(len(folds)) if job.finished(i) is None]
    n_workers = fold_workers(workers, device, len(folds), checkpoint_stem)
    if n_workers > 1 and len(pending) > 1:
        _run_parallel(job, pending, min(n_workers, len(pending)), progress)
    pred = np.full(targets.shape, np.nan, dtype=np.float32)
    histories = []
    # a fold left alone (a resumed run) trains with the workers' one thread: the same rounding as theirs
    threads = 1 if n_workers > 1 else None
    for i in bar(range(len(folds)), desc="folds", leave=False, progress=progress if n_workers == 1 else False):
        test = np.flatnonzero(fold_of == i)
        done = job.finished(i)
        if done is None:
            with _num_threads(threads):
                done = job.train(i, progress=progress)
        pred[test], history = done
        histories.append(history)
    return pred, fold_of, histories


@contextlib.contextmanager
def _num_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block (``None``: unchanged)."""
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fold_workers(workers: int | None, device: str | torch.device, n_folds: int, checkpoint_stem: Any) -> int:
    """How many processes train the folds of a cross-validation of ``n_folds`` folds.

    ``workers`` (``None``: 2) processes of one thread each when that is what the cores allow
    (``cores // workers == 1``: forked workers then never enter an OpenMP region, which is not
    fork-safe), on a CPU device, with a ``checkpoint_stem`` to hand results back, and for at least
    ``2 x workers`` folds; else 1 (the folds one after another, with all cores). The last rule keeps
    the hands' 3 folds in one process: two 1-thread workers would leave one core idle while the third
    fold trains. It depends on the number of folds, not on how many are left, so a resumed run trains
    its folds with the same threads as a fresh one.
    """
    from ..engine.training import resolve_device

    workers = 2 if workers is None else int(workers)
    if workers < 1:
        raise LandmarkError(f"fold_workers must be at least 1, got {workers}")
    if (checkpoint_stem is None or workers < 2 or n_folds < 2 * workers or resolve_device(device).type != "cpu"
            or usable_cores() // workers != 1):
        return 1
    return workers


class _FoldJob:
    """Everything one fold needs; shared with forked worker processes (never pickled)."""

    def __init__(self, inputs, targets, ids, folds, fold_of, make_model, schedule, seed, checkpoint_stem, device,
                 keep_models, transform, has_transform, model_identity):
        self.inputs, self.targets, self.ids, self.folds, self.fold_of = inputs, targets, ids, folds, fold_of
        self.make_model, self.schedule, self.seed, self.stem, self.device = make_model, schedule, seed, checkpoint_stem, device
        self.keep_models, self.transform, self.has_transform, self.model_identity = keep_models, transform, has_transform, model_identity

    def _fold_files(self, i: int) -> tuple[Path | None, Path | None]:
        ckpt = None if self.stem is None else Path(f"{self.stem}_fold{i}.pt")
        return ckpt, None if ckpt is None else ckpt.with_suffix(".npz")

    def _split(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        train = np.flatnonzero(np.isin(self.ids, np.asarray(self.folds[i]["train"]).astype(str)))
        return train, np.flatnonzero(self.fold_of == i)

    def identity(self, i: int) -> str:
        train, test = self._split(i)
        return json.dumps({"schedule": asdict(self.schedule), "seed": self.seed + i, "test": self.ids[test].tolist(),
                           "n_train": len(train), "data": _fingerprint(self.targets[train], self.targets[test]),
                           **({"transform": self.transform.identity} if self.has_transform else {}),
                           **({} if self.model_identity is None else {"model": self.model_identity})})

    def finished(self, i: int) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The saved predictions and history of fold ``i``, or ``None`` when it has not finished."""
        _, done = self._fold_files(i)
        if done is None or not done.is_file():
            return None
        with np.load(done, allow_pickle=False) as z:
            if str(z["identity"]) == self.identity(i):
                return z["pred"], json.loads(str(z["history"]))
        raise LandmarkError(f"{done} was made for another fold, schedule, seed or transform; delete it to retrain")

    def train(self, i: int, *, progress: bool | None) -> tuple[np.ndarray, dict[str, Any]]:
        """Train fold ``i``, predict its test ids, save the result (when a stem is given)."""
        train, test = self._split(i)
        ckpt, done = self._fold_files(i)
        fitted = self.transform.fit(self.targets[train], train)
        model = self.make_model(i)
        history = fit(model, self.inputs[train], fitted.apply(self.targets[train], train), self.schedule,
                      seed=self.seed + i, checkpoint=ckpt, device=self.device, desc=f"fold {i + 1}/{len(self.folds)}",
                      progress=progress, save_final=self.keep_models, checkpoint_every_s=FOLD_CHECKPOINT_S)
        pred = fitted.invert(predict(model, self.inputs[test], device=self.device, precision=self.schedule.precision), test)
        if done is not None and ckpt is not None:
            # the fold's result is small; its checkpoint (weights + momentum, 0.2-0.3 GB) is not kept
            save_npz(done, pred=pred, identity=np.array(self.identity(i)), history=np.array(json.dumps(history)))
            if not self.keep_models:
                ckpt.unlink(missing_ok=True)
        return pred, history


#: The job of the pool being run; forked workers inherit it (closures such as ``make_model`` cannot be pickled).
_JOB: _FoldJob | None = None


def _worker_init() -> None:
    ignore_interrupts()
    torch.set_num_threads(1)


def _worker_fold(i: int) -> tuple[int, float, float]:
    assert _JOB is not None
    _, history = _JOB.train(i, progress=False)
    return i, float(history["seconds"]), float(np.mean(history["images_per_s"]))


def _run_parallel(job: _FoldJob, pending: list[int], workers: int, progress: bool | None) -> None:
    """Train ``pending`` folds in ``workers`` forked processes of one thread each.

    On 2 cores, two 1-thread processes train a body fold (19 images per step, a pass over 36M weights:
    memory-bound) about 1.4x faster in total than one 2-thread process (benchmarks/bench_training.py).
    Each worker saves its fold's ``.npz`` like the serial loop; the caller then reads them back, so an
    interrupted run resumes from the finished folds. A fold that fails, or an interrupt, stops the other
    workers at once (their unfinished folds are retrained by the next run) and raises here.
    """
    import concurrent.futures
    import multiprocessing
    import warnings

    global _JOB
    _JOB = job
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: the workers only run torch
            pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                                          initializer=_worker_init)
        with bar(total=len(pending), desc=f"folds ({workers} processes)", unit="fold", progress=progress) as b:

            def done(result: tuple[int, float, float]) -> None:
                i, seconds, rate = result
                b.update(1)
                b.set_postfix(last=f"fold {i + 1}: {seconds:.0f} s, {rate:.0f} img/s", refresh=False)

            run_pool(pool, _worker_fold, [(i,) for i in pending], done)
    finally:
        _JOB = None
