"""Cross-check of the fast renderer against Blender (bpy) on a handful of posed meshes."""

import importlib.util

import numpy as np
import pytest

from landmarklib.synth import blender as B
from landmarklib.synth import bodymodel as bm
from landmarklib.synth import rendering as R

pytestmark = [pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy not installed")]


@pytest.mark.parametrize(("task", "n"), [("hand", 3), ("body", 2)])
def test_fast_renderer_matches_blender(task, n):
    s, p = bm.sample_params(task, n, seed=21)
    posed = bm.pose(task, s, p)
    ours = R.render_meshes(task, *posed)
    ref = B.render_with_blender(
        posed.vertices.numpy(), posed.faces.numpy(), R.PATCH_SIZE[task], ours.scale.numpy(), ours.offset.numpy(),
        ours.near.numpy(), engine="workbench",
    )
    c = B.compare(ours.masks.numpy(), ours.depth.numpy(), ref["masks"], ref["depth"])
    pixel_m = 1.0 / ours.scale.numpy()
    assert np.all(c["iou"] >= 0.98), c["iou"]
    assert np.all(c["depth_abs_p99"] < 0.05 * pixel_m), (c["depth_abs_p99"], pixel_m)
    assert ref["masks"].sum() > 0.2 * ref["masks"].size  # Blender drew something real


def test_compare_detects_a_difference():
    a = np.zeros((1, 10, 10), bool)
    a[0, 2:8, 2:8] = True
    b = a.copy()
    b[0, 2:8, 2:5] = False
    c = B.compare(a, np.where(a, 1.0, np.nan), b, np.where(b, 1.5, np.nan))
    assert c["iou"][0] == pytest.approx(0.5) and c["depth_abs_max"][0] == pytest.approx(0.5)
