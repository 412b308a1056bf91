import numpy as np
import pytest

import landmarklib as lm
from landmarklib.errors import LandmarkError
from landmarklib.scans.binarize import binarize_volume
from landmarklib.scans.cohorts import cohort_dir, generate_cohort, load_cohort
from landmarklib.scans.io import find_scans, load_nifti, read_landmarks, save_nifti, write_mrk_json
from landmarklib.scans.simulate import ANNOTATION_JITTER_MM, local_girth, paint_capsule, voxelize

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

anny = pytest.importorskip("anny")


def _cfg(**over):
    return lm.resolve("quick", dict(mr_subjects=2, ct_subjects=1, mr_voxel_mm=(2.0, 2.0, 2.0),
                                    ct_voxel_mm=(6.0, 6.0, 10.0), **over))


def test_mr_cohort_generation_is_deterministic(tmp_path, monkeypatch):
    cfg = _cfg()
    folder = generate_cohort("hand", cfg, progress=False)
    assert [p[0].name for p in find_scans(folder)] == ["mr000.nii.gz", "mr001.nii.gz"]
    a, aff = load_nifti(folder / "mr000.nii.gz")
    assert aff[0, 0] == -2.0 and aff[1, 1] == -2.0 and aff[2, 2] == 2.0  # LPS-stored, RAS affine
    monkeypatch.setenv("LANDMARKLIB_RENDERS", str(tmp_path / "again"))
    again = generate_cohort("hand", cfg, progress=False)
    assert again != folder
    b, _ = load_nifti(again / "mr000.nii.gz")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(read_landmarks(folder / "mr001.mrk.json", "hand"),
                                  read_landmarks(again / "mr001.mrk.json", "hand"))
    monkeypatch.setenv("LANDMARKLIB_RENDERS", str(tmp_path / "other"))
    other = generate_cohort("hand", _cfg(seed=1), progress=False)
    c, _ = load_nifti(other / "mr000.nii.gz")
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_load_cohort_simulated_and_scan_dir_agree():
    cfg = _cfg()
    data = load_cohort("hand", cfg)
    assert len(data) == 2 and data.masks.shape == (2, 96, 96) and list(data.ids) == ["mr000", "mr001"]
    assert data.depth is not None and data.landmark_depth is not None and data.mm_per_px is not None
    assert np.all(np.abs(data.unit_landmarks()) <= 1.05)
    assert len(list(cohort_dir("hand", cfg).glob("binarized-n2-*.npz"))) == 1
    first = load_cohort("hand", cfg.replace(mr_subjects=1))  # a smaller cohort reads the first subject
    assert list(first.ids) == ["mr000"]
    np.testing.assert_array_equal(first.masks[0], data.masks[0])
    assert (cohort_dir("hand", cfg) / "manifest.json").is_file()
    # the user's-folder path gives the same set
    real = load_cohort("hand", cfg.replace(scan_dir=str(cohort_dir("hand", cfg))))
    np.testing.assert_array_equal(real.masks, data.masks)
    np.testing.assert_allclose(real.landmarks, data.landmarks)
    # landmarks are where the hand is: fingertips lie on or next to the silhouette
    for mask, pts in zip(data.masks, data.landmarks, strict=True):
        ys, xs = np.nonzero(mask)
        d = np.min(np.hypot(xs[None] + 0.5 - pts[:, :1], ys[None] + 0.5 - pts[:, 1:]), axis=1)
        assert np.all(d < 4.0)


def test_ct_subject_has_a_table_that_is_removed():
    cfg = _cfg()
    folder = generate_cohort("body", cfg, progress=False)
    vol, aff = load_nifti(folder / "ct000.nii.gz")
    pts = read_landmarks(folder / "ct000.mrk.json", "body")
    raw = binarize_volume(vol, aff, pts, modality="ct", table_min_mm=0)
    cleaned = binarize_volume(vol, aff, pts, modality="ct", table_min_mm=cfg["table_min_mm"])
    assert raw.mask.sum() > 1.3 * cleaned.mask.sum()  # the table widens the raw silhouette
    # at the level of the head the ~48 cm table is much wider than the head
    row = int(cleaned.landmarks[-1, 1]) + 3
    assert raw.mask[row].sum() > 2 * cleaned.mask[row].sum() > 0
    assert not (cleaned.mask & ~raw.mask).any()
    assert vol.min() < -900 and vol.max() > 500  # air and bone in HU


def test_annotation_jitter_is_small_and_documented():
    assert 0 < ANNOTATION_JITTER_MM["hand"] <= 2 and 0 < ANNOTATION_JITTER_MM["body"] <= 3


def test_scan_dir_errors_name_the_file(tmp_path):
    vol = np.full((10, 10, 10), -1000.0)
    save_nifti(tmp_path / "air.nii.gz", vol, np.diag([-2.0, -2.0, 2.0, 1.0]))
    pts = np.tile([[-9.0, -9.0, 9.0]], (9, 1))
    write_mrk_json(tmp_path / "air.mrk.json", lm.landmarks.BODY, pts)
    with pytest.raises(LandmarkError, match=r"air\.nii\.gz: no voxel above the air threshold"):
        load_cohort("body", _cfg(scan_dir=str(tmp_path)))
