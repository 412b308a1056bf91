import numpy as np
import pytest

from landmarklib import LandmarkError
from landmarklib.evaluation.results import (
    DEPTH_METHODS,
    METHODS,
    REGISTRY,
    method_label,
    predictions_frame,
    read_predictions,
    read_provenance,
    write_predictions,
)


def test_predictions_round_trip_with_provenance():
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 96, (3, 5, 2))
    frame = predictions_frame(task="hand", method="CNN(ft)", fold=[0, 1, 2], subjects=["a", "b", "007"],
                              pred_px=true + 1, true_px=true, mm_per_px=np.full((3, 2), 0.5))
    assert len(frame) == 15 and frame["landmark"].tolist()[:5] == ["thumb", "index", "middle", "ring", "pinky"]
    path = write_predictions(frame, params={"profile": "quick", "seed": 0})
    back = read_predictions("quick", task="hand")
    assert back["subject"].tolist()[10] == "007"
    np.testing.assert_allclose(back["x_pred"] - back["x_true"], 1)
    rec = read_provenance(path)
    assert rec["profile"] == "quick" and rec["method"] == "CNN(ft)" and rec["rows"] == 15


def test_bad_shapes_and_methods_are_refused():
    with pytest.raises(LandmarkError, match="unknown method"):
        predictions_frame(task="hand", method="SVM", fold=0, subjects=["a"], pred_px=np.zeros((1, 5, 2)),
                          true_px=np.zeros((1, 5, 2)))
    with pytest.raises(LandmarkError, match=r"must be \(1, 9, 2\)"):
        predictions_frame(task="body", method="RF", fold=0, subjects=["a"], pred_px=np.zeros((1, 5, 2)),
                          true_px=np.zeros((1, 5, 2)))


def test_missing_results_say_what_to_run():
    with pytest.raises(LandmarkError, match="run the notebooks that make them first"):
        read_predictions("cpu")


def test_method_labels_follow_the_paper():
    assert method_label("CNN(real)", "hand") == "CNN(MR)"
    assert method_label("NN(real)", "body") == "NN(CT)"


def test_registry_holds_every_method_with_its_figure_and_depth():
    assert list(REGISTRY) == [*METHODS, *DEPTH_METHODS]
    assert METHODS == ("NN(syn)", "NN(real)", "RF", "CNN(syn)", "CNN(real)", "CNN(ft)")  # Fig. 2's order
    assert DEPTH_METHODS == ("mean depth", "CNN(depth)")
    assert [m.name for m in REGISTRY.values() if m.depth] == list(DEPTH_METHODS)
    assert {m.figure for m in REGISTRY.values()} == {"fig2", "fig4"}
    assert REGISTRY["CNN(depth)"].tasks == ("hand",) and REGISTRY["CNN(real)"].label("body") == "CNN(CT)"


def test_depth_methods_share_the_writer_and_reader():
    rng = np.random.default_rng(0)
    true, depth = rng.uniform(0, 96, (3, 5, 2)), rng.normal(80, 4, (3, 5))
    common = dict(task="hand", fold=0, subjects=["a", "b", "c"], true_px=true, depth_true=depth)
    base = predictions_frame(method="mean depth", pred_px=None, depth_pred=depth + 1, **common)
    assert base["x_pred"].isna().all() and (base["depth_pred"] - base["depth_true"]).round(9).eq(1).all()
    cnn = predictions_frame(method="CNN(depth)", pred_px=true, depth_pred=depth, **common)
    for frame in (base, cnn):
        path = write_predictions(frame, params={"profile": "quick", "seed": 0})
        assert path.parent.name == "predictions"
    write_predictions(predictions_frame(task="hand", method="CNN(ft)", fold=0, subjects=["a", "b", "c"],
                                        pred_px=true, true_px=true), params={"profile": "quick", "seed": 0})
    back = read_predictions("quick", task="hand", methods=DEPTH_METHODS)
    assert sorted(back["method"].unique()) == ["CNN(depth)", "mean depth"] and len(back) == 30
    np.testing.assert_allclose(back.loc[back.method == "CNN(depth)", "depth_pred"], depth.ravel())
    assert len(read_predictions("quick", task="hand")) == 45  # every method
    with pytest.raises(LandmarkError, match="needs depth_pred"):
        predictions_frame(method="CNN(depth)", pred_px=true, **{**common, "depth_true": None})
    with pytest.raises(LandmarkError, match="takes no depth"):
        predictions_frame(method="CNN(ft)", pred_px=true, depth_pred=depth, **common)
    with pytest.raises(LandmarkError, match="lacks columns"):
        write_predictions(cnn.drop(columns=["depth_pred"]), params={"profile": "quick", "seed": 0})
