import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from landmarklib import evaluation as ev
from landmarklib import resolve
from landmarklib.data import LandmarkSet
from landmarklib.engine import training
from landmarklib.engine.folds import make_folds
from landmarklib.errors import LandmarkError
from landmarklib.evaluation.results import predictions_frame, read_predictions
from landmarklib.experiments import depth as dp
from landmarklib.paths import subdir
from landmarklib.scans import depth_spread


def _hand_set(n: int = 9, *, seed: int = 0, scale: float = 1.0, subjects: int | None = None) -> LandmarkSet:
    """Hand-made hand patches: an ellipse whose depth is a tilted plane plus noise, 5 fingertips on it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:96] + 0.5
    masks = np.zeros((n, 96, 96), bool)
    depth = np.full((n, 96, 96), np.nan, np.float32)
    lms = np.zeros((n, 5, 2), np.float32)
    lmd = np.zeros((n, 5), np.float32)
    for i in range(n):
        cx, cy = 48 + rng.normal(0, 3), 50 + rng.normal(0, 3)
        m = ((xx - cx) / 30) ** 2 + ((yy - cy) / 40) ** 2 < 1
        plane = scale * (
            20 + rng.normal(0, 3) + 0.05 * (xx - cx) + 0.02 * (yy - cy) + rng.normal(0, 0.2, xx.shape)
        )
        masks[i], depth[i] = m, np.where(m, plane, np.nan)
        lms[i] = np.stack([cx + np.linspace(-20, 20, 5), np.full(5, cy - 25)], axis=1)
        lmd[i] = plane[lms[i, :, 1].astype(int), lms[i, :, 0].astype(int)]
    ids = [f"s{i % (subjects or n):03d}" for i in range(n)]
    return LandmarkSet("hand", masks, lms, ids, depth=depth, landmark_depth=lmd, mm_per_px=np.ones((n, 2)))


def test_normalisation_hand_pixels_zero_mean_unit_std_background_three():
    s = _hand_set(4)
    images, stats = dp.normalize_depth(s.depth, s.masks)
    assert images.dtype == np.float32 and images.shape == s.depth.shape
    for i in range(len(s)):
        hand = images[i][s.masks[i]]
        assert abs(hand.mean()) < 1e-5
        assert hand.std() == pytest.approx(1.0, abs=1e-5)
        assert np.all(images[i][~s.masks[i]] == 3.0)
        assert stats.mean[i] == pytest.approx(np.nanmean(s.depth[i]), rel=1e-6)
        assert stats.std[i] == pytest.approx(np.nanstd(s.depth[i]), rel=1e-5)


def test_mask_restricts_hand_pixels():
    s = _hand_set(2)
    depth = np.where(np.isnan(s.depth), 1000.0, s.depth)  # finite background: only the mask says "hand"
    images, stats = dp.normalize_depth(depth, s.masks)
    assert np.all(images[~s.masks] == 3.0)
    assert stats.mean[0] < 100


def test_landmark_depth_uses_the_same_stats_and_round_trips():
    s = _hand_set(5, scale=0.01)  # metres-like numbers
    images, stats = dp.normalize_depth(s.depth, s.masks)
    z = dp.normalize_landmark_depth(s.landmark_depth, stats)
    expected = (s.landmark_depth - stats.mean[:, None]) / stats.std[:, None]
    np.testing.assert_allclose(z, expected, rtol=1e-5)
    np.testing.assert_allclose(stats.invert(z), s.landmark_depth, rtol=1e-5)
    # the image itself maps back to the original depth on the hand
    back = stats.invert(images.astype(np.float64))
    np.testing.assert_allclose(back[s.masks], s.depth[s.masks], rtol=1e-5)


def test_normalisation_refuses_flat_or_empty_images():
    depth = np.full((2, 96, 96), np.nan)
    depth[0, 10:20, 10:20] = 5.0  # constant depth
    with pytest.raises(LandmarkError, match="constant"):
        dp.normalize_depth(depth)


def test_depth_targets_layout():
    s = _hand_set(3)
    images, targets, stats = dp.depth_targets(s)
    assert images.shape == (3, 1, 96, 96) and targets.shape == (3, 15)
    t = targets.reshape(3, 5, 3)
    np.testing.assert_allclose(t[..., :2], s.unit_landmarks(), atol=1e-6)
    np.testing.assert_allclose(stats.invert(t[..., 2]), s.landmark_depth, rtol=1e-5)


def test_mean_depth_baseline_hand_made():
    d = np.array([[1.0, 10], [3, 20], [5, 30], [7, 40], [9, 50], [11, 60]])
    ids = ["a", "b", "c", "d", "e", "f"]
    folds = [
        {"train": ["c", "d", "e", "f"], "test": ["a", "b"]},
        {"train": ["a", "b", "e", "f"], "test": ["c", "d"]},
        {"train": ["a", "b", "c", "d"], "test": ["e", "f"]},
    ]
    pred, fold = dp.mean_depth_baseline(d, ids, folds)
    np.testing.assert_array_equal(fold, [0, 0, 1, 1, 2, 2])
    np.testing.assert_allclose(pred[0], [8, 45])  # mean of c..f
    np.testing.assert_allclose(pred[2], [6, 35])  # mean of a, b, e, f
    np.testing.assert_allclose(pred[5], [4, 25])  # mean of a..d


def test_baseline_uses_all_images_of_a_training_subject_and_refuses_missing_subjects():
    d = np.array([[0.0], [2.0], [10.0], [20.0]])
    ids = ["a", "a", "b", "c"]
    folds = [{"train": ["a"], "test": ["b", "c"]}, {"train": ["b", "c"], "test": ["a"]}]
    pred, _ = dp.mean_depth_baseline(d, ids, folds)
    np.testing.assert_allclose(pred[:, 0], [15, 15, 1, 1])
    with pytest.raises(LandmarkError, match="in no fold"):
        dp.mean_depth_baseline(d, ["a", "a", "b", "z"], folds)



def test_depth_spread_is_the_cohort_table_with_the_papers_values():
    s = _hand_set(3)
    s.landmark_depth[:] = np.array([[1.0], [3.0], [5.0]])  # every fingertip: 1, 3, 5
    spread = depth_spread(s, depth_mm=2.0)
    assert spread["std"].tolist() == pytest.approx([2.0] * 5)
    assert spread["expected_mae"]["thumb"] == pytest.approx(2.0 * np.sqrt(2 / np.pi))
    assert spread["std (mm)"]["pinky"] == pytest.approx(4.0)
    assert spread["paper std"]["pinky"] == pytest.approx(3.137) and np.isnan(spread["paper std"]["index"])


def _frames(real, cnn_depth, cnn_px=None):
    """Prediction rows of both Fig. 4 methods (the shared table): baseline = the cohort mean."""
    fold = np.zeros(len(real), int)
    base = np.repeat(real.landmark_depth.mean(axis=0, keepdims=True), len(real), axis=0)
    cnn_px = real.landmarks + 1.0 if cnn_px is None else cnn_px
    common = dict(task="hand", fold=fold, subjects=real.ids, true_px=real.landmarks, mm_per_px=real.mm_per_px,
                  depth_true=real.landmark_depth)
    return pd.concat([predictions_frame(method="mean depth", pred_px=None, depth_pred=base, **common),
                      predictions_frame(method="CNN(depth)", pred_px=cnn_px, depth_pred=cnn_depth, **common)],
                     ignore_index=True)


def _c6(frame, n_resamples=200):
    detail = ev.claims_detail(ev.landmark_errors(frame), n_resamples=n_resamples, claims=[ev.claim("C6")])
    return detail.iloc[0]


def test_claim_c6_and_fig4_table_on_hand_made_errors():
    real = _hand_set(30, seed=1)
    base_err = np.abs(real.landmark_depth - real.landmark_depth.mean(axis=0))
    cnn = real.landmark_depth + base_err / 3 * np.sign(np.random.default_rng(0).normal(size=base_err.shape))
    frame = _frames(real, cnn)
    c6 = _c6(frame)
    assert c6["statistic"] == "ratio" and c6["value"] == pytest.approx(1 / 3, rel=1e-6)
    assert c6["paper_value"] == pytest.approx(
        np.mean([0.90, 0.91, 0.85, 0.83, 0.84]) / np.mean([2.62, 2.60, 2.60, 2.59, 2.58])
    )
    assert (c6["verdict"], c6["note"], c6["paper_verdict"]) == ("holds", "about as claimed", "holds")
    table = dp.fig4_table(frame, n_resamples=200)
    assert table["method"].tolist()[:5] == ["mean depth"] * 5
    assert table["landmark"].tolist()[:5] == ["thumb", "index", "middle", "ring", "pinky"]
    assert (table["ci_low"] <= table["mean"]).all() and (table["mean"] <= table["ci_high"]).all()
    assert table.loc[0, "paper"] == pytest.approx(2.62) and (table["unit"] == "voxel").all()
    np.testing.assert_allclose(table["mean"][:5], base_err.mean(axis=0), rtol=1e-6)


def test_c6_is_not_evaluated_without_the_baseline():
    real = _hand_set(6)
    frame = _frames(real, real.landmark_depth)
    c6 = _c6(frame[frame["method"] == "CNN(depth)"], n_resamples=50)
    assert c6["verdict"].startswith("not evaluated") and "mean depth" in c6["verdict"]


def test_compare_2d_signs():
    real = _hand_set(12, seed=2)
    frame = _frames(real, real.landmark_depth, cnn_px=real.landmarks + np.array([3.0, 4.0]))  # 5 px off
    binary = predictions_frame(task="hand", method="CNN(ft)", fold=0, subjects=real.ids,
                               pred_px=real.landmarks + np.array([6.0, 8.0]), true_px=real.landmarks)  # 10 px
    table = dp.compare_2d(pd.concat([frame, binary]), n_resamples=100)
    row = table.set_index("landmark").loc["all"]
    assert row["depth_px"] == pytest.approx(5) and row["binary_px"] == pytest.approx(10)
    assert row["diff_px"] == pytest.approx(-5) and row["n"] == 12
    with pytest.raises(LandmarkError, match="share no scan"):
        dp.compare_2d(frame, n_resamples=10)


class _Constant(torch.nn.Module):
    """Outputs unit (x, y) = (0.5, -0.5) and normalised depth 1 for every landmark."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = torch.tensor([0.5, -0.5, 1.0]).repeat(5) + 0 * self.w
        return out.expand(len(x), 15)


def test_predict_maps_back_to_pixels_and_original_depth_units():
    s = _hand_set(4)
    px, depth = dp.predict_depth_cnn(_Constant(), s, device="cpu")
    np.testing.assert_allclose(px, np.broadcast_to([72.0, 24.0], (4, 5, 2)))
    _, stats = dp.normalize_depth(s.depth, s.masks)
    np.testing.assert_allclose(depth, np.repeat((stats.mean + stats.std)[:, None], 5, axis=1), rtol=1e-6)
    _, depth = dp.predict_depth_cnn(_Constant(), s, offset=np.full(5, -1.0), device="cpu")  # 1 - 1 = 0
    np.testing.assert_allclose(depth, np.repeat(stats.mean[:, None], 5, axis=1), rtol=1e-6)


def test_transform_centres_on_the_training_mean_and_inverts_exactly():
    s = _hand_set(8, scale=0.01)
    _, targets, transform = dp.depth_inputs(s)
    train, test = np.arange(5), np.arange(5, 8)
    fitted = transform.fit(targets[train], train)
    assert transform.offset is None  # fit returns a new transform
    applied = fitted.apply(targets[train], train).reshape(5, 5, 3)
    np.testing.assert_allclose(applied[..., 2].mean(axis=0), 0, atol=1e-6)  # centred on the training mean
    np.testing.assert_array_equal(applied[..., :2], targets[train].reshape(5, 5, 3)[..., :2])  # x, y untouched
    back = fitted.invert(fitted.apply(targets[test], test), test)  # test rows use their own stats
    np.testing.assert_allclose(back, targets[test], rtol=1e-5, atol=1e-6)
    _, normalised, stats = dp.depth_targets(s)  # the paper's targets: normalised, not centred
    np.testing.assert_allclose(stats.invert(normalised.reshape(8, 5, 3)[..., 2]), s.landmark_depth, rtol=1e-5)
    assert fitted.identity == transform.identity != dp.depth_inputs(_hand_set(8, seed=9))[2].identity


def _tiny_model():
    return torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten(), torch.nn.Linear(144, 15))


def _cfg():
    return resolve("quick", {"seed": 0, "batch_size": 10, "pretrain_epochs": 2, "finetune_epochs": 3,
                             "finetune_lr_drop_after": 5, "bootstrap": 100, "device": "cpu"})


def test_run_depth_experiment_end_to_end_with_a_tiny_model():
    synthetic = _hand_set(40, seed=3, scale=0.01)
    real = _hand_set(12, seed=4)
    cfg = _cfg()
    out = dp.run_depth_experiment(cfg, synthetic, real, model_factory=_tiny_model)
    assert set(out["frame"]["method"]) == set(ev.DEPTH_METHODS)
    assert len(out["frame"]) == 2 * 12 * 5 and np.isfinite(out["frame"]["depth_pred"]).all()
    assert all(p.is_file() for p in out["files"].values()) and len(out["fig4"]) == 10
    back = read_predictions("quick", task="hand", methods=ev.DEPTH_METHODS)  # the shared writer and reader
    assert sorted(back["method"].unique()) == ["CNN(depth)", "mean depth"] and len(back) == 120
    assert out["files"]["CNN(depth)"].parent.name == "predictions"
    assert _c6(back, n_resamples=50)["verdict"] in ev.VERDICTS
    # folds are the shared ones: every subject tested once
    assert sorted(out["frame"]["fold"].unique()) == [0, 1, 2]
    again = dp.run_depth_experiment(cfg, synthetic, real, model_factory=_tiny_model)  # resumes: finished
    pd.testing.assert_frame_equal(out["frame"], again["frame"])
    shutil.rmtree(subdir("models"))
    fresh = dp.run_depth_experiment(cfg, synthetic, real, model_factory=_tiny_model)  # retrains
    pd.testing.assert_frame_equal(out["frame"], fresh["frame"])  # same seed, same numbers


def test_killed_depth_cross_validation_resumes_its_finished_folds(monkeypatch):
    real = _hand_set(12, seed=4)
    cfg = _cfg()
    folds = make_folds(real.ids, "hand", seed=0)
    torch.manual_seed(0)
    pretrained = _tiny_model()
    calls = []
    real_fit = training.fit

    def dying_fit(*args, **kwargs):
        calls.append(kwargs["desc"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while fold 2 trains
        return real_fit(*args, **kwargs)

    monkeypatch.setattr("landmarklib.engine.crossval.fit", dying_fit)
    with pytest.raises(KeyboardInterrupt):
        dp.cross_validate_depth(pretrained, real, folds, cfg)
    calls.clear()
    monkeypatch.setattr("landmarklib.engine.crossval.fit", lambda *a, **k: calls.append(k["desc"]) or real_fit(*a, **k))
    resumed, _ = dp.cross_validate_depth(pretrained, real, folds, cfg)
    assert calls == ["fold 2/3", "fold 3/3"]  # fold 1 came from its .npz
    shutil.rmtree(subdir("models"))
    fresh, _ = dp.cross_validate_depth(pretrained, real, folds, cfg)
    pd.testing.assert_frame_equal(resumed, fresh)
    other = _tiny_model()  # other starting weights: the finished folds are refused, not reused
    with pytest.raises(LandmarkError, match="another fold"):
        dp.cross_validate_depth(other, real, folds, cfg)


def test_depth_cross_validation_refuses_overlapping_folds_before_training():
    real = _hand_set(9)
    folds = [{"train": list(real.ids[3:]), "test": list(real.ids[:4])},  # s003 in train and test
             {"train": list(real.ids[:3]), "test": list(real.ids[3:])}]
    with pytest.raises(LandmarkError, match="overlap"):
        dp.cross_validate_depth(_tiny_model(), real, folds, _cfg())
    assert not subdir("models").exists() or not any(subdir("models").rglob("*.npz"))


def test_folds_helper_is_consistent_with_make_folds():
    ids = [f"s{i}" for i in range(9)]
    folds = make_folds(ids, "hand", seed=0)
    _, fold = dp.mean_depth_baseline(np.zeros((9, 5)), ids, folds)
    assert sorted(np.bincount(fold).tolist()) == [3, 3, 3]


def test_targets_map_back_and_chunking_changes_nothing():
    s = _hand_set(7, scale=0.01)
    images, targets, stats = dp.depth_targets(s)
    images2, targets2, stats2 = dp.depth_targets(s, chunk=3, dtype=np.float16)
    assert images2.dtype == np.float16
    np.testing.assert_allclose(images2.astype(np.float32), images, atol=5e-3)
    np.testing.assert_array_equal(targets, targets2)
    px, depth = dp.outputs_to_predictions(targets, stats)
    np.testing.assert_allclose(px, s.landmarks, atol=1e-4)
    np.testing.assert_allclose(depth, s.landmark_depth, rtol=1e-5)
