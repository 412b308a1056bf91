"""Synthetic training data: the anny body model, the batched rasterizer and render store, the Blender reference."""

from __future__ import annotations

from . import blender, bodymodel, rendering
from .blender import CAMERA_DISTANCE, compare, render_with_blender
from .bodymodel import (
    FINGERS,
    SPACES,
    LandmarkDefinition,
    Param,
    Posed,
    age_to_anny,
    array_to_params,
    default_sample,
    landmark_definition,
    load_model,
    params_to_array,
    pose,
    sample_params,
    with_ranges,
)
from .rendering import (
    BLOCK,
    CULL,
    MAX_WINDOW,
    PARALLEL_FROM,
    RENDER_VERSION,
    Rendered,
    SyntheticStream,
    compare_with_blender,
    fit_boxes,
    load_renders,
    measure_throughput,
    rasterize,
    render_block,
    render_meshes,
    render_params,
    render_range,
    resolve_device,
    store_key,
)

__all__ = ["bodymodel", "FINGERS", "Param", "SPACES", "age_to_anny", "with_ranges", "load_model", "LandmarkDefinition", "landmark_definition", "sample_params", "params_to_array", "array_to_params", "Posed", "pose", "default_sample", "rendering", "BLOCK", "CULL", "PARALLEL_FROM", "RENDER_VERSION", "Rendered", "resolve_device", "fit_boxes", "MAX_WINDOW", "rasterize", "render_meshes", "render_params", "render_block", "render_range", "store_key", "load_renders", "SyntheticStream", "compare_with_blender", "measure_throughput", "blender", "CAMERA_DISTANCE", "render_with_blender", "compare"]
