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
