import numpy as np
import pytest

from landmarklib import LandmarkError
from landmarklib.data import LandmarkSet


def _set(n=4, task="body"):
    rng = np.random.default_rng(0)
    w, h = (76, 160) if task == "body" else (96, 96)
    k = 9 if task == "body" else 5
    return LandmarkSet(
        task=task, masks=rng.random((n, h, w)) > 0.5, landmarks=rng.uniform(0, 70, (n, k, 2)),
        ids=[f"s{i}" for i in range(n)], landmark_depth=rng.normal(size=(n, k)), meta={"seed": 1},
    )


def test_save_load_round_trip(tmp_path):
    s = _set()
    t = LandmarkSet.load(s.save(tmp_path / "set.npz"))
    assert t.task == "body" and t.meta == {"seed": 1}
    np.testing.assert_array_equal(t.masks, s.masks)
    np.testing.assert_array_equal(t.landmarks, s.landmarks)
    np.testing.assert_array_equal(t.landmark_depth, s.landmark_depth)
    assert t.ids.tolist() == ["s0", "s1", "s2", "s3"] and t.depth is None


def test_unit_landmarks_and_subsets():
    s = _set(task="hand")
    u = s.unit_landmarks()
    np.testing.assert_allclose(u, s.landmarks / 48 - 1, atol=1e-6)
    sub = s.select_ids(["s3", "s1"])
    assert sub.ids.tolist() == ["s1", "s3"] and len(sub) == 2


def test_shapes_are_checked():
    s = _set()
    with pytest.raises(LandmarkError, match=r"landmarks must be \(4, 9, 2\)"):
        LandmarkSet(task="body", masks=s.masks, landmarks=s.landmarks[:, :5], ids=s.ids)
    with pytest.raises(LandmarkError, match="unknown task"):
        LandmarkSet(task="foot", masks=s.masks, landmarks=s.landmarks, ids=s.ids)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(LandmarkError, match="nope.npz: no such landmark set"):
        LandmarkSet.load(tmp_path / "nope.npz")
