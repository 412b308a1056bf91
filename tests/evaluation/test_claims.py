import numpy as np
import pandas as pd
import pytest
from helpers_results import PAPER_LIKE, toy_landmark_set, toy_predictions

import landmarklib as lm
from landmarklib import LandmarkError
from landmarklib import evaluation as ev
from landmarklib.evaluation.results import METHODS, predictions_frame, write_predictions


def _one(task="hand", pred=None, truth=None, mm=None, method="CNN(ft)"):
    k = 5 if task == "hand" else 9
    truth = np.full((2, k, 2), 10.0) if truth is None else truth
    pred = truth + [3.0, 4.0] if pred is None else pred
    return predictions_frame(task=task, method=method, fold=0, subjects=["a", "b"], pred_px=pred,
                             true_px=truth, mm_per_px=mm)


def test_error_is_the_euclidean_distance_in_px_and_mm():
    err = ev.landmark_errors(_one(mm=np.array([[0.5, 2.0], [1.0, 1.0]])))
    assert np.allclose(err["error_px"], 5.0)
    a, b = err[err.subject == "a"], err[err.subject == "b"]
    assert np.allclose(a["error_mm"], np.hypot(1.5, 8.0)) and np.allclose(b["error_mm"], 5.0)
    assert np.allclose(err["dx_px"], 3.0) and np.allclose(err["dy_px"], 4.0)


def test_unknown_spacing_gives_nan_mm_and_missing_columns_are_refused():
    err = ev.landmark_errors(_one())
    assert err["error_mm"].isna().all()
    with pytest.raises(LandmarkError, match="lacks columns"):
        ev.landmark_errors(_one().drop(columns=["x_pred"]))


def test_summary_matches_numpy_and_the_ci_brackets_the_mean():
    truth = toy_landmark_set("body", 8)
    err = ev.landmark_errors(toy_predictions(truth, PAPER_LIKE))
    table = ev.summarize(err, n_resamples=500, seed=1)
    assert list(table["method"].unique()) == list(METHODS)
    assert list(table.loc[table.method == "RF", "landmark"]) == list(truth.landmark_names)
    for row in table.itertuples():
        values = err[(err.method == row.method) & (err.landmark == row.landmark)]["error_px"]
        assert row.n == 8
        assert row.mean == pytest.approx(values.mean()) and row.std == pytest.approx(values.std(ddof=1))
        assert row.ci_low < row.mean < row.ci_high
    mm = ev.summarize(err, n_resamples=500, seed=1, unit="mm")
    assert np.allclose(mm["mean"], table["mean"] * 0.5)


def test_bootstrap_is_seeded_and_widens_with_spread():
    rng = np.random.default_rng(0)
    x = rng.normal(10, 1, 30)
    assert ev.bootstrap_ci(x, n_resamples=300, seed=4) == ev.bootstrap_ci(x, n_resamples=300, seed=4)
    narrow = np.subtract(*ev.bootstrap_ci(x, n_resamples=300, seed=4)[::-1])
    wide = np.subtract(*ev.bootstrap_ci(10 + 5 * (x - 10), n_resamples=300, seed=4)[::-1])
    assert wide == pytest.approx(5 * narrow, rel=0.05)
    assert np.isnan(ev.bootstrap_ci([1.0], n_resamples=10, seed=0)).all()


def _claims(scale, *, n_hand=15, n_body=10, jitter=0.3, seed=0):
    frames = [toy_predictions(toy_landmark_set(t, n, seed=seed), scale, seed=seed, jitter=jitter)
              for t, n in (("hand", n_hand), ("body", n_body))]
    err = ev.landmark_errors(pd.concat(frames))
    return ev.claims_detail(err, n_resamples=500, seed=0), err


def test_c1_holds_when_the_ranking_is_the_papers_and_fails_when_reversed():
    detail, _ = _claims(PAPER_LIKE)
    assert set(detail.loc[detail.claim == "C1", "verdict"]) == {"holds"}
    reversed_scale = {**PAPER_LIKE, "CNN(ft)": 9.0, "NN(real)": 5.0}
    detail, _ = _claims(reversed_scale)
    assert set(detail.loc[detail.claim == "C1", "verdict"]) == {"does not hold"}


def test_equal_methods_are_inconclusive_not_a_verdict_either_way():
    rng = np.random.default_rng(3)
    # independent noise of equal size for CNN(ft) and CNN(real): no real difference
    truth = toy_landmark_set("hand", 12)
    frames = [toy_predictions(truth, {m: 6.0 for m in METHODS}, seed=s, methods=(m,))
              for s, m in zip(rng.integers(0, 1000, len(METHODS)), METHODS)]
    err = ev.landmark_errors(pd.concat(frames))
    row = ev.compare(err, ev.CLAIMS[0].comparisons[0], n_resamples=500, seed=0)
    assert row["ci_low"] < 0 < row["ci_high"] and row["verdict"] == "inconclusive"


def test_much_worse_on_hands_but_only_not_as_good_on_bodies():
    # NN(syn) 10 % worse than NN(real): "not as good as" (bodies) holds, "much worse" (hands, 1.25x) does not
    detail, _ = _claims({**PAPER_LIKE, "NN(syn)": 9.9, "NN(real)": 9.0}, jitter=0.05)
    c2 = detail[detail.claim == "C2"].set_index("task")["verdict"]
    assert c2["hand"] == "does not hold" and c2["body"] == "holds"
    detail, _ = _claims({**PAPER_LIKE, "NN(syn)": 15.0, "NN(real)": 9.0}, jitter=0.05)
    assert set(detail.loc[detail.claim == "C2", "verdict"]) == {"holds"}
    detail, _ = _claims({**PAPER_LIKE, "NN(syn)": 8.0, "NN(real)": 9.0}, jitter=0.05)
    assert set(detail.loc[detail.claim == "C2", "verdict"]) == {"does not hold"}


def test_paired_difference_and_paper_value_are_what_the_table_says():
    detail, err = _claims(PAPER_LIKE)
    row = detail[(detail.claim == "C1")].iloc[0]  # CNN(ft) < CNN(real) on hands
    per_scan = err[err.task == "hand"].groupby(["method", "subject"])["error_px"].mean()
    diff = per_scan["CNN(ft)"] - per_scan["CNN(real)"]
    assert row["value"] == pytest.approx(diff.mean()) and row["n_scans"] == 15 and row["statistic"] == "difference"
    paper = ev.paper_summary().query("task == 'hand'").groupby("method")["mean"].mean()
    assert row["paper_value"] == pytest.approx(paper["CNN(ft)"] - paper["CNN(real)"])


def test_claims_table_has_one_row_per_claim_and_missing_methods_are_named():
    detail, err = _claims(PAPER_LIKE)
    table = ev.claims_table(err, detail=detail)
    assert list(table["claim"]) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert set(table["verdict"]) <= set(ev.VERDICTS)
    assert table.loc[0, "paper_agrees"]  # the paper's own hand means satisfy C1
    no_rf = err[err.method != "RF"]
    table = ev.claims_table(no_rf, n_resamples=100)
    assert table.set_index("claim").loc["C3", "verdict"] == "not evaluated"
    assert "missing: RF" in table.set_index("claim").loc["C3", "comparisons"]
    assert table.set_index("claim").loc["C1", "verdict"] != "not evaluated"
    assert table.set_index("claim").loc["C6", "verdict"] == "not evaluated"  # no depth predictions here


def test_load_predictions_reports_missing_methods_instead_of_raising():
    assert ev.load_predictions("quick").empty
    assert len(ev.missing_methods(ev.load_predictions("quick"))) == 14  # 6 x 2 tasks + 2 depth (hand)
    truth = toy_landmark_set("hand", 4)
    frame = toy_predictions(truth, PAPER_LIKE, methods=("CNN(ft)",))
    write_predictions(frame, params={"profile": "quick", "seed": 0})
    loaded = ev.load_predictions("quick")
    assert len(loaded) == 20 and "hand: CNN(ft)" not in ev.missing_methods(loaded)
    assert "hand: CNN(MR)" in ev.missing_methods(loaded) and "body: CNN(ft)" in ev.missing_methods(loaded)


def test_claims_table_quotes_method_means_for_us_and_the_paper():
    detail, err = _claims(PAPER_LIKE)
    table = ev.claims_table(err, detail=detail).set_index("claim")
    ft = err[(err.task == "hand") & (err.method == "CNN(ft)")]["error_px"].mean()
    assert f"CNN(ft) {ft:.1f}" in table.loc["C1", "ours"] and "NN(MR)" in table.loc["C1", "ours"]
    assert "CNN(ft) 6.6" in table.loc["C1", "paper"]  # mean of 7.9 6.9 5.5 6.4 6.5 (Fig. 2)
    assert "body (shoulderL, shoulderR, head), px, the paper's frame: NN(syn) 45.7" in table.loc["C3", "paper"]
    assert f"CNN(ft) {ft:.1f} ({ft * 0.5:.1f})" in table.loc["C1", "ours"]  # px (mm), 0.5 mm per toy px
    html = ev.claims_display(table.reset_index()).to_html()
    assert "C5" in html and "min-width: 18em" in html


def test_summary_wide_is_methods_by_landmarks():
    _, err = _claims(PAPER_LIKE)
    summary = ev.summarize(err, n_resamples=100)
    wide = ev.summary_wide(summary, "body")
    assert list(wide.index) == ["NN(syn)", "NN(CT)", "RF", "CNN(syn)", "CNN(CT)", "CNN(ft)"]
    assert list(wide.columns)[0] == "footL" and " ± " in wide.iloc[0, 0] and "[" in wide.iloc[0, 0]


def test_one_scan_is_inconclusive_whatever_the_difference():
    _, err = _claims(PAPER_LIKE)
    one = err[err.subject == "s00"]
    row = ev.compare(one, ev.CLAIMS[0].comparisons[0], n_resamples=100)
    assert row["n_scans"] == 1 and row["value"] < 0 and row["verdict"] == "inconclusive"


def _cv_table(method, truth, pred, folds):
    n = len(truth)
    return pd.DataFrame({
        "task": "hand", "method": method, "fold": folds, "subject": [f"s{i}" for i in range(n)],
        "landmark": "thumb", "x_true": truth[:, 0], "y_true": truth[:, 1], "x_pred": pred[:, 0],
        "y_pred": pred[:, 1], "mm_per_px_x": 1.0, "mm_per_px_y": 1.0,
    })


def test_mean_shape_predicts_the_mean_of_the_other_folds():
    truth = np.array([[0.0, 0.0], [2.0, 4.0], [10.0, 10.0], [20.0, 30.0]])
    table = _cv_table("NN(real)", truth, truth, [0, 0, 1, 1])
    ref = ev.mean_shape_reference(table)
    assert set(ref["method"]) == {"mean shape"}
    np.testing.assert_allclose(ref[["x_pred", "y_pred"]].to_numpy(), [[15, 20], [15, 20], [1, 2], [1, 2]])
    assert ev.mean_shape_reference(_cv_table("NN(real)", truth, truth, [0, 0, 0, 0])).empty  # no training scans


def test_a_method_that_outputs_one_point_for_every_scan_is_flagged():
    rng = np.random.default_rng(0)
    truth = rng.normal(40, 5, (12, 2))
    good = _cv_table("NN(real)", truth, truth + rng.normal(0, 1, truth.shape), [0, 1, 2] * 4)
    collapsed = _cv_table("CNN(ft)", truth, np.tile([[40.2, 39.9]], (12, 1)) + rng.normal(0, 0.01, truth.shape),
                          [0, 1, 2] * 4)
    assert ev.constant_methods(pd.concat([good, collapsed])) == ["hand: CNN(ft)"]


def _with_depth(err_ratio: float, n: int = 20, seed: int = 0) -> pd.DataFrame:
    """Hand predictions of every method plus the two depth methods; CNN(depth)'s depth error is
    ``err_ratio`` times the baseline's on every scan and landmark (up to a 10 % jitter)."""
    rng = np.random.default_rng(seed)
    truth = toy_landmark_set("hand", n, seed=seed)
    depth_true = rng.normal(80, 5, (n, 5))
    base_err = rng.uniform(2, 4, (n, 5))
    common = dict(task="hand", fold=0, subjects=truth.ids, true_px=truth.landmarks, depth_true=depth_true)
    frames = [toy_predictions(truth, PAPER_LIKE, seed=seed),
              predictions_frame(method="mean depth", pred_px=None, depth_pred=depth_true + base_err, **common),
              predictions_frame(method="CNN(depth)", pred_px=truth.landmarks + 1,
                                depth_pred=depth_true - err_ratio * base_err * rng.uniform(0.9, 1.1, (n, 5)),
                                **common)]
    return ev.landmark_errors(pd.concat(frames, ignore_index=True))


@pytest.mark.parametrize(("ratio", "verdict", "note"), [
    (1 / 3, "holds", "about as claimed"), (0.1, "does not hold", "stronger than claimed"),
    (0.7, "does not hold", "weaker than claimed"), (1.3, "does not hold", "no reduction")])
def test_claims_table_lists_c6_with_its_band_rule(ratio, verdict, note):
    err = _with_depth(ratio)
    table = ev.claims_table(err, n_resamples=300).set_index("claim")
    assert list(table.index) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert table.loc["C6", "verdict"] == verdict and table.loc["C6", "paper_agrees"]  # the paper's 0.33
    assert "mean depth" in table.loc["C6", "ours"] and "CNN(depth) 0.9" in table.loc["C6", "paper"]
    assert "voxels" in table.loc["C6", "ours"]
    row = ev.claims_detail(err, n_resamples=300, claims=[ev.claim("C6")]).iloc[0]
    assert row["value"] == pytest.approx(ratio, rel=0.06) and row["note"] == note
    assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_c6_title_and_rule_say_about_a_third():
    c6 = ev.claim("C6")
    low, high = ev.C6_BAND
    assert low < 1 / 3 < high and "about a third" in c6.statement and f"{high:.3f}" in c6.statement
    assert c6.comparisons[0].band == ev.C6_BAND


def test_ratio_verdict_rule():
    band = ev.C6_BAND
    assert ev.claims.ratio_verdict(0.30, 0.40, band) == ("holds", "about as claimed")
    assert ev.claims.ratio_verdict(0.20, 0.40, band)[0] == "inconclusive"  # straddles the lower edge
    assert ev.claims.ratio_verdict(0.35, 0.60, band) == ("inconclusive", "straddles the band's upper (weaker side) edge")
    assert ev.claims.ratio_verdict(0.50, 0.90, band) == ("does not hold", "weaker than claimed")
    assert ev.claims.ratio_verdict(0.05, 0.20, band) == ("does not hold", "stronger than claimed")
    assert ev.claims.ratio_verdict(np.nan, np.nan, band) == ("inconclusive", "")
    with pytest.raises(LandmarkError):
        ev.claim("C7")


def test_ratio_ci_is_paired_and_exact_without_spread():
    rng = np.random.default_rng(0)
    base = rng.uniform(2, 4, 60)
    assert ev.ratio_ci(base / 3, base, n_resamples=200, seed=0) == pytest.approx((1 / 3,) * 3)
    ratio, lo, hi = ev.ratio_ci(base * rng.uniform(0.2, 0.5, 60), base, n_resamples=500, seed=0)
    assert lo < ratio < hi < 0.5 and lo > 0.2
    unpaired_width = hi - lo
    ratio, lo, hi = ev.ratio_ci(base * 0.35 * rng.uniform(0.95, 1.05, 60), base, n_resamples=500, seed=0)
    assert hi - lo < unpaired_width / 3  # pairing removes the scans' common spread
    with pytest.raises(LandmarkError):
        ev.ratio_ci(base, base[:5], n_resamples=10, seed=0)


def test_scan_rmse_and_landmark_error_are_the_defined_metrics():
    table = pd.DataFrame({
        "task": "hand", "method": "CNN(ft)", "fold": 0, "subject": "a", "landmark": ["thumb", "index"],
        "x_true": [0.0, 0.0], "y_true": [0.0, 0.0], "x_pred": [3.0, 0.0], "y_pred": [4.0, 1.0],
        "mm_per_px_x": 1.0, "mm_per_px_y": 2.0,
    })
    err = ev.landmark_errors(table)
    assert err["error_px"].tolist() == [5.0, 1.0] and err["error_mm"].tolist() == pytest.approx([np.hypot(3, 8), 2.0])
    assert err["depth_error"].isna().all()
    rmse = ev.scan_rmse(err)
    assert rmse["rmse"].iloc[0] == pytest.approx(np.sqrt((25 + 1) / 2))  # > the mean landmark error, 3
    assert set(ev.METRICS) == {"landmark error", "scan RMSE", "depth error"}


def test_summarize_keeps_each_figure_to_its_methods():
    err = _with_depth(0.4)
    fig2 = ev.summarize(err, n_resamples=50)
    assert set(fig2["method"]) == set(METHODS)
    fig4 = ev.beside_paper(ev.summarize(err, n_resamples=50, unit="voxel"), "fig4")
    assert list(dict.fromkeys(fig4["method"])) == ["mean depth", "CNN(depth)"]
    assert fig4.loc[0, "paper"] == pytest.approx(2.62) and (fig4["n"] == 20).all()


# --------------------------------------------------------------------------------------------------
# The claims as the paper states them, the figure-only orderings, the mean-shape row, mm columns
# --------------------------------------------------------------------------------------------------


def _paper_text():
    import re
    from pathlib import Path

    here = Path(__file__).resolve()
    for root in (*here.parents, Path("/work")):
        path = root / "shared" / "paper" / "riegler2015.txt"
        if path.is_file():
            return re.sub(r"\s+", " ", re.sub(r"-\n", "", path.read_text()))
    pytest.skip("the paper's text (shared/paper) is not beside this checkout")


def test_every_claim_quotes_the_paper_verbatim():
    text = _paper_text()
    for c in ev.CLAIMS:
        assert c.quotes and all(q in text for q in c.quotes), c.id


def test_c1_is_only_what_its_sentence_says():
    (only,) = ev.claim("C1").comparisons
    assert only.methods == {"CNN(ft)", "CNN(real)"} and only.task == "hand"
    # "CNN(MR) < NN(MR)" is only read off the figure: it sits in the figure table, not in C1
    texts = [c.text for c in ev.figure_orderings()]
    assert "CNN(MR) < NN(MR) (mean of 5 landmarks)" in texts
    assert not any("CNN(ft) < CNN(MR)" in t for t in texts)  # C1 tests it already


def _per_landmark(task, errors, n=15, jitter=0.05, seed=0, folds=1):
    """Predictions at ``errors[method][j]`` px (x (1 + jitter N(0,1))) from the truth, random direction."""
    truth = toy_landmark_set(task, n, seed=seed)
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, truth.landmarks.shape[:2])
    size = 1 + jitter * rng.normal(size=angle.shape)
    direction = np.stack([np.cos(angle), np.sin(angle)], -1)
    frames = []
    for method, err in errors.items():
        pred = truth.landmarks + (np.asarray(err, float) * size)[..., None] * direction
        frames.append(predictions_frame(task=task, method=method, fold=np.arange(n) % folds, subjects=truth.ids,
                                        pred_px=pred, true_px=truth.landmarks, mm_per_px=truth.mm_per_px))
    return pd.concat(frames, ignore_index=True)


def _c3_hand(rf):
    errors = {m: np.full(5, e) for m, e in (("NN(real)", 6.0), ("CNN(real)", 6.0), ("CNN(ft)", 5.0))}
    err = ev.landmark_errors(_per_landmark("hand", {**errors, "RF": np.asarray(rf, float)}))
    return ev.claims_detail(err, n_resamples=300, claims=[ev.claim("C3")]).query("task == 'hand'")


def test_c3_on_hands_is_rf_inferior_to_three_methods_especially_on_the_thumb():
    detail = _c3_hand([14.0, 8.0, 8.0, 8.0, 8.0])  # worse everywhere, most of all on the thumb
    assert set(detail["verdict"]) == {"holds"} and len(detail) == 4
    detail = _c3_hand([8.0, 8.0, 8.0, 8.0, 8.0])  # worse, but not especially on the thumb
    thumb = detail[detail.comparison.str.contains("thumb")]
    assert thumb["verdict"].item() != "holds" and (detail["verdict"] == "holds").sum() == 3
    detail = _c3_hand([6.0, 9.0, 9.0, 9.0, 9.0])  # worse on average, least on the thumb
    assert detail[detail.comparison.str.contains("thumb")]["verdict"].item() == "does not hold"
    detail = _c3_hand([4.0, 4.0, 4.0, 4.0, 4.0])  # better than all three: not inferior
    assert (detail["verdict"] == "does not hold").sum() >= 3


def test_the_papers_own_means_satisfy_every_claim_rule():
    # a fact about the rules, computed from the paper's Fig. 2 and Fig. 4 values alone
    detail, _ = _claims(PAPER_LIKE)
    assert (detail["paper_verdict"] == "holds").all()
    assert len(ev.figure_orderings()) == 9  # 5 adjacent pairs per task, minus C1's


def test_figure_table_tests_each_ordering_apart_from_the_claims():
    _, err = _claims(PAPER_LIKE, jitter=0.05)
    table = ev.figure_table(err, n_resamples=300)
    assert "claim" not in table.columns and list(table["figure"].unique()) == ["Fig. 2"]
    verdict = table.set_index(["task", "comparison"])["verdict"]
    assert verdict[("hand", "CNN(MR) < NN(MR) (mean of 5 landmarks)")] == "holds"  # 7 < 9
    assert verdict[("hand", "CNN(syn) < RF (mean of 5 landmarks)")] == "inconclusive"  # 11 = 11
    assert verdict[("body", "NN(syn) < CNN(syn) (mean of 9 landmarks)")] == "does not hold"  # 15 > 11
    assert (table["paper_margin"] < 0).all()  # the paper's own ranking, by construction
    assert np.allclose(table["value_mm"], table["value"] * 0.5, atol=1e-9)  # 0.5 mm per toy px
    html = ev.figure_display(table).to_html()
    assert "ours, mm [95% CI]" in html and "paper margin, px" in html


def test_mean_shape_reference_row_says_which_methods_beat_it():
    pred = pd.concat([_per_landmark(t, {**{m: np.full(k, 3.0) for m in METHODS}, "NN(syn)": np.full(k, 60.0)},
                                    n=12, folds=3) for t, k in (("hand", 5), ("body", 9))], ignore_index=True)
    errors = pd.concat([ev.landmark_errors(pred), ev.landmark_errors(ev.mean_shape_reference(pred))])
    table = ev.claims_table(errors, n_resamples=300).set_index("claim")
    assert list(table.index)[-1] == "ref" and table.loc["ref", "verdict"] == "reference"
    assert table.loc["ref", "comparisons_holding"] == "10/12 beat it"  # all but NN(syn), on both tasks
    assert "mean shape" in table.loc["ref", "ours"] and "NN(syn) < mean shape" in table.loc["ref", "comparisons"]
    ref = ev.reference_detail(errors, n_resamples=300).set_index(["task", "comparison"])["verdict"]
    assert ref[("hand", "NN(syn) < mean shape (mean of 5 landmarks)")] == "does not hold"
    summary = ev.summarize(errors, n_resamples=100)
    assert summary["method"].iloc[-1] == "mean shape" and "mean shape" in ev.summary_wide(summary, "hand").index
    assert "mean shape" not in set(ev.claims_table(errors, n_resamples=100, reference=False)["claim"])


def test_detail_and_summaries_give_mm_beside_px():
    detail, err = _claims(PAPER_LIKE)
    row = detail[detail.claim == "C1"].iloc[0]
    per_scan = err[err.task == "hand"].groupby(["method", "subject"])["error_mm"].mean()
    assert row["value_mm"] == pytest.approx((per_scan["CNN(ft)"] - per_scan["CNN(real)"]).mean())
    assert row["ci_low_mm"] < row["value_mm"] < row["ci_high_mm"]
    summary = ev.summarize(err, n_resamples=100)
    summary_mm = ev.summarize(err, n_resamples=100, unit="mm")
    cell = ev.summary_wide(summary, "hand", summary_mm=summary_mm).loc["CNN(ft)", "thumb"]
    assert cell.endswith(" mm)") and " ± " in cell
    pred = pd.concat([toy_predictions(toy_landmark_set(t, 6), PAPER_LIKE) for t in ("hand", "body")])
    scale = ev.mm_per_patch_px(pred)
    assert scale.loc["hand", "median"] == 0.5 and scale.loc["body", "scans"] == 6
    means = ev.method_means(summary, summary_mm, scale)
    assert list(means.columns) == ["ours px", "ours mm", "paper px", "paper mm, reading (a)"]
    assert means.loc[("hand", "CNN(ft)"), "paper mm, reading (a)"] == pytest.approx(6.64 * 0.5)
    assert means.loc[("body", "CNN(CT)"), "ours mm"] == pytest.approx(means.loc[("body", "CNN(CT)"), "ours px"] * 0.5)


def test_paper_frame_readings_show_both_readings_without_inventing_a_voxel_size():
    scale = pd.DataFrame({"median": [2.0, 13.0]}, index=pd.Index(["hand", "body"], name="task"))
    readings = ev.paper_frame_readings(scale)
    assert readings.loc["body", "paper px"] == "9.0-84.2" and readings.loc["body", "(a) patch px: mm"] == "117-1095"
    assert (readings["(b) original-image px: voxel size"] == "none found").all()
    assert (readings["(b) mm"] == "unknown").all()


def test_training_scale_is_each_profile_over_the_papers():
    table = ev.training_scale()
    assert table.loc["finetune_epochs", "cpu / paper"] == pytest.approx(lm.PROFILES["cpu"]["finetune_epochs"] / 700)
    assert table.loc["hand_renders", "quick"] == lm.PROFILES["quick"]["hand_renders"]
    assert table.loc["mr_subjects", "paper's value from"].startswith("Sec. 3")
    assert table.loc["depth_renders", "paper's value from"].startswith("ours")


def test_verdict_text_comes_from_the_tables_and_the_profile():
    detail, err = _claims(PAPER_LIKE)
    table = ev.claims_table(err, detail=detail)
    figure = ev.figure_table(err, n_resamples=100)
    scale = ev.mm_per_patch_px(pd.concat([toy_predictions(toy_landmark_set("hand", 4), PAPER_LIKE)]))
    cfg = lm.resolve("quick", {"finetune_epochs": 7})
    text = ev.verdict_markdown(table, detail, ["body: RF"], figure=figure, readings=ev.paper_frame_readings(scale),
                               cfg=cfg)
    assert "fine-tuning for 7 (paper 700) epochs" in text and "ten fine-tuning" not in text
    assert "**C1: holds**" in text and "Read off Fig. 2" in text and "none was found" in text
    assert "body: RF" in text and text.count("\n- ") >= 8
