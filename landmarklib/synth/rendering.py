"""Synthetic renders (paper Sec. 2.1): posed meshes -> binary silhouette + depth patch + exact landmarks.

A batched orthographic z-buffer rasterizer in plain torch (CPU or CUDA, no OpenGL) draws each posed
mesh of :mod:`landmarklib.synth.bodymodel` directly into the task's patch (``PATCH_SIZE``):

1. project: camera in front of the subject (at ``-Y``) looking along ``+Y``; image ``x = X``,
   image ``y = -Z``; depth ``= Y - min(Y)`` of the sample (metres from the camera plane, which
   touches the nearest point of the object);
2. crop + scale: each sample's projected bounding box goes through
   :func:`landmarklib.geometry.fit_transform` into the patch (aspect kept, centred, same margin as the
   scans), landmarks through the same transform (patch pixels) and keep their depth;
3. rasterize (:func:`rasterize`): every pixel centre ``(i + 0.5, j + 0.5)`` covered by a triangle gets
   the nearest depth. Vectorised over all triangles of the batch: back faces culled (both meshes are
   closed), triangles grouped by the size of their pixel bounding box, barycentric and depth planes
   evaluated per group with one matrix product, reduced with ``scatter_reduce(amin)`` into one z-buffer.

Storage (:func:`load_renders`): ``renders/synthetic/<task>/<key>/shard_NNNNN.npz``, ``key`` made of the
seed, the shard size and a hash of the parameter space; each shard holds ``shard_size`` samples
(bit-packed masks, float16 depth, landmarks, landmark depth, sampled parameters, indices, seed),
written atomically; a rerun generates only the missing shards. :class:`SyntheticStream` generates the
same samples on the fly: sample ``i`` depends only on ``(task, seed, i)``, and it is always computed
in the same block of :data:`BLOCK` samples, so stream and shards agree bit for bit on one device.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..geometry import DEFAULT_MARGIN, PATCH_SIZE, to_unit
from ..landmarks import parse_task
from ..paths import subdir
from ..provenance import provenance, save_npz, write_json
from . import bodymodel

__all__ = ["BLOCK", "CULL", "PARALLEL_FROM", "RENDER_VERSION", "Rendered", "resolve_device", "fit_boxes", "MAX_WINDOW", "rasterize", "render_meshes", "render_params", "render_block", "render_range", "store_key", "load_renders", "SyntheticStream", "compare_with_blender", "measure_throughput"]

#: Samples computed together (one anny forward + one rasterization); sample ``i`` lies in block ``i // BLOCK``.
BLOCK: dict[str, int] = {"hand": 250, "body": 50}

#: Back-face culling per task (see :func:`rasterize`): both meshes are closed (the hand by the wrist cap
#: of :func:`landmarklib.synth.bodymodel.pose`), so their front faces alone give the same silhouette and depth
#: (checked in the tests) at half the cost.
CULL: dict[str, int] = {"hand": -1, "body": -1}

#: :func:`load_renders` generates in parallel worker processes from this many missing samples on.
PARALLEL_FROM = 20_000

#: Bumped when the renderer's output changes (part of the storage key).
RENDER_VERSION = 2


class Rendered(NamedTuple):
    """One batch of renders, torch tensors on the rendering device.

    Attributes
    ----------
    masks
        ``(B, p_h, p_w)`` bool silhouettes.
    depth
        ``(B, p_h, p_w)`` float32, metres from the camera plane; ``NaN`` on the background.
    landmarks
        ``(B, k, 2)`` float32 ``(x, y)`` in patch pixels.
    landmark_depth
        ``(B, k)`` float32, metres from the camera plane.
    scale
        ``(B,)`` patch pixels per metre.
    offset
        ``(B, 2)`` patch pixels: ``patch = scale * (X, -Z) + offset``.
    near
        ``(B,)`` the camera plane's ``Y`` (metres): ``depth = Y - near``.
    """

    masks: torch.Tensor
    depth: torch.Tensor
    landmarks: torch.Tensor
    landmark_depth: torch.Tensor
    scale: torch.Tensor
    offset: torch.Tensor
    near: torch.Tensor


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/``None`` -> CUDA if available else CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def fit_boxes(
    boxes: torch.Tensor, patch_size: tuple[int, int], margin: float = DEFAULT_MARGIN
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched :func:`landmarklib.geometry.fit_transform`.

    Parameters
    ----------
    boxes
        ``(B, 4)`` ``(x0, y0, x1, y1)``.
    patch_size
        ``(p_w, p_h)``.

    Returns
    -------
    scale, offset
        ``(B,)`` and ``(B, 2)``: ``patch = scale * point + offset``.
    """
    x0, y0, x1, y1 = boxes.unbind(-1)
    width = (x1 - x0).clamp(min=1e-12)
    height = (y1 - y0).clamp(min=1e-12)
    pw, ph = patch_size
    scale = torch.minimum(pw * (1 - 2 * margin) / width, ph * (1 - 2 * margin) / height)
    offset = torch.stack((pw / 2 - scale * (x0 + x1) / 2, ph / 2 - scale * (y0 + y1) / 2), dim=-1)
    return scale, offset


#: Triangles whose pixel-centre bounding box is at most this many pixels wide and high are drawn by
#: size class (one small matrix product per ``nx x ny`` class); larger ones by exact enumeration.
MAX_WINDOW = 8


def rasterize(
    points: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, patch_size: tuple[int, int], *,
    cull: int = 0,
) -> torch.Tensor:
    """Orthographic z-buffer of a batch of triangle meshes already in patch pixels.

    A pixel is covered when its centre ``(i + 0.5, j + 0.5)`` lies inside (or on the edge of) a
    triangle; its value is the smallest depth interpolated there.

    Parameters
    ----------
    points
        ``(B, V, 2)`` vertex positions ``(x, y)`` in patch pixels.
    depth
        ``(B, V)`` vertex depths (any unit; smaller = nearer).
    faces
        ``(F, 3)`` int64 vertex indices, shared by the batch.
    patch_size
        ``(p_w, p_h)``.
    cull
        ``0``: draw every triangle; ``+1`` / ``-1``: draw only triangles whose signed image area has
        this sign (back-face culling; for a closed, consistently oriented mesh the front faces alone
        give the same silhouette and nearest depth at half the cost).

    Returns
    -------
    torch.Tensor
        ``(B, p_h, p_w)`` nearest depth per pixel centre, ``inf`` where no triangle covers it.

    Notes
    -----
    Hand-written because no maintained CPU rasterizer for torch exists (pytorch3d and nvdiffrast need
    compiled CUDA extensions). Each triangle's barycentric coordinates and depth are planes
    ``w = w0 + p dx + q dy`` from the first pixel centre of its bounding box; all triangles of one
    ``nx x ny`` bounding-box class are evaluated with one ``(3, K, 3) @ (3, nx ny)`` product, and the
    depths are reduced into the z-buffer with ``scatter_reduce(amin)``.
    """
    pw, ph = patch_size
    bsz, nv = points.shape[:2]
    nf = faces.shape[0]
    dev, dt = points.device, points.dtype
    zbuf = torch.full((bsz * ph * pw,), float("inf"), dtype=dt, device=dev)
    # 1. per triangle: signed area and the pixel centres of its bounding box -> a size class
    px_, py_ = points[..., 0].contiguous(), points[..., 1].contiguous()
    xa, xb, xc = (px_.index_select(1, faces[:, i]) for i in range(3))  # (B, F) each, contiguous
    ya, yb, yc = (py_.index_select(1, faces[:, i]) for i in range(3))
    area = (xb - xa) * (yc - ya) - (yb - ya) * (xc - xa)
    facing = (area * cull > 1e-12) if cull else (area.abs() > 1e-12)
    sel = torch.nonzero(facing.reshape(-1), as_tuple=True)[0]  # flat (b * F + f) index of kept triangles
    if sel.numel() == 0:
        return zbuf.reshape(bsz, ph, pw)
    xa, xb, xc, ya, yb, yc, area = (t.reshape(-1)[sel] for t in (xa, xb, xc, ya, yb, yc, area))
    ox = torch.ceil(torch.minimum(torch.minimum(xa, xb), xc) - 0.5).clamp(min=0)
    oy = torch.ceil(torch.minimum(torch.minimum(ya, yb), yc) - 0.5).clamp(min=0)
    nx = (torch.floor(torch.maximum(torch.maximum(xa, xb), xc) - 0.5).clamp(max=pw - 1) - ox + 1).clamp(min=0)
    ny = (torch.floor(torch.maximum(torch.maximum(ya, yb), yc) - 0.5).clamp(max=ph - 1) - oy + 1).clamp(min=0)
    ok = (nx > 0) & (ny > 0)
    big = MAX_WINDOW + 1
    # class 0 = nothing to draw; 1 + (nx-1) * big + (ny-1) otherwise (nx, ny clamped to `big` = large)
    key = torch.where(ok, (nx.clamp(max=big) - 1) * big + ny.clamp(max=big), torch.zeros_like(nx))
    key = key.reshape(-1).to(torch.uint8)
    counts = torch.bincount(key, minlength=big * big + 1).tolist()
    if counts[0] == key.numel():
        return zbuf.reshape(bsz, ph, pw)
    order = torch.argsort(key)[counts[0]:]  # drawable triangles grouped by class (uint8 sort is fast)
    # 2. per drawable triangle, in class order: barycentric and depth planes from the first pixel centre
    tid = sel[order]
    b = tid // nf
    xa, ya, xb, yb, xc, yc, area, ox, oy = (t[order] for t in (xa, ya, xb, yb, xc, yc, area, ox, oy))
    za, zb, zc = depth.reshape(-1)[(b * nv)[:, None] + faces[tid % nf]].unbind(-1)
    inv = 1.0 / area
    pa, qa = (yb - yc) * inv, (xc - xb) * inv
    pb, qb = (yc - ya) * inv, (xa - xc) * inv
    cx, cy = ox + 0.5 - xc, oy + 0.5 - yc
    wa0, wb0 = pa * cx + qa * cy, pb * cx + qb * cy
    dza, dzb = za - zc, zb - zc
    planes = torch.stack((
        torch.stack((wa0, pa, qa), -1),
        torch.stack((wb0, pb, qb), -1),
        torch.stack((zc + wa0 * dza + wb0 * dzb, pa * dza + pb * dzb, qa * dza + qb * dzb), -1),
    ))  # (plane, K, coefficient): value = c0 + c1 dx + c2 dy
    pix0 = b * (ph * pw) + oy.to(torch.int64) * pw + ox.to(torch.int64)
    # 3. each class: evaluate the planes on its nx x ny pixel grid with one GEMM, reduce into the z-buffer
    eps = -1e-6
    start = 0
    for cls in range(1, big * big + 1):
        count = counts[cls]
        if count == 0:
            continue
        sl = slice(start, start + count)
        start += count
        mx, my = (cls - 1) // big + 1, (cls - 1) % big + 1
        if mx == big or my == big:
            _rasterize_large(
                zbuf, planes[:, sl].transpose(0, 1), pix0[sl], nx[order[sl]], ny[order[sl]],
                pw, eps,
            )
            continue
        dy, dx = torch.meshgrid(torch.arange(my, device=dev), torch.arange(mx, device=dev), indexing="ij")
        basis = torch.stack((torch.ones(mx * my, dtype=dt, device=dev), dx.reshape(-1).to(dt), dy.reshape(-1).to(dt)))
        wa, wb, z = planes[:, sl] @ basis  # three (count, mx * my) contiguous products
        inside = torch.minimum(torch.minimum(wa, wb), 1 - wa - wb) >= eps
        z = torch.where(inside, z, torch.full_like(z, float("inf")))
        target = pix0[sl, None] + (dy * pw + dx).reshape(1, -1)
        zbuf.scatter_reduce_(0, target.reshape(-1), z.reshape(-1), reduce="amin")
    return zbuf.reshape(bsz, ph, pw)


def _rasterize_large(
    zbuf: torch.Tensor, planes: torch.Tensor, pix0: torch.Tensor, nx: torch.Tensor, ny: torch.Tensor, pw: int,
    eps: float,
) -> None:
    """Exact enumeration of the bounding-box pixels of the (few) large triangles."""
    dev, dt = planes.device, planes.dtype
    nx, ny = nx.to(torch.int64), ny.to(torch.int64)
    counts = nx * ny
    total = int(counts.sum())
    tid = torch.repeat_interleave(torch.arange(len(counts), device=dev), counts, output_size=total)
    local = torch.arange(total, device=dev) - (torch.cumsum(counts, 0) - counts)[tid]
    step = nx[tid]
    dx, dy = local % step, local // step
    basis = torch.stack((torch.ones_like(dx, dtype=dt), dx.to(dt), dy.to(dt)), 1)  # (T, 3)
    val = (planes[tid] * basis[:, None, :]).sum(-1)  # (T, 3)
    wa, wb, z = val.unbind(1)
    inside = (wa >= eps) & (wb >= eps) & (wa + wb <= 1 - eps)
    z = torch.where(inside, z, torch.full_like(z, float("inf")))
    zbuf.scatter_reduce_(0, pix0[tid] + dy * pw + dx, z, reduce="amin")


def render_meshes(
    task: str, vertices: torch.Tensor, faces: torch.Tensor, landmarks: torch.Tensor, *, margin: float = DEFAULT_MARGIN,
    cull: int | None = None,
) -> Rendered:
    """Render posed meshes (study frame, metres) into the patch of ``task``.

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"`` (selects ``PATCH_SIZE``).
    vertices
        ``(B, V, 3)``.
    faces
        ``(F, 3)``.
    landmarks
        ``(B, k, 3)`` 3D landmarks.
    margin
        Free margin of the crop (fraction of the patch).
    cull
        Back-face culling (default :data:`CULL` ``[task]``).

    Returns
    -------
    Rendered
    """
    size = PATCH_SIZE[parse_task(task)]
    xy = torch.stack((vertices[..., 0], -vertices[..., 2]), dim=-1)
    near = vertices[..., 1].amin(dim=1)
    boxes = torch.cat((xy.amin(dim=1), xy.amax(dim=1)), dim=-1)
    scale, offset = fit_boxes(boxes, size, margin)
    pts = xy * scale[:, None, None] + offset[:, None, :]
    zbuf = rasterize(pts, vertices[..., 1] - near[:, None], faces, size, cull=CULL[task] if cull is None else cull)
    masks = torch.isfinite(zbuf)
    depth = torch.where(masks, zbuf, torch.full_like(zbuf, float("nan")))
    lxy = torch.stack((landmarks[..., 0], -landmarks[..., 2]), dim=-1) * scale[:, None, None] + offset[:, None, :]
    return Rendered(masks, depth, lxy, landmarks[..., 1] - near[:, None], scale, offset, near)


def render_params(
    task: str, shape_params: Mapping[str, Any], pose_params: Mapping[str, Any] | None = None, *,
    device: str | torch.device = "cpu", local_changes: Mapping[str, Any] | None = None,
) -> Rendered:
    """Pose (:func:`landmarklib.synth.bodymodel.pose`) and render one batch of parameters."""
    posed = bodymodel.pose(task, shape_params, pose_params, local_changes=local_changes, device=device)
    return render_meshes(task, posed.vertices, posed.faces, posed.landmarks)


def render_block(task: str, seed: int, block: int, *, device: str | torch.device = "cpu") -> tuple[Rendered, np.ndarray]:
    """Samples ``block * BLOCK[task] ...`` of the synthetic distribution: renders + ``(BLOCK, P)`` parameters."""
    size = BLOCK[parse_task(task)]
    shape, pose_ = bodymodel.sample_params(task, size, seed, start=block * size)
    return render_params(task, shape, pose_, device=device), bodymodel.params_to_array(task, shape, pose_)


def _to_numpy(r: Rendered) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in r._asdict().items()}


def render_range(
    task: str, seed: int, start: int, stop: int, *, device: str | torch.device = "cpu"
) -> dict[str, np.ndarray]:
    """Samples ``start .. stop-1`` as numpy arrays (keys of :class:`Rendered` plus ``params``, ``index``).

    Computed block by block (:data:`BLOCK`), so any range gives the same values for the same sample.
    """
    parse_task(task)
    if not (0 <= start <= stop):
        raise LandmarkError(f"render_range needs 0 <= start <= stop, got {start}, {stop}")
    size = BLOCK[task]
    parts: list[dict[str, np.ndarray]] = []
    for block in range(start // size, (stop - 1) // size + 1 if stop > start else start // size):
        rendered, params = render_block(task, seed, block, device=device)
        arr = _to_numpy(rendered)
        arr["params"] = params
        arr["index"] = np.arange(block * size, (block + 1) * size)
        lo, hi = max(start - block * size, 0), min(stop - block * size, size)
        parts.append({k: v[lo:hi] for k, v in arr.items()})
    if not parts:
        empty = render_range(task, seed, 0, 1, device=device)
        return {k: v[:0] for k, v in empty.items()}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ------------------------------------------------------------------------------------------- storage


def store_key(task: str, seed: int, shard_size: int, device: str | torch.device = "cpu") -> str:
    """Folder name of a stored render set: seed, shard size, a hash of what defines a sample, and the
    device type unless CPU (float results differ in the last bits between CPU and GPU)."""
    spec = json.dumps(
        {"space": [{k: v for k, v in p.__dict__.items() if k != "doc"}  # the sampled ranges, not their prose
                   for g in ("shape", "pose") for p in bodymodel.SPACES[task][g]],
         "render": RENDER_VERSION, "cull": CULL[task], "block": BLOCK[task], "margin": DEFAULT_MARGIN},
        sort_keys=True,
    )
    digest = hashlib.sha1(spec.encode()).hexdigest()[:8]
    suffix = "" if torch.device(device).type == "cpu" else f"_{torch.device(device).type}"
    return f"seed{int(seed)}_shard{int(shard_size)}_{digest}{suffix}"


def _write_shard(path: Path, task: str, seed: int, arr: dict[str, np.ndarray]) -> None:
    save_npz(
        path,
        task=np.array(task), seed=np.array(seed), index=arr["index"].astype(np.int64),
        masks_packed=np.packbits(arr["masks"], axis=-1), mask_width=np.array(arr["masks"].shape[-1]),
        depth=arr["depth"].astype(np.float16), landmarks=arr["landmarks"].astype(np.float32),
        landmark_depth=arr["landmark_depth"].astype(np.float32), params=arr["params"].astype(np.float32),
        param_names=np.array([p.name for g in ("shape", "pose") for p in bodymodel.SPACES[task][g]]),
        scale=arr["scale"].astype(np.float32), offset=arr["offset"].astype(np.float32),
    )


def _read_shard(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as exc:
        raise LandmarkError(f"{path}: unreadable render shard ({exc}); delete it and rerun to regenerate") from exc
    width = int(out.pop("mask_width"))
    out["masks"] = np.unpackbits(out.pop("masks_packed"), axis=-1, count=width).astype(bool)
    return out


def _shard_job(
    task: str, seed: int, j: int, shard_size: int, path: str, *, device: str = "cpu", threads: int | None = 1
) -> None:
    """Render shard ``j`` and write it atomically (also the body of a worker process)."""
    if threads is not None:
        torch.set_num_threads(threads)
    arr = render_range(task, seed, j * shard_size, (j + 1) * shard_size, device=device)
    _write_shard(Path(path), task, seed, arr)


def load_renders(
    task: str, cfg: Mapping[str, Any], *, n: int | None = None, progress: bool | None = None, with_depth: bool = True,
    workers: int | None = None,
) -> LandmarkSet:
    """The first ``n`` synthetic renders of ``task`` (generated and cached on first use).

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``.
    cfg
        Resolved parameters (:func:`landmarklib.configure` / :func:`landmarklib.profiles.resolve`):
        uses ``seed``, ``shard_size``, ``device``, ``renders_dir`` and ``hand_renders``/``body_renders``.
    n
        Number of renders (default: ``cfg[f"{task}_renders"]``).
    progress
        Show a bar with images/s while generating (:mod:`landmarklib.progress`; ``None``: when
        interactive).
    with_depth
        Load the depth maps (float32 in memory: 37 kB per hand, 49 kB per body render); ``False``
        leaves ``depth`` ``None`` (``landmark_depth`` is always loaded).
    workers
        Generate missing shards in this many spawned processes of one torch thread each (CPU only;
        on 2 cores two single-threaded processes beat one process with two threads). The shards are
        identical whatever the number of workers. ``None``: up to 2 processes (the CPU count) when at
        least :data:`PARALLEL_FROM` samples are missing (starting a worker costs a few seconds), else 1.

    Returns
    -------
    LandmarkSet
        ``ids`` = ``"<task>-s<seed>-<index>"``, ``depth`` / ``landmark_depth`` in metres (model units),
        ``meta`` with the storage folder, seed and parameters (``meta["params"]``: ``(N, P)``,
        ``meta["param_names"]``).
    """
    parse_task(task)
    n = int(cfg[f"{task}_renders"] if n is None else n)
    seed, shard_size = int(cfg.seed), int(cfg.shard_size)
    if n < 1 or shard_size < 1 or seed < 0:
        raise LandmarkError(f"load_renders needs n >= 1, shard_size >= 1, seed >= 0; got {n}, {shard_size}, {seed}")
    device = resolve_device(cfg.device)
    folder = subdir("synthetic", task, store_key(task, seed, shard_size, device), renders_dir=cfg.renders_dir)
    n_shards = -(-n // shard_size)
    paths = [folder / f"shard_{j:05d}.npz" for j in range(n_shards)]
    missing = [j for j, p in enumerate(paths) if not p.is_file()]
    if missing:
        write_json(folder / "provenance.json", provenance(cfg, task=task, shard_size=shard_size, block=BLOCK[task]))
        from ..progress import bar as progress_bar
        from ..progress import count_images

        bar = progress_bar(total=len(missing) * shard_size, desc=f"{task} renders", unit="img", progress=progress)

        def tick() -> None:
            count_images(bar, shard_size)

        if workers is None:
            workers = min(os.cpu_count() or 1, 2) if len(missing) * shard_size >= PARALLEL_FROM else 1
        if workers > 1 and device.type == "cpu":
            import concurrent.futures
            import multiprocessing

            from ..parallel import ignore_interrupts, run_pool

            ctx = multiprocessing.get_context("spawn")  # never fork a process that holds anny/warp state
            pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=ignore_interrupts)
            run_pool(pool, _shard_job, [(task, seed, j, shard_size, str(paths[j])) for j in missing], lambda _: tick())
        else:
            for j in missing:
                _shard_job(task, seed, j, shard_size, str(paths[j]), device=str(device), threads=None)
                tick()
        bar.close()
    keys = ["masks", "landmarks", "landmark_depth", "params", "index"] + (["depth"] if with_depth else [])
    shards = []
    for p in paths:
        shard = _read_shard(p)
        shards.append({k: shard[k] for k in keys} | {"param_names": shard["param_names"]})
    cat = {k: np.concatenate([s[k] for s in shards])[:n] for k in keys}
    ids = np.char.add(f"{task}-s{seed}-", cat["index"].astype(str))
    return LandmarkSet(
        task=task, masks=cat["masks"], landmarks=cat["landmarks"], ids=ids,
        depth=cat["depth"].astype(np.float32) if with_depth else None,
        landmark_depth=cat["landmark_depth"],
        meta={"source": str(folder), "seed": seed, "shard_size": shard_size, "params": cat["params"],
              "param_names": [str(x) for x in shards[0]["param_names"]], "depth_unit": "m"},
    )


class SyntheticStream(torch.utils.data.IterableDataset):
    """Synthetic renders generated on the fly: sample ``i`` equals stored sample ``i`` of the same seed.

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``.
    seed
        The seed of the distribution (as ``cfg.seed`` for :func:`load_renders`).
    n
        Number of samples (indices ``start .. start + n - 1``).
    start
        First index.
    device
        Device to render on (``"auto"``: CUDA if available).

    Yields
    ------
    dict
        Per sample: ``index`` (int), ``mask`` ``(p_h, p_w)`` bool tensor, ``depth`` ``(p_h, p_w)``
        float32 (NaN background), ``landmarks`` ``(k, 2)`` patch px, ``unit_landmarks`` ``(k, 2)`` in
        ``[-1, 1]`` (eq. 1), ``landmark_depth`` ``(k,)``. Tensors are on the CPU. With a
        ``DataLoader`` of several workers, the index range is split between the workers.
    """

    def __init__(self, task: str, *, seed: int, n: int, start: int = 0, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.task = parse_task(task)
        if n < 0 or start < 0 or seed < 0:
            raise LandmarkError(f"SyntheticStream needs n, start, seed >= 0; got {n}, {start}, {seed}")
        self.seed, self.n, self.start, self.device = int(seed), int(n), int(start), resolve_device(device)

    def __len__(self) -> int:
        return self.n

    def _range(self) -> tuple[int, int]:
        lo, hi = self.start, self.start + self.n
        info = torch.utils.data.get_worker_info()
        if info is None:
            return lo, hi
        per = -(-(hi - lo) // info.num_workers)
        return min(lo + info.id * per, hi), min(lo + (info.id + 1) * per, hi)

    def batches(self) -> Iterator[LandmarkSet]:
        """The same samples as :class:`LandmarkSet` batches of one :data:`BLOCK` each."""
        lo, hi = self._range()
        size = BLOCK[self.task]
        pos = lo
        while pos < hi:
            stop = min((pos // size + 1) * size, hi)
            arr = render_range(self.task, self.seed, pos, stop, device=self.device)
            yield LandmarkSet(
                task=self.task, masks=arr["masks"], landmarks=arr["landmarks"],
                ids=np.char.add(f"{self.task}-s{self.seed}-", arr["index"].astype(str)), depth=arr["depth"],
                landmark_depth=arr["landmark_depth"], meta={"params": arr["params"], "seed": self.seed},
            )
            pos = stop

    def __iter__(self) -> Iterator[dict[str, Any]]:
        size = PATCH_SIZE[self.task]
        for batch in self.batches():
            unit = to_unit(batch.landmarks, size).astype(np.float32)
            for j in range(len(batch)):
                yield {
                    "index": int(batch.ids[j].rsplit("-", 1)[1]), "mask": torch.from_numpy(batch.masks[j]),
                    "depth": torch.from_numpy(batch.depth[j]), "landmarks": torch.from_numpy(batch.landmarks[j]),
                    "unit_landmarks": torch.from_numpy(unit[j]),
                    "landmark_depth": torch.from_numpy(batch.landmark_depth[j]),
                }


# ------------------------------------------------------------------------------ notebook helpers


def compare_with_blender(task: str, n: int, seed: int, *, engine: str = "workbench") -> dict[str, Any]:
    """Render ``n`` samples of the distribution with this renderer and with Blender; compare them.

    Returns
    -------
    dict
        ``ours`` (:class:`Rendered`, numpy arrays), ``blender`` (masks, depth, seconds_per_image),
        ``metrics`` (see :func:`landmarklib.synth.blender.compare`), ``pixel_m`` ``(n,)`` pixel size
        in metres, ``ours_seconds_per_image`` (rasterizer only, same meshes).
    """
    from . import blender as blender_reference

    shape, pose_ = bodymodel.sample_params(task, n, seed)
    posed = bodymodel.pose(task, shape, pose_)
    render_meshes(task, *posed)  # warm-up
    t0 = time.perf_counter()
    ours = render_meshes(task, *posed)
    ours_s = (time.perf_counter() - t0) / n
    ref = blender_reference.render_with_blender(
        posed.vertices.numpy(), posed.faces.numpy(), PATCH_SIZE[task], ours.scale.numpy(), ours.offset.numpy(),
        ours.near.numpy(), engine=engine,
    )
    arr = _to_numpy(ours)
    return {
        "ours": arr, "blender": ref, "ours_seconds_per_image": ours_s, "pixel_m": 1.0 / arr["scale"],
        "metrics": blender_reference.compare(arr["masks"], arr["depth"], ref["masks"], ref["depth"]),
    }


def measure_throughput(task: str, *, blocks: int = 1, seed: int = 0, device: str | torch.device = "cpu") -> dict[str, float]:
    """Images/s of sampling + posing + rendering, over ``blocks`` blocks after one warm-up block."""
    render_block(task, seed, 0, device=device)
    t0 = time.perf_counter()
    for b in range(1, blocks + 1):
        render_block(task, seed, b, device=device)
    seconds = time.perf_counter() - t0
    return {"task": task, "images": blocks * BLOCK[task], "seconds": seconds,
            "images_per_s": blocks * BLOCK[task] / seconds, "threads": torch.get_num_threads()}
