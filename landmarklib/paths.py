"""Where generated data lives: one root, ``renders/``, with a folder per kind of artefact.

The root is, in order: an explicit argument (library code passes ``cfg.renders_dir`` of the
:class:`~landmarklib.profiles.Config` it was given), ``$LANDMARKLIB_RENDERS`` (a user-level default
for scripts and shells; nothing in the package sets it), or ``renders/`` in the repository checkout
(the folder that holds ``_toc.yml``), else ``./renders``.

Layout::

    renders/
      synthetic/{hand,body}/   rendered silhouettes + depth + landmarks (issue: renders)
      scans/{mr_hand,ct_body}/ simulated NIfTI cohorts and landmark files (issue: scans)
      models/                  checkpoints
      results/                 predictions, metrics, figures; every file carries its provenance
      executed/                notebooks executed by papermill
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "renders_root", "subdir", "anny_cache_dir"]

#: The user-level default root (read, never written, by the package).
ENV_RENDERS = "LANDMARKLIB_RENDERS"

KINDS = ("synthetic", "scans", "models", "results", "executed")


def repo_root() -> Path | None:
    """The checkout that holds this package (``None`` when installed elsewhere)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "_toc.yml").is_file() else None


def renders_root(renders_dir: str | os.PathLike | None = None) -> Path:
    """The root folder of all generated data (absolute, created on demand).

    ``renders_dir`` is ``cfg.renders_dir``; ``None`` falls back to ``$LANDMARKLIB_RENDERS``, then to
    the checkout's ``renders/``.
    """
    if renders_dir is None:
        renders_dir = os.environ.get(ENV_RENDERS)
    if renders_dir is None:
        root = repo_root()
        renders_dir = (root / "renders") if root is not None else Path.cwd() / "renders"
    path = Path(renders_dir).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def subdir(kind: str, *parts: str, renders_dir: str | os.PathLike | None = None) -> Path:
    """``<root>/<kind>/<parts...>``, created on demand; ``kind`` is one of :data:`KINDS`.

    Library code always passes ``renders_dir=cfg.renders_dir`` (see :func:`renders_root`), so one
    call with another root never splits its outputs across two roots.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown renders folder {kind!r}; use one of {KINDS}")
    path = renders_root(renders_dir).joinpath(kind, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def anny_cache_dir() -> Path:
    """The anny model cache: built once per machine (~2 min per model), kept outside git.

    ``$ANNY_CACHE_DIR`` if set, else ``~/.cache/landmarklib/anny``.
    """
    path = Path(os.environ.get("ANNY_CACHE_DIR", "~/.cache/landmarklib/anny")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
