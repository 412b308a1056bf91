import copy

import numpy as np
import pandas as pd
import pytest
import torch

from landmarklib import LandmarkError, resolve
from landmarklib.engine.crossval import TargetTransform, cross_validate_arrays
from landmarklib.engine.folds import folds_path
from landmarklib.engine.training import (
    SEED_SALTS,
    Schedule,
    _model_seed,
    finetune_schedule,
    fit,
    predict,
    pretrain_schedule,
    set_inputs,
    set_targets,
)
from landmarklib.evaluation.results import read_predictions, write_predictions
from landmarklib.experiments.finetuning import cross_validate
from landmarklib.experiments.pretraining import pretrain
from landmarklib.geometry import to_unit
from landmarklib.models.cnn import LandmarkCNN
from landmarklib.provenance import read_json
from tests.conftest import rectangles


def test_pretraining_schedule_gives_the_papers_rates():
    s = pretrain_schedule(resolve("paper"))
    assert s.epochs == 30 and s.batch_size == 100 and s.momentum == 0.9
    rates = [s.lr_at(e, 0) for e in range(30)]
    assert rates[0] == 0.01
    np.testing.assert_allclose(rates, 0.01 * 0.7943 ** np.arange(30))
    np.testing.assert_allclose(rates[10], 0.001, rtol=1e-3)  # 0.7943 = 10**-0.1
    np.testing.assert_allclose(rates[20], 0.0001, rtol=2e-3)


def test_finetuning_schedule_drops_once_after_500_iterations():
    s = finetune_schedule(resolve("paper"))
    assert s.epochs == 700
    assert s.lr_at(0, 0) == s.lr_at(600, 499) == 0.01
    np.testing.assert_allclose([s.lr_at(0, 500), s.lr_at(699, 10_000)], [0.001, 0.001])
    for profile in ("quick", "cpu"):  # scaled profiles keep the drop at 500/700 of the run
        s = finetune_schedule(resolve(profile))
        assert abs(s.drop_after / s.epochs - 500 / 700) < 0.05


def test_a_model_on_more_than_one_batch_keeps_the_folds_iterations_not_their_epochs():
    cfg = resolve("cpu")  # 700 epochs, drop after 500, batch 100
    assert finetune_schedule(cfg, n_images=88).epochs == 700  # a hand fold: one batch per epoch
    assert finetune_schedule(cfg, n_images=19).epochs == 700  # a body fold
    s = finetune_schedule(cfg, n_images=132)  # the detector's 132 hands: 2 batches per epoch
    assert s.epochs == 350 and s.drop_after == 500
    assert finetune_schedule(cfg, n_images=201).epochs == 234  # 3 batches: 702 iterations, not fewer than 700
    assert finetune_schedule(cfg, n_images=132, epochs=5).epochs == 5  # an explicit count wins


def test_fit_applies_the_schedule():
    data = rectangles("hand", 6)
    hist = fit(LandmarkCNN("hand"), set_inputs(data), set_targets(data),
               Schedule(epochs=3, batch_size=3, decay_per_epoch=0.7943), seed=0)
    np.testing.assert_allclose(hist["lr"], [0.01, 0.007943, 0.007943**2 / 0.01])
    hist = fit(LandmarkCNN("hand"), set_inputs(data), set_targets(data),
               Schedule(epochs=3, batch_size=3, drop_after=3, drop=0.1), seed=0)  # 2 iterations/epoch
    np.testing.assert_allclose(hist["lr"], [0.01, 0.001, 0.001])


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_killed_run_resumes_to_identical_weights(tmp_path):
    data = rectangles("hand", 8)
    sched = Schedule(epochs=3, batch_size=4, decay_per_epoch=0.7943)

    torch.manual_seed(5)
    whole = LandmarkCNN("hand")
    fit(whole, set_inputs(data), set_targets(data), sched, seed=1, checkpoint=tmp_path / "a.pt")

    class Killed(Exception):
        pass

    def kill(epoch, history):
        if epoch == 1:
            raise Killed

    torch.manual_seed(5)
    with pytest.raises(Killed):
        fit(LandmarkCNN("hand"), set_inputs(data), set_targets(data), sched, seed=1,
            checkpoint=tmp_path / "b.pt", callback=kill, checkpoint_every_s=0)
    torch.manual_seed(123)  # the process that resumes has other RNG state and other initial weights
    torch.rand(10)
    resumed = LandmarkCNN("hand")
    hist = fit(resumed, set_inputs(data), set_targets(data), sched, seed=1, checkpoint=tmp_path / "b.pt")
    assert hist["resumed_from"] == 2 and hist["epochs_run"] == 1
    a, b = _weights(whole), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a finished checkpoint is reused, not retrained
    again = LandmarkCNN("hand")
    assert fit(again, set_inputs(data), set_targets(data), sched, seed=1, checkpoint=tmp_path / "a.pt")[
        "epochs_run"] == 0
    assert all(torch.equal(a[k], v) for k, v in again.state_dict().items())
    # a checkpoint of another schedule is refused
    with pytest.raises(LandmarkError, match="another schedule, seed or data"):
        fit(LandmarkCNN("hand"), set_inputs(data), set_targets(data), Schedule(epochs=4, batch_size=4), seed=1,
            checkpoint=tmp_path / "a.pt")
    # ... and so is one made for other data of the same size (e.g. another scan folder)
    other = rectangles("hand", len(data), seed=99)
    with pytest.raises(LandmarkError, match="another schedule, seed or data"):
        fit(LandmarkCNN("hand"), set_inputs(other), set_targets(other), sched, seed=1, checkpoint=tmp_path / "a.pt")


@pytest.mark.slow  # ~30 s alone, ~100 s on 2 busy cores: 120 SGD steps of the 28 M-parameter network
def test_tiny_overfit_reaches_near_zero_loss():
    data = rectangles("hand", 4, seed=3)
    x, y = set_inputs(data), set_targets(data)
    torch.manual_seed(0)
    net = LandmarkCNN("hand", dropout=0.0)  # capacity check: dropout off, the paper's SGD settings
    before = float(((predict(net, x) - y) ** 2).sum(1).mean())
    fit(net, x, y, Schedule(epochs=120, batch_size=4, lr=0.01, momentum=0.9), seed=0)
    after = float(((predict(net, x) - y) ** 2).sum(1).mean())
    assert before > 1.0
    # < 0.5 % of the start; eq. (2) sums 10 coordinates, so 0.02 is an RMS of 0.045 in [-1, 1] units
    assert after < 0.005 * before and after < 0.02


def test_stream_source_trains_like_arrays():
    data = rectangles("body", 5)
    stream = [{"mask": m, "landmarks": p} for m, p in zip(data.masks, data.landmarks)]
    hist = fit(LandmarkCNN("body"), None, None, Schedule(epochs=2, batch_size=2), seed=0,
               stream=stream, stream_task="body", stream_n=5)
    assert len(hist["loss"]) == 2 and np.isfinite(hist["loss"]).all()

    class Blocks:  # like rendering.SyntheticStream: LandmarkSet blocks via .batches()
        def batches(self):
            yield data.subset(slice(0, 3))
            yield data.subset(slice(3, 5))

    hist = fit(LandmarkCNN("body"), None, None, Schedule(epochs=1, batch_size=2), seed=0,
               stream=Blocks(), stream_task="body", stream_n=4)
    assert len(hist["loss"]) == 1 and hist["images_per_s"][0] > 0
    np.testing.assert_allclose(set_targets(data)[0], to_unit(data.landmarks[0], (76, 160)).ravel(), atol=1e-6)


def _cfg(**over):
    return resolve("quick", {"finetune_epochs": 2, "finetune_lr_drop_after": 1, "pretrain_epochs": 1,
                             "batch_size": 10, **over})


def test_cross_validation_uses_the_shared_folds_and_covers_every_subject_once():
    cfg = _cfg()
    real = rectangles("body", 4)
    frame, histories = cross_validate(real, cfg, method="CNN(real)")
    folds = read_json(folds_path("quick", "body"))["folds"]  # written by landmarklib.engine.folds.ensure_folds
    assert len(folds) == len(histories) == 4  # leave-one-out
    per_subject = frame.groupby("subject")["fold"].unique()
    assert sorted(per_subject.index) == sorted(real.ids)
    for subject, fold in per_subject.items():
        assert len(fold) == 1 and folds[fold[0]]["test"] == [subject]
        assert subject not in folds[fold[0]]["train"]
    assert len(frame) == 4 * 9 and frame[["x_pred", "y_pred"]].notna().all().all()
    # finished folds keep their small result, not their 0.3 GB checkpoint, and a rerun reuses them
    models = folds_path("quick", "body").parents[2] / "models" / "quick" / "body"
    assert sorted(p.name for p in models.iterdir()) == [f"cnn_real_fold{i}.npz" for i in range(4)]
    again, _ = cross_validate(real, cfg, method="CNN(real)")
    pd.testing.assert_frame_equal(frame, again)
    # the table round-trips through the shared writer; [-1, 1] values follow by eq. (1)
    write_predictions(frame, params=cfg)
    back = read_predictions("quick", task="body")
    unit = to_unit(back[["x_pred", "y_pred"]].to_numpy(), (76, 160))
    assert np.isfinite(unit).all()


def test_finetuned_model_starts_from_the_pretrained_one():
    cfg = _cfg(hand_pretrain_images=6)
    syn = rectangles("hand", 6, seed=1)
    model, hist = pretrain("hand", cfg, syn)
    assert len(hist["loss"]) == 1 and not model.training
    real = rectangles("hand", 6, seed=2)
    frame, _ = cross_validate(real, cfg, method="CNN(ft)", pretrained=model)
    assert sorted(frame["fold"].unique()) == [0, 1, 2]  # 3-fold for hands
    with pytest.raises(LandmarkError, match="pretrained"):
        cross_validate(real, cfg, method="CNN(ft)")
    # the finished folds belong to that CNN(syn): another one is never paired with them
    other = copy.deepcopy(model)
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    with pytest.raises(LandmarkError, match="another fold"):
        cross_validate(real, cfg, method="CNN(ft)", pretrained=other)


def test_overlapping_folds_are_refused():
    data = rectangles("hand", 4)
    folds = [{"train": ["s00", "s01"], "test": ["s01"]}]
    with pytest.raises(LandmarkError, match="overlap"):
        cross_validate_arrays(set_inputs(data), set_targets(data), data.ids, folds, lambda i: LandmarkCNN("hand"),
                              Schedule(epochs=1, batch_size=4), seed=0)


@pytest.mark.parametrize("clip", [0.0, 1.0])
def test_clip_grad_norm_bounds_the_first_step(clip):
    """From PyTorch's default initialisation the first gradient of eq. (2) is far above norm 1 (the
    overshoot that collapsed the unclipped cpu run); with clipping the first SGD step moves the
    weights by exactly lr * clip (momentum has no history yet)."""
    data = rectangles("hand", 4, seed=5)
    x, y = set_inputs(data), set_targets(data)
    torch.manual_seed(0)
    net = LandmarkCNN("hand", dropout=0.0)
    before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
    fit(net, x, y, Schedule(epochs=1, batch_size=4, lr=0.01, momentum=0.9, clip_grad_norm=clip), seed=0)
    step = float(torch.linalg.vector_norm(torch.cat([p.detach().flatten() for p in net.parameters()]) - before))
    if clip:
        assert step == pytest.approx(0.01 * clip, rel=1e-3)
    else:
        assert step > 2 * 0.01  # the unclipped gradient norm is more than twice the clip norm


def test_every_profile_clips_in_both_schedules():
    for profile in ("quick", "cpu", "paper"):
        cfg = resolve(profile)
        assert pretrain_schedule(cfg).clip_grad_norm == finetune_schedule(cfg).clip_grad_norm == 1.0


def test_uncovered_ids_are_refused_before_any_training():
    data = rectangles("hand", 4)
    folds = [{"train": ["s00", "s01"], "test": ["s02"]}]  # s03 is in no test set
    calls = []
    with pytest.raises(LandmarkError, match="in no fold's test set"):
        cross_validate_arrays(set_inputs(data), set_targets(data), data.ids, folds,
                              lambda i: calls.append(i) or LandmarkCNN("hand"), Schedule(epochs=1, batch_size=4), seed=0)
    assert calls == []


class _Shift(TargetTransform):
    """Subtracts the training mean; records what the loop hands it."""

    identity = "shift"

    def __init__(self, mean=None, log=None):
        self.mean, self.log = mean, [] if log is None else log

    def fit(self, targets, rows):
        self.log.append(("fit", tuple(rows)))
        return _Shift(targets.mean(axis=0), self.log)

    def apply(self, targets, rows):
        return targets - self.mean

    def invert(self, outputs, rows):
        self.log.append(("invert", tuple(rows)))
        return outputs + self.mean


def test_target_transform_is_fitted_on_training_rows_and_inverted_on_test_rows(tmp_path):
    data = rectangles("hand", 6)
    folds = [{"train": list(data.ids[3:]), "test": list(data.ids[:3])},
             {"train": list(data.ids[:3]), "test": list(data.ids[3:])}]
    targets = set_targets(data)

    class Zero(torch.nn.Module):  # outputs 0: the prediction is exactly the inverted 0, the training mean
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.zeros(len(x), targets.shape[1]) * self.w

    transform = _Shift()
    pred, fold_of, _ = cross_validate_arrays(set_inputs(data), targets, data.ids, folds, lambda i: Zero(),
                                             Schedule(epochs=1, batch_size=4), seed=0, target_transform=transform,
                                             checkpoint_stem=tmp_path / "zero")
    assert transform.log == [("fit", (3, 4, 5)), ("invert", (0, 1, 2)), ("fit", (0, 1, 2)), ("invert", (3, 4, 5))]
    np.testing.assert_allclose(pred[:3], np.broadcast_to(targets[3:].mean(axis=0), (3, targets.shape[1])), atol=1e-6)
    # the transform is part of a finished fold's identity
    with pytest.raises(LandmarkError, match="another fold"):
        cross_validate_arrays(set_inputs(data), targets, data.ids, folds, lambda i: Zero(),
                              Schedule(epochs=1, batch_size=4), seed=0, checkpoint_stem=tmp_path / "zero")


def test_seed_salts_are_one_table_without_collisions():
    assert len(set(SEED_SALTS.values())) == len(SEED_SALTS)
    cfg = _cfg(seed=2)
    assert _model_seed(cfg, "cnn_syn/fit") == 2_002_000 and _model_seed(cfg, "depth/fit/fold", 2) == 2_070_002
    # no two streams meet, even under the body's 20 leave-one-out folds (the former salts + fold did)
    seeds = [_model_seed(cfg, s, f) for s in SEED_SALTS for f in (range(20) if s.endswith("/fold") else [0])]
    assert len(seeds) == len(set(seeds))
    with pytest.raises(LandmarkError):
        _model_seed(cfg, "cnn_real/init/fold", 1000)
    with pytest.raises(LandmarkError):
        _model_seed(cfg, "cnn_syn/fit", 1)
def test_precision_switch_is_checked_resolved_and_recorded(monkeypatch):
    from landmarklib.engine import training

    with pytest.raises(LandmarkError, match="precision='fp16'"):
        Schedule(epochs=1, precision="fp16")
    assert training.effective_precision("fp32", "cpu") == "fp32"
    assert training.effective_precision("bf16", "cpu") == "bf16"
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    assert training.effective_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)
    assert training.effective_precision("auto", "cpu") == "bf16"
    assert finetune_schedule(resolve("quick", {"precision": "fp32"})).precision == "fp32"
    data = rectangles("hand", 4)
    for precision in ("fp32", "bf16"):
        hist = fit(LandmarkCNN("hand"), set_inputs(data), set_targets(data),
                   Schedule(epochs=1, batch_size=4, precision=precision), seed=0)
        assert hist["precision"] == precision and hist["device"] == "cpu"


@pytest.mark.slow  # 6 runs of 60 SGD steps: ~2.5 min alone, ~6 min on 2 busy cores
def test_bf16_gives_the_same_held_out_error_as_fp32_within_the_seed_spread():
    """The same tiny run (rectangles, hand net, clipped SGD) with 3 seeds in fp32 and in bf16: the mean
    held-out error of bf16 lies within the seed-to-seed range measured here, and both learned more
    than the training mean (so the comparison is not between two collapsed nets)."""
    train, test = rectangles("hand", 60, seed=11), rectangles("hand", 30, seed=12)
    x, y, xt, yt = set_inputs(train), set_targets(train), set_inputs(test), set_targets(test)
    mean_error = float(np.linalg.norm((yt - y.mean(0)).reshape(len(yt), -1, 2), axis=2).mean())
    errors = {}
    for precision in ("fp32", "bf16"):
        errors[precision] = []
        for seed in range(3):
            torch.manual_seed(seed)
            net = LandmarkCNN("hand")
            sched = Schedule(epochs=10, batch_size=10, lr=0.01, momentum=0.9, clip_grad_norm=1.0, precision=precision)
            fit(net, x, y, sched, seed=seed)
            pred = predict(net, xt, precision=precision)
            errors[precision].append(float(np.linalg.norm((pred - yt).reshape(len(yt), -1, 2), axis=2).mean()))
    fp32, bf16 = np.array(errors["fp32"]), np.array(errors["bf16"])
    assert fp32.mean() < 0.8 * mean_error and bf16.mean() < 0.8 * mean_error, (errors, mean_error)
    spread = max(np.ptp(fp32), np.ptp(bf16))
    assert abs(bf16.mean() - fp32.mean()) <= spread, (errors, spread)


def test_shard_blocks_give_the_same_batches_and_weights_as_in_memory_arrays(tmp_path):
    """Training read one shard file at a time (for sets larger than memory, e.g. the paper's 2.2M hand
    renders) sees the same batches as the in-memory path with the same shuffling block, so it ends
    with the same weights; and the block order really is shuffled (not the file order)."""
    from landmarklib.engine.training import ShardBlocks, _ArraySource

    data = rectangles("hand", 23, seed=4)
    x, y = set_inputs(data), set_targets(data)
    paths = []
    for j, start in enumerate(range(0, 23, 5)):
        path = tmp_path / f"shard_{j:05d}.npz"
        np.savez(path, masks=x[start:start + 5], targets=y[start:start + 5])
        paths.append(path)

    def loader(path):
        def load():
            with np.load(path) as z:
                return z["masks"], z["targets"]
        return load

    def make_blocks():
        return ShardBlocks([loader(p) for p in paths], [5, 5, 5, 5, 3], key=str(tmp_path))

    blocks = make_blocks()
    blocks.batch_size = 4
    in_memory = _ArraySource(x, y, 4, block=5)
    a = list(blocks.batches(torch.Generator().manual_seed(7)))
    b = list(in_memory.batches(torch.Generator().manual_seed(7)))
    assert len(a) == len(b) == 6
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    seen = np.concatenate([yy for _, yy in a])
    assert sorted(map(tuple, seen)) == sorted(map(tuple, y))  # every sample once per epoch
    assert not np.array_equal(seen, y)  # shuffled

    nets = []
    for kind in ("blocks", "arrays"):
        torch.manual_seed(0)
        net = LandmarkCNN("hand")
        sched = Schedule(epochs=2, batch_size=4, clip_grad_norm=1.0, precision="fp32")
        if kind == "blocks":
            fit(net, None, None, sched, seed=3, blocks=make_blocks())
        else:
            fit(net, x, y, sched, seed=3, shuffle_block=5)
        nets.append(net)
    for pa, pb in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
