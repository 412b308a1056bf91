"""Training machinery shared by every method: fit/predict with checkpoints, folds, cross-validation."""

from __future__ import annotations

from . import crossval, folds, training
from .crossval import TargetTransform, cross_validate_arrays, fold_index
from .folds import SCHEMES, ensure_folds, folds_path, make_folds
from .training import (
    SEED_SALTS,
    Schedule,
    checkpoint_path,
    finetune_schedule,
    fit,
    l2_loss,
    predict,
    predict_set,
    pretrain_schedule,
    resolve_device,
    set_inputs,
    set_targets,
)

__all__ = ["training", "SEED_SALTS", "Schedule", "pretrain_schedule", "finetune_schedule", "resolve_device", "l2_loss", "set_inputs", "set_targets", "checkpoint_path", "fit", "predict", "predict_set", "folds", "SCHEMES", "make_folds", "folds_path", "ensure_folds", "crossval", "TargetTransform", "fold_index", "cross_validate_arrays"]
