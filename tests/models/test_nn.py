import numpy as np
import pytest

from landmarklib import LandmarkError
from landmarklib.data import LandmarkSet
from landmarklib.models.nn import BinaryNN, pack_masks, unpack_masks


def test_pack_unpack_round_trip_and_faiss_hamming_matches_numpy():
    rng = np.random.default_rng(0)
    for task, shape, nbytes in (("hand", (96, 96), 1152), ("body", (160, 76), 1520)):
        masks = rng.random((7, *shape)) < 0.3
        codes = pack_masks(masks)
        assert codes.shape == (7, nbytes) and codes.dtype == np.uint8
        np.testing.assert_array_equal(unpack_masks(codes, task), masks)
    masks = rng.random((20, 96, 96)) < 0.4
    nn = BinaryNN("hand", k=20).add(masks, np.zeros((20, 5, 2)))
    dist, idx = nn.search(masks[:3])
    expected = (masks[:3, None] != masks[None]).sum((-1, -2))  # (3, 20) differing pixels
    np.testing.assert_array_equal(dist, np.take_along_axis(expected, idx, axis=1))
    np.testing.assert_array_equal(np.sort(expected, axis=1), dist)


def test_knn_is_the_mean_annotation_of_the_three_nearest_patches():
    # database: patch j has the first n_j pixels of row 0 set; the empty query is n_j pixels away
    n_on = [20, 2, 9, 1, 3, 40]
    masks = np.zeros((6, 96, 96), bool)
    for j, n in enumerate(n_on):
        masks[j, 0, :n] = True
    landmarks = np.arange(6 * 5 * 2, dtype=np.float32).reshape(6, 5, 2)
    nn = BinaryNN.fit(LandmarkSet("hand", masks, landmarks, list("abcdef")), k=3)
    query = np.zeros((1, 96, 96), bool)
    dist, idx = nn.search(query)
    assert dist.tolist() == [[1, 2, 3]] and idx.tolist() == [[3, 1, 4]]
    np.testing.assert_allclose(nn.predict(query)[0], landmarks[[3, 1, 4]].mean(0))
    assert nn.ids[idx[0]].tolist() == ["d", "b", "e"]


def test_nn_refuses_too_few_patches_and_wrong_inputs():
    nn = BinaryNN("hand", k=3).add(np.zeros((2, 96, 96), bool), np.zeros((2, 5, 2)))
    with pytest.raises(LandmarkError, match="fewer than k=3"):
        nn.predict(np.zeros((1, 96, 96), bool))
    with pytest.raises(LandmarkError, match=r"shape \(N, 96, 96\).*got \(1, 160, 76\)"):
        nn.search(np.zeros((1, 160, 76), bool))
    body = LandmarkSet("body", np.zeros((1, 160, 76), bool), np.zeros((1, 9, 2)), ["x"])
    with pytest.raises(LandmarkError, match="'body' patches but this model is for 'hand'"):
        nn.search(body)
    with pytest.raises(LandmarkError, match="binary"):
        nn.search(np.full((1, 96, 96), 0.5))
    with pytest.raises(LandmarkError, match=r"landmarks must be \(1, 5, 2\)"):
        nn.add(np.zeros((1, 96, 96), bool), np.zeros((1, 9, 2)))


def test_blocked_search_is_exact_across_database_blocks(monkeypatch):
    import faiss

    from landmarklib.models import nn as baselines

    monkeypatch.setattr(baselines, "SEARCH_BLOCK_BYTES", 1)  # blocks of 1024 codes: 3 blocks below
    rng = np.random.default_rng(1)
    base = rng.random((2500, 96, 96)) < 0.3
    queries = base[[5, 1500, 2499]] ^ (rng.random((3, 96, 96)) < 0.05)  # near copies, far from the rest
    before = faiss.cvar.hamming_batch_size
    dist, idx = BinaryNN("hand", k=3).add(base, np.zeros((2500, 5, 2))).search(queries)
    assert faiss.cvar.hamming_batch_size == before
    expected = (queries[:, None].reshape(3, 1, -1) != base.reshape(1, 2500, -1)).sum(-1)
    np.testing.assert_array_equal(dist, np.sort(expected, axis=1)[:, :3])
    assert idx[:, 0].tolist() == [5, 1500, 2499]
