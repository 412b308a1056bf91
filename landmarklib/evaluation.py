"""Metrics and the claims table: from the prediction tables to "does the paper's finding hold?".

Everything here reads the one long table of :mod:`landmarklib.results` (one row per scan and
landmark) and never a number typed by hand. The paper's own values come from
:func:`landmarklib.paper.paper_values`.

Error of one landmark on one scan
    The Euclidean distance between estimate and ground truth, ``sqrt(dx**2 + dy**2)``, in pixels of
    the task's patch (96 x 96 hand, 76 x 160 body), and in millimetres through the scan's spacing,
    ``sqrt((dx * mm_x)**2 + (dy * mm_y)**2)``. The paper calls its per-landmark measure an RMSE
    without saying over what; for one 2D point the root of the summed squares is this distance.
Per method and landmark
    Mean, standard deviation (``ddof=1``) and a 95% percentile-bootstrap confidence interval of the
    mean over scans (``cfg.bootstrap`` resamples, seeded; :func:`scipy.stats.bootstrap`).
Claims
    Each claim of the paper (:data:`CLAIMS`) is a set of *comparisons* ``lhs < rhs`` between
    quantities that are weighted sums of per-scan errors (for example "the mean error of CNN(ft) over
    the five fingertips"). For every comparison we form, per scan, the paired difference
    ``d = lhs - rhs`` over the scans that have every term, and bootstrap the mean of ``d``:

    * **holds** when the 95% bootstrap CI of the mean paired difference lies entirely below 0,
    * **does not hold** when it lies entirely above 0,
    * **inconclusive** otherwise (the CI contains 0, or fewer than 2 paired scans).

    A claim made of several comparisons *holds* when every comparison holds, *does not hold* when at
    least one comparison does not hold, and is *inconclusive* otherwise. No correction for multiple
    comparisons is applied; the per-comparison rows are reported next to the verdict.

    "Much worse" and "a large gain" are made precise with the factor :data:`MUCH` (= 1.25): "A is much
    worse than B" is the comparison ``MUCH * B < A`` (A has at least a quarter more error than B).
    This factor was fixed before any result was seen; it is not tuned.

The paper reports pixels in an unstated image frame, so only the *direction* of each comparison is
compared with the paper (its own numbers, put through the same comparison, are shown in the
``paper`` column), never raw pixel values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import LandmarkError
from .landmarks import landmark_names, parse_task
from .results import METHODS, method_label, read_predictions

__all__ = [
    "MUCH",
    "VERDICTS",
    "Comparison",
    "Claim",
    "CLAIMS",
    "landmark_errors",
    "mean_shape_reference",
    "constant_methods",
    "bootstrap_ci",
    "summarize",
    "paper_summary",
    "compare",
    "claims_table",
    "claims_detail",
    "load_predictions",
    "missing_methods",
    "write_table",
    "verdict_markdown",
    "summary_wide",
    "claims_display",
]

#: Factor that turns "worse" into "much worse" and "a gain" into "a large gain" (see module docstring).
MUCH: float = 1.25

#: The three verdicts, plus the one used when a method's predictions are missing.
VERDICTS: tuple[str, ...] = ("holds", "does not hold", "inconclusive", "not evaluated")

_ERROR_COLUMNS = ("task", "method", "fold", "subject", "landmark", "dx_px", "dy_px", "error_px", "error_mm")

Weights = Mapping[tuple[str, str], float]


# --------------------------------------------------------------------------------------------------
# Errors and their summaries
# --------------------------------------------------------------------------------------------------


def landmark_errors(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per scan and landmark error, in patch pixels and millimetres.

    Parameters
    ----------
    predictions
        A long table of :mod:`landmarklib.results` (columns ``task, method, fold, subject, landmark,
        x_true, y_true, x_pred, y_pred, mm_per_px_x, mm_per_px_y``).

    Returns
    -------
    pandas.DataFrame
        One row per input row: ``task, method, fold, subject, landmark``, ``dx_px, dy_px`` (estimate
        minus ground truth, patch px), ``error_px`` (Euclidean distance, patch px) and ``error_mm``
        (Euclidean distance in mm; NaN where the spacing is unknown).
    """
    needed = ("task", "method", "fold", "subject", "landmark", "x_true", "y_true", "x_pred", "y_pred",
              "mm_per_px_x", "mm_per_px_y")
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise LandmarkError(f"prediction table lacks columns {missing}; write it with results.predictions_frame")
    dx = predictions["x_pred"].to_numpy(float) - predictions["x_true"].to_numpy(float)
    dy = predictions["y_pred"].to_numpy(float) - predictions["y_true"].to_numpy(float)
    mmx = predictions["mm_per_px_x"].to_numpy(float)
    mmy = predictions["mm_per_px_y"].to_numpy(float)
    out = predictions[["task", "method", "fold", "subject", "landmark"]].copy()
    out["subject"] = out["subject"].astype(str)
    out["dx_px"], out["dy_px"] = dx, dy
    out["error_px"] = np.hypot(dx, dy)
    out["error_mm"] = np.hypot(dx * mmx, dy * mmy)
    return out.reset_index(drop=True)


def mean_shape_reference(predictions: pd.DataFrame, *, method: str = "NN(real)") -> pd.DataFrame:
    """The trivial estimator: every test scan gets the mean ground truth of its fold's training scans.

    A learned method that is not clearly better than this has learned nothing from the image (our
    first cpu run's CNNs collapsed to exactly this; see :mod:`landmarklib.training`). The folds are
    those of ``method``'s table (cross-validation: every other fold's scans are the training scans);
    a task whose table has a single fold has no such training scans and is left out.

    Returns
    -------
    pandas.DataFrame
        A prediction table like ``method``'s, with method ``"mean shape"`` and the estimates
        replaced; feed it to :func:`landmark_errors` / :func:`summarize`.
    """
    rows = predictions[predictions["method"] == method]
    out = []
    for _task, table in rows.groupby("task", sort=False):
        if table["fold"].nunique() < 2:
            continue
        for fold, test in table.groupby("fold", sort=False):
            train = table[table["fold"] != fold]
            mean = train.groupby("landmark")[["x_true", "y_true"]].mean()
            ref = test.copy()
            ref["method"] = "mean shape"
            ref["x_pred"] = mean.loc[test["landmark"], "x_true"].to_numpy()
            ref["y_pred"] = mean.loc[test["landmark"], "y_true"].to_numpy()
            out.append(ref)
    return pd.concat(out, ignore_index=True) if out else predictions.iloc[:0].copy()


def constant_methods(predictions: pd.DataFrame, *, fraction: float = 0.1) -> list[str]:
    """``"task: method"`` whose estimates barely move between scans.

    Per landmark and axis, the standard deviation of the estimates over scans, averaged, below
    ``fraction`` of the same for the ground truth. The 10 % is a sanity bound fixed in advance (a
    working estimator follows most of the true spread; a collapsed network has ~0 %), not tuned.
    """
    flagged = []
    for (task, method), table in predictions.groupby(["task", "method"], sort=False):
        by = table.groupby("landmark")
        pred = float(by[["x_pred", "y_pred"]].std().to_numpy().mean())
        true = float(by[["x_true", "y_true"]].std().to_numpy().mean())
        if len(table["subject"].unique()) > 1 and true > 0 and pred < fraction * true:
            flagged.append(f"{task}: {method_label(method, task)}")
    return flagged


def bootstrap_ci(
    values: np.ndarray, *, n_resamples: int, seed: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of ``values`` (``(n,)``); ``(nan, nan)`` when ``n < 2``.

    Uses :func:`scipy.stats.bootstrap` with ``method="percentile"`` and a seeded generator, so the
    same values and seed give the same interval.
    """
    from scipy.stats import bootstrap

    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return (np.nan, np.nan)
    if np.all(values == values[0]):  # no spread: the interval is the point (scipy warns otherwise)
        return (float(values[0]), float(values[0]))
    res = bootstrap(
        (values,), np.mean, n_resamples=int(n_resamples), confidence_level=confidence,
        method="percentile", vectorized=True, random_state=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(
    errors: pd.DataFrame, *, n_resamples: int = 1000, seed: int = 0, unit: str = "px"
) -> pd.DataFrame:
    """Per task, method and landmark: mean, std and 95% bootstrap CI of the error over scans.

    Parameters
    ----------
    errors
        Output of :func:`landmark_errors`.
    n_resamples, seed
        Bootstrap resamples (``cfg.bootstrap``) and seed (``cfg.seed``).
    unit
        ``"px"`` (patch pixels) or ``"mm"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``task, method, landmark, n, mean, std, ci_low, ci_high, unit``, methods in
        :data:`~landmarklib.results.METHODS` order and landmarks in the paper's order.
    """
    if unit not in ("px", "mm"):
        raise LandmarkError(f"unit must be 'px' or 'mm', got {unit!r}")
    column = f"error_{unit}"
    rows = []
    for (task, method, landmark), group in errors.groupby(["task", "method", "landmark"], sort=False):
        values = group[column].to_numpy(float)
        values = values[np.isfinite(values)]
        low, high = bootstrap_ci(values, n_resamples=n_resamples, seed=seed)
        rows.append({
            "task": task, "method": method, "landmark": landmark, "n": len(values),
            "mean": float(np.mean(values)) if len(values) else np.nan,
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
            "ci_low": low, "ci_high": high, "unit": unit,
        })
    table = pd.DataFrame(rows, columns=["task", "method", "landmark", "n", "mean", "std", "ci_low",
                                        "ci_high", "unit"])
    return _ordered(table)


def _ordered(table: pd.DataFrame) -> pd.DataFrame:
    """Sort by task (hand, body), method (Fig. 2 order) and landmark (paper order)."""
    if table.empty:
        return table
    order_l = {name: i for task in ("hand", "body") for i, name in enumerate(landmark_names(task))}
    key = pd.DataFrame({
        "t": table["task"].map({"hand": 0, "body": 1}),
        "m": table["method"].map({m: i for i, m in enumerate(METHODS)}),
        "l": table["landmark"].map(order_l),
    })
    return table.iloc[np.lexsort((key["l"], key["m"], key["t"]))].reset_index(drop=True)


def paper_summary() -> pd.DataFrame:
    """The paper's Fig. 2 values as a table shaped like :func:`summarize` (``mean`` only, px)."""
    from .paper import paper_values

    values = paper_values("fig2")
    table = values.rename(columns={"value": "mean"})[["task", "method", "landmark", "mean"]].copy()
    table["unit"] = "px (paper's frame)"
    return _ordered(table)


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


#: The paper's findings C1-C5 (the depth claim belongs to :mod:`landmarklib.depth`).
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


def summary_wide(summary: pd.DataFrame, task: str, *, digits: int = 1) -> pd.DataFrame:
    """``summary`` of one task as methods x landmarks, each cell ``mean ± std [ci_low, ci_high]``."""
    part = summary[summary["task"] == task]
    cell = part.apply(lambda r: f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f} "
                                f"[{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]", axis=1)
    if part.empty:
        return pd.DataFrame(columns=list(landmark_names(task)))
    wide = part.assign(cell=cell, label=part["method"].map(lambda m: method_label(m, task))).pivot(
        index="label", columns="landmark", values="cell")
    order = [method_label(m, task) for m in METHODS if method_label(m, task) in wide.index]
    return wide.loc[order, [n for n in landmark_names(task) if n in wide.columns]].rename_axis(index="method")


# --------------------------------------------------------------------------------------------------
# Reading the result files
# --------------------------------------------------------------------------------------------------


def load_predictions(
    profile: str, *, tasks: Sequence[str] = ("hand", "body"), renders_dir: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Every prediction table of ``profile`` for ``tasks``; an empty table where none exist yet.

    Unlike :func:`landmarklib.results.read_predictions` this does not raise when a task has no
    results, so the results page can say what is missing (:func:`missing_methods`) instead of
    stopping.
    """
    frames = []
    for task in tasks:
        parse_task(task)
        try:
            frames.append(read_predictions(profile, task=task, renders_dir=renders_dir))
        except LandmarkError:
            continue
    if not frames:
        from .results import COLUMNS

        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(frames, ignore_index=True)


def missing_methods(predictions: pd.DataFrame, *, tasks: Sequence[str] = ("hand", "body")) -> list[str]:
    """``"task: method"`` for every method of :data:`~landmarklib.results.METHODS` without predictions."""
    have = set(zip(predictions.get("task", []), predictions.get("method", [])))
    return [f"{task}: {method_label(m, task)}" for task in tasks for m in METHODS if (task, m) not in have]


def write_table(
    frame: pd.DataFrame, name: str, params: Mapping[str, object], *,
    renders_dir: str | os.PathLike | None = None, **extra: object,
) -> Path:
    """Write ``frame`` as ``renders/results/<profile>/<name>.csv`` with a provenance sidecar, atomically."""
    from .paths import subdir
    from .provenance import atomic_path, provenance, write_json

    path = subdir("results", str(params["profile"]), renders_dir=renders_dir) / f"{name}.csv"
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    write_json(path.with_suffix(".json"), provenance(params, table=name, rows=len(frame), **extra))
    return path


def verdict_markdown(table: pd.DataFrame, detail: pd.DataFrame, missing: Sequence[str] = ()) -> str:
    """A short markdown summary of the claims table: verdicts, where we and the paper differ, what is missing.

    Every sentence is generated from ``table`` (:func:`claims_table`) and ``detail``
    (:func:`claims_detail`); nothing is typed by hand.
    """
    lines = []
    for row in table.itertuples():
        part = detail[detail["claim"] == row.claim]
        line = f"- **{row.claim}: {row.verdict}** ({row.comparisons_holding} comparisons hold). {row.statement}"
        off = part[part["verdict"] != "holds"]
        if row.verdict not in ("holds", "not evaluated") and len(off):
            shown = "; ".join(f"{r.comparison}: {r.verdict}" for r in off.head(4).itertuples())
            more = f" and {len(off) - 4} more" if len(off) > 4 else ""
            line += f" Not confirmed: {shown}{more}."
        if not row.paper_agrees:
            line += " The paper's own Fig. 2 means do not satisfy every comparison either."
        lines.append(line)
    if missing:
        lines.append(f"- Missing predictions (claims that need them are not evaluated): {', '.join(missing)}.")
    return "\n".join(lines)


def claims_display(table: pd.DataFrame):
    """The claims table for a page: claim, statement, ours, paper, verdict; wide text columns kept readable.

    Returns a :class:`pandas.io.formats.style.Styler` (verdict cells coloured: green holds, red does
    not hold, grey otherwise).
    """
    columns = ["claim", "statement", "ours", "paper", "verdict", "comparisons_holding", "paper_agrees"]
    colors = {"holds": "#d9f2d9", "does not hold": "#f8d7d7"}
    return (
        table[columns].style.hide(axis="index")
        .set_properties(**{"font-size": "85%", "vertical-align": "top", "text-align": "left"})
        .set_properties(subset=["statement"], **{"min-width": "18em"})
        .set_properties(subset=["ours", "paper"], **{"min-width": "16em"})
        .map(lambda v: f"background-color: {colors.get(v, '#eeeeee')}", subset=["verdict"])
    )
