"""Resource plan of a profile: disk, peak RAM and time per stage, here and on one GPU machine.

``python -m landmarklib plan --profile NAME`` prints it. Every figure says how it was obtained:

* **measured rate x count**: a rate measured on this machine kind (from the latest benchmark JSON under
  ``renders/results/benchmarks/`` when there is one, else the figure measured when this module was
  written, with its date and conditions) times the profile's count of images, steps or subjects;
* **FLOP-based projection**: 3 x forward FLOPs (:func:`landmarklib.models.cnn.forward_flops`) per
  training image over an assumed fraction of the GPU's bf16 peak, plus an assumed fixed cost per
  optimizer step (launches, the fused update of ~30M weights);
* **size arithmetic**: bytes per sample (:data:`landmarklib.geometry.PATCH_SIZE`, the shard format of
  :mod:`landmarklib.synth.rendering`) times the count; uncompressed, so an upper bound on disk;
* **assumption**: stated where nothing was measured (e.g. linear scaling of CPU-bound stages with cores).

The GPU machine is one H200 (139 GiB GPU memory), 16 cores, 128 GiB RAM, 64 GiB disk (:data:`GPU_MACHINE`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import LandmarkError
from .geometry import PATCH_SIZE
from .landmarks import landmark_names

__all__ = ["Machine", "HERE", "GPU_MACHINE", "StagePlan", "Rates", "rates", "plan", "problems", "format_plan", "main_plan"]

GiB = 2**30


@dataclass(frozen=True)
class Machine:
    """What a stage must fit into."""

    name: str
    cores: int
    ram_bytes: float
    disk_bytes: float
    gpu_bf16_flops: float = 0.0  # dense bf16 peak, FLOP/s (0: no GPU)


#: This machine kind (TOOLCHAIN.md: 2 cores, 24 GiB; disk: what the renders folder's file system offers).
HERE = Machine("here (2 cores)", 2, 24 * GiB, 64 * GiB)
#: One H200: dense bf16 tensor-core peak 989 TFLOP/s (same GH100 tensor cores as the H100 SXM datasheet).
GPU_MACHINE = Machine("1x H200, 16 cores", 16, 128 * GiB, 64 * GiB, gpu_bf16_flops=989e12)

#: Assumed fraction of the bf16 peak a Table 1 net reaches on the GPU (32-channel convolutions, fc GEMMs
#: of 100 rows): an assumption, not a measurement.
GPU_UTILISATION = 0.2
#: Assumed fixed cost of one optimizer step on the GPU, seconds.
GPU_STEP_OVERHEAD_S = 2e-3
#: Speed-up of a cross-validation's folds trained by two 1-thread processes over one 2-thread process on 2
#: cores (``fold_workers: 2``), measured 2026-12-02 on idle cores: body, 19 images per step, 105 -> 75 ms
#: per step. Not measured for hands (full batches, compute-bound convolutions): counted as 1 (no gain).
FOLD_WORKERS_SPEEDUP = {"body": 1.4, "hand": 1.0}
#: Fixed cost of one hand fine-tuning step here (the passes over the 28M weights: casts, clipping, the SGD
#: update), measured 2026-12-02 on 2 idle cores, bf16: steps of 16 / 24 / 88 images took 78 / 87 / 194 ms,
#: a line of 50 ms + 1.64 ms per image. A step of ``n`` hand images is counted as this plus ``n`` times
#: the per-image cost that makes a 100-image step match the batch-100 rate (the small folds of the
#: learning curve and of the realism ladder are dominated by it; the batch-100 rate alone undercounts
#: them by ~40%).
HAND_STEP_FIXED_S = 0.050

#: Seconds per unit of regression-forest growth on one core here, a unit being one tree x one feature tried
#: at a split x one training pixel x one tree level (levels: ``min(rf_depth, log2(pixels / rf_min_leaf))``).
#: Calibrated on the whole of chapter 03 in the fresh-clone cpu book of 2026-12-03 (NN(syn) over 100k / 40k
#: renders, the RF of 3 hand and 20 body folds on 2 threads, the figures): 204 s for 5.91e9 units, all
#: counted as forest growth. On random features (no structure: every branch grows to full depth) the
#: rate is 2.4x slower: a cpu hand fold (50 trees, 40 of 300 features, 35,200 pixels, depth 14) took
#: 148 s on 1 thread, 75 s on 2.
RF_S_PER_UNIT = 204 * 2 / 5.91e9

#: NN(syn)'s exact Hamming search when no ``bench_nn.json`` is found: its target of 2.2M renders x 132
#: queries in 10 s on 2 cores (benchmarks/bench_nn.py), per (render, query) pair.
NN_S_PER_PAIR = 10.0 / (2_200_000 * 132)

#: Assumed speed-up of the renderer on the GPU machine over 2 cores here (16 cores in worker processes;
#: the CUDA rasterizer was not measured): the 8x of linear scaling with cores.
RENDER_SPEEDUP_GPU_MACHINE = 8.0


@dataclass
class StagePlan:
    """One stage: figures in bytes and seconds (``None``: unknown) and how each was obtained."""

    stage: str
    disk_bytes: float
    ram_bytes: float
    seconds_here: float | None
    seconds_gpu: float | None
    how: dict[str, str] = field(default_factory=dict)


@dataclass
class Rates:
    """Rates on this machine kind (2 cores) and where each came from."""

    render_per_s: dict[str, float]
    train_per_s: dict[str, float]  # fit, batch 100, the profile's precision
    body_ft_step_s: float  # one fine-tuning step of 19 bodies
    source: dict[str, str]
    fold_speedup: dict[str, float] = field(default_factory=lambda: dict(FOLD_WORKERS_SPEEDUP))
    nn_s_per_pair: float = NN_S_PER_PAIR  # NN(syn)'s exact search, seconds per (render, query) pair


def _bench(renders_dir: str | os.PathLike | None, name: str) -> dict[str, Any] | None:
    from .paths import renders_root

    path = renders_root(renders_dir) / "results" / "benchmarks" / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def rates(cfg: Mapping[str, Any]) -> Rates:
    """Measured rates: the latest benchmark JSONs when present, else the recorded measurements below."""
    src = {
        "render": "bench_rendering target rates (2,000 hand / 300 body img/s on 2 cores); no rendering.json found",
        "train": "fit, bf16, channels_last, batch 100, 2 idle cores, measured 2026-12-02 (TOOLCHAIN.md): "
                 "458 hand / 330 body img/s",
        "ft": "body fine-tuning step (19 images, bf16, fused SGD, 2 threads) measured 2026-12-02 on 2 idle "
              "cores: 0.105 s",
    }
    render = {"hand": 2000.0, "body": 300.0}
    train = {"hand": 458.0, "body": 330.0}
    ft_step = 0.105
    nn_pair = NN_S_PER_PAIR
    src["nn"] = "bench_nn's target, 2.2M renders x 132 queries in 10 s; no bench_nn.json found"
    nn = _bench(cfg.get("renders_dir"), "bench_nn.json")
    if nn and nn.get("search_best_s") and nn.get("n_indexed") and nn.get("n_queries"):
        nn_pair = float(nn["search_best_s"]) / (float(nn["n_indexed"]) * float(nn["n_queries"]))
        src["nn"] = (f"bench_nn, {nn['n_indexed']:,} random codes x {nn['n_queries']} queries in "
                     f"{float(nn['search_best_s']):.1f} s, {nn.get('created')} (bench_nn.json)")
    rendering = _bench(cfg.get("renders_dir"), "rendering.json")
    if rendering:
        rows = {r["task"]: r["images_per_s"] for r in rendering.get("rows", []) if "images_per_s" in r}
        if rows:
            render.update(rows)
            src["render"] = f"bench_rendering, {rendering.get('created')} (rendering.json)"
    training = _bench(cfg.get("renders_dir"), "training.json")
    if training and not training.get("quick"):
        rows = training.get("rows", [])
        got = {r["task"]: r["images_per_s"] for r in rows if r["batch"] == 100 and r["variant"] == "bf16"}
        ft = [r["ms_per_step"] for r in rows if r["task"] == "body" and r["batch"] == 19 and r["variant"] == "bf16"]
        if got and ft:
            train.update(got)
            ft_step = ft[0] / 1e3
            when = training.get("created")
            src["train"] = f"bench_training, fit bf16 batch 100, {when} (training.json; shared cores)"
            src["ft"] = f"bench_training, body batch 19 bf16, {when} (training.json; shared cores)"
        parallel = training.get("parallel_folds") or {}
        speedup = {t: parallel[k]["speedup"] for t, k in (("body", "body_b19"), ("hand", "hand_b88")) if k in parallel}
        if speedup:
            src["fold_speedup"] = f"bench_training, two 1-thread processes, {training.get('created')}: {speedup}"
            return Rates(render, train, ft_step, src, {**FOLD_WORKERS_SPEEDUP, **speedup}, nn_pair)
    return Rates(render, train, ft_step, src, nn_s_per_pair=nn_pair)


def _render_bytes(task: str, *, depth_dtype_bytes: int, packed: bool) -> float:
    """Bytes of one render: mask (bits or bools), depth map, landmarks, landmark depth, ~64 parameters."""
    w, h = PATCH_SIZE[task]
    k = len(landmark_names(task))
    mask = w * h / 8 if packed else w * h
    return mask + depth_dtype_bytes * w * h + 12 * k + 4 * 64 + 24


def _flops(task: str) -> float:
    from .models.cnn import LandmarkCNN, forward_flops

    return float(forward_flops(LandmarkCNN(task)))


def _params(task: str) -> int:
    from .models.cnn import LandmarkCNN, count_parameters

    return count_parameters(LandmarkCNN(task))


def _gpu_train_s(task: str, images: float, steps: float) -> float:
    return 3 * _flops(task) * images / (GPU_UTILISATION * GPU_MACHINE.gpu_bf16_flops) + steps * GPU_STEP_OVERHEAD_S


_GPU_HOW = (f"FLOP-based: 3 x forward FLOPs x images / ({GPU_UTILISATION:.0%} of the 989 TFLOP/s bf16 peak, "
            f"assumed) + {GPU_STEP_OVERHEAD_S * 1e3:.0f} ms per step (assumed)")


def _cv_steps(cfg: Mapping[str, Any], n_hands: int | None = None) -> dict[str, tuple[int, int, int]]:
    """``{task: (folds, training images per fold, steps per fold)}`` of the CNN cross-validation
    (``n_hands``: MR hands in the cohort, default ``mr_subjects``)."""
    out = {}
    hands = cfg["mr_subjects"] if n_hands is None else n_hands
    for task, n, folds in (("hand", hands, 3), ("body", cfg["ct_subjects"], cfg["ct_subjects"])):
        train = n - math.ceil(n / folds) if task == "hand" else n - 1
        out[task] = (folds, train, cfg["finetune_epochs"] * math.ceil(train / cfg["batch_size"]))
    return out


def _step_here(cfg: Mapping[str, Any], r: Rates, task: str, images: int) -> float:
    """Seconds of one fine-tuning step of ``images`` images here: bodies at the measured 19-image step
    (scaled by images), hands at :data:`HAND_STEP_FIXED_S` plus a per-image cost that meets the
    batch-100 rate at 100 images; the parallel folds' speed-up applied."""
    if task == "body":
        step = r.body_ft_step_s * max(images, 1) / 19
    else:
        per_image = max(1 / r.train_per_s[task] - HAND_STEP_FIXED_S / 100, 0.0)
        step = HAND_STEP_FIXED_S + images * per_image
    # crossval.fold_workers: parallel folds only for at least 2 x workers folds (the body's leave-one-out)
    workers = int(cfg.get("fold_workers", 1))
    n_folds = 3 if task == "hand" else int(cfg["ct_subjects"])
    speedup = r.fold_speedup[task] if workers > 1 and n_folds >= 2 * workers else 1.0
    return step / speedup


def _baselines_s(cfg: Mapping[str, Any], r: Rates, tasks: tuple[str, ...], n_hands: int | None = None) -> float:
    """Seconds here of NN(syn)'s search (every scan against every render of its task) and of growing the
    RF of every fold (:data:`RF_S_PER_UNIT`, on every core); NN(real) and the forests' votes are small."""
    seconds = 0.0
    for task, (folds, train, _) in _cv_steps(cfg, n_hands).items():
        if task not in tasks:
            continue
        scans = (cfg["mr_subjects"] if n_hands is None else n_hands) if task == "hand" else cfg["ct_subjects"]
        seconds += scans * cfg[f"{task}_renders"] * r.nn_s_per_pair
        pixels = train * cfg["rf_pixels"]
        levels = min(cfg["rf_depth"], max(1.0, math.log2(pixels / cfg["rf_min_leaf"])))
        units = cfg["rf_trees"] * cfg["rf_features_per_node"] * pixels * levels
        seconds += folds * units * RF_S_PER_UNIT / HERE.cores
    return seconds


_BASELINES_HOW = ("NN(syn): scans x renders x the search time per pair ({nn}); RF: per fold trees x features "
                  "per split x training pixels x levels x RF_S_PER_UNIT (calibrated on the cpu book's whole chapter "
                  "03), over the cores; NN(real) and the forests' votes not counted (small)")


def _cv(cfg: Mapping[str, Any], r: Rates, tasks: tuple[str, ...], runs_per_fold: int,
        n_hands: int | None = None) -> tuple[float, float]:
    here = gpu = 0.0
    for task, (folds, train, steps) in _cv_steps(cfg, n_hands).items():
        if task not in tasks:
            continue
        n_steps = runs_per_fold * folds * steps
        images = min(train, cfg["batch_size"])
        here += n_steps * _step_here(cfg, r, task, images)
        gpu += _gpu_train_s(task, n_steps * images, n_steps)
    return here, gpu


def plan(cfg: Mapping[str, Any]) -> list[StagePlan]:
    """The stages of the chain for ``cfg`` (a resolved profile), in the order the book runs them."""
    r = rates(cfg)
    tasks = ("hand", "body")
    n_r = {t: cfg[f"{t}_renders"] for t in tasks}
    stages = []

    disk = sum(n_r[t] * _render_bytes(t, depth_dtype_bytes=2, packed=True) for t in tasks)
    ram = max(2 * n_r[t] * _render_bytes(t, depth_dtype_bytes=0, packed=False) for t in tasks)
    here = sum(n_r[t] / r.render_per_s[t] for t in tasks)
    stages.append(StagePlan("renders", disk, ram, here, here / RENDER_SPEEDUP_GPU_MACHINE, {
        "disk": "size arithmetic: packed masks + float16 depth + landmarks per render, uncompressed (upper bound)",
        "ram": "size arithmetic: load_renders of the larger set without depth maps (01, 03 and 08 read masks "
               "and landmarks only); x2 while the shards are concatenated",
        "time": f"measured rate x count: {r.source['render']}; GPU machine: assumed "
                f"{RENDER_SPEEDUP_GPU_MACHINE:.0f}x (16 cores, linear scaling)",
    }))

    # cohorts: time scaled by voxel count from the cpu profile's measured chapter 02 (132 hands at
    # 0.8 x 1.0 x 0.8 mm + 20 bodies at 1.5 x 1.5 x 5 mm, simulated and binarized in 301 s by 2 processes,
    # fresh-clone cpu book of 2026-12-02); assumed extents of the simulated volumes (mm): hand
    # 200 x 100 x 250, body 500 x 300 x 1800.
    vox = {"mr": 200 * 100 * 250 / math.prod(cfg["mr_voxel_mm"]), "ct": 500 * 300 * 1800 / math.prod(cfg["ct_voxel_mm"])}
    s_per_voxel = 301 / (132 * 200 * 100 * 250 / (0.8 * 1.0 * 0.8) + 20 * 500 * 300 * 1800 / (1.5 * 1.5 * 5.0))
    n_sub = {"mr": cfg["mr_subjects"], "ct": cfg["ct_subjects"]}
    here = sum(n_sub[m] * vox[m] * s_per_voxel for m in vox)
    stages.append(StagePlan("cohorts", sum(n_sub[m] * vox[m] * 2 for m in vox), max(vox.values()) * 4 * 4, here,
                            here * HERE.cores / GPU_MACHINE.cores, {
        "disk": "size arithmetic: int16 voxels, uncompressed (upper bound), assumed volume extents",
        "ram": "size arithmetic: the largest volume as float32, 4 working copies (assumption)",
        "time": "measured rate x count: the cpu profile's chapter 02 (132 hands + 20 bodies in 301 s, 2 processes) "
                "scaled by voxel count; GPU machine: subjects in parallel on 16 cores (linear scaling, assumed)",
    }))

    ram = max(n_r[t] * PATCH_SIZE[t][0] * PATCH_SIZE[t][1] / 8 for t in tasks)
    here = _baselines_s(cfg, r, tasks)
    stages.append(StagePlan("baselines", 0.0, ram + stages[0].ram_bytes, here, here * HERE.cores / GPU_MACHINE.cores, {
        "ram": "size arithmetic: NN index of bit-packed masks, on top of the renders loaded by the notebook",
        "time": f"{_BASELINES_HOW.format(nn=r.source['nn'])}; GPU machine: 16 cores (linear scaling, assumed; "
                "neither method uses the GPU)",
    }))

    images = {t: cfg[f"{t}_pretrain_images"] * cfg["pretrain_epochs"] for t in tasks}
    here = sum(images[t] / r.train_per_s[t] for t in tasks)
    gpu = sum(_gpu_train_s(t, images[t], images[t] / cfg["batch_size"]) for t in tasks)
    ram = max(2 * cfg[f"{t}_pretrain_images"] * PATCH_SIZE[t][0] * PATCH_SIZE[t][1] for t in tasks)
    ckpt = sum(2 * 4 * _params(t) for t in tasks)
    stages.append(StagePlan("pretraining", ckpt, ram, here, gpu, {
        "disk": "size arithmetic: one checkpoint per task (fp32 weights + momentum)",
        "ram": "size arithmetic: the bool masks of the pretraining set (no depth), x2 while concatenated",
        "time": f"measured rate x count: {r.source['train']}; GPU: {_GPU_HOW}",
    }))

    here, gpu = _cv(cfg, r, tasks, 2)
    ft_how = (f"measured rate x steps: 2 methods x folds x finetune_epochs steps; hand: "
              f"{HAND_STEP_FIXED_S * 1e3:.0f} ms per step (measured, HAND_STEP_FIXED_S) + a per-image cost that "
              f"meets the batch-100 rate at 100 images; body: {r.source['ft']}; with fold_workers > 1 divided by the measured "
              f"speed-up of parallel folds {r.fold_speedup} ({r.source.get('fold_speedup', 'FOLD_WORKERS_SPEEDUP')}); "
              f"GPU: {_GPU_HOW}")
    workers = max(1, int(cfg.get("fold_workers", 1)))
    stages.append(StagePlan("fine-tuning CV", 0.0, workers * 3 * 2 * 4 * max(_params(t) for t in tasks), here, gpu, {
        "ram": "size arithmetic: pretrained + fold model, weights, gradients and momentum in fp32, per fold "
               "process (fold_workers)",
        "time": ft_how,
    }))

    n_depth = cfg["depth_renders"]
    images_d = n_depth * cfg["pretrain_epochs"]
    here_cv, gpu_cv = _cv(cfg, r, ("hand",), 1)  # the depth CNN is a hand experiment (Sec. 3)
    stages.append(StagePlan(
        "depth", 2 * 4 * _params("hand"), 2 * n_depth * _render_bytes("hand", depth_dtype_bytes=4, packed=False),
        images_d / r.train_per_s["hand"] + here_cv,
        _gpu_train_s("hand", images_d, images_d / cfg["batch_size"]) + gpu_cv, {
            "ram": "size arithmetic: depth_renders hand renders loaded with float32 depth (06_depth), "
                   "x2 while concatenated",
            "time": "as pretraining (depth_renders x pretrain_epochs hand images) + one fine-tuning CV of the hands",
        }))

    here = gpu = 0.0
    for task in cfg["curve_tasks"]:
        folds, train, _ = _cv_steps(cfg)[task]
        for n in cfg["curve_renders"]:  # an extra pretraining + a CNN(ft) cross-validation per point
            if n is not None:
                here += n * cfg["pretrain_epochs"] / r.train_per_s[task]
                gpu += _gpu_train_s(task, n * cfg["pretrain_epochs"], n * cfg["pretrain_epochs"] / cfg["batch_size"])
                cv_here, cv_gpu = _cv(cfg, r, (task,), 1)
                here, gpu = here + cv_here, gpu + cv_gpu
        for n in cfg["curve_subjects"]:  # CNN(real) and CNN(ft) on n training subjects per fold
            if n is not None and n < train:
                images = min(n, cfg["batch_size"])
                steps = 2 * folds * cfg["finetune_epochs"] * math.ceil(n / cfg["batch_size"])
                here += steps * _step_here(cfg, r, task, images)
                gpu += _gpu_train_s(task, steps * images, steps)
    stages.append(StagePlan("learning curve", 0.0, stages[3].ram_bytes, here, gpu, {
        "time": "per render-count point an extra pretraining + one CNN(ft) CV; per subject-count point a CV of "
                "2 methods on that many training images per fold; rates as above (the full point is the "
                "fine-tuning CV's)",
    }))

    # the realism ladder (08_sensitivity): per level a cohort of sensitivity_mr_subjects hands (the clean
    # level reuses the main cohort), its NN(syn) and RF, and a CV of 2 methods
    levels = list(cfg.get("sensitivity_levels", ()))
    here = gpu = 0.0
    for task in cfg.get("sensitivity_tasks", ()):
        n_hands = min(int(cfg.get("sensitivity_mr_subjects", cfg["mr_subjects"])), int(cfg["mr_subjects"]))
        cv_here, cv_gpu = _cv(cfg, r, (task,), 2, n_hands=n_hands)
        n_sub = n_hands if task == "hand" else cfg["ct_subjects"]
        new_levels = sum(1 for lv in levels if lv != "clean")
        vox_t = vox["mr" if task == "hand" else "ct"]
        cohort = new_levels * n_sub * vox_t * s_per_voxel
        base = len(levels) * _baselines_s(cfg, r, (task,), n_hands=n_hands)
        here += len(levels) * cv_here + cohort + base
        gpu += len(levels) * cv_gpu + (cohort + base) * HERE.cores / GPU_MACHINE.cores
    stages.append(StagePlan("sensitivity", 0.0, stages[3].ram_bytes, here, gpu, {
        "time": "per level and task: one CV of CNN(real) and CNN(ft) on sensitivity_mr_subjects hands (rates as "
                "above) + the level's cohort (rate of the cohorts stage) + its NN(syn) and RF (as the baselines stage)",
    }))

    # the detector bundles (09_detect): CNN(ft) of each task and the hand depth CNN on all scans
    from .engine.training import finetune_schedule

    here = gpu = 0.0
    for task, n in (("hand", cfg["mr_subjects"]), ("hand", cfg["mr_subjects"]), ("body", cfg["ct_subjects"])):
        steps = finetune_schedule(cfg, n_images=n).epochs * math.ceil(n / cfg["batch_size"])  # as build_bundle
        images = min(n, cfg["batch_size"])
        here += steps * _step_here({**cfg, "fold_workers": 1}, r, task, images)
        gpu += _gpu_train_s(task, steps * images, steps)
    stages.append(StagePlan("detector", 3 * 4 * _params("body"), 3 * 4 * _params("body"), here, gpu, {
        "time": "CNN(ft) of hands and bodies and the hand depth CNN, each finetune_epochs iterations over all scans "
                "(as many as a fold's), one process (rates as above)",
    }))
    stages.append(StagePlan("book build", 0.2 * GiB, 2 * GiB, 120.0, 120.0, {
        "all": "assumption: jupyter-book over executed notebooks (a tiny book built in 2.5 s, TOOLCHAIN.md)",
    }))
    return stages


def problems(stages: list[StagePlan], machine: Machine) -> list[str]:
    """What does not fit ``machine``: a stage's peak RAM, or the sum of the disk figures."""
    out = [f"{s.stage}: peak RAM {s.ram_bytes / GiB:.0f} GiB > {machine.ram_bytes / GiB:.0f} GiB"
           for s in stages if s.ram_bytes > machine.ram_bytes]
    disk = sum(s.disk_bytes for s in stages)
    if disk > machine.disk_bytes:
        out.append(f"disk {disk / GiB:.0f} GiB > {machine.disk_bytes / GiB:.0f} GiB (uncompressed upper bound)")
    return out


def _t(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def measured_runs(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Run records (:mod:`landmarklib.publish`) of this profile found here: the book's
    (``_build/executed/run.json``) and ``python -m landmarklib run``'s (``renders/executed/<profile>/``)."""
    from .paths import renders_root, repo_root
    from .provenance import read_json

    candidates = [renders_root(cfg.get("renders_dir")) / "executed" / str(cfg["profile"]) / "run.json"]
    root = repo_root()
    if root is not None:
        candidates.append(root / "_build" / "executed" / "run.json")
    out = []
    for path in candidates:
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue
        if record.get("profile") == cfg["profile"] and record.get("notebooks"):
            out.append({**record, "path": str(path)})
    return out


def format_plan(cfg: Mapping[str, Any]) -> str:
    """The plan of ``cfg`` as text: one row per stage, totals, what does not fit, how figures were obtained."""
    if "profile" not in cfg:
        raise LandmarkError("format_plan needs a resolved profile (landmarklib.profiles.resolve)")
    stages = plan(cfg)
    lines = [f"plan of profile {cfg['profile']!r} (precision {cfg.get('precision', 'auto')})",
             f"{'stage':16} {'disk GiB':>9} {'peak RAM GiB':>13} {'time here':>10} {'time GPU machine':>17}"]
    for s in stages:
        lines.append(f"{s.stage:16} {s.disk_bytes / GiB:9.2f} {s.ram_bytes / GiB:13.2f} {_t(s.seconds_here):>10} "
                     f"{_t(s.seconds_gpu):>17}")
    total_here = sum(s.seconds_here or 0 for s in stages)
    total_gpu = sum(s.seconds_gpu or 0 for s in stages)
    lines.append(f"{'total':16} {sum(s.disk_bytes for s in stages) / GiB:9.2f} "
                 f"{max(s.ram_bytes for s in stages) / GiB:13.2f} {_t(total_here):>10} {_t(total_gpu):>17}")
    for machine in (HERE, GPU_MACHINE):
        bad = problems(stages, machine)
        lines.append(f"{machine.name}: " + ("fits" if not bad else "DOES NOT FIT: " + "; ".join(bad)))
    lines.append("how each figure was obtained:")
    for s in stages:
        for what, how in s.how.items():
            lines.append(f"  {s.stage} / {what}: {how}")
    for run in measured_runs(cfg):
        total = sum(nb["seconds"] for nb in run["notebooks"])
        lines.append(f"measured: the last run of this profile ({run['path']}; commit {str(run.get('git_commit'))[:7]}, "
                     f"{str(run.get('finished'))[:16]}), notebooks only, install not included: {_t(total)}")
        lines.append("  " + ", ".join(f"{nb['name']} {_t(nb['seconds'])}" for nb in run["notebooks"]))
    return "\n".join(lines)


def main_plan(profile: str, overrides: Mapping[str, Any] | None = None) -> str:
    """``python -m landmarklib plan``: the formatted plan of ``profile``."""
    from .profiles import resolve

    return format_plan(resolve(profile, overrides))

