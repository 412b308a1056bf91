"""Blender (``bpy``) as the reference renderer for the fast torch rasterizer (issue: renders).

The same posed meshes are drawn by Blender's orthographic camera into the same patch (same crop,
same pixel grid) and read back as silhouette (alpha) + Z pass. Blender runs in a child process
(``python -m landmarklib.synth.blender IN OUT``) whose parent never imports ``bpy``: forking after
``import bpy`` deadlocks, and spawning from a process that imported it fails (TOOLCHAIN.md).

Camera: orthographic, looking along ``+Y`` (Blender: ``rotation_euler = (90 deg, 0, 0)``), image right
= ``+X``, image up = ``+Z``, placed 1 m in front of the sample's nearest point, so that
``depth = Z_pass - 1`` in the renderer's convention. ``ortho_scale = max(p_w, p_h) / scale``.
Engines: ``"workbench"`` (anti-aliasing off) or ``"cycles"`` (1 sample, box filter, no denoising);
both give hard edges, so the alpha channel is a binary silhouette.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LandmarkError

__all__ = ["CAMERA_DISTANCE", "render_with_blender", "compare"]

#: The camera stands this far (metres) in front of the nearest point of the sample.
CAMERA_DISTANCE = 1.0


def render_with_blender(
    vertices: np.ndarray,
    faces: np.ndarray,
    patch_size: tuple[int, int],
    scale: np.ndarray,
    offset: np.ndarray,
    near: np.ndarray,
    *,
    engine: str = "workbench",
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Render meshes with Blender into the renderer's patch frame.

    Parameters
    ----------
    vertices
        ``(B, V, 3)`` metres, study frame.
    faces
        ``(F, 3)``.
    patch_size
        ``(p_w, p_h)``.
    scale, offset, near
        ``(B,)``, ``(B, 2)``, ``(B,)`` from :class:`landmarklib.synth.rendering.Rendered` (patch pixels per
        metre, patch offset, camera plane ``Y``).
    engine
        ``"workbench"`` or ``"cycles"``.

    Returns
    -------
    dict
        ``masks`` ``(B, p_h, p_w)`` bool, ``depth`` ``(B, p_h, p_w)`` float32 (metres from the camera
        plane, NaN background), ``seconds_per_image`` (render + EXR write/read, Blender start-up
        excluded), ``engine``.
    """
    if engine not in ("workbench", "cycles"):
        raise LandmarkError(f"engine must be 'workbench' or 'cycles', got {engine!r}")
    with tempfile.TemporaryDirectory(prefix="bpyref_") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(
            src, vertices=np.asarray(vertices, np.float32), faces=np.asarray(faces, np.int64),
            patch_size=np.asarray(patch_size), scale=np.asarray(scale, np.float64),
            offset=np.asarray(offset, np.float64), near=np.asarray(near, np.float64), engine=np.array(engine),
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                             os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.run(
            [sys.executable, "-m", "landmarklib.synth.blender", str(src), str(dst)],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
        if proc.returncode != 0 or not dst.is_file():
            tail = (proc.stderr or proc.stdout)[-2000:]
            raise LandmarkError(f"Blender reference render failed (is bpy==5.0.1 installed?):\n{tail}")
        with np.load(dst) as z:
            return {"masks": z["masks"], "depth": z["depth"], "seconds_per_image": float(z["seconds_per_image"]),
                    "engine": engine}


def compare(masks_a: np.ndarray, depth_a: np.ndarray, masks_b: np.ndarray, depth_b: np.ndarray) -> dict[str, Any]:
    """Silhouette IoU per image and depth differences on the pixels both cover.

    Returns
    -------
    dict
        ``iou`` ``(B,)``, ``depth_abs_median`` / ``depth_abs_p99`` / ``depth_abs_max`` ``(B,)`` in the
        depth unit.
    """
    a, b = np.asarray(masks_a, bool), np.asarray(masks_b, bool)
    inter = (a & b).sum(axis=(1, 2))
    union = (a | b).sum(axis=(1, 2))
    iou = inter / np.maximum(union, 1)
    med, p99, mx = [], [], []
    for i in range(len(a)):
        both = a[i] & b[i]
        d = np.abs(np.asarray(depth_a[i], np.float64)[both] - np.asarray(depth_b[i], np.float64)[both])
        d = d if d.size else np.zeros(1)
        med.append(np.median(d))
        p99.append(np.percentile(d, 99))
        mx.append(d.max())
    return {"iou": iou, "depth_abs_median": np.array(med), "depth_abs_p99": np.array(p99),
            "depth_abs_max": np.array(mx)}


# ------------------------------------------------------------------------------------- child process


def _child(src: str, dst: str) -> None:  # pragma: no cover - runs inside the Blender subprocess
    import math

    import bpy

    sys.path.append(bpy.utils.resource_path("LOCAL") + "/python/lib/python3.11/site-packages")
    import OpenImageIO as oiio

    data = np.load(src)
    verts, faces = data["vertices"], data["faces"]
    pw, ph = (int(v) for v in data["patch_size"])
    engine = str(data["engine"])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = pw, ph
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    if engine == "workbench":
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.display.render_aa = "OFF"
    else:
        scene.render.engine = "CYCLES"
        scene.cycles.samples = 1
        scene.cycles.use_denoising = False
        scene.cycles.pixel_filter_type = "BOX"
        scene.cycles.device = "CPU"
    scene.view_layers[0].use_pass_z = True
    settings = scene.render.image_settings
    settings.media_type = "MULTI_LAYER_IMAGE"
    settings.file_format = "OPEN_EXR_MULTILAYER"
    settings.color_depth = "32"

    mesh = bpy.data.meshes.new("m")
    mesh.from_pydata(verts[0].astype(np.float64).tolist(), [], faces.tolist())
    mesh.update()
    obj = bpy.data.objects.new("m", mesh)
    scene.collection.objects.link(obj)
    cam_data = bpy.data.cameras.new("cam")
    cam_data.type = "ORTHO"
    cam_data.clip_start, cam_data.clip_end = 1e-3, 100.0
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam.rotation_euler = (math.pi / 2, 0.0, 0.0)  # looks along +Y, up = +Z, right = +X

    masks = np.zeros((len(verts), ph, pw), bool)
    depth = np.full((len(verts), ph, pw), np.nan, np.float32)
    out_path = str(Path(dst).with_suffix("")) + "_frame.exr"
    scene.render.filepath = out_path
    t0 = 0.0
    for i in [0, *range(len(verts))]:  # frame 0 twice: the first render warms Blender up (not timed)
        mesh.vertices.foreach_set("co", verts[i].astype(np.float32).ravel())
        mesh.update()
        s, (ox, oy), near = float(data["scale"][i]), data["offset"][i], float(data["near"][i])
        cam_data.ortho_scale = max(pw, ph) / s
        cam.location = ((pw / 2 - ox) / s, near - CAMERA_DISTANCE, -(ph / 2 - oy) / s)
        bpy.ops.render.render(write_still=True)
        img = oiio.ImageInput.open(out_path)
        spec = img.spec()
        names = list(spec.channelnames)
        pixels = np.asarray(img.read_image(0, 0, 0, spec.nchannels, "float")).reshape(ph, pw, spec.nchannels)
        if pixels.size == 0 or "ViewLayer.Depth.Z" not in names:
            # Blender 5 writes one EXR part per pass: find the parts by channel name
            chans = {}
            sub = 0
            while img.seek_subimage(sub, 0):
                sp = img.spec()
                arr = np.asarray(img.read_image(sub, 0, 0, sp.nchannels, "float")).reshape(ph, pw, sp.nchannels)
                for c, name in enumerate(sp.channelnames):
                    chans[name] = arr[..., c]
                sub += 1
        else:
            chans = {name: pixels[..., c] for c, name in enumerate(names)}
        img.close()
        alpha = chans["ViewLayer.Combined.A"]
        z = chans["ViewLayer.Depth.Z"]
        hit = (alpha > 0.5) & (z < 1e9)
        masks[i] = hit
        depth[i] = np.where(hit, z - CAMERA_DISTANCE, np.nan)
        if t0 == 0.0:
            t0 = time.perf_counter()  # after the warm-up frame
    seconds = (time.perf_counter() - t0) / max(len(verts), 1)
    np.savez(dst, masks=masks, depth=depth, seconds_per_image=np.array(seconds))


if __name__ == "__main__":  # pragma: no cover
    _child(sys.argv[1], sys.argv[2])
