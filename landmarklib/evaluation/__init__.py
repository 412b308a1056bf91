"""The prediction table, metrics, the claims table and the report helpers."""

from __future__ import annotations

from . import claims, metrics, report, results
from .claims import (
    C6_LIMIT,
    C6_STRONGER,
    CLAIMS,
    MUCH,
    VERDICTS,
    Claim,
    Comparison,
    claim,
    claims_detail,
    claims_table,
    compare,
    less,
)
from .metrics import (
    METRICS,
    beside_paper,
    bootstrap_ci,
    constant_methods,
    landmark_errors,
    mean_shape_reference,
    paper_summary,
    ratio_ci,
    scan_rmse,
    summarize,
)
from .report import (
    claims_display,
    load_predictions,
    missing_methods,
    summary_wide,
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

__all__ = ["results", "Method", "REGISTRY", "METHODS", "DEPTH_METHODS", "DEPTH_COLUMNS", "METRICS", "scan_rmse", "ratio_ci", "beside_paper", "C6_LIMIT", "C6_STRONGER", "claim", "less", "COLUMNS", "method_label", "predictions_frame", "write_predictions", "read_predictions", "read_provenance", "metrics", "landmark_errors", "mean_shape_reference", "constant_methods", "bootstrap_ci", "summarize", "paper_summary", "claims", "MUCH", "VERDICTS", "Comparison", "Claim", "CLAIMS", "compare", "claims_detail", "claims_table", "report", "summary_wide", "load_predictions", "missing_methods", "write_table", "verdict_markdown", "claims_display"]
