"""Scans: NIfTI and landmark-file I/O, the simulated MR/CT cohorts, binarization to patches."""

from __future__ import annotations

from . import binarize, cohorts, io, simulate
from .binarize import (
    CT_THRESHOLD_HU,
    MR_THRESHOLD_FRACTION,
    VIEW_AXCODES,
    Patch,
    Projection,
    air_threshold,
    binarize_volume,
    project,
    remove_table,
    reorient,
    to_patch,
)
from .cohorts import (
    binarize_folder,
    cohort_dir,
    depth_spread,
    example,
    generate_cohort,
    load_cohort,
    user_folder,
)
from .io import (
    LANDMARK_SUFFIXES,
    Scan,
    find_scans,
    load_nifti,
    load_scan,
    read_landmarks,
    save_nifti,
    world_to_voxel,
    write_fcsv,
    write_landmark_csv,
    write_mrk_json,
)
from .simulate import (
    ANNOTATION_JITTER_MM,
    COHORTS,
    Subject,
    local_girth,
    paint_capsule,
    sample_subject,
    simulate_scan,
    torch_dtype,
    voxelize,
)

__all__ = ["io", "LANDMARK_SUFFIXES", "Scan", "load_nifti", "save_nifti", "read_landmarks", "write_mrk_json", "write_fcsv", "write_landmark_csv", "find_scans", "world_to_voxel", "load_scan", "binarize", "VIEW_AXCODES", "CT_THRESHOLD_HU", "MR_THRESHOLD_FRACTION", "reorient", "air_threshold", "Projection", "remove_table", "project", "binarize_volume", "Patch", "to_patch", "simulate", "ANNOTATION_JITTER_MM", "COHORTS", "voxelize", "paint_capsule", "torch_dtype", "local_girth", "Subject", "sample_subject", "simulate_scan", "cohorts", "cohort_dir", "generate_cohort", "user_folder", "example", "binarize_folder", "load_cohort", "depth_spread"]
