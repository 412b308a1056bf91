import numpy as np
import pytest

from landmarklib import LandmarkError
from landmarklib.evaluation.results import (
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
    with pytest.raises(LandmarkError, match="run the training and baseline notebooks first"):
        read_predictions("cpu")


def test_method_labels_follow_the_paper():
    assert method_label("CNN(real)", "hand") == "CNN(MR)"
    assert method_label("NN(real)", "body") == "NN(CT)"
