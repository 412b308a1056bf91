import numpy as np
import pytest

import landmarklib as lm
from landmarklib.errors import LandmarkError
from landmarklib.scans.binarize import binarize_volume
from landmarklib.scans.cohorts import cohort_dir, generate_cohort, load_cohort
from landmarklib.scans.io import find_scans, load_nifti, read_landmarks, save_nifti, write_mrk_json
from landmarklib.scans.simulate import ANNOTATION_JITTER_MM

anny = pytest.importorskip("anny")


def _cfg(**over):
    return lm.resolve("quick", dict(mr_subjects=2, ct_subjects=1, mr_voxel_mm=(2.0, 2.0, 2.0),
                                    ct_voxel_mm=(6.0, 6.0, 10.0), **over))


def test_mr_cohort_generation_is_deterministic_and_stays_in_its_root(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDMARKLIB_RENDERS", str(tmp_path / "default"))
    cfg = _cfg(renders_dir=str(tmp_path / "first"))
    folder = generate_cohort("hand", cfg, progress=False)
    assert folder.is_relative_to(tmp_path / "first") and cohort_dir("hand", cfg) == folder
    assert [p[0].name for p in find_scans(folder)] == ["mr000.nii.gz", "mr001.nii.gz"]
    a, aff = load_nifti(folder / "mr000.nii.gz")
    assert aff[0, 0] == -2.0 and aff[1, 1] == -2.0 and aff[2, 2] == 2.0  # LPS-stored, RAS affine
    # two processes (spawned) write the same files as one
    again = generate_cohort("hand", cfg.replace(renders_dir=str(tmp_path / "again")), progress=False, workers=2)
    assert again.is_relative_to(tmp_path / "again")
    assert (again / "subjects.csv").read_text() == (folder / "subjects.csv").read_text()
    assert not (tmp_path / "default").exists()
    b, _ = load_nifti(again / "mr000.nii.gz")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(read_landmarks(folder / "mr001.mrk.json", "hand"),
                                  read_landmarks(again / "mr001.mrk.json", "hand"))
    other = generate_cohort("hand", _cfg(seed=1, renders_dir=str(tmp_path / "other")), progress=False)
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


def test_cohort_folder_keys_the_realism_level(tmp_path):
    clean = cohort_dir("hand", _cfg(renders_dir=str(tmp_path)))
    assert clean.name == "seed0-vox2x2x2"  # the name before the levels existed: caches stay valid
    paper = cohort_dir("hand", _cfg(renders_dir=str(tmp_path), realism="paper"))
    assert paper.name.startswith("seed0-vox2x2x2-paper-") and paper != clean
    with pytest.raises(LandmarkError, match="unknown realism level"):
        _cfg(realism="extreme")
