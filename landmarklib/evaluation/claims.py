"""The paper's claims C1-C6 and their verdicts (the rules are in :mod:`landmarklib.evaluation.metrics`).

C1-C5 are *difference* comparisons of mean landmark errors (Fig. 2); C6 is a *ratio* comparison of
mean depth errors (Fig. 4): "the CNN reduces the depth error to about a third of the baseline's"
holds when the paired-bootstrap 95% CI of ``mean error CNN(depth) / mean error mean depth`` lies
below :data:`C6_LIMIT` = 2/3 (halfway between a third and no reduction), does not hold when it lies
above, and is inconclusive otherwise; a CI below :data:`C6_STRONGER` = 1/6 (half of a third) is noted
as "stronger than claimed", one at or above 1 as "no reduction".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import LandmarkError
from ..evaluation.metrics import bootstrap_ci, paper_summary, ratio_ci
from ..evaluation.results import METHODS, REGISTRY, method_label
from ..landmarks import landmark_names

__all__ = ["MUCH", "C6_LIMIT", "C6_STRONGER", "VERDICTS", "Comparison", "Claim", "CLAIMS", "claim", "less", "ratio_verdict", "compare", "claims_detail", "claims_table"]

#: Factor that turns "worse" into "much worse" and "a gain" into "a large gain" (see module docstring).
MUCH: float = 1.25

#: Claim C6 ("about a third"): the error ratio's CI must lie below 2/3, the midpoint between a third and
#: 1 (no reduction); below 1/6 (half of a third) the reduction is stronger than claimed.
C6_LIMIT: float = 2 / 3
C6_STRONGER: float = 1 / 6

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
    """``lhs < rhs`` (difference) or ``lhs / rhs < limit`` (ratio) on one task; each side a weighted
    sum of per-scan errors.

    Attributes
    ----------
    task
        ``"hand"`` or ``"body"``.
    text
        Human-readable statement, e.g. ``"CNN(ft) < CNN(MR), mean of 5 fingertips"``.
    lhs, rhs
        ``{(method, landmark): weight}``; a side's per-scan value is ``sum(weight * error)``.
    column
        The error of :func:`~landmarklib.evaluation.metrics.landmark_errors` compared:
        ``"error_px"`` (landmark error) or ``"depth_error"`` (voxels).
    ratio_limit, ratio_stronger
        ``None`` (a difference comparison: the paired difference ``lhs - rhs`` against 0), or a ratio
        comparison: ``mean(lhs) / mean(rhs)`` against ``ratio_limit``, with a note when the CI lies
        below ``ratio_stronger``.
    """

    task: str
    text: str
    lhs: Weights
    rhs: Weights
    column: str = "error_px"
    ratio_limit: float | None = None
    ratio_stronger: float | None = None

    @property
    def methods(self) -> set[str]:
        return {m for m, _ in self.lhs} | {m for m, _ in self.rhs}

    def weights(self) -> dict[tuple[str, str], float]:
        """``lhs - rhs`` as one weight table."""
        return _combine((1.0, self.lhs), (-1.0, self.rhs))


@dataclass(frozen=True)
class Claim:
    """One finding of the paper: an id (C1..C6), the statement, and the comparisons that test it."""

    id: str
    statement: str
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)


def less(task: str, a: str, b: str, landmarks: Sequence[str] | None = None, *, factor: float = 1.0,
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
    c3 = [less("hand", m, "RF") for m in ("NN(real)", "CNN(real)", "CNN(ft)")]
    c3 += [
        Comparison("hand", f"RF's excess on {name} < RF's excess on thumb", _rf_gap(name), _rf_gap("thumb"))
        for name in hand if name != "thumb"
    ]
    c3 += [
        less("body", "RF", other, [name])
        for name in ("shoulderL", "shoulderR", "head") for other in METHODS if other != "RF"
    ]
    return (
        Claim("C1", "On hands, CNN(ft) < CNN(MR) < NN(MR) in mean error.",
              (less("hand", "CNN(ft)", "CNN(real)"), less("hand", "CNN(real)", "NN(real)"))),
        Claim("C2", f"NN(syn) is much worse than NN(real) (at least {MUCH:g}x its mean error), hand and body.",
              (less("hand", "NN(real)", "NN(syn)", factor=MUCH), less("body", "NN(real)", "NN(syn)", factor=MUCH))),
        Claim("C3", "On hands, RF is worse than NN(MR), CNN(MR) and CNN(ft), most of all on the thumb "
              "(RF's excess over the mean of those three is largest there); on bodies, RF is the best "
              "method on both shoulders and the head.", tuple(c3)),
        Claim("C4", "On bodies, CNN(ft) has the lowest mean error of the three CNNs.",
              (less("body", "CNN(ft)", "CNN(syn)"), less("body", "CNN(ft)", "CNN(real)"))),
        Claim("C5", f"Fine-tuning gives a large gain over CNN(syn) (CNN(syn) at least {MUCH:g}x CNN(ft)) "
              "and beats CNN(real), on hands and bodies.",
              tuple(less(t, "CNN(ft)", "CNN(syn)", factor=MUCH) for t in ("hand", "body"))
              + tuple(less(t, "CNN(ft)", "CNN(real)") for t in ("hand", "body"))),
        Claim("C6", "On hands, the depth CNN reduces the depth error to about a third of the mean-depth "
              f"baseline's (CI of the error ratio below {C6_LIMIT:.3g}).",
              (Comparison("hand", f"CNN(depth) / mean depth < {C6_LIMIT:.3g} (depth error, mean of 5 fingertips)",
                          _mean_of("CNN(depth)", hand), _mean_of("mean depth", hand), column="depth_error",
                          ratio_limit=C6_LIMIT, ratio_stronger=C6_STRONGER),)),
    )


#: The paper's findings C1-C6.
CLAIMS: tuple[Claim, ...] = _build_claims()


def claim(claim_id: str) -> Claim:
    """The claim of :data:`CLAIMS` with this id (``"C1"`` ... ``"C6"``)."""
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise LandmarkError(f"no claim {claim_id!r}; the claims are {', '.join(c.id for c in CLAIMS)}")


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
    """``sum(weight * mean)`` of the paper's values (NaN if one is missing)."""
    lookup = {(r.method, r.landmark): r.mean for r in paper[paper["task"] == task].itertuples()}
    try:
        return float(sum(w * lookup[key] for key, w in weights.items()))
    except KeyError:
        return np.nan


def ratio_verdict(low: float, high: float, limit: float, stronger: float | None = None) -> tuple[str, str]:
    """Verdict and note of a ratio comparison from its CI: holds below ``limit``, does not hold above,
    else inconclusive; note ``"stronger than claimed"`` when the CI lies below ``stronger``, ``"no
    reduction"`` when it lies at or above 1.

    Examples
    --------
    >>> ratio_verdict(0.30, 0.37, C6_LIMIT, C6_STRONGER)
    ('holds', '')
    >>> ratio_verdict(0.85, 1.05, C6_LIMIT, C6_STRONGER)
    ('does not hold', '')
    """
    note = "stronger than claimed" if stronger is not None and high < stronger else "no reduction" if low >= 1 else ""
    return _verdict(low - limit, high - limit), note


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
    """Evaluate one comparison over the scans that have every term, with a 95% bootstrap CI.

    Returns
    -------
    dict
        ``task, comparison, n_scans, lhs, rhs`` (means over the paired scans), ``statistic``
        (``"difference"`` or ``"ratio"``), ``value, ci_low, ci_high`` (mean paired difference
        ``lhs - rhs``, or the ratio ``mean(lhs) / mean(rhs)``, with its paired-bootstrap CI),
        ``verdict`` (difference: CI below 0 holds, above 0 does not; ratio: the same against
        ``ratio_limit``), ``note``, ``paper_lhs, paper_rhs, paper_value`` (the same from the paper's
        figure means) and ``paper_verdict`` (the paper gives no spread: only the side of the bound).
    """
    paper = paper_summary(None) if paper is None else paper
    ratio = comparison.ratio_limit is not None
    bound = comparison.ratio_limit if ratio else 0.0
    lhs = _per_scan(errors, comparison.task, comparison.lhs, comparison.column)
    rhs = _per_scan(errors, comparison.task, comparison.rhs, comparison.column)
    common = lhs.index.intersection(rhs.index)
    p_lhs = _paper_value(comparison.task, comparison.lhs, paper)
    p_rhs = _paper_value(comparison.task, comparison.rhs, paper)
    p_value = p_lhs / p_rhs if ratio else p_lhs - p_rhs
    row: dict[str, object] = {
        "task": comparison.task, "comparison": comparison.text, "n_scans": len(common),
        "lhs": np.nan, "rhs": np.nan, "statistic": "ratio" if ratio else "difference",
        "value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "note": "",
        "paper_lhs": p_lhs, "paper_rhs": p_rhs, "paper_value": p_value,
        "paper_verdict": ("holds" if p_value < bound else "does not hold") if np.isfinite(p_value) else "",
    }
    present = set(errors.loc[errors["task"] == comparison.task, "method"].unique())
    absent = [m for m in REGISTRY if m in comparison.methods - present]
    if absent:
        row["verdict"] = f"not evaluated (missing: {', '.join(method_label(m, comparison.task) for m in absent)})"
        return row
    a, b = lhs[common].to_numpy(float), rhs[common].to_numpy(float)
    if ratio:
        value, low, high = ratio_ci(a, b, n_resamples=n_resamples, seed=seed)
        verdict, row["note"] = ratio_verdict(low, high, bound, comparison.ratio_stronger)
    else:
        value = float((a - b).mean()) if len(a) else np.nan
        low, high = bootstrap_ci(a - b, n_resamples=n_resamples, seed=seed)
        verdict = _verdict(low, high)
    row.update(lhs=float(a.mean()) if len(a) else np.nan, rhs=float(b.mean()) if len(b) else np.nan,
               value=value, ci_low=low, ci_high=high, verdict=verdict)
    return row


def claims_detail(
    errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, claims: Sequence[Claim] = CLAIMS
) -> pd.DataFrame:
    """Every comparison of every claim, one row each (see :func:`compare`), with a ``claim`` column."""
    paper = paper_summary(None)
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
    if not np.isfinite(row["value"]):
        return f"{row['comparison']}: {row['verdict']}"
    if row["statistic"] == "ratio":
        note = f" ({row['note']})" if row["note"] else ""
        return (f"{row['comparison']}: ratio {row['value']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}] "
                f"-> {row['verdict']}{note}")
    return (f"{row['comparison']}: {row['value']:+.2f} px [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}] "
            f"-> {row['verdict']}")


def _fmt_paper(row: pd.Series) -> str:
    if row["statistic"] == "ratio":
        return f"{row['comparison']}: ratio {row['paper_value']:.2f}"
    return f"{row['comparison']}: {row['paper_value']:+.1f} px"


def _scope(claim: Claim) -> dict[str, tuple[list[str], list[str]]]:
    """``{task: (methods, landmarks)}`` that the comparisons of ``claim`` touch, in paper order."""
    scope: dict[str, tuple[set[str], set[str]]] = {}
    for comp in claim.comparisons:
        methods, names = scope.setdefault(comp.task, (set(), set()))
        for method, name in (*comp.lhs, *comp.rhs):
            methods.add(method)
            names.add(name)
    return {task: ([m for m in REGISTRY if m in ms], [n for n in landmark_names(task) if n in ns])
            for task, (ms, ns) in scope.items()}


def _method_means(table: pd.DataFrame, value: str | None, claim: Claim) -> str:
    """``"hand: CNN(ft) 5.1 · CNN(MR) 7.0"``: mean of ``value`` over the claim's landmarks per method
    (``None``: the claim's own error column, :attr:`Comparison.column`)."""
    parts = []
    value = value or claim.comparisons[0].column
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
        Mean error per method over the landmarks the claim is about (ours: landmark error in patch
        px, or depth error in voxels for C6; paper: its Fig. 2 values, px in its own frame: compare
        rankings and ratios, not magnitudes; or its Fig. 4 values, voxels).
    verdict
        The comparisons combined as described in the module docstring.
    comparisons_holding
        How many of the claim's comparisons hold, e.g. ``2/2``.
    paper_agrees
        Whether the paper's own Fig. 2 means satisfy every comparison.
    comparisons, paper_comparisons
        Each comparison's mean paired difference ``lhs - rhs`` (patch px) or ratio with its 95%
        bootstrap CI and verdict; the same from the paper's means.
    """
    detail = claims_detail(errors, n_resamples=n_resamples, seed=seed, claims=claims) if detail is None else detail
    paper = paper_summary(None)
    rows = []
    for claim in claims:
        part = detail[detail["claim"] == claim.id]
        rows.append({
            "claim": claim.id,
            "statement": claim.statement,
            "ours": _method_means(errors, None, claim),
            "paper": _method_means(paper, "mean", claim),
            "verdict": _combine_verdicts(list(part["verdict"])),
            "comparisons_holding": f"{int((part['verdict'] == 'holds').sum())}/{len(part)}",
            "paper_agrees": bool((part["paper_verdict"] == "holds").all()),
            "comparisons": "; ".join(_fmt(r) for _, r in part.iterrows()),
            "paper_comparisons": "; ".join(_fmt_paper(r) for _, r in part.iterrows()),
        })
    return pd.DataFrame(rows)
