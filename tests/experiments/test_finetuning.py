import numpy as np
import pandas as pd

from landmarklib import resolve
from landmarklib.engine.folds import ensure_folds
from landmarklib.experiments.finetuning import learning_curve, subject_subset
from landmarklib.provenance import read_json
from landmarklib.viz.figures import learning_curve_path
from tests.conftest import rectangles


def _cfg(**over):
    return resolve("quick", {"finetune_epochs": 1, "finetune_lr_drop_after": 1, "pretrain_epochs": 1,
                             "batch_size": 10, **over})


def test_subsets_come_only_from_training_subjects_and_are_seeded():
    ids = [f"s{i:02d}" for i in range(12)]
    for i, fold in enumerate(ensure_folds(ids, "hand", profile="quick", seed=0)):
        a = subject_subset(fold["train"], 3, seed=0, fold=i)
        assert len(a) == 3 == len(set(a)) and set(a) <= set(fold["train"])
        assert not set(a) & set(fold["test"])
        assert a == subject_subset(fold["train"], 3, seed=0, fold=i)
        assert subject_subset(fold["train"], 99, seed=0, fold=i) == sorted(fold["train"])
    draws = {tuple(subject_subset(ids, 3, seed=s, fold=0)) for s in range(5)}
    assert len(draws) > 1  # the seed matters


def _spy_fit(monkeypatch, seen):
    """Record the training-set size of every fit (pretraining and the fold loop)."""
    import landmarklib.engine.crossval as cv
    import landmarklib.experiments.pretraining as pt

    fit = cv.fit

    def spy(model, inputs, targets, *a, **k):
        seen.append(len(inputs))
        return fit(model, inputs, targets, *a, **k)

    monkeypatch.setattr(cv, "fit", spy)
    monkeypatch.setattr(pt, "fit", spy)


def test_the_curves_full_point_is_chapter_5s_cross_validation(monkeypatch):
    """The fold loop is defined once: the learning curve reads chapter 5's finished folds back."""
    from landmarklib.experiments.finetuning import cross_validate

    cfg = _cfg()
    real, syn = rectangles("hand", 6, seed=2), rectangles("hand", 8, seed=1)
    chapter5, _ = cross_validate(real, cfg, method="CNN(real)")
    seen = []
    _spy_fit(monkeypatch, seen)
    table = learning_curve("hand", cfg, real, subject_counts=(None,), render_counts=(None,), renders=syn, write=False)
    assert seen == [8] + [4] * 3  # the CNN(syn) of these renders and its CNN(ft) folds; CNN(real) is read back
    from landmarklib.evaluation.metrics import landmark_errors

    full = table[(table.method == "CNN(real)") & (table.curve == "subjects")]["error"].iloc[0]
    assert full == landmark_errors(chapter5)["error_px"].mean()


def test_learning_curve_table_and_file(monkeypatch):
    cfg = _cfg()
    real, syn = rectangles("hand", 6, seed=2), rectangles("hand", 8, seed=1)
    seen = []
    _spy_fit(monkeypatch, seen)
    table = learning_curve("hand", cfg, real, subject_counts=(1, None), render_counts=(4, None), renders=syn)
    assert list(table.columns) == ["task", "curve", "method", "n_subjects", "n_renders", "error", "error_mm",
                                   "n_scans"]
    subj = table[table.curve == "subjects"]
    assert sorted(zip(subj.method, subj.n_subjects)) == [("CNN(ft)", 1), ("CNN(ft)", 4), ("CNN(real)", 1),
                                                         ("CNN(real)", 4)]
    ren = table[table.curve == "renders"]
    assert sorted(zip(ren.method, ren.n_renders)) == [("CNN(ft)", 4), ("CNN(ft)", 8), ("CNN(real)", 4),
                                                      ("CNN(real)", 8)]
    assert subj.n_renders.isna().all() and ren.n_subjects.isna().all()
    assert (table.n_scans == 6).all() and np.isfinite(table.error).all() and (table.error > 0).all()
    # pretraining on all 8 renders; 3 folds x (real, ft) on 1 and on all 4 training scans (never the 2 held
    # out); pretraining on 4 renders and its 3 fine-tunings; the rest (CNN(real) on all, 8 renders) is reused
    assert seen == [8] + [1] * 6 + [4] * 6 + [4] + [4] * 3
    # the CSV holds the table and a provenance sidecar; a second task's rows are merged, not replaced
    path = learning_curve_path("quick")
    pd.testing.assert_frame_equal(pd.read_csv(path), table, check_dtype=False)
    assert read_json(path.with_suffix(".json"))["profile"] == "quick"
    again = learning_curve("hand", cfg, real, subject_counts=(1, None), render_counts=(4, None), renders=syn,
                           write=False)
    pd.testing.assert_frame_equal(again, table)  # same seed, same numbers
