"""The detector users run on scans without landmarks: a trained bundle per task, 3D landmarks in world mm.

A **bundle** (``renders/models/<profile>/detector-<task>.pt``, :func:`build_bundle`) holds what it
takes to go from a NIfTI volume to landmarks: CNN(ft) fine-tuned on *all* scans of the cohort (not a
fold), for the hand the depth CNN fine-tuned on all scans too, the landmark names, the patch size,
the binarization settings (modality, threshold, table removal), the depth normalisation, the
training provenance and a fingerprint of the training data. It loads on CPU or GPU.

:func:`detect` runs it on every NIfTI of a folder: load, binarize with the study's own code
(:mod:`landmarklib.scans.binarize`), predict the 2D position (CNN(ft)) and the depth, map both back
through the crop, the projection and the affine (:mod:`landmarklib.scans.world`), write one 3D
Slicer ``<scan>.mrk.json`` per scan (LPS mm) and one CSV for all scans (RAS mm, with the 3D error in
mm where a landmark file is found beside the scan).

Depth, per task (a choice; the paper infers depth for the hands only):

* hand: the depth CNN of the paper's depth experiment (Sec. 3, Fig. 4), fine-tuned on all MR hands;
* body: no depth model exists, so the depth of a landmark is the **silhouette's mid-depth** along its
  ray: the middle of the first body part the ray meets (first voxel above the air threshold to the
  next gap; the CT table's layers dropped and enclosed air such as the lungs filled;
  :func:`landmarklib.scans.world.silhouette_mid_depth`). The body's landmarks are joint
  centres or tips of limbs, which lie near the middle of the body part in the antero-posterior
  direction; the book reports the error this gives (``book/09_detect.ipynb``).

:func:`heldout_errors` scores the same world-coordinate path on the cross-validated predictions of
chapters 05 and 06 (each scan predicted by the fold that held it out), next to the mean-shape reference.
"""

from __future__ import annotations

import copy
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import LandmarkSet
from .errors import LandmarkError
from .geometry import patch_size
from .landmarks import landmark_names, parse_task
from .provenance import atomic_path, provenance, write_json
from .scans.binarize import Patch, Projection, binarize_volume, reorient, to_patch
from .scans.io import LANDMARK_SUFFIXES, _stem, load_nifti, read_landmarks, write_mrk_json
from .scans.simulate import COHORTS
from .scans.world import ScanGeometry, patch_to_image, silhouette_mid_depth, solid_body

__all__ = ["BUNDLE_KIND", "DEPTH_SOURCES", "Detector", "bundle_path", "data_fingerprint", "build_bundle",
           "save_bundle", "load_bundle", "find_bundle", "check_modality", "prepare_scan", "detect",
           "DetectResult", "heldout_errors"]

#: Marks a file as a detector bundle (and its format version).
BUNDLE_KIND = "landmarklib-detector"
BUNDLE_VERSION = 1
#: How the depth of a landmark is obtained, per task (see the module docstring).
DEPTH_SOURCES: dict[str, str] = {"hand": "CNN(depth)", "body": "silhouette mid-depth"}
#: CT air is about -1000 HU: a CT volume has voxels far below this; an MR volume (arbitrary, >= 0) none.
_HU_AIR_BELOW = -500.0


def bundle_path(task: str, profile: str, *, renders_dir: str | os.PathLike | None = None) -> Path:
    """``renders/models/<profile>/detector-<task>.pt`` (nothing is created: a lookup leaves no empty folder)."""
    from .paths import renders_root

    return renders_root(renders_dir) / "models" / profile / f"detector-{parse_task(task)}.pt"


def data_fingerprint(data: LandmarkSet) -> str:
    """A short content hash of a training set (ids, masks, landmarks, depth): which scans trained a bundle."""
    from .engine.training import _fingerprint

    arrays = (data.ids, data.masks, data.landmarks, data.landmark_depth)
    return _fingerprint(*(np.asarray(a) for a in arrays if a is not None))


# --------------------------------------------------------------------------------------------------
# The bundle
# --------------------------------------------------------------------------------------------------
@dataclass
class Detector:
    """A loaded bundle: the trained networks and the settings to apply them.

    Attributes
    ----------
    task
        ``"hand"`` or ``"body"``.
    model
        CNN(ft) (:class:`landmarklib.models.cnn.LandmarkCNN`, 2 outputs per landmark).
    depth_model
        The depth CNN (3 outputs per landmark) or ``None`` (body: silhouette mid-depth).
    depth_offset
        ``(k,)`` the normalised depth the depth CNN's outputs are relative to, or ``None``.
    binarize
        ``modality``, ``threshold`` (``None``: the modality's default), ``table_min_mm``.
    meta
        ``landmarks``, ``patch_size``, ``depth_source``, ``fingerprint``, ``n_scans``, ``ids``,
        ``provenance`` (the training run's), ``path`` once loaded.
    """

    task: str
    model: Any
    depth_model: Any | None
    depth_offset: np.ndarray | None
    binarize: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return landmark_names(self.task)

    def predict(self, patches: list[Patch], *, device: str = "auto") -> tuple[np.ndarray, np.ndarray | None]:
        """``(N, k, 2)`` patch pixels from CNN(ft) and ``(N, k)`` depth (voxels) from the depth CNN
        (``None`` without one) for the patches of ``N`` scans."""
        from .engine.training import predict_set

        samples = _unlabelled_set(self.task, patches)
        # the precision switch the bundle was trained with ("auto": bf16 where the CPU or GPU has it)
        precision = str(self.meta.get("provenance", {}).get("parameters", {}).get("precision", "auto"))
        px = predict_set(self.model, samples, device=device, precision=precision)
        if self.depth_model is None:
            return px, None
        return px, _predict_depth(self.depth_model, samples, self.depth_offset, device, precision)


def _unlabelled_set(task: str, patches: list[Patch]) -> LandmarkSet:
    """Patches without annotations as a :class:`LandmarkSet` (landmarks NaN) for the prediction helpers."""
    n, k = len(patches), len(landmark_names(task))
    return LandmarkSet(task=task, masks=np.stack([p.mask for p in patches]), landmarks=np.full((n, k, 2), np.nan),
                       ids=np.arange(n).astype(str), depth=np.stack([p.depth for p in patches]),
                       landmark_depth=np.full((n, k), np.nan), mm_per_px=np.stack([p.mm_per_px for p in patches]))


# The coupling to the depth experiment (landmarklib.experiments.depth) is kept to these two helpers.
def _train_depth(pretrained: Any, cohort: LandmarkSet, cfg: Mapping[str, Any], progress: bool | None) -> tuple[Any, np.ndarray]:
    """Fine-tune a copy of the pretrained depth CNN on all scans (targets centred on their mean, as the
    depth experiment's folds do); returns the model and its ``(k,)`` depth offset."""
    import torch

    from .engine import training
    from .experiments import depth

    inputs, targets, transform = depth.depth_inputs(cohort)
    rows = np.arange(len(cohort))
    transform = transform.fit(targets, rows)
    torch.manual_seed(training._model_seed(cfg, "detector_depth/init"))
    model = copy.deepcopy(pretrained)
    training.fit(model, inputs, transform.apply(targets, rows), training.finetune_schedule(cfg, n_images=len(rows)),
                 seed=training._model_seed(cfg, "detector_depth/fit"), device=cfg.device,
                 desc="detector: fine-tune depth CNN", progress=progress)
    return model, transform.offset


def _predict_depth(model: Any, samples: LandmarkSet, offset: np.ndarray | None, device: str,
                   precision: str = "auto") -> np.ndarray:
    from .experiments import depth

    return depth.predict_depth_cnn(model, samples, offset=offset, device=device, precision=precision)[1]


def build_bundle(
    task: str,
    cfg: Mapping[str, Any],
    cohort: LandmarkSet | None = None,
    *,
    pretrained: Any | None = None,
    depth_pretrained: Any | None = None,
    path: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> Path:
    """Train the detector of ``task`` on all scans of ``cohort`` and write its bundle atomically.

    Parameters
    ----------
    task
        ``"hand"`` (CNN(ft) + depth CNN) or ``"body"`` (CNN(ft); depth from the silhouette).
    cfg
        Resolved parameters (schedules, seed, device, ``table_min_mm``, ``renders_dir``).
    cohort
        The binarized scans (default: :func:`landmarklib.scans.cohorts.load_cohort` of ``task``).
    pretrained
        CNN(syn) to fine-tune (default: the profile's, :func:`landmarklib.experiments.pretraining.load_pretrained`).
    depth_pretrained
        Hand only: the pretrained depth CNN (default: :func:`landmarklib.experiments.depth.pretrain_depth_cnn`
        on the profile's depth renders, the checkpoint chapter 07 leaves).
    path
        Where to write (default :func:`bundle_path`).

    Returns
    -------
    Path
        The bundle (``.pt``) beside a JSON sidecar (``.json``) with everything but the weights. A bundle
        already there for the same data, schedule and seed is kept as it is.
    """
    from .engine.training import checkpoint_path, finetune_schedule
    from .experiments.finetuning import finetune
    from .scans.cohorts import load_cohort

    task = parse_task(task)
    cohort = load_cohort(task, cfg) if cohort is None else cohort
    if cohort.task != task:
        raise LandmarkError(f"the cohort is of the {cohort.task} task, not {task}")
    path = Path(path) if path is not None else bundle_path(task, cfg.profile, renders_dir=cfg.renders_dir)
    if pretrained is None:
        from .experiments.pretraining import load_pretrained

        pretrained = load_pretrained(task, cfg, progress=progress)[0]
    fingerprint = data_fingerprint(cohort)
    schedule = asdict(finetune_schedule(cfg, n_images=len(cohort)))  # the folds' iterations (700 under cpu)
    # a bundle belongs to its scans, schedule, seed and the CNN(syn) it was fine-tuned from
    from .engine.training import _fingerprint

    start = _fingerprint(*(v.detach().cpu().numpy() for v in pretrained.state_dict().values()))
    identity = {"fingerprint": fingerprint, "schedule": schedule, "seed": int(cfg.seed), "cnn_syn": start}
    sidecar = path.with_suffix(".json")
    if path.is_file() and sidecar.is_file():
        from .provenance import read_json

        if read_json(sidecar).get("identity") == identity:
            return path
    name = f"detector_cnn_ft_{fingerprint}"
    from .engine.training import _model_seed

    model, history = finetune(pretrained, cohort, cfg, name=name, seed=_model_seed(cfg, "detector_ft/fit"),
                              progress=progress)
    depth_model, offset = None, None
    if task == "hand":
        if depth_pretrained is None:
            from .experiments import depth
            from .synth import load_renders

            synthetic = load_renders("hand", cfg, n=cfg.depth_renders)
            depth_pretrained = depth.pretrain_depth_cnn(synthetic, cfg, progress=progress)[0]
        depth_model, offset = _train_depth(depth_pretrained, cohort, cfg, progress)
    modality = COHORTS[task][1]
    detector = Detector(
        task=task, model=model, depth_model=depth_model, depth_offset=offset,
        binarize={"modality": modality, "threshold": None,
                  "table_min_mm": float(cfg.table_min_mm) if modality == "ct" else 0.0},
        meta={"landmarks": list(landmark_names(task)), "patch_size": list(patch_size(task)),
              "depth_source": DEPTH_SOURCES[task], "fingerprint": fingerprint, "identity": identity,
              "n_scans": len(cohort), "ids": cohort.ids.tolist(), "source": str(cohort.meta.get("source", "")),
              "final_loss": history["loss"][-1] if history.get("loss") else None,
              "provenance": provenance(cfg, task=task, stage="detector")},
    )
    save_bundle(detector, path)
    # the fine-tuning checkpoint (weights + momentum) is only an intermediate of the bundle
    checkpoint_path(name, task=task, profile=cfg.profile, renders_dir=cfg.renders_dir).unlink(missing_ok=True)
    return path


def save_bundle(detector: Detector, path: str | os.PathLike) -> Path:
    """Write ``detector`` to ``path`` (``.pt``: weights as tensors, settings as plain values; loads with
    ``torch.load(weights_only=True)``) and its settings to ``path.json``, both atomically."""
    import torch

    def state(model: Any) -> dict[str, Any] | None:
        return None if model is None else {k: v.detach().cpu() for k, v in model.state_dict().items()}

    meta = {k: v for k, v in detector.meta.items() if k != "path"}
    payload = {
        "kind": BUNDLE_KIND, "version": BUNDLE_VERSION, "task": detector.task, "binarize": detector.binarize,
        "model": state(detector.model), "depth_model": state(detector.depth_model),
        "depth_offset": None if detector.depth_offset is None else [float(v) for v in detector.depth_offset],
        "meta": meta,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())
    write_json(path.with_suffix(".json"), {"kind": BUNDLE_KIND, "version": BUNDLE_VERSION, "task": detector.task,
                                           "binarize": detector.binarize, "depth_offset": payload["depth_offset"],
                                           **meta})
    return path


def load_bundle(path: str | os.PathLike, *, task: str | None = None, device: str = "cpu") -> Detector:
    """Read a bundle written by :func:`save_bundle` (tensors mapped to ``device``; models in eval mode).

    Raises
    ------
    LandmarkError
        Not a readable bundle, or one of another task than ``task``.
    """
    import torch

    from .models.cnn import LandmarkCNN

    path = Path(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        kind = payload.get("kind") if isinstance(payload, dict) else None
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same advice
        raise LandmarkError(f"{path}: not a readable detector bundle ({type(err).__name__}: {err})") from None
    if kind != BUNDLE_KIND:
        raise LandmarkError(f"{path}: not a landmarklib detector bundle; pass a detector-<task>.pt written by "
                            "landmarklib.detection.build_bundle")
    if task is not None and payload["task"] != parse_task(task):
        raise LandmarkError(f"{path}: a detector for the {payload['task']} task, not {task}; pass --task "
                            f"{payload['task']} or the {task} bundle (detector-{task}.pt)")

    def net(state: dict[str, Any] | None, outputs: int) -> Any:
        if state is None:
            return None
        model = LandmarkCNN(payload["task"], outputs_per_landmark=outputs)
        model.load_state_dict(state)
        return model.to(device).eval()

    offset = payload.get("depth_offset")
    return Detector(task=payload["task"], model=net(payload["model"], 2), depth_model=net(payload["depth_model"], 3),
                    depth_offset=None if offset is None else np.asarray(offset, dtype=np.float64),
                    binarize=dict(payload["binarize"]), meta={**payload["meta"], "path": str(path)})


def find_bundle(task: str, *, profile: str | None = None, model: str | os.PathLike | None = None,
                renders_dir: str | os.PathLike | None = None) -> Path:
    """The bundle to use: ``model`` if given, else the profile's; a missing one names the command that trains it."""
    if model is not None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise LandmarkError(f"{path}: no such detector bundle; pass a detector-<task>.pt file to --model")
        return path
    from .profiles import DEFAULT_PROFILE, base_profile, get_profile

    profile = profile or DEFAULT_PROFILE
    get_profile(base_profile(profile))  # a profile name, or a results key of another realism level
    path = bundle_path(task, profile, renders_dir=renders_dir)
    if not path.is_file():
        raise LandmarkError(
            f"no trained {task} detector for profile {profile!r} ({path}); train it with "
            f"`python -m landmarklib run --profile {base_profile(profile)}` (the whole chain; its last chapter, "
            "book/09_detect.ipynb, writes the bundle) or pass a bundle with --model FILE"
        )
    return path


# --------------------------------------------------------------------------------------------------
# One scan
# --------------------------------------------------------------------------------------------------
def check_modality(data: np.ndarray, modality: str, source: str) -> None:
    """Refuse a volume that cannot be of ``modality``: CT in Hounsfield units has air near -1000 HU; MR
    intensities are not negative. One :class:`LandmarkError` naming ``source``."""
    low = float(np.percentile(data, 1))
    if modality == "ct" and low > _HU_AIR_BELOW:
        raise LandmarkError(f"{source}: does not look like CT in Hounsfield units (1st percentile {low:g}, CT air "
                            "is about -1000 HU); the body detector is trained on CT, the hand detector on MR")
    if modality == "mr" and low < _HU_AIR_BELOW:
        raise LandmarkError(f"{source}: looks like CT in Hounsfield units (1st percentile {low:g}), not MR; the "
                            "hand detector is trained on MR hands, the body detector on CT")


def _border_sides(proj: Projection) -> list[str]:
    m = proj.mask
    sides = [name for name, edge in (("superior", m[0]), ("inferior", m[-1]), ("right", m[:, 0]),
                                     ("left", m[:, -1])) if edge.any()]
    if np.nanmin(proj.depth) <= 0.5:
        sides.append("anterior")
    return sides


@dataclass
class PreparedScan:
    """A volume binarized for the detector: its patch, its geometry, and the projection."""

    path: Path
    patch: Patch
    geometry: ScanGeometry
    projection: Projection


def prepare_scan(path: str | os.PathLike, task: str, binarize: Mapping[str, Any], *, data: np.ndarray | None = None,
                 affine: np.ndarray | None = None) -> PreparedScan:
    """Load (unless ``data``/``affine`` are given), check and binarize one volume the way the bundle's
    training scans were (``binarize``: ``modality``, ``threshold``, ``table_min_mm``).

    Raises
    ------
    LandmarkError
        Unreadable file, wrong modality, nothing above the air threshold, or a silhouette that touches
        the field of view's border (a truncated body part); the message names the file.
    """
    path = Path(path)
    if data is None or affine is None:
        data, affine = load_nifti(path)
    modality = binarize["modality"]
    check_modality(data, modality, str(path))
    proj = binarize_volume(data, affine, np.zeros((0, 3)), modality=modality, threshold=binarize.get("threshold"),
                           table_min_mm=float(binarize.get("table_min_mm", 0.0)), source=str(path))
    sides = _border_sides(proj)
    if sides:
        raise LandmarkError(f"{path}: the silhouette touches the field of view's {', '.join(sides)} border (a "
                            "truncated body part); the detector needs the whole hand/body inside the volume")
    patch = to_patch(proj, task)
    return PreparedScan(path=path, patch=patch, geometry=ScanGeometry.of(data.shape, affine, patch), projection=proj)


def _mid_depth(data: np.ndarray, affine: np.ndarray, scan: PreparedScan, px: np.ndarray, table_min_mm: float) -> np.ndarray:
    """:func:`silhouette_mid_depth` at ``(k, 2)`` patch pixels of one scan (CT table layers excluded)."""
    view, _, _ = reorient(data, affine)
    proj = scan.projection
    inside = solid_body(view, proj.threshold, proj.mask, table=table_min_mm > 0)
    return silhouette_mid_depth(inside, proj.mask, patch_to_image(px, scan.geometry))


# --------------------------------------------------------------------------------------------------
# detect
# --------------------------------------------------------------------------------------------------
@dataclass
class DetectResult:
    """What :func:`detect` wrote: the folder, the CSV's table, the files, the skipped scans and why."""

    out: Path
    table: pd.DataFrame
    files: list[Path]
    skipped: dict[str, str]


CSV_NAME = "landmarks.csv"


def _landmark_file(volume: Path) -> Path | None:
    stem = _stem(volume)
    found = [volume.parent / f"{stem}{s}" for s in LANDMARK_SUFFIXES if (volume.parent / f"{stem}{s}").is_file()]
    return found[0] if found else None


def _default_out(scan_dir: Path) -> Path:
    base = scan_dir.parent / f"{scan_dir.name}_landmarks"
    out, i = base, 2
    while out.exists():
        out, i = base.with_name(f"{base.name}-{i}"), i + 1
    return out


def detect(
    scan_dir: str | os.PathLike,
    task: str,
    *,
    profile: str | None = None,
    model: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    renders_dir: str | os.PathLike | None = None,
    device: str = "auto",
    progress: bool | None = None,
) -> DetectResult:
    """Detect the landmarks of ``task`` on every NIfTI of ``scan_dir`` and write them for 3D Slicer.

    Parameters
    ----------
    scan_dir
        A folder of ``*.nii`` / ``*.nii.gz`` volumes; a landmark file beside a scan (same stem,
        ``.mrk.json``/``.fcsv``/``.csv``) is optional and only used to report the 3D error.
    task
        ``"hand"`` (MR) or ``"body"`` (CT).
    profile, model
        The profile whose bundle to use (:func:`bundle_path`; default ``quick``), or a bundle file.
    out
        Output folder (default: a new folder ``<scan_dir>_landmarks`` beside ``scan_dir``). Existing
        files are never overwritten: a name already taken stops before anything is written.
    device
        Where the networks run (``"auto"``, ``"cpu"``, ``"cuda"``).

    Returns
    -------
    DetectResult
        ``out``, ``table`` (one row per scan and landmark: ``scan, landmark, x, y, z`` in RAS mm, the
        patch estimate ``x_px, y_px, depth_vox``, ``depth_source``, and where a landmark file exists
        ``x_true, y_true, z_true, error_mm``), the written ``files`` and the ``skipped`` scans.

    Raises
    ------
    LandmarkError
        No bundle (the message names the command that trains it), a bundle of another task, no NIfTI
        in ``scan_dir``, an output name already taken, or no scan left. A scan that cannot be used
        (unreadable, wrong modality, empty, truncated) is skipped with a warning naming it, and gets
        no output file.
    """
    from tqdm.auto import tqdm

    from .progress import bar as progress_bar

    task = parse_task(task)
    scan_dir = Path(scan_dir).expanduser().resolve()
    if not scan_dir.is_dir():
        raise LandmarkError(f"{scan_dir}: no such folder; pass a folder of *.nii(.gz) scans")
    bundle = find_bundle(task, profile=profile, model=model, renders_dir=renders_dir)
    from .engine.training import resolve_device

    detector = load_bundle(bundle, task=task, device="cpu")
    device = str(resolve_device(device))
    volumes = sorted(p for p in scan_dir.iterdir() if p.name.endswith((".nii", ".nii.gz")) and not p.name.startswith("."))
    if not volumes:
        raise LandmarkError(f"{scan_dir}: no *.nii or *.nii.gz files; put the scans there (one 3D volume per file)")
    out_dir = Path(out).expanduser() if out is not None else _default_out(scan_dir)
    targets = [out_dir / f"{_stem(v)}.mrk.json" for v in volumes] + [out_dir / CSV_NAME, out_dir / "landmarks.json"]
    taken = [str(t) for t in targets if t.exists()]
    if taken:
        raise LandmarkError(f"{out_dir}: would overwrite {taken[:3]}{' ...' if len(taken) > 3 else ''}; pass another "
                            "--out folder (existing files are never overwritten)")
    names = detector.names
    rows, skipped, points = [], {}, {}
    bar = progress_bar(volumes, desc=f"detect {task}", unit="scan", progress=progress)
    for volume in bar:
        stem = _stem(volume)
        try:
            data, affine = load_nifti(volume)
            scan = prepare_scan(volume, task, detector.binarize, data=data, affine=affine)
            px, depth = detector.predict([scan.patch], device=device)
            px = px[0]
            depth = depth[0] if depth is not None else _mid_depth(
                data, affine, scan, px, float(detector.binarize.get("table_min_mm", 0.0)))
            world = scan.geometry.to_world(px, depth)  # (k, 3) RAS mm
        except LandmarkError as err:
            skipped[volume.name] = str(err)
            warnings.warn(f"skipped {volume}: {err}", stacklevel=2)
            tqdm.write(f"{volume.name}: skipped ({err})")
            continue
        truth, note = None, ""
        found = _landmark_file(volume)
        if found is not None:
            try:
                truth = read_landmarks(found, task)
            except LandmarkError as err:
                note = f" (landmark file ignored: {err})"
        error = np.linalg.norm(world - truth, axis=1) if truth is not None else np.full(len(names), np.nan)
        for i, name in enumerate(names):
            row = {"scan": stem, "landmark": name, "x": world[i, 0], "y": world[i, 1], "z": world[i, 2],
                   "x_px": px[i, 0], "y_px": px[i, 1], "depth_vox": depth[i], "depth_source": detector.meta["depth_source"],
                   "x_true": np.nan, "y_true": np.nan, "z_true": np.nan, "error_mm": error[i]}
            if truth is not None:
                row.update(x_true=truth[i, 0], y_true=truth[i, 1], z_true=truth[i, 2])
            rows.append(row)
        points[stem] = world
        summary = f"mean 3D error {np.mean(error):.1f} mm vs {found.name}" if truth is not None else "no landmark file"
        tqdm.write(f"{volume.name}: {len(names)} landmarks, depth from {detector.meta['depth_source']}; {summary}{note}")
    if not points:
        raise LandmarkError(f"{scan_dir}: no scan could be used ({len(skipped)} skipped, see the warnings); "
                            "nothing was written")
    table = pd.DataFrame(rows)
    record = provenance(None, task=task, scan_dir=str(scan_dir), bundle=str(bundle),
                        bundle_fingerprint=detector.meta.get("fingerprint"),
                        bundle_provenance=detector.meta.get("provenance"), skipped=skipped,
                        coordinates={"csv": "RAS mm", "mrk.json": "LPS mm (3D Slicer Markups)"})
    files = _write_outputs(out_dir, names, points, table, record)
    tqdm.write(f"wrote {len(points)} landmark files and {CSV_NAME} to {out_dir}"
               + (f"; skipped {len(skipped)}: {', '.join(skipped)}" if skipped else ""))
    return DetectResult(out=out_dir, table=table, files=files, skipped=skipped)


def _write_outputs(out_dir: Path, names: tuple[str, ...], points: dict[str, np.ndarray], table: pd.DataFrame,
                   record: dict[str, Any]) -> list[Path]:
    """Write every file into a fresh folder and rename it into place (a new ``out_dir`` appears whole or
    not at all); into an existing folder, each file atomically."""
    fresh = not out_dir.exists()
    if fresh:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    else:
        work = out_dir
    try:
        for stem, world in points.items():
            write_mrk_json(work / f"{stem}.mrk.json", names, world)
        with atomic_path(work / CSV_NAME) as tmp:
            table.to_csv(tmp, index=False, float_format="%.4f")
        write_json(work / "landmarks.json", record)
        if fresh:
            os.replace(work, out_dir)
    except BaseException:
        if fresh:
            shutil.rmtree(work, ignore_errors=True)
        raise
    return [out_dir / f"{stem}.mrk.json" for stem in points] + [out_dir / CSV_NAME, out_dir / "landmarks.json"]


# --------------------------------------------------------------------------------------------------
# The book's evaluation: the world-coordinate path on held-out predictions
# --------------------------------------------------------------------------------------------------
def heldout_errors(task: str, cfg: Mapping[str, Any], *, progress: bool | None = None) -> pd.DataFrame:
    """3D error (mm) of the detector's world-coordinate path on the cross-validated predictions.

    Every scan of the cohort is re-binarized and its held-out estimate mapped to world mm by
    :func:`landmarklib.scans.world.patch_to_world`, then compared with its annotation. Methods:

    * ``detector``: 2D from CNN(ft) (chapter 05's table); depth from CNN(depth) (chapter 07's table,
      hand) or the silhouette's mid-depth (body);
    * ``mean shape``: 2D from the mean-shape reference (the fold's training mean,
      :func:`landmarklib.evaluation.metrics.mean_shape_reference`); depth from the training fold's mean
      depth (hand) or the silhouette's mid-depth (body);
    * ``annotation``: the annotation's own patch position and depth through the path (a check: ~0 mm).

    Returns
    -------
    DataFrame
        ``task, method, fold, subject, landmark, error_mm``, ``depth_error_mm`` (the part along the depth
        axis: the estimate against the same 2D point at the annotated depth) and ``inplane_error_mm``
        (that point against the annotation).
    """
    from .evaluation.metrics import mean_shape_reference
    from .evaluation.results import read_predictions
    from .progress import bar as progress_bar
    from .scans.cohorts import cohort_dir, user_folder
    from .scans.io import find_scans, load_scan

    task = parse_task(task)
    frame = read_predictions(cfg.profile, task=task, renders_dir=cfg.renders_dir)
    tables = {"detector": frame[frame["method"] == "CNN(ft)"]}
    if tables["detector"].empty:
        raise LandmarkError(f"no CNN(ft) predictions for {task} under profile {cfg.profile!r}; run book/05 first")
    tables["mean shape"] = mean_shape_reference(frame, method="CNN(ft)")
    depth_tables = {}
    if task == "hand":
        d = read_predictions(cfg.profile, task="hand", methods=("CNN(depth)", "mean depth"),
                             renders_dir=cfg.renders_dir)
        depth_tables = {"detector": d[d["method"] == "CNN(depth)"], "mean shape": d[d["method"] == "mean depth"]}
    folder = user_folder(task, cfg.scan_dir) if cfg.scan_dir else cohort_dir(task, cfg)
    pairs = {_stem(v): (v, m) for v, m in find_scans(folder)}
    names = list(landmark_names(task))
    modality = COHORTS[task][1]
    settings = {"modality": modality, "threshold": None,
                "table_min_mm": float(cfg.table_min_mm) if modality == "ct" else 0.0}

    def ordered(table: pd.DataFrame, subject: str, columns: list[str]) -> np.ndarray | None:
        rows = table[table["subject"].astype(str) == subject].set_index("landmark")
        return rows.loc[names, columns].to_numpy(float) if set(names) <= set(rows.index) else None

    out = []
    subjects = sorted(tables["detector"]["subject"].astype(str).unique())
    for subject in progress_bar(subjects, desc=f"3D errors {task}", progress=progress):
        scan = load_scan(*pairs[subject], task)
        proj = binarize_volume(scan.data, scan.affine, scan.landmarks_mm, modality=modality,
                               table_min_mm=settings["table_min_mm"], source=str(scan.path))
        p = to_patch(proj, task)
        prepared = PreparedScan(path=scan.path, patch=p, geometry=ScanGeometry.of(scan.data.shape, scan.affine, p),
                                projection=proj)
        fold = int(tables["detector"].loc[tables["detector"]["subject"].astype(str) == subject, "fold"].iloc[0])
        estimates = {"annotation": (p.landmarks.astype(float), p.landmark_depth.astype(float))}
        for method, table in tables.items():
            px = ordered(table, subject, ["x_pred", "y_pred"])
            if px is None:
                continue
            if task == "hand":
                depth = ordered(depth_tables[method], subject, ["depth_pred"])
                if depth is None:
                    continue
                depth = depth[:, 0]
            else:
                depth = _mid_depth(scan.data, scan.affine, prepared, px, settings["table_min_mm"])
            estimates[method] = (px, depth)
        for method, (px, depth) in estimates.items():
            world = prepared.geometry.to_world(px, depth)
            along = prepared.geometry.to_world(px, p.landmark_depth.astype(float))  # same 2D, true depth
            err = np.linalg.norm(world - scan.landmarks_mm, axis=1)
            depth_err = np.linalg.norm(world - along, axis=1)
            inplane_err = np.linalg.norm(along - scan.landmarks_mm, axis=1)
            for i, name in enumerate(names):
                out.append({"task": task, "method": method, "fold": fold, "subject": subject, "landmark": name,
                            "error_mm": err[i], "depth_error_mm": depth_err[i], "inplane_error_mm": inplane_err[i]})
    return pd.DataFrame(out)

