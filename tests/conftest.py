"""Shared fixtures. Tests mirror the package: ``tests/<subpackage>/test_<module>.py``, and
``tests/test_<module>.py`` for the top-level modules.

Toy data (never results): :func:`toy_landmark_set` (blob masks with landmarks on them, any task),
:func:`toy_hands` (a palm and five fingers with the landmarks at the fingertips, so that nearest
neighbours and forests have something to learn); as fixtures ``toy_set`` and ``hands``, and
``quick_cfg`` for a quick-profile :class:`~landmarklib.profiles.Config` rooted in a temporary folder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from landmarklib.data import LandmarkSet
from landmarklib.geometry import PATCH_SIZE, patch_size
from landmarklib.landmarks import landmark_names
from landmarklib.profiles import Config, resolve


@pytest.fixture(autouse=True)
def _isolated_renders(tmp_path, monkeypatch):
    """Unit tests never touch the checkout's renders/ folder (the user-level default root points
    into the test's temporary folder; library code takes its root from the Config it is given)."""
    monkeypatch.setenv("LANDMARKLIB_RENDERS", str(tmp_path / "renders"))
    yield


def toy_landmark_set(task: str, n: int, seed: int = 0) -> LandmarkSet:
    """``n`` blob-shaped masks with landmarks scattered on them (ids ``s00``, ``s01``, ...)."""
    rng = np.random.default_rng(seed)
    pw, ph = PATCH_SIZE[task]
    k = len(landmark_names(task))
    yy, xx = np.mgrid[0:ph, 0:pw] + 0.5
    masks, marks = [], []
    for _ in range(n):
        cx, cy = pw / 2 + rng.normal(0, 2), ph / 2 + rng.normal(0, 2)
        rx, ry = pw * rng.uniform(0.25, 0.4), ph * rng.uniform(0.3, 0.42)
        masks.append(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1)
        angle = rng.uniform(0, 2 * np.pi, k)
        marks.append(np.stack([cx + 0.8 * rx * np.cos(angle), cy + 0.8 * ry * np.sin(angle)], -1))
    return LandmarkSet(task=task, masks=np.array(masks), landmarks=np.array(marks),
                       ids=[f"s{i:02d}" for i in range(n)], mm_per_px=np.full((n, 2), 0.5))


def toy_hands(n: int, seed: int, *, spread: float = 0.3, prefix: str = "s") -> LandmarkSet:
    """Palm disc + five capsule fingers at random angles; landmarks at the fingertips (patch px)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:96, 0:96] + 0.5
    masks, tips = np.zeros((n, 96, 96), bool), np.zeros((n, 5, 2), np.float32)
    angles, lengths = np.deg2rad([-60, -20, 0, 20, 40]), np.array([22, 32, 36, 33, 26])
    for i in range(n):
        centre = np.array([48.0, 66.0]) + rng.normal(0, 2, 2)
        mask = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 < 16**2
        for f in range(5):
            base = centre + 12 * np.array([np.sin(angles[f]), -np.cos(angles[f])])
            a = angles[f] + rng.normal(0, spread)
            d = lengths[f] * (1 + rng.normal(0, 0.1)) * np.array([np.sin(a), -np.cos(a)])
            t = np.clip(((xx - base[0]) * d[0] + (yy - base[1]) * d[1]) / (d @ d), 0, 1)
            mask |= (xx - base[0] - t * d[0]) ** 2 + (yy - base[1] - t * d[1]) ** 2 < 4**2
            tips[i, f] = base + d
        masks[i] = mask
    return LandmarkSet("hand", masks, tips, [f"{prefix}{i:03d}" for i in range(n)])


@pytest.fixture
def toy_set() -> Callable[..., LandmarkSet]:
    """The factory :func:`toy_landmark_set` (``toy_set("body", 6, seed=1)``)."""
    return toy_landmark_set


@pytest.fixture
def hands() -> Callable[..., LandmarkSet]:
    """The factory :func:`toy_hands` (``hands(12, seed=0)``)."""
    return toy_hands


@pytest.fixture
def quick_cfg(tmp_path) -> Callable[..., Config]:
    """``quick_cfg(**overrides)``: the quick profile on the CPU, rooted in ``tmp_path / "renders"``."""

    def make(**overrides: Any) -> Config:
        return resolve("quick", {"renders_dir": str(tmp_path / "renders"), "device": "cpu", **overrides})

    return make


def rectangles(task: str, n: int, seed: int = 0):
    """Random filled rectangles; landmarks = 4 corners, centre (and edge midpoints for the body)."""
    rng = np.random.default_rng(seed)
    pw, ph = patch_size(task)
    masks = np.zeros((n, ph, pw), bool)
    lms = []
    for i in range(n):
        x0, y0 = rng.integers(2, pw // 3), rng.integers(2, ph // 3)
        x1, y1 = rng.integers(2 * pw // 3, pw - 2), rng.integers(2 * ph // 3, ph - 2)
        masks[i, y0:y1, x0:x1] = True
        pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), ((x0 + x1) / 2, (y0 + y1) / 2)]
        if task == "body":
            pts += [((x0 + x1) / 2, y0), (x1, (y0 + y1) / 2), ((x0 + x1) / 2, y1), (x0, (y0 + y1) / 2)]
        lms.append(pts)
    return LandmarkSet(task, masks, np.array(lms, np.float32), [f"s{i:02d}" for i in range(n)],
                       mm_per_px=np.ones((n, 2)))


def reencode(vol, affine, flips=(), perm=(0, 1, 2)):
    """The same image stored differently: flipped and permuted array axes with the matching affine."""
    out, aff = vol, affine.copy()
    for ax in flips:
        n = out.shape[ax]
        out = np.flip(out, axis=ax)
        flip = np.eye(4)
        flip[ax, ax], flip[ax, 3] = -1, n - 1
        aff = aff @ flip
    out = np.transpose(out, perm)
    return np.ascontiguousarray(out), aff @ np.eye(4)[list(perm) + [3]].T
