import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from landmarklib import resolve
from landmarklib.data import LandmarkSet
from landmarklib.engine.folds import make_folds
from landmarklib.errors import LandmarkError
from landmarklib.experiments import depth as dp
from landmarklib.paths import subdir


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
    with pytest.raises(LandmarkError, match="no test fold"):
        dp.mean_depth_baseline(d, ["a", "a", "b", "z"], folds)


def test_depth_spread():
    d = np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 0.0]])
    spread = dp.depth_spread(d, ["thumb", "index"])
    assert spread["std"].tolist() == pytest.approx([2.0, 0.0])
    assert spread["expected_mae"][0] == pytest.approx(2.0 * np.sqrt(2 / np.pi))


@pytest.mark.parametrize(
    ("ratio", "lo", "hi", "verdict", "note"),
    [
        (0.33, 0.30, 0.37, "holds", ""),
        (0.40, 0.17, 0.60, "holds", ""),
        (0.10, 0.08, 0.12, "holds", "stronger than claimed"),
        (0.10, 0.08, 0.20, "holds", ""),
        (0.60, 0.50, 0.70, "inconclusive", ""),  # CI straddles 2/3
        (0.80, 0.70, 0.90, "does not hold", ""),  # a reduction, but nowhere near a third
        (0.95, 0.85, 1.05, "does not hold", ""),
        (1.20, 1.10, 1.30, "does not hold", "no reduction"),
    ],
)
def test_c6_verdict_rule(ratio, lo, hi, verdict, note):
    assert dp.c6_verdict(ratio, lo, hi) == (verdict, note)


def test_c6_verdict_refuses_inconsistent_ci():
    with pytest.raises(LandmarkError):
        dp.c6_verdict(0.5, 0.6, 0.7)
    with pytest.raises(LandmarkError):
        dp.c6_verdict(float("nan"), 0.6, 0.7)


def test_ratio_with_ci_hand_made():
    rng = np.random.default_rng(0)
    base = rng.uniform(2, 4, size=(60, 5))
    ratio, lo, hi = dp.ratio_with_ci(base / 3, base, n_resamples=200)
    assert ratio == pytest.approx(1 / 3) and lo == pytest.approx(1 / 3) and hi == pytest.approx(1 / 3)
    ratio, lo, hi = dp.ratio_with_ci(rng.uniform(0, 2, size=(60, 5)), base, n_resamples=200)
    assert lo < ratio < hi


def _frames(real, cnn_depth, cnn_px=None):
    fold = np.zeros(len(real), int)
    base = np.repeat(real.landmark_depth.mean(axis=0, keepdims=True), len(real), axis=0)
    cnn_px = real.landmarks + 1.0 if cnn_px is None else cnn_px
    return pd.concat(
        [
            dp.depth_frame(method="mean depth", fold=fold, samples=real, depth_pred=base),
            dp.depth_frame(
                method="CNN(depth)", fold=fold, samples=real, depth_pred=cnn_depth, pred_px=cnn_px
            ),
        ],
        ignore_index=True,
    )


def test_claim_c6_and_fig4_table_on_hand_made_errors():
    real = _hand_set(30, seed=1)
    base_err = np.abs(real.landmark_depth - real.landmark_depth.mean(axis=0))
    cnn = real.landmark_depth + base_err / 3 * np.sign(np.random.default_rng(0).normal(size=base_err.shape))
    frame = _frames(real, cnn)
    c6 = dp.claim_c6(frame, n_resamples=200)
    assert c6["ours"] == pytest.approx(1 / 3, rel=1e-6)
    assert c6["paper"] == pytest.approx(
        np.mean([0.90, 0.91, 0.85, 0.83, 0.84]) / np.mean([2.62, 2.60, 2.60, 2.59, 2.58])
    )
    assert (c6["verdict"], c6["note"]) == ("holds", "")
    table = dp.fig4_table(frame, n_resamples=200)
    assert table["method"].tolist()[:5] == ["mean depth"] * 5
    assert table["landmark"].tolist()[:5] == ["thumb", "index", "middle", "ring", "pinky"]
    assert (table["ci_low"] <= table["mae"]).all() and (table["mae"] <= table["ci_high"]).all()
    assert table.loc[0, "paper"] == pytest.approx(2.62)
    np.testing.assert_allclose(table["mae"][:5], base_err.mean(axis=0), rtol=1e-6)


def test_compare_2d_signs():
    real = _hand_set(12, seed=2)
    frame = _frames(real, real.landmark_depth, cnn_px=real.landmarks + np.array([3.0, 4.0]))  # 5 px off
    binary = dp.depth_frame(
        method="CNN(depth)",
        fold=0,
        samples=real,
        depth_pred=real.landmark_depth,
        pred_px=real.landmarks + np.array([6.0, 8.0]),
    ).assign(method="CNN(ft)")  # 10 px off
    table = dp.compare_2d(frame, binary.drop(columns=["depth_true", "depth_pred"]), n_resamples=100)
    row = table.set_index("landmark").loc["all"]
    assert row["depth_px"] == pytest.approx(5) and row["binary_px"] == pytest.approx(10)
    assert row["diff_px"] == pytest.approx(-5) and row["n"] == 60


def test_write_and_read_depth_predictions(tmp_path):
    real = _hand_set(6)
    frame = _frames(real, real.landmark_depth)
    params = {"profile": "quick", "seed": 0}
    for _method, rows in frame.groupby("method"):
        path = dp.write_depth_predictions(rows, params=params)
        assert path.parent.name == "depth" and path.with_suffix(".json").is_file()
    back = dp.read_depth_predictions("quick")
    assert sorted(back["method"].unique()) == ["CNN(depth)", "mean depth"]
    assert len(back) == len(frame)
    with pytest.raises(LandmarkError, match="one depth table"):
        dp.write_depth_predictions(frame, params=params)
    with pytest.raises(LandmarkError, match="unknown depth method"):
        dp.depth_frame(method="CNN(ft)", fold=0, samples=real, depth_pred=real.landmark_depth)


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


def _tiny_model():
    return torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten(), torch.nn.Linear(144, 15))


def test_run_depth_experiment_end_to_end_with_a_tiny_model():
    synthetic = _hand_set(40, seed=3, scale=0.01)
    real = _hand_set(12, seed=4)
    cfg = resolve("quick", {"seed": 0, "batch_size": 10, "pretrain_epochs": 2, "finetune_epochs": 3,
                            "finetune_lr_drop_after": 5, "bootstrap": 100, "device": "cpu"})
    out = dp.run_depth_experiment(cfg, synthetic, real, model_factory=_tiny_model)
    assert set(out["frame"]["method"]) == set(dp.DEPTH_METHODS)
    assert len(out["frame"]) == 2 * 12 * 5 and np.isfinite(out["frame"]["depth_pred"]).all()
    assert all(p.is_file() for p in out["files"].values())
    assert out["c6"]["verdict"] in dp.C6_VERDICTS
    assert len(out["fig4"]) == 10 and len(out["spread"]) == 5
    summary = dp.read_depth_summary("quick")
    assert summary["c6"]["verdict"] == out["c6"]["verdict"] and summary["profile"] == "quick"
    assert len(summary["fig4"]) == 10 and summary["n_real"] == 12
    # folds are the shared ones: every subject tested once
    assert sorted(out["frame"]["fold"].unique()) == [0, 1, 2]
    again = dp.run_depth_experiment(cfg, synthetic, real, model_factory=_tiny_model)  # resumes: finished
    pd.testing.assert_frame_equal(out["frame"], again["frame"])
    shutil.rmtree(subdir("models"))
    fresh = dp.run_depth_experiment(cfg, synthetic, real, model_factory=_tiny_model)  # retrains
    pd.testing.assert_frame_equal(out["frame"], fresh["frame"])  # same seed, same numbers


def test_folds_helper_is_consistent_with_make_folds():
    ids = [f"s{i}" for i in range(9)]
    folds = make_folds(ids, "hand", seed=0)
    _, fold = dp.mean_depth_baseline(np.zeros((9, 5)), ids, folds)
    assert sorted(np.bincount(fold).tolist()) == [3, 3, 3]


def test_pairing_handles_several_images_per_subject():
    real = _hand_set(12, seed=5, subjects=4)  # 3 images per subject
    err = np.arange(12, dtype=float)[:, None] + np.zeros((1, 5))
    frame = _frames(real, real.landmark_depth + err, cnn_px=real.landmarks + err[..., None] * [1.0, 0.0])
    binary = frame[frame["method"] == "CNN(depth)"].assign(method="CNN(ft)", x_pred=lambda f: f["x_true"])
    table = dp.compare_2d(frame, binary, n_resamples=50).set_index("landmark")
    assert table.loc["all", "n"] == 60  # paired image by image, no cross product
    assert table.loc["all", "diff_px"] == pytest.approx(err.mean())
    c6 = dp.claim_c6(frame, n_resamples=50)
    base = np.abs(real.landmark_depth - real.landmark_depth.mean(axis=0)).mean()
    assert c6["ours"] == pytest.approx(err.mean() / base)


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


def test_depth_offset_and_shift_touch_only_the_depth_outputs():
    s = _hand_set(6)
    _, targets, _ = dp.depth_targets(s)
    offset = dp.depth_offset(targets)
    centred = dp.shift_depth(targets, offset)
    t, c = targets.reshape(6, 5, 3), centred.reshape(6, 5, 3)
    np.testing.assert_array_equal(t[..., :2], c[..., :2])
    np.testing.assert_allclose(c[..., 2].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(dp.shift_depth(centred, offset, +1), targets, atol=1e-6)
    _, depth = dp.predict_depth_cnn(_Constant(), s, offset=np.full(5, -1.0), device="cpu")  # 1 - 1 = 0
    _, stats = dp.normalize_depth(s.depth, s.masks)
    np.testing.assert_allclose(depth, np.repeat(stats.mean[:, None], 5, axis=1), rtol=1e-6)
