"""Training the Table 1 CNN: pretraining on renders, fine-tuning and cross-validation on scans.

The paper (Sec. 2.2, 3): L2 loss (eq. 2), SGD with mini-batches of 100, learning rate 0.01,
momentum 0.9.

* Pretraining (CNN(syn)): 30 epochs, ``lr *= 0.7943`` after every epoch (0.7943 = 10^-0.1, so the
  rate falls tenfold every 10 epochs).
* Fine-tuning (CNN(ft), and CNN(real) from scratch with the same schedule): 700 epochs, the rate
  multiplied by 0.1 "once after 500 iterations".

**Gradient clipping (not in the paper).** With the paper's rate (0.01, momentum 0.9), eq. (2)'s
loss and PyTorch's default initialisation, the first steps overshoot (losses of ~4 against ~0.07 for
predicting the mean), the fc ReLUs die, and every network collapses to one constant output: CNN(syn)
of our first cpu run predicted the same landmarks for every input, and CNN(real)/CNN(ft) only the
training mean (error equal to the mean-shape baseline). Gaussian (std 0.01, Caffe's usual) or
Kaiming initialisation and centred inputs did not help (Kaiming diverged to NaN); a 10x smaller
rate learns, slowly. We keep the paper's rate and clip each step's gradient to a global norm of
``clip_grad_norm`` = 1 (all profiles; 0 turns it off): on 5,000 hand renders, 300 steps reach a
held-out loss of 0.016 against 0.067 for the mean (0.035 at lr 0.001, collapse without clipping).
The paper, in Caffe, does not report either problem; its loss (Caffe's ``EuclideanLoss`` has a
factor 1/2) and initialisation are not stated.

**Iterations or epochs?** We read "iterations" literally: optimizer steps. In the paper's own
setting the two readings coincide: a hand fold trains on 88 scans and a body fold on 19, fewer than
one mini-batch of 100, so one epoch is one iteration and the drop falls after epoch 500 either way.
The scaled profiles keep that ratio by setting ``finetune_lr_drop_after`` to 500/700 of their
``finetune_epochs`` (see :mod:`landmarklib.profiles`).

The data path is generic: :func:`fit` takes an ``inputs`` array ``(N, C, H, W)`` (or ``(N, H, W)``;
bool masks or float depth images, converted to float32 batch by batch) and a ``targets`` array
``(N, m)`` (e.g. ``2k`` unit coordinates, or ``3k`` with depth). :func:`pretrain`,
:func:`finetune` and :func:`cross_validate` are thin wrappers for the binary-mask case that take
:class:`~landmarklib.data.LandmarkSet` objects; the depth experiment calls :func:`fit` and
:func:`cross_validate_arrays` with its own arrays.

Checkpoints (``renders/models/<profile>/<task>/<name>.pt``) are written atomically after every
epoch with the model, optimizer, schedule position, loss history and every RNG state (torch CPU,
CUDA, the shuffling generator), so a killed run resumes from its last finished epoch and ends with
weights identical to an uninterrupted run. A finished checkpoint is reused, not retrained.

Devices: ``device="auto"`` uses CUDA when available, with bf16 autocast, and the CPU otherwise
(fp32); both go through the same code and both use channels_last memory (measured faster on the
2-core CPU too: ~95 vs ~70 hand images/s). ``torch.compile`` is optional
(``compile=True``) and never required.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .cnn import LandmarkCNN
from .data import LandmarkSet
from .errors import LandmarkError
from .folds import ensure_folds
from .geometry import from_unit, patch_size, to_unit
from .paths import subdir
from .provenance import atomic_path, save_npz
from .results import predictions_frame

__all__ = [
    "Schedule", "pretrain_schedule", "finetune_schedule", "resolve_device", "l2_loss",
    "set_inputs", "set_targets", "fit", "predict", "checkpoint_path",
    "pretrain", "synthetic_data", "load_pretrained", "finetune", "cross_validate_arrays", "cross_validate", "predict_set",
    "subject_subset", "learning_curve", "write_learning_curve",
]


# --------------------------------------------------------------------------------------------------
# schedule
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """SGD schedule of one training run.

    Attributes
    ----------
    epochs
        Passes over the training data.
    batch_size, lr, momentum
        Mini-batch size, initial learning rate, SGD momentum.
    decay_per_epoch
        ``lr`` is multiplied by this after every epoch (pretraining: 0.7943; 1.0 = off).
    drop_after
        After this many iterations (optimizer steps) ``lr`` is multiplied by ``drop`` once
        (fine-tuning: 500 and 0.1; ``None`` = off).
    clip_grad_norm
        Rescale each step's gradient to at most this global L2 norm (``torch.nn.utils.clip_grad_norm_``;
        ``0`` = off). Not in the paper; see the module docstring.
    """

    epochs: int
    batch_size: int = 100
    lr: float = 0.01
    momentum: float = 0.9
    decay_per_epoch: float = 1.0
    drop_after: int | None = None
    drop: float = 1.0
    clip_grad_norm: float = 0.0

    def lr_at(self, epoch: int, iteration: int) -> float:
        """Learning rate of the step with 0-based ``epoch`` and global 0-based ``iteration``."""
        lr = self.lr * self.decay_per_epoch**epoch
        if self.drop_after is not None and iteration >= self.drop_after:
            lr *= self.drop
        return lr


def pretrain_schedule(cfg: Mapping[str, Any], *, epochs: int | None = None) -> Schedule:
    """Pretraining: ``cfg.pretrain_epochs`` epochs, ``lr *= cfg.lr_decay`` after each."""
    return Schedule(
        epochs=int(epochs if epochs is not None else cfg["pretrain_epochs"]), batch_size=int(cfg["batch_size"]),
        lr=float(cfg["lr"]), momentum=float(cfg["momentum"]), decay_per_epoch=float(cfg["lr_decay"]),
        clip_grad_norm=float(cfg.get("clip_grad_norm", 0.0)),
    )


def finetune_schedule(cfg: Mapping[str, Any], *, epochs: int | None = None) -> Schedule:
    """Fine-tuning (and CNN(real)): ``cfg.finetune_epochs``, one drop after ``finetune_lr_drop_after`` steps."""
    return Schedule(
        epochs=int(epochs if epochs is not None else cfg["finetune_epochs"]), batch_size=int(cfg["batch_size"]),
        lr=float(cfg["lr"]), momentum=float(cfg["momentum"]),
        drop_after=int(cfg["finetune_lr_drop_after"]), drop=float(cfg["finetune_lr_drop"]),
        clip_grad_norm=float(cfg.get("clip_grad_norm", 0.0)),
    )


# --------------------------------------------------------------------------------------------------
# device and data
# --------------------------------------------------------------------------------------------------
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; anything else is passed to :class:`torch.device`."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LandmarkError(f"device={device!r} but CUDA is not available; use device='auto' or 'cpu'")
    return dev


def l2_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. (2): mean over the batch of the squared L2 norm ``||phi(s; w) - y||^2``. ``(B, m)`` -> scalar."""
    return (pred.float() - target.float()).pow(2).sum(dim=1).mean()


def set_inputs(data: LandmarkSet) -> np.ndarray:
    """``(N, 1, p_h, p_w)`` bool: the binary masks as the network's input channel (float32 per batch)."""
    return data.masks[:, None]


def set_targets(data: LandmarkSet) -> np.ndarray:
    """``(N, 2k)`` float32: landmarks in ``[-1, 1]`` (eq. 1), ordered ``x1, y1, x2, y2, ...``."""
    return data.unit_landmarks().reshape(len(data), -1).astype(np.float32)


def _check_arrays(inputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if inputs.ndim == 3:
        inputs = inputs[:, None]
    if inputs.ndim != 4:
        raise LandmarkError(f"inputs must be (N, C, H, W) or (N, H, W), got {inputs.shape}")
    targets = np.asarray(targets, dtype=np.float32).reshape(len(targets), -1)
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise LandmarkError(f"inputs ({len(inputs)}) and targets ({len(targets)}) must be equally many, > 0")
    return inputs, targets


def _to_batch(x: np.ndarray | torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(x) if isinstance(x, np.ndarray) else x)
    t = t.to(device=device, dtype=torch.float32, non_blocking=True)
    return t.contiguous(memory_format=torch.channels_last) if channels_last else t


class _ArraySource:
    """Shuffled mini-batches of in-memory arrays; the order comes from a seeded torch generator."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, batch_size: int) -> None:
        self.inputs, self.targets = _check_arrays(inputs, targets)
        self.batch_size = batch_size

    def __len__(self) -> int:  # batches per epoch
        return -(-len(self.inputs) // self.batch_size)

    def batches(self, generator: torch.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = torch.randperm(len(self.inputs), generator=generator).numpy()
        for start in range(0, len(order), self.batch_size):
            idx = np.sort(order[start : start + self.batch_size])  # sorted: faster gathers, same batch
            yield self.inputs[idx], self.targets[idx]


class _StreamSource:
    """Mini-batches from an iterable of samples (e.g. ``rendering.SyntheticStream``).

    Each item may be a :class:`LandmarkSet` (a chunk), a ``(mask, landmarks_px)`` pair, or a dict
    with ``"mask"``/``"masks"`` and ``"landmarks"`` (patch pixels). The stream must produce the
    same samples on every pass (it is seeded by index), so an epoch is one pass over it.
    """

    def __init__(self, stream: Iterable[Any], task: str, batch_size: int, n: int | None) -> None:
        self.stream, self.task, self.batch_size = stream, task, batch_size
        self.n = n if n is not None else len(stream)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def _samples(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # rendering.SyntheticStream offers whole LandmarkSet blocks via .batches(): cheaper than per sample
        items = self.stream.batches() if callable(getattr(self.stream, "batches", None)) else self.stream
        for item in items:
            if isinstance(item, LandmarkSet):
                yield from zip(set_inputs(item), set_targets(item))
                continue
            if isinstance(item, Mapping):
                mask = item.get("mask", item.get("masks"))
                lm = item["landmarks"]
            else:
                mask, lm = item[0], item[1]
            mask, lm = np.asarray(mask), np.asarray(lm, dtype=np.float64)
            masks = mask[None] if mask.ndim == 2 else mask
            lms = lm[None] if lm.ndim == 2 else lm
            for m, p in zip(masks, lms):
                yield m[None], to_unit(p, patch_size(self.task)).astype(np.float32).ravel()

    def batches(self, generator: torch.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for count, (x, y) in enumerate(self._samples()):
            if count >= self.n:
                break
            xs.append(x)
            ys.append(y)
            if len(xs) == self.batch_size:
                yield np.stack(xs), np.stack(ys)
                xs, ys = [], []
        if xs:
            yield np.stack(xs), np.stack(ys)


# --------------------------------------------------------------------------------------------------
# the training loop
# --------------------------------------------------------------------------------------------------
def checkpoint_path(name: str, *, task: str, profile: str, renders_dir: str | os.PathLike | None = None) -> Path:
    """``renders/models/<profile>/<task>/<name>.pt``."""
    return subdir("models", profile, task, renders_dir=renders_dir) / f"{name}.pt"


def _rng_state(generator: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["shuffle"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise LandmarkError(f"{path}: unreadable checkpoint ({err}); delete it to retrain") from None


def _bare(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "_orig_mod", model)  # a torch.compile'd module wraps the original


def _fingerprint(*arrays: np.ndarray) -> str:
    """A short content hash of (small) arrays, so a checkpoint or a finished fold is never reused for
    other data of the same size (the targets identify a training set: they are continuous values)."""
    digest = hashlib.sha1()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def fit(
    model: torch.nn.Module,
    inputs: np.ndarray | None,
    targets: np.ndarray | None,
    schedule: Schedule,
    *,
    seed: int,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    stream: Iterable[Any] | None = None,
    stream_task: str | None = None,
    stream_n: int | None = None,
    compile: bool = False,
    desc: str = "train",
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    progress: bool | None = None,
    checkpoint_every_s: float = 60.0,
    save_final: bool = True,
) -> dict[str, Any]:
    """Train ``model`` in place with SGD + momentum on the L2 loss; resumable.

    Parameters
    ----------
    model
        The network (its current weights are the starting point: random or pretrained).
    inputs, targets
        ``(N, C, H, W)`` (or ``(N, H, W)``) images of any numeric/bool dtype, and ``(N, m)`` targets
        in the network's output units. ``None`` when ``stream`` is given.
    schedule
        Epochs, batch size and learning-rate rule (:class:`Schedule`).
    seed
        Seeds dropout (torch's global generator) and the shuffling generator at the start.
    checkpoint
        ``.pt`` file written atomically at the end of an epoch. If it exists and was made with the
        same schedule, seed and data size, training resumes after its last epoch (a finished one
        returns at once).
    checkpoint_every_s
        Write the checkpoint after an epoch only if this many seconds passed since the last write
        (always after the last epoch). Pretraining epochs take minutes, so every epoch is saved;
        fine-tuning epochs are a single step of a few images, and saving ~300 MB (weights +
        momentum) after each would cost more than the step. ``0``: after every epoch.
    save_final
        Also write the checkpoint after the last epoch (off for cross-validation folds, which keep
        their predictions instead).
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``...; CUDA adds bf16 autocast (channels_last everywhere).
    stream, stream_task, stream_n
        Instead of arrays: an iterable of samples (see :class:`_StreamSource`), its task and the
        number of samples per epoch.
    compile
        Wrap the model with ``torch.compile`` (optional speed-up, never required).
    callback
        Called as ``callback(epoch, record)`` after every epoch's checkpoint is written.
    progress
        Show a tqdm bar (``None``: only on a terminal or in a notebook).

    Returns
    -------
    dict
        ``{"loss": [mean loss per epoch], "images_per_s": [...], "lr": [...], "seconds": float,
        "epochs_run": int, "resumed_from": int}``. The model ends on the CPU in eval mode.
    """
    if stream is not None:
        if stream_task is None:
            raise LandmarkError("a stream needs stream_task ('hand' or 'body')")
        source: _ArraySource | _StreamSource = _StreamSource(stream, stream_task, schedule.batch_size, stream_n)
    else:
        if inputs is None or targets is None:
            raise LandmarkError("fit needs inputs and targets arrays, or a stream")
        source = _ArraySource(inputs, targets, schedule.batch_size)
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    base = _bare(model)
    base.to(dev, memory_format=torch.channels_last)  # faster on both oneDNN (CPU) and cuDNN
    optimizer = torch.optim.SGD(base.parameters(), lr=schedule.lr, momentum=schedule.momentum)
    history: dict[str, Any] = {"loss": [], "images_per_s": [], "lr": [], "seconds": 0.0, "resumed_from": 0}
    start_epoch, iteration = 0, 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    n_samples = source.n if isinstance(source, _StreamSource) else len(source.inputs)
    identity = {"schedule": asdict(schedule), "seed": int(seed), "samples": int(n_samples),
                "data": _fingerprint(source.targets) if isinstance(source, _ArraySource) else f"stream:{stream_task}"}
    if ckpt is not None and ckpt.is_file():
        state = _load_checkpoint(ckpt)
        if state.get("identity") != identity:
            raise LandmarkError(
                f"{ckpt} was made with another schedule, seed or data ({state.get('identity')}); "
                "delete it to retrain"
            )
        base.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng_state(state["rng"], generator)
        start_epoch, iteration, history = state["epoch"], state["iteration"], state["history"]
        history["resumed_from"] = start_epoch
    net = torch.compile(base) if compile else base
    last_save = time.perf_counter()
    total = schedule.epochs * len(source)
    bar = tqdm(
        total=total, initial=start_epoch * len(source), desc=desc, unit="it", leave=False,
        disable=(not progress) if progress is not None else None,
    )
    try:
        for epoch in range(start_epoch, schedule.epochs):
            base.train()
            t0, seen, loss_sum = time.perf_counter(), 0, torch.zeros((), device=dev)
            for xb, yb in source.batches(generator):
                lr = schedule.lr_at(epoch, iteration)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x, y = _to_batch(xb, dev, True), _to_batch(yb, dev, False)
                with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cuda):
                    pred = net(x)
                loss = l2_loss(pred, y)
                optimizer.zero_grad(set_to_none=False)  # keep the grad buffers: no re-allocation per step
                loss.backward()
                if schedule.clip_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(base.parameters(), schedule.clip_grad_norm)
                optimizer.step()
                iteration += 1
                seen += len(xb)
                loss_sum += loss.detach() * len(xb)
                bar.update(1)
                if bar.n % 10 == 0 or bar.n == total:
                    rate = seen / max(time.perf_counter() - t0, 1e-9)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}", img_s=f"{rate:.0f}", lr=f"{lr:.2e}")
            seconds = time.perf_counter() - t0
            history["loss"].append(float(loss_sum.item() / max(seen, 1)))
            history["images_per_s"].append(seen / max(seconds, 1e-9))
            history["lr"].append(lr)
            history["seconds"] += seconds
            last = epoch + 1 == schedule.epochs
            due = (last and save_final) or (not last and time.perf_counter() - last_save >= checkpoint_every_s)
            if ckpt is not None and due:
                last_save = time.perf_counter()
                _save_checkpoint(ckpt, {
                    "identity": identity, "model": base.state_dict(), "optimizer": optimizer.state_dict(),
                    "rng": _rng_state(generator), "epoch": epoch + 1, "iteration": iteration,
                    "history": history, "finished": last,
                })
            if callback is not None:
                callback(epoch, history)
    finally:
        bar.close()
        base.to("cpu", memory_format=torch.contiguous_format)
        base.eval()
    history["epochs_run"] = schedule.epochs - history["resumed_from"]
    return history


@torch.no_grad()
def predict(
    model: torch.nn.Module, inputs: np.ndarray, *, batch_size: int = 256, device: str | torch.device = "auto"
) -> np.ndarray:
    """Network outputs ``(N, m)`` float32 for ``inputs`` ``(N, C, H, W)`` (eval mode: no dropout)."""
    if inputs.ndim == 3:
        inputs = inputs[:, None]
    dev = resolve_device(device)
    cuda = dev.type == "cuda"
    base = _bare(model).to(dev, memory_format=torch.channels_last).eval()
    out = []
    for start in range(0, len(inputs), batch_size):
        x = _to_batch(inputs[start : start + batch_size], dev, True)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cuda):
            out.append(base(x).float().cpu())
    base.to("cpu", memory_format=torch.contiguous_format)
    return torch.cat(out).numpy() if out else np.zeros((0, getattr(base, "n_outputs", 0)), np.float32)


# --------------------------------------------------------------------------------------------------
# binary-mask wrappers (the paper's CNN(syn), CNN(real), CNN(ft))
# --------------------------------------------------------------------------------------------------
def _model_seed(cfg: Mapping[str, Any], salt: int) -> int:
    return int(cfg["seed"]) * 1_000 + salt


def pretrain(
    task: str,
    cfg: Mapping[str, Any],
    data: LandmarkSet | None = None,
    *,
    stream: Iterable[Any] | None = None,
    stream_n: int | None = None,
    name: str = "cnn_syn",
    compile: bool = False,
    progress: bool | None = None,
) -> tuple[LandmarkCNN, dict[str, Any]]:
    """CNN(syn): train a fresh :class:`LandmarkCNN` on synthetic data with the pretraining schedule.

    Parameters
    ----------
    data
        Stored renders (``rendering.load_renders(task, cfg)``), or ``None`` with ``stream``
        (``rendering.SyntheticStream(task, seed=..., n=...)``) and ``stream_n`` samples per epoch.

    Returns
    -------
    (model, history)
        The trained network (CPU, eval mode) and :func:`fit`'s history. The checkpoint is
        ``renders/models/<profile>/<task>/<name>.pt``.
    """
    torch.manual_seed(_model_seed(cfg, 1))
    model = LandmarkCNN(task)
    ckpt = checkpoint_path(name, task=task, profile=cfg["profile"], renders_dir=cfg.get("renders_dir"))
    if data is not None:
        history = fit(model, set_inputs(data), set_targets(data), pretrain_schedule(cfg), seed=_model_seed(cfg, 2),
                      checkpoint=ckpt, device=cfg.get("device", "auto"), compile=compile,
                      desc=f"pretrain {task}", progress=progress)
    else:
        history = fit(model, None, None, pretrain_schedule(cfg), seed=_model_seed(cfg, 2), checkpoint=ckpt,
                      device=cfg.get("device", "auto"), stream=stream, stream_task=task, stream_n=stream_n,
                      compile=compile, desc=f"pretrain {task} (stream)", progress=progress)
    return model, history


def synthetic_data(task: str, cfg: Mapping[str, Any]) -> tuple[LandmarkSet | None, Iterable[Any] | None, int]:
    """The pretraining data the profile asks for: ``(renders, None, n)`` or ``(None, stream, n)``.

    ``cfg.pretrain_source`` is ``"stored"`` (``rendering.load_renders``, cached under
    ``renders/synthetic/``) or ``"stream"`` (``rendering.SyntheticStream``, made on the fly);
    ``n = cfg.<task>_pretrain_images``.
    """
    from . import rendering  # the renders stage; imported here so the CNN works without it

    n = int(cfg[f"{task}_pretrain_images"])
    source = cfg.get("pretrain_source", "stored")
    if source == "stream":
        return None, rendering.SyntheticStream(task, seed=int(cfg["seed"]), n=n), n
    if source != "stored":
        raise LandmarkError(f"pretrain_source={source!r}; use 'stored' or 'stream'")
    data = rendering.load_renders(task, cfg, n=n)
    return (data if len(data) == n else data.subset(slice(0, n))), None, n


def load_pretrained(task: str, cfg: Mapping[str, Any], *, progress: bool | None = None) -> tuple[LandmarkCNN, dict[str, Any]]:
    """CNN(syn) of ``task``: the finished checkpoint if there is one, else pretrain it now."""
    ckpt = checkpoint_path("cnn_syn", task=task, profile=cfg["profile"], renders_dir=cfg.get("renders_dir"))
    if ckpt.is_file():
        state = _load_checkpoint(ckpt)
        same = state["identity"]["schedule"] == asdict(pretrain_schedule(cfg)) and state["identity"].get(
            "samples") == int(cfg[f"{task}_pretrain_images"])
        if state.get("finished") and same:
            model = LandmarkCNN(task)
            model.load_state_dict(state["model"])
            return model.eval(), state["history"]
    data, stream, n = synthetic_data(task, cfg)
    return pretrain(task, cfg, data, stream=stream, stream_n=n, progress=progress)


def finetune(
    model: LandmarkCNN | None,
    train: LandmarkSet,
    cfg: Mapping[str, Any],
    *,
    name: str,
    seed: int,
    progress: bool | None = None,
) -> tuple[LandmarkCNN, dict[str, Any]]:
    """Train on scans with the fine-tuning schedule: from ``model`` (CNN(ft), copied, not modified)
    or from random weights when ``model`` is ``None`` (CNN(real))."""
    torch.manual_seed(seed)
    net = LandmarkCNN(train.task) if model is None else copy.deepcopy(model)
    ckpt = checkpoint_path(name, task=train.task, profile=cfg["profile"], renders_dir=cfg.get("renders_dir"))
    history = fit(net, set_inputs(train), set_targets(train), finetune_schedule(cfg), seed=seed, checkpoint=ckpt,
                  device=cfg.get("device", "auto"), desc=name, progress=progress)
    return net, history


def cross_validate_arrays(
    inputs: np.ndarray,
    targets: np.ndarray,
    ids: Sequence[str],
    folds: Sequence[Mapping[str, Sequence[str]]],
    make_model: Callable[[int], torch.nn.Module],
    schedule: Schedule,
    *,
    seed: int,
    checkpoint_stem: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    progress: bool | None = None,
    keep_models: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Generic cross-validation: train on each fold's ``train`` ids, predict its ``test`` ids.

    Parameters
    ----------
    inputs, targets
        ``(N, C, H, W)`` and ``(N, m)``, one row per id.
    folds
        From :func:`landmarklib.folds.ensure_folds`; every id must be in exactly one test set.
    make_model
        ``make_model(fold) -> model``: a fresh or pretrained network for that fold.
    checkpoint_stem
        Per-fold checkpoints ``<stem>_fold<i>.pt`` while a fold trains, and ``<stem>_fold<i>.npz``
        (its test predictions and history) once it is done; a rerun skips finished folds
        (``None``: nothing saved).
    keep_models
        Keep each fold's final ``.pt`` (0.2-0.3 GB each) instead of deleting it after prediction.

    Returns
    -------
    (pred, fold_of, histories)
        ``pred (N, m)`` test-time outputs for every id (from the fold that held it out),
        ``fold_of (N,)`` that fold's index, and one :func:`fit` history per fold.
    """
    ids = np.asarray(ids).astype(str)
    inputs, targets = _check_arrays(inputs, targets)
    pred = np.full(targets.shape, np.nan, dtype=np.float32)
    fold_of = np.full(len(ids), -1, dtype=int)
    histories = []
    for i, fold in enumerate(tqdm(folds, desc="folds", leave=False, disable=(not progress) if progress is not None else None)):
        train = np.isin(ids, np.asarray(fold["train"]).astype(str))
        test = np.isin(ids, np.asarray(fold["test"]).astype(str))
        if (fold_of[test] >= 0).any() or (train & test).any():
            raise LandmarkError(f"fold {i}: its test ids overlap its training ids or another fold's test ids")
        fold_of[test] = i
        ckpt = None if checkpoint_stem is None else Path(f"{checkpoint_stem}_fold{i}.pt")
        done = None if ckpt is None else ckpt.with_suffix(".npz")
        identity = json.dumps({"schedule": asdict(schedule), "seed": seed + i, "test": ids[test].tolist(),
                               "n_train": int(train.sum()), "data": _fingerprint(targets[train], targets[test])})
        if done is not None and done.is_file():
            with np.load(done, allow_pickle=False) as z:
                if str(z["identity"]) == identity:
                    pred[test] = z["pred"]
                    histories.append(json.loads(str(z["history"])))
                    continue
            raise LandmarkError(f"{done} was made for another fold, schedule or seed; delete it to retrain")
        model = make_model(i)
        history = fit(model, inputs[train], targets[train], schedule, seed=seed + i, checkpoint=ckpt,
                      device=device, desc=f"fold {i + 1}/{len(folds)}", progress=progress, save_final=keep_models)
        pred[test] = predict(model, inputs[test], device=device)
        histories.append(history)
        if done is not None and ckpt is not None:
            # the fold's result is small; its checkpoint (weights + momentum, 0.2-0.3 GB) is not kept
            save_npz(done, pred=pred[test], identity=np.array(identity), history=np.array(json.dumps(history)))
            if not keep_models:
                ckpt.unlink(missing_ok=True)
    if (fold_of < 0).any():
        missing = ids[fold_of < 0][:5].tolist()
        raise LandmarkError(f"ids {missing} are in no fold's test set; delete the folds file to remake it")
    return pred, fold_of, histories


def _to_px(unit: np.ndarray, task: str) -> np.ndarray:
    return from_unit(unit.reshape(len(unit), -1, 2), patch_size(task))


def predict_set(model: LandmarkCNN, data: LandmarkSet, *, device: str | torch.device = "auto") -> np.ndarray:
    """``(N, k, 2)`` landmark estimates in patch pixels for the masks of ``data``."""
    return _to_px(predict(model, set_inputs(data), device=device), data.task)


def cross_validate(
    real: LandmarkSet,
    cfg: Mapping[str, Any],
    *,
    method: str,
    pretrained: LandmarkCNN | None = None,
    progress: bool | None = None,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """CNN(real) (``pretrained=None``) or CNN(ft) over the shared folds of ``real``'s subjects.

    Returns
    -------
    (frame, histories)
        The prediction table (:func:`landmarklib.results.predictions_frame`, patch pixels; the
        ``[-1, 1]`` values follow by eq. 1) for every scan from the fold that held it out, and one
        training history per fold.
    """
    if method not in ("CNN(real)", "CNN(ft)"):
        raise LandmarkError(f"method must be 'CNN(real)' or 'CNN(ft)', got {method!r}")
    if (method == "CNN(ft)") != (pretrained is not None):
        raise LandmarkError("CNN(ft) needs the pretrained CNN(syn) model; CNN(real) takes none")
    folds = ensure_folds(real.ids, real.task, profile=cfg["profile"], seed=int(cfg["seed"]),
                         renders_dir=cfg.get("renders_dir"))
    salt = 10 if pretrained is None else 20

    def make_model(fold: int) -> LandmarkCNN:
        torch.manual_seed(_model_seed(cfg, salt) + fold)
        return LandmarkCNN(real.task) if pretrained is None else copy.deepcopy(pretrained)

    stem = checkpoint_path("cnn_real" if pretrained is None else "cnn_ft", task=real.task, profile=cfg["profile"],
                           renders_dir=cfg.get("renders_dir"))
    pred, fold_of, histories = cross_validate_arrays(
        set_inputs(real), set_targets(real), real.ids, folds, make_model, finetune_schedule(cfg),
        seed=_model_seed(cfg, salt + 1), checkpoint_stem=stem.with_suffix(""), device=cfg.get("device", "auto"),
        progress=progress,
    )
    frame = predictions_frame(task=real.task, method=method, fold=fold_of, subjects=real.ids,
                              pred_px=_to_px(pred, real.task), true_px=real.landmarks, mm_per_px=real.mm_per_px)
    return frame, histories


# --------------------------------------------------------------------------------------------------
# learning curve (issue 8): when does synthetic pretraining pay off?
# --------------------------------------------------------------------------------------------------
def _counts(counts: Sequence[int | None] | None, full: int) -> list[int]:
    """Sorted distinct counts, ``None`` (or anything above ``full``) meaning ``full``."""
    return sorted({full if c is None else min(int(c), full) for c in (counts or [None])})


def subject_subset(train_ids: Sequence[str], n: int, *, seed: int, fold: int) -> list[str]:
    """``n`` of a fold's training ids, drawn without replacement by a RNG seeded from ``(seed, n, fold)``.

    The same arguments give the same subset; only ``train_ids`` are ever drawn (no test leakage).
    """
    ids = sorted(np.asarray(train_ids).astype(str).tolist())
    if n >= len(ids):
        return ids
    rng = np.random.default_rng([int(seed), int(n), int(fold)])
    return sorted(rng.choice(ids, size=n, replace=False).tolist())


def _pretrained_on(task: str, cfg: Mapping[str, Any], n: int, full: int, renders: LandmarkSet | None,
                   progress: bool | None) -> LandmarkCNN:
    """CNN(syn) on the first ``n`` renders (``cnn_syn_n<n>.pt``, cached), or the profile's own CNN(syn)."""
    if renders is not None:
        return pretrain(task, cfg, renders.subset(slice(0, n)), name=f"cnn_syn_n{n}", progress=progress)[0]
    if n >= full:
        return load_pretrained(task, cfg, progress=progress)[0]
    data, stream, _ = synthetic_data(task, cfg)
    if stream is not None:
        from . import rendering

        stream = rendering.SyntheticStream(task, seed=int(cfg["seed"]), n=n)
    return pretrain(task, cfg, None if data is None else data.subset(slice(0, n)), stream=stream, stream_n=n,
                    name=f"cnn_syn_n{n}", progress=progress)[0]


def _fold_error(model: LandmarkCNN | None, train: LandmarkSet, test: LandmarkSet, cfg: Mapping[str, Any],
                seed: int, method: str, fold: int) -> pd.DataFrame:
    """Train (from ``model`` or from scratch), predict ``test``: per scan and landmark errors (patch px)."""
    from .evaluation import landmark_errors

    torch.manual_seed(seed)
    net = LandmarkCNN(train.task) if model is None else copy.deepcopy(model)
    fit(net, set_inputs(train), set_targets(train), finetune_schedule(cfg), seed=seed, checkpoint=None,
        device=cfg.get("device", "auto"), desc=f"{method} fold {fold + 1}", progress=False)
    frame = predictions_frame(task=test.task, method=method, fold=fold, subjects=test.ids,
                              pred_px=predict_set(net, test, device=cfg.get("device", "auto")),
                              true_px=test.landmarks, mm_per_px=test.mm_per_px)
    return landmark_errors(frame)


def learning_curve(
    task: str,
    cfg: Mapping[str, Any],
    real: LandmarkSet,
    *,
    subject_counts: Sequence[int | None] | None = None,
    render_counts: Sequence[int | None] | None = None,
    renders: LandmarkSet | None = None,
    write: bool = True,
    progress: bool | None = None,
) -> pd.DataFrame:
    """CNN(real) and CNN(ft) error against the number of real training subjects and of renders.

    Subject curve: for each count ``n`` and each shared fold (:func:`landmarklib.folds.ensure_folds`),
    ``n`` of the fold's *training* subjects (:func:`subject_subset`, seeded) train CNN(real) from
    scratch and fine-tune CNN(ft) from the profile's CNN(syn); the fold's test subjects are scored.
    Render curve: CNN(syn) pretrained on the first ``n`` renders (cached checkpoints
    ``cnn_syn_n<n>.pt``), fine-tuned on all training subjects of every fold; CNN(real) on all subjects
    is repeated at every render count as the reference line that pretraining has to beat.

    Parameters
    ----------
    subject_counts, render_counts
        Counts; ``None`` (or more than there are) means all. Defaults: ``cfg.curve_subjects`` and
        ``cfg.curve_renders``.
    renders
        Synthetic set to pretrain on instead of the profile's (``cfg.pretrain_source``,
        ``cfg.<task>_pretrain_images``); every count then gets its own ``cnn_syn_n<n>`` checkpoint.
    write
        Merge the rows into :func:`landmarklib.figures.learning_curve_path` (replacing this task's
        earlier rows), atomically, with a JSON provenance sidecar.

    Returns
    -------
    pandas.DataFrame
        One row per (curve, method, count): ``task, curve ("subjects"|"renders"), method, n_subjects,
        n_renders, error`` (mean Euclidean landmark error over the test scans of all folds and their
        landmarks, patch px), ``error_mm`` and ``n_scans`` (test scans scored).
    """
    folds = ensure_folds(real.ids, task, profile=cfg["profile"], seed=int(cfg["seed"]),
                         renders_dir=cfg.get("renders_dir"))
    seed = int(cfg["seed"])
    full_renders = int(cfg[f"{task}_pretrain_images"]) if renders is None else len(renders)
    max_train = max(len(f["train"]) for f in folds)
    subjects = _counts(cfg.get("curve_subjects") if subject_counts is None else subject_counts, max_train)
    render_ns = _counts(cfg.get("curve_renders") if render_counts is None else render_counts, full_renders)
    jobs = [("subjects", n, full_renders) for n in subjects] + [("renders", max_train, r) for r in render_ns]
    cache: dict[tuple[str, int, int], pd.DataFrame] = {}
    models: dict[int, LandmarkCNN] = {}
    rows = []
    for curve, n_sub, n_ren in tqdm(jobs, desc=f"learning curve {task}", disable=(not progress) if progress is not None else None):
        if n_ren not in models:
            models[n_ren] = _pretrained_on(task, cfg, n_ren, full_renders, renders, progress)
        for method, base in (("CNN(real)", None), ("CNN(ft)", models[n_ren])):
            key = (method, n_sub, n_ren if method == "CNN(ft)" else full_renders)
            if key not in cache:
                parts = []
                for i, fold in enumerate(folds):
                    train = real.select_ids(subject_subset(fold["train"], n_sub, seed=seed, fold=i))
                    salt = 30 if base is None else 40
                    parts.append(_fold_error(base, train, real.select_ids(fold["test"]), cfg,
                                             _model_seed(cfg, salt) + i, method, i))
                cache[key] = pd.concat(parts)
            err = cache[key]
            rows.append({"task": task, "curve": curve, "method": method,
                         "n_subjects": n_sub if curve == "subjects" else np.nan,
                         "n_renders": n_ren if curve == "renders" else np.nan,
                         "error": float(err["error_px"].mean()), "error_mm": float(err["error_mm"].mean()),
                         "n_scans": int(err["subject"].nunique())})
    table = pd.DataFrame(rows)
    if write:
        write_learning_curve(table, cfg)
    return table


def write_learning_curve(table: pd.DataFrame, cfg: Mapping[str, Any]) -> Path:
    """Merge ``table`` into the profile's learning-curve CSV (its tasks' old rows replaced); atomic, with
    a provenance sidecar ``learning_curve.json``. Returns the CSV path."""
    from .figures import learning_curve_path
    from .provenance import provenance, write_json

    path = learning_curve_path(cfg["profile"], renders_dir=cfg.get("renders_dir"))
    if path.is_file():
        old = pd.read_csv(path)
        table = pd.concat([old[~old["task"].isin(table["task"].unique())], table], ignore_index=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    write_json(path.with_suffix(".json"), provenance(dict(cfg), tasks=sorted(table["task"].unique()),
                                                     rows=len(table)))
    return path
