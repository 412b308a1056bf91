"""Training and prediction for every network: the SGD schedules, fit (resumable, bf16 where supported), predict.

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
:func:`landmarklib.engine.crossval.cross_validate_arrays` with its own arrays and a target transform.

Checkpoints (``renders/models/<profile>/<task>/<name>.pt``) are written atomically after every
epoch with the model, optimizer, schedule position, loss history and every RNG state (torch CPU,
CUDA, the shuffling generator), so a killed run resumes from its last finished epoch and ends with
weights identical to an uninterrupted run. A finished checkpoint is reused, not retrained.

Devices and precision: ``device="auto"`` uses CUDA when available and the CPU otherwise; both go
through the same code with channels_last memory. ``Schedule.precision`` (the profiles' ``precision``
switch: ``auto | fp32 | bf16``) runs the forward pass under ``torch.autocast(dtype=torch.bfloat16)``;
the loss (eq. 2) is computed in fp32 and the weights, gradients and optimizer state stay fp32.
``auto`` means bf16 on CUDA and on CPUs with native bf16 arithmetic (AMX-BF16 or AVX512-BF16 through
oneDNN, :func:`cpu_has_bf16`) and fp32 elsewhere (:func:`effective_precision`). Every history records
the precision it ran with. ``torch.compile`` is optional (``compile=True``) and never required.

**Where a CPU step goes** (``benchmarks/bench_training.py``, torch.profiler). The fc layers hold
almost all weights (hand 28M of 28M, body 36M), so the passes over them dominate as soon as the batch
is small (fine-tuning: 19 bodies per step). Three things measurably cut that cost and are used here:

* the fused SGD kernel (``torch.optim.SGD(fused=True)``: one pass over weight, gradient and momentum;
  ~2x faster than the per-tensor loop on the body's 36M weights);
* gradient clipping folded into that pass: the global norm is computed once
  (``torch.nn.utils.get_total_norm``) and handed to the fused kernel as its ``grad_scale`` (the kernel
  divides the gradient by it), instead of a separate rescaling pass over every gradient
  (``clip_grad_norm_``); the result is the same clipped step up to rounding;
* no page faults on the big temporaries: glibc serves allocations above 32 MB with fresh ``mmap``
  pages and returns them on free, so each step's bf16 copy of the fc weights and each fc weight
  gradient (64-128 MB) was paid in page faults (measured: casting the body's fc1 weight to bf16
  105 -> 12 ms, its weight gradient at batch 19 117 -> 24 ms). :func:`fit` therefore asks glibc once
  to keep freed memory for reuse (``mallopt``; a process-wide setting: the process keeps its peak
  memory until it exits).

Gradients are freed after each step (``zero_grad(set_to_none=True)``), so backward writes them once
instead of adding into zeroed buffers.

**What is left** (bench_training, 2026-12-03, 2 cores of an AMD EPYC with AVX512-BF16 and no AMX). The
body's leave-one-out at the paper's schedule (28,000 steps of 19 images) projects to 39 min with the folds
in two 1-thread processes (the cpu book measured 37). Its floors, each run by two 1-thread processes at
once: the convolutions' forward and backward alone 17 min, and with the fc layers' six bf16 matrix products
30 min. The other 9 min are the bf16 casts, the clipping norm and the SGD update over fc1's 32M weights;
removing them needs one fused pass (e.g. a compiled optimizer step, not tried) or other arithmetic (bf16
master weights, a low-rank update of fc1), which would no longer be the plain SGD the schedule describes.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import io
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.profiler import record_function

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..geometry import from_unit, patch_size, to_unit
from ..models.cnn import LandmarkCNN
from ..paths import subdir
from ..profiles import PRECISIONS
from ..progress import bar as progress_bar
from ..provenance import atomic_path

__all__ = ["SEED_SALTS", "cpu_has_bf16", "effective_precision", "ShardBlocks", "Schedule", "pretrain_schedule", "finetune_schedule", "resolve_device", "l2_loss", "set_inputs", "set_targets", "checkpoint_path", "fit", "predict", "predict_set"]


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
        Rescale each step's gradient to at most this global L2 norm (as ``torch.nn.utils.clip_grad_norm_``;
        ``0`` = off). Not in the paper; see the module docstring.
    precision
        ``"auto"``, ``"fp32"`` or ``"bf16"`` (:func:`effective_precision`).
    """

    epochs: int
    batch_size: int = 100
    lr: float = 0.01
    momentum: float = 0.9
    decay_per_epoch: float = 1.0
    drop_after: int | None = None
    drop: float = 1.0
    clip_grad_norm: float = 0.0
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise LandmarkError(f"precision={self.precision!r}; choose one of: {', '.join(PRECISIONS)}")

    def lr_at(self, epoch: int, iteration: int) -> float:
        """Learning rate of the step with 0-based ``epoch`` and global 0-based ``iteration``."""
        lr = self.lr * self.decay_per_epoch**epoch
        if self.drop_after is not None and iteration >= self.drop_after:
            lr *= self.drop
        return lr


def pretrain_schedule(cfg: Mapping[str, Any], *, epochs: int | None = None) -> Schedule:
    """Pretraining: ``cfg.pretrain_epochs`` epochs, ``lr *= cfg.lr_decay`` after each."""
    return Schedule(
        epochs=int(epochs if epochs is not None else cfg.pretrain_epochs), batch_size=int(cfg.batch_size),
        lr=float(cfg.lr), momentum=float(cfg.momentum), decay_per_epoch=float(cfg.lr_decay),
        clip_grad_norm=float(cfg.clip_grad_norm), precision=str(cfg.precision),
    )


def finetune_schedule(cfg: Mapping[str, Any], *, epochs: int | None = None, n_images: int | None = None) -> Schedule:
    """Fine-tuning (and CNN(real)): ``cfg.finetune_epochs``, one drop after ``finetune_lr_drop_after`` steps.

    With ``n_images`` (a training set of that size), as many epochs as make ``cfg.finetune_epochs``
    *iterations*. The paper's "700 epochs, lr x0.1 after 500 iterations" (Sec. 3) counts its folds'
    epochs and iterations alike, as a fold (88 hands, 19 bodies) is below one mini-batch of 100; a model
    trained on a larger set (the detector's 132 hands) keeps that count of iterations and the place of the
    drop, rather than running twice as many steps, 900 of 1,400 of them after the drop. For a set of at
    most one batch this is ``cfg.finetune_epochs`` epochs.
    """
    if epochs is None:
        epochs = int(cfg.finetune_epochs)
        if n_images is not None:
            epochs = math.ceil(epochs / max(math.ceil(int(n_images) / int(cfg.batch_size)), 1))
    return Schedule(
        epochs=int(epochs), batch_size=int(cfg.batch_size),
        lr=float(cfg.lr), momentum=float(cfg.momentum),
        drop_after=int(cfg.finetune_lr_drop_after), drop=float(cfg.finetune_lr_drop),
        clip_grad_norm=float(cfg.clip_grad_norm), precision=str(cfg.precision),
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


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic natively (AMX-BF16 or AVX512-BF16, used by oneDNN).

    Without them torch emulates bf16 on the CPU, slower than fp32, so ``precision="auto"`` stays fp32.
    """
    if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(check is not None and check() for check in checks):
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def effective_precision(precision: str = "auto", device: str | torch.device = "auto") -> str:
    """``"bf16"`` or ``"fp32"``: what ``precision`` (``auto | fp32 | bf16``) means on ``device``.

    ``auto``: bf16 on CUDA and on CPUs with native bf16 (:func:`cpu_has_bf16`), fp32 elsewhere.
    """
    if precision not in PRECISIONS:
        raise LandmarkError(f"precision={precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if resolve_device(device).type == "cuda" or cpu_has_bf16() else "fp32"


@functools.cache
def _keep_freed_memory() -> bool:
    """Ask glibc to serve big blocks from its heap and keep freed memory (see the module docstring)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):  # not glibc: nothing to do
        return False


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


def _block_order(sizes: Sequence[int], generator: torch.Generator) -> list[tuple[int, np.ndarray]]:
    """Epoch order over consecutive blocks of ``sizes`` samples: the blocks in a random order, each
    block's samples in a random order (local indices). One block = a plain random permutation."""
    if len(sizes) == 1:
        return [(0, torch.randperm(sizes[0], generator=generator).numpy())]
    blocks = torch.randperm(len(sizes), generator=generator).tolist()
    return [(j, torch.randperm(sizes[j], generator=generator).numpy()) for j in blocks]


class _ArraySource:
    """Shuffled mini-batches of in-memory arrays; the order comes from a seeded torch generator.

    ``block``: shuffle in blocks of this many consecutive samples (:func:`_block_order`), the order
    a :class:`ShardBlocks` source of the same blocks gives; ``None``: one block.
    """

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, batch_size: int, block: int | None = None) -> None:
        self.inputs, self.targets = _check_arrays(inputs, targets)
        self.batch_size = batch_size
        n = len(self.inputs)
        block = n if block is None else int(block)
        self.sizes = [min(block, n - start) for start in range(0, n, block)]

    def __len__(self) -> int:  # batches per epoch
        return -(-len(self.inputs) // self.batch_size)

    def batches(self, generator: torch.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        offsets = np.cumsum([0, *self.sizes])
        order = np.concatenate([offsets[j] + local for j, local in _block_order(self.sizes, generator)])
        for start in range(0, len(order), self.batch_size):
            idx = np.sort(order[start : start + self.batch_size])  # sorted: faster gathers, same batch
            yield self.inputs[idx], self.targets[idx]


class ShardBlocks:
    """Training data read one block (e.g. one render shard) at a time: for sets larger than memory.

    Parameters
    ----------
    loaders
        One callable per block, returning its ``(inputs, targets)`` arrays (e.g. reading one shard
        file); called once per block and epoch, one block in memory at a time.
    sizes
        Samples per block (all equal except perhaps the last, like the shards of a render set).
    key
        Identifies the data in checkpoints (e.g. the render folder).

    :func:`fit` with ``blocks=ShardBlocks(...)`` gives the same batches, and so the same weights, as
    :func:`fit` on the concatenated arrays with ``shuffle_block`` equal to the block size.
    """

    def __init__(self, loaders: Sequence[Callable[[], tuple[np.ndarray, np.ndarray]]], sizes: Sequence[int],
                 key: str) -> None:
        if len(loaders) != len(sizes) or not loaders:
            raise LandmarkError(f"ShardBlocks needs one size per loader, > 0 blocks; got {len(loaders)} and {len(sizes)}")
        if any(size != sizes[0] for size in sizes[:-1]):
            raise LandmarkError(f"ShardBlocks: every block but the last must have the same size; got {list(sizes)}")
        self.loaders, self.sizes, self.key = list(loaders), [int(s) for s in sizes], str(key)
        self.n = sum(self.sizes)
        self.batch_size = 1

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def batches(self, generator: torch.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        offsets = np.cumsum([0, *self.sizes])
        carry: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (global index, inputs, targets)
        have = 0
        for j, local in _block_order(self.sizes, generator):
            inputs, targets = _check_arrays(*self.loaders[j]())
            if len(inputs) != self.sizes[j]:
                raise LandmarkError(f"ShardBlocks: block {j} has {len(inputs)} samples, expected {self.sizes[j]}")
            pos = 0
            while pos < len(local):
                take = local[pos : pos + self.batch_size - have]
                carry.append((offsets[j] + take, inputs[take], targets[take]))
                have += len(take)
                pos += len(take)
                if have == self.batch_size:
                    yield self._emit(carry)
                    carry, have = [], 0
        if carry:
            yield self._emit(carry)

    @staticmethod
    def _emit(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        idx = np.concatenate([p[0] for p in parts])
        sort = np.argsort(idx, kind="stable")  # the in-memory path's sorted batch
        return np.concatenate([p[1] for p in parts])[sort], np.concatenate([p[2] for p in parts])[sort]


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


def _clip_scale(params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """The divisor that clips the global gradient norm to ``max_norm`` (``clip_grad_norm_``'s rule,
    ``max_norm / (norm + 1e-6)`` when below 1), for the fused SGD kernel's ``grad_scale``."""
    norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None], foreach=True)
    return torch.clamp((norm + 1e-6) / max_norm, min=1.0)


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
    blocks: ShardBlocks | None = None,
    shuffle_block: int | None = None,
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
        ``"auto"``, ``"cpu"``, ``"cuda"``...; the precision is ``schedule.precision`` (channels_last everywhere).
    stream, stream_task, stream_n
        Instead of arrays: an iterable of samples (see :class:`_StreamSource`), its task and the
        number of samples per epoch.
    blocks
        Instead of arrays: a :class:`ShardBlocks` source, read one block at a time.
    shuffle_block
        Shuffle in blocks of this many consecutive samples (arrays only; see :class:`ShardBlocks`).
        ``None``: one random permutation of all samples.
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
        "epochs_run": int, "resumed_from": int, "precision": "bf16" | "fp32", "device": str}``. The model ends on the CPU in eval mode.
    """
    if blocks is not None:
        blocks.batch_size = schedule.batch_size
        source: _ArraySource | _StreamSource | ShardBlocks = blocks
    elif stream is not None:
        if stream_task is None:
            raise LandmarkError("a stream needs stream_task ('hand' or 'body')")
        source = _StreamSource(stream, stream_task, schedule.batch_size, stream_n)
    else:
        if inputs is None or targets is None:
            raise LandmarkError("fit needs inputs and targets arrays, or a stream")
        source = _ArraySource(inputs, targets, schedule.batch_size, shuffle_block)
    dev = resolve_device(device)
    precision = effective_precision(schedule.precision, dev)
    bf16 = precision == "bf16"
    _keep_freed_memory()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    base = _bare(model)
    base.to(dev, memory_format=torch.channels_last)  # faster on both oneDNN (CPU) and cuDNN
    params = [p for p in base.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=schedule.lr, momentum=schedule.momentum, fused=True)
    history: dict[str, Any] = {"loss": [], "images_per_s": [], "lr": [], "seconds": 0.0, "resumed_from": 0,
                               "precision": precision, "device": dev.type}
    start_epoch, iteration = 0, 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    n_samples = len(source.inputs) if isinstance(source, _ArraySource) else source.n
    identity = {"schedule": asdict(schedule), "seed": int(seed), "samples": int(n_samples),
                "shuffle_block": source.sizes[0] if isinstance(source, (_ArraySource, ShardBlocks)) else None,
                "data": _fingerprint(source.targets) if isinstance(source, _ArraySource)
                else f"blocks:{source.key}" if isinstance(source, ShardBlocks) else f"stream:{stream_task}",
                "precision": precision}
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
    bar = progress_bar(total=total, initial=start_epoch * len(source), desc=desc, unit="it", leave=False,
                       progress=progress)
    try:
        for epoch in range(start_epoch, schedule.epochs):
            base.train()
            t0, seen, loss_sum = time.perf_counter(), 0, torch.zeros((), device=dev)
            batches = source.batches(generator)
            while True:
                with record_function("data"):  # labels for torch.profiler (benchmarks/bench_training.py)
                    item = next(batches, None)
                    if item is None:
                        break
                    xb, yb = item
                    x, y = _to_batch(xb, dev, True), _to_batch(yb, dev, False)
                lr = schedule.lr_at(epoch, iteration)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with record_function("forward"), torch.autocast(dev.type, torch.bfloat16, enabled=bf16):
                    pred = net(x)
                    loss = l2_loss(pred, y)  # fp32
                with record_function("backward"):
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                with record_function("clip"):
                    if schedule.clip_grad_norm > 0:
                        optimizer.grad_scale = _clip_scale(params, schedule.clip_grad_norm)
                with record_function("optimizer"):
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
    model: torch.nn.Module, inputs: np.ndarray, *, batch_size: int = 256, device: str | torch.device = "auto",
    precision: str = "auto",
) -> np.ndarray:
    """Network outputs ``(N, m)`` float32 for ``inputs`` ``(N, C, H, W)`` (eval mode: no dropout).

    ``precision``: as the training run's (``cfg.precision``; :func:`effective_precision`).
    """
    if inputs.ndim == 3:
        inputs = inputs[:, None]
    dev = resolve_device(device)
    bf16 = effective_precision(precision, dev) == "bf16"
    base = _bare(model).to(dev, memory_format=torch.channels_last).eval()
    out = []
    for start in range(0, len(inputs), batch_size):
        x = _to_batch(inputs[start : start + batch_size], dev, True)
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=bf16):
            out.append(base(x).float().cpu())
    base.to("cpu", memory_format=torch.contiguous_format)
    return torch.cat(out).numpy() if out else np.zeros((0, getattr(base, "n_outputs", 0)), np.float32)


# --------------------------------------------------------------------------------------------------
# binary-mask wrappers (the paper's CNN(syn), CNN(real), CNN(ft))
# --------------------------------------------------------------------------------------------------
#: The one table of seed salts: every seeded stream of every training run, by name. A run's seed is
#: ``cfg.seed * 1000 + salt (+ fold)`` (:func:`_model_seed`). ``init`` seeds the weights of a fresh network
#: (``torch.manual_seed`` before building it), ``fit`` seeds dropout and shuffling (:func:`fit`). Names
#: ending in ``/fold`` add the fold index. The values of the 2D methods are those every earlier result was
#: made with; the depth CNN had its own copy of this table that reused 31, 32 and 40, 41 of the learning
#: curve's fold streams: it now has its own range.
SEED_SALTS: dict[str, int] = {
    "cnn_syn/init": 1, "cnn_syn/fit": 2,
    "cnn_real/init/fold": 10, "cnn_real/fit/fold": 11,
    "cnn_ft/init/fold": 20, "cnn_ft/fit/fold": 21,
    "depth_syn/init": 50, "depth_syn/fit": 51,
    "depth/init/fold": 60, "depth/fit/fold": 70,
    "detector_ft/fit": 80, "detector_depth/init": 81, "detector_depth/fit": 82,
}


def _model_seed(cfg: Mapping[str, Any], stream: str, fold: int = 0) -> int:
    """Seed of the named ``stream`` of :data:`SEED_SALTS` under ``cfg.seed`` (plus ``fold`` for fold streams).

    ``seed * 1e6 + salt * 1e3 + fold``: streams never meet for fewer than 1,000 folds (with the former
    ``seed * 1e3 + salt + fold``, CNN(real)'s fold seeds 10-29 under leave-one-out reached CNN(ft)'s 20-41).
    """
    if stream not in SEED_SALTS:
        raise LandmarkError(f"unknown seed stream {stream!r}; add it to training.SEED_SALTS")
    if fold and not stream.endswith("/fold"):
        raise LandmarkError(f"seed stream {stream!r} takes no fold")
    if not 0 <= int(fold) < 1_000:
        raise LandmarkError(f"fold {fold} out of range for seed stream {stream!r} (0..999)")
    return int(cfg.seed) * 1_000_000 + SEED_SALTS[stream] * 1_000 + int(fold)


def _to_px(unit: np.ndarray, task: str) -> np.ndarray:
    return from_unit(unit.reshape(len(unit), -1, 2), patch_size(task))


def predict_set(
    model: LandmarkCNN, data: LandmarkSet, *, device: str | torch.device = "auto", precision: str = "auto"
) -> np.ndarray:
    """``(N, k, 2)`` landmark estimates in patch pixels for the masks of ``data``."""
    return _to_px(predict(model, set_inputs(data), device=device, precision=precision), data.task)
