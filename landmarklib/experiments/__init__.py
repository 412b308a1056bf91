"""One thin module per chapter: baselines, pretraining, fine-tuning, depth."""

from __future__ import annotations

from . import baselines, depth, finetuning, pretraining
from .baselines import BASELINE_METHODS, baseline_claims, error_summary, fold_seed, run_baselines
from .depth import (
    BACKGROUND,
    C6_LIMIT,
    C6_STRONGER,
    C6_VERDICTS,
    DEPTH_METHODS,
    DepthStats,
    c6_verdict,
    claim_c6,
    compare_2d,
    crossvalidate_depth_cnn,
    default_model_factory,
    depth_errors,
    depth_frame,
    depth_offset,
    depth_spread,
    depth_targets,
    fig4_table,
    mean_depth_baseline,
    normalize_depth,
    normalize_landmark_depth,
    outputs_to_predictions,
    predict_depth_cnn,
    pretrain_depth_cnn,
    ratio_with_ci,
    read_depth_predictions,
    read_depth_summary,
    run_depth_experiment,
    shift_depth,
    spread_table,
    write_depth_predictions,
)
from .finetuning import cross_validate, finetune, learning_curve, subject_subset, write_learning_curve
from .pretraining import load_pretrained, pretrain, synthetic_data

__all__ = ["baselines", "BASELINE_METHODS", "fold_seed", "run_baselines", "error_summary", "baseline_claims", "pretraining", "pretrain", "synthetic_data", "load_pretrained", "finetuning", "finetune", "cross_validate", "subject_subset", "learning_curve", "write_learning_curve", "depth", "BACKGROUND", "DEPTH_METHODS", "C6_LIMIT", "C6_STRONGER", "C6_VERDICTS", "DepthStats", "normalize_depth", "normalize_landmark_depth", "depth_targets", "outputs_to_predictions", "depth_spread", "spread_table", "mean_depth_baseline", "depth_frame", "write_depth_predictions", "read_depth_predictions", "depth_errors", "fig4_table", "ratio_with_ci", "c6_verdict", "claim_c6", "compare_2d", "default_model_factory", "depth_offset", "shift_depth", "pretrain_depth_cnn", "predict_depth_cnn", "crossvalidate_depth_cnn", "run_depth_experiment", "read_depth_summary"]
