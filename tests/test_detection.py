"""The detector: the patch -> world inverse path, bundles, ``detect`` and its refusals, Slicer output."""

import json
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from landmarklib import detection
from landmarklib.cli import main
from landmarklib.data import LandmarkSet
from landmarklib.errors import LandmarkError
from landmarklib.landmarks import landmark_names
from landmarklib.models.cnn import LandmarkCNN
from landmarklib.profiles import resolve
from landmarklib.scans.binarize import binarize_volume, to_patch
from landmarklib.scans.io import read_landmarks, save_nifti, write_mrk_json
from landmarklib.scans.world import ScanGeometry, patch_to_world
from tests.conftest import reencode

SPACING = (2.0, 1.5, 2.5)  # mm along the array axes (L, P, S), as the simulated cohorts store them


def _hand(seed: int = 0, *, shape=(44, 22, 56)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tiny MR 'left hand' phantom (palm + five fingers towards superior) stored with array axes
    (L, P, S), its affine (voxel -> RAS mm) and the five fingertips (world RAS mm, inside the fingers)."""
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij")
    palm = ((i - 22) / 12) ** 2 + ((j - 11) / 5) ** 2 + ((k - 16) / 10) ** 2 <= 1
    inside = palm.copy()
    tips = []
    for f, (ci, length) in enumerate(zip((9, 15, 21, 27, 33), rng.integers(14, 24, size=5), strict=True)):
        top = 20 + length if f else 22  # the "thumb" is short
        finger = (np.abs(i - ci) <= 1.6) & (np.abs(j - 10 - f * 0.5) <= 2) & (k >= 14) & (k <= top)
        inside |= finger
        tips.append([ci, 10 + f * 0.5, top - 0.5])
    vol = np.where(inside, 600.0, 0.0) + rng.normal(0, 10, size=shape).clip(0)
    affine = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
    affine[:3, 3] = [30.0 + seed, -20.0, -60.0]
    tips_ras = np.asarray(tips) @ affine[:3, :3].T + affine[:3, 3]
    return vol.astype(np.float32), affine, tips_ras


STORAGES = {"LPS": ((), (0, 1, 2)), "RAS": ((0, 1), (0, 1, 2)), "permuted": ((2,), (2, 0, 1))}


# ----------------------------------------------------------------------------------------------
# the inverse path
# ----------------------------------------------------------------------------------------------
def _oracle(vol, aff, ras, task="hand"):
    proj = binarize_volume(vol, aff, ras, modality="mr")
    patch = to_patch(proj, task)
    return patch, ScanGeometry.of(vol.shape, aff, patch)


@pytest.mark.parametrize("storage", list(STORAGES))
def test_round_trip_is_exact_for_the_annotation(storage):
    """world mm -> binarize/project -> patch -> inverse path -> world mm, with the annotation's own
    continuous patch position and depth as the oracle: the path loses nothing."""
    vol, aff, ras = _hand()
    vol, aff = reencode(vol, aff, *STORAGES[storage])
    patch, geo = _oracle(vol, aff, ras)
    back = patch_to_world(patch.landmarks, patch.landmark_depth, geo)
    # float32 storage of the patch landmarks (to_patch) is the only loss
    np.testing.assert_allclose(back, ras, atol=1e-3)


def test_round_trip_within_the_discretisation_error():
    """Estimates snapped to the patch's pixel centres and the depth to voxel centres come back within
    half a pixel (in mm, per in-plane axis) and half a voxel along depth."""
    vol, aff, ras = _hand(1)
    patch, geo = _oracle(vol, aff, ras)
    snapped_px = np.floor(patch.landmarks) + 0.5
    snapped_d = np.floor(patch.landmark_depth) + 0.5
    err = np.linalg.norm(patch_to_world(snapped_px, snapped_d, geo) - ras, axis=1)
    bound = np.sqrt(((0.5 * patch.mm_per_px) ** 2).sum() + (0.5 * SPACING[1]) ** 2)
    assert err.max() <= bound + 1e-6
    assert err.max() > 0  # the snapping did move the points: the bound is what is tested


def test_inverse_undoes_each_forward_step():
    """A point off the landmarks: forward by hand (affine, reorientation, crop) and back."""
    vol, aff, ras = _hand(2)
    patch, geo = _oracle(vol, aff, ras)
    proj = binarize_volume(vol, aff, ras[:1] + [3.0, -2.0, 5.0], modality="mr")
    p = to_patch(proj, "hand")
    np.testing.assert_allclose(patch_to_world(p.landmarks, p.landmark_depth, geo), ras[:1] + [3.0, -2.0, 5.0], atol=1e-3)


# ----------------------------------------------------------------------------------------------
# bundles (stub: seeded random networks; the end-to-end test trains one)
# ----------------------------------------------------------------------------------------------
def _stub_bundle(path, task="hand"):
    torch.manual_seed(0)
    det = detection.Detector(
        task=task, model=LandmarkCNN(task).eval(),
        depth_model=LandmarkCNN(task, outputs_per_landmark=3).eval() if task == "hand" else None,
        depth_offset=np.zeros(len(landmark_names(task))) if task == "hand" else None,
        binarize={"modality": "mr" if task == "hand" else "ct", "threshold": None,
                  "table_min_mm": 0.0 if task == "hand" else 15.0},
        meta={"depth_source": detection.DEPTH_SOURCES[task], "fingerprint": "stub", "provenance": {}},
    )
    return detection.save_bundle(det, path)


def _folder(tmp_path, name, scans):
    folder = tmp_path / name
    folder.mkdir()
    for stem, (vol, aff) in scans.items():
        save_nifti(folder / f"{stem}.nii.gz", vol, aff, dtype=np.int16)
    return folder


def test_bundle_loads_on_cpu_and_refuses_the_other_task(tmp_path):
    path = _stub_bundle(tmp_path / "detector-hand.pt")
    det = detection.load_bundle(path, task="hand", device="cpu")
    assert det.depth_model is not None and next(det.model.parameters()).device.type == "cpu"
    with pytest.raises(LandmarkError, match="hand task, not body"):
        detection.load_bundle(path, task="body")
    (tmp_path / "junk.pt").write_bytes(b"not a bundle")
    with pytest.raises(LandmarkError, match="junk.pt: not a readable detector bundle"):
        detection.load_bundle(tmp_path / "junk.pt")


def test_missing_bundle_names_the_command_that_trains_it(tmp_path):
    vol, aff, _ = _hand()
    folder = _folder(tmp_path, "scans", {"a": (vol, aff)})
    with pytest.raises(LandmarkError, match=r"python -m landmarklib run --profile cpu"):
        detection.detect(folder, "hand", profile="cpu")
    assert main(["detect", str(folder), "--task", "hand", "--profile", "cpu"]) == 2
    assert not (tmp_path / "scans_landmarks").exists()


def test_same_world_landmarks_for_ras_lps_and_permuted_storage(tmp_path):
    bundle = _stub_bundle(tmp_path / "detector-hand.pt")
    vol, aff, _ = _hand(3)
    worlds = []
    for name, (flips, perm) in STORAGES.items():
        v, a = reencode(vol, aff, flips, perm)
        folder = _folder(tmp_path, name, {"scan": (v, a)})
        res = detection.detect(folder, "hand", model=bundle, progress=False)
        worlds.append(res.table[["x", "y", "z"]].to_numpy())
        assert nib.aff2axcodes(nib.load(folder / "scan.nii.gz").affine)  # stored as asked
    np.testing.assert_allclose(worlds[1], worlds[0], atol=1e-3)
    np.testing.assert_allclose(worlds[2], worlds[0], atol=1e-3)


def test_per_scan_refusals_name_the_file_and_write_nothing_for_it(tmp_path):
    bundle = _stub_bundle(tmp_path / "detector-hand.pt")
    vol, aff, _ = _hand()
    ct = np.where(vol > 300, 40.0, -1000.0).astype(np.float32)
    truncated = vol.copy()
    truncated[:, :, -3:] = truncated[:, :, -6:-3]  # the fingers run out of the top of the volume
    truncated[20:24, 8:14, -3:] = 600
    scans = {"good": (vol, aff), "ct": (ct, aff), "empty": (np.zeros_like(vol), aff), "cut": (truncated, aff)}
    folder = _folder(tmp_path, "scans", scans)
    with pytest.warns(UserWarning) as record:
        res = detection.detect(folder, "hand", model=bundle, out=tmp_path / "out", progress=False)
    messages = " ".join(str(w.message) for w in record)
    assert "ct.nii.gz" in messages and "looks like CT" in messages
    assert "empty.nii.gz" in messages and "no voxel above the air threshold" in messages
    assert "cut.nii.gz" in messages and "superior border" in messages
    assert set(res.skipped) == {"ct.nii.gz", "empty.nii.gz", "cut.nii.gz"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.mrk.json", "landmarks.csv", "landmarks.json"]


def test_nothing_written_when_no_scan_can_be_used_or_a_file_exists(tmp_path):
    bundle = _stub_bundle(tmp_path / "detector-hand.pt")
    vol, aff, _ = _hand()
    folder = _folder(tmp_path, "bad", {"empty": (np.zeros_like(vol), aff)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LandmarkError, match="no scan could be used"):
            detection.detect(folder, "hand", model=bundle, progress=False)
    assert not (tmp_path / "bad_landmarks").exists()
    good = _folder(tmp_path, "good", {"a": (vol, aff)})
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mrk.json").write_text("the user's own file")
    with pytest.raises(LandmarkError, match="would overwrite"):
        detection.detect(good, "hand", model=bundle, out=out, progress=False)
    assert (out / "a.mrk.json").read_text() == "the user's own file"
    assert sorted(p.name for p in out.iterdir()) == ["a.mrk.json"]


def test_body_bundle_refuses_mr_and_gives_mid_depth(tmp_path):
    bundle = _stub_bundle(tmp_path / "detector-body.pt", task="body")
    vol, aff, _ = _hand()
    folder = _folder(tmp_path, "mr", {"a": (vol, aff)})
    with pytest.warns(UserWarning, match="does not look like CT"), pytest.raises(LandmarkError, match="no scan"):
        detection.detect(folder, "body", model=bundle, progress=False)
    ct = np.where(vol > 300, 40.0, -1000.0).astype(np.float32)
    res = detection.detect(_folder(tmp_path, "ct", {"a": (ct, aff)}), "body", model=bundle, progress=False)
    assert (res.table["depth_source"] == "silhouette mid-depth").all()
    # the mid-depth lies inside the phantom's depth extent (array axis 1, voxels 6..16)
    assert res.table["depth_vox"].between(5, 18).all()


# ----------------------------------------------------------------------------------------------
# output files
# ----------------------------------------------------------------------------------------------
def test_mrk_json_follows_slicer_schema_and_reads_back(tmp_path):
    names = landmark_names("hand")
    ras = np.arange(15, dtype=float).reshape(5, 3) - 7
    path = write_mrk_json(tmp_path / "a.mrk.json", names, ras)
    doc = json.loads(path.read_text())
    assert doc["@schema"].endswith("/markups-schema-v1.0.3.json#")
    (markup,) = doc["markups"]
    assert markup["type"] == "Fiducial" and markup["coordinateSystem"] == "LPS" and markup["coordinateUnits"] == "mm"
    for cp, name, p in zip(markup["controlPoints"], names, ras, strict=True):
        assert isinstance(cp["id"], str) and cp["label"] == name and cp["positionStatus"] == "defined"
        assert len(cp["position"]) == 3 and all(isinstance(v, float) for v in cp["position"])
        np.testing.assert_allclose(cp["position"], p * [-1, -1, 1])  # LPS on disk
    np.testing.assert_allclose(read_landmarks(path, "hand"), ras)


def test_end_to_end_detect_with_a_tiny_trained_bundle(tmp_path, capsys):
    """build_bundle on three phantom hands (tiny schedule, untrained starting networks), then the
    command line on three other hands without landmark files, one with one."""
    cfg = resolve("quick", {"finetune_epochs": 1, "finetune_lr_drop_after": 1, "batch_size": 3, "device": "cpu"})
    train = [_hand(s) for s in (10, 11, 12)]
    patches = [to_patch(binarize_volume(v, a, r, modality="mr"), "hand") for v, a, r in train]
    cohort = LandmarkSet(task="hand", masks=np.stack([p.mask for p in patches]),
                         landmarks=np.stack([p.landmarks for p in patches]), ids=["t0", "t1", "t2"],
                         depth=np.stack([p.depth for p in patches]),
                         landmark_depth=np.stack([p.landmark_depth for p in patches]),
                         mm_per_px=np.stack([p.mm_per_px for p in patches]))
    torch.manual_seed(0)
    syn, depth_syn = LandmarkCNN("hand"), LandmarkCNN("hand", outputs_per_landmark=3)
    path = detection.build_bundle("hand", cfg, cohort, pretrained=syn, depth_pretrained=depth_syn, progress=False)
    assert path == detection.bundle_path("hand", "quick")
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["fingerprint"] == detection.data_fingerprint(cohort) and meta["n_scans"] == 3
    assert meta["binarize"] == {"modality": "mr", "threshold": None, "table_min_mm": 0.0}
    assert meta["provenance"]["profile"] == "quick" and meta["depth_source"] == "CNN(depth)"
    mtime = path.stat().st_mtime_ns
    assert detection.build_bundle("hand", cfg, cohort, pretrained=syn) == path
    assert path.stat().st_mtime_ns == mtime  # same data, schedule, seed and CNN(syn): kept
    other = LandmarkCNN("hand")  # another CNN(syn): the bundle is rebuilt from it
    detection.build_bundle("hand", cfg, cohort, pretrained=other, depth_pretrained=depth_syn, progress=False)
    assert path.stat().st_mtime_ns != mtime

    scans = {f"h{s}": _hand(s)[:2] for s in (20, 21, 22)}
    folder = _folder(tmp_path, "hands", scans)
    truth = _hand(22)[2]
    write_mrk_json(folder / "h22.mrk.json", landmark_names("hand"), truth)
    assert main(["detect", str(folder), "--task", "hand", "--profile", "quick"]) == 0
    printed = capsys.readouterr().out
    assert "h20.nii.gz: 5 landmarks" in printed and "no landmark file" in printed
    assert "h22.nii.gz: 5 landmarks" in printed and "mean 3D error" in printed
    out = tmp_path / "hands_landmarks"
    assert sorted(p.name for p in out.iterdir()) == [
        "h20.mrk.json", "h21.mrk.json", "h22.mrk.json", "landmarks.csv", "landmarks.json"]
    table = pd.read_csv(out / "landmarks.csv")
    assert len(table) == 15 and table["error_mm"].notna().sum() == 5
    h22 = table[table["scan"] == "h22"]
    err = np.linalg.norm(h22[["x", "y", "z"]].to_numpy() - truth, axis=1)
    np.testing.assert_allclose(h22["error_mm"], err, atol=1e-3)
    for stem in ("h20", "h21", "h22"):
        back = read_landmarks(out / f"{stem}.mrk.json", "hand")
        np.testing.assert_allclose(back, table[table["scan"] == stem][["x", "y", "z"]].to_numpy(), atol=1e-3)
    # a second run gets a new folder, never the first one's files
    assert main(["detect", str(folder), "--task", "hand", "--profile", "quick"]) == 0
    assert (tmp_path / "hands_landmarks-2" / "landmarks.csv").is_file()


def test_mid_depth_takes_the_first_body_part_with_lungs_filled_and_table_dropped():
    from landmarklib.scans.world import silhouette_mid_depth, solid_body

    d = 40
    view = np.full((5, 5, d), -1000.0)
    view[1:4, 1:4, 5:25] = 40.0  # a trunk, depth voxels 5..24
    view[2, 2, 10:15] = -850.0  # an enclosed lung
    view[:, :, 30:32] = 250.0  # the table's plate, beside the trunk too
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    inside = solid_body(view, -400.0, mask, table=True)
    assert inside[2, 2, 12] and not inside[0, 0, 30] and not inside[2, 2, 30]
    # centre ray (through the lung) and a point off the silhouette (nearest ray): middle of 5..24
    got = silhouette_mid_depth(inside, mask, np.array([[2.5, 2.5], [0.2, 0.2]]))
    np.testing.assert_allclose(got, [15.0, 15.0])
    # without filling, the lung's gap ends the first body part early
    assert silhouette_mid_depth(view > -400, mask, np.array([[2.5, 2.5]]))[0] == pytest.approx(7.5)
