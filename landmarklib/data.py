"""The common domain of the paper: a stack of binary patches with their landmarks.

Synthetic renders and binarized scans both become a :class:`LandmarkSet`; the CNNs and the baselines
take nothing else. Shapes use ``N`` samples, ``k`` landmarks and the task's patch ``(p_h, p_w)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LandmarkError
from .geometry import patch_size, to_unit
from .landmarks import landmark_names, parse_task
from .provenance import save_npz

__all__ = ["LandmarkSet"]


@dataclass
class LandmarkSet:
    """Binary patches of one task with ground-truth landmarks.

    Attributes
    ----------
    task
        ``"hand"`` or ``"body"``.
    masks
        ``(N, p_h, p_w)`` bool silhouettes.
    landmarks
        ``(N, k, 2)`` float32 landmark positions ``(x, y)`` in patch pixels (see
        :mod:`landmarklib.geometry` for the pixel convention).
    ids
        ``(N,)`` str, a subject or render id per sample.
    depth
        Optional ``(N, p_h, p_w)`` float32 depth map (distance from the viewer along the depth axis;
        voxels for scans, model units for renders), ``NaN`` on the background.
    landmark_depth
        Optional ``(N, k)`` float32 depth of each landmark, same unit as ``depth``.
    mm_per_px
        Optional ``(N, 2)`` float32 millimetres per patch pixel along ``x`` and ``y`` (scans only).
    meta
        Free-form provenance (profile, seed, source folder, ...).
    """

    task: str
    masks: np.ndarray
    landmarks: np.ndarray
    ids: np.ndarray
    depth: np.ndarray | None = None
    landmark_depth: np.ndarray | None = None
    mm_per_px: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_task(self.task)
        self.masks = np.asarray(self.masks, dtype=bool)
        self.landmarks = np.asarray(self.landmarks, dtype=np.float32)
        self.ids = np.asarray(self.ids).astype(str)
        n = len(self.masks)
        pw, ph = patch_size(self.task)
        k = len(landmark_names(self.task))
        if self.masks.shape[1:] != (ph, pw):
            raise LandmarkError(f"{self.task} masks must be (N, {ph}, {pw}), got {self.masks.shape}")
        if self.landmarks.shape != (n, k, 2):
            raise LandmarkError(f"{self.task} landmarks must be ({n}, {k}, 2), got {self.landmarks.shape}")
        if self.ids.shape != (n,):
            raise LandmarkError(f"ids must be ({n},), got {self.ids.shape}")
        for name, shape in (("depth", (n, ph, pw)), ("landmark_depth", (n, k)), ("mm_per_px", (n, 2))):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float32)
                if value.shape != shape:
                    raise LandmarkError(f"{name} must be {shape}, got {value.shape}")
                setattr(self, name, value)

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def patch_size(self) -> tuple[int, int]:
        """``(p_w, p_h)``."""
        return patch_size(self.task)

    @property
    def landmark_names(self) -> tuple[str, ...]:
        return landmark_names(self.task)

    def unit_landmarks(self) -> np.ndarray:
        """``(N, k, 2)`` landmarks in ``[-1, 1]`` (eq. 1)."""
        return to_unit(self.landmarks, self.patch_size).astype(np.float32)

    def subset(self, index: np.ndarray | list[int] | slice) -> LandmarkSet:
        """The samples at ``index`` (integer indices, a boolean mask or a slice)."""

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return LandmarkSet(
            task=self.task, masks=self.masks[index], landmarks=self.landmarks[index], ids=self.ids[index],
            depth=take(self.depth), landmark_depth=take(self.landmark_depth), mm_per_px=take(self.mm_per_px),
            meta=dict(self.meta),
        )

    def select_ids(self, ids: list[str] | np.ndarray) -> LandmarkSet:
        """The samples whose id is in ``ids``, in this set's order."""
        return self.subset(np.isin(self.ids, np.asarray(ids).astype(str)))

    def save(self, path: str | os.PathLike) -> Path:
        """Write to a compressed ``.npz`` atomically (masks bit-packed)."""
        arrays: dict[str, Any] = {
            "task": np.array(self.task), "masks_packed": np.packbits(self.masks, axis=-1),
            "mask_width": np.array(self.masks.shape[-1]), "landmarks": self.landmarks, "ids": self.ids,
        }
        for name in ("depth", "landmark_depth", "mm_per_px"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        import json

        arrays["meta"] = np.array(json.dumps(self.meta, default=str))
        return save_npz(path, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> LandmarkSet:
        """Read a file written by :meth:`save`."""
        import json

        path = Path(path)
        if not path.is_file():
            raise LandmarkError(f"{path}: no such landmark set; run the stage that makes it first")
        with np.load(path, allow_pickle=False) as z:
            width = int(z["mask_width"])
            masks = np.unpackbits(z["masks_packed"], axis=-1, count=width).astype(bool)
            opt = {name: z[name] for name in ("depth", "landmark_depth", "mm_per_px") if name in z}
            return cls(
                task=str(z["task"]), masks=masks, landmarks=z["landmarks"], ids=z["ids"],
                meta=json.loads(str(z["meta"])), **opt,
            )
