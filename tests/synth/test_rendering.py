"""Tests of the synthetic renderer: rasterizer exactness, crop/eq. (1), landmarks, storage, stream."""

from pathlib import Path

import numpy as np
import pytest
import torch

from landmarklib.errors import LandmarkError
from landmarklib.geometry import PATCH_SIZE, fit_transform, from_unit, to_unit
from landmarklib.landmarks import BODY, HAND
from landmarklib.profiles import resolve
from landmarklib.synth import bodymodel as bm
from landmarklib.synth import rendering as R


def _brute_force(points, depth, faces, size):
    """Every pixel centre against every triangle (slow, obviously right)."""
    pw, ph = size
    ys, xs = np.mgrid[0:ph, 0:pw] + 0.5
    out = np.full((ph, pw), np.inf)
    for f in faces:
        (xa, ya), (xb, yb), (xc, yc) = points[f]
        area = (xb - xa) * (yc - ya) - (yb - ya) * (xc - xa)
        if abs(area) < 1e-12:
            continue
        wa = ((yb - yc) * (xs - xc) + (xc - xb) * (ys - yc)) / area
        wb = ((yc - ya) * (xs - xc) + (xa - xc) * (ys - yc)) / area
        wc = 1 - wa - wb
        z = wa * depth[f[0]] + wb * depth[f[1]] + wc * depth[f[2]]
        inside = (wa >= -1e-6) & (wb >= -1e-6) & (wc >= -1e-6)
        out = np.where(inside, np.minimum(out, z), out)
    return out


def test_rasterize_matches_brute_force():
    rng = np.random.default_rng(0)
    size = (40, 30)
    n_tri = 60
    # triangles of all sizes, some larger than MAX_WINDOW, some partly outside the patch
    centres = rng.uniform(-3, 43, (n_tri, 1, 2))
    pts = (centres + rng.normal(0, rng.choice([0.5, 2, 8], (n_tri, 1, 1)), (n_tri, 3, 2))).reshape(-1, 2)
    depth = rng.uniform(0, 1, len(pts))
    faces = np.arange(len(pts)).reshape(-1, 3)
    got = R.rasterize(torch.tensor(pts[None], dtype=torch.float64), torch.tensor(depth[None]), torch.tensor(faces), size)
    want = _brute_force(pts, depth, faces, size)
    got = got[0].numpy()
    assert np.array_equal(np.isfinite(got), np.isfinite(want))
    both = np.isfinite(want)
    np.testing.assert_allclose(got[both], want[both], atol=1e-9)
    assert both.sum() > 200  # the test draws something


def test_rasterize_square_exact():
    # a square from (10, 5) to (30, 25) made of two triangles, depth = x / 100
    pts = torch.tensor([[[10.0, 5], [30, 5], [30, 25], [10, 25]]])
    z = pts[..., 0] / 100
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    out = R.rasterize(pts, z, faces, (40, 30))[0]
    mask = torch.isfinite(out)
    assert mask.sum() == 400 and mask[5:25, 10:30].all()
    np.testing.assert_allclose(out[10, 10:30].numpy(), (np.arange(10, 30) + 0.5) / 100, rtol=1e-5)
    # both culling signs: one keeps the square, the other drops it
    kept = [int(torch.isfinite(R.rasterize(pts, z, faces, (40, 30), cull=c)).sum()) for c in (1, -1)]
    assert sorted(kept) == [0, 400]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["hand", "body"])
def test_culling_is_exact(task):
    s, p = bm.sample_params(task, 6, seed=11)
    posed = bm.pose(task, s, p)
    a = R.render_meshes(task, *posed, cull=0)
    b = R.render_meshes(task, *posed, cull=R.CULL[task])
    assert torch.equal(a.masks, b.masks)
    assert torch.allclose(a.depth[a.masks], b.depth[b.masks])


def test_fit_boxes_matches_geometry():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0], [-0.1, -0.9, 0.1, 0.85]], dtype=torch.float64)
    scale, offset = R.fit_boxes(boxes, PATCH_SIZE["body"])
    for i in range(2):
        t = fit_transform(boxes[i].numpy(), PATCH_SIZE["body"])
        assert scale[i].item() == pytest.approx(t.scale)
        np.testing.assert_allclose(offset[i].numpy(), t.offset)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["hand", "body"])
def test_landmarks_crop_and_eq1_round_trip(task):
    s, p = bm.sample_params(task, 4, seed=1)
    posed = bm.pose(task, s, p)
    r = R.render_meshes(task, *posed)
    size = PATCH_SIZE[task]
    v = posed.vertices.numpy().astype(np.float64)
    for i in range(4):
        xy = np.stack((v[i, :, 0], -v[i, :, 2]), 1)
        t = fit_transform((*xy.min(0), *xy.max(0)), size)
        lm3 = posed.landmarks[i].numpy()
        want = t.apply(np.stack((lm3[:, 0], -lm3[:, 2]), 1))
        np.testing.assert_allclose(r.landmarks[i].numpy(), want, atol=1e-3)
        unit = to_unit(r.landmarks[i].numpy(), size)
        assert np.all(np.abs(unit) <= 1)
        np.testing.assert_allclose(from_unit(unit, size), r.landmarks[i].numpy(), atol=1e-4)
        # landmark depth = its Y minus the nearest vertex's Y
        np.testing.assert_allclose(r.landmark_depth[i].numpy(), lm3[:, 1] - v[i, :, 1].min(), atol=1e-6)
    # the silhouette touches the crop margin: the object fills the patch along one axis
    rows = r.masks.any(dim=2).sum(1)
    cols = r.masks.any(dim=1).sum(1)
    assert torch.all((rows >= 0.94 * size[1]) | (cols >= 0.94 * size[0]))


@pytest.mark.slow
def test_fingertips_on_silhouette_boundary():
    s, p = bm.sample_params("hand", 8, seed=4)
    r = R.render_meshes("hand", *bm.pose("hand", s, p))
    masks = r.masks.numpy()
    for i in range(8):
        m = np.pad(masks[i], 3)
        for j, name in enumerate(HAND):
            x, y = (r.landmarks[i, j].numpy() + 3).astype(int)
            window = m[y - 2 : y + 3, x - 2 : x + 3]
            assert window.any() and not window.all(), (i, name)  # object and background within 2 px


@pytest.mark.slow
def test_head_top_is_topmost_row():
    s, p = bm.sample_params("body", 6, seed=9)
    r = R.render_meshes("body", *bm.pose("body", s, p))
    head = BODY.index("head")
    for i in range(6):
        top_row = np.flatnonzero(r.masks[i].numpy().any(axis=1))[0]
        assert abs(r.landmarks[i, head, 1].item() - top_row) <= 1.0


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 10 samples keep the storage tests fast (the block size is part of the storage key)."""
    monkeypatch.setitem(R.BLOCK, "body", 10)
    monkeypatch.setitem(R.BLOCK, "hand", 10)


def _cfg(tmp_path, **kw):
    return resolve("quick", {"renders_dir": str(tmp_path / "r"), "device": "cpu", **kw})


@pytest.mark.slow
def test_render_range_blocks_consistent(small_blocks):
    a = R.render_range("hand", 0, 8, 13)
    b = R.render_range("hand", 0, 5, 20)
    for k in ("masks", "depth", "landmarks", "params", "index"):
        np.testing.assert_array_equal(a[k], b[k][3:8])


@pytest.mark.slow
def test_load_renders_deterministic_and_stream_equal(tmp_path, small_blocks):
    cfg = _cfg(tmp_path, shard_size=10, seed=3)
    a = R.load_renders("body", cfg, n=15, progress=False)
    assert len(a) == 15 and a.depth is not None and a.landmark_depth.shape == (15, len(BODY))
    assert len(list(Path(a.meta["source"]).glob("shard_*.npz"))) == 2
    b = R.load_renders("body", _cfg(tmp_path / "other", shard_size=10, seed=3), n=15, progress=False)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    no_depth = R.load_renders("body", cfg, n=15, progress=False, with_depth=False)
    assert no_depth.depth is None
    np.testing.assert_array_equal(no_depth.masks, a.masks)
    c = R.load_renders("body", _cfg(tmp_path / "c", shard_size=10, seed=4), n=5, progress=False)
    assert not np.array_equal(a.landmarks[:5], c.landmarks)
    # stream sample i == stored sample i
    stream = list(R.SyntheticStream("body", seed=3, n=4, start=8))
    assert len(stream) == 4
    for j, item in enumerate(stream):
        i = 8 + j
        assert item["index"] == i
        np.testing.assert_array_equal(item["mask"].numpy(), a.masks[i])
        np.testing.assert_array_equal(item["landmarks"].numpy(), a.landmarks[i])
        np.testing.assert_array_equal(item["depth"].numpy().astype(np.float16), a.depth[i].astype(np.float16))
        np.testing.assert_allclose(item["unit_landmarks"].numpy(), a.unit_landmarks()[i], atol=1e-6)


@pytest.mark.slow
def test_interrupted_run_resumes(tmp_path, monkeypatch, small_blocks):
    cfg = _cfg(tmp_path, shard_size=10, seed=1)
    real = R.render_range
    calls = []

    def crash_on_second(task, seed, start, stop, **kw):
        calls.append(start)
        if calls == [0, 10]:
            out = real(task, seed, start, start + 10, **kw)  # half the work, then the machine dies
            raise RuntimeError(f"simulated crash after {len(out['index'])} samples")
        return real(task, seed, start, stop, **kw)

    monkeypatch.setattr(R, "render_range", crash_on_second)
    with pytest.raises(RuntimeError, match="simulated crash"):
        R.load_renders("body", cfg, n=30, progress=False)
    folder = next((tmp_path / "r" / "synthetic" / "body").iterdir())
    assert sorted(p.name for p in folder.iterdir()) == ["provenance.json", "shard_00000.npz"]  # no half shard
    calls.clear()
    resumed = R.load_renders("body", cfg, n=30, progress=False)
    assert calls == [10, 20]  # resumed at the first missing shard
    monkeypatch.setattr(R, "render_range", real)
    fresh = R.load_renders("body", _cfg(tmp_path / "fresh", shard_size=10, seed=1), n=30, progress=False)
    np.testing.assert_array_equal(resumed.masks, fresh.masks)
    np.testing.assert_array_equal(resumed.landmarks, fresh.landmarks)


@pytest.mark.slow
def test_bad_arguments_refused(tmp_path):
    with pytest.raises(LandmarkError, match="n >= 1"):
        R.load_renders("hand", _cfg(tmp_path), n=0)
    with pytest.raises(LandmarkError, match="task"):
        R.load_renders("foot", _cfg(tmp_path), n=1)
    with pytest.raises(LandmarkError, match=">= 0"):
        R.SyntheticStream("hand", seed=-1, n=3)
    with pytest.raises(LandmarkError, match="outside its limits"):
        R.render_params("body", {"weight": [1.5]})


@pytest.mark.slow
def test_corrupt_shard_reported(tmp_path, small_blocks):
    cfg = _cfg(tmp_path, shard_size=10, seed=2)
    a = R.load_renders("body", cfg, n=10, progress=False)
    shard = Path(a.meta["source"]) / "shard_00000.npz"
    shard.write_bytes(b"not a zip")
    with pytest.raises(LandmarkError, match="delete it"):
        R.load_renders("body", cfg, n=10, progress=False)


@pytest.mark.slow
def test_parallel_workers_give_the_same_shards(tmp_path):
    serial = R.load_renders("body", _cfg(tmp_path / "a", shard_size=50, seed=6), n=100, progress=False)
    parallel = R.load_renders("body", _cfg(tmp_path / "b", shard_size=50, seed=6), n=100, progress=False, workers=2)
    np.testing.assert_array_equal(serial.masks, parallel.masks)
    np.testing.assert_array_equal(serial.depth, parallel.depth)
    np.testing.assert_array_equal(serial.landmarks, parallel.landmarks)
