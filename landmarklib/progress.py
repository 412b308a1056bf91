"""One progress convention for every long stage (``tqdm.auto`` underneath).

Every function with a ``progress`` argument means the same by it:

* ``True`` / ``False``: always / never show a bar;
* ``None`` (the default everywhere): show it when someone can watch, that is in a Jupyter kernel
  (a notebook, also one papermill executes) or when standard error is a terminal; stay quiet in
  pipes, logs and tests.

A bar names its stage (``desc``) and, for stages that process images, shows images per second
(:func:`count_images`).

Inside a notebook that ``python -m landmarklib book`` (``make book``) executes, a bar is a widget
nobody sees on the console. The command therefore names a status file in ``$LANDMARKLIB_STATUS``;
every bar appends its text line there (at most every :data:`STATUS_EVERY_S` seconds, and when it
closes) and the command prints the newest line under the notebook it is running
(:func:`follow_status`).

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

import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from tqdm.auto import tqdm

__all__ = ["enabled", "bar", "count_images", "follow_status", "STATUS_ENV", "STATUS_EVERY_S"]

#: Environment variable naming the status file the bars of a notebook run append to.
STATUS_ENV = "LANDMARKLIB_STATUS"
#: Seconds between two status lines of one bar.
STATUS_EVERY_S = 10.0


class _StatusBar(tqdm):  # type: ignore[misc,valid-type]
    """A ``tqdm.auto`` bar that also appends its text line to ``$LANDMARKLIB_STATUS`` now and then."""

    def __init__(self, *args: Any, status_file: str, **kwargs: Any) -> None:
        self._status_file, self._status_at = status_file, 0.0
        super().__init__(*args, **kwargs)

    def _status(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.disable or (not force and now - self._status_at < STATUS_EVERY_S):
            return
        self._status_at = now
        try:
            line = self.format_meter(**{**self.format_dict, "bar_format": "{l_bar}{r_bar}"}).replace("\n", " ")
            with open(self._status_file, "a", encoding="utf-8") as f:
                f.write(line.strip() + "\n")
        except (OSError, ValueError, TypeError):  # progress must never stop the work
            pass

    def display(self, *args: Any, **kwargs: Any) -> Any:
        out = super().display(*args, **kwargs)
        self._status()
        return out

    def close(self) -> None:
        if not self.disable and not getattr(self, "_status_closed", False):
            self._status_closed = True
            self._status(force=True)
        super().close()


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
    **kwargs: Any,
) -> tqdm:
    """A ``tqdm.auto`` bar for stage ``desc``, shown as :func:`enabled` decides.

    ``unit="img"`` makes tqdm's own rate read ``img/s``; for loops over other units (folds,
    subjects) add the images with :func:`count_images`. Other keywords go to tqdm (``initial``...).
    """
    options = dict(desc=desc, total=total, unit=unit, leave=leave, file=file, disable=not enabled(progress, file=file),
                   **kwargs)
    status = os.environ.get(STATUS_ENV)
    if status:
        return _StatusBar(iterable, status_file=status, **options)
    return tqdm(iterable, **options)


@contextmanager
def follow_status(path: str | os.PathLike, write: Any, *, every_s: float = 15.0) -> Iterator[None]:
    """While the block runs, set ``$LANDMARKLIB_STATUS`` to ``path`` and pass the newest line the
    bars appended there to ``write`` every ``every_s`` seconds (a line is passed once)."""
    path = Path(path)
    path.write_text("")
    stop = threading.Event()

    offset = 0

    def read_new() -> None:
        """Pass on the newest complete line appended since the last read (bytes up to the last newline,
        so a line being written is left for the next read)."""
        nonlocal offset
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        offset += end + 1
        lines = [line for line in chunk[:end].decode("utf-8", errors="replace").splitlines() if line.strip()]
        if lines:
            write(lines[-1])

    def poll() -> None:
        while not stop.wait(every_s):
            read_new()

    old = os.environ.get(STATUS_ENV)
    os.environ[STATUS_ENV] = str(path)
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        read_new()  # the last lines (a stage's 100 %)
        if old is None:
            os.environ.pop(STATUS_ENV, None)
        else:
            os.environ[STATUS_ENV] = old
        path.unlink(missing_ok=True)


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
