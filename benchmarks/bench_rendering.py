"""Throughput of the synthetic renders: anny + torch rasterizer, against Blender on the same meshes.

Prints a table and writes ``renders/results/benchmarks/rendering_threads<N>.json`` (with provenance).
Targets (issue: renders): >= 2,000 hand and >= 300 body images/s on 2 CPU cores including the model,
and >= 100x Blender Workbench on the same meshes.

Usage: ``.venv/bin/python benchmarks/bench_rendering.py [--threads 2] [--blocks 8] [--bpy 8]``

Besides wall-clock images/s it reports the CPU time per image (``time.process_time``, all threads),
which stays meaningful when other processes share the cores: ``1000 / (CPU ms/img)`` is the rate one
fully available core would reach.
"""

from __future__ import annotations

import argparse
import os
import time

# OpenMP threads that spin while waiting burn the other helpers' cores on a shared machine (and ours)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from landmarklib.paths import subdir  # noqa: E402
from landmarklib.profiles import resolve  # noqa: E402
from landmarklib.provenance import provenance, write_json  # noqa: E402
from landmarklib.synth import blender as blender_reference  # noqa: E402
from landmarklib.synth import bodymodel, rendering

TARGETS = {"hand": 2000.0, "body": 300.0}


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def bench_task(task: str, blocks: int, n_bpy: int, device: str) -> dict:
    size = rendering.BLOCK[task]
    rendering.render_block(task, 0, 0, device=device)  # warm-up (model load, warp kernel)
    wall = cpu = 0.0
    pose_wall = raster_wall = 0.0
    for b in range(1, blocks + 1):
        shape, pose_ = bodymodel.sample_params(task, size, 0, start=b * size)
        posed, w1, c1 = _timed(lambda s=shape, p=pose_: bodymodel.pose(task, s, p, device=device))
        _, w2, c2 = _timed(lambda p=posed: rendering.render_meshes(task, *p))
        pose_wall += w1
        raster_wall += w2
        wall += w1 + w2
        cpu += c1 + c2
    n = blocks * size
    row = {
        "task": task, "images": n, "images_per_s": n / wall, "pose_images_per_s": n / pose_wall,
        "raster_images_per_s": n / raster_wall, "cpu_s_per_image": cpu / n, "target_images_per_s": TARGETS[task],
    }
    if n_bpy:
        shape, pose_ = bodymodel.sample_params(task, n_bpy, 1)
        posed = bodymodel.pose(task, shape, pose_)
        ours, w_ours, _ = _timed(lambda: rendering.render_meshes(task, *posed))
        ours, w_ours, _ = _timed(lambda: rendering.render_meshes(task, *posed))
        for engine in ("workbench", "cycles"):
            ref = blender_reference.render_with_blender(
                posed.vertices.numpy(), posed.faces.numpy(), rendering.PATCH_SIZE[task], ours.scale.numpy(),
                ours.offset.numpy(), ours.near.numpy(), engine=engine,
            )
            cmp = blender_reference.compare(ours.masks.numpy(), ours.depth.numpy(), ref["masks"], ref["depth"])
            row[f"bpy_{engine}_images_per_s"] = 1.0 / ref["seconds_per_image"]
            row[f"ratio_vs_{engine}"] = row["images_per_s"] / row[f"bpy_{engine}_images_per_s"]
            row[f"bpy_{engine}_min_iou"] = float(cmp["iou"].min())
            row[f"bpy_{engine}_max_depth_p99_m"] = float(cmp["depth_abs_p99"].max())
        row["bpy_meshes"] = n_bpy
        row["pixel_size_m"] = float((1.0 / ours.scale).mean())
    return row


def _warm(task: str) -> None:
    torch.set_num_threads(1)
    rendering.render_block(task, 0, 0)


def _one_block(args: tuple[str, int]) -> float:
    task, block = args
    c0 = time.process_time()
    rendering.render_block(task, 0, block)
    return time.process_time() - c0


def bench_processes(task: str, blocks: int, processes: int) -> dict:
    """Blocks spread over ``processes`` spawned single-threaded workers (what ``load_renders(workers=)`` does)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes, initializer=_warm, initargs=(task,)) as pool:
        pool.map(_one_block, [(task, 1)] * processes)  # every worker warm before the clock starts
        t0 = time.perf_counter()
        cpu = pool.map(_one_block, [(task, b) for b in range(1, blocks + 1)], chunksize=1)
        wall = time.perf_counter() - t0
    n = blocks * rendering.BLOCK[task]
    return {"task": task, "processes": processes, "images": n, "images_per_s": n / wall, "cpu_s_per_image": sum(cpu) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blocks", type=int, default=8, help="blocks per task (hand: 250, body: 50 images each)")
    ap.add_argument("--bpy", type=int, default=8, help="meshes per task rendered with Blender (0: skip)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--processes", type=int, default=2, help="also time this many single-threaded worker processes")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [bench_task(task, args.blocks, args.bpy, args.device) for task in ("hand", "body")]
    multi = [bench_processes(task, args.blocks, args.processes) for task in ("hand", "body")] if args.processes > 1 else []
    load = os.getloadavg()
    print(f"threads={args.threads} device={args.device} load average={load[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'task':5} {'img/s':>8} {'target':>7} {'pose/s':>8} {'raster/s':>9} {'CPU ms/img':>10} "
          f"{'bpy WB/s':>9} {'x WB':>7} {'bpy Cy/s':>9} {'x Cy':>7} {'IoU min':>8}")
    for r in rows:
        print(f"{r['task']:5} {r['images_per_s']:8.0f} {r['target_images_per_s']:7.0f} {r['pose_images_per_s']:8.0f} "
              f"{r['raster_images_per_s']:9.0f} {1e3 * r['cpu_s_per_image']:10.2f} "
              f"{r.get('bpy_workbench_images_per_s', float('nan')):9.1f} {r.get('ratio_vs_workbench', float('nan')):7.0f} "
              f"{r.get('bpy_cycles_images_per_s', float('nan')):9.1f} {r.get('ratio_vs_cycles', float('nan')):7.0f} "
              f"{r.get('bpy_workbench_min_iou', float('nan')):8.4f}")
    for r in multi:
        print(f"{r['task']:5} {r['images_per_s']:8.0f} img/s with {r['processes']} single-threaded processes "
              f"(CPU {1e3 * r['cpu_s_per_image']:.2f} ms/img; target {TARGETS[r['task']]:.0f})")
    out = subdir("results", "benchmarks") / f"rendering_threads{args.threads}.json"
    write_json(out, {**provenance(resolve("quick"), benchmark="rendering", threads=args.threads, device=args.device,
                                  load_average=list(load)), "rows": rows, "processes": multi})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
