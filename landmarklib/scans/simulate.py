"""Simulated MR hand and CT whole-body cohorts (subjects, voxelizer, tissue simulation, realism ladder).

The paper's 132 MR hands and 20 CT bodies are private. This module simulates cohorts that look and
fail like them, written as NIfTI + 3D Slicer landmark files, so that the rest of the study takes the
exact path a user's own scans take (:func:`landmarklib.scans.cohorts.load_cohort` with ``scan_dir``).

Subjects (a *different* distribution from the synthetic renders, or the study would be circular)
------------------------------------------------------------------------------------------------
* Shape: anny phenotypes drawn from :class:`anny.shape_distribution.SimpleShapeDistribution` with the
  paper's age/sex mix (MR: males aged 13-24; CT: 14 female and 6 male adults aged 40-80, repeated in
  that ratio for other cohort sizes), plus **local girth changes** the renderer never uses: every
  bone's soft tissue is scaled radially about the bone segment by its own factor
  (:func:`local_girth`; MR s.d. 6 %, CT s.d. 10 %).
* Pose, around the paper's description: MR: left hand flat on the table (palm plane fitted to the
  wrist and finger-base joints, dorsum to the camera), fingers slightly spread (anny's rest hand is
  spread; deltas index -4, middle 0, ring +4, little +7 degrees towards the thumb, s.d. 2-4), thumb
  adduction 0-30 degrees or abduction up to 5 (the distance to the thumb varies), slight flexion
  0-10 degrees, in-plane rotation s.d. 6 degrees. CT: supine, arms down by the body (5-14 degrees
  from the vertical), legs slightly spread (anny's rest stance narrowed by 0-7 degrees per hip),
  feet in arbitrary positions (rotations s.d. 20 degrees about two axes), small head tilt.

Voxel content
-------------
* Inside/outside from the posed mesh by :func:`voxelize` (ray parity along the depth axis).
* Interior from the skeleton: bones as capsules along bone segments (cortical shell + marrow),
  tendons (MR, dark, dorsal to the finger bones), lungs (CT, two ellipsoids in the chest), a
  subcutaneous fat layer of subject-dependent thickness (distance to the skin), muscle/soft tissue
  elsewhere.
* Intensities: MR (arbitrary unit x 1000, stored int16): fat 1.0, marrow 0.9, muscle 0.42, tendon
  0.08, cortical bone 0.05, air 0, smooth multiplicative bias field (+-15 %), Rician noise
  (sigma 0.025). CT (HU): air -1000, lung -850, fat -100, soft tissue 40, marrow 300, cortical bone
  900-1300, Gaussian noise (sigma 20 HU).
* Partial volume at the skin: Gaussian blur of sigma 0.5 voxel before noise.
* Artefacts: CT: the patient table as two 4 mm plates (HU 250) normal to the depth axis below the
  body, 40 mm apart; MR: a faint sand bag (0.12, under the air threshold) on the back of the hand;
  motion in 30 % of the MR scans (fingers/palm blurred along the left-right axis, sigma 1.5-3 mm, and
  a 12 % ghost shifted along it).

Realism levels (issue 16)
-------------------------
Everything above is the level ``clean`` (bit for bit the cohorts before the levels existed). The
levels ``paper`` and ``hard`` add the difficulties the paper names (Sec. 3-4) with the strengths of
:data:`REALISM` (one row per named effect, one column per level; :func:`realism_table` shows it with
each effect's unit and justification). Every draw of an effect comes from its own random stream
(``[seed, ..., index, 7]``), so ``clean`` keeps the original stream and a level is deterministic for a
seed; an effect whose strength is "off" draws nothing.

Files
-----
``renders/scans/{mr_hand,ct_body}/seed<seed>-vox<x>x<depth>x<z>[-<level>]/``: ``<id>.nii.gz`` (array axes L, P, S = the
model frame's X, Y, Z; affine to RAS mm), ``<id>.mrk.json`` (3D Slicer Markups, LPS, mm) with the
"expert" landmarks: the model's exact landmark plus an annotation jitter of
:data:`ANNOTATION_JITTER_MM` (Gaussian per axis), ``subjects.csv`` (the drawn parameters),
``manifest.json`` (provenance, written last) and ``binarized-n<N>-table<mm>.npz`` (the
:class:`LandmarkSet` of the first ``N`` subjects).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

__all__ = ["ANNOTATION_JITTER_MM", "COHORTS", "LEVELS", "REALISM", "realism_table", "realism", "close_gaps", "voxelize", "paint_capsule", "torch_dtype", "local_girth", "Subject", "sample_subject", "simulate_scan"]

#: s.d. (mm, per axis) of the simulated expert's annotation error.
ANNOTATION_JITTER_MM = {"hand": 1.0, "body": 2.0}
#: task -> (folder name, modality).
COHORTS = {"hand": ("mr_hand", "mr"), "body": ("ct_body", "ct")}

#: The realism levels, from today's cohorts to stronger-than-the-paper difficulties.
LEVELS = ("clean", "paper", "hard")

#: effect -> {level: strength}. ``None`` or 0 = off. Ranges ``(lo, hi)`` are drawn uniformly per
#: subject. Units, the task and the justification of each row: :data:`REALISM_NOTES`.
REALISM: dict[str, dict[str, Any]] = {
    # MR hand
    "thumb_extra_sd_deg": {"clean": 0.0, "paper": 5.0, "hard": 15.0},
    "finger_spread_extra_sd_deg": {"clean": 0.0, "paper": 2.0, "hard": 5.0},
    "finger_flexion_scale": {"clean": 1.0, "paper": 0.2, "hard": 1.0},
    "touching_fingers_prob": {"clean": 0.0, "paper": 0.2, "hard": 0.5},
    "touching_fingers_gap_mm": {"clean": 0.0, "paper": 3.0, "hard": 6.0},
    "motion_prob": {"clean": 0.3, "paper": 0.4, "hard": 0.6},
    "motion_blur_scale": {"clean": 1.0, "paper": 1.5, "hard": 2.5},
    "forearm_mm": {"clean": None, "paper": (0.0, 40.0), "hard": (20.0, 80.0)},
    "sandbag_gap_mm": {"clean": 1.0, "paper": 0.0, "hard": 0.0},
    "sandbag_intensity": {"clean": 0.12, "paper": 0.16, "hard": 0.24},
    "fov_depth_sd_mm": {"clean": None, "paper": None, "hard": 5.0},
    # CT body
    "arm_adduction_deg": {"clean": 0.0, "paper": 4.0, "hard": 8.0},
    "touching_body_prob": {"clean": 0.0, "paper": 0.5, "hard": 0.8},
    "touching_body_gap_mm": {"clean": 0.0, "paper": 10.0, "hard": 20.0},
    "hip_spread_extra_deg": {"clean": 0.0, "paper": 5.0, "hard": 10.0},
    "knee_flexion_deg": {"clean": 0.0, "paper": 15.0, "hard": 30.0},
    "foot_rotation_scale": {"clean": 1.0, "paper": 1.5, "hard": 2.0},
    "fov_width_mm": {"clean": None, "paper": (480.0, 600.0), "hard": (420.0, 520.0)},
    "table_plate_mm": {"clean": (4.0, 4.0), "paper": (3.0, 8.0), "hard": (3.0, 12.0)},
    "cushion_prob": {"clean": 0.0, "paper": 0.5, "hard": 0.9},
    "blanket_prob": {"clean": 0.0, "paper": 0.3, "hard": 0.6},
    "habitus_sd": {"clean": 0.0, "paper": 0.08, "hard": 0.15},
}

#: effect -> (task, unit, what it does and why this strength).
REALISM_NOTES: dict[str, tuple[str, str, str]] = {
    "thumb_extra_sd_deg": ("hand", "deg", "extra s.d. of the thumb's adduction: 'the distances between the fingers, "
                           "especially to the thumb, varies among the volunteers' (Sec. 3)"),
    "finger_spread_extra_sd_deg": ("hand", "deg", "extra s.d. of each finger's spread ('slightly spread fingers', Sec. 3)"),
    "finger_flexion_scale": ("hand", "x", "factor on the fingers' flexion (clean 0-10 deg): 'in most of the images, "
                             "contraction of the fingers could be ignored' (Sec. 3); it sets the fingertip depth "
                             "spread: at 0.2 its mean over the fingers is the paper's ~3.16 voxels (1 mm, Sec. 3)"),
    "touching_fingers_prob": ("hand", "fraction", "subjects whose neighbouring fingers touch (silhouettes merge)"),
    "touching_fingers_gap_mm": ("hand", "mm", "gaps between fingers narrower than this are closed (soft tissue in contact)"),
    "motion_prob": ("hand", "fraction", "scans with motion: 'palms and fingers are often not clearly visible "
                    "in the images due to movement artifacts' (Sec. 4); clean: 0.3"),
    "motion_blur_scale": ("hand", "x", "factor on the motion blur's s.d. (clean 1.5-3 mm)"),
    "forearm_mm": ("hand", "mm", "length of forearm inside the field of view, cut by its border (the crop to the "
                   "object then moves the landmarks inside the patch); clean: no forearm"),
    "sandbag_gap_mm": ("hand", "mm", "gap between the half-kilo sand bag and the back of the hand (Sec. 3): 0 = contact"),
    "sandbag_intensity": ("hand", "x fat", "the bag's MR signal; the air threshold is about 0.25 (0.25 x the "
                          "99.5th percentile), so 0.24 plus the bias field crosses it in places"),
    "fov_depth_sd_mm": ("hand", "mm", "the field of view's edge behind the back of the hand is placed by the "
                        "operator, not fitted to the hand: its distance varies with this s.d. and shifts every "
                        "landmark's depth alike (clean, paper: a fixed 18 mm margin; the paper level's spread "
                        "already matches without it)"),
    "arm_adduction_deg": ("body", "deg", "arms up to this much closer to the trunk ('hands close to the body', Sec. 3)"),
    "touching_body_prob": ("body", "fraction", "subjects whose hands/arms touch the trunk or thighs (merge)"),
    "touching_body_gap_mm": ("body", "mm", "left-right gaps narrower than this are closed in touching subjects"),
    "hip_spread_extra_deg": ("body", "deg", "up to this much more leg spread ('legs have the highest variation in articulation')"),
    "knee_flexion_deg": ("body", "deg", "knee flexion up to this (a knee cushion raises the knees)"),
    "foot_rotation_scale": ("body", "x", "factor on the feet's rotation s.d. (clean 20 deg; 'the feet could be in an "
                            "arbitrary position')"),
    "fov_width_mm": ("body", "mm", "reconstruction field of view (left-right); arms beyond it are cut (air)"),
    "table_plate_mm": ("body", "mm", "thickness of each of the table's two plates (Sec. 2.1: 'two thin plates')"),
    "cushion_prob": ("body", "fraction", "scans with positioning aids: a knee wedge (20-80 mm) and a head rest "
                     "(-350 to -150 HU, above the -400 HU air threshold) between table and body"),
    "blanket_prob": ("body", "fraction", "scans with a folded blanket (5-15 mm, -300 HU) over the legs"),
    "habitus_sd": ("body", "log s.d.", "one girth factor for the whole body (weight across adult cancer patients)"),
}


def realism(level: str) -> dict[str, Any]:
    """``{effect: strength}`` of ``level`` (one of :data:`LEVELS`); a clear error otherwise."""
    if level not in LEVELS:
        from ..errors import LandmarkError

        raise LandmarkError(f"unknown realism level {level!r}; choose one of: {', '.join(LEVELS)}")
    return {effect: row[level] for effect, row in REALISM.items()}


def realism_table() -> Any:
    """:data:`REALISM` as a DataFrame for the book: one row per effect, task, unit, one column per level, why."""
    import pandas as pd

    rows = [{"effect": e, "task": REALISM_NOTES[e][0], "unit": REALISM_NOTES[e][1],
             **{lv: "off" if row[lv] is None else str(row[lv]) for lv in LEVELS}, "why": REALISM_NOTES[e][2]}
            for e, row in REALISM.items()]
    return pd.DataFrame(rows).set_index("effect")


def _realism_rng(*key: int) -> np.random.Generator:
    """The effects' own stream (never the clean draws')."""
    return np.random.default_rng([*(int(k) for k in key), 7])


def _span(value: Any, rng: np.random.Generator) -> float:
    lo, hi = value
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


# ----------------------------------------------------------------------------------------------
# Voxelizer


def voxelize(vertices: np.ndarray, faces: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Inside/outside of a closed triangle mesh on a voxel grid, by ray parity along axis 1.

    For every ``(i, k)`` column a ray runs along axis 1 (the depth axis); every triangle it crosses
    toggles inside/outside from the first voxel centre beyond the crossing. Columns with an odd
    number of crossings (a hole in the mesh, e.g. the hand's open wrist) drop their last crossing.
    Fully vectorised in numpy; hand-written because no installed library voxelizes meshes.

    Parameters
    ----------
    vertices
        ``(V, 3)`` vertex positions in continuous voxel indices (voxel centres at integers).
    faces
        ``(F, 3)`` int triangle vertex indices.
    shape
        ``(nx, ny, nz)`` grid shape.

    Returns
    -------
    ndarray
        ``shape`` bool, True inside.
    """
    nx, ny, nz = shape
    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces)]  # (F, 3 corners, 3)
    # Rays sit at integer (i, k); a tiny irrational offset of the mesh avoids hitting edges exactly.
    tri = tri - np.array([1e-5 * np.pi, 0.0, 1e-5 * np.e])
    xs, zs = tri[:, :, 0], tri[:, :, 2]
    i0 = np.clip(np.ceil(xs.min(1)), 0, nx).astype(np.int64)
    i1 = np.clip(np.floor(xs.max(1)), -1, nx - 1).astype(np.int64)
    k0 = np.clip(np.ceil(zs.min(1)), 0, nz).astype(np.int64)
    k1 = np.clip(np.floor(zs.max(1)), -1, nz - 1).astype(np.int64)
    ni, nk = np.maximum(i1 - i0 + 1, 0), np.maximum(k1 - k0 + 1, 0)
    counts = ni * nk
    tid = np.repeat(np.arange(len(tri)), counts)  # one row per (triangle, candidate column)
    local = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    ci = i0[tid] + local // nk[tid]
    ck = k0[tid] + local % nk[tid]
    a, b, c = tri[tid, 0], tri[tid, 1], tri[tid, 2]
    # 2D barycentric coordinates of the column (ci, ck) in the triangle's (x, z) projection.
    v0x, v0z = b[:, 0] - a[:, 0], b[:, 2] - a[:, 2]
    v1x, v1z = c[:, 0] - a[:, 0], c[:, 2] - a[:, 2]
    px, pz = ci - a[:, 0], ck - a[:, 2]
    den = v0x * v1z - v1x * v0z
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    u = (px * v1z - v1x * pz) / den
    v = (v0x * pz - px * v0z) / den
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1)
    y = a[:, 1] + u * (b[:, 1] - a[:, 1]) + v * (c[:, 1] - a[:, 1])
    ci, ck, y = ci[hit], ck[hit], y[hit]
    # Odd columns (open mesh): drop their deepest crossing.
    col = ci * nz + ck
    order = np.lexsort((y, col))
    col, ci, ck, y = col[order], ci[order], ck[order], y[order]
    ncol = np.bincount(col, minlength=nx * nz)
    last = np.r_[col[1:] != col[:-1], True]
    keep = ~(last & (ncol[col] % 2 == 1))
    ci, ck, y = ci[keep], ck[keep], y[keep]
    j = np.clip(np.ceil(y), 0, ny).astype(np.int64)
    toggles = np.zeros((nx, ny + 1, nz), dtype=np.uint8)
    np.add.at(toggles, (ci, j, ck), 1)
    toggles &= 1
    inside = np.bitwise_xor.accumulate(toggles, axis=1)[:, :ny]
    return inside.astype(bool)


def paint_capsule(
    target: np.ndarray, p0: np.ndarray, p1: np.ndarray, radius_mm: float, spacing: np.ndarray
) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """Distance (mm) from voxels near segment ``p0``-``p1`` (voxel coordinates) to the segment.

    Returns the sub-block slices of ``target``'s grid within ``radius_mm`` of the segment's bounding
    box and the ``(a, b, c)`` distances there, or ``None`` when the capsule misses the grid.
    """
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    r_vox = radius_mm / spacing
    lo = np.floor(np.minimum(p0, p1) - r_vox).astype(int)
    hi = np.ceil(np.maximum(p0, p1) + r_vox).astype(int) + 1
    lo, hi = np.maximum(lo, 0), np.minimum(hi, target.shape)
    if np.any(hi <= lo):
        return None
    grids = np.meshgrid(*[np.arange(lo[d], hi[d]) for d in range(3)], indexing="ij", sparse=True)
    pts = [g * s for g, s in zip(grids, spacing, strict=True)]  # mm
    a, d = p0 * spacing, (p1 - p0) * spacing
    dd = float(d @ d)
    rel = [pts[i] - a[i] for i in range(3)]
    t = np.clip(sum(rel[i] * d[i] for i in range(3)) / dd, 0, 1) if dd > 0 else 0.0
    dist = np.sqrt(sum((rel[i] - t * d[i]) ** 2 for i in range(3)))
    return tuple(slice(lo[d], hi[d]) for d in range(3)), dist


# ----------------------------------------------------------------------------------------------
# anny (the minimum this module needs; the renderer has its own wrapper)


def _model(task: str):  # noqa: ANN202 - anny type
    """The renderer's anny model (:func:`landmarklib.synth.bodymodel.load_model`: float32, cached per process)."""
    from ..synth.bodymodel import load_model

    return load_model(task)


def torch_dtype():  # noqa: ANN201
    import torch

    return torch.float32  # the renderer's dtype too, so warp's compiled skinning kernel is shared


def _rot(axis: tuple[float, float, float], deg: float) -> np.ndarray:
    """``(3, 3)`` rotation by ``deg`` degrees about ``axis`` (right-handed; normalised here)."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return Rotation.from_rotvec(np.deg2rad(deg) * axis).as_matrix()


def _palm_frame(verts: np.ndarray, heads: np.ndarray, labels: list[str]) -> np.ndarray:
    """``(3, 3)`` rotation hand model -> project frame: palm flat on the table (palm +Y), fingers +Z.

    The palm plane is fitted (PCA) to the wrist and the four finger-base joints; the finger direction
    is wrist -> middle-finger base; the palm side is the hand model's +X (the side the fingers curl to).
    """
    names = ["wrist.L", "finger2-1.L", "finger3-1.L", "finger4-1.L", "finger5-1.L", "metacarpal2.L",
             "metacarpal3.L", "metacarpal4.L"]
    pts = heads[[labels.index(n) for n in names]]
    normal = np.linalg.svd(pts - pts.mean(0))[2][2]
    normal = normal if normal[0] > 0 else -normal
    fingers = heads[labels.index("finger3-1.L")] - heads[labels.index("wrist.L")]
    fingers = fingers - (fingers @ normal) * normal
    fingers /= np.linalg.norm(fingers)
    side = np.cross(normal, fingers)  # towards the thumb
    return np.stack([side, normal, fingers])  # rows: frame X, Y, Z in model coordinates


@functools.lru_cache(maxsize=2)
def _arm_rest_deg() -> float:
    """Angle of anny's rest (A-pose) left arm from the vertical, shoulder -> wrist, degrees."""
    from ..synth.bodymodel import _rest

    model = _model("body")
    labels = list(model.bone_labels)
    heads = _rest(model)["bone_poses"][0, :, :3, 3].double().numpy()
    arm = heads[labels.index("wrist.L")] - heads[labels.index("upperarm01.L")]
    return float(np.degrees(np.arctan2(arm[0], -arm[2])))


def _landmarks(task: str, verts: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """``(k, 3)`` exact landmarks, defined exactly as the renderer defines them
    (:func:`landmarklib.synth.bodymodel.landmark_definition`)."""
    from ..synth.bodymodel import landmark_definition

    definition = landmark_definition(task)
    return np.stack([
        verts[i] if kind == "vertex" else heads[i] for kind, i in zip(definition.kind, definition.index, strict=True)
    ])


def local_girth(
    vertices: np.ndarray, heads: np.ndarray, parents: list[int], bone_index: np.ndarray,
    bone_weight: np.ndarray, factors: np.ndarray,
) -> np.ndarray:
    """Scale soft tissue radially about each bone segment (a local shape change).

    Each vertex moves away from (factor > 1) or towards the closest point of its dominant bone's
    segment (parent head -> bone head) by the skinning-weighted mean of the bones' factors.

    Parameters
    ----------
    vertices
        ``(V, 3)`` posed vertices.
    heads
        ``(J, 3)`` posed bone heads.
    parents
        ``(J,)`` parent index per bone (``-1`` for the root).
    bone_index, bone_weight
        ``(V, K)`` skinning indices and weights.
    factors
        ``(J,)`` radial scale per bone.
    """
    dominant = bone_index[np.arange(len(bone_index)), bone_weight.argmax(1)]
    par = np.asarray(parents)[dominant]
    a = np.where(par[:, None] >= 0, heads[np.maximum(par, 0)], heads[dominant])
    b = heads[dominant]
    d = b - a
    dd = np.maximum((d * d).sum(1), 1e-12)
    t = np.clip(((vertices - a) * d).sum(1) / dd, 0, 1)
    closest = a + t[:, None] * d
    scale = (bone_weight * factors[bone_index]).sum(1) / np.maximum(bone_weight.sum(1), 1e-12)
    return closest + (vertices - closest) * scale[:, None]


@dataclass
class Subject:
    """One simulated subject: posed mesh in the project frame (metres) and its exact landmarks."""

    id: str
    vertices: np.ndarray  # (V, 3) m, project frame
    faces: np.ndarray  # (F, 3)
    heads: np.ndarray  # (J, 3) m, bone heads
    parents: list[int]
    labels: list[str]
    landmarks: np.ndarray  # (k, 3) m, exact
    params: dict[str, Any] = field(default_factory=dict)


#: Sign of a rotation about the lower leg's X axis that flexes the knee (checked in the tests).
_KNEE_FLEXION_SIGN = 1.0


def _subject_rng(seed: int, task: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), 4 if task == "hand" else 20, int(index)])


def sample_subject(task: str, index: int, seed: int, realism_level: str = "clean") -> Subject:
    """Draw subject ``index`` of a cohort: phenotype, local girth changes and pose (see module doc),
    with the pose and habitus effects of ``realism_level`` (:data:`REALISM`)."""
    import torch

    fx = realism(realism_level)
    rr = _realism_rng(seed, 4 if task == "hand" else 20, index)

    model = _model(task)  # sets ANNY_CACHE_DIR before anny is imported
    from anny.shape_distribution import SimpleShapeDistribution

    rng = _subject_rng(seed, task, index)
    dtype = torch_dtype()
    labels = list(model.bone_labels)
    if task == "hand":
        age, gender = rng.uniform(13, 24), rng.uniform(0.0, 0.1)  # anny: gender <= 0.5 is male
    else:
        female = (index % 10) not in (2, 5, 8)  # 14 of 20 female, the same ratio for other sizes
        age = rng.uniform(40, 80)
        gender = rng.uniform(0.9, 1.0) if female else rng.uniform(0.0, 0.1)
    with torch.random.fork_rng():
        torch.manual_seed(int(rng.integers(2**31)))
        dist = SimpleShapeDistribution(
            model,
            morphological_age_distribution=torch.distributions.Uniform(
                torch.tensor(age - 1e-3, dtype=dtype), torch.tensor(age + 1e-3, dtype=dtype)
            ),
            gender_distribution=torch.distributions.Uniform(
                torch.tensor(gender, dtype=dtype), torch.tensor(gender + 1e-6, dtype=dtype)
            ),
        )
        _, pheno = dist.sample(1)
    pose: dict[str, np.ndarray] = {}
    params: dict[str, Any] = {"age_years": round(float(age), 2), "sex": "M" if gender < 0.5 else "F"}
    params.update({f"anny_{k}": round(float(v[0]), 4) for k, v in pheno.items()})
    if task == "hand":
        u0 = model.reference_bone_orientations[0].double().numpy()[:3, :3]
        # anny's rest hand is already spread; these deltas close it to "slightly spread" fingers
        spreads = {2: rng.normal(-4, 3), 3: rng.normal(0, 2), 4: rng.normal(4, 3), 5: rng.normal(7, 4)}
        thumb = rng.uniform(-30, 5)  # adduction towards the index varies the thumb distance
        if fx["thumb_extra_sd_deg"]:
            thumb = float(np.clip(thumb + rr.normal(0, fx["thumb_extra_sd_deg"]), -45, 20))
        if fx["finger_spread_extra_sd_deg"]:
            spreads = {f: a + rr.normal(0, fx["finger_spread_extra_sd_deg"]) for f, a in spreads.items()}
        params.update(thumb_abduction=round(float(thumb), 2))
        for f, ang in spreads.items():
            r = _rot((1, 0, 0), ang) @ _rot((0, 0, 1), -rng.uniform(0, 10) * fx["finger_flexion_scale"])
            pose[f"finger{f}-1.L"] = u0 @ r @ u0.T
        pose["finger1-1.L"] = u0 @ _rot((1, 0, 0), thumb) @ u0.T
        girth_sd = 0.06
    else:
        # arms down by the body: 5-14 degrees from vertical (anny's A-pose is about 45)
        target = rng.uniform(5, 14, size=2)
        if fx["arm_adduction_deg"]:  # closer to the trunk, never through it
            target = np.maximum(target - rr.uniform(0, fx["arm_adduction_deg"], size=2), 1.0)
        arm = _arm_rest_deg() - target
        leg = rng.uniform(-7, 0, size=2)  # anny's rest legs are already apart: close them a little
        if fx["hip_spread_extra_deg"]:
            leg = leg + rr.uniform(0, fx["hip_spread_extra_deg"], size=2)
        pose["upperarm01.L"], pose["upperarm01.R"] = _rot((0, 1, 0), arm[0]), _rot((0, 1, 0), -arm[1])
        pose["upperleg01.L"], pose["upperleg01.R"] = _rot((0, 1, 0), -leg[0]), _rot((0, 1, 0), leg[1])
        for side in "LR":
            k = float(fx["foot_rotation_scale"])
            pose[f"foot.{side}"] = _rot((0, 0, 1), k * rng.normal(0, 20)) @ _rot((1, 0, 0), k * rng.normal(0, 20))
        if fx["knee_flexion_deg"]:
            knee = rr.uniform(0, fx["knee_flexion_deg"], size=2)
            for side, ang in zip("LR", knee, strict=True):  # the knee rises, the heel stays near the table
                pose[f"lowerleg01.{side}"] = _rot((1, 0, 0), _KNEE_FLEXION_SIGN * ang)
                pose[f"upperleg01.{side}"] = pose[f"upperleg01.{side}"] @ _rot((1, 0, 0), -_KNEE_FLEXION_SIGN * ang / 2)
            params.update(knee_deg=knee.round(2).tolist())
        pose["neck01"] = _rot((1, 0, 0), rng.normal(0, 5))
        params.update(arm_deg=arm.round(2).tolist(), leg_deg=leg.round(2).tolist())
        girth_sd = 0.10
    eye = np.eye(4)
    pose_t = {}
    for name, r in pose.items():
        m = eye.copy()
        m[:3, :3] = r
        pose_t[name] = torch.tensor(m, dtype=dtype)[None]
    with torch.no_grad():
        out = model(pose_parameters=pose_t, phenotype_kwargs={k: v.to(dtype) for k, v in pheno.items()})
    verts = out["vertices"][0].double().numpy()
    heads = out["bone_poses"][0, :, :3, 3].double().numpy()
    parents = [int(p) for p in model.bone_parents]
    factors = np.clip(rng.normal(1.0, girth_sd, size=len(labels)), 0.75, 1.3)
    if task == "body" and fx["habitus_sd"]:
        habitus = float(np.exp(rr.normal(0, fx["habitus_sd"])))
        factors = factors * habitus
        params.update(habitus=round(habitus, 3))
    verts = local_girth(
        verts, heads, parents, model.vertex_bone_indices.numpy(), model.vertex_bone_weights.double().numpy(),
        factors,
    )
    lms = _landmarks(task, verts, heads)
    if task == "hand":
        rot = _rot((0, 1, 0), rng.normal(0, 6)) @ _palm_frame(verts, heads, labels)  # + in-plane rotation
        origin = heads[labels.index("wrist.L")]
        verts, heads, lms = ((p - origin) @ rot.T for p in (verts, heads, lms))
    faces = model.get_triangular_faces().numpy().astype(np.int64)
    if task == "body":  # the eyeballs are separate closed surfaces inside the head: parity would carve them out
        dominant = model.vertex_bone_indices.numpy()[np.arange(len(verts)), model.vertex_bone_weights.numpy().argmax(1)]
        eyes = np.isin(dominant, [labels.index("eye.L"), labels.index("eye.R")])
        faces = faces[~eyes[faces].any(axis=1)]
    return Subject(
        id=f"{'mr' if task == 'hand' else 'ct'}{index:03d}", vertices=verts, faces=faces, heads=heads,
        parents=parents, labels=labels, landmarks=lms, params=params,
    )


# ----------------------------------------------------------------------------------------------
# Realism effects (REALISM); each draws from the effects' stream only

def close_gaps(inside: np.ndarray, gap_mm: float, spacing_x: float) -> np.ndarray:
    """Fill left-right (axis 0) gaps narrower than ``gap_mm`` between inside voxels (touching parts).

    A binary closing with a line along axis 0 (:func:`scipy.ndimage.binary_closing`); the volume's
    border counts as outside, so nothing grows beyond the object.
    """
    n = max(int(round(gap_mm / spacing_x)), 1) + 1
    structure = np.ones((n, 1, 1), bool)
    return inside | ndimage.binary_closing(inside, structure=structure)


def _forearm(verts_v: np.ndarray, shape: tuple[int, ...], sp: np.ndarray) -> np.ndarray:
    """An elliptic cylinder from the grid's lower z border up to just past the hand mesh's wrist opening,
    as wide and thick as the wrist (the forearm, cut by the field of view)."""
    zmin = verts_v[:, 2].min()
    ring = verts_v[verts_v[:, 2] < zmin + 5.0 / sp[2]]
    lo, hi = ring.min(0), ring.max(0)
    ctr, half = (lo + hi) / 2, np.maximum((hi - lo) / 2, 1.0)
    g = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    ellipse = ((g[0] - ctr[0]) / half[0]) ** 2 + ((g[1] - ctr[1]) / half[1]) ** 2 <= 1
    out = np.zeros(shape, bool)
    out[:, :, : int(np.ceil(zmin + 3.0 / sp[2]))] = ellipse[:, :, None]
    return out


def _box(vol: np.ndarray, x: tuple[float, float], y: tuple[int, int], z: tuple[float, float], value: float,
         free: np.ndarray) -> None:
    """Set ``vol`` to ``value`` where ``free`` in the voxel box (clipped to the grid)."""
    sl = tuple(slice(max(int(a), 0), max(min(int(b), n), 0)) for (a, b), n in zip((x, y, z), vol.shape, strict=True))
    vol[sl][free[sl]] = value


def _cushions(vol: np.ndarray, inside: np.ndarray, subject: Subject, to_vox: Any, sp: np.ndarray, table_y: int,
              rng: np.random.Generator) -> dict[str, float]:
    """Positioning aids between the body and the table: a knee wedge and a head rest (foam, in air only)."""
    hu = float(rng.uniform(-350, -150))
    knees = [to_vox(subject.heads[subject.labels.index(f"lowerleg01.{s}")]) for s in "LR"]
    head = to_vox(subject.heads[subject.labels.index("head")])
    wedge = float(rng.uniform(20, 80))
    kx = (min(k[0] for k in knees) - 80 / sp[0], max(k[0] for k in knees) + 80 / sp[0])
    kz = (min(k[2] for k in knees) - 150 / sp[2], max(k[2] for k in knees) + 150 / sp[2])
    _box(vol, kx, (table_y - int(round(wedge / sp[1])), table_y), kz, hu, ~inside)
    _box(vol, (head[0] - 100 / sp[0], head[0] + 100 / sp[0]), (table_y - int(round(40 / sp[1])), table_y),
         (head[2] - 200 / sp[2], head[2] + 120 / sp[2]), hu, ~inside)
    return {"hu": round(hu, 1), "knee_wedge_mm": round(wedge, 1)}


def _blanket(vol: np.ndarray, inside: np.ndarray, subject: Subject, to_vox: Any, sp: np.ndarray,
             rng: np.random.Generator) -> float:
    """A folded blanket over the legs: a sheet on the most anterior leg surface of each z slice, spanning
    both legs and the gap between them (in air only)."""
    thick = float(rng.uniform(10, 25))
    hips = to_vox(subject.heads[subject.labels.index("upperleg01.L")])[2]
    feet = min(to_vox(subject.heads[subject.labels.index(f"foot.{s}")])[2] for s in "LR")
    t = max(int(round(thick / sp[1])), 1)
    for k in range(max(int(feet), 0), min(int(hips), inside.shape[2])):
        cols = np.flatnonzero(inside[:, :, k].any(axis=1))
        if cols.size == 0:
            continue
        front = int(np.flatnonzero(inside[:, :, k].any(axis=0)).min())
        xs = slice(max(cols.min() - int(30 / sp[0]), 0), cols.max() + int(30 / sp[0]) + 1)
        ys = slice(max(front - t, 0), front)
        block = vol[xs, ys, k]
        block[~inside[xs, ys, k]] = -300.0
    return round(thick, 1)


# ----------------------------------------------------------------------------------------------
# Tissue simulation


def _grid(points_m: np.ndarray, spacing: np.ndarray, margin_mm: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    lo = points_m.min(0) * 1000 - margin_mm[0]
    hi = points_m.max(0) * 1000 + margin_mm[1]
    lo = np.floor(lo / spacing) * spacing
    shape = tuple(int(v) for v in np.ceil((hi - lo) / spacing) + 1)
    return lo, shape


def _affine(origin_mm: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Voxel (L, P, S array axes = model X, Y, Z) -> RAS mm: RAS = (-X, -Y, Z)."""
    aff = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    aff[:3, 3] = origin_mm * np.array([-1.0, -1.0, 1.0])
    return aff


def _skin_distance(inside: np.ndarray, spacing: np.ndarray, resolution_mm: float) -> np.ndarray:
    """Distance (mm) from inside voxels to the skin, computed on a grid of about ``resolution_mm``.

    The exact transform of a whole-body volume dominates the simulation time; the tissue layers it
    drives (fat 1.5-30 mm, lung margin, skull) need only millimetre precision, so the mask is
    subsampled by an integer factor per axis, transformed, and repeated back.
    """
    step = np.maximum(np.floor(resolution_mm / spacing), 1).astype(int)
    if np.all(step == 1):
        return ndimage.distance_transform_edt(inside, sampling=spacing).astype(np.float32)
    small = inside[:: step[0], :: step[1], :: step[2]]
    dist = ndimage.distance_transform_edt(small, sampling=spacing * step).astype(np.float32)
    for axis, k in enumerate(step):
        dist = np.repeat(dist, k, axis=axis)
    dist = dist[: inside.shape[0], : inside.shape[1], : inside.shape[2]]
    return np.where(inside, dist, 0.0)


def _segments(subject: Subject, task: str) -> list[tuple[int, int, float]]:
    """Bone segments (parent, child, radius mm) for the interior."""
    out = []
    for j, p in enumerate(subject.parents):
        if p < 0:
            continue
        name, pname = subject.labels[j], subject.labels[p]
        if task == "hand":
            if pname in ("root", "wrist.L"):
                continue
            r = 4.0 if "metacarpal" in pname or pname.endswith("-1.L") else 3.2
            out.append((p, j, r))
        else:
            base = pname.split(".")[0]
            radius = {
                "upperleg01": 13, "upperleg02": 13, "lowerleg01": 11, "lowerleg02": 10, "upperarm01": 11,
                "upperarm02": 10, "lowerarm01": 8, "lowerarm02": 7, "spine05": 20, "spine04": 18,
                "spine03": 17, "spine02": 16, "spine01": 15, "neck01": 11, "neck02": 11, "neck03": 11,
                "clavicle": 6, "foot": 9, "metacarpal1": 4, "metacarpal2": 4, "metacarpal3": 4,
                "metacarpal4": 4, "wrist": 5,
            }.get(base)
            if radius is None and name.endswith(("-2.L", "-2.R", "-3.L", "-3.R")):
                radius = 3
            if radius is not None:
                out.append((p, j, float(radius)))
    return out


def simulate_scan(
    subject: Subject, task: str, *, spacing_mm: tuple[float, float, float], seed: int, index: int,
    realism_level: str = "clean",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Voxelize a subject and fill it with tissue, noise and artefacts (see the module docstring),
    with the scan effects of ``realism_level`` (:data:`REALISM`).

    Returns
    -------
    volume : ndarray
        ``(nx, ny, nz)`` float32 (MR: arbitrary unit x 1000; CT: HU); array axes = model X, Y, Z.
    affine : ndarray
        ``(4, 4)`` voxel -> RAS mm.
    info : dict
        Artefacts drawn (motion, table position, ...).
    """
    rng = np.random.default_rng([int(seed), 99, 4 if task == "hand" else 20, int(index)])
    fx = realism(realism_level)
    rr = _realism_rng(seed, 99, 4 if task == "hand" else 20, index)
    sp = np.asarray(spacing_mm, dtype=np.float64)
    info: dict[str, Any] = {}
    if task == "hand":
        margin = (np.array([12.0, 18.0, 6.0]), np.array([12.0, 8.0, 10.0]))  # sand bag room in front (-Y)
        if fx["fov_depth_sd_mm"]:  # the field of view's back edge placed by the operator, not fitted to the hand
            sd = fx["fov_depth_sd_mm"]
            offset = float(np.clip(rr.normal(0, sd), -2.5 * sd, 2.5 * sd))
            margin[0][1] = 18.0 + 2.5 * sd + offset  # never under the fixed 18 mm (the sand bag's room)
            info["fov_offset_mm"] = round(offset, 2)
        forearm = _span(fx["forearm_mm"], rr) if fx["forearm_mm"] else 0.0
        if forearm > 0:  # the field of view ends this far below the hand mesh: the forearm is cut there
            margin[0][2] = forearm
            info["forearm_mm"] = round(forearm, 1)
    else:
        margin = (np.array([20.0, 20.0, 15.0]), np.array([20.0, 70.0, 15.0]))  # table room behind (+Y)
    origin, shape = _grid(subject.vertices, sp, margin)
    to_vox = lambda p: (np.asarray(p) * 1000 - origin) / sp  # noqa: E731 - m -> voxel index
    inside = voxelize(to_vox(subject.vertices), subject.faces, shape)
    if task == "hand" and info.get("forearm_mm"):
        inside |= _forearm(to_vox(subject.vertices), shape, sp)
    touch = "touching_fingers" if task == "hand" else "touching_body"
    if fx[f"{touch}_prob"] and rr.random() < fx[f"{touch}_prob"]:
        z0 = int(to_vox(subject.heads[subject.labels.index("finger3-1.L")])[2]) if task == "hand" else 0
        inside[:, :, z0:] = close_gaps(inside[:, :, z0:], fx[f"{touch}_gap_mm"], sp[0])
        info["touching_gap_mm"] = fx[f"{touch}_gap_mm"]
    skin_dist = _skin_distance(inside, sp, 1.0 if task == "hand" else 3.0)  # mm to the skin, inside
    bone = np.zeros(shape, np.float32)  # 0 none, 1 cortical, 2 marrow
    tendon = np.zeros(shape, bool)
    heads_v = to_vox(subject.heads)
    for p, j, r in _segments(subject, task):
        hit = paint_capsule(bone, heads_v[p], heads_v[j], r, sp)
        if hit is None:
            continue
        sl, dist = hit
        shell = 1.0 if task == "hand" else 2.5
        block = bone[sl]
        block[(dist <= r) & (block == 0)] = 1
        block[dist <= r - shell] = 2
        if task == "hand":
            off = np.array([0.0, -(r + 1.2), 0.0]) / sp  # dorsal (camera side, -Y)
            hit_t = paint_capsule(bone, heads_v[p] + off, heads_v[j] + off, 0.9, sp)
            if hit_t is not None:
                tendon[hit_t[0]] |= hit_t[1] <= 0.9
    bone[~inside] = 0
    tendon &= inside
    if task == "body":
        head_i = subject.labels.index("head")
        skull = paint_capsule(bone, heads_v[head_i], heads_v[head_i] + np.array([0, 0, 90]) / sp, 80, sp)
        if skull is not None:
            sl, dist = skull
            block = bone[sl]
            shell = (dist <= 80) & inside[sl] & (skin_dist[sl] > 4) & (skin_dist[sl] < 12)
            block[shell] = 1
    fat_mm = rng.uniform(1.5, 3.5) if task == "hand" else 5 + 25 * float(subject.params.get("anny_weight", 0.5))
    fat = inside & (skin_dist < fat_mm) & (bone == 0)
    info["fat_mm"] = round(float(fat_mm), 2)
    if task == "hand":
        vol = np.zeros(shape, np.float32)
        vol[inside] = 0.42
        vol[fat] = 1.0
        vol[bone == 2] = 0.9
        vol[bone == 1] = 0.05
        vol[tendon & (bone == 0)] = 0.08
        # faint sand bag on the back of the hand (in front, -Y), over the metacarpus
        ctr = to_vox(subject.heads[subject.labels.index("metacarpal2.L")] * 0.5
                     + subject.heads[subject.labels.index("finger3-1.L")] * 0.5)
        dorsum = to_vox(subject.vertices)[:, 1].min()
        axes = np.array([40.0, 7.0, 35.0]) / sp
        ctr[1] = dorsum - axes[1] - fx["sandbag_gap_mm"] / sp[1]
        g = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij", sparse=True)
        bag = sum(((g[d] - ctr[d]) / axes[d]) ** 2 for d in range(3)) <= 1
        vol[bag & ~inside] = fx["sandbag_intensity"]
        vol = ndimage.gaussian_filter(vol, 0.5)
        if rng.random() < fx["motion_prob"]:  # motion: blur palm/fingers left-right, plus a ghost
            sigma = rng.uniform(1.5, 3.0) * fx["motion_blur_scale"]
            knuckles = to_vox(subject.heads[subject.labels.index("finger3-1.L")])[2]
            moved = ndimage.gaussian_filter1d(vol, sigma / sp[0], axis=0)
            start = int(max(knuckles - 25 / sp[2], 0))
            vol[:, :, start:] = moved[:, :, start:]
            shift = int(rng.integers(8, 20) / sp[0])
            vol = vol + 0.12 * np.roll(vol, shift, axis=0)
            info["motion"] = {"sigma_mm": round(float(sigma), 2), "ghost_shift_vox": shift}
        else:
            info["motion"] = None
        c = [(np.arange(n) / max(n - 1, 1) - 0.5)[tuple(slice(None) if d == i else None for d in range(3))]
             for i, n in enumerate(shape)]
        coef = rng.normal(0, 0.15, size=4)
        bias = 1 + coef[0] * c[0] + coef[1] * c[2] + coef[2] * c[0] * c[2] + coef[3] * (c[1] - 0.0)
        vol = vol * bias.astype(np.float32)
        sigma_n = 0.025
        noise = rng.normal(0, sigma_n, size=(2, *shape)).astype(np.float32)
        vol = np.sqrt((vol + noise[0]) ** 2 + noise[1] ** 2) * 1000.0
    else:
        vol = np.full(shape, -1000.0, np.float32)
        vol[inside] = 40.0
        vol[fat] = -100.0
        # lungs: two ellipsoids in the chest, between the shoulders and the spine
        sh_l, sh_r = (subject.heads[subject.labels.index(f"upperarm01.{s}")] for s in "LR")
        spine = subject.heads[subject.labels.index("spine02")]
        for sh in (sh_l, sh_r):
            ctr = to_vox(np.array([0.55 * sh[0] + 0.45 * spine[0], spine[1] - 0.01, sh[2] - 0.13]))
            axes = np.array([50.0, 65.0, 105.0]) / sp
            lo = np.maximum(np.floor(ctr - axes).astype(int), 0)
            hi = np.minimum(np.ceil(ctr + axes).astype(int) + 1, shape)
            if np.any(hi <= lo):
                continue
            g = np.meshgrid(*[np.arange(lo[d], hi[d]) for d in range(3)], indexing="ij", sparse=True)
            ell = sum(((g[d] - ctr[d]) / axes[d]) ** 2 for d in range(3)) <= 1
            sl = tuple(slice(lo[d], hi[d]) for d in range(3))
            lung = ell & inside[sl] & (skin_dist[sl] > 15) & (bone[sl] == 0)
            vol[sl][lung] = -850.0
        vol[bone == 2] = 300.0
        vol[bone == 1] = rng.uniform(900, 1300)
        # the table: two thin plates normal to the depth axis (Y), below (behind) the body
        body_back = np.flatnonzero(inside.any(axis=(0, 2))).max()
        gap = rng.uniform(2, 8)
        y1 = int(body_back + np.ceil(gap / sp[1]))
        plate = _span(fx["table_plate_mm"], rr)
        thick, sep = max(int(round(plate / sp[1])), 1), int(round(40 / sp[1]))
        if fx["table_plate_mm"][1] > fx["table_plate_mm"][0]:
            info["table_plate_mm"] = round(plate, 1)
        if fx["cushion_prob"] and rr.random() < fx["cushion_prob"]:
            info["cushions"] = _cushions(vol, inside, subject, to_vox, sp, y1, rr)
        if fx["blanket_prob"] and rr.random() < fx["blanket_prob"]:
            info["blanket_mm"] = _blanket(vol, inside, subject, to_vox, sp, rr)
        cx = shape[0] / 2
        half = int(min(240 / sp[0], shape[0] / 2))
        xs = slice(int(cx - half), int(cx + half))
        for y in (y1, y1 + sep):
            vol[xs, y : y + thick, :] = 250.0
        info["table_rows"] = [int(y1), int(y1 + sep)]
        if fx["fov_width_mm"]:  # arms beyond the reconstructed field of view are cut (air)
            width = _span(fx["fov_width_mm"], rr)
            cx_mid = to_vox(np.zeros(3))[0]
            xs_all = np.arange(shape[0])
            vol[np.abs(xs_all - cx_mid) * sp[0] > width / 2] = -1000.0
            info["fov_width_mm"] = round(width, 1)
        vol = ndimage.gaussian_filter(vol, 0.5)
        vol += rng.normal(0, 20.0, size=shape).astype(np.float32)
    return vol.astype(np.float32), _affine(origin, sp), info
