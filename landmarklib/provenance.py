"""Provenance records and crash-safe writes.

Every result file records the profile, the seed, the versions of the packages that made it and the
git commit (:func:`provenance`). Every file is written to a temporary name in the same folder and
renamed into place (:func:`atomic_path`), so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["provenance", "package_versions", "git_commit", "atomic_path", "write_json", "read_json", "save_npz"]

#: Packages whose versions can change a result.
TRACKED_PACKAGES = (
    "landmarklib", "torch", "numpy", "anny", "nibabel", "scikit-learn", "faiss-cpu", "scipy", "bpy",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """``{package: version}`` of the installed distributions (``None`` if absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str:
    """The checkout's commit hash, with ``-dirty`` when it has uncommitted changes; ``unknown`` outside git."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def provenance(params: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The record stored with every result: profile, seed, parameters, versions, commit, time, machine.

    Parameters
    ----------
    params
        The resolved parameters (see :func:`landmarklib.profiles.resolve`); ``profile`` and ``seed``
        are lifted to the top level.
    **extra
        Anything else worth keeping (e.g. ``fold=2``).
    """
    params = dict(params or {})
    import torch  # local: torch is heavy and not every caller needs it

    precision = None
    if "precision" in params:  # what the profile's precision switch means on this machine
        from .engine.training import effective_precision

        precision = effective_precision(params["precision"], params.get("device", "auto"))

    return {
        "profile": params.get("profile"),
        "seed": params.get("seed"),
        "parameters": _jsonable(params),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "precision": precision,
        **_jsonable(extra),
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return obj


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name keeps ``path``'s suffix (or ``suffix``) so that libraries which pick a format
    from the extension (nibabel, numpy) write the right thing.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.npy"
    >>> with atomic_path(out) as tmp:
    ...     np.save(tmp, np.zeros(3))
    >>> out.exists()
    True
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")
    return path


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def save_npz(path: str | os.PathLike, *, compressed: bool = True, **arrays: Any) -> Path:
    """``np.savez(_compressed)`` to ``path`` atomically (the file appears whole or not at all)."""
    path = Path(path)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compressed else np.savez)(fh, **arrays)
    return path
