"""Reading and writing scans and landmark files, with one clear error per bad input.

Scans are NIfTI volumes (``.nii`` / ``.nii.gz``, read with nibabel). World coordinates are
nibabel's RAS+ millimetres: ``+x`` towards the subject's Right, ``+y`` Anterior, ``+z`` Superior.
Voxel indices follow nibabel: voxel ``(i, j, k)``'s centre is at the integer index.

Landmark files (one per scan, same stem) may be

* 3D Slicer Markups JSON (``.mrk.json``): ``markups[0].controlPoints[*]`` with ``label`` and
  ``position``; ``coordinateSystem`` ``"LPS"`` is converted to RAS, ``"RAS"`` kept;
* 3D Slicer fiducial CSV (``.fcsv``): ``# CoordinateSystem = ...`` header, rows
  ``id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID``;
* plain CSV (``.csv``): a header with ``name,x,y,z`` (mm, RAS unless a ``# LPS`` comment line says so).

Landmark names are matched to the task's names (:mod:`landmarklib.landmarks`) through an optional
``{name in file: task name}`` mapping; a missing, extra or unmatched name is one
:class:`~landmarklib.errors.LandmarkError` that names the file.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.affines import apply_affine

from ..errors import LandmarkError
from ..landmarks import landmark_names
from ..provenance import atomic_path

__all__ = ["LANDMARK_SUFFIXES", "Scan", "load_nifti", "save_nifti", "read_landmarks", "write_mrk_json", "write_fcsv", "write_landmark_csv", "find_scans", "world_to_voxel", "load_scan"]

#: Landmark file suffixes looked for next to a scan, in order of preference.
LANDMARK_SUFFIXES = (".mrk.json", ".fcsv", ".csv")


@dataclass
class Scan:
    """One volume with its landmarks.

    Attributes
    ----------
    path
        The NIfTI file.
    data
        ``(I, J, K)`` float32 voxel array, in the file's own axis order.
    affine
        ``(4, 4)`` voxel -> world RAS mm.
    landmarks_mm
        ``(k, 3)`` float64 landmarks in world RAS mm, in the task's landmark order.
    names
        The task's landmark names (order of ``landmarks_mm``).
    """

    path: Path
    data: np.ndarray
    affine: np.ndarray
    landmarks_mm: np.ndarray
    names: tuple[str, ...]

    @property
    def id(self) -> str:
        return _stem(self.path)


def _stem(path: Path) -> str:
    name = Path(path).name
    for suffix in (".nii.gz", ".nii", *LANDMARK_SUFFIXES):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


# ----------------------------------------------------------------------------------------------
# NIfTI


def load_nifti(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a 3D NIfTI volume, fully, and check it.

    Returns
    -------
    data : ndarray
        ``(I, J, K)`` float32 voxels (scaling applied).
    affine : ndarray
        ``(4, 4)`` voxel index -> world RAS mm.

    Raises
    ------
    LandmarkError
        Missing, unreadable or truncated file, not 3D, a singular affine, or non-finite voxels.
    """
    path = Path(path)
    if not path.is_file():
        raise LandmarkError(f"{path}: no such NIfTI file; check the scan folder (scan_dir)")
    try:
        img = nib.load(str(path))
        data = np.asarray(img.get_fdata(dtype=np.float32))
    except Exception as err:  # nibabel raises many types for broken files (EOFError, zlib, ...)
        raise LandmarkError(
            f"{path}: unreadable or truncated NIfTI ({type(err).__name__}: {err}); re-export the scan"
        ) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise LandmarkError(f"{path}: expected a 3D volume, got shape {data.shape}; export one 3D scan per file")
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise LandmarkError(f"{path}: the affine (voxel -> mm) is singular or not finite; fix the header")
    bad = ~np.isfinite(data)
    if bad.any():
        raise LandmarkError(
            f"{path}: {int(bad.sum())} non-finite voxels (NaN/inf); replace them (e.g. by the air value)"
        )
    return data, affine


def save_nifti(path: str | os.PathLike, data: np.ndarray, affine: np.ndarray, *, dtype: type = np.int16) -> Path:
    """Write ``data`` with ``affine`` (voxel -> RAS mm) to ``path`` atomically.

    Voxel sizes are stored in the header (zooms, from the affine); ``qform``/``sform`` code 1
    (scanner). ``dtype`` is the on-disk type (values are rounded and clipped to its range).
    """
    path = Path(path)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    arr = np.asarray(data)
    if info is not None:
        arr = np.clip(np.rint(arr), info.min, info.max)
    img = nib.Nifti1Image(arr.astype(dtype), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path


# ----------------------------------------------------------------------------------------------
# Landmark files


def _lps_to_ras(points: np.ndarray) -> np.ndarray:
    return points * np.array([-1.0, -1.0, 1.0])


def _read_mrk_json(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        doc = json.loads(path.read_text())
        markups = doc["markups"]
        labels, points = [], []
        system = None
        for markup in markups:
            system = markup.get("coordinateSystem", system or "LPS")
            for cp in markup.get("controlPoints", []):
                labels.append(str(cp["label"]))
                points.append([float(v) for v in cp["position"]])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise LandmarkError(
            f"{path}: not a 3D Slicer Markups file ({type(err).__name__}: {err}); expected "
            "markups[].controlPoints[] with label and position"
        ) from None
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if (system or "LPS").upper() == "LPS":
        pts = _lps_to_ras(pts)
    return labels, pts


def _text_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError as err:
        raise LandmarkError(f"{path}: unreadable landmark file ({err})") from None


def _read_fcsv(path: Path) -> tuple[list[str], np.ndarray]:
    lines = _text_lines(path)
    system = "LPS"
    labels, points = [], []
    for line in lines:
        if line.startswith("#"):
            if "CoordinateSystem" in line:
                value = line.split("=", 1)[-1].strip().upper()
                system = {"0": "RAS", "1": "LPS"}.get(value, value)
            continue
        if not line.strip():
            continue
        row = next(csv.reader([line]))
        try:
            points.append([float(row[1]), float(row[2]), float(row[3])])
            labels.append(row[11] if len(row) > 11 else row[0])
        except (IndexError, ValueError):
            raise LandmarkError(f"{path}: bad .fcsv row {line!r}; expected id,x,y,z,...,label,...") from None
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if system == "LPS":
        pts = _lps_to_ras(pts)
    return labels, pts


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    text = _text_lines(path)
    lps = any(line.strip().lstrip("#").strip().upper() == "LPS" for line in text if line.startswith("#"))
    rows = [line for line in text if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(rows)
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if not {"name", "x", "y", "z"} <= set(fields):
        raise LandmarkError(f"{path}: a landmark CSV needs the header name,x,y,z (mm); got {fields}")
    labels, points = [], []
    for row in reader:
        row = {k.strip().lower(): v for k, v in row.items() if k}
        try:
            points.append([float(row["x"]), float(row["y"]), float(row["z"])])
        except (TypeError, ValueError):
            raise LandmarkError(f"{path}: bad coordinates in row {row}; x,y,z must be numbers in mm") from None
        labels.append(row["name"].strip())
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return labels, (_lps_to_ras(pts) if lps else pts)


def read_landmarks(
    path: str | os.PathLike, task: str, *, names: Mapping[str, str] | None = None
) -> np.ndarray:
    """Read one landmark file and return the task's landmarks in order.

    Parameters
    ----------
    path
        ``.mrk.json``, ``.fcsv`` or ``.csv`` (see the module docstring).
    task
        ``"hand"`` or ``"body"``: decides the expected names and their order.
    names
        Optional ``{label in the file: task landmark name}``; labels not in it are used as they are.

    Returns
    -------
    ndarray
        ``(k, 3)`` float64 world RAS mm.

    Raises
    ------
    LandmarkError
        Unknown format, unparsable file, non-finite coordinates, or a missing, extra, duplicated or
        unmatched landmark name (the message lists them and the expected names).
    """
    path = Path(path)
    if not path.is_file():
        raise LandmarkError(f"{path}: no such landmark file; put one next to each scan ({', '.join(LANDMARK_SUFFIXES)})")
    name = path.name.lower()
    if name.endswith(".mrk.json") or name.endswith(".json"):
        labels, pts = _read_mrk_json(path)
    elif name.endswith(".fcsv"):
        labels, pts = _read_fcsv(path)
    elif name.endswith(".csv"):
        labels, pts = _read_csv(path)
    else:
        raise LandmarkError(f"{path}: unknown landmark format; use one of {', '.join(LANDMARK_SUFFIXES)}")
    mapping = dict(names or {})
    labels = [mapping.get(label, label) for label in labels]
    expected = landmark_names(task)
    dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
    missing = [n for n in expected if n not in labels]
    extra = [lab for lab in labels if lab not in expected]
    if dupes or missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"extra/unmatched {extra}")
        if dupes:
            parts.append(f"duplicated {dupes}")
        raise LandmarkError(
            f"{path}: landmark names do not match the {task} task: {'; '.join(parts)}. Expected exactly "
            f"{list(expected)}; rename them in the file or pass a names mapping {{label in file: task name}}"
        )
    out = np.stack([pts[labels.index(n)] for n in expected])
    if not np.all(np.isfinite(out)):
        raise LandmarkError(f"{path}: non-finite landmark coordinates; every landmark needs x, y, z in mm")
    return out


def write_mrk_json(path: str | os.PathLike, names: tuple[str, ...] | list[str], points_ras: np.ndarray) -> Path:
    """Write landmarks as a 3D Slicer Markups JSON point list (``coordinateSystem`` LPS, as Slicer does).

    ``points_ras``: ``(k, 3)`` world RAS mm.
    """
    pts = _lps_to_ras(np.asarray(points_ras, dtype=np.float64))
    doc = {
        "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
        "Resources/Schema/markups-schema-v1.0.3.json#",
        "markups": [
            {
                "type": "Fiducial",
                "coordinateSystem": "LPS",
                "coordinateUnits": "mm",
                "controlPoints": [
                    {"id": str(i + 1), "label": n, "position": [round(float(v), 4) for v in p],
                     "positionStatus": "defined"}
                    for i, (n, p) in enumerate(zip(names, pts, strict=True))
                ],
            }
        ],
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def write_fcsv(path: str | os.PathLike, names: tuple[str, ...] | list[str], points_ras: np.ndarray) -> Path:
    """Write landmarks as a Slicer ``.fcsv`` (LPS, Slicer 4.11+ header)."""
    pts = _lps_to_ras(np.asarray(points_ras, dtype=np.float64))
    lines = [
        "# Markups fiducial file version = 4.11",
        "# CoordinateSystem = LPS",
        "# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID",
    ]
    for i, (n, p) in enumerate(zip(names, pts, strict=True)):
        lines.append(f"{i + 1},{p[0]:.4f},{p[1]:.4f},{p[2]:.4f},0,0,0,1,1,1,0,{n},,")
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path


def write_landmark_csv(path: str | os.PathLike, names: tuple[str, ...] | list[str], points_ras: np.ndarray) -> Path:
    """Write landmarks as a plain ``name,x,y,z`` CSV in world RAS mm."""
    pts = np.asarray(points_ras, dtype=np.float64)
    lines = ["name,x,y,z"] + [f"{n},{p[0]:.4f},{p[1]:.4f},{p[2]:.4f}" for n, p in zip(names, pts, strict=True)]
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------------------------------------
# Scan folders


def find_scans(folder: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Pair every ``*.nii(.gz)`` in ``folder`` with its landmark file (same stem), sorted by name.

    Raises
    ------
    LandmarkError
        The folder is missing or has no NIfTI files, or a scan has no landmark file.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise LandmarkError(f"{folder}: no such scan folder; set scan_dir to a folder of *.nii(.gz) + landmark files")
    volumes = sorted(p for p in folder.iterdir() if p.name.endswith((".nii", ".nii.gz")) and not p.name.startswith("."))
    if not volumes:
        raise LandmarkError(f"{folder}: no *.nii or *.nii.gz files; put the scans there (one 3D volume per file)")
    pairs = []
    for vol in volumes:
        stem = _stem(vol)
        found = [folder / f"{stem}{s}" for s in LANDMARK_SUFFIXES if (folder / f"{stem}{s}").is_file()]
        if not found:
            raise LandmarkError(
                f"{vol}: no landmark file; add {stem}.mrk.json, {stem}.fcsv or {stem}.csv (x,y,z in mm) beside it"
            )
        pairs.append((vol, found[0]))
    return pairs


def world_to_voxel(points_ras: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``(k, 3)`` world RAS mm -> continuous voxel indices (voxel centres at integers, nibabel's convention).

    ``affine`` is the ``(4, 4)`` voxel -> world matrix of the volume (or of a reoriented view of it).
    """
    return apply_affine(np.linalg.inv(affine), np.asarray(points_ras, dtype=np.float64))


def load_scan(
    volume: str | os.PathLike,
    landmarks: str | os.PathLike,
    task: str,
    *,
    names: Mapping[str, str] | None = None,
) -> Scan:
    """Load a volume and its landmark file and check that every landmark lies inside the volume.

    Raises
    ------
    LandmarkError
        Any problem of :func:`load_nifti` or :func:`read_landmarks`, or a landmark outside the volume
        (the message names the landmark, its voxel position and the volume's shape).
    """
    data, affine = load_nifti(volume)
    pts = read_landmarks(landmarks, task, names=names)
    vox = world_to_voxel(pts, affine)
    shape = np.asarray(data.shape)
    outside = np.any((vox < -0.5) | (vox > shape - 0.5), axis=1)
    if outside.any():
        which = [landmark_names(task)[i] for i in np.flatnonzero(outside)]
        raise LandmarkError(
            f"{landmarks}: landmark(s) {which} lie outside the volume {volume} (voxel "
            f"{np.round(vox[outside][0], 1).tolist()} vs shape {list(data.shape)}); check that the file "
            "belongs to this scan and uses world mm (RAS or LPS declared)"
        )
    return Scan(path=Path(volume), data=data, affine=affine, landmarks_mm=pts, names=landmark_names(task))
