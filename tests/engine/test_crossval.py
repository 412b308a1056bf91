"""The fold loop's parallel path: forked 1-thread workers give the serial loop's results."""

import os

import numpy as np
import pytest
import torch

from landmarklib import LandmarkError
from landmarklib.engine import crossval
from landmarklib.engine.crossval import cross_validate_arrays, fold_workers
from landmarklib.engine.folds import make_folds
from landmarklib.engine.training import Schedule, set_inputs, set_targets
from landmarklib.models.cnn import LandmarkCNN
from tests.conftest import rectangles


def _run(data, stem, workers, fail_fold=None):
    folds = make_folds(list(data.ids), "body", seed=0)  # leave-one-out: enough folds for two workers

    def make_model(fold):
        (stem.parent / f"{stem.name}_pid{fold}").write_text(str(os.getpid()))  # which process trained it
        if fold == fail_fold:
            raise RuntimeError(f"fold {fold} broke")
        torch.manual_seed(100 + fold)
        return LandmarkCNN("hand")

    return cross_validate_arrays(set_inputs(data), set_targets(data), data.ids, folds, make_model,
                                 Schedule(epochs=2, batch_size=4, lr=1e-3, clip_grad_norm=1.0, precision="fp32"),
                                 seed=7, checkpoint_stem=stem, device="cpu", progress=False, workers=workers)


def test_parallel_folds_equal_the_serial_loop_and_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(crossval, "usable_cores", lambda: 2)
    data = rectangles("hand", 4, seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers run 1 thread each: compare like with like
    try:
        serial, fold_s, hist_s = _run(data, tmp_path / "serial", 1)
    finally:
        torch.set_num_threads(threads)
    parallel, fold_p, hist_p = _run(data, tmp_path / "parallel", 2)
    pids = {int((tmp_path / f"parallel_pid{i}").read_text()) for i in range(4)}
    assert os.getpid() not in pids  # every fold was trained by a worker
    np.testing.assert_array_equal(fold_s, fold_p)
    np.testing.assert_array_equal(serial, parallel)
    assert [h["loss"] for h in hist_s] == [h["loss"] for h in hist_p]
    # a resumed run retrains only the missing fold, here (one fold left), with the workers' one thread
    (tmp_path / "parallel_fold1.npz").unlink()
    again, _, _ = _run(data, tmp_path / "parallel", 2)
    assert int((tmp_path / "parallel_pid1").read_text()) == os.getpid()
    assert int((tmp_path / "parallel_pid0").read_text()) in pids  # fold 0 was read back, not retrained
    np.testing.assert_array_equal(again, parallel)
    assert torch.get_num_threads() == threads


def test_a_failing_fold_stops_the_workers_and_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(crossval, "usable_cores", lambda: 2)
    data = rectangles("hand", 4, seed=3)
    with pytest.raises(RuntimeError, match="fold 1 broke"):
        _run(data, tmp_path / "broken", 2, fail_fold=1)
    assert not (tmp_path / "broken_fold1.npz").exists()
    assert crossval._JOB is None


def test_fold_workers_only_forks_one_thread_workers(monkeypatch):
    monkeypatch.setattr(crossval, "usable_cores", lambda: 2)
    assert fold_workers(2, "cpu", 20, checkpoint_stem="x") == 2  # the body's leave-one-out
    assert fold_workers(None, "cpu", 20, checkpoint_stem="x") == 2
    assert fold_workers(2, "cpu", 3, checkpoint_stem="x") == 1  # the hands' 3 folds: one process
    assert fold_workers(2, "cpu", 20, checkpoint_stem=None) == 1  # results cannot be handed back
    assert fold_workers(3, "cpu", 20, checkpoint_stem="x") == 1  # 3 processes on 2 cores: no
    monkeypatch.setattr(crossval, "usable_cores", lambda: 16)
    assert fold_workers(2, "cpu", 20, checkpoint_stem="x") == 1  # 8 threads each: fork is not safe
    with pytest.raises(LandmarkError, match="fold_workers"):
        fold_workers(0, "cpu", 20, checkpoint_stem="x")
