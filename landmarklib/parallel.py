"""Process pools of the study (render shards, cohort subjects, cross-validation folds): one set of rules.

* :func:`usable_cores`: the cores this process may use (its affinity mask, e.g. a container's share);
* :func:`ignore_interrupts`: a worker initializer; an interrupt is the parent's to handle;
* :func:`run_pool`: submit jobs, report each result as it comes, and on a failed job or an interrupt
  cancel what has not started and end the workers at once (``ProcessPoolExecutor``'s own exit would
  wait for every queued job), then raise. Every job writes its own file atomically, so a rerun
  resumes from what finished.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["usable_cores", "ignore_interrupts", "run_pool"]


def usable_cores() -> int:
    """CPU cores this process may use (its affinity mask; else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ignore_interrupts(*_: Any) -> None:
    """Worker initializer: ignore SIGINT (Ctrl-C reaches the whole process group; the parent stops the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_pool(pool: concurrent.futures.ProcessPoolExecutor, fn: Callable[..., Any], jobs: Iterable[tuple[Any, ...]],
             on_result: Callable[[Any], None] | None = None) -> list[Any]:
    """Run ``fn(*job)`` for every job in ``pool``; the results in job order.

    ``on_result`` sees each result as it finishes (progress). A job that raises, or an interrupt, stops
    the pool now (queued jobs cancelled, workers terminated) and is raised here. The pool is shut down
    on return either way.
    """
    futures = [pool.submit(fn, *job) for job in jobs]
    try:
        for fut in concurrent.futures.as_completed(futures):
            result = fut.result()
            if on_result is not None:
                on_result(result)
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())  # private, but the only handle
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        for proc in processes:
            proc.join(timeout=10)
        raise
    pool.shutdown(wait=True)
    return [fut.result() for fut in futures]
