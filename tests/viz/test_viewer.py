import base64
import io
import json
import re

import ipywidgets as widgets
import numpy as np
import pandas as pd
import pytest
from helpers_results import PAPER_LIKE, toy_landmark_set, toy_predictions
from ipywidgets.embed import dependency_state
from PIL import Image

from landmarklib import LandmarkError
from landmarklib.viz.viewer import DEFAULT_MAX_SCANS, OverlayViewer, estimates_for, frame_errors, frame_png


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


def _frame_png(leaf) -> bytes:
    """The PNG a precomputed frame (an HTML widget) shows."""
    match = re.search(r"src='data:image/png;base64,([^']+)'", leaf.value)
    assert match, leaf.value[:200]
    return base64.b64decode(match.group(1))


def _links(panel) -> set:
    assert all(isinstance(ln, widgets.widget_link.Link) for ln in panel.links)  # jslink, not a Python callback
    return {(id(ln.source[0]), ln.source[1], id(ln.target[0]), ln.target[1]) for ln in panel.links}


def test_every_selector_is_linked_in_js_to_every_stack_of_its_level(data):
    hand, body, pred = data
    viewer = OverlayViewer({"MR hand": (hand, pred), "CT body": (body, pred)})
    assert isinstance(viewer.widget, widgets.Tab) and viewer.widget.titles == ("MR hand", "CT body")
    panel = viewer.panels["MR hand"]
    assert panel.method.options == ("all methods", "NN(syn)", "NN(MR)", "RF", "CNN(syn)", "CNN(MR)",
                                    "CNN(ft)", "ground truth only")
    assert panel.landmark.options == ("all landmarks", "thumb", "index", "middle", "ring", "pinky")
    links = _links(panel)
    assert (id(panel.method), "index", id(panel.stack), "selected_index") in links
    assert panel.stack.children == tuple(panel.landmark_stacks) and len(panel.landmark_stacks) == 8
    for a, landmark_stack in enumerate(panel.landmark_stacks):
        assert (id(panel.landmark), "index", id(landmark_stack), "selected_index") in links
        assert landmark_stack.children == tuple(panel.scan_stacks[a]) and len(panel.scan_stacks[a]) == 6
        for b, scan_stack in enumerate(panel.scan_stacks[a]):
            assert (id(panel.slider), "value", id(scan_stack), "selected_index") in links
            assert scan_stack.children == tuple(panel.frames[a][b]) and len(scan_stack.children) == 5
    assert len(links) == 1 + 8 + 8 * 6
    assert panel.slider.max == 4 and "5 of 5 scans shown" in panel.note.value
    assert "application/vnd.jupyter.widget-view+json" in viewer._repr_mimebundle_()


def test_frames_draw_what_their_place_in_the_stacks_selects(data):
    hand, _, pred = data
    panel = OverlayViewer({"MR hand": (hand, pred)}).panels["MR hand"]
    est = estimates_for(hand, pred)
    methods = list(est)
    for a, (label, drawn) in enumerate(panel.method_choices):
        assert panel.method.options[a] == label
        for b, (name, picks) in enumerate(panel.landmark_choices):
            for i in (0, 3):
                leaf = panel.frames[a][b][i]
                expected = frame_png(hand.masks[i], hand.landmarks[i], {m: est[m][i] for m in drawn},
                                     landmarks=picks, scale=3)
                assert _frame_png(leaf) == expected
                assert f"scan s0{i} · {label} · {name}" in leaf.value
    all_methods, cnn_ft, truth_only = 0, 1 + methods.index("CNN(ft)"), len(panel.method_choices) - 1
    assert panel.method_choices[truth_only] == ("ground truth only", ())
    assert panel.method_choices[all_methods][1] == tuple(methods)
    thumb = 1
    # the error table follows the selection: rows are the methods drawn, columns the landmarks drawn
    everything, one = panel.frames[all_methods][0][2].value, panel.frames[cnn_ft][thumb][2].value
    assert all(f"<th>{n}</th>" in everything for n in ("thumb", "pinky", "mean"))
    assert "CNN(MR)" in everything and "NN(syn)" in everything
    assert "<th>thumb</th>" in one and "<th>index</th>" not in one and "<th>mean</th>" not in one
    assert "CNN(ft)" in one and "NN(syn)" not in one
    truth = frame_errors(hand.landmarks[2], {"CNN(ft)": est["CNN(ft)"][2]}, hand.landmark_names,
                         landmarks=[0], mm_per_px=hand.mm_per_px[2])
    px = frame_errors(hand.landmarks[2], {"CNN(ft)": est["CNN(ft)"][2]}, hand.landmark_names, landmarks=[0])
    assert f"{px.loc['CNN(ft)', 'thumb']:.1f} <i>({truth.loc['CNN(ft)', 'thumb']:.1f})</i>" in one
    assert "ground truth only" in panel.frames[truth_only][0][0].value and "<table>" not in \
        panel.frames[truth_only][0][0].value
    # each selector changes the picture: every frame of a scan differs from the others
    scan1 = [_frame_png(panel.frames[a][b][1]) for a in range(8) for b in range(6)]
    assert len(set(scan1)) == len(scan1)
    assert len({_frame_png(panel.frames[0][0][i]) for i in range(5)}) == 5


def test_scans_are_bounded_and_the_saved_state_stays_small(data):
    hand, body, pred = data
    small = OverlayViewer({"h": (hand, pred), "b": (body, pred)}, max_scans=2)
    big = OverlayViewer({"h": (hand, pred), "b": (body, pred)}, max_scans=None)
    panel = small.panels["h"]
    assert all(len(leaves) == 2 for row in panel.frames for leaves in row) and panel.slider.max == 1
    assert "2 of 5 scans shown" in panel.note.value and "3 of 3" in big.panels["b"].note.value
    # (methods + 2) x (landmarks + 1) frames per scan: 8 x 6 for hands, 8 x 10 for bodies
    assert small.n_frames == 2 * 48 + 2 * 80 and big.n_frames == 5 * 48 + 3 * 80
    per_frame = big.embedded_bytes() / big.n_frames
    assert 500 < per_frame < 4000, per_frame  # small palette PNGs, one model per frame
    assert small.embedded_bytes() < big.embedded_bytes()
    state = dependency_state(big.widget, drop_defaults=False)
    assert big.embedded_bytes() == len(json.dumps(state, separators=(",", ":")))
    links = [s for s in state.values() if s["model_name"] == "LinkModel"]
    assert len(links) == sum(len(p.links) for p in big.panels.values())  # the links are counted too
    assert OverlayViewer({"h": (hand, pred)}).panels["h"].slider.max == min(5, DEFAULT_MAX_SCANS) - 1


def test_offered_methods_and_landmarks_can_be_narrowed(data):
    hand, _, pred = data
    panel = OverlayViewer({"h": (hand, pred)}, methods=["CNN(ft)", "RF"],
                          landmarks={"hand": ["thumb"]}).panels["h"]
    assert panel.method.options == ("all methods", "RF", "CNN(ft)", "ground truth only")
    assert panel.landmark.options == ("thumb",)
    assert "NN(syn)" not in panel.frames[0][0][0].value and "<th>index</th>" not in panel.frames[0][0][0].value
    one = OverlayViewer({"h": (hand, pred)}, methods=["RF"]).panels["h"]
    assert one.method.options == ("RF", "ground truth only")


def test_viewer_refuses_empty_input_and_unknown_names(data):
    hand, _, pred = data
    with pytest.raises(LandmarkError, match="at least one dataset"):
        OverlayViewer({})
    with pytest.raises(LandmarkError, match="unknown hand landmarks"):
        OverlayViewer({"h": (hand, pred)}, landmarks={"hand": ["toe"]})
    with pytest.raises(LandmarkError, match="unknown methods"):
        OverlayViewer({"h": (hand, pred)}, methods=["CNN"])
    with pytest.raises(LandmarkError, match="max_scans=0"):
        OverlayViewer({"h": (hand, pred)}, max_scans=0)
    small = OverlayViewer({"h": (hand, pred.iloc[:0])}, max_scans=2)
    panel = small.panels["h"]
    assert panel.method.options == ("ground truth only",) and len(panel.frames[0][0]) == 2
    assert "ground truth only" in panel.frames[0][0][0].value


def test_a_scan_without_predictions_says_so(data):
    hand, _, pred = data
    pred = pred[~((pred.subject == "s01") & (pred.method == "RF"))]
    panel = OverlayViewer({"h": (hand, pred)}).panels["h"]
    rf = [label for label, _ in panel.method_choices].index("RF")
    assert "no estimate for this scan" in panel.frames[rf][0][1].value
    assert "no estimate" not in panel.frames[rf][0][2].value
    assert "RF" not in panel.frames[0][0][1].value.split("<table>")[1]  # all methods: RF row left out
