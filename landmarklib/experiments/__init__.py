"""One thin module per chapter: baselines, pretraining, fine-tuning, depth."""

from __future__ import annotations

from . import baselines, depth, finetuning, pretraining
from .baselines import BASELINE_METHODS, error_summary, fold_seed, run_baselines
from .depth import (
    BACKGROUND,
    DepthStats,
    DepthTransform,
    compare_2d,
    cross_validate_depth,
    default_model_factory,
    depth_inputs,
    depth_targets,
    fig4_table,
    mean_depth_baseline,
    normalize_depth,
    normalize_landmark_depth,
    outputs_to_predictions,
    predict_depth_cnn,
    pretrain_depth_cnn,
    run_depth_experiment,
)
from .finetuning import cross_validate, finetune, learning_curve, subject_subset, write_learning_curve
from .pretraining import load_pretrained, pretrain, synthetic_data

__all__ = ["baselines", "BASELINE_METHODS", "fold_seed", "run_baselines", "error_summary", "pretraining", "pretrain", "synthetic_data", "load_pretrained", "finetuning", "finetune", "cross_validate", "subject_subset", "learning_curve", "write_learning_curve", "depth", "BACKGROUND", "DepthStats", "DepthTransform", "compare_2d", "cross_validate_depth", "default_model_factory", "depth_inputs", "depth_targets", "fig4_table", "mean_depth_baseline", "normalize_depth", "normalize_landmark_depth", "outputs_to_predictions", "predict_depth_cnn", "pretrain_depth_cnn", "run_depth_experiment"]
