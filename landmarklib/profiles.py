"""Named scale profiles: the one table of every size, count and schedule in the study.

A notebook's ``parameters`` cell takes ``profile`` plus optional overrides of any key below; the
values flow from here into the library calls (see :func:`landmarklib.notebook.configure`).

* ``quick``: seconds to minutes on 2 CPU cores. CI, nbval and a reader who opens a notebook use it.
* ``cpu``: the published results: the whole book within two hours on 2 CPU cores, install included
  (the paper's fine-tuning schedule; far fewer pretraining renders; see ``python -m landmarklib plan``).
* ``paper``: the paper's own numbers (Riegler et al. 2015, Sec. 2.2 and 3) where the paper gives them, meant
  for a GPU. The paper gives the render counts, epochs, schedule, mini-batch, cohort sizes and k = 3
  (listed with their sources in ``landmarklib.evaluation.report.PAPER_PARAMETERS``); every other value
  of that row (voxel sizes, forest sizes, thresholds, depth renders, clipping, ...) is our choice.

Constants of the method that no profile changes (patch sizes, landmark names) live in
:mod:`landmarklib.geometry` and :mod:`landmarklib.landmarks`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from .errors import LandmarkError

__all__ = ["Config", "base_profile", "PRECISIONS", "PROFILES", "EXTRA_PARAMETERS", "DEFAULT_PROFILE", "get_profile", "resolve", "parameter_names"]

DEFAULT_PROFILE = "quick"

#: Values of the ``precision`` parameter (see :func:`landmarklib.engine.training.effective_precision`).
PRECISIONS = ("auto", "fp32", "bf16")

# The paper's training schedule (Sec. 3), shared by all profiles unless a profile overrides it.
_SCHEDULE = {
    "batch_size": 100,  # mini-batch of 100 (Sec. 2.2)
    "lr": 0.01,
    "momentum": 0.9,
    "lr_decay": 0.7943,  # pretraining: lr *= 0.7943 after every epoch
    "finetune_lr_drop_after": 500,  # fine-tuning: lr *= 0.1 once, after 500 iterations
    "finetune_lr_drop": 0.1,
    "clip_grad_norm": 1.0,  # not in the paper: without it the paper's lr collapses the net (training docstring)
    "pretrain_source": "stored",  # CNN pretraining data: "stored" renders or "stream" (on-the-fly generator)
    # CNN arithmetic: "auto" = bf16 autocast on CUDA and on CPUs with native bf16 (AMX-BF16 or AVX512-BF16),
    # fp32 elsewhere; "fp32" or "bf16" force one (landmarklib.engine.training.effective_precision)
    "precision": "auto",
    # processes that train the folds of a cross-validation at once on a CPU (landmarklib.engine.crossval.
    # fold_workers; only for at least 2 x workers folds): 1 = one process of all cores; 2 on 2 cores trains
    # the body's 20 leave-one-out folds ~1.4x faster
    "fold_workers": 1,
    "nn_k": 3,  # NN baselines: mean annotation of the 3 nearest patches
    # Regression forest after Criminisi et al. 2011 ([3]), adapted to 2D (landmarklib.experiments.baselines)
    "rf_max_offset": 0.5,  # box displacements up to this fraction of the patch's longer side
    "rf_max_box": 0.25,  # box sides up to this fraction of the patch's longer side
    "rf_min_leaf": 5,  # training pixels per leaf at least
    "rf_vote_fraction": 0.25,  # fraction of a scan's votes kept per landmark: the most confident leaves
    "bootstrap": 1000,  # resamples for the 95% confidence intervals
    # Scans (simulated voxel sizes are (x = left-right, depth = antero-posterior, z = head-feet) in mm):
    "table_min_mm": 15.0,  # CT table removal: drop pixels with < 15 mm above air along depth (Sec. 2.1)
}

_PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        **_SCHEDULE,
        "seed": 0,
        "device": "auto",
        "depth_renders": 100,  # depth CNN pretraining renders (issue 7), tiny for CI
        "hand_renders": 2_000,
        "body_renders": 1_000,
        "shard_size": 1_000,
        "bpy_meshes": 3,  # meshes rendered with Blender for the reference comparison (01_rendering)
        "mr_subjects": 12,
        "ct_subjects": 6,
        # CNN (issue 5): tiny, for CI; the drop keeps the paper's 500/700 position.
        "hand_pretrain_images": 300,
        "body_pretrain_images": 200,
        "pretrain_epochs": 2,
        "finetune_epochs": 3,
        "finetune_lr_drop_after": 2,
        "batch_size": 50,
        # learning curve (issue 8): real training subjects and pretraining renders (None = all)
        "curve_subjects": (3, None),
        "curve_renders": (100, None),
        "curve_tasks": ("hand",),  # the body's 6 leave-one-out folds would add ~1 min
        "rf_trees": 10,
        "rf_depth": 10,  # maximum tree depth
        "rf_features": 100,  # random box-difference features drawn once per forest
        "rf_features_per_node": 20,  # of those, tried at each split (sklearn max_features)
        "rf_pixels": 200,  # silhouette pixels sampled per training image
        "mr_voxel_mm": (1.5, 1.0, 1.5),  # ours, coarse: a cohort in ~1 minute (the paper gives no voxel size)
        "ct_voxel_mm": (5.0, 5.0, 10.0),
        # realism of the simulated cohorts (issue 16, landmarklib.scans.simulate.REALISM) and the
        # sensitivity chapter's ladder: all levels, hands only, on the tiny cohorts (a few minutes)
        "realism": "clean",
        "sensitivity_levels": ("clean", "paper", "hard"),
        "sensitivity_tasks": ("hand",),
        "sensitivity_mr_subjects": 12,  # MR hands per level (the first n of each level's cohort)
    },
    "cpu": {
        **_SCHEDULE,
        "seed": 0,
        "device": "auto",
        "depth_renders": 20_000,  # depth CNN pretraining renders (a second pretraining; kept small on CPU)
        "hand_renders": 100_000,
        "body_renders": 40_000,
        "shard_size": 10_000,
        "bpy_meshes": 10,
        "mr_subjects": 132,
        "ct_subjects": 20,
        # CNN: the paper's fine-tuning schedule exactly (700 epochs = 700 steps here, lr x0.1 once after
        # 500), for CNN(real), CNN(ft) and the depth CNN. Measured in the fresh-clone cpu book of
        # 2026-12-02 (commit b823696, 2 idle cores, bf16): the hands' two cross-validations 14.5 min, the
        # bodies' leave-one-out (2 methods x 20 folds x 700 steps, fold_workers 2) 37 min; the whole book
        # 2 h 08 min, install included, and 1 h 58 min after commit e317c61 (the detector's 700
        # iterations, fewer fold checkpoints, the ladder's two levels). After commit ed55ff5 (the RF on 2
        # threads: chapter 03 5.3 -> 3.4 min) it took 2 h 04 min on 2026-12-03, on a day when this VM ran the
        # same training 6-20 % slower (05 58 min, the leave-one-out ~41 min). Pretraining stays at 40k hands /
        # 20k bodies x 5 epochs (the floor of 200k samples); `python -m landmarklib plan --profile
        # cpu` prints the whole budget.
        "hand_pretrain_images": 40_000,
        "body_pretrain_images": 20_000,
        "pretrain_epochs": 5,
        "finetune_epochs": 700,
        "finetune_lr_drop_after": 500,
        "fold_workers": 2,  # two 1-thread processes (engine.crossval._run_parallel)
        # learning curve: every point is 3 folds x 700-step fine-tunings; hands only. The 5-subject point
        # cost 3.5 min in that run; a render-count point (an extra pretraining + a CNN(ft) cross-validation, ~8 min)
        # does not fit the 2-hour budget: run it with `-p curve_renders "[5000, null]"`.
        "curve_subjects": (5, None),
        "curve_renders": (None,),
        "curve_tasks": ("hand",),
        "rf_trees": 50,
        "rf_depth": 14,
        "rf_features": 300,
        "rf_features_per_node": 40,
        "rf_pixels": 400,
        "mr_voxel_mm": (0.8, 1.0, 0.8),  # ours: 132 hands + 20 bodies in 4 min on 2 processes (the paper gives no voxel size)
        "ct_voxel_mm": (1.5, 1.5, 5.0),
        # realism (issue 16): every level needs its own cohort and a cross-validation of NN/RF and of
        # CNN(real)/CNN(ft) at 700 steps per fold; at 132 hands that is ~25 min per level on 2 cores, so
        # the ladder runs on the first 36 hands of each level's cohort, hands only. Chapter 08 took 21 min
        # for 3 levels in that run, 7 min per level; with all three the book ran 8 min over its 2 hours, so
        # the cpu ladder is `clean` (the main chapters' cohort at the ladder's size) against `paper` (the
        # level calibrated on the paper's numbers). `hard` costs 7 more minutes:
        # `-p sensitivity_levels '["clean", "paper", "hard"]'`.
        "realism": "clean",
        "sensitivity_levels": ("clean", "paper"),
        "sensitivity_tasks": ("hand",),
        "sensitivity_mr_subjects": 36,
    },
    "paper": {
        **_SCHEDULE,
        "seed": 0,
        "device": "auto",
        # ours: the paper pretrains the depth CNN on synthetic data but gives no count. Its renders are
        # loaded with float32 depth maps (37 kB each): 500k take 18 GiB (x2 while concatenated), which the
        # GPU machine's 128 GiB RAM holds; 2.2M (81 GiB) would not (`python -m landmarklib plan`).
        "depth_renders": 500_000,
        "hand_renders": 2_200_000,  # "around 2.2M synthetic images" (Sec. 3)
        "body_renders": 600_000,  # "600,000 synthetic images" (Sec. 3)
        "shard_size": 50_000,
        "bpy_meshes": 20,
        "mr_subjects": 132,  # N = 132 MR hands
        "ct_subjects": 20,  # N = 20 CT bodies
        "hand_pretrain_images": 2_200_000,  # all renders in each epoch (our reading of Sec. 3)
        "body_pretrain_images": 600_000,
        "pretrain_epochs": 30,
        "finetune_epochs": 700,
        "curve_subjects": (5, 10, 20, 40, None),
        "curve_renders": (10_000, 100_000, 1_000_000, None),
        "curve_tasks": ("hand", "body"),
        "rf_trees": 100,
        "rf_depth": 16,
        "rf_features": 500,
        "rf_features_per_node": 50,
        "rf_pixels": 1000,
        # ours, not the paper's: it gives no voxel size for either cohort, and we found none published
        "mr_voxel_mm": (0.5, 1.0, 0.5),
        "ct_voxel_mm": (1.5, 1.5, 5.0),
        "realism": "clean",  # issue 16
        "sensitivity_levels": ("clean", "paper", "hard"),
        "sensitivity_tasks": ("hand", "body"),
        "sensitivity_mr_subjects": 132,
    },
}

#: Read-only view of the profile table.
PROFILES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {name: MappingProxyType(values) for name, values in _PROFILES.items()}
)

#: Parameters a notebook accepts that are not sizes of a profile, with their defaults.
EXTRA_PARAMETERS: Mapping[str, Any] = MappingProxyType(
    {
        "scan_dir": None,  # a folder of the user's own NIfTI scans + landmark files (None: simulated cohort)
        "renders_dir": None,  # root of generated data (None: ./renders or $LANDMARKLIB_RENDERS)
    }
)


@dataclass(frozen=True)
class Config(Mapping[str, Any]):
    """The resolved parameters of one run: read-only, typed, passed explicitly to every stage.

    Built by :func:`resolve` (or :func:`landmarklib.notebook.configure` in a notebook) from one row of
    :data:`PROFILES` plus overrides; library code reads attributes (``cfg.seed``). It is also a
    read-only mapping, so ``dict(cfg)`` serialises it into a result's provenance. Change a value with
    :meth:`replace`, which checks names and types like :func:`resolve`.
    """

    profile: str
    seed: int
    device: str
    # training schedule (the paper's Sec. 2.2 and 3 unless a profile scales it)
    batch_size: int
    lr: float
    momentum: float
    lr_decay: float
    finetune_lr_drop_after: int
    finetune_lr_drop: float
    clip_grad_norm: float
    precision: str
    fold_workers: int
    pretrain_source: str
    pretrain_epochs: int
    finetune_epochs: int
    hand_pretrain_images: int
    body_pretrain_images: int
    # synthetic renders
    depth_renders: int
    hand_renders: int
    body_renders: int
    shard_size: int
    bpy_meshes: int
    # simulated cohorts and binarization
    mr_subjects: int
    ct_subjects: int
    mr_voxel_mm: tuple[float, float, float]
    ct_voxel_mm: tuple[float, float, float]
    table_min_mm: float
    # realism of the simulated cohorts (issue 16) and the sensitivity chapter's ladder
    realism: str
    sensitivity_levels: tuple[str, ...]
    sensitivity_tasks: tuple[str, ...]
    sensitivity_mr_subjects: int
    # baselines
    nn_k: int
    rf_trees: int
    rf_depth: int
    rf_features: int
    rf_features_per_node: int
    rf_pixels: int
    rf_max_offset: float
    rf_max_box: float
    rf_min_leaf: int
    rf_vote_fraction: float
    # evaluation and learning curve
    bootstrap: int
    curve_subjects: tuple[int | None, ...]
    curve_renders: tuple[int | None, ...]
    curve_tasks: tuple[str, ...]
    # not sizes: where the data comes from and goes to
    scan_dir: str | None = None
    renders_dir: str | None = None

    def __getitem__(self, name: str) -> Any:
        if name not in _FIELD_NAMES:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELD_NAMES)

    def __len__(self) -> int:
        return len(_FIELD_NAMES)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (checked and typed like :func:`resolve`); a results key
        (``cpu/realism-hard-...``, :func:`base_profile`) is kept."""
        import dataclasses

        new = resolve(base_profile(self.profile), {**dict(self), **changes})
        return new if new.profile == self.profile else dataclasses.replace(new, profile=self.profile)

    def provenance(self, **extra: Any) -> dict[str, Any]:
        """This run's provenance record (:func:`landmarklib.provenance.provenance`)."""
        from .provenance import provenance

        return provenance(self, **extra)


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Config))


def parameter_names() -> list[str]:
    """Every name a notebook's parameters cell (or ``-p`` on the command line) may set."""
    keys = set(next(iter(_PROFILES.values())))
    return sorted({"profile", *keys, *EXTRA_PARAMETERS})


def base_profile(key: str) -> str:
    """The profile name of a results key: ``"cpu/realism-hard-ab12cd34"`` -> ``"cpu"`` (a name stays a name).

    Runs on a simulated cohort other than ``clean`` keep their results under such keys
    (:func:`landmarklib.experiments.sensitivity.level_config`).
    """
    return str(key).split("/realism-", 1)[0]


def get_profile(name: str) -> Mapping[str, Any]:
    """The table row of profile ``name``; a clear error lists the valid names."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        valid = ", ".join(PROFILES)
        raise LandmarkError(f"unknown profile {name!r}; choose one of: {valid}") from None


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Give ``value`` the type of the profile's ``default`` (papermill may pass strings)."""
    if value is None or default is None:
        return value
    kind = type(default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
                return value.lower() in {"true", "1", "yes"}
            raise ValueError
        if kind is int:
            as_float = float(value)
            if not as_float.is_integer():
                raise ValueError
            return int(as_float)
        return kind(value)
    except (TypeError, ValueError):
        raise LandmarkError(
            f"parameter {name}={value!r} should be of type {kind.__name__} (the profile's value is {default!r})"
        ) from None


def _check_realism(values: Mapping[str, Any]) -> None:
    """Refuse an unknown realism level (issue 16) with one clear error."""
    from .scans.simulate import LEVELS

    for level in (values["realism"], *values["sensitivity_levels"]):
        if level not in LEVELS:
            raise LandmarkError(f"unknown realism level {level!r}; choose one of: {', '.join(LEVELS)}")


def resolve(profile: str = DEFAULT_PROFILE, overrides: Mapping[str, Any] | None = None) -> Config:
    """Merge a profile with user overrides into one flat parameter dictionary.

    Parameters
    ----------
    profile
        Name of a row of :data:`PROFILES`.
    overrides
        ``{name: value}``; ``None`` values mean "keep the profile's value". Unknown names are refused
        with one :class:`LandmarkError` that lists the valid ones.

    Returns
    -------
    Config
        The profile's values, the extras' defaults, then the overrides.

    Examples
    --------
    >>> resolve("quick", {"seed": "3"}).seed
    3
    """
    values: dict[str, Any] = {"profile": profile, **get_profile(profile), **EXTRA_PARAMETERS}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise LandmarkError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"valid names are: {', '.join(parameter_names())}"
        )
    for name, value in overrides.items():
        if name == "profile" or value is None:
            continue
        values[name] = _coerce(name, value, values[name])
    for name in ("mr_voxel_mm", "ct_voxel_mm", "curve_subjects", "curve_renders", "curve_tasks",
                 "sensitivity_levels", "sensitivity_tasks"):
        values[name] = tuple(values[name])  # papermill and JSON give lists
    _check_realism(values)
    if values["precision"] not in PRECISIONS:
        raise LandmarkError(f"parameter precision={values['precision']!r}; choose one of: {', '.join(PRECISIONS)}")
    return Config(**values)
