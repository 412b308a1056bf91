"""The prediction table, metrics, the claims table and the report helpers."""

from __future__ import annotations

from . import claims, metrics, report, results
from .claims import CLAIMS, MUCH, VERDICTS, Claim, Comparison, claims_detail, claims_table, compare
from .metrics import (
    bootstrap_ci,
    constant_methods,
    landmark_errors,
    mean_shape_reference,
    paper_summary,
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
    METHODS,
    method_label,
    predictions_frame,
    read_predictions,
    read_provenance,
    write_predictions,
)

__all__ = ["results", "METHODS", "COLUMNS", "method_label", "predictions_frame", "write_predictions", "read_predictions", "read_provenance", "metrics", "landmark_errors", "mean_shape_reference", "constant_methods", "bootstrap_ci", "summarize", "paper_summary", "claims", "MUCH", "VERDICTS", "Comparison", "Claim", "CLAIMS", "compare", "claims_detail", "claims_table", "report", "summary_wide", "load_predictions", "missing_methods", "write_table", "verdict_markdown", "claims_display"]
