import numpy as np
import pytest

from landmarklib import LandmarkError, resolve
from landmarklib.models.forest import BoxFeatures, RegressionForest

SMALL_RF = {"rf_trees": 3, "rf_depth": 8, "rf_features": 40, "rf_features_per_node": 10, "rf_pixels": 60}


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


def test_forest_is_deterministic_for_a_seed_and_beats_the_mean_shape(hands):
    train, test = hands(40, seed=1), hands(12, seed=2, prefix="t")
    cfg = resolve("quick", SMALL_RF)
    first = RegressionForest.from_config("hand", cfg).fit(train).predict(test)
    again = RegressionForest.from_config("hand", cfg).fit(train).predict(test)
    other = RegressionForest.from_config("hand", cfg, seed=1).fit(train).predict(test)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    err = np.linalg.norm(first - test.landmarks, axis=-1).mean()
    mean_err = np.linalg.norm(train.landmarks.mean(0) - test.landmarks, axis=-1).mean()
    assert err < 0.8 * mean_err


def test_the_forest_does_not_depend_on_its_threads(hands):
    train, test = hands(30, seed=4), hands(6, seed=5, prefix="t")
    cfg = resolve("quick", SMALL_RF)
    one = RegressionForest.from_config("hand", cfg, n_jobs=1).fit(train)
    two = RegressionForest.from_config("hand", cfg, n_jobs=2).fit(train)
    assert one.forest.n_jobs == 1 and two.forest.n_jobs == 2
    for a, b in zip(one.leaf_mean, two.leaf_mean):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one.predict(test), two.predict(test))


def test_vote_maps_count_the_confident_votes(hands):
    train = hands(20, seed=3)
    cfg = resolve("quick", {**SMALL_RF, "rf_vote_fraction": 0.5})
    forest = RegressionForest.from_config("hand", cfg).fit(train)
    maps = forest.vote_maps(train.masks[0])
    n_votes = train.masks[0].sum() * cfg["rf_trees"]
    assert maps.shape == (5, 96, 96)
    assert np.all(maps.sum((1, 2)) <= np.ceil(0.5 * n_votes))
    assert maps.sum() > 0.9 * 5 * np.ceil(0.5 * n_votes)  # few votes fall outside the patch
    with pytest.raises(LandmarkError, match="not trained"):
        RegressionForest("hand").predict(train)
