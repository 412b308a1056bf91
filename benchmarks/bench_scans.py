"""Simulated scan cohorts: seconds per subject (generation and binarization) under a profile.

Generates ``--subjects`` MR hands and CT bodies at the profile's voxel sizes into a temporary
renders folder, times both stages, and extrapolates to the profile's cohort size.

Usage: ``.venv/bin/python benchmarks/bench_scans.py --profile cpu --subjects 4``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import landmarklib as lm
from landmarklib.paths import subdir
from landmarklib.provenance import provenance, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--subjects", type=int, default=None, help="subjects per task (default: the profile's)")
    args = parser.parse_args()
    cfg = lm.resolve(args.profile)
    out_dir = subdir("results", "benchmarks")
    from landmarklib import scans

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task, key in (("hand", "mr_subjects"), ("body", "ct_subjects")):
            full = int(cfg[key])
            n = min(full, args.subjects) if args.subjects else full
            run = cfg.replace(renders_dir=tmp, **{key: n})
            start = time.perf_counter()
            folder = scans.generate_cohort(task, run, progress=False)
            gen = time.perf_counter() - start
            start = time.perf_counter()
            scans.binarize_folder(folder, task, table_min_mm=cfg["table_min_mm"], progress=False)
            binz = time.perf_counter() - start
            size_mb = sum(p.stat().st_size for p in Path(folder).glob("*.nii.gz")) / 1e6
            rows.append({
                "task": task, "subjects": n, "voxel_mm": list(cfg["mr_voxel_mm" if task == "hand" else "ct_voxel_mm"]),
                "generate_s_per_subject": round(gen / n, 2), "binarize_s_per_subject": round(binz / n, 2),
                "mb_per_subject": round(size_mb / n, 1),
                "extrapolated_cohort_s": round((gen + binz) / n * full, 1), "cohort_size": full,
            })
    print(f"{'task':6} {'n':>4} {'gen s/subj':>11} {'bin s/subj':>11} {'MB/subj':>8} {'cohort s':>9}")
    for r in rows:
        print(f"{r['task']:6} {r['subjects']:>4} {r['generate_s_per_subject']:>11} {r['binarize_s_per_subject']:>11} "
              f"{r['mb_per_subject']:>8} {r['extrapolated_cohort_s']:>9}")
    path = write_json(out_dir / f"scans_{args.profile}.json", provenance(cfg, benchmark="scans", rows=rows))
    print(f"written {path}")


if __name__ == "__main__":
    main()
