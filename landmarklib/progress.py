"""One progress convention for every long stage (``tqdm.auto`` underneath).

Every function with a ``progress`` argument means the same by it:

* ``True`` / ``False``: always / never show a bar;
* ``None`` (the default everywhere): show it when someone can watch, that is in a Jupyter kernel
  (a notebook, also one papermill executes) or when standard error is a terminal; stay quiet in
  pipes, logs and tests.

A bar names its stage (``desc``) and, for stages that process images, shows images per second
(:func:`count_images`).

Examples
--------
>>> from landmarklib.progress import bar, count_images
>>> import io
>>> with bar(total=64, desc="hand renders", unit="img", progress=True, file=io.StringIO()) as b:
...     count_images(b, 64)
>>> b.n
64
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm.auto import tqdm

__all__ = ["enabled", "bar", "count_images"]


def _in_jupyter_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def enabled(progress: bool | None = None, *, file: TextIO | None = None) -> bool:
    """Whether to show a bar: ``progress`` if given, else in a Jupyter kernel or on a terminal."""
    if progress is not None:
        return bool(progress)
    if _in_jupyter_kernel():
        return True
    stream = file if file is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def bar(
    iterable: Iterable[Any] | None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    progress: bool | None = None,
    leave: bool = True,
    file: TextIO | None = None,
) -> tqdm:
    """A ``tqdm.auto`` bar for stage ``desc``, shown as :func:`enabled` decides.

    ``unit="img"`` makes tqdm's own rate read ``img/s``; for loops over other units (folds,
    subjects) add the images with :func:`count_images`.
    """
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, file=file,
                disable=not enabled(progress, file=file))


def count_images(progress_bar: tqdm, images: int, *, advance: bool | None = None) -> None:
    """Record ``images`` processed and show the stage's images/s in the bar's postfix.

    ``advance`` (default: when the bar counts images, ``unit="img"``) also moves the bar by
    ``images``.
    """
    if progress_bar.disable:  # a disabled tqdm keeps no state (not even its unit)
        return
    if advance is None:
        advance = progress_bar.unit == "img"
    done = getattr(progress_bar, "_landmarklib_images", 0) + int(images)
    progress_bar._landmarklib_images = done
    if advance:
        progress_bar.update(int(images))
    elapsed = max(progress_bar.format_dict["elapsed"], 1e-9)
    progress_bar.set_postfix(images_per_s=f"{done / elapsed:.0f}", refresh=False)
