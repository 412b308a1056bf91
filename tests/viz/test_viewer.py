import io

import ipywidgets as widgets
import numpy as np
import pandas as pd
import pytest
from helpers_results import PAPER_LIKE, toy_landmark_set, toy_predictions
from PIL import Image

from landmarklib import LandmarkError
from landmarklib.viz.viewer import OverlayViewer, estimates_for, frame_errors, frame_png


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture(scope="module")
def data():
    hand, body = toy_landmark_set("hand", 5), toy_landmark_set("body", 3, seed=1)
    pred = pd.concat([toy_predictions(hand, PAPER_LIKE), toy_predictions(body, PAPER_LIKE)])
    return hand, body, pred


def test_frame_shows_mask_truth_and_estimate_where_they_are():
    mask = np.zeros((96, 96), bool)
    mask[20:70, 30:60] = True
    truth = np.array([[40.5, 30.5], [50.5, 60.5], [35.5, 50.5], [45.5, 40.5], [55.5, 25.5]])
    est = truth + [10, 0]
    rgb = _pixels(frame_png(mask, truth, {"CNN(ft)": est}, scale=2))
    assert rgb.shape == (192, 192, 3)
    assert tuple(rgb[2, 2]) == (255, 255, 255) and tuple(rgb[90, 90]) == (200, 200, 200)
    from landmarklib.viz.figures import METHOD_COLORS

    color = tuple(int(METHOD_COLORS["CNN(ft)"][i:i + 2], 16) for i in (1, 3, 5))
    x, y = (est[0] * 2).astype(int)
    assert tuple(rgb[y, x]) == color  # centre of the estimate's cross
    tx, ty = (truth[0] * 2).astype(int)
    assert tuple(rgb[ty, tx]) == (255, 255, 255) and (rgb[ty - 2, tx - 3:tx + 4] == 0).all(axis=-1).any()
    only_truth = frame_png(mask, truth, {}, scale=2)
    assert only_truth != frame_png(mask, truth, {"CNN(ft)": est}, scale=2)
    assert frame_png(mask, truth, {"CNN(ft)": est}, landmarks=[], scale=2) == frame_png(mask, truth, {}, landmarks=[], scale=2)


def test_estimates_are_aligned_with_the_cohort_by_subject_and_landmark(data):
    hand, _, pred = data
    shuffled = pred.sample(frac=1, random_state=0)
    shuffled = shuffled[~((shuffled.subject == "s01") & (shuffled.method == "RF"))]
    est = estimates_for(hand, shuffled)
    rows = pred[(pred.task == "hand") & (pred.method == "CNN(ft)") & (pred.subject == "s03")]
    assert np.allclose(est["CNN(ft)"][3], rows[["x_pred", "y_pred"]].to_numpy())
    assert np.isnan(est["RF"][1]).all() and np.isfinite(est["RF"][2]).all()


def test_frame_errors_in_px_and_mm():
    truth = np.zeros((5, 2))
    errors = frame_errors(truth, {"RF": truth + [3, 4]}, ["a", "b", "c", "d", "e"], landmarks=[0, 2])
    assert list(errors.columns) == ["a", "c", "mean"] and np.allclose(errors.loc["RF"], 5)
    mm = frame_errors(truth, {"RF": truth + [3, 4]}, "abcde", mm_per_px=np.array([2.0, 1.0]))
    assert np.allclose(mm.loc["RF", "a"], np.hypot(6, 4))


def test_viewer_links_the_scan_slider_to_precomputed_frames_in_js(data):
    hand, body, pred = data
    viewer = OverlayViewer({"MR hand": (hand, pred), "CT body": (body, pred)})
    assert isinstance(viewer.widget, widgets.Tab) and viewer.widget.titles == ("MR hand", "CT body")
    panel = viewer.panels["MR hand"]
    assert len(panel.stack.children) == len(panel.images) == 5
    assert len({im.value for im in panel.images}) == 5  # every scan its own picture
    links = {(ln.source[0], ln.source[1], ln.target[0], ln.target[1]) for ln in panel.links}
    assert (panel.slider, "value", panel.stack, "selected_index") in links
    assert all(isinstance(ln, widgets.widget_link.Link) for ln in panel.links)  # jslink, not a Python callback
    assert "s02" in panel.tables[2].value and "CNN(MR)" in panel.tables[2].value
    assert 0 < viewer.embedded_bytes() < 8 * 3000  # small palette PNGs
    assert "application/vnd.jupyter.widget-view+json" in viewer._repr_mimebundle_()


def test_live_selection_redraws_frames(data):
    hand, _, pred = data
    viewer = OverlayViewer({"hands": (hand, pred)}, methods=["CNN(ft)", "RF"])
    panel = viewer.panels["hands"]
    before = [im.value for im in panel.images]
    assert "RF" in panel.legend.value and "NN(syn)" not in panel.legend.value
    panel.methods.value = ()
    assert all(a != b for a, b in zip(before, (im.value for im in panel.images)))
    assert panel.images[0].value == frame_png(hand.masks[0], hand.landmarks[0], {}, scale=3)
    assert "ground truth only" in panel.tables[0].value
    panel.methods.value = ("CNN(ft)", "RF")
    assert [im.value for im in panel.images] == before
    panel.landmarks.value = ("thumb",)
    assert "index" not in panel.tables[0].value


def test_viewer_refuses_empty_input_and_unknown_landmarks(data):
    hand, _, pred = data
    with pytest.raises(LandmarkError, match="at least one dataset"):
        OverlayViewer({})
    with pytest.raises(LandmarkError, match="unknown hand landmarks"):
        OverlayViewer({"h": (hand, pred)}, landmarks={"hand": ["toe"]})
    small = OverlayViewer({"h": (hand, pred.iloc[:0])}, max_scans=2)
    assert len(small.panels["h"].images) == 2 and "ground truth only" in small.panels["h"].tables[0].value
