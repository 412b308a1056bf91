"""Chapter 4: CNN(syn), the Table 1 network pretrained on synthetic renders (Sec. 2.2, 3).

:func:`synthetic_data` picks the profile's pretraining data (stored renders or the on-the-fly stream),
:func:`pretrain` trains with the paper's pretraining schedule (resumable checkpoint), and
:func:`load_pretrained` returns the profile's CNN(syn), training it first if needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

import torch

from ..data import LandmarkSet
from ..engine.training import (
    _load_checkpoint,
    _model_seed,
    checkpoint_path,
    fit,
    pretrain_schedule,
    set_inputs,
    set_targets,
)
from ..errors import LandmarkError
from ..models.cnn import LandmarkCNN
from ..profiles import base_profile

__all__ = ["pretrain", "synthetic_data", "load_pretrained"]


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
        ``renders/models/<profile>/<task>/<name>.pt`` (the profile's own folder also for a run on another
        realism level: pretraining never sees the scans).
    """
    torch.manual_seed(_model_seed(cfg, "cnn_syn/init"))
    model = LandmarkCNN(task)
    ckpt = checkpoint_path(name, task=task, profile=base_profile(cfg.profile), renders_dir=cfg.renders_dir)
    if data is not None:
        history = fit(model, set_inputs(data), set_targets(data), pretrain_schedule(cfg), seed=_model_seed(cfg, "cnn_syn/fit"),
                      checkpoint=ckpt, device=cfg.device, compile=compile,
                      desc=f"pretrain {task}", progress=progress)
    else:
        history = fit(model, None, None, pretrain_schedule(cfg), seed=_model_seed(cfg, "cnn_syn/fit"), checkpoint=ckpt,
                      device=cfg.device, stream=stream, stream_task=task, stream_n=stream_n,
                      compile=compile, desc=f"pretrain {task} (stream)", progress=progress)
    return model, history


def synthetic_data(task: str, cfg: Mapping[str, Any]) -> tuple[LandmarkSet | None, Iterable[Any] | None, int]:
    """The pretraining data the profile asks for: ``(renders, None, n)`` or ``(None, stream, n)``.

    ``cfg.pretrain_source`` is ``"stored"`` (``rendering.load_renders``, cached under
    ``renders/synthetic/``) or ``"stream"`` (``rendering.SyntheticStream``, made on the fly);
    ``n = cfg.<task>_pretrain_images``.
    """
    from ..synth import rendering  # the renders stage; imported here so the CNN works without it

    n = int(cfg[f"{task}_pretrain_images"])
    source = cfg.pretrain_source
    if source == "stream":
        return None, rendering.SyntheticStream(task, seed=int(cfg.seed), n=n), n
    if source != "stored":
        raise LandmarkError(f"pretrain_source={source!r}; use 'stored' or 'stream'")
    data = rendering.load_renders(task, cfg, n=n, with_depth=False)  # the binary CNN reads masks only
    return (data if len(data) == n else data.subset(slice(0, n))), None, n


def load_pretrained(task: str, cfg: Mapping[str, Any], *, progress: bool | None = None) -> tuple[LandmarkCNN, dict[str, Any]]:
    """CNN(syn) of ``task``: the finished checkpoint if there is one, else pretrain it now."""
    ckpt = checkpoint_path("cnn_syn", task=task, profile=base_profile(cfg.profile), renders_dir=cfg.renders_dir)
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
