"""claims: split out of landmarklib.evaluation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..evaluation.metrics import bootstrap_ci, paper_summary
from ..evaluation.results import METHODS, method_label
from ..landmarks import landmark_names

__all__ = ["MUCH", "VERDICTS", "Comparison", "Claim", "CLAIMS", "compare", "claims_detail", "claims_table"]

#: Factor that turns "worse" into "much worse" and "a gain" into "a large gain" (see module docstring).
MUCH: float = 1.25

#: The three verdicts, plus the one used when a method's predictions are missing.
VERDICTS: tuple[str, ...] = ("holds", "does not hold", "inconclusive", "not evaluated")

Weights = Mapping[tuple[str, str], float]


# --------------------------------------------------------------------------------------------------
# Comparisons and claims
# --------------------------------------------------------------------------------------------------


def _mean_of(method: str, landmarks: Iterable[str], factor: float = 1.0) -> dict[tuple[str, str], float]:
    landmarks = list(landmarks)
    return {(method, name): factor / len(landmarks) for name in landmarks}


def _combine(*parts: tuple[float, Weights]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for coef, weights in parts:
        for key, w in weights.items():
            out[key] = out.get(key, 0.0) + coef * w
    return out


@dataclass(frozen=True)
class Comparison:
    """``lhs < rhs`` on one task; each side a weighted sum of per-scan errors.

    Attributes
    ----------
    task
        ``"hand"`` or ``"body"``.
    text
        Human-readable statement, e.g. ``"CNN(ft) < CNN(MR), mean of 5 fingertips"``.
    lhs, rhs
        ``{(method, landmark): weight}``; a side's per-scan value is ``sum(weight * error)``.
    """

    task: str
    text: str
    lhs: Weights
    rhs: Weights

    @property
    def methods(self) -> set[str]:
        return {m for m, _ in self.lhs} | {m for m, _ in self.rhs}

    def weights(self) -> dict[tuple[str, str], float]:
        """``lhs - rhs`` as one weight table."""
        return _combine((1.0, self.lhs), (-1.0, self.rhs))


@dataclass(frozen=True)
class Claim:
    """One finding of the paper: an id (C1..C5), the statement, and the comparisons that test it."""

    id: str
    statement: str
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)


def _less(task: str, a: str, b: str, landmarks: Sequence[str] | None = None, *, factor: float = 1.0,
          where: str | None = None) -> Comparison:
    """``factor * mean_err(a) < mean_err(b)`` over ``landmarks`` (all of the task's by default)."""
    names = list(landmarks or landmark_names(task))
    where = where or (f"mean of {len(names)} landmarks" if len(names) > 1 else names[0])
    la, lb = method_label(a, task), method_label(b, task)
    lhs_text = f"{factor:g} x {la}" if factor != 1 else la
    return Comparison(task, f"{lhs_text} < {lb} ({where})", _mean_of(a, names, factor), _mean_of(b, names))


def _rf_gap(landmark: str) -> dict[tuple[str, str], float]:
    """Per scan: RF's error minus the mean error of NN(real), CNN(real), CNN(ft) on one landmark."""
    others = ("NN(real)", "CNN(real)", "CNN(ft)")
    return _combine((1.0, {("RF", landmark): 1.0}), *[(-1 / 3, {(m, landmark): 1.0}) for m in others])


def _build_claims() -> tuple[Claim, ...]:
    hand = landmark_names("hand")
    c3 = [_less("hand", m, "RF") for m in ("NN(real)", "CNN(real)", "CNN(ft)")]
    c3 += [
        Comparison("hand", f"RF's excess on {name} < RF's excess on thumb", _rf_gap(name), _rf_gap("thumb"))
        for name in hand if name != "thumb"
    ]
    c3 += [
        _less("body", "RF", other, [name])
        for name in ("shoulderL", "shoulderR", "head") for other in METHODS if other != "RF"
    ]
    return (
        Claim("C1", "On hands, CNN(ft) < CNN(MR) < NN(MR) in mean error.",
              (_less("hand", "CNN(ft)", "CNN(real)"), _less("hand", "CNN(real)", "NN(real)"))),
        Claim("C2", f"NN(syn) is much worse than NN(real) (at least {MUCH:g}x its mean error), hand and body.",
              (_less("hand", "NN(real)", "NN(syn)", factor=MUCH), _less("body", "NN(real)", "NN(syn)", factor=MUCH))),
        Claim("C3", "On hands, RF is worse than NN(MR), CNN(MR) and CNN(ft), most of all on the thumb "
              "(RF's excess over the mean of those three is largest there); on bodies, RF is the best "
              "method on both shoulders and the head.", tuple(c3)),
        Claim("C4", "On bodies, CNN(ft) has the lowest mean error of the three CNNs.",
              (_less("body", "CNN(ft)", "CNN(syn)"), _less("body", "CNN(ft)", "CNN(real)"))),
        Claim("C5", f"Fine-tuning gives a large gain over CNN(syn) (CNN(syn) at least {MUCH:g}x CNN(ft)) "
              "and beats CNN(real), on hands and bodies.",
              tuple(_less(t, "CNN(ft)", "CNN(syn)", factor=MUCH) for t in ("hand", "body"))
              + tuple(_less(t, "CNN(ft)", "CNN(real)") for t in ("hand", "body"))),
    )


#: The paper's findings C1-C5 (the depth claim belongs to :mod:`landmarklib.experiments.depth`).
CLAIMS: tuple[Claim, ...] = _build_claims()


def _per_scan(errors: pd.DataFrame, task: str, weights: Weights, column: str = "error_px") -> pd.Series:
    """``sum(weight * error)`` per subject over the subjects that have every weighted term."""
    part = errors[errors["task"] == task]
    wide = part.pivot_table(index="subject", columns=["method", "landmark"], values=column, aggfunc="mean")
    keys = list(weights)
    if any(key not in wide.columns for key in keys):
        return pd.Series(dtype=float)
    block = wide[keys].dropna()
    return pd.Series(block.to_numpy(float) @ np.array([weights[k] for k in keys]), index=block.index)


def _paper_value(task: str, weights: Weights, paper: pd.DataFrame) -> float:
    lookup = {(r.method, r.landmark): r.mean for r in paper[paper["task"] == task].itertuples()}
    try:
        return float(sum(w * lookup[key] for key, w in weights.items()))
    except KeyError:
        return np.nan


def _verdict(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if high < 0:
        return "holds"
    if low > 0:
        return "does not hold"
    return "inconclusive"


def compare(
    errors: pd.DataFrame, comparison: Comparison, *, n_resamples: int = 1000, seed: int = 0,
    paper: pd.DataFrame | None = None,
) -> dict[str, object]:
    """Evaluate one comparison: mean paired difference ``lhs - rhs`` over scans, its CI, the verdict.

    Returns
    -------
    dict
        ``task, comparison, n_scans, lhs, rhs`` (means over the paired scans, px), ``diff, ci_low,
        ci_high`` (mean paired difference and its 95% bootstrap CI, px), ``verdict``, and
        ``paper_diff`` / ``paper_verdict`` (the same difference from the paper's Fig. 2 means; the
        paper gives no spread, so its verdict is only the sign).
    """
    paper = paper_summary() if paper is None else paper
    lhs = _per_scan(errors, comparison.task, comparison.lhs)
    rhs = _per_scan(errors, comparison.task, comparison.rhs)
    common = lhs.index.intersection(rhs.index)
    paper_diff = _paper_value(comparison.task, comparison.weights(), paper)
    row: dict[str, object] = {
        "task": comparison.task, "comparison": comparison.text, "n_scans": len(common),
        "lhs": np.nan, "rhs": np.nan, "diff": np.nan, "ci_low": np.nan, "ci_high": np.nan,
        "paper_diff": paper_diff,
        "paper_verdict": ("holds" if paper_diff < 0 else "does not hold") if np.isfinite(paper_diff) else "",
    }
    present = set(errors.loc[errors["task"] == comparison.task, "method"].unique())
    absent = sorted(comparison.methods - present, key=METHODS.index)
    if absent:
        row["verdict"] = f"not evaluated (missing: {', '.join(method_label(m, comparison.task) for m in absent)})"
        return row
    diff = (lhs[common] - rhs[common]).to_numpy(float)
    low, high = bootstrap_ci(diff, n_resamples=n_resamples, seed=seed)
    row.update(lhs=float(lhs[common].mean()) if len(common) else np.nan,
               rhs=float(rhs[common].mean()) if len(common) else np.nan,
               diff=float(diff.mean()) if len(diff) else np.nan, ci_low=low, ci_high=high,
               verdict=_verdict(low, high))
    return row


def claims_detail(
    errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, claims: Sequence[Claim] = CLAIMS
) -> pd.DataFrame:
    """Every comparison of every claim, one row each (see :func:`compare`), with a ``claim`` column."""
    paper = paper_summary()
    rows = [
        {"claim": claim.id, **compare(errors, c, n_resamples=n_resamples, seed=seed, paper=paper)}
        for claim in claims for c in claim.comparisons
    ]
    return pd.DataFrame(rows)


def _combine_verdicts(verdicts: Sequence[str]) -> str:
    if any(v.startswith("not evaluated") for v in verdicts):
        return "not evaluated"
    if all(v == "holds" for v in verdicts):
        return "holds"
    if any(v == "does not hold" for v in verdicts):
        return "does not hold"
    return "inconclusive"


def _fmt(row: pd.Series) -> str:
    if not np.isfinite(row["diff"]):
        return f"{row['comparison']}: {row['verdict']}"
    return (f"{row['comparison']}: {row['diff']:+.2f} px [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}] "
            f"-> {row['verdict']}")


def _scope(claim: Claim) -> dict[str, tuple[list[str], list[str]]]:
    """``{task: (methods, landmarks)}`` that the comparisons of ``claim`` touch, in paper order."""
    scope: dict[str, tuple[set[str], set[str]]] = {}
    for comp in claim.comparisons:
        methods, names = scope.setdefault(comp.task, (set(), set()))
        for method, name in (*comp.lhs, *comp.rhs):
            methods.add(method)
            names.add(name)
    return {task: ([m for m in METHODS if m in ms], [n for n in landmark_names(task) if n in ns])
            for task, (ms, ns) in scope.items()}


def _method_means(table: pd.DataFrame, value: str, claim: Claim) -> str:
    """``"hand: CNN(ft) 5.1 · CNN(MR) 7.0"``: mean of ``value`` over the claim's landmarks per method."""
    parts = []
    for task, (methods, names) in _scope(claim).items():
        rows = table[(table["task"] == task) & table["landmark"].isin(names)]
        means = rows.groupby("method")[value].mean()
        shown = " · ".join(f"{method_label(m, task)} {means[m]:.1f}" for m in methods if m in means.index)
        where = "all landmarks" if len(names) == len(landmark_names(task)) else ", ".join(names)
        parts.append(f"{task} ({where}): {shown or 'no results'}")
    return "; ".join(parts)


def claims_table(
    errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, claims: Sequence[Claim] = CLAIMS,
    detail: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per claim: statement, our numbers, the paper's numbers, the verdict.

    Columns
    -------
    ours, paper
        Mean error per method over the landmarks the claim is about (ours: patch px; paper: its
        Fig. 2 values, px in its own frame: compare rankings and ratios, not magnitudes).
    verdict
        The comparisons combined as described in the module docstring.
    comparisons_holding
        How many of the claim's comparisons hold, e.g. ``2/2``.
    paper_agrees
        Whether the paper's own Fig. 2 means satisfy every comparison.
    comparisons, paper_comparisons
        Each comparison's mean paired difference ``lhs - rhs`` (patch px) with its 95% bootstrap CI
        and verdict; the same difference from the paper's means.
    """
    detail = claims_detail(errors, n_resamples=n_resamples, seed=seed, claims=claims) if detail is None else detail
    paper = paper_summary()
    rows = []
    for claim in claims:
        part = detail[detail["claim"] == claim.id]
        rows.append({
            "claim": claim.id,
            "statement": claim.statement,
            "ours": _method_means(errors, "error_px", claim),
            "paper": _method_means(paper, "mean", claim),
            "verdict": _combine_verdicts(list(part["verdict"])),
            "comparisons_holding": f"{int((part['verdict'] == 'holds').sum())}/{len(part)}",
            "paper_agrees": bool((part["paper_verdict"] == "holds").all()),
            "comparisons": "; ".join(_fmt(r) for _, r in part.iterrows()),
            "paper_comparisons": "; ".join(f"{r['comparison']}: {r['paper_diff']:+.1f} px" for _, r in part.iterrows()),
        })
    return pd.DataFrame(rows)
