"""Training speed of the Table 1 CNN on this machine, against its own fp32 matmul rate.

Measures, for the hand (96 x 96) and body (76 x 160) networks:

* training images/s through :func:`landmarklib.engine.training.fit` at the paper's mini-batch of 100
  (pretraining) and at the fine-tuning batch sizes (a whole fold: 88 hands, 19 bodies), i.e. the
  real code path with data conversion, channels_last, SGD + momentum;
* the achieved GFLOP/s = 3 x forward FLOPs (counted by :func:`landmarklib.models.cnn.forward_flops`) x
  images/s, and its ratio to the machine's fp32 matrix-multiply GFLOP/s measured here with torch
  (2048^3 ``torch.mm``, best of 5), the target being >= 50 %;
* the projected wall time of the ``cpu`` and ``paper`` profiles' CNN training (pretraining of both
  tasks + CNN(real) and CNN(ft) cross-validation) on this machine, and of ``paper`` on one H100.

Run with nothing else of yours running; other processes on shared cores depress the numbers.
Usage: ``python benchmarks/bench_training.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from landmarklib.engine.training import Schedule, fit
from landmarklib.geometry import patch_size
from landmarklib.models.cnn import LandmarkCNN, forward_flops
from landmarklib.paths import subdir
from landmarklib.profiles import resolve
from landmarklib.provenance import provenance, write_json

#: H100 SXM dense bf16 tensor-core peak (NVIDIA datasheet, without sparsity), FLOP/s.
H100_BF16_PEAK = 989e12
#: Assumed fraction of that peak this small network reaches (32-channel convolutions, fc GEMMs with
#: M = 100 rows): a stated assumption, not a measurement. The range 10-40 % is printed too.
H100_UTILISATION = 0.2
#: Assumed fixed cost of one optimizer step on the GPU (kernel launches, ~36 M-parameter SGD update).
H100_STEP_OVERHEAD_S = 2e-3


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` fp32 ``torch.mm`` rate on an ``n x n`` problem, GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def _random_masks(task: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pw, ph = patch_size(task)
    masks = rng.random((n, 1, ph, pw)) < 0.3
    k = LandmarkCNN(task).n_outputs
    return masks, rng.uniform(-1, 1, (n, k)).astype(np.float32)


def training_rate(task: str, batch: int, steps: int) -> float:
    """Images/s of :func:`fit` over ``steps`` mini-batches of ``batch`` (after one warm-up epoch)."""
    x, y = _random_masks(task, batch * steps)
    torch.manual_seed(0)
    net = LandmarkCNN(task)
    fit(net, x[: 2 * batch], y[: 2 * batch], Schedule(epochs=1, batch_size=batch), seed=0, progress=False)
    hist = fit(net, x, y, Schedule(epochs=1, batch_size=batch), seed=0, progress=False)
    return float(hist["images_per_s"][0])


def workload(profile: str) -> dict[str, dict[str, float]]:
    """Images and optimizer steps of a profile's CNN training, per task and phase.

    Pretraining: ``<task>_pretrain_images x pretrain_epochs`` images in batches of ``batch_size``.
    Cross-validation: CNN(real) + CNN(ft) = 2 runs per fold of ``finetune_epochs`` epochs over the
    fold's training subjects (hand 3-fold: 2/3 of ``mr_subjects``; body leave-one-out:
    ``ct_subjects - 1``, ``ct_subjects`` folds).
    """
    cfg = resolve(profile)
    out = {}
    for task, subjects, n_folds in (("hand", cfg["mr_subjects"], 3), ("body", cfg["ct_subjects"], cfg["ct_subjects"])):
        train = subjects - -(-subjects // n_folds) if task == "hand" else subjects - 1
        pre_images = cfg[f"{task}_pretrain_images"] * cfg["pretrain_epochs"]
        steps_per_epoch = -(-train // cfg["batch_size"])
        ft_steps = 2 * n_folds * cfg["finetune_epochs"] * steps_per_epoch
        out[task] = {
            "pretrain_images": pre_images, "pretrain_steps": pre_images / cfg["batch_size"],
            "finetune_images": 2 * n_folds * cfg["finetune_epochs"] * train, "finetune_steps": ft_steps,
            "finetune_batch": min(train, cfg["batch_size"]),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    args = parser.parse_args(argv)
    steps = 2 if args.quick else 20
    peak = matmul_gflops(1024 if args.quick else 2048)
    rows, rates = [], {}
    cpu_work = workload("cpu")
    for task in ("hand", "body"):
        flops = forward_flops(LandmarkCNN(task))
        for phase, batch in (("pretrain", 100), ("finetune", int(cpu_work[task]["finetune_batch"]))):
            rate = training_rate(task, batch, steps if phase == "pretrain" else 2 * steps)
            gflops = 3 * flops * rate / 1e9
            rates[(task, phase)] = rate
            rows.append({"task": task, "phase": phase, "batch": batch, "images_per_s": rate,
                         "forward_mflop": flops / 1e6, "train_gflop_s": gflops, "ratio_to_matmul": gflops / peak})
    print(f"fp32 torch.mm rate on this machine: {peak:.1f} GFLOP/s ({torch.get_num_threads()} threads)")
    print(f"{'task':5} {'phase':9} {'batch':>5} {'img/s':>8} {'fwd MFLOP':>10} {'GFLOP/s':>8} {'of matmul':>9}")
    for r in rows:
        print(f"{r['task']:5} {r['phase']:9} {r['batch']:5d} {r['images_per_s']:8.1f} {r['forward_mflop']:10.1f} "
              f"{r['train_gflop_s']:8.1f} {r['ratio_to_matmul']:9.0%}")

    projections = {}
    for profile in ("cpu", "paper"):
        work = workload(profile)
        seconds = {
            task: {"pretrain": w["pretrain_images"] / rates[(task, "pretrain")],
                   "finetune": w["finetune_images"] / rates[(task, "finetune")]}
            for task, w in work.items()
        }
        projections[profile] = {"work": work, "seconds_this_machine": seconds,
                                "total_hours_this_machine": sum(sum(s.values()) for s in seconds.values()) / 3600}
    paper = projections["paper"]["work"]
    gpu = {}
    for util in (0.1, H100_UTILISATION, 0.4):
        total = 0.0
        for task, w in paper.items():
            step_flops = 3 * forward_flops(LandmarkCNN(task))
            total += w["pretrain_images"] * step_flops / (util * H100_BF16_PEAK)
            total += w["pretrain_steps"] * H100_STEP_OVERHEAD_S
            total += w["finetune_images"] * step_flops / (util * H100_BF16_PEAK)
            total += w["finetune_steps"] * H100_STEP_OVERHEAD_S
        gpu[f"{util:.0%}"] = total / 3600
    projections["paper"]["h100_hours_by_utilisation"] = gpu
    for profile in ("cpu", "paper"):
        s = projections[profile]["seconds_this_machine"]
        parts = ", ".join(f"{t} pretrain {v['pretrain'] / 60:.1f} min + CV {v['finetune'] / 60:.1f} min"
                          for t, v in s.items())
        print(f"profile {profile}: {projections[profile]['total_hours_this_machine']:.2f} h here ({parts})")
    print("paper profile on one H100 (bf16, assumed utilisation of the 989 TFLOP/s dense peak, "
          f"+{H100_STEP_OVERHEAD_S * 1e3:.0f} ms per step): "
          + ", ".join(f"{k}: {v:.2f} h" for k, v in gpu.items()))
    record = provenance(resolve("cpu"), benchmark="training", quick=args.quick, matmul_gflops=peak, rows=rows,
                        projections=projections, h100_assumptions={
                            "bf16_dense_peak_flops": H100_BF16_PEAK, "utilisation": H100_UTILISATION,
                            "step_overhead_s": H100_STEP_OVERHEAD_S},
                        note="2 CPU cores shared with other processes; numbers may be depressed by contention")
    path = write_json(subdir("results", "benchmarks") / "training.json", record)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
