import concurrent.futures
import multiprocessing
from pathlib import Path

import pytest

from landmarklib.parallel import ignore_interrupts, run_pool, usable_cores


def _job(folder: str, i: int) -> int:
    Path(folder, f"ran{i}").write_text("")
    if i == 0:
        raise ValueError("job 0 failed")
    import time

    time.sleep(0.5)
    return i * i


def _pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                                  initializer=ignore_interrupts)


def test_run_pool_returns_results_in_job_order(tmp_path):
    seen = []
    assert run_pool(_pool(2), _job, [(str(tmp_path), i) for i in (3, 1, 2)], seen.append) == [9, 1, 4]
    assert sorted(seen) == [1, 4, 9]
    assert usable_cores() >= 1


def test_a_failed_job_cancels_the_queue_and_raises(tmp_path):
    with pytest.raises(ValueError, match="job 0 failed"):
        run_pool(_pool(1), _job, [(str(tmp_path), i) for i in range(8)])
    assert len(list(tmp_path.glob("ran*"))) < 8  # the queued jobs never ran
