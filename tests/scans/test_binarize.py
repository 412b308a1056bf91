import nibabel as nib
import numpy as np
import pytest

from landmarklib.errors import LandmarkError
from landmarklib.geometry import to_unit
from landmarklib.scans.binarize import binarize_volume, remove_table, reorient, to_patch
from tests.conftest import reencode

SPACING = np.array([2.0, 1.5, 3.0])  # mm along array axes (L, P, S) of the LPS volume


def _lps_volume(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An asymmetric 'body' (ellipsoid + an arm on one side) in an LPS-stored volume + 3 landmarks (RAS mm)."""
    rng = np.random.default_rng(seed)
    shape = (40, 30, 50)
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    body = ((i - 18) / 10) ** 2 + ((j - 12) / 7) ** 2 + ((k - 22) / 18) ** 2 <= 1
    arm = (np.abs(i - 32) <= 2) & (np.abs(j - 10) <= 3) & (k >= 30) & (k <= 45)
    vol = np.where(body | arm, 40.0, -1000.0) + rng.normal(0, 5, size=shape)
    affine = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])
    affine[:3, 3] = [25.0, -40.0, -70.0]
    vox = np.array([[32.0, 8.0, 44.0], [18.0, 5.2, 22.0], [10.3, 12.0, 5.5]])  # arm tip, front, low
    ras = vox @ affine[:3, :3].T + affine[:3, 3]
    return vol.astype(np.float32), affine, ras


@pytest.mark.parametrize(
    "flips, perm", [((0, 1), (0, 1, 2)), ((), (2, 0, 1)), ((2,), (1, 2, 0)), ((0,), (0, 2, 1))]
)
def test_orientation_invariance_ras_lps_flipped(flips, perm):
    vol, aff, ras = _lps_volume()
    ref = binarize_volume(vol, aff, ras, modality="ct")
    vol2, aff2 = reencode(vol, aff, flips, perm)
    assert not np.array_equal(nib.aff2axcodes(aff), nib.aff2axcodes(aff2))
    other = binarize_volume(vol2, aff2, ras, modality="ct")
    np.testing.assert_array_equal(ref.mask, other.mask)
    np.testing.assert_array_equal(ref.depth, other.depth)
    np.testing.assert_allclose(ref.landmarks, other.landmarks, atol=1e-9)
    np.testing.assert_allclose(ref.landmark_depth, other.landmark_depth, atol=1e-9)
    p1, p2 = to_patch(ref, "body"), to_patch(other, "body")
    np.testing.assert_array_equal(p1.mask, p2.mask)
    np.testing.assert_allclose(p1.landmarks, p2.landmarks, atol=1e-5)


def test_ras_stored_volume_matches_lps():
    vol, aff, ras = _lps_volume()
    vol_ras, aff_ras = reencode(vol, aff, (0, 1), (0, 1, 2))
    assert nib.aff2axcodes(aff_ras) == ("R", "A", "S")
    a = binarize_volume(vol, aff, ras, modality="ct")
    b = binarize_volume(vol_ras, aff_ras, ras, modality="ct")
    np.testing.assert_array_equal(a.mask, b.mask)


def test_camera_frame_directions():
    """Rows go towards the feet, columns towards the subject's left, depth towards the back."""
    vol, aff, ras = _lps_volume()
    view, view_aff, spacing = reorient(vol, aff)
    assert nib.aff2axcodes(view_aff) == ("I", "L", "P")
    np.testing.assert_allclose(spacing, [SPACING[2], SPACING[0], SPACING[1]])
    proj = binarize_volume(vol, aff, ras, modality="ct")
    arm_tip, _, low = proj.landmarks
    # the arm lies towards the subject's left (+X, array axis 0 of the LPS volume) and superior
    assert arm_tip[0] > proj.mask.shape[1] / 2 and arm_tip[1] < proj.mask.shape[0] / 2
    assert low[1] > proj.mask.shape[0] * 0.8  # near the feet -> bottom rows
    # depth: the frontmost voxel of the body is ~ j = 5 (12 - 7)
    assert np.nanmin(proj.depth) == pytest.approx(5.5, abs=1.0)


def test_table_removal_drops_plates_keeps_body():
    vol, aff, ras = _lps_volume()
    body_only = binarize_volume(vol, aff, ras, modality="ct")
    with_table = vol.copy()
    with_table[:, 22:24, :] = 250.0  # two 3 mm plates behind the body, across the whole field
    with_table[:, 27:29, :] = 250.0
    plain = binarize_volume(with_table, aff, ras, modality="ct", table_min_mm=0)
    cleaned = binarize_volume(with_table, aff, ras, modality="ct", table_min_mm=8)  # plates: 2 x 3 mm
    assert plain.mask.all()  # the table covers every pixel
    assert not (cleaned.mask & ~body_only.mask).any()  # every table-only pixel is gone
    thick = body_only.count * 1.5 >= 8  # body columns thicker than the threshold on their own
    assert cleaned.mask[thick].all()
    assert cleaned.mask.sum() >= 0.9 * body_only.mask.sum()  # only the thinnest rim may go
    keep = cleaned.mask
    np.testing.assert_array_equal(cleaned.depth[keep], body_only.depth[keep])  # table behind: depth unchanged


def test_remove_table_threshold_in_mm():
    count = np.array([[0, 2, 10]])
    np.testing.assert_array_equal(remove_table(count, 1.5, 3.0), [[False, True, True]])
    np.testing.assert_array_equal(remove_table(count, 1.5, 3.5), [[False, False, True]])


def test_landmark_round_trip_mm_pixel_mm():
    vol, aff, ras = _lps_volume()
    proj = binarize_volume(vol, aff, ras, modality="ct")
    np.testing.assert_allclose(proj.to_world(proj.landmarks, proj.landmark_depth), ras, atol=1e-9)
    patch = to_patch(proj, "body")
    back = proj.to_world(patch.to_image(patch.landmarks), patch.landmark_depth)
    np.testing.assert_allclose(back, ras, atol=1e-3)
    unit = to_unit(patch.landmarks, (76, 160))
    assert np.all(np.abs(unit) <= 1.0)
    # mm per patch pixel: the square pixel size over the crop scale
    assert patch.mm_per_px[0] == pytest.approx(min(SPACING[0], SPACING[2]) / patch.transform.scale, rel=1e-6)


def test_patch_landmarks_match_the_mask():
    vol, aff, ras = _lps_volume()
    patch = to_patch(binarize_volume(vol, aff, ras, modality="ct"), "body")
    assert patch.mask.shape == (160, 76) and patch.depth.shape == (160, 76)
    x, y = np.floor(patch.landmarks[0]).astype(int)  # the arm tip voxel is inside the arm
    assert patch.mask[y, x]
    assert np.isnan(patch.depth[~patch.mask]).all() and np.isfinite(patch.depth[patch.mask]).all()


def test_empty_mask_is_a_clear_error():
    vol, aff, ras = _lps_volume()
    with pytest.raises(LandmarkError, match="scan7.nii.gz.*no voxel above the air threshold"):
        binarize_volume(np.full_like(vol, -1000.0), aff, ras, modality="ct", source="scan7.nii.gz")
    with pytest.raises(LandmarkError, match="empty after table removal"):
        binarize_volume(vol, aff, ras, modality="ct", table_min_mm=1e6)


def test_mr_threshold_is_relative_and_specks_dropped():
    vol, aff, ras = _lps_volume()
    mr = (vol + 1000.0) / 1040.0 * 700.0  # tissue 700, air ~0
    mr[2, 2, 2] = 650.0  # one bright noise voxel far from the body
    proj = binarize_volume(np.abs(mr), aff, ras, modality="mr")
    ref = binarize_volume(vol, aff, ras, modality="ct")
    np.testing.assert_array_equal(proj.mask, ref.mask)
    assert proj.raw_mask.sum() == ref.mask.sum() + 1


def test_binarization_is_deterministic():
    vol, aff, ras = _lps_volume()
    a, b = binarize_volume(vol, aff, ras, modality="ct"), binarize_volume(vol.copy(), aff, ras, modality="ct")
    np.testing.assert_array_equal(a.depth, b.depth)
