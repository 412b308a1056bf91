import numpy as np
import pytest

from landmarklib.scans.simulate import local_girth, paint_capsule, voxelize

# ------------------------------------------------------------------ meshes built here


def _box(lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    v = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return v, f


def _ellipsoid(center, axes, n_theta=40, n_phi=80):
    """A closed UV-sphere mesh scaled to ``axes``."""
    theta = np.linspace(0, np.pi, n_theta + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    v = np.vstack([[0, 0, 1], ring, [0, 0, -1]]) * axes + center
    faces = []
    idx = lambda i, j: 1 + i * n_phi + (j % n_phi)  # noqa: E731
    for j in range(n_phi):
        faces.append([0, idx(0, j), idx(0, j + 1)])
        faces.append([len(v) - 1, idx(n_theta - 2, j + 1), idx(n_theta - 2, j)])
        for i in range(n_theta - 2):
            faces += [[idx(i, j), idx(i + 1, j), idx(i + 1, j + 1)], [idx(i, j), idx(i + 1, j + 1), idx(i, j + 1)]]
    return v, np.array(faces)


def _cylinder(center, radius, half_len, n=64):
    """Closed cylinder along axis 1 (the ray axis): caps normal to the rays."""
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.stack([radius * np.cos(a), np.zeros(n), radius * np.sin(a)], 1)
    v = np.vstack([ring + [0, -half_len, 0], ring + [0, half_len, 0], [[0, -half_len, 0], [0, half_len, 0]]]) + center
    f = []
    for i in range(n):
        j = (i + 1) % n
        f += [[i, j, n + j], [i, n + j, n + i], [2 * n, j, i], [2 * n + 1, n + i, n + j]]
    return v, np.array(f)


def test_voxelize_box_exact():
    v, f = _box([3.3, 2.2, 4.7], [10.6, 8.4, 12.2])
    inside = voxelize(v, f, (15, 12, 16))
    i, j, k = np.meshgrid(np.arange(15), np.arange(12), np.arange(16), indexing="ij")
    truth = (i > 3.3) & (i < 10.6) & (j > 2.2) & (j < 8.4) & (k > 4.7) & (k < 12.2)
    np.testing.assert_array_equal(inside, truth)


@pytest.mark.parametrize("shape_fn", ["ellipsoid", "cylinder"])
def test_voxelize_curved_shapes(shape_fn):
    grid = (40, 36, 44)
    i, j, k = np.meshgrid(*[np.arange(n) for n in grid], indexing="ij")
    if shape_fn == "ellipsoid":
        c, ax = np.array([19.3, 17.1, 21.6]), np.array([14.0, 9.0, 17.0])
        v, f = _ellipsoid(c, ax)
        truth = ((i - c[0]) / ax[0]) ** 2 + ((j - c[1]) / ax[1]) ** 2 + ((k - c[2]) / ax[2]) ** 2 <= 1
    else:
        c = np.array([20.2, 18.4, 21.1])
        v, f = _cylinder(c, 12.0, 10.0)
        truth = ((i - c[0]) ** 2 + (k - c[2]) ** 2 <= 144) & (np.abs(j - c[1]) <= 10)
    inside = voxelize(v, f, grid)
    disagree = (inside != truth).sum()
    assert disagree <= 0.03 * truth.sum()  # only the faceted surface layer may differ
    assert inside[tuple(np.round(c).astype(int))]
    assert not inside[0, 0, 0]


def test_voxelize_open_mesh_does_not_streak():
    v, f = _box([3.3, 2.2, 4.7], [10.6, 8.4, 12.2])
    f = f[2:]  # remove one face (like the hand's open wrist)
    inside = voxelize(v, f, (15, 12, 16))
    assert not inside[:, 9:, :].any() and not inside[:, :2, :].any()  # nothing beyond the box along the rays


def test_paint_capsule_distance():
    grid = np.zeros((20, 20, 20))
    sl, dist = paint_capsule(grid, [5, 10, 10], [15, 10, 10], 3.0, np.array([1.0, 1.0, 2.0]))
    block = np.zeros_like(grid)
    block[sl] = dist
    assert block[10, 10, 10] == pytest.approx(0.0)
    assert block[10, 13, 10] == pytest.approx(3.0)
    assert block[10, 10, 11] == pytest.approx(2.0)  # 1 voxel = 2 mm along the last axis
    assert paint_capsule(grid, [50, 50, 50], [60, 60, 60], 1.0, np.ones(3)) is None


def test_local_girth_scales_about_the_bone():
    heads = np.array([[0.0, 0, 0], [0, 0, 1.0]])
    verts = np.array([[1.0, 0, 0.5], [0, 2.0, 0.2]])
    idx, w = np.array([[1, 0], [1, 0]]), np.array([[1.0, 0.0], [1.0, 0.0]])
    same = local_girth(verts, heads, [-1, 0], idx, w, np.array([1.0, 1.0]))
    np.testing.assert_allclose(same, verts)
    fat = local_girth(verts, heads, [-1, 0], idx, w, np.array([1.0, 1.2]))
    np.testing.assert_allclose(fat, [[1.2, 0, 0.5], [0, 2.4, 0.2]])


# ------------------------------------------------------------------ cohorts (anny)


# ------------------------------------------------------------------ realism levels (issue 16)

from landmarklib.errors import LandmarkError  # noqa: E402
from landmarklib.scans import simulate as sim  # noqa: E402

#: sha256 of simulate_scan's float32 volume of subject 0 (seed 0, quick voxel sizes) made by the code
#: before the realism levels existed (main at e6b3753). A numpy/scipy/anny upgrade may change these
#: bits; then regenerate them from that commit, not from this branch.
_MAIN_SHA = {"hand": "8d313df0873a18380b4e57edc3d734c9beac6c0c9998a4384e1a4fc6858028af",
             "body": "b35df41656ba11f3b0c8fed3031f76d1dc1eea85a32c67c376a5debec9b1cec3"}
_QUICK_VOXEL = {"hand": (1.5, 1.0, 1.5), "body": (5.0, 5.0, 10.0)}


def _scan(task, level, index=0):
    pytest.importorskip("anny")
    subject = sim.sample_subject(task, index, 0, level)
    vol, aff, info = sim.simulate_scan(subject, task, spacing_mm=_QUICK_VOXEL[task], seed=0, index=index,
                                       realism_level=level)
    return subject, vol, info


@pytest.mark.parametrize("task", ["hand", "body"])
def test_clean_level_reproduces_the_cohort_before_the_levels_bit_for_bit(task):
    import hashlib

    _, vol, _ = _scan(task, "clean")
    assert hashlib.sha256(vol.tobytes()).hexdigest() == _MAIN_SHA[task]


def test_levels_are_deterministic_and_differ_from_clean():
    s1, v1, i1 = _scan("hand", "hard")
    s2, v2, i2 = _scan("hand", "hard")
    assert np.array_equal(v1, v2) and i1 == i2 and np.array_equal(s1.landmarks, s2.landmarks)
    _, v0, _ = _scan("hand", "clean")
    assert v0.shape != v1.shape or not np.array_equal(v0, v1)


def test_cut_forearm_touches_the_volume_border():
    _, vol, info = _scan("hand", "hard")
    assert info["forearm_mm"] >= 20
    thr = 0.25 * np.percentile(vol, 99.5)  # the MR air threshold (binarize.MR_THRESHOLD_FRACTION)
    assert (vol[:, :, 0] > thr).sum() > 20  # tissue on the lower (proximal) face: cut by the field of view
    _, clean, _ = _scan("hand", "clean")
    assert (clean[:, :, 0] > 0.25 * np.percentile(clean, 99.5)).sum() == 0


def test_close_gaps_merges_touching_parts_and_keeps_wide_gaps():
    inside = np.zeros((30, 3, 3), bool)
    inside[2:8], inside[10:16], inside[26:29] = True, True, True  # gaps of 2 and 10 voxels
    closed = sim.close_gaps(inside, gap_mm=3.0, spacing_x=1.0)
    assert closed[8:10].all() and not closed[16:26].any() and (closed >= inside).all()
    # fewer separate runs along x = fewer gaps between fingers in the silhouette
    runs = lambda m: int(np.sum(np.diff(m[:, 1, 1].astype(int)) == 1))  # noqa: E731
    assert runs(closed) < runs(inside)


def test_table_thickness_varies_and_cushions_appear():
    infos = [_scan("body", "hard", i)[2] for i in range(3)]
    plates = [info["table_plate_mm"] for info in infos]
    assert len(set(plates)) == 3 and all(3 <= p <= 12 for p in plates)
    assert any("cushions" in info for info in infos)


def test_realism_table_and_unknown_level():
    table = sim.realism_table()
    assert list(table.columns[2:5]) == list(sim.LEVELS) and set(table.index) == set(sim.REALISM)
    assert set(sim.REALISM) == set(sim.REALISM_NOTES)
    with pytest.raises(LandmarkError, match="realism level 'harder'"):
        sim.realism("harder")


def test_the_field_of_view_offset_moves_every_landmark_depth_alike():
    """``hard`` places the field of view's back edge by a random distance (fov_depth_sd_mm): the volume's
    origin along depth moves by that offset, so every landmark's depth in voxels moves alike. (The
    effect was once inert: a 70 mm field of view was shallower than the hands.)"""
    pytest.importorskip("anny")
    sd = sim.realism("hard")["fov_depth_sd_mm"]
    assert sim.realism("paper")["fov_depth_sd_mm"] is None
    depths = []
    for i in range(2):
        subject = sim.sample_subject("hand", i, 0, "hard")
        _, aff, info = sim.simulate_scan(subject, "hand", spacing_mm=(2.0, 1.0, 2.0), seed=0, index=i,
                                         realism_level="hard")
        assert abs(info["fov_offset_mm"]) <= 2.5 * sd
        origin_y = -aff[1, 3]  # RAS affine of L, P, S axes: origin = -(model Y)
        back = subject.vertices[:, 1].min() * 1000
        # the back margin is 18 mm + 2.5 sd + the offset (floored to the 1 mm voxel grid)
        assert back - origin_y == pytest.approx(18 + 2.5 * sd + info["fov_offset_mm"], abs=1.0)
        depths.append(info["fov_offset_mm"])
    assert depths[0] != depths[1]
