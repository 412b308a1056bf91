import pytest

from landmarklib import LandmarkError
from landmarklib.engine.folds import ensure_folds, make_folds


@pytest.mark.parametrize("task,n,n_folds", [("hand", 132, 3), ("body", 20, 20)])
def test_folds_are_disjoint_and_cover_every_subject_once(task, n, n_folds):
    ids = [f"sub{i:03d}" for i in range(n)]
    folds = make_folds(ids, task, seed=0)
    assert len(folds) == n_folds
    tested = [i for f in folds for i in f["test"]]
    assert sorted(tested) == sorted(ids)
    for f in folds:
        assert not set(f["train"]) & set(f["test"])
        assert sorted(f["train"] + f["test"]) == sorted(ids)


def test_folds_depend_on_the_seed_only():
    ids = [f"s{i}" for i in range(12)]
    assert make_folds(ids, "hand", 1) == make_folds(list(reversed(ids)), "hand", 1)
    assert make_folds(ids, "hand", 1) != make_folds(ids, "hand", 2)


def test_saved_folds_are_shared_and_mismatches_refused():
    ids = [f"s{i}" for i in range(9)]
    first = ensure_folds(ids, "hand", profile="quick", seed=0)
    assert ensure_folds(ids, "hand", profile="quick", seed=0) == first
    with pytest.raises(LandmarkError, match="other subjects or another seed"):
        ensure_folds(ids[:-1], "hand", profile="quick", seed=0)
