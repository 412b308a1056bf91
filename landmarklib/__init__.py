"""landmarklib: anatomical landmark detection driven by synthetic data (Riegler et al., ICCV-W 2015).

The package reads like the paper's pipeline; each subpackage is one role:

* :mod:`~landmarklib.synth`        the anny body model, the batched rasterizer and render store, Blender reference
* :mod:`~landmarklib.scans`        NIfTI/landmark I/O, simulated MR/CT cohorts, binarization to patches
* :mod:`~landmarklib.models`       the Table 1 CNN, binary nearest neighbours, the 2D regression forest
* :mod:`~landmarklib.engine`       fit/predict with checkpoints, folds, cross-validation with target transforms
* :mod:`~landmarklib.experiments`  one thin module per chapter (baselines, pretraining, fine-tuning, depth)
* :mod:`~landmarklib.evaluation`   the prediction table, metrics, claims table, report helpers
* :mod:`~landmarklib.viz`          every figure and the interactive overlay viewer

Shared, top-level: :mod:`~landmarklib.profiles` (the scale profiles), :mod:`~landmarklib.notebook`
(papermill glue), :mod:`~landmarklib.data` (:class:`LandmarkSet`), :mod:`~landmarklib.geometry`,
:mod:`~landmarklib.landmarks`, :mod:`~landmarklib.paths`, :mod:`~landmarklib.provenance`.

Subpackages and the public names below are imported on first use, so ``import landmarklib`` stays
cheap (no torch) for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import LandmarkError
from .notebook import Config, configure
from .profiles import PROFILES, resolve

__version__ = "0.1.0"

_SUBPACKAGES = ("synth", "scans", "models", "engine", "experiments", "evaluation", "viz",
                "data", "geometry", "landmarks", "paper", "paths", "profiles", "provenance", "notebook",
                "detection")
#: public name -> the module that defines it (imported on first access)
_LAZY = {
    "LandmarkSet": "data",
    "LandmarkCNN": "models",
    "Schedule": "engine",
    "fit": "engine",
    "predict": "engine",
    "cross_validate_arrays": "engine",
    "ensure_folds": "engine",
    "load_cohort": "scans",
    "load_renders": "synth",
    "detect": "detection",
}

__all__ = ["LandmarkError", "Config", "configure", "PROFILES", "resolve", "__version__", *_SUBPACKAGES, *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'landmarklib' has no attribute {name!r}")
