import numpy as np
import pytest

from landmarklib.geometry import PATCH_SIZE, bbox_of_mask, fit_transform, from_unit, to_unit, warp_mask


@pytest.mark.parametrize("task", ["hand", "body"])
def test_eq1_round_trip_and_range(task):
    size = PATCH_SIZE[task]
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, (50, 5, 2)) * np.array(size)
    unit = to_unit(pts, size)
    assert unit.min() >= -1 and unit.max() <= 1
    np.testing.assert_allclose(from_unit(unit, size), pts)
    np.testing.assert_allclose(to_unit(np.array([[0, 0], size]), size), [[-1, -1], [1, 1]])


def test_patch_sizes_are_the_papers():
    assert PATCH_SIZE == {"hand": (96, 96), "body": (76, 160)}


def test_fit_transform_keeps_aspect_and_centres():
    t = fit_transform((10, 20, 30, 60), (76, 160), margin=0.05)
    corners = t.apply(np.array([[10, 20], [30, 60]]))
    width, height = corners[1] - corners[0]
    assert width / height == pytest.approx(20 / 40)
    assert width == pytest.approx(76 * 0.9)  # the limiting side fills the patch less the margins
    np.testing.assert_allclose(corners.mean(axis=0), [38, 80])
    np.testing.assert_allclose(t.invert(corners), [[10, 20], [30, 60]])


def test_warp_mask_matches_the_point_transform():
    img = np.zeros((40, 30), bool)
    img[10:30, 5:15] = True
    box = bbox_of_mask(img)
    assert box == (5.0, 10.0, 15.0, 30.0)
    t = fit_transform(box, (96, 96), margin=0)
    patch = warp_mask(img, t, (96, 96))
    assert patch.shape == (96, 96)
    # the object's box maps onto the patch rows fully and centred in x
    rows, cols = np.flatnonzero(patch.any(1)), np.flatnonzero(patch.any(0))
    assert rows[0] == 0 and rows[-1] == 95
    assert abs((cols[0] + cols[-1] + 1) / 2 - 48) <= 1
    assert abs((cols[-1] + 1 - cols[0]) - 48) <= 1


def test_empty_mask_has_no_box():
    with pytest.raises(ValueError, match="empty mask"):
        bbox_of_mask(np.zeros((4, 4), bool))
