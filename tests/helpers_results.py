"""Synthetic prediction tables and landmark sets for the results tests (never results themselves)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import toy_landmark_set  # noqa: F401  (defined once, in conftest; also the fixture toy_set)

from landmarklib.data import LandmarkSet
from landmarklib.evaluation.results import METHODS, predictions_frame


def toy_predictions(
    truth: LandmarkSet, scale: dict[str, float], *, seed: int = 0, jitter: float = 0.3,
    methods: tuple[str, ...] = METHODS,
) -> pd.DataFrame:
    """Estimates at distance ``scale[method] * (1 + jitter * N(0, 1))`` px from the truth, random direction.

    Every method gets the same per-scan direction and jitter, so paired differences are driven by
    ``scale`` alone.
    """
    rng = np.random.default_rng(seed)
    n, k = truth.landmarks.shape[:2]
    angle = rng.uniform(0, 2 * np.pi, (n, k))
    size = np.clip(1 + jitter * rng.normal(size=(n, k)), 0.05, None)
    direction = np.stack([np.cos(angle), np.sin(angle)], -1)
    frames = []
    for method in methods:
        pred = truth.landmarks + (scale[method] * size)[..., None] * direction
        frames.append(predictions_frame(task=truth.task, method=method, fold=0, subjects=truth.ids,
                                        pred_px=pred, true_px=truth.landmarks, mm_per_px=truth.mm_per_px))
    return pd.concat(frames, ignore_index=True)


#: A ranking shaped like the paper's hand panel: CNN(ft) best, NN(syn) worst.
PAPER_LIKE = {"NN(syn)": 15.0, "NN(real)": 9.0, "RF": 11.0, "CNN(syn)": 11.0, "CNN(real)": 7.0, "CNN(ft)": 5.0}
