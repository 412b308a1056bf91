import gzip

import numpy as np
import pytest

from landmarklib.errors import LandmarkError
from landmarklib.landmarks import HAND
from landmarklib.scans.io import (
    find_scans,
    load_nifti,
    load_scan,
    read_landmarks,
    save_nifti,
    world_to_voxel,
    write_fcsv,
    write_landmark_csv,
    write_mrk_json,
)

AFFINE = np.array([[-0.5, 0, 0, 20.0], [0, -1.0, 0, 15.0], [0, 0, 0.5, -30.0], [0, 0, 0, 1]])
SHAPE = (40, 20, 60)


def _points() -> np.ndarray:
    vox = np.array([[5.0, 3, 50], [12, 4, 55], [20, 5, 57], [28, 6, 54], [35, 7, 45]])
    return vox @ AFFINE[:3, :3].T + AFFINE[:3, 3]


@pytest.fixture
def folder(tmp_path):
    vol = np.zeros(SHAPE, np.float32)
    vol[3:37, 2:10, 5:58] = 500
    save_nifti(tmp_path / "s01.nii.gz", vol, AFFINE)
    write_mrk_json(tmp_path / "s01.mrk.json", HAND, _points())
    return tmp_path


@pytest.mark.parametrize("writer, suffix", [(write_mrk_json, ".mrk.json"), (write_fcsv, ".fcsv"),
                                            (write_landmark_csv, ".csv")])
def test_landmark_formats_round_trip(tmp_path, writer, suffix):
    pts = _points()
    names = list(reversed(HAND))  # file order differs from the task's order
    writer(tmp_path / f"a{suffix}", names, pts[::-1])
    np.testing.assert_allclose(read_landmarks(tmp_path / f"a{suffix}", "hand"), pts, atol=1e-4)


def test_slicer_lps_is_converted_to_ras(tmp_path):
    write_mrk_json(tmp_path / "a.mrk.json", HAND, _points())
    text = (tmp_path / "a.mrk.json").read_text()
    assert '"coordinateSystem": "LPS"' in text and f"{-_points()[0, 0]:.1f}"[:4] in text


def test_names_mapping(tmp_path):
    labels = ["F1", "F2", "F3", "F4", "F5"]
    write_landmark_csv(tmp_path / "a.csv", labels, _points())
    mapping = dict(zip(labels, HAND, strict=True))
    np.testing.assert_allclose(read_landmarks(tmp_path / "a.csv", "hand", names=mapping), _points(), atol=1e-4)
    with pytest.raises(LandmarkError, match=r"a\.csv.*missing.*thumb.*extra/unmatched.*F1"):
        read_landmarks(tmp_path / "a.csv", "hand")


def test_nifti_round_trip(folder):
    data, affine = load_nifti(folder / "s01.nii.gz")
    assert data.shape == SHAPE and data.max() == 500
    np.testing.assert_allclose(affine, AFFINE)
    scan = load_scan(folder / "s01.nii.gz", folder / "s01.mrk.json", "hand")
    assert scan.id == "s01"
    np.testing.assert_allclose(world_to_voxel(scan.landmarks_mm, affine)[0], [5, 3, 50], atol=1e-3)


def test_truncated_nifti(folder):
    raw = (folder / "s01.nii.gz").read_bytes()
    (folder / "s01.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(LandmarkError, match=r"s01\.nii\.gz: unreadable or truncated"):
        load_nifti(folder / "s01.nii.gz")


def test_garbage_nifti(tmp_path):
    (tmp_path / "x.nii").write_bytes(b"not a nifti at all" * 10)
    with pytest.raises(LandmarkError, match=r"x\.nii: unreadable"):
        load_nifti(tmp_path / "x.nii")


def test_truncated_uncompressed_payload(folder):
    raw = gzip.decompress((folder / "s01.nii.gz").read_bytes())
    (folder / "s02.nii").write_bytes(raw[: 352 + 100])  # header intact, voxels cut short
    with pytest.raises(LandmarkError, match=r"s02\.nii: unreadable or truncated"):
        load_nifti(folder / "s02.nii")


def test_non_finite_voxels(tmp_path):
    vol = np.zeros(SHAPE, np.float32)
    vol[1, 2, 3] = np.nan
    save_nifti(tmp_path / "n.nii.gz", vol, AFFINE, dtype=np.float32)
    with pytest.raises(LandmarkError, match=r"n\.nii\.gz: 1 non-finite voxels"):
        load_nifti(tmp_path / "n.nii.gz")


def test_missing_landmark(tmp_path):
    write_mrk_json(tmp_path / "m.mrk.json", HAND[:4], _points()[:4])
    with pytest.raises(LandmarkError, match=r"m\.mrk\.json.*missing \['pinky'\]"):
        read_landmarks(tmp_path / "m.mrk.json", "hand")


def test_extra_landmark(tmp_path):
    write_fcsv(tmp_path / "e.fcsv", [*HAND, "wrist"], np.vstack([_points(), [[0, 0, 0]]]))
    with pytest.raises(LandmarkError, match=r"e\.fcsv.*extra/unmatched \['wrist'\]"):
        read_landmarks(tmp_path / "e.fcsv", "hand")


def test_duplicate_landmark(tmp_path):
    write_landmark_csv(tmp_path / "d.csv", [*HAND, "thumb"], np.vstack([_points(), [[0, 0, 0]]]))
    with pytest.raises(LandmarkError, match=r"d\.csv.*duplicated \['thumb'\]"):
        read_landmarks(tmp_path / "d.csv", "hand")


def test_mismatched_names_for_task(tmp_path):
    write_mrk_json(tmp_path / "b.mrk.json", HAND, _points())
    with pytest.raises(LandmarkError, match=r"b\.mrk\.json.*do not match the body task"):
        read_landmarks(tmp_path / "b.mrk.json", "body")


def test_landmark_outside_volume(folder):
    pts = _points()
    pts[2] += [0, 0, 40.0]  # 80 voxels above the top slice
    write_mrk_json(folder / "s01.mrk.json", HAND, pts)
    with pytest.raises(LandmarkError, match=r"s01\.mrk\.json.*\['middle'\] lie outside the volume"):
        load_scan(folder / "s01.nii.gz", folder / "s01.mrk.json", "hand")


def test_bad_landmark_files(tmp_path):
    (tmp_path / "j.mrk.json").write_text("{not json")
    with pytest.raises(LandmarkError, match=r"j\.mrk\.json: not a 3D Slicer Markups"):
        read_landmarks(tmp_path / "j.mrk.json", "hand")
    (tmp_path / "c.csv").write_text("a,b\n1,2\n")
    with pytest.raises(LandmarkError, match=r"c\.csv: a landmark CSV needs the header name,x,y,z"):
        read_landmarks(tmp_path / "c.csv", "hand")
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(LandmarkError, match="unknown landmark format"):
        read_landmarks(tmp_path / "t.txt", "hand")


def test_find_scans(folder, tmp_path_factory):
    assert find_scans(folder) == [(folder / "s01.nii.gz", folder / "s01.mrk.json")]
    save_nifti(folder / "s02.nii.gz", np.zeros(SHAPE), AFFINE)
    with pytest.raises(LandmarkError, match=r"s02\.nii\.gz: no landmark file"):
        find_scans(folder)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(LandmarkError, match="no \\*.nii"):
        find_scans(empty)
    with pytest.raises(LandmarkError, match="no such scan folder"):
        find_scans(empty / "nope")


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    import nibabel as nib

    def broken_save(img, path):
        open(path, "wb").write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_nifti(tmp_path / "bad.nii.gz", np.zeros((4, 4, 4)), AFFINE)
    assert list(tmp_path.iterdir()) == []
