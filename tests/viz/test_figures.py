import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from helpers_results import PAPER_LIKE, toy_landmark_set, toy_predictions  # noqa: E402
from matplotlib.collections import LineCollection, PathCollection  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from landmarklib import LandmarkError, resolve  # noqa: E402
from landmarklib import evaluation as ev  # noqa: E402
from landmarklib.evaluation.results import METHODS, REGISTRY  # noqa: E402
from landmarklib.viz import figures as fg  # noqa: E402


@pytest.fixture(scope="module")
def data():
    hand, body = toy_landmark_set("hand", 10), toy_landmark_set("body", 6, seed=1)
    pred = pd.concat([toy_predictions(hand, PAPER_LIKE), toy_predictions(body, PAPER_LIKE, seed=2)])
    summary = ev.summarize(ev.landmark_errors(pred), n_resamples=200, seed=0)
    return hand, body, pred, summary


def _bar_heights(ax):
    return np.array(sorted(round(p.get_height(), 6) for c in ax.containers if isinstance(c, BarContainer) for p in c))


def test_fig2_bars_are_our_means_and_the_papers_values(data):
    *_, summary = data
    fig = fg.fig2(summary)
    (our_hand, our_body), (paper_hand, paper_body) = fig.axes[0:2], fig.axes[2:4]
    for ax, task in ((our_hand, "hand"), (our_body, "body")):
        expected = np.sort(summary.loc[summary.task == task, "mean"].round(6).to_numpy())
        assert np.allclose(_bar_heights(ax), expected)
        # one CI error bar per bar, spanning [ci_low, ci_high]
        segments = [seg for coll in ax.collections if isinstance(coll, LineCollection) for seg in coll.get_segments()]
        assert len(segments) == len(expected)
        spans = np.sort([abs(s[1, 1] - s[0, 1]) for s in segments])
        part = summary[summary.task == task]
        assert np.allclose(spans, np.sort((part.ci_high - part.ci_low).to_numpy()))
    paper = ev.paper_summary()
    assert np.allclose(_bar_heights(paper_hand), np.sort(paper.loc[paper.task == "hand", "mean"].round(6)))
    assert np.allclose(_bar_heights(paper_body), np.sort(paper.loc[paper.task == "body", "mean"].round(6)))
    labels = [t.get_text() for t in our_hand.get_legend().get_texts()]
    assert labels == ["NN(syn)", "NN(MR)", "RF", "CNN(syn)", "CNN(MR)", "CNN(ft)"]
    assert [t.get_text() for t in our_body.get_legend().get_texts()][4] == "CNN(CT)"


def test_fig2_without_results_says_so(data):
    fig = fg.fig2(ev.summarize(ev.landmark_errors(data[2].iloc[:0])))
    texts = [t.get_text() for t in fig.axes[0].texts + fig.axes[1].texts]
    assert texts == ["no hand results yet", "no body results yet"]


def test_fig3_projects_every_estimate_and_its_offset(data):
    hand, body, pred, _ = data
    fig = fg.fig3(pred, {"hand": hand, "body": body})
    top_hand, top_body, off_hand, _ = fig.axes
    assert len(top_hand.images) == 1 and np.allclose(top_hand.images[0].get_array(), hand.masks.mean(0))
    ft = pred[(pred.task == "hand") & (pred.method == "CNN(ft)")]
    dots = np.concatenate([c.get_offsets() for c in top_hand.collections
                           if isinstance(c, PathCollection) and len(c.get_offsets()) > 1])
    assert np.allclose(np.sort(dots[:, 0]), np.sort(ft.x_pred))
    offsets = np.concatenate([c.get_offsets() for c in off_hand.collections if isinstance(c, PathCollection)])
    assert np.allclose(np.sort(offsets[:, 1]), np.sort(ft.y_pred - ft.y_true))
    assert "6 scans" in top_body.get_title()
    with pytest.raises(LandmarkError, match="unknown method"):
        fg.fig3(pred, method="CNN")


def test_learning_curve_draws_one_line_per_method_and_refuses_bad_tables():
    table = pd.DataFrame({
        "method": ["CNN(ft)"] * 3 + ["CNN(real)"] * 3 + ["CNN(ft)"] * 2,
        "n_subjects": [5, 10, 20] * 2 + [np.nan] * 2,
        "n_renders": [np.nan] * 6 + [1000, 10000],
        "error": [8, 6, 5, 12, 9, 6, 7, 5],
    })
    fig = fg.learning_curve(table)
    subjects, renders = fig.axes
    lines = [ln for ln in subjects.lines if len(ln.get_xdata()) == 3]
    assert sorted(tuple(ln.get_ydata()) for ln in lines) == [(8, 6, 5), (12, 9, 6)]
    assert renders.get_xscale() == "log"
    with pytest.raises(LandmarkError, match="n_subjects"):
        fg.learning_curve(table.drop(columns=["n_subjects", "n_renders"]))


def test_save_figure_writes_png_and_provenance(data):
    import json

    path = fg.save_figure(fg.fig2(data[3]), "fig2", resolve("quick"))
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(path.with_suffix(".json").read_text())["figure"] == "fig2"
    assert list(fg.METHOD_COLORS) == list(REGISTRY) and list(REGISTRY)[:6] == list(METHODS)  # one colour per method


def test_fig2_draws_the_mean_shape_as_a_grey_bar_and_mm_axes(data):
    hand, body, pred, _ = data
    pred = pred.assign(fold=pred["subject"].str[1:].astype(int) % 3)  # three folds: the reference has training scans
    errors = pd.concat([ev.landmark_errors(pred), ev.landmark_errors(ev.mean_shape_reference(pred))])
    summary = ev.summarize(errors, n_resamples=100, seed=0)
    scale = ev.mm_per_patch_px(pred)["median"].to_dict()
    fig = fg.fig2(summary, mm_per_px=scale)
    our_hand = fig.axes[0]
    labels = [t.get_text() for t in our_hand.get_legend().get_texts()]
    assert labels[-1] == "mean shape" and len(labels) == 7
    grey = [c for c in our_hand.containers if isinstance(c, BarContainer)][-1]
    ref = summary[(summary.task == "hand") & (summary.method == "mean shape")]["mean"].to_numpy()
    assert np.allclose(sorted(p.get_height() for p in grey), sorted(ref))
    assert matplotlib.colors.to_hex(grey[0].get_facecolor()) == fg.REFERENCE_COLOR
    # a mm axis beside each panel: ours (approximate, the cohort's median scale) and the paper's (reading (a))
    secondary = [child for ax in fig.axes for child in ax.child_axes]
    assert len(secondary) == 4 and all("mm" in a.get_ylabel() for a in secondary)
    assert "mm if patch px" in fig.axes[2].child_axes[0].get_ylabel()
    assert fig.axes[0].child_axes[0].get_ylim() == pytest.approx(np.multiply(fig.axes[0].get_ylim(), scale["hand"]))
    assert "simulated" in our_hand.get_title()
    assert not any(ax.child_axes for ax in fg.fig2(summary).axes)  # no scale given: no mm axes
