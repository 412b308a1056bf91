"""Cohorts: the one loader for simulated and real scans, from NIfTI folders to the common binary domain.

:func:`cohort_dir` names a simulated cohort's folder (profile seed, voxel size, realism level),
:func:`generate_cohort` writes it, :func:`binarize_folder` and :func:`load_cohort` turn any folder of
NIfTI scans + landmark files (simulated, or the user's own with ``scan_dir``) into a
:class:`~landmarklib.data.LandmarkSet`; :func:`depth_spread` is the cohort's fingertip depth spread
beside the paper's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..landmarks import landmark_names, parse_task
from ..parallel import ignore_interrupts, run_pool, usable_cores
from ..paths import subdir
from ..progress import bar as progress_bar
from ..provenance import provenance, read_json, write_json
from ..scans.binarize import binarize_volume, to_patch
from ..scans.io import _stem as _scan_id
from ..scans.io import find_scans, load_scan, save_nifti, write_mrk_json
from ..scans.simulate import (
    ANNOTATION_JITTER_MM,
    COHORTS,
    _subject_rng,
    realism,
    sample_subject,
    simulate_scan,
)

__all__ = ["cohort_dir", "generate_cohort", "user_folder", "example", "binarize_folder", "load_cohort", "depth_spread"]


# ----------------------------------------------------------------------------------------------
# Cohorts


def cohort_dir(task: str, cfg: Mapping[str, Any]) -> Path:
    """``<cfg.renders_dir>/scans/<mr_hand|ct_body>/seed<seed>-vox<x>x<depth>x<z>[-<realism>-<strengths>]/``.

    Subject ``i`` depends only on (seed, i), the voxel size and the realism level
    (:data:`landmarklib.scans.simulate.REALISM`), so cohorts of different sizes share one folder (a
    larger cohort adds subjects, a smaller one reads the first ``n``). The level ``clean`` keeps the
    folder name it had before the levels existed, so its caches stay valid.
    """
    name, _ = COHORTS[parse_task(task)]
    vox = "x".join(f"{v:g}" for v in _spacing(task, cfg))
    level = _level(cfg)
    suffix = "" if level == "clean" else f"-{level}-{_strengths_key(level)}"
    return subdir("scans", name, f"seed{cfg.seed}-vox{vox}{suffix}", renders_dir=cfg.renders_dir)


def _strengths_key(level: str) -> str:
    """8 hex digits of the level's effect strengths: a recalibrated level gets a new folder."""
    import hashlib
    import json

    text = json.dumps(realism(level), sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _level(cfg: Mapping[str, Any]) -> str:
    level = cfg.get("realism", "clean") or "clean"
    realism(level)  # a clear error for an unknown level
    return str(level)


def _spacing(task: str, cfg: Mapping[str, Any]) -> tuple[float, float, float]:
    key = "mr_voxel_mm" if task == "hand" else "ct_voxel_mm"
    value = tuple(float(v) for v in cfg[key])
    if len(value) != 3 or min(value) <= 0:
        raise LandmarkError(f"{key}={cfg[key]!r} must be three positive voxel sizes in mm (x, depth, z)")
    return value  # type: ignore[return-value]


def _simulate_subject(task: str, i: int, seed: int, level: str, spacing: tuple[float, float, float],
                      folder: str) -> dict[str, Any]:
    """Write subject ``i``'s volume and landmark file (unless both exist); its row of ``subjects.csv``.

    Depends only on its arguments (the subject's RNG streams are seeded from ``(seed, task, i)``), so
    the cohort is the same whichever process simulates which subject.
    """
    subject = sample_subject(task, i, seed, level)
    vol_path, mrk_path = Path(folder) / f"{subject.id}.nii.gz", Path(folder) / f"{subject.id}.mrk.json"
    info: dict[str, Any] = {}
    if not (vol_path.is_file() and mrk_path.is_file()):
        vol, affine, info = simulate_scan(subject, task, spacing_mm=spacing, seed=seed, index=i, realism_level=level)
        save_nifti(vol_path, vol, affine, dtype=np.int16)
        rng = _subject_rng(seed, task, 10_000 + i)
        expert = subject.landmarks * 1000 + rng.normal(0, ANNOTATION_JITTER_MM[task], size=subject.landmarks.shape)
        write_mrk_json(mrk_path, landmark_names(task), expert * np.array([-1.0, -1.0, 1.0]))  # model mm -> RAS
    return {"id": subject.id, **subject.params, **{k: str(v) for k, v in info.items()}}


def generate_cohort(task: str, cfg: Mapping[str, Any], *, progress: bool | None = None,
                    workers: int | None = None) -> Path:
    """Write the simulated cohort of ``task`` (skipping subjects whose files exist), then its manifest.

    Sizes from ``cfg``: ``mr_subjects`` / ``ct_subjects``, voxel sizes ``mr_voxel_mm`` /
    ``ct_voxel_mm`` (x = left-right, depth = antero-posterior, z = superior-inferior, mm), ``seed``.
    Every file is written atomically; the manifest (with provenance and timing) last. ``progress``:
    see :mod:`landmarklib.progress`. ``workers``: processes simulating subjects at once (``None``: the
    cores this process may use, from 8 subjects on); the files do not depend on it.
    """
    task = parse_task(task)
    folder = cohort_dir(task, cfg)
    n = int(cfg.mr_subjects if task == "hand" else cfg.ct_subjects)
    spacing = _spacing(task, cfg)
    jitter = ANNOTATION_JITTER_MM[task]
    args = (int(cfg.seed), _level(cfg), spacing, str(folder))
    if workers is None:
        workers = usable_cores() if n >= 8 else 1
    start = time.perf_counter()
    desc = f"simulating {COHORTS[task][0]}"
    with progress_bar(total=n, desc=desc, unit="scan", progress=progress) as b:
        if workers > 1:
            import concurrent.futures
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited thread state
            pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=ignore_interrupts)
            rows = run_pool(pool, _simulate_subject, [(task, i, *args) for i in range(n)], lambda _: b.update(1))
        else:
            rows = []
            for i in range(n):
                rows.append(_simulate_subject(task, i, *args))
                b.update(1)
    import pandas as pd

    from ..provenance import atomic_path

    with atomic_path(folder / "subjects.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    write_json(folder / "manifest.json", provenance(
        cfg, task=task, n=n, voxel_mm=list(spacing), annotation_jitter_mm=jitter, realism=_level(cfg),
        seconds=round(time.perf_counter() - start, 2), ids=[r["id"] for r in rows],
    ))
    return folder


def user_folder(task: str, scan_dir: str | os.PathLike) -> Path:
    """The folder of the user's scans for ``task``: ``scan_dir/mr_hand`` (or ``hand``) for the hand,
    ``scan_dir/ct_body`` (or ``body``) for the body when such a subfolder exists, else ``scan_dir``."""
    root = Path(scan_dir).expanduser()
    for name in (COHORTS[parse_task(task)][0], task):
        if (root / name).is_dir():
            return root / name
    return root


def example(task: str, cfg: Mapping[str, Any], index: int = 0) -> tuple[Any, Any, Any]:
    """Scan ``index`` of the cohort of ``task`` (simulated, generated if missing, or ``cfg.scan_dir``),
    loaded, binarized twice (without and with table removal) and patched, for figures.

    Returns
    -------
    scan : landmarklib.scans.io.Scan
    raw, projection : landmarklib.scans.binarize.Projection
        Without table removal and with ``cfg.table_min_mm`` (CT only; MR: the same).
    """
    task = parse_task(task)
    if cfg.scan_dir:
        folder = user_folder(task, cfg.scan_dir)
    else:
        load_cohort(task, cfg)
        folder = cohort_dir(task, cfg)
    vol, mrk = find_scans(folder)[index]
    scan = load_scan(vol, mrk, task)
    modality = COHORTS[task][1]
    table = float(cfg.table_min_mm) if modality == "ct" else 0.0
    raw = binarize_volume(scan.data, scan.affine, scan.landmarks_mm, modality=modality, source=str(vol))
    proj = binarize_volume(scan.data, scan.affine, scan.landmarks_mm, modality=modality, table_min_mm=table,
                           source=str(vol))
    return scan, raw, proj


def binarize_folder(
    folder: str | os.PathLike, task: str, *, names: Mapping[str, str] | None = None,
    threshold: float | None = None, table_min_mm: float = 0.0, ids: list[str] | None = None,
    progress: bool | None = None,
) -> LandmarkSet:
    """Load every scan of ``folder`` (see :func:`landmarklib.scans.io.find_scans`), binarize it, patch it.

    ``ids`` restricts (and orders) the scans by file stem.

    Returns a :class:`LandmarkSet` with ids = scan file stems, depth/landmark_depth in voxels along the
    depth axis and ``mm_per_px``. Any bad scan stops with one :class:`LandmarkError` naming it;
    nothing is written.
    """
    task = parse_task(task)
    modality = COHORTS[task][1]
    pairs = find_scans(folder)
    if ids is not None:
        by_id = {_scan_id(v): (v, m) for v, m in pairs}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise LandmarkError(f"{folder}: scans {missing} are missing; delete the folder to regenerate it")
        pairs = [by_id[i] for i in ids]
    masks, lms, ids_out, depth, ldepth, mm = [], [], [], [], [], []
    for vol, mrk in progress_bar(pairs, desc=f"binarizing {COHORTS[task][0]}", unit="scan", progress=progress):
        scan = load_scan(vol, mrk, task, names=names)
        proj = binarize_volume(
            scan.data, scan.affine, scan.landmarks_mm, modality=modality, threshold=threshold,
            table_min_mm=table_min_mm if modality == "ct" else 0.0, source=str(vol),
        )
        patch = to_patch(proj, task)
        masks.append(patch.mask)
        lms.append(patch.landmarks)
        ids_out.append(scan.id)
        depth.append(patch.depth)
        ldepth.append(patch.landmark_depth)
        mm.append(patch.mm_per_px)
    return LandmarkSet(
        task=task, masks=np.stack(masks), landmarks=np.stack(lms), ids=np.array(ids_out), depth=np.stack(depth),
        landmark_depth=np.stack(ldepth), mm_per_px=np.stack(mm),
        meta={"source": str(folder), "modality": modality, "table_min_mm": table_min_mm},
    )


def load_cohort(task: str, cfg: Mapping[str, Any], *, names: Mapping[str, str] | None = None) -> LandmarkSet:
    """The binarized scan cohort of ``task`` as a :class:`LandmarkSet`.

    With ``cfg.scan_dir`` set, the user's scans in that folder (never cached, never written to).
    Otherwise the simulated cohort of the profile, generated under ``renders/scans/`` if missing,
    binarized once and cached as ``binarized-n<N>-table<mm>.npz`` next to it.

    Parameters
    ----------
    task
        ``"hand"`` (MR) or ``"body"`` (CT).
    cfg
        Resolved parameters (:func:`landmarklib.configure`): ``scan_dir``, ``table_min_mm``, sizes.
    names
        Optional ``{label in the landmark files: task landmark name}`` for real scans.
    """
    task = parse_task(task)
    table = float(cfg.table_min_mm)
    if cfg.scan_dir:
        return binarize_folder(user_folder(task, cfg.scan_dir), task, names=names, table_min_mm=table)
    folder = cohort_dir(task, cfg)
    n = int(cfg.mr_subjects if task == "hand" else cfg.ct_subjects)
    manifest = folder / "manifest.json"
    cached = folder / f"binarized-n{n}-table{table:g}.npz"
    if not manifest.is_file() or read_json(manifest).get("n", 0) < n:
        generate_cohort(task, cfg)
        for old in folder.glob("binarized-*.npz"):
            old.unlink()
    if cached.is_file():
        return LandmarkSet.load(cached)
    ids = read_json(manifest)["ids"][:n]
    data = binarize_folder(folder, task, table_min_mm=table, ids=ids)
    data.meta.update(provenance=provenance(cfg, task=task))
    data.save(cached)
    return data


def depth_spread(data: LandmarkSet, depth_mm: float | None = None) -> Any:
    """How much the landmark depth varies over a cohort, next to the paper's values (Sec. 3).

    Parameters
    ----------
    data
        A cohort with ``landmark_depth`` (voxels along the depth axis).
    depth_mm
        Millimetres per voxel along the depth axis (adds ``std (mm)``), or ``None``.

    Returns
    -------
    pandas.DataFrame
        Indexed by landmark: ``mean`` and ``std`` (sample std, ``ddof=1``; voxels), ``expected_mae``:
        the mean absolute error of predicting the mean if the depths were Gaussian,
        ``std * sqrt(2/pi)`` (the mean-depth baseline's expected depth error), optionally ``std (mm)``,
        and ``paper std`` (the paper quotes only pinky 3.137 and thumb 3.183 voxels; NaN elsewhere).
    """
    import pandas as pd

    from ..paper import paper_values

    if data.landmark_depth is None:
        raise LandmarkError(f"the {data.task} cohort has no landmark depth; load it with depth")
    d = np.asarray(data.landmark_depth, dtype=np.float64)
    sd = np.nanstd(d, axis=0, ddof=1)
    table = pd.DataFrame({"mean": np.nanmean(d, axis=0), "std": sd, "expected_mae": sd * np.sqrt(2 / np.pi)},
                         index=pd.Index(list(data.landmark_names), name="landmark"))
    if depth_mm is not None:
        table["std (mm)"] = sd * depth_mm
    paper = paper_values("depth_std")
    table["paper std"] = paper[paper["task"] == data.task].set_index("landmark")["value"].reindex(table.index)
    return table
