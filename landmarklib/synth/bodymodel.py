"""The MakeHuman body and left hand as batched PyTorch models (anny), posed and placed in the study's frame.

This is the 3D half of Sec. 2.1 of the paper: sample a shape and a pose, pose the mesh, read the
landmarks off it. The 2D half (orthographic silhouettes, depth maps, patches) is
:mod:`landmarklib.synth.rendering`; the simulated MR/CT scans (:mod:`landmarklib.scans`) use the same
posed meshes.

Frame (binding, see the project brief)
--------------------------------------
Metres, anny's axes: ``+X`` = subject's left, ``-Y`` = anterior (towards the camera), ``+Z`` = up.
The body stays in anny's frame (root at the origin). The LEFT hand is rotated so that the wrist is at
the origin at the bottom, the fingers point to ``+Z``, the back of the hand (dorsum) faces the camera
(``-Y``) and the palm faces ``+Y`` (the table); the thumb is then on the ``+X`` side.

Parameters
----------
A sample is two dictionaries of ``(B,)`` arrays, ``shape_params`` and ``pose_params``, keyed by the
names of :data:`SPACES` (``SPACES[task]["shape"]``/``["pose"]``, each a tuple of :class:`Param`
with its documented range, unit and meaning). Missing names take their neutral value
(:attr:`Param.neutral`), unknown names and values outside the physically meaningful
:attr:`Param.limits` are refused with a :class:`~landmarklib.errors.LandmarkError`.

* :func:`sample_params` draws the synthetic-render distribution (uniform within each range),
  sample ``i`` from ``(seed, i)`` alone, so a stream and a stored shard agree.
* Other stages (the simulated scans) pass their OWN distributions: either build the dictionaries
  themselves, or call :func:`sample_params` with ``space=`` a modified table
  (e.g. ``with_ranges(SPACES["hand"], age_years=(20, 40))``).
* ``local_changes={"l-hand-fingers-length-incr": values, ...}`` adds anny's local shape changes
  (names: ``anny.Anny(local_changes="default").local_change_labels``; values in ``[-1, 1]``). A
  model with local changes is built once per set of names and cached by anny (the first build takes
  minutes and ~1.4 GB of memory), so the synthetic renders do not use them: finger proportions
  come from a per-finger length factor applied to the rig (``length_*`` parameters) instead.

:func:`pose` returns a :class:`Posed` ``(vertices (B, V, 3), faces (F, 3), landmarks (B, k, 3))``
in metres in the frame above, landmarks in the order of :mod:`landmarklib.landmarks`.

Landmarks (derived in code from the mesh and the rig, :func:`landmark_definition`)
----------------------------------------------------------------------------------
The hand model is open at the wrist; :func:`pose` closes it with a fan of triangles around one extra
vertex (the last one, at the centre of the wrist's boundary loop), so both meshes are closed and
consistently oriented (inside/outside tests, back-face culling work).

* fingertips, big-toe tips: the vertex mainly skinned to the last bone of the finger/toe that lies
  farthest along that bone's direction in the rest pose;
* top of the head: the highest vertex mainly skinned to the ``head`` bone in the rest pose;
* shoulders, knees (joint centres): the heads of the bones ``upperarm01`` and ``lowerleg01``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import numpy as np
import torch

from ..errors import LandmarkError, refuse_unknown
from ..landmarks import landmark_names, parse_task

__all__ = ["FINGERS", "Param", "SPACES", "age_to_anny", "with_ranges", "load_model", "LandmarkDefinition", "landmark_definition", "sample_params", "params_to_array", "array_to_params", "Posed", "pose", "default_sample"]

FINGERS = ("thumb", "index", "middle", "ring", "pinky")


@dataclass(frozen=True)
class Param:
    """One sampled parameter.

    Attributes
    ----------
    name
        Key in ``shape_params`` / ``pose_params``.
    low, high
        Range of the synthetic-render distribution (uniform).
    neutral
        Value used when the key is missing.
    limits
        Values outside these are refused (physically meaningless or outside the model).
    unit
        ``"1"`` (anny's [0, 1] phenotype scale), ``"years"``, ``"deg"`` or ``"factor"``.
    doc
        What it does, with the sign convention.
    """

    name: str
    low: float
    high: float
    neutral: float
    limits: tuple[float, float]
    unit: str
    doc: str


def _phenotypes(age: tuple[float, float], adult_note: str) -> tuple[Param, ...]:
    return (
        Param("gender", 0.0, 1.0, 0.5, (0.0, 1.0), "1", "anny 'gender': 0 = male, 1 = female (anny's PHENOTYPE_VARIATIONS order; SimpleShapeDistribution treats <= 0.5 as male)"),
        Param("age_years", *age, 25.0, (1.0, 90.0), "years", f"age, mapped to anny's age axis; {adult_note}"),
        Param("height", 0.0, 1.0, 0.5, (0.0, 1.0), "1", "anny 'height' (size), 0 = min, 1 = max for the age"),
        Param("weight", 0.0, 1.0, 0.5, (0.0, 1.0), "1", "anny 'weight', 0 = min, 1 = max"),
        Param("muscle", 0.0, 1.0, 0.5, (0.0, 1.0), "1", "anny 'muscle', 0 = min, 1 = max"),
        Param("proportions", 0.0, 1.0, 0.5, (0.0, 1.0), "1", "anny 'proportions', 0 = ideal, 1 = uncommon"),
    )


_HAND_SHAPE = _phenotypes((13.0, 60.0), "13-60, wider than the paper's MR cohort (13-24 years)") + tuple(
    Param(f"length_{f}", 0.9, 1.1, 1.0, (0.5, 1.5), "factor",
          f"length of the {f} (all three phalanges) relative to the model's, scaled along the finger")
    for f in FINGERS
)
_HAND_POSE = tuple(
    Param(f"flex_{f}", -5.0, 15.0, 0.0, (-45.0, 90.0), "deg",
          f"flexion of the {f} at its base (half of it again at each distal joint); + = towards the palm")
    for f in FINGERS
) + tuple(
    Param(f"spread_{f}", -5.0, 5.0, 0.0, (-30.0, 30.0), "deg",
          f"ab-/adduction of the {f} at its base in the palm plane; + = towards the thumb side")
    for f in FINGERS
) + (
    Param("wrist_roll", -10.0, 10.0, 0.0, (-90.0, 90.0), "deg",
          "in-plane rotation of the whole hand about the viewing axis (+Y); + = fingers towards +X"),
)

_BODY_SHAPE = _phenotypes((18.0, 80.0), "adult CT patients")
_BODY_POSE = tuple(
    p for side in ("L", "R") for p in (
        Param(f"arm_down_{side}", 25.0, 45.0, 0.0, (-30.0, 70.0), "deg",
              f"adduction of the {side} upper arm from anny's A-pose (hands near the body); + = down"),
        Param(f"elbow_{side}", 0.0, 25.0, 0.0, (-5.0, 140.0), "deg", f"{side} elbow flexion; + = forearm forward"),
        Param(f"hip_abd_{side}", 0.0, 10.0, 0.0, (-20.0, 45.0), "deg",
              f"{side} hip abduction (legs slightly spread); + = outwards"),
        Param(f"hip_rot_{side}", -10.0, 30.0, 0.0, (-45.0, 60.0), "deg",
              f"{side} hip rotation about the vertical axis; + = external (toes outwards)"),
        Param(f"knee_{side}", 0.0, 10.0, 0.0, (-5.0, 120.0), "deg",
              f"{side} knee flexion with the heel kept on the table: the thigh flexes forward by half of it"),
        Param(f"foot_flex_{side}", -15.0, 45.0, 0.0, (-30.0, 70.0), "deg",
              f"{side} ankle; + = plantar flexion (toes away from the head), - = dorsiflexion"),
        Param(f"foot_roll_{side}", -15.0, 15.0, 0.0, (-40.0, 40.0), "deg",
              f"{side} foot rotation about the anteroposterior axis (in-/eversion); + = sole towards +X"),
    )
)

#: The parameter spaces of the synthetic renders: ``SPACES[task]["shape"|"pose"]`` -> tuple of Param.
SPACES: dict[str, dict[str, tuple[Param, ...]]] = {
    "hand": {"shape": _HAND_SHAPE, "pose": _HAND_POSE},
    "body": {"shape": _BODY_SHAPE, "pose": _BODY_POSE},
}

#: MakeHuman's age anchors: anny age -1/3, 0, 1/3, 2/3, 1 = newborn, 1, 11, 25, 90 years.
_AGE_YEARS = np.array([0.0, 1.0, 11.0, 25.0, 90.0])
_AGE_ANNY = np.array([-1 / 3, 0.0, 1 / 3, 2 / 3, 1.0])


def age_to_anny(years: np.ndarray | torch.Tensor) -> np.ndarray:
    """Age in years -> anny's ``age`` phenotype (MakeHuman anchors 1, 11, 25, 90 years = 0, 1/3, 2/3, 1)."""
    return np.interp(np.asarray(years, dtype=np.float64), _AGE_YEARS, _AGE_ANNY)


def with_ranges(space: Mapping[str, tuple[Param, ...]], **ranges: tuple[float, float]) -> dict[str, tuple[Param, ...]]:
    """A copy of ``space`` (e.g. ``SPACES["hand"]``) with new ``(low, high)`` sampling ranges by name.

    Examples
    --------
    >>> s = with_ranges(SPACES["hand"], age_years=(20, 40))
    >>> [p for p in s["shape"] if p.name == "age_years"][0].low
    20.0
    """
    known = {p.name for group in space.values() for p in group}
    unknown = sorted(set(ranges) - known)
    if unknown:
        raise LandmarkError(f"unknown parameter(s) {unknown}; known: {sorted(known)}")
    out = {}
    for key, group in space.items():
        out[key] = tuple(
            replace(p, low=float(ranges[p.name][0]), high=float(ranges[p.name][1])) if p.name in ranges else p
            for p in group
        )
    return out


# --------------------------------------------------------------------------------------------- models


def _import_anny() -> Any:
    from ..paths import anny_cache_dir

    os.environ.setdefault("ANNY_CACHE_DIR", str(anny_cache_dir()))
    import warp

    warp.config.log_level = warp.LOG_WARNING
    import anny

    return anny


@functools.lru_cache(maxsize=8)
def load_model(task: str, local_changes: tuple[str, ...] = (), device: str = "cpu") -> Any:
    """The anny model of ``task`` (float32, eval mode, no grad needed), cached per process.

    Parameters
    ----------
    task
        ``"hand"`` (left hand: ``rig="anny-hand.L", topology="hand.L"``) or ``"body"``.
    local_changes
        Names of anny local changes to enable (empty: none; a new set of names builds a new anny
        cache entry the first time, minutes).
    device
        Torch device string.
    """
    parse_task(task)
    anny = _import_anny()
    kwargs: dict[str, Any] = {"local_changes": list(local_changes)} if local_changes else {}
    try:
        if task == "hand":
            model = anny.Anny(rig="anny-hand.L", topology="hand.L", **kwargs)
        else:
            model = anny.Anny(**kwargs)
    except (KeyError, ValueError) as exc:
        raise LandmarkError(f"anny could not build the {task} model with local changes {local_changes}: {exc}") from exc
    return model.to(torch.float32).to(device).eval()


class LandmarkDefinition(NamedTuple):
    """How each landmark of a task is read off the posed model.

    ``kind[i]`` is ``"vertex"`` (``index[i]`` = vertex index) or ``"joint"`` (``index[i]`` = bone index,
    the landmark is that bone's head).
    """

    names: tuple[str, ...]
    kind: tuple[str, ...]
    index: tuple[int, ...]


def _rest(model: Any, batch: int = 1) -> dict[str, torch.Tensor]:
    eye = torch.eye(4, dtype=torch.float32, device=model.template_vertices.device)
    with torch.no_grad():
        return model(
            pose_parameters=eye.expand(batch, model.bone_count, 4, 4).clone(),
            phenotype_kwargs={k: torch.full((batch,), 0.5, device=eye.device) for k in model.phenotype_labels},
        )


def _tip_vertex(model: Any, out: dict[str, torch.Tensor], bone: str, direction: np.ndarray | None = None) -> int:
    """Vertex mainly skinned to ``bone`` lying farthest along the bone's direction (or ``direction``)."""
    labels = list(model.bone_labels)
    b = labels.index(bone)
    heads = out["bone_poses"][0, :, :3, 3].cpu().numpy()
    verts = out["vertices"][0].cpu().numpy()
    idx = model.vertex_bone_indices.cpu().numpy()
    w = model.vertex_bone_weights.cpu().numpy()
    dominant = idx[np.arange(len(idx)), w.argmax(axis=1)]
    cand = np.flatnonzero(dominant == b)
    if cand.size == 0:
        raise LandmarkError(f"no vertex is mainly skinned to bone {bone!r}; the anny model is not the expected one")
    if direction is None:
        parent = int(model.bone_parents[b])
        direction = heads[b] - heads[parent]
    direction = np.asarray(direction, dtype=np.float64)
    direction = direction / np.linalg.norm(direction)
    return int(cand[np.argmax((verts[cand] - heads[b]) @ direction)])


@functools.lru_cache(maxsize=4)
def landmark_definition(task: str) -> LandmarkDefinition:
    """Landmark vertices/joints of ``task``, derived from the rest mesh and rig (see module docstring)."""
    model = load_model(parse_task(task))
    out = _rest(model)
    labels = list(model.bone_labels)
    if task == "hand":
        kinds = ("vertex",) * 5
        index = tuple(_tip_vertex(model, out, f"finger{i}-3.L") for i in range(1, 6))
    else:
        spec = {
            "footL": ("vertex", "toe1-2.L"), "footR": ("vertex", "toe1-2.R"),
            "kneeL": ("joint", "lowerleg01.L"), "kneeR": ("joint", "lowerleg01.R"),
            "handL": ("vertex", "finger3-3.L"), "handR": ("vertex", "finger3-3.R"),
            "shoulderL": ("joint", "upperarm01.L"), "shoulderR": ("joint", "upperarm01.R"),
            "head": ("vertex", "head"),
        }
        kinds, index_list = [], []
        for name in landmark_names("body"):
            kind, bone = spec[name]
            kinds.append(kind)
            if kind == "joint":
                index_list.append(labels.index(bone))
            elif bone == "head":
                index_list.append(_tip_vertex(model, out, bone, direction=np.array([0.0, 0.0, 1.0])))
            else:
                index_list.append(_tip_vertex(model, out, bone))
        kinds, index = tuple(kinds), tuple(index_list)
    return LandmarkDefinition(landmark_names(task), kinds, index)


# --------------------------------------------------------------------------------------------- params


def sample_params(
    task: str, n: int, seed: int, *, start: int = 0, space: Mapping[str, tuple[Param, ...]] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Draw samples ``start .. start+n-1`` of the parameter distribution of ``task``.

    Sample ``i`` depends only on ``(seed, task, i)`` (its own :class:`numpy.random.SeedSequence`),
    so any slice, shard or stream of the same seed gives the same values.

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``.
    n
        Number of samples (>= 0).
    seed
        Non-negative integer.
    start
        Index of the first sample.
    space
        Parameter table (default :data:`SPACES` ``[task]``); each value is drawn uniformly in
        ``[low, high]``.

    Returns
    -------
    shape_params, pose_params
        ``{name: (n,) float64}`` each.
    """
    parse_task(task)
    space = SPACES[task] if space is None else space
    if int(n) < 0 or int(start) < 0 or int(seed) < 0:
        raise LandmarkError(f"sample_params needs n, start, seed >= 0, got n={n}, start={start}, seed={seed}")
    params = [p for key in ("shape", "pose") for p in space[key]]
    for p in params:
        if not (p.limits[0] <= p.low <= p.high <= p.limits[1]):
            raise LandmarkError(
                f"parameter {p.name}: range [{p.low}, {p.high}] must lie within its limits {p.limits}"
            )
    task_code = 0 if task == "hand" else 1
    u = np.empty((int(n), len(params)), dtype=np.float64)
    for row, i in enumerate(range(int(start), int(start) + int(n))):
        u[row] = np.random.default_rng([int(seed), task_code, i]).random(len(params))
    lows = np.array([p.low for p in params])
    highs = np.array([p.high for p in params])
    values = lows + u * (highs - lows)
    n_shape = len(space["shape"])
    shape = {p.name: values[:, j] for j, p in enumerate(params[:n_shape])}
    pose_ = {p.name: values[:, n_shape + j] for j, p in enumerate(params[n_shape:])}
    return shape, pose_


def params_to_array(task: str, shape_params: Mapping[str, Any], pose_params: Mapping[str, Any]) -> np.ndarray:
    """``(B, P)`` float32 array in the order of ``SPACES[task]`` (shape then pose); missing = neutral."""
    cols = _checked(task, shape_params, pose_params)
    return np.stack([cols[p.name] for key in ("shape", "pose") for p in SPACES[task][key]], axis=1).astype(
        np.float32
    )


def array_to_params(task: str, array: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Inverse of :func:`params_to_array`."""
    space = SPACES[parse_task(task)]
    array = np.asarray(array, dtype=np.float64)
    n_shape = len(space["shape"])
    return (
        {p.name: array[:, j] for j, p in enumerate(space["shape"])},
        {p.name: array[:, n_shape + j] for j, p in enumerate(space["pose"])},
    )


def _checked(task: str, shape_params: Mapping[str, Any], pose_params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Validate both dictionaries against ``SPACES[task]``; return every column as ``(B,)`` float64."""
    space = SPACES[parse_task(task)]
    out: dict[str, np.ndarray] = {}
    batch: int | None = None
    for key, given in (("shape", shape_params), ("pose", pose_params)):
        given = dict(given or {})
        known = {p.name: p for p in space[key]}
        refuse_unknown(given, known, what=f"{task} {key} parameter", hint=" (see landmarklib.synth.bodymodel.SPACES)")
        for name, value in given.items():
            arr = np.atleast_1d(np.asarray(value.detach().cpu() if torch.is_tensor(value) else value, dtype=np.float64))
            if arr.ndim != 1:
                raise LandmarkError(f"{task} parameter {name} must be a (B,) array, got shape {arr.shape}")
            if batch is None:
                batch = len(arr)
            elif len(arr) != batch:
                raise LandmarkError(f"{task} parameter {name} has {len(arr)} values, others have {batch}")
            p = known[name]
            bad = ~np.isfinite(arr) | (arr < p.limits[0]) | (arr > p.limits[1])
            if bad.any():
                raise LandmarkError(
                    f"{task} parameter {name}={arr[bad][0]!r} is outside its limits {p.limits} ({p.unit}); "
                    f"{p.doc}"
                )
            out[name] = arr
    if batch is None:
        raise LandmarkError(f"{task}: give at least one parameter (a (B,) array) so that the batch size is known")
    for key in ("shape", "pose"):
        for p in space[key]:
            out.setdefault(p.name, np.full(batch, p.neutral))
    return out


# ----------------------------------------------------------------------------------------------- pose


def _axis_rot(axis: int, deg: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 3)`` rotations by ``deg`` about world axis ``axis`` (0 = X, 1 = Y, 2 = Z).

    The scans' simulator uses :class:`scipy.spatial.transform.Rotation`; this batched one stays in
    torch on the posing device: scipy's quaternion path agrees to float32 rounding (checked: masks
    identical, depth within 1e-6 m, landmarks within 5e-5 px) but is not bit-identical, and the
    stored renders are keyed as unchanged.
    """
    t = torch.deg2rad(deg)
    c, s = torch.cos(t), torch.sin(t)
    one, zero = torch.ones_like(t), torch.zeros_like(t)
    if axis == 0:
        rows = [one, zero, zero, zero, c, -s, zero, s, c]
    elif axis == 1:
        rows = [c, zero, s, zero, one, zero, -s, zero, c]
    else:
        rows = [c, -s, zero, s, c, zero, zero, zero, one]
    return torch.stack(rows, dim=-1).reshape(*t.shape, 3, 3)


# Body: (parameter prefix, bone, world axis, sign per side L/R); rotations about the bone head.
_BODY_JOINTS = (
    ("arm_down", "upperarm01", 1, (1.0, -1.0)),
    ("elbow", "lowerarm01", 0, (-1.0, -1.0)),
    ("hip_abd", "upperleg01", 1, (-1.0, 1.0)),
    ("hip_rot", "upperleg01", 2, (1.0, -1.0)),
    ("knee", "upperleg01", 0, (-0.5, -0.5)),  # supine: the knee rises, the heel stays on the table
    ("knee", "lowerleg01", 0, (1.0, 1.0)),
    ("foot_flex", "foot", 0, (1.0, 1.0)),
    ("foot_roll", "foot", 1, (1.0, 1.0)),
)

#: Hand placement: anny's hand frame (fingers +Y, thumb side +Z, palm +X) -> study frame
#: (fingers +Z, thumb side +X, palm +Y): new = _HAND_PLACE @ old.
_HAND_PLACE = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@functools.lru_cache(maxsize=4)
def _cap(task: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Faces closing the mesh's open boundary loop (the hand's wrist), as a fan around an extra vertex.

    Returns ``(loop_vertices (L,), cap_faces (L, 3))`` with the extra vertex numbered ``V`` (one past
    the model's last), or ``None`` for a closed mesh. The cap keeps the faces' orientation consistent.
    """
    faces = np.asarray(load_model(task).faces)
    nv = int(load_model(task).template_vertices.shape[0])
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    undirected = np.sort(directed, axis=1)
    _, inverse, counts = np.unique(undirected, axis=0, return_inverse=True, return_counts=True)
    boundary = directed[counts[inverse.reshape(-1)] == 1]  # (L, 2) a -> b as used by their faces
    if len(boundary) == 0:
        return None
    loop = np.unique(boundary)
    cap = np.stack([boundary[:, 1], boundary[:, 0], np.full(len(boundary), nv)], axis=1)  # b, a, centre
    return torch.as_tensor(loop), torch.as_tensor(cap)


class Posed(NamedTuple):
    """Posed meshes of one batch, metres, study frame.

    Attributes
    ----------
    vertices
        ``(B, V, 3)`` float32 tensor.
    faces
        ``(F, 3)`` int64 tensor (shared by the batch).
    landmarks
        ``(B, k, 3)`` float32 tensor, order of :func:`landmarklib.landmarks.landmark_names`.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    landmarks: torch.Tensor


@functools.lru_cache(maxsize=4)
def _finger_directions(model: Any) -> torch.Tensor:
    """``(5, 3)`` unit vectors from the base to the last joint of each finger, rest pose, anny's hand frame."""
    labels = list(model.bone_labels)
    heads = _rest(model)["bone_poses"][0, :, :3, 3]
    d = torch.stack([heads[labels.index(f"finger{i}-3.L")] - heads[labels.index(f"finger{i}-1.L")] for i in range(1, 6)])
    return d / d.norm(dim=1, keepdim=True)


def _delta_transforms(task: str, model: Any, cols: dict[str, np.ndarray], device: torch.device) -> torch.Tensor:
    labels = list(model.bone_labels)
    batch = len(next(iter(cols.values())))
    eye3 = torch.eye(3, dtype=torch.float32, device=device)
    mats = {}  # bone index -> (B, 3, 3)

    def t(name: str) -> torch.Tensor:
        return torch.as_tensor(cols[name], dtype=torch.float32, device=device)

    def compose(bone: str, m: torch.Tensor) -> None:
        b = labels.index(bone)
        mats[b] = m @ mats[b] if b in mats else m

    if task == "body":
        for prefix, bone, axis, signs in _BODY_JOINTS:
            for side, sign in zip(("L", "R"), signs, strict=True):
                compose(f"{bone}.{side}", _axis_rot(axis, sign * t(f"{prefix}_{side}")))
    else:
        dirs = _finger_directions(model)
        for i, f in enumerate(FINGERS, start=1):
            base = f"finger{i}-1.L"
            d = dirs[i - 1].to(device)
            scale = eye3 + (t(f"length_{f}")[:, None, None] - 1.0) * torch.outer(d, d)
            flex = t(f"flex_{f}")
            # anny's hand frame: flexion (towards the palm, +X) is a negative rotation about +Z
            compose(base, _axis_rot(0, t(f"spread_{f}")) @ _axis_rot(2, -flex) @ scale)
            for j in (2, 3):
                compose(f"finger{i}-{j}.L", _axis_rot(2, -0.5 * flex))
        u0 = model.reference_bone_orientations[0].to(device=device, dtype=torch.float32)
        mats = {b: u0 @ m @ u0.T for b, m in mats.items()}
    delta = torch.eye(4, dtype=torch.float32, device=device).repeat(batch, model.bone_count, 1, 1)
    for b, m in mats.items():
        delta[:, b, :3, :3] = m
    return delta


def pose(
    task: str,
    shape_params: Mapping[str, Any],
    pose_params: Mapping[str, Any] | None = None,
    *,
    local_changes: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
) -> Posed:
    """Pose a batch of hands or bodies and read their landmarks.

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``.
    shape_params, pose_params
        ``{name: (B,) values}`` of :data:`SPACES` ``[task]["shape"]`` / ``["pose"]`` (numpy, torch or
        lists); missing names are neutral.
    local_changes
        Optional ``{anny local change name: (B,) values in [-1, 1]}`` (see module docstring).
    device
        Torch device.

    Returns
    -------
    Posed
        ``vertices (B, V, 3)``, ``faces (F, 3)``, ``landmarks (B, k, 3)``; metres, study frame.
    """
    parse_task(task)
    cols = _checked(task, shape_params, pose_params or {})
    batch = len(cols["gender"])
    device = torch.device(device)
    lc_names = tuple(sorted(local_changes or {}))
    model = load_model(task, lc_names, str(device))
    lc_kwargs = None
    if lc_names:
        unknown = sorted(set(lc_names) - set(model.local_change_labels))
        if unknown:
            raise LandmarkError(f"unknown anny local change(s) {unknown}; see anny.Anny(local_changes='default')")
        lc_kwargs = {}
        for name in lc_names:
            v = torch.as_tensor(np.asarray(local_changes[name], dtype=np.float32), device=device).reshape(-1)
            if v.shape != (batch,) or not bool(((v >= -1) & (v <= 1)).all()):
                raise LandmarkError(f"local change {name} must be ({batch},) values in [-1, 1]")
            lc_kwargs[name] = v
    phen = {
        "gender": cols["gender"], "age": age_to_anny(cols["age_years"]), "height": cols["height"],
        "weight": cols["weight"], "muscle": cols["muscle"], "proportions": cols["proportions"],
    }
    phen_t = {k: torch.as_tensor(v, dtype=torch.float32, device=device) for k, v in phen.items()}
    with torch.no_grad():
        delta = _delta_transforms(task, model, cols, device)
        kwargs: dict[str, Any] = {"pose_parameters": delta, "phenotype_kwargs": phen_t}
        if lc_kwargs is not None:
            kwargs["local_changes_kwargs"] = lc_kwargs
        out = model(**kwargs)
        verts = out["vertices"].to(torch.float32)
        heads = out["bone_poses"][:, :, :3, 3].to(torch.float32)
        definition = landmark_definition(task)
        idx = torch.as_tensor(definition.index, device=device)
        is_vertex = torch.as_tensor([k == "vertex" for k in definition.kind], device=device)
        lm = torch.where(
            is_vertex[None, :, None],
            verts[:, idx.clamp(max=verts.shape[1] - 1)],
            heads[:, idx.clamp(max=heads.shape[1] - 1)],
        )
        if task == "hand":
            rot = _HAND_PLACE.to(device)
            roll = _axis_rot(1, torch.as_tensor(cols["wrist_roll"], dtype=torch.float32, device=device))
            rot = roll @ rot  # (B, 3, 3)
            verts = verts @ rot.transpose(1, 2)
            lm = lm @ rot.transpose(1, 2)
    faces = torch.as_tensor(model.faces, device=device).long()
    cap = _cap(task)
    if cap is not None:  # close the wrist: one extra vertex at the centre of the boundary loop
        loop, cap_faces = (c.to(device) for c in cap)
        verts = torch.cat((verts, verts[:, loop].mean(dim=1, keepdim=True)), dim=1)
        faces = torch.cat((faces, cap_faces.long()))
    return Posed(verts.contiguous(), faces, lm.contiguous())


def default_sample(task: str, n: int = 1) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Neutral shape, the middle of each pose range: handy for examples and tests."""
    space = SPACES[parse_task(task)]
    shape = {p.name: np.full(n, p.neutral) for p in space["shape"]}
    pose_ = {p.name: np.full(n, (p.low + p.high) / 2) for p in space["pose"]}
    return shape, pose_


__all__ += ["default_sample"]
