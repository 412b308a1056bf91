"""Training speed of the Table 1 CNN: the library's ``fit`` against a plain fp32 PyTorch loop, side by side.

For the hand (96 x 96) and body (76 x 160) networks at the paper's mini-batch of 100, and for the body's
fine-tuning regime (19 images per step: a leave-one-out fold of 20 CT scans), in one process:

* a plain fp32 PyTorch loop of the same net (NCHW, ``torch.optim.SGD`` with its default per-tensor
  path, ``clip_grad_norm_``, ``zero_grad()``): the reference;
* :func:`landmarklib.engine.training.fit` in fp32 and in bf16 (``Schedule.precision``);

measured in interleaved rounds (plain, fit fp32, fit bf16, plain, ...), median of the rounds, so that
a neighbour's load on shared cores hits all variants alike: **the ratios are the result; the absolute
rates depend on the load at the time**. Also printed: achieved GFLOP/s (3 x forward FLOPs of
:func:`landmarklib.models.cnn.forward_flops` x img/s) and its ratios to the fp32 and bf16 ``torch.mm``
rates measured in the same run, and where a step of ``fit`` goes (torch.profiler: the ``data``,
``forward``, ``backward``, ``clip`` and ``optimizer`` labels of ``fit``, and self time per operator
class: convolutions and pooling, fc matrix products, bf16 casts, optimizer, clipping norm).

The fine-tuning row gives the projected wall time of the body's leave-one-out at the paper's schedule:
2 methods x 20 folds x 700 steps x the measured time of one step (prediction and fold set-up are
negligible next to it), also with the folds trained by two 1-thread processes at once (the cpu
profile's ``fold_workers: 2``; measured for the body's 19-image and the hand's 88-image folds), and
two floors of that projection: the convolutions' forward and backward passes alone, and those plus the
fc layers' bf16 matrix products, each run by two 1-thread processes at once (:func:`step_floor_ms`).
Every implementation of the paper's step computes both, so the issue's 15-minute target can be judged
against them rather than against one implementation.

Usage: ``python benchmarks/bench_training.py [--quick] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from landmarklib.engine.training import Schedule, cpu_has_bf16, fit
from landmarklib.geometry import patch_size
from landmarklib.models.cnn import LandmarkCNN, forward_flops
from landmarklib.paths import subdir
from landmarklib.profiles import resolve
from landmarklib.provenance import provenance, write_json

#: Optimizer steps of the body's leave-one-out fine-tuning at the paper's schedule (2 methods x 20 folds x 700).
PAPER_BODY_LOO_STEPS = 2 * 20 * 700

#: Operator classes of the profile (substrings of aten operator names; first match wins).
OP_CLASSES = {
    "optimizer": ("sgd", "foreach_add", "foreach_mul"),
    "clipping": ("norm",),
    "conv": ("convolution", "max_pool", "conv"),
    "fc": ("addmm", "aten::mm", "linear"),
    "cast/copy": ("copy_", "_to_copy"),
}


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` ``torch.mm`` rate on an ``n x n`` problem in ``dtype``, GFLOP/s."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def random_data(task: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random bool masks ``(n, 1, p_h, p_w)`` and targets in ``[-1, 1]``."""
    rng = np.random.default_rng(seed)
    pw, ph = patch_size(task)
    return rng.random((n, 1, ph, pw)) < 0.3, rng.uniform(-1, 1, (n, LandmarkCNN(task).n_outputs)).astype(np.float32)


def plain_loop(net: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int, steps: int) -> float:
    """A plain fp32 PyTorch training loop (the reference): seconds for ``steps`` steps."""
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9)
    net.train()
    t0 = time.perf_counter()
    for s in range(steps):
        xb = torch.from_numpy(x[s * batch:(s + 1) * batch]).float()
        yb = torch.from_numpy(y[s * batch:(s + 1) * batch])
        loss = (net(xb) - yb).pow(2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
    return time.perf_counter() - t0


def fit_seconds(net: torch.nn.Module, x: np.ndarray, y: np.ndarray, batch: int, precision: str) -> float:
    """Seconds of :func:`fit`'s training loop for one epoch over ``x`` (its own timer, no set-up)."""
    hist = fit(net, x, y, Schedule(epochs=1, batch_size=batch, lr=1e-4, clip_grad_norm=1.0, precision=precision),
               seed=0, progress=False)
    return float(hist["seconds"])


def step_profile(task: str, batch: int, precision: str, steps: int) -> dict[str, dict[str, float]]:
    """Where ``fit``'s steps go: share of its labelled phases and of operator classes (self CPU time)."""
    x, y = random_data(task, batch * steps, seed=1)
    net = LandmarkCNN(task)
    fit_seconds(net, x[:batch], y[:batch], batch, precision)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fit_seconds(net, x, y, batch, precision)
    events = prof.key_averages()
    phases = {e.key: e.cpu_time_total for e in events if e.key in ("data", "forward", "backward", "clip", "optimizer")}
    ops: dict[str, float] = dict.fromkeys([*OP_CLASSES, "other"], 0.0)
    for e in events:
        if not e.key.startswith("aten::"):
            continue
        name = e.key.lower()
        cls = next((c for c, keys in OP_CLASSES.items() if any(k in name for k in keys)), "other")
        ops[cls] += e.self_cpu_time_total
    tp, to = sum(phases.values()) or 1.0, sum(ops.values()) or 1.0
    return {"phases": {k: v / tp for k, v in phases.items()}, "operators": {k: v / to for k, v in ops.items()}}


def _fit_steps(task: str, batch: int, steps: int) -> float:
    """Seconds of ``steps`` steps of :func:`fit` (bf16) after a one-step warm-up."""
    x, y = random_data(task, batch * steps, seed=2)
    net = LandmarkCNN(task)
    fit_seconds(net, x[:batch], y[:batch], batch, "bf16")  # warm-up
    return fit_seconds(net, x, y, batch, "bf16")


def _conv_steps(task: str, batch: int, steps: int) -> float:
    """Seconds of ``steps`` forward + backward passes of the convolution layers alone (bf16, channels_last,
    weight gradients), the compute-bound part of a step that no handling of the fc weights can remove."""
    x = torch.from_numpy(random_data(task, batch)[0]).float().contiguous(memory_format=torch.channels_last)
    features = LandmarkCNN(task).features.to(memory_format=torch.channels_last).train()

    def step() -> None:
        with torch.autocast("cpu", torch.bfloat16):
            out = features(x)
        out.float().sum().backward()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t0


def _fc_gemm_steps(task: str, batch: int, steps: int) -> float:
    """Seconds of ``steps`` x the fc layers' matrix products alone in bf16 (forward, input gradient, weight
    gradient of each layer; weights already bf16): no casts, no clipping, no optimizer update."""
    layers = [m for m in LandmarkCNN(task).regressor if isinstance(m, torch.nn.Linear)]
    ws = [m.weight.detach().to(torch.bfloat16) for m in layers]
    xs = [torch.randn(batch, w.shape[1], dtype=torch.bfloat16) for w in ws]
    dys = [torch.randn(batch, w.shape[0], dtype=torch.bfloat16) for w in ws]
    dws = [torch.empty_like(w) for w in ws]

    def step() -> None:
        for w, x, dy, dw in zip(ws, xs, dys, dws):
            x @ w.t()
            dy @ w
            torch.mm(dy.t(), x, out=dw)

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t0


_PARTS = {"fit": _fit_steps, "conv": _conv_steps, "fc_gemm": _fc_gemm_steps}


def _one_thread(part: str, task: str, batch: int, steps: int) -> float:
    torch.set_num_threads(1)
    return _PARTS[part](task, batch, steps)


def concurrent_ms(part: str, task: str, batch: int, steps: int, workers: int = 2) -> float:
    """Effective ms per step of ``part`` (``fit``, ``conv`` or ``fc_gemm``) run by ``workers`` forked
    1-thread processes at once, as the cross-validation trains folds with ``fold_workers: 2``
    (:mod:`landmarklib.engine.crossval`). Each worker times its own steps after a warm-up (process start
    and first-step page faults are a one-off per process, not per fold: a worker trains many folds); the
    slower worker sets the wall time."""
    import concurrent.futures
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        seconds = list(pool.map(_one_thread, [part] * workers, [task] * workers, [batch] * workers, [steps] * workers))
    return 1e3 * max(seconds) / (workers * steps)


def parallel_folds_ms(task: str, batch: int, steps: int, workers: int = 2) -> dict[str, float]:
    """Effective ms per step of ``workers`` 1-thread processes training at once against one process of
    all threads, measured back to back."""
    one = 1e3 * _fit_steps(task, batch, steps) / steps
    effective = concurrent_ms("fit", task, batch, steps, workers)
    return {"one_process_ms": one, "parallel_effective_ms": effective, "speedup": one / effective}


def step_floor_ms(task: str, batch: int, steps: int, workers: int = 2) -> dict[str, float]:
    """Effective ms per step of two parts of a fine-tuning step, each run by ``workers`` 1-thread processes
    at once (:func:`concurrent_ms`): the convolutions alone and the fc layers' matrix products alone.

    Their sum bounds from below any training step that computes the paper's network with these kernels:
    what is left of a measured step (bf16 casts, clipping norm, optimizer update, dropout, pooling glue)
    is what an implementation can still shave."""
    return {f"{part}_ms": concurrent_ms(part, task, batch, steps, workers) for part in ("conv", "fc_gemm")}


def measure(task: str, batch: int, steps: int, rounds: int) -> dict[str, float]:
    """Median img/s over ``rounds`` interleaved rounds of: plain fp32 loop, fit fp32, fit bf16."""
    x, y = random_data(task, batch * steps)
    torch.manual_seed(0)
    nets = {v: LandmarkCNN(task) for v in ("plain", "fp32", "bf16")}
    plain_loop(nets["plain"], x, y, batch, 1)
    for v in ("fp32", "bf16"):
        fit_seconds(nets[v], x[:batch], y[:batch], batch, v)
    seconds: dict[str, list[float]] = {v: [] for v in nets}
    for _ in range(rounds):
        seconds["plain"].append(plain_loop(nets["plain"], x, y, batch, steps))
        for v in ("fp32", "bf16"):
            seconds[v].append(fit_seconds(nets[v], x, y, batch, v))
    return {v: batch * steps / statistics.median(s) for v, s in seconds.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    steps = 2 if args.quick else 6
    n = 1024 if args.quick else 2048
    mm = {"fp32": matmul_gflops(torch.float32, n), "bf16": matmul_gflops(torch.bfloat16, n)}
    cases = [("hand", 100, steps), ("body", 100, steps), ("body", 19, 2 * steps)]
    rows = []
    for task, batch, k in cases:
        rates = measure(task, batch, k, 1 if args.quick else args.rounds)
        flops = forward_flops(LandmarkCNN(task))
        for variant, rate in rates.items():
            gflops = 3 * flops * rate / 1e9
            rows.append({
                "task": task, "batch": batch, "variant": variant, "images_per_s": rate,
                "ms_per_step": 1e3 * batch / rate, "train_gflop_s": gflops,
                "of_fp32_mm": gflops / mm["fp32"], "of_bf16_mm": gflops / mm["bf16"],
                "vs_plain_fp32": rate / rates["plain"],
            })
    profiles = {f"{task}_b{batch}_{p}": step_profile(task, batch, p, 2 if args.quick else 4)
                for task, batch, _ in cases for p in ("fp32", "bf16")}

    print(f"torch.mm {n}^3 in this run: fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} GFLOP/s "
          f"({torch.get_num_threads()} threads; CPU native bf16: {cpu_has_bf16()})")
    print("Shared cores: absolute rates depend on the load; the ratios come from interleaved rounds in one process.")
    print(f"{'net':5} {'batch':>5} {'variant':8} {'img/s':>7} {'ms/step':>8} {'GFLOP/s':>8} {'/fp32 mm':>8} "
          f"{'/bf16 mm':>8} {'x plain':>7}")
    for r in rows:
        print(f"{r['task']:5} {r['batch']:5d} {r['variant']:8} {r['images_per_s']:7.0f} {r['ms_per_step']:8.1f} "
              f"{r['train_gflop_s']:8.1f} {r['of_fp32_mm']:8.0%} {r['of_bf16_mm']:8.0%} {r['vs_plain_fp32']:7.2f}")
    print("\nwhere a step of fit goes (share of labelled phases | share of operator self time):")
    for key, prof in profiles.items():
        ph = " ".join(f"{k} {v:.0%}" for k, v in prof["phases"].items())
        op = " ".join(f"{k} {v:.0%}" for k, v in prof["operators"].items())
        print(f"  {key:16} {ph} | {op}")
    ft = {r["variant"]: r["ms_per_step"] for r in rows if r["task"] == "body" and r["batch"] == 19}
    parallel = {f"{task}_b{batch}": parallel_folds_ms(task, batch, 4 if args.quick else 3 * steps)
                for task, batch in (("body", 19), ("hand", 88))}
    print("\nfolds trained by two 1-thread processes at once (fold_workers: 2) against one 2-thread process:")
    for key, r in parallel.items():
        print(f"  {key:9} one process {r['one_process_ms']:.0f} ms/step, two processes {r['parallel_effective_ms']:.0f} "
              f"ms/step effective: {r['speedup']:.2f}x")
    ft["bf16, 2 processes"] = parallel["body_b19"]["parallel_effective_ms"]
    floor = step_floor_ms("body", 19, 10 if args.quick else 40)
    ft["floor: convolutions alone, 2 processes"] = floor["conv_ms"]
    ft["floor: convolutions + fc matrix products, 2 processes"] = floor["conv_ms"] + floor["fc_gemm_ms"]
    loo = {v: PAPER_BODY_LOO_STEPS * ms / 1e3 / 60 for v, ms in ft.items()}
    print(f"\nbody leave-one-out at the paper's schedule ({PAPER_BODY_LOO_STEPS} steps of 19 images), projected "
          "from the measured ms/step (effective, with two 1-thread processes where said):")
    for v, m in loo.items():
        print(f"  {v:55} {ft[v]:6.1f} ms/step {m:6.1f} min")
    print("  (the floors: the convolutions' forward and backward alone, and with the fc layers' six bf16 matrix "
          "products, two 1-thread processes at once; every implementation of the paper's step computes both)")
    record = provenance(resolve("cpu"), benchmark="training", quick=args.quick, matmul_gflops=mm, rows=rows,
                        step_profiles=profiles, body_loo_minutes=loo, parallel_folds=parallel,
                        body_step_floor_ms=floor,
                        note="2 CPU cores shared with other processes: the ratios (interleaved rounds in one "
                             "process) are the result, the absolute rates depend on the load")
    path = write_json(subdir("results", "benchmarks") / "training.json", record)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
