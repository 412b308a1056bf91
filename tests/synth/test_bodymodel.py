"""Tests of the anny wrapper: frame, landmarks, parameters, determinism."""

import numpy as np
import pytest
import torch

from landmarklib.errors import LandmarkError
from landmarklib.landmarks import BODY, HAND
from landmarklib.synth import bodymodel as bm

pytestmark = pytest.mark.slow  # needs the anny model cache


def test_sample_params_deterministic_and_sliceable():
    s1, p1 = bm.sample_params("hand", 6, seed=3)
    s2, p2 = bm.sample_params("hand", 3, seed=3, start=3)
    for name in s1:
        np.testing.assert_array_equal(s1[name][3:], s2[name])
    for name in p1:
        np.testing.assert_array_equal(p1[name][3:], p2[name])
    s3, _ = bm.sample_params("hand", 6, seed=4)
    assert not np.array_equal(s1["age_years"], s3["age_years"])
    for p in bm.SPACES["hand"]["shape"]:
        assert np.all((s1[p.name] >= p.low) & (s1[p.name] <= p.high))
    assert 13 <= s1["age_years"].min() and s1["age_years"].max() <= 60


def test_params_array_round_trip():
    s, p = bm.sample_params("body", 4, seed=0)
    arr = bm.params_to_array("body", s, p)
    s2, p2 = bm.array_to_params("body", arr)
    np.testing.assert_allclose(s2["height"], s["height"], rtol=1e-6)
    np.testing.assert_allclose(p2["knee_L"], p["knee_L"], rtol=1e-6)


@pytest.mark.parametrize("task", ["hand", "body"])
def test_pose_shapes_and_determinism(task):
    s, p = bm.sample_params(task, 3, seed=1)
    a = bm.pose(task, s, p)
    b = bm.pose(task, s, p)
    k = len(HAND if task == "hand" else BODY)
    assert a.vertices.shape[0] == 3 and a.vertices.shape[2] == 3 and a.vertices.dtype == torch.float32
    assert a.landmarks.shape == (3, k, 3)
    assert a.faces.shape[1] == 3 and int(a.faces.max()) < a.vertices.shape[1]
    assert torch.equal(a.vertices, b.vertices) and torch.equal(a.landmarks, b.landmarks)


def test_hand_frame():
    """Wrist at the bottom, fingers to +Z, thumb on +X, dorsum towards the camera (-Y)."""
    s, p = bm.default_sample("hand")
    out = bm.pose("hand", s, p)
    v, lm = out.vertices[0], out.landmarks[0]
    tips = dict(zip(HAND, lm))
    assert float(v[:, 2].min()) > -0.03  # wrist near the origin, at the bottom
    assert float(tips["middle"][2]) > 0.12  # fingers point up
    assert float(tips["thumb"][0]) > float(tips["pinky"][0]) + 0.05  # thumb on the subject's-left side (+X)
    # fingers curl towards the palm: the fingertips lie behind (+Y) the knuckle line, i.e. away from the camera
    posed_flexed = bm.pose("hand", s, {**p, "flex_middle": np.array([60.0])}).landmarks[0, 2]
    assert float(posed_flexed[1]) > float(tips["middle"][1]) + 0.01


def test_hand_landmarks_are_fingertips():
    """Each fingertip landmark is the extreme point of its finger along the finger direction."""
    s, p = bm.sample_params("hand", 4, seed=2)
    out = bm.pose("hand", s, p)
    for b in range(4):
        v = out.vertices[b]
        for i in (1, 2, 3):  # index, middle, ring: pointing to +Z; their tips are near the top of the hand
            tip = out.landmarks[b, i]
            near = v[(v[:, 0] - tip[0]).abs() < 0.006]
            assert float(tip[2]) >= float(near[:, 2].max()) - 0.004


def test_body_landmarks():
    s, p = bm.sample_params("body", 4, seed=5)
    out = bm.pose("body", s, p)
    lm = {name: out.landmarks[:, i] for i, name in enumerate(BODY)}
    top = out.vertices[:, :, 2].max(dim=1).values
    assert torch.all(top - lm["head"][:, 2] < 0.005)  # head top = topmost point (within 5 mm)
    bottom = out.vertices[:, :, 2].min(dim=1).values
    for side, sign in (("L", 1), ("R", -1)):
        assert torch.all(sign * lm[f"shoulder{side}"][:, 0] > 0.1)
        assert torch.all(lm[f"foot{side}"][:, 2] < bottom + 0.2)  # toes near the bottom (dorsiflexion lifts them)
        assert torch.all(lm[f"knee{side}"][:, 2] < lm[f"hand{side}"][:, 2])
        assert torch.all(lm[f"hand{side}"][:, 2] < lm[f"shoulder{side}"][:, 2])
        assert torch.all(lm[f"foot{side}"][:, 2] < lm[f"knee{side}"][:, 2] - 0.25)


def test_bad_parameters_refused():
    with pytest.raises(LandmarkError, match="age_years"):
        bm.pose("hand", {"age_years": [200.0]})
    with pytest.raises(LandmarkError, match="unknown"):
        bm.pose("hand", {"shoe_size": [1.0]})
    with pytest.raises(LandmarkError, match="values"):
        bm.pose("body", {"height": [0.5, 0.5]}, {"knee_L": [1.0]})
    with pytest.raises(LandmarkError, match="task"):
        bm.sample_params("foot", 1, 0)
    with pytest.raises(LandmarkError, match="limits"):
        bm.sample_params("hand", 1, 0, space=bm.with_ranges(bm.SPACES["hand"], gender=(0.0, 2.0)))


def test_own_distribution():
    space = bm.with_ranges(bm.SPACES["hand"], age_years=(30.0, 31.0))
    s, _ = bm.sample_params("hand", 5, seed=0, space=space)
    assert np.all((s["age_years"] >= 30) & (s["age_years"] <= 31))


def test_batched_axis_rotation_is_scipys_rotation():
    from scipy.spatial.transform import Rotation

    deg = torch.tensor([-90.0, -12.5, 0.0, 33.0, 180.0])
    for axis in range(3):
        want = Rotation.from_euler("xyz"[axis], deg.numpy().reshape(-1, 1), degrees=True).as_matrix()
        np.testing.assert_allclose(bm._axis_rot(axis, deg).numpy(), want, atol=1e-6)
