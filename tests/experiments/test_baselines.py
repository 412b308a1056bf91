import numpy as np
import pytest

from landmarklib import LandmarkError, resolve
from landmarklib.data import LandmarkSet
from landmarklib.engine.folds import ensure_folds, folds_path
from landmarklib.evaluation.results import read_predictions
from landmarklib.experiments.baselines import run_baselines
from landmarklib.provenance import read_json

SMALL_RF = {"rf_trees": 3, "rf_depth": 8, "rf_features": 40, "rf_features_per_node": 10, "rf_pixels": 60}


def test_run_baselines_uses_the_shared_folds_and_writes_one_table_per_method(hands, quick_cfg, tmp_path):
    real, synthetic = hands(15, seed=4), hands(60, seed=5, spread=0.2, prefix="r")
    cfg = quick_cfg(**SMALL_RF, nn_k=1)
    root = cfg.renders_dir
    shared = ensure_folds(real.ids, "hand", profile="quick", seed=cfg.seed, renders_dir=root)  # as the CNNs do
    tables = run_baselines("hand", cfg, synthetic, real, progress=False)
    assert read_json(folds_path("quick", "hand", root))["folds"] == shared
    fold_of = {s: i for i, f in enumerate(shared) for s in f["test"]}
    for method, table in tables.items():
        assert len(table) == len(real) * 5
        assert (table["fold"] == table["subject"].map(fold_of)).all(), method
    # with k=1 a scan that leaked into its own training fold would be found at distance 0
    nn_real = tables["NN(real)"]
    err = np.hypot(nn_real.x_pred - nn_real.x_true, nn_real.y_pred - nn_real.y_true)
    assert (err.groupby(nn_real.subject).max() > 0).all()
    written = read_predictions("quick", task="hand", renders_dir=root)
    assert sorted(written["method"].unique()) == ["NN(real)", "NN(syn)", "RF"]
    assert not (tmp_path / "renders-default").exists()  # nothing under the user-level default root


@pytest.fixture(autouse=True)
def _default_root_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDMARKLIB_RENDERS", str(tmp_path / "renders-default"))


def test_run_baselines_refuses_mismatched_inputs(hands):
    cfg = resolve("quick", SMALL_RF)
    real = hands(6, seed=6)
    body = LandmarkSet("body", np.zeros((3, 160, 76), bool), np.zeros((3, 9, 2)), ["a", "b", "c"])
    with pytest.raises(LandmarkError, match="synthetic set holds 'body' patches but the task is 'hand'"):
        run_baselines("hand", cfg, body, real, progress=False)
    with pytest.raises(LandmarkError, match="NN\\(syn\\) needs the synthetic renders"):
        run_baselines("hand", cfg, None, real, progress=False)
    with pytest.raises(LandmarkError, match="unknown baseline"):
        run_baselines("hand", cfg, None, real, methods=["KNN"], progress=False)


def test_error_summary_on_a_hand_made_table():
    from landmarklib.evaluation.results import predictions_frame
    from landmarklib.experiments.baselines import error_summary
    from landmarklib.landmarks import BODY, HAND

    def table(task, method, err):  # err: (k,) error along x per landmark, same for both scans
        k = len(err)
        true = np.zeros((2, k, 2))
        pred = true + np.stack([np.broadcast_to(err, (2, k)), np.zeros((2, k))], -1)
        return predictions_frame(task=task, method=method, fold=0, subjects=["a", "b"], pred_px=pred, true_px=true)

    tables = {
        ("hand", "NN(syn)"): table("hand", "NN(syn)", np.full(5, 9.0)),
        ("hand", "NN(real)"): table("hand", "NN(real)", np.full(5, 3.0)),
        ("hand", "RF"): table("hand", "RF", np.array([8.0, 4, 4, 4, 4])),
        ("body", "NN(syn)"): table("body", "NN(syn)", np.full(9, 2.0)),
        ("body", "NN(real)"): table("body", "NN(real)", np.full(9, 3.0)),
        ("body", "RF"): table("body", "RF", np.array([5.0] * 6 + [1, 1, 1])),
    }
    summary = error_summary(tables)
    assert summary.query("task == 'hand' and method == 'RF' and landmark == 'thumb'")["mean_px"].item() == 8.0
    assert summary["std_px"].eq(0).all() and summary["n"].eq(2).all()
    assert list(summary.query("task == 'body' and method == 'RF'")["landmark"]) == list(BODY)
    assert list(summary.query("task == 'hand' and method == 'RF'")["landmark"]) == list(HAND)


def test_nn_syn_accepts_shards_with_the_same_result(hands):
    real, synthetic = hands(6, seed=8), hands(30, seed=9, prefix="r")
    cfg = resolve("quick")
    whole = run_baselines("hand", cfg, synthetic, real, methods=["NN(syn)"], write=False, progress=False)
    shards = (synthetic.subset(slice(i, i + 7)) for i in range(0, 30, 7))
    sharded = run_baselines("hand", cfg, shards, real, methods=["NN(syn)"], write=False, progress=False)
    assert whole["NN(syn)"].equals(sharded["NN(syn)"])
