"""The prediction table, metrics, the claims table and the report helpers."""

from __future__ import annotations

from . import claims, metrics, report, results
from .claims import (
    C6_BAND,
    CLAIMS,
    MUCH,
    VERDICTS,
    Claim,
    Comparison,
    claim,
    claims_detail,
    claims_table,
    compare,
    figure_orderings,
    figure_table,
    less,
    reference_detail,
)
from .metrics import (
    METRICS,
    REFERENCE,
    beside_paper,
    bootstrap_ci,
    constant_methods,
    landmark_errors,
    mean_shape_reference,
    mm_per_patch_px,
    paper_summary,
    ratio_ci,
    scan_rmse,
    summarize,
    task_label,
)
from .report import (
    PAPER_PARAMETERS,
    SCALE_KEYS,
    claims_display,
    figure_display,
    load_predictions,
    method_means,
    missing_methods,
    paper_frame_readings,
    scale_sentence,
    summary_wide,
    training_scale,
    verdict_markdown,
    write_table,
)
from .results import (
    COLUMNS,
    DEPTH_COLUMNS,
    DEPTH_METHODS,
    METHODS,
    REGISTRY,
    Method,
    method_label,
    predictions_frame,
    read_predictions,
    read_provenance,
    write_predictions,
)

__all__ = ["results", "Method", "REGISTRY", "METHODS", "DEPTH_METHODS", "DEPTH_COLUMNS", "METRICS", "REFERENCE",
           "task_label", "mm_per_patch_px", "scan_rmse", "ratio_ci", "beside_paper", "C6_BAND", "claim", "less",
           "COLUMNS", "method_label", "predictions_frame", "write_predictions", "read_predictions", "read_provenance",
           "metrics", "landmark_errors", "mean_shape_reference", "constant_methods", "bootstrap_ci", "summarize",
           "paper_summary", "claims", "MUCH", "VERDICTS", "Comparison", "Claim", "CLAIMS", "compare",
           "claims_detail", "claims_table", "figure_orderings", "figure_table", "reference_detail", "report",
           "summary_wide", "method_means", "paper_frame_readings", "PAPER_PARAMETERS", "SCALE_KEYS",
           "training_scale", "scale_sentence", "load_predictions", "missing_methods", "write_table",
           "verdict_markdown", "claims_display", "figure_display"]
