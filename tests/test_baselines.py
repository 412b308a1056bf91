import numpy as np
import pytest

from landmarklib import LandmarkError, resolve
from landmarklib.data import LandmarkSet
from landmarklib.engine.folds import ensure_folds, folds_path
from landmarklib.evaluation.results import read_predictions
from landmarklib.experiments.baselines import run_baselines
from landmarklib.models.forest import BoxFeatures, RegressionForest
from landmarklib.models.nn import BinaryNN, pack_masks, unpack_masks
from landmarklib.provenance import read_json


def toy_hands(n: int, seed: int, *, spread: float = 0.3, prefix: str = "s") -> LandmarkSet:
    """Palm disc + five capsule fingers at random angles; landmarks at the fingertips (patch px)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:96] + 0.5
    masks, tips = np.zeros((n, 96, 96), bool), np.zeros((n, 5, 2), np.float32)
    angles, lengths = np.deg2rad([-60, -20, 0, 20, 40]), np.array([22, 32, 36, 33, 26])
    for i in range(n):
        centre = np.array([48.0, 66.0]) + rng.normal(0, 2, 2)
        mask = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 < 16**2
        for f in range(5):
            base = centre + 12 * np.array([np.sin(angles[f]), -np.cos(angles[f])])
            a = angles[f] + rng.normal(0, spread)
            d = lengths[f] * (1 + rng.normal(0, 0.1)) * np.array([np.sin(a), -np.cos(a)])
            t = np.clip(((xx - base[0]) * d[0] + (yy - base[1]) * d[1]) / (d @ d), 0, 1)
            mask |= (xx - base[0] - t * d[0]) ** 2 + (yy - base[1] - t * d[1]) ** 2 < 4**2
            tips[i, f] = base + d
        masks[i] = mask
    return LandmarkSet("hand", masks, tips, [f"{prefix}{i:03d}" for i in range(n)])


SMALL_RF = {"rf_trees": 3, "rf_depth": 8, "rf_features": 40, "rf_features_per_node": 10, "rf_pixels": 60}


def test_pack_unpack_round_trip_and_faiss_hamming_matches_numpy():
    rng = np.random.default_rng(0)
    for task, shape, nbytes in (("hand", (96, 96), 1152), ("body", (160, 76), 1520)):
        masks = rng.random((7, *shape)) < 0.3
        codes = pack_masks(masks)
        assert codes.shape == (7, nbytes) and codes.dtype == np.uint8
        np.testing.assert_array_equal(unpack_masks(codes, task), masks)
    masks = rng.random((20, 96, 96)) < 0.4
    nn = BinaryNN("hand", k=20).add(masks, np.zeros((20, 5, 2)))
    dist, idx = nn.search(masks[:3])
    expected = (masks[:3, None] != masks[None]).sum((-1, -2))  # (3, 20) differing pixels
    np.testing.assert_array_equal(dist, np.take_along_axis(expected, idx, axis=1))
    np.testing.assert_array_equal(np.sort(expected, axis=1), dist)


def test_knn_is_the_mean_annotation_of_the_three_nearest_patches():
    # database: patch j has the first n_j pixels of row 0 set; the empty query is n_j pixels away
    n_on = [20, 2, 9, 1, 3, 40]
    masks = np.zeros((6, 96, 96), bool)
    for j, n in enumerate(n_on):
        masks[j, 0, :n] = True
    landmarks = np.arange(6 * 5 * 2, dtype=np.float32).reshape(6, 5, 2)
    nn = BinaryNN.fit(LandmarkSet("hand", masks, landmarks, list("abcdef")), k=3)
    query = np.zeros((1, 96, 96), bool)
    dist, idx = nn.search(query)
    assert dist.tolist() == [[1, 2, 3]] and idx.tolist() == [[3, 1, 4]]
    np.testing.assert_allclose(nn.predict(query)[0], landmarks[[3, 1, 4]].mean(0))
    assert nn.ids[idx[0]].tolist() == ["d", "b", "e"]


def test_nn_refuses_too_few_patches_and_wrong_inputs():
    nn = BinaryNN("hand", k=3).add(np.zeros((2, 96, 96), bool), np.zeros((2, 5, 2)))
    with pytest.raises(LandmarkError, match="fewer than k=3"):
        nn.predict(np.zeros((1, 96, 96), bool))
    with pytest.raises(LandmarkError, match=r"shape \(N, 96, 96\).*got \(1, 160, 76\)"):
        nn.search(np.zeros((1, 160, 76), bool))
    body = LandmarkSet("body", np.zeros((1, 160, 76), bool), np.zeros((1, 9, 2)), ["x"])
    with pytest.raises(LandmarkError, match="'body' patches but this model is for 'hand'"):
        nn.search(body)
    with pytest.raises(LandmarkError, match="binary"):
        nn.search(np.full((1, 96, 96), 0.5))
    with pytest.raises(LandmarkError, match=r"landmarks must be \(1, 5, 2\)"):
        nn.add(np.zeros((1, 96, 96), bool), np.zeros((1, 9, 2)))


def test_box_features_are_box_means_with_background_outside():
    feats = BoxFeatures(boxes=np.array([[[0, 0, 1, 1], [0, 0, 0, 0]], [[-2, -2, 2, 2], [10, 0, 12, 2]]]))
    mask = np.zeros((1, 96, 96), bool)
    mask[0, 0:2, 0:2] = True  # 4 pixels in the top-left corner
    mask[0, 0:2, 10:12] = True
    values = feats.compute(mask, np.array([[0, 0, 0], [0, 1, 1]]))
    # pixel (0, 0): box [-2, 2)^2 covers 16 px (12 outside the patch) of which 4 are set; box 2 is full
    np.testing.assert_allclose(values[0], [1.0, 4 / 16 - 1.0])
    # pixel (row 1, col 1): box [-1, 3)^2 holds the 4 corner pixels; box 2 covers cols 11-12, rows 1-2
    np.testing.assert_allclose(values[1], [1.0, 4 / 16 - 1 / 4])


def test_forest_is_deterministic_for_a_seed_and_beats_the_mean_shape():
    train, test = toy_hands(40, seed=1), toy_hands(12, seed=2, prefix="t")
    cfg = resolve("quick", SMALL_RF)
    first = RegressionForest.from_config("hand", cfg).fit(train).predict(test)
    again = RegressionForest.from_config("hand", cfg).fit(train).predict(test)
    other = RegressionForest.from_config("hand", cfg, seed=1).fit(train).predict(test)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    err = np.linalg.norm(first - test.landmarks, axis=-1).mean()
    mean_err = np.linalg.norm(train.landmarks.mean(0) - test.landmarks, axis=-1).mean()
    assert err < 0.8 * mean_err


def test_vote_maps_count_the_confident_votes():
    train = toy_hands(20, seed=3)
    cfg = resolve("quick", {**SMALL_RF, "rf_vote_fraction": 0.5})
    forest = RegressionForest.from_config("hand", cfg).fit(train)
    maps = forest.vote_maps(train.masks[0])
    n_votes = train.masks[0].sum() * cfg["rf_trees"]
    assert maps.shape == (5, 96, 96)
    assert np.all(maps.sum((1, 2)) <= np.ceil(0.5 * n_votes))
    assert maps.sum() > 0.9 * 5 * np.ceil(0.5 * n_votes)  # few votes fall outside the patch
    with pytest.raises(LandmarkError, match="not trained"):
        RegressionForest("hand").predict(train)


def test_run_baselines_uses_the_shared_folds_and_writes_one_table_per_method():
    real, synthetic = toy_hands(15, seed=4), toy_hands(60, seed=5, spread=0.2, prefix="r")
    cfg = resolve("quick", {**SMALL_RF, "nn_k": 1})
    shared = ensure_folds(real.ids, "hand", profile="quick", seed=cfg["seed"])  # as the CNNs make them
    tables = run_baselines("hand", cfg, synthetic, real, progress=False)
    assert read_json(folds_path("quick", "hand"))["folds"] == shared
    fold_of = {s: i for i, f in enumerate(shared) for s in f["test"]}
    for method, table in tables.items():
        assert len(table) == len(real) * 5
        assert (table["fold"] == table["subject"].map(fold_of)).all(), method
    # with k=1 a scan that leaked into its own training fold would be found at distance 0
    nn_real = tables["NN(real)"]
    err = np.hypot(nn_real.x_pred - nn_real.x_true, nn_real.y_pred - nn_real.y_true)
    assert (err.groupby(nn_real.subject).max() > 0).all()
    written = read_predictions("quick", task="hand")
    assert sorted(written["method"].unique()) == ["NN(real)", "NN(syn)", "RF"]


def test_run_baselines_refuses_mismatched_inputs():
    cfg = resolve("quick", SMALL_RF)
    real = toy_hands(6, seed=6)
    body = LandmarkSet("body", np.zeros((3, 160, 76), bool), np.zeros((3, 9, 2)), ["a", "b", "c"])
    with pytest.raises(LandmarkError, match="synthetic set holds 'body' patches but the task is 'hand'"):
        run_baselines("hand", cfg, body, real, progress=False)
    with pytest.raises(LandmarkError, match="NN\\(syn\\) needs the synthetic renders"):
        run_baselines("hand", cfg, None, real, progress=False)
    with pytest.raises(LandmarkError, match="unknown baseline"):
        run_baselines("hand", cfg, None, real, methods=["KNN"], progress=False)


def test_error_summary_and_claims_on_a_hand_made_table():
    from landmarklib.evaluation.results import predictions_frame
    from landmarklib.experiments.baselines import baseline_claims, error_summary
    from landmarklib.landmarks import BODY, HAND

    def table(task, method, err):  # err: (k,) error along x per landmark, same for both scans
        k = len(err)
        true = np.zeros((2, k, 2))
        pred = true + np.stack([np.broadcast_to(err, (2, k)), np.zeros((2, k))], -1)
        return predictions_frame(task=task, method=method, fold=0, subjects=["a", "b"], pred_px=pred, true_px=true)

    tables = {
        ("hand", "NN(syn)"): table("hand", "NN(syn)", np.full(5, 9.0)),
        ("hand", "NN(real)"): table("hand", "NN(real)", np.full(5, 3.0)),
        ("hand", "RF"): table("hand", "RF", np.array([8.0, 4, 4, 4, 4])),
        ("body", "NN(syn)"): table("body", "NN(syn)", np.full(9, 2.0)),
        ("body", "NN(real)"): table("body", "NN(real)", np.full(9, 3.0)),
        ("body", "RF"): table("body", "RF", np.array([5.0] * 6 + [1, 1, 1])),
    }
    summary = error_summary(tables)
    assert summary.query("task == 'hand' and method == 'RF' and landmark == 'thumb'")["mean_px"].item() == 8.0
    assert summary["std_px"].eq(0).all() and summary["n"].eq(2).all()
    assert list(summary.query("task == 'body' and method == 'RF'")["landmark"]) == list(BODY)
    assert list(summary.query("task == 'hand' and method == 'RF'")["landmark"]) == list(HAND)
    claims = baseline_claims(summary).set_index(["claim", "task", "statement"])["holds"]
    assert claims[("C2", "hand", "NN(syn) worse than NN(real)")]
    assert not claims[("C2", "body", "NN(syn) worse than NN(real)")]
    assert claims[("C3", "hand", "RF worse than NN(real)")]
    assert claims[("C3", "hand", "RF's gap to NN(real) largest on the thumb")]
    assert claims[("C3", "body", "RF the best baseline on shoulders and head")]


def test_blocked_search_is_exact_across_database_blocks(monkeypatch):
    import faiss

    from landmarklib.models import nn as baselines

    monkeypatch.setattr(baselines, "SEARCH_BLOCK_BYTES", 1)  # blocks of 1024 codes: 3 blocks below
    rng = np.random.default_rng(1)
    base = rng.random((2500, 96, 96)) < 0.3
    queries = base[[5, 1500, 2499]] ^ (rng.random((3, 96, 96)) < 0.05)  # near copies, far from the rest
    before = faiss.cvar.hamming_batch_size
    dist, idx = BinaryNN("hand", k=3).add(base, np.zeros((2500, 5, 2))).search(queries)
    assert faiss.cvar.hamming_batch_size == before
    expected = (queries[:, None].reshape(3, 1, -1) != base.reshape(1, 2500, -1)).sum(-1)
    np.testing.assert_array_equal(dist, np.sort(expected, axis=1)[:, :3])
    assert idx[:, 0].tolist() == [5, 1500, 2499]


def test_nn_syn_accepts_shards_with_the_same_result():
    real, synthetic = toy_hands(6, seed=8), toy_hands(30, seed=9, prefix="r")
    cfg = resolve("quick")
    whole = run_baselines("hand", cfg, synthetic, real, methods=["NN(syn)"], write=False, progress=False)
    shards = (synthetic.subset(slice(i, i + 7)) for i in range(0, 30, 7))
    sharded = run_baselines("hand", cfg, shards, real, methods=["NN(syn)"], write=False, progress=False)
    assert whole["NN(syn)"].equals(sharded["NN(syn)"])
