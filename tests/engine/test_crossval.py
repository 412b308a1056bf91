"""The fold loop's parallel path: forked 1-thread workers give the serial loop's results."""

import numpy as np
import pytest
import torch

from landmarklib import LandmarkError
from landmarklib.engine.crossval import cross_validate_arrays, fold_workers
from landmarklib.engine.folds import make_folds
from landmarklib.engine.training import Schedule, set_inputs, set_targets
from landmarklib.models.cnn import LandmarkCNN
from tests.conftest import rectangles


def _run(data, tmp_path, name, workers):
    folds = make_folds(list(data.ids), "hand", seed=0)

    def make_model(fold):
        torch.manual_seed(100 + fold)
        return LandmarkCNN("hand")

    return cross_validate_arrays(set_inputs(data), set_targets(data), data.ids, folds, make_model,
                                 Schedule(epochs=2, batch_size=4, lr=1e-3, clip_grad_norm=1.0, precision="fp32"),
                                 seed=7, checkpoint_stem=tmp_path / name, device="cpu", progress=False,
                                 workers=workers)


def test_parallel_folds_equal_the_serial_loop_and_resume(tmp_path, monkeypatch):
    data = rectangles("hand", 9, seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers run 1 thread each on 2 cores: compare like with like
    try:
        serial, fold_s, hist_s = _run(data, tmp_path, "serial", 1)
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    parallel, fold_p, hist_p = _run(data, tmp_path, "parallel", 2)
    assert len(list(tmp_path.glob("parallel_fold*.npz"))) == 3  # each worker saved its fold
    np.testing.assert_array_equal(fold_s, fold_p)
    np.testing.assert_array_equal(serial, parallel)
    assert [h["loss"] for h in hist_s] == [h["loss"] for h in hist_p]
    again, _, _ = _run(data, tmp_path, "parallel", 2)  # every fold finished: read back, nothing retrained
    np.testing.assert_array_equal(again, parallel)


def test_fold_workers_falls_back_to_one_process():
    assert fold_workers(2, "cpu", pending=5, checkpoint_stem="x") == 2
    assert fold_workers(4, "cpu", pending=3, checkpoint_stem="x") == 3
    assert fold_workers(2, "cpu", pending=1, checkpoint_stem="x") == 1  # one fold left
    assert fold_workers(2, "cpu", pending=5, checkpoint_stem=None) == 1  # results cannot be handed back
    with pytest.raises(LandmarkError, match="fold_workers"):
        fold_workers(0, "cpu", pending=5, checkpoint_stem="x")
