import numpy as np
import pandas as pd
import pytest

import landmarklib as lm
from landmarklib.errors import LandmarkError
from landmarklib.evaluation.results import predictions_frame
from landmarklib.experiments import sensitivity
from landmarklib.landmarks import landmark_names
from landmarklib.paper import paper_values


def _predictions(errors_by_landmark, method="NN(real)", level="clean"):
    """Hand predictions whose per-landmark error is ``errors_by_landmark`` (px) on every scan."""
    k, n = len(errors_by_landmark), 6
    true = np.full((n, k, 2), 40.0)
    pred = true.copy()
    pred[:, :, 0] += np.asarray(errors_by_landmark)
    frame = predictions_frame(task="hand", method=method, fold=[i % 3 for i in range(n)],
                              subjects=[f"s{i}" for i in range(n)], pred_px=pred, true_px=true,
                              mm_per_px=np.ones((n, 2)))
    return frame.assign(realism=level)


def test_rank_correlation_with_fig2_is_one_for_the_papers_ranking_and_minus_one_reversed():
    paper = paper_values("fig2").drop_duplicates(["task", "method", "landmark"])
    ref = paper[(paper.task == "hand") & (paper.method == "NN(real)")].set_index("landmark")["value"]
    values = ref.reindex(landmark_names("hand")).to_numpy()
    same = _predictions(values)
    reverse = _predictions(values.max() + 1 - values, level="hard")
    rank = sensitivity.fig2_rank_correlation(pd.concat([same, reverse]))
    by_level = rank.set_index("realism")["spearman"]
    assert by_level["clean"] == pytest.approx(1.0) and by_level["hard"] == pytest.approx(-1.0)
    assert (rank["landmarks"] == 5).all()


def test_level_summary_has_the_mean_shape_reference_per_level():
    table = pd.concat([_predictions([1, 2, 3, 4, 5]), _predictions([2, 2, 2, 2, 2], level="paper")])
    summary = sensitivity.level_summary(table)
    assert set(summary["method"]) == {"NN(real)", "mean shape"}
    nn = summary[summary.method == "NN(real)"].assign(r=lambda d: d.realism.astype(str)).set_index("r")["mean_px"]
    assert nn["clean"] == pytest.approx(3.0) and nn["paper"] == pytest.approx(2.0)
    assert list(summary["realism"].astype(str).unique()) == ["clean", "paper"]  # ordered by level


def test_level_config_keys_results_by_level_and_refuses_nesting():
    cfg = lm.resolve("quick")
    hard = sensitivity.level_config(cfg, "hard")
    assert hard.realism == "hard" and hard.profile.startswith("quick/realism-hard-") and hard.seed == cfg.seed
    assert sensitivity.level_config(cfg, "clean").profile == "quick/realism-clean"
    # a level's config gives the same keys as the run's (its base profile is used), and still replaces
    assert sensitivity.level_config(hard, "paper") == sensitivity.level_config(cfg, "paper")
    assert hard.replace(seed=3).profile == hard.profile and hard.replace(seed=3).seed == 3
    with pytest.raises(LandmarkError, match="unknown realism level"):
        sensitivity.level_config(cfg, "brutal")
    assert len(sensitivity.plan(cfg)) == len(cfg.sensitivity_levels) * len(cfg.sensitivity_tasks)
    # a smaller ladder (the first n hands of each level's cohort) gets its own folders
    small = sensitivity.level_config(lm.resolve("cpu"), "clean")
    assert small.mr_subjects == 36 and small.profile == "cpu/realism-clean-n36"
    assert set(sensitivity.plan(lm.resolve("cpu"))["scans"]) == {36}
    with pytest.raises(LandmarkError, match="ladder level"):  # its 36 hands would lose the -n36 key
        sensitivity.level_config(small, "hard")


def test_main_chapters_on_another_level_write_under_that_level(tmp_path):
    """``-p realism hard`` on a main chapter: the full cohort, results under the level's key (never the
    clean cohort's folders)."""
    clean = lm.configure({"profile": "cpu"})
    hard = lm.configure({"profile": "cpu", "realism": "hard"})
    assert clean.profile == "cpu"
    assert hard.profile.startswith("cpu/realism-hard-") and "-n" not in hard.profile.split("hard-")[1]
    assert hard.mr_subjects == clean.mr_subjects == 132
    from landmarklib.paths import subdir

    assert subdir("results", hard.profile, renders_dir=tmp_path) != subdir("results", clean.profile, renders_dir=tmp_path)


def test_verdicts_by_level_judge_the_part_of_each_claim_on_the_tasks_run():
    from helpers_results import PAPER_LIKE, toy_predictions

    from tests.conftest import toy_landmark_set

    cohort = toy_landmark_set("hand", 12, seed=0)
    good = toy_predictions(cohort, PAPER_LIKE, seed=0).assign(realism="clean")
    # at "hard" CNN(ft) is much worse than CNN(MR): C1 must flip there
    flipped = toy_predictions(cohort, {**PAPER_LIKE, "CNN(ft)": 12.0, "CNN(real)": 5.0}, seed=0).assign(realism="hard")
    table = sensitivity.verdicts_by_level(pd.concat([good, flipped]), n_resamples=200)
    assert list(table.columns) == ["clean", "hard"]
    assert table.loc["C1", "clean"] == "holds" and table.loc["C1", "hard"] == "does not hold"  # hands only
    assert table.loc["C4", "clean"] == "not evaluated"  # a body-only claim
    assert table.loc["C2", "clean"].endswith("(hand part)")  # C2 compares hands and bodies
