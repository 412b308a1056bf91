"""Training machinery shared by every method: fit/predict with checkpoints, folds, cross-validation."""

from __future__ import annotations

from . import crossval, folds, training
from .crossval import cross_validate_arrays
from .folds import SCHEMES, ensure_folds, folds_path, make_folds
from .training import (
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

__all__ = ["training", "Schedule", "pretrain_schedule", "finetune_schedule", "resolve_device", "l2_loss", "set_inputs", "set_targets", "checkpoint_path", "fit", "predict", "predict_set", "folds", "SCHEMES", "make_folds", "folds_path", "ensure_folds", "crossval", "cross_validate_arrays"]
