"""The paper's claims as its Sec. 4 states them, the orderings only its Fig. 2 shows, and their verdicts.

Each claim of :data:`CLAIMS` quotes the sentence(s) of the paper's Sec. 4 it comes from
(:attr:`Claim.quotes`, verbatim) and is tested by comparisons that say what the sentence says and no
more. The rules were fixed in this module before any result was seen; none is tuned:

* A comparison ``A < B`` (difference) holds when the 95% paired-bootstrap CI of the mean per-scan
  difference ``A - B`` lies below 0, does not hold when it lies above 0, and is inconclusive otherwise.
* "Much worse" and a "jump" mean at least :data:`MUCH` (= 1.25) times the error: ``MUCH * B < A``.
  Plain "not as good as", "better than", "inferior to" mean ``<`` without a factor.
* C6 is a ratio: "reduce the mean error [from ~3 voxels] to 1 voxel", i.e. to about a third of the
  baseline's. "About a third" is the band :data:`C6_BAND` = [7/24, 5/12] (the ratios closer to a third
  than to a quarter or to a half). It holds when the 95% paired-bootstrap CI of the ratio lies inside
  the band, does not hold when the CI lies entirely outside it, and is inconclusive when the CI
  straddles an edge; the note says whether the reduction is at least as strong as a third or weaker.
* A claim holds when all its comparisons hold, does not hold when one of them does not, and is
  inconclusive otherwise. No correction for multiple comparisons is applied (the per-comparison rows
  are reported beside the verdict).

Orderings that the paper's Fig. 2 shows but its text does not state are *not* part of any claim:
:func:`figure_orderings` lists them (the paper's ranking of the six methods by mean error over all
landmarks, tested pair by adjacent pair, minus the pairs a claim already tests) and
:func:`figure_table` tests them with the same rule, in a table of their own.

The mean-shape reference ("always answer the training-fold average",
:func:`~landmarklib.evaluation.metrics.mean_shape_reference`) is not a claim either: :func:`reference_detail`
tests every method against it and :func:`claims_table` adds it as a last row, ``ref``.

Verdicts are decided on the landmark error in patch pixels (the unit the networks regress in and the
unit of the paper's figure); the same comparison in millimetres is reported beside it
(``value_mm, ci_low_mm, ci_high_mm``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import LandmarkError
from ..evaluation.metrics import REFERENCE, bootstrap_ci, paper_summary, ratio_ci, task_label
from ..evaluation.results import METHODS, REGISTRY
from ..landmarks import landmark_names

__all__ = ["MUCH", "C6_BAND", "VERDICTS", "Comparison", "Claim", "CLAIMS", "claim", "less", "ratio_verdict",
           "compare", "claims_detail", "claims_table", "figure_orderings", "figure_table", "reference_detail"]

#: Factor that turns "worse" into "much worse" and a gain into a "jump" (see module docstring).
MUCH: float = 1.25

#: Claim C6, "about a third": the error ratios closer to a third than to a quarter (below 7/24) or to
#: a half (above 5/12).
C6_BAND: tuple[float, float] = (7 / 24, 5 / 12)

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
    """``lhs < rhs`` (difference) or ``lhs / rhs`` inside ``band`` (ratio) on one task; each side a
    weighted sum of per-scan errors.

    Attributes
    ----------
    task
        ``"hand"`` or ``"body"``.
    text
        Human-readable statement, e.g. ``"CNN(ft) < CNN(MR) (mean of 5 landmarks)"``.
    lhs, rhs
        ``{(method, landmark): weight}``; a side's per-scan value is ``sum(weight * error)``.
    column
        The error of :func:`~landmarklib.evaluation.metrics.landmark_errors` compared:
        ``"error_px"`` (landmark error, patch px; reported in mm too) or ``"depth_error"`` (voxels).
    band
        ``None`` (a difference comparison: the paired difference ``lhs - rhs`` against 0), or a ratio
        comparison: ``mean(lhs) / mean(rhs)`` against the band ``(low, high)``.
    """

    task: str
    text: str
    lhs: Weights
    rhs: Weights
    column: str = "error_px"
    band: tuple[float, float] | None = None

    @property
    def methods(self) -> set[str]:
        return {m for m, _ in self.lhs} | {m for m, _ in self.rhs}


@dataclass(frozen=True)
class Claim:
    """One finding of the paper.

    Attributes
    ----------
    id
        ``"C1"`` ... ``"C6"``.
    quotes
        The paper's sentence(s), verbatim (Sec. 4), that the claim comes from.
    statement
        What is tested, in words: the rule of :attr:`comparisons`.
    comparisons
        The comparisons; the claim's verdict combines theirs (module docstring).
    untested
        What the quoted sentences say that no comparison tests, and why (``""``: nothing).
    """

    id: str
    quotes: tuple[str, ...]
    statement: str
    comparisons: tuple[Comparison, ...] = field(default_factory=tuple)
    untested: str = ""


def less(task: str, a: str, b: str, landmarks: Sequence[str] | None = None, *, factor: float = 1.0,
         where: str | None = None) -> Comparison:
    """``factor * mean_err(a) < mean_err(b)`` over ``landmarks`` (all of the task's by default)."""
    names = list(landmarks or landmark_names(task))
    where = where or (f"mean of {len(names)} landmarks" if len(names) > 1 else names[0])
    la, lb = task_label(a, task), task_label(b, task)
    lhs_text = f"{factor:g} x {la}" if factor != 1 else la
    return Comparison(task, f"{lhs_text} < {lb} ({where})", _mean_of(a, names, factor), _mean_of(b, names))


_RF_RIVALS = ("NN(real)", "CNN(real)", "CNN(ft)")


def _rf_excess(landmarks: Sequence[str]) -> dict[tuple[str, str], float]:
    """Per scan: RF's error minus the mean error of NN(MR), CNN(MR), CNN(ft), averaged over ``landmarks``."""
    return _combine((1.0, _mean_of("RF", landmarks)), *[(-1 / 3, _mean_of(m, landmarks)) for m in _RF_RIVALS])


def _build_claims() -> tuple[Claim, ...]:
    hand = landmark_names("hand")
    others = [n for n in hand if n != "thumb"]
    body_rf = ("shoulderL", "shoulderR", "head")
    thumb = Comparison(
        "hand", "RF's excess over the mean of NN(MR), CNN(MR), CNN(ft): other 4 fingertips < thumb",
        _rf_excess(others), _rf_excess(["thumb"]))
    c6_text = f"{C6_BAND[0]:.3f} <= CNN(depth) / mean depth <= {C6_BAND[1]:.3f} (depth error, mean of 5 fingertips)"
    return (
        Claim("C1", ("However, the fine-tuning is still better than training the network on binary MR images only.",),
              "On hands, CNN(ft) has a lower mean error than CNN(MR).",
              (less("hand", "CNN(ft)", "CNN(real)"),)),
        Claim("C2", ("First, we can observe that the NN(syn) approach performs much worse than NN(MR).",
                     "The NN(syn) is not as good as the NN(CT)."),
              f"On hands NN(syn) has at least {MUCH:g} x NN(MR)'s mean error (\"much worse\"); on bodies "
              "NN(syn) has a higher mean error than NN(CT) (\"not as good as\").",
              (less("hand", "NN(real)", "NN(syn)", factor=MUCH), less("body", "NN(real)", "NN(syn)"))),
        Claim("C3", ("Finally, the method based on the random regression forest [3] is inferior to the NN(MR), "
                     "CNN(MR) and CNN(ft) methods. This is especially emphasized on the landmark with the most "
                     "variation, the thumb.",
                     "What remains as an open question is why the RF outperforms other approaches for the same "
                     "three landmarks."),
              "On hands, RF has a higher mean error than each of NN(MR), CNN(MR) and CNN(ft), and its excess over "
              "them is larger on the thumb than on the other fingertips; on bodies, RF has a lower error than every "
              "other method on each of the shoulders and the head (\"the same three landmarks\", those on which "
              "\"the NN(CT) fails\").",
              tuple(less("hand", m, "RF") for m in _RF_RIVALS) + (thumb,)
              + tuple(less("body", "RF", other, [name]) for name in body_rf for other in METHODS if other != "RF"),
              untested="\"the NN(CT) fails for the shoulder and head landmarks\" gives no criterion for failing; "
                       "those errors are in Fig. 2."),
        Claim("C4", ("The results are similar, but not as pronounced as in the first evaluation.",),
              "On bodies, the hand findings on the CNNs carry over without their size: CNN(ft) has a lower mean "
              "error than CNN(CT) and than CNN(syn).",
              (less("body", "CNN(ft)", "CNN(real)"), less("body", "CNN(ft)", "CNN(syn)")),
              untested="\"not as pronounced\" compares two cohorts of different scans and pixel sizes; no paired "
                       "test exists, the gains of both tasks are shown side by side."),
        Claim("C5", ("The same explanation might hold for the jump from CNN(syn) to CNN(ft).",),
                f"On hands, CNN(syn) has at least {MUCH:g} x CNN(ft)'s mean error (a \"jump\", read like \"much "
                "worse\" in the sentence before it).",
              (less("hand", "CNN(ft)", "CNN(syn)", factor=MUCH),)),
        Claim("C6", ("As expected we get a mean error of ~ 3 voxels, which correspondence to the ~ 3 voxels standard "
                     "deviation present in the dataset, as we stated in the previous section.",
                     "However, the CNN trained on the depth representation of the data can reduce the mean error to "
                     "1 voxel in the mean."),
              f"On hands, the depth CNN's mean depth error is about a third of the mean-depth baseline's: the "
              f"ratio lies in [{C6_BAND[0]:.3f}, {C6_BAND[1]:.3f}] (closer to a third than to a quarter or a half).",
              (Comparison("hand", c6_text, _mean_of("CNN(depth)", hand), _mean_of("mean depth", hand),
                          column="depth_error", band=C6_BAND),),
              untested="the absolute values (~3 and 1 voxel) depend on the voxel size, which differs between the "
                       "paper's cohort and ours; only their ratio is tested."),
    )


#: The paper's findings C1-C6, each with its sentence(s) from Sec. 4.
CLAIMS: tuple[Claim, ...] = _build_claims()


def claim(claim_id: str) -> Claim:
    """The claim of :data:`CLAIMS` with this id (``"C1"`` ... ``"C6"``)."""
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise LandmarkError(f"no claim {claim_id!r}; the claims are {', '.join(c.id for c in CLAIMS)}")


# --------------------------------------------------------------------------------------------------
# Evaluating comparisons
# --------------------------------------------------------------------------------------------------


def _per_scan(errors: pd.DataFrame, task: str, weights: Weights, column: str = "error_px") -> pd.Series:
    """``sum(weight * error)`` per subject over the subjects that have every weighted term."""
    part = errors[errors["task"] == task]
    if column not in part.columns:
        return pd.Series(dtype=float)
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


def ratio_verdict(low: float, high: float, band: tuple[float, float]) -> tuple[str, str]:
    """Verdict and note of a ratio comparison from its CI ``[low, high]`` and the claimed ``band``.

    Holds when the CI lies inside the band, does not hold when it lies entirely outside, else
    inconclusive. The note places the CI against the band: ``"stronger than claimed"`` (below it),
    ``"weaker than claimed"`` (above it), ``"no reduction"`` (at or above 1), ``"about as claimed"``
    (inside) or ``"straddles ..."``.

    Examples
    --------
    >>> ratio_verdict(0.30, 0.37, C6_BAND)
    ('holds', 'about as claimed')
    >>> ratio_verdict(0.85, 1.05, C6_BAND)
    ('does not hold', 'weaker than claimed')
    >>> ratio_verdict(0.10, 0.20, C6_BAND)
    ('does not hold', 'stronger than claimed')
    """
    lo_band, hi_band = band
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", ""
    if high < lo_band:
        return "does not hold", "stronger than claimed"
    if low > hi_band:
        return "does not hold", "no reduction" if low >= 1 else "weaker than claimed"
    if lo_band <= low and high <= hi_band:
        return "holds", "about as claimed"
    edge = "lower (stronger side)" if low < lo_band else "upper (weaker side)"
    return "inconclusive", f"straddles the band's {edge} edge"


def _verdict(low: float, high: float) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if high < 0:
        return "holds"
    if low > 0:
        return "does not hold"
    return "inconclusive"


def _paper_verdict(comparison: Comparison, value: float) -> str:
    if not np.isfinite(value):
        return ""
    if comparison.band is not None:
        return "holds" if comparison.band[0] <= value <= comparison.band[1] else "does not hold"
    return "holds" if value < 0 else "does not hold"


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
        ``lhs - rhs`` in patch px, or the ratio ``mean(lhs) / mean(rhs)``, with its paired-bootstrap
        CI), ``value_mm, ci_low_mm, ci_high_mm`` (the difference in mm over the same scans; NaN for a
        ratio or an unknown spacing), ``verdict``, ``note``, ``paper_lhs, paper_rhs, paper_value`` (the
        same from the paper's figure means, px in its own frame or voxels) and ``paper_verdict``
        (whether the paper's own means satisfy the rule; the paper gives no spread, so only the side
        of the bound).
    """
    paper = paper_summary(None) if paper is None else paper
    ratio = comparison.band is not None
    lhs = _per_scan(errors, comparison.task, comparison.lhs, comparison.column)
    rhs = _per_scan(errors, comparison.task, comparison.rhs, comparison.column)
    common = lhs.index.intersection(rhs.index)
    p_lhs = _paper_value(comparison.task, comparison.lhs, paper)
    p_rhs = _paper_value(comparison.task, comparison.rhs, paper)
    p_value = p_lhs / p_rhs if ratio else p_lhs - p_rhs
    row: dict[str, object] = {
        "task": comparison.task, "comparison": comparison.text, "n_scans": len(common),
        "lhs": np.nan, "rhs": np.nan, "statistic": "ratio" if ratio else "difference",
        "value": np.nan, "ci_low": np.nan, "ci_high": np.nan,
        "value_mm": np.nan, "ci_low_mm": np.nan, "ci_high_mm": np.nan, "note": "",
        "paper_lhs": p_lhs, "paper_rhs": p_rhs, "paper_value": p_value,
        "paper_verdict": _paper_verdict(comparison, p_value),
    }
    present = set(errors.loc[errors["task"] == comparison.task, "method"].unique())
    absent = [m for m in [*REGISTRY, REFERENCE] if m in comparison.methods - present]
    if absent:
        row["verdict"] = f"not evaluated (missing: {', '.join(task_label(m, comparison.task) for m in absent)})"
        return row
    a, b = lhs[common].to_numpy(float), rhs[common].to_numpy(float)
    if ratio:
        value, low, high = ratio_ci(a, b, n_resamples=n_resamples, seed=seed)
        verdict, row["note"] = ratio_verdict(low, high, comparison.band)
    else:
        value = float((a - b).mean()) if len(a) else np.nan
        low, high = bootstrap_ci(a - b, n_resamples=n_resamples, seed=seed)
        verdict = _verdict(low, high)
        if comparison.column == "error_px":
            mm = (_per_scan(errors, comparison.task, comparison.lhs, "error_mm")
                  - _per_scan(errors, comparison.task, comparison.rhs, "error_mm")).reindex(common).dropna()
            if len(mm):
                row["value_mm"] = float(mm.mean())
                row["ci_low_mm"], row["ci_high_mm"] = bootstrap_ci(mm.to_numpy(float), n_resamples=n_resamples,
                                                                   seed=seed)
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


# --------------------------------------------------------------------------------------------------
# Orderings that only Fig. 2 shows, and the mean-shape reference
# --------------------------------------------------------------------------------------------------


def _tested_by_claims(claims: Sequence[Claim]) -> set[tuple[str, str, str]]:
    """``(task, a, b)`` of every plain ``a < b`` over all of a task's landmarks that a claim tests."""
    out = set()
    for c in claims:
        for comp in c.comparisons:
            names = landmark_names(comp.task)
            if comp.band is None and len(comp.lhs) == len(comp.rhs) == len(names):
                (a,), (b,) = {m for m, _ in comp.lhs}, {m for m, _ in comp.rhs}
                out.add((comp.task, a, b))
    return out


def figure_orderings(claims: Sequence[Claim] = CLAIMS) -> tuple[Comparison, ...]:
    """The orderings the paper's Fig. 2 shows and its text does not state.

    Per task, the six methods ranked by the paper's own mean error over all landmarks (its Fig. 2
    values, :func:`~landmarklib.evaluation.metrics.paper_summary`); every adjacent pair of that ranking
    is one comparison ``better < worse``, unless a claim already tests it (C1's CNN(ft) < CNN(MR)).
    Computed from the paper's values alone, so fixed before any result of ours.
    """
    paper = paper_summary("fig2")
    tested = _tested_by_claims(claims)
    out = []
    for task in ("hand", "body"):
        means = paper[(paper["task"] == task) & paper["method"].isin(METHODS)].groupby("method")["mean"].mean()
        ranked = list(means.sort_values(kind="stable").index)
        for better, worse in zip(ranked, ranked[1:]):
            if (task, better, worse) not in tested:
                out.append(less(task, better, worse))
    return tuple(out)


def figure_table(
    errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, claims: Sequence[Claim] = CLAIMS,
) -> pd.DataFrame:
    """The "read off Fig. 2" table: each ordering of :func:`figure_orderings` tested like a claim's
    comparison (:func:`compare`), one row each; no combined verdict. ``paper_margin`` is the paper's
    own difference (px, its frame): a margin of a few tenths is within the error of reading bars."""
    paper = paper_summary(None)
    rows = [{"figure": "Fig. 2", **compare(errors, c, n_resamples=n_resamples, seed=seed, paper=paper)}
            for c in figure_orderings(claims)]
    table = pd.DataFrame(rows)
    return table.rename(columns={"paper_value": "paper_margin"}) if len(table) else table


def reference_detail(errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every Fig. 2 method against the mean shape: ``method < mean shape`` (mean over all landmarks),
    per task, tested like a claim's comparison. ``errors`` must hold the ``"mean shape"`` rows
    (:func:`~landmarklib.evaluation.metrics.mean_shape_reference` through ``landmark_errors``)."""
    paper = paper_summary(None)
    rows = [{"claim": "ref", **compare(errors, less(task, m, REFERENCE), n_resamples=n_resamples, seed=seed,
                                       paper=paper)}
            for task in ("hand", "body") for m in METHODS]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# The claims table
# --------------------------------------------------------------------------------------------------


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
    mm = (f"; {row['value_mm']:+.1f} mm [{row['ci_low_mm']:+.1f}, {row['ci_high_mm']:+.1f}]"
          if np.isfinite(row.get("value_mm", np.nan)) else "")
    return (f"{row['comparison']}: {row['value']:+.2f} px [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]{mm} "
            f"-> {row['verdict']}")


def _fmt_paper(row: pd.Series) -> str:
    if row["statistic"] == "ratio":
        return f"{row['comparison']}: ratio {row['paper_value']:.2f}"
    return f"{row['comparison']}: {row['paper_value']:+.1f} px"


def _scope(comparisons: Sequence[Comparison]) -> dict[str, tuple[list[str], list[str]]]:
    """``{task: (methods, landmarks)}`` that ``comparisons`` touch, in paper order."""
    scope: dict[str, tuple[set[str], set[str]]] = {}
    for comp in comparisons:
        methods, names = scope.setdefault(comp.task, (set(), set()))
        for method, name in (*comp.lhs, *comp.rhs):
            methods.add(method)
            names.add(name)
    return {task: ([m for m in [*REGISTRY, REFERENCE] if m in ms], [n for n in landmark_names(task) if n in ns])
            for task, (ms, ns) in scope.items()}


def _method_means(table: pd.DataFrame, value: str, comparisons: Sequence[Comparison], *, unit: str,
                  mm: str | None = None) -> str:
    """``"hand (all landmarks), px (mm): CNN(ft) 5.1 (10.7) · CNN(MR) 7.0 (14.6)"``: mean of ``value``
    (and of ``mm`` in brackets) over the comparisons' landmarks, per method."""
    parts = []
    for task, (methods, names) in _scope(comparisons).items():
        rows = table[(table["task"] == task) & table["landmark"].isin(names)]
        means = rows.groupby("method")[value].mean()
        means_mm = rows.groupby("method")[mm].mean() if mm and mm in rows.columns else pd.Series(dtype=float)
        shown = []
        for m in methods:
            if m in means.index and np.isfinite(means[m]):
                extra = f" ({means_mm[m]:.1f})" if m in means_mm.index and np.isfinite(means_mm[m]) else ""
                shown.append(f"{task_label(m, task)} {means[m]:.1f}{extra}")
        where = "all landmarks" if len(names) == len(landmark_names(task)) else ", ".join(names)
        units = f"{unit} (mm)" if mm and any("(" in s for s in shown) else unit
        parts.append(f"{task} ({where}), {units}: {' · '.join(shown) or 'no results'}")
    return "; ".join(parts)


def _reference_row(errors: pd.DataFrame, ref: pd.DataFrame) -> dict[str, object]:
    comps = [less(task, m, REFERENCE) for task in ("hand", "body") for m in METHODS]
    evaluated = ref[~ref["verdict"].str.startswith("not evaluated")]
    beat = [f"{r.task}: {r.comparison.split(' < ')[0]}" for r in evaluated.itertuples() if r.verdict == "holds"]
    means = _method_means(errors, "error_px", [c for c in comps if c.lhs], unit="px", mm="error_mm")
    return {
        "claim": "ref", "quote": "(not a claim: the reference every method should beat)",
        "statement": "Each method against the mean shape, which answers every scan with the mean landmark "
                     "positions of its fold's training scans: method < mean shape (mean of all landmarks).",
        "ours": means, "paper": "the paper shows no such reference",
        "verdict": "reference" if len(evaluated) else "not evaluated",
        "comparisons_holding": f"{len(beat)}/{len(evaluated)} beat it",
        "paper_agrees": None, "untested": "", "note": ", ".join(beat) or "none",
        "comparisons": "; ".join(_fmt(r) for _, r in ref.iterrows()),
        "paper_comparisons": "",
    }


def claims_table(
    errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, claims: Sequence[Claim] = CLAIMS,
    detail: pd.DataFrame | None = None, reference: bool = True,
) -> pd.DataFrame:
    """One row per claim: the paper's sentence, what is tested, our numbers, the paper's, the verdict;
    and, when ``errors`` holds the mean-shape rows and ``reference`` is true, a last row ``ref``.

    Columns
    -------
    quote
        The paper's sentence(s), Sec. 4, verbatim.
    statement
        What is tested (the rule in words).
    ours, paper
        Mean error per method over the landmarks the claim is about (ours: landmark error in patch
        px with mm in brackets, or depth error in voxels for C6; paper: its Fig. 2 values, px in its
        own unstated frame, or its Fig. 4 values, voxels).
    verdict
        The comparisons combined as described in the module docstring.
    comparisons_holding
        How many of the claim's comparisons hold, e.g. ``2/2``.
    paper_agrees
        Whether the paper's own Fig. 2 (Fig. 4) means satisfy every comparison of our rule.
    untested
        What the sentences say that is not tested.
    note
        The ``ref`` row: the methods that beat the mean shape (``"task: method"``).
    comparisons, paper_comparisons
        Each comparison's mean paired difference ``lhs - rhs`` (patch px, and mm) or ratio with its
        95% bootstrap CI and verdict; the same from the paper's means.
    """
    detail = claims_detail(errors, n_resamples=n_resamples, seed=seed, claims=claims) if detail is None else detail
    paper = paper_summary(None)
    rows = []
    for claim in claims:
        part = detail[detail["claim"] == claim.id]
        depth = claim.comparisons[0].column == "depth_error"
        rows.append({
            "claim": claim.id,
            "quote": " ".join(f"\u201c{q}\u201d" for q in claim.quotes),
            "statement": claim.statement,
            "ours": _method_means(errors, claim.comparisons[0].column, claim.comparisons,
                                  unit="voxels" if depth else "px", mm=None if depth else "error_mm"),
            "paper": _method_means(paper, "mean", claim.comparisons,
                                   unit="voxels" if depth else "px, the paper's frame"),
            "verdict": _combine_verdicts(list(part["verdict"])),
            "comparisons_holding": f"{int((part['verdict'] == 'holds').sum())}/{len(part)}",
            "paper_agrees": bool((part["paper_verdict"] == "holds").all()),
            "untested": claim.untested,
            "note": "",
            "comparisons": "; ".join(_fmt(r) for _, r in part.iterrows()),
            "paper_comparisons": "; ".join(_fmt_paper(r) for _, r in part.iterrows()),
        })
    if reference and REFERENCE in set(errors["method"]):
        rows.append(_reference_row(errors, reference_detail(errors, n_resamples=n_resamples, seed=seed)))
    return pd.DataFrame(rows)
