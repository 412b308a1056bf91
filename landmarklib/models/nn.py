"""The nearest-neighbour baselines NN(syn) and NN(real): exact Hamming search over bit-packed masks.

:class:`BinaryNN` packs binary patches into bits (:func:`pack_masks`) and searches them exactly with
faiss' binary index, in blocks of :data:`SEARCH_BLOCK_BYTES`; an estimate is the mean annotation of the
``k`` nearest patches (the paper: 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..geometry import patch_size
from ..landmarks import landmark_names, parse_task

__all__ = ["SEARCH_BLOCK_BYTES", "pack_masks", "unpack_masks", "BinaryNN"]

#: Database block of the exact Hamming scan, in bytes (about an L2/L3 cache's worth; see BinaryNN.search_codes).
SEARCH_BLOCK_BYTES = 8 * 2**20


# --------------------------------------------------------------------------------------------------
# input checks


def _parse_masks(masks: np.ndarray | LandmarkSet, task: str, what: str = "masks") -> np.ndarray:
    """``(N, p_h, p_w)`` bool silhouettes of ``task``, or one clear error."""
    parse_task(task)
    if isinstance(masks, LandmarkSet):
        if masks.task != task:
            raise LandmarkError(
                f"{what} are {masks.task!r} patches but this model is for {task!r}; "
                f"pass a {task} LandmarkSet"
            )
        return masks.masks
    arr = np.asarray(masks)
    if arr.ndim == 2:
        arr = arr[None]
    pw, ph = patch_size(task)
    if arr.ndim != 3 or arr.shape[1:] != (ph, pw):
        raise LandmarkError(
            f"{what} must be {task} patches of shape (N, {ph}, {pw}) (p_h, p_w), got {arr.shape}; "
            "crop and scale them with landmarklib.geometry.fit_transform first"
        )
    if arr.dtype != bool:
        values = np.unique(arr)
        if not np.isin(values, (0, 1)).all():
            raise LandmarkError(f"{what} must be binary (0/1 or bool), found values such as {values[:5]}")
    return arr.astype(bool, copy=False)


def _parse_landmarks(landmarks: np.ndarray, task: str, n: int) -> np.ndarray:
    arr = np.asarray(landmarks, dtype=np.float32)
    k = len(landmark_names(task))
    if arr.shape != (n, k, 2):
        raise LandmarkError(f"{task} landmarks must be ({n}, {k}, 2) (x, y in patch px), got {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------------
# bit packing and nearest neighbours


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Bit-pack silhouettes row-major: ``(N, p_h, p_w)`` bool -> ``(N, p_h * p_w / 8)`` uint8.

    Examples
    --------
    >>> pack_masks(np.ones((1, 2, 8), bool)).tolist()
    [[255, 255]]
    """
    masks = np.asarray(masks, dtype=bool)
    flat = masks.reshape(len(masks), -1)
    if flat.shape[1] % 8:
        raise LandmarkError(f"a patch must have a multiple of 8 pixels to bit-pack, got {flat.shape[1]}")
    return np.ascontiguousarray(np.packbits(flat, axis=1))


def unpack_masks(codes: np.ndarray, task: str) -> np.ndarray:
    """Inverse of :func:`pack_masks` for ``task``'s patch: ``(N, B)`` uint8 -> ``(N, p_h, p_w)`` bool."""
    pw, ph = patch_size(task)
    codes = np.asarray(codes, dtype=np.uint8)
    if codes.ndim != 2 or codes.shape[1] * 8 != pw * ph:
        raise LandmarkError(f"{task} codes must be (N, {pw * ph // 8}) uint8, got {codes.shape}")
    return np.unpackbits(codes, axis=1, count=pw * ph).reshape(-1, ph, pw).astype(bool)


class BinaryNN:
    """Exact k-nearest-neighbour landmark regression on binary patches (Hamming distance).

    Parameters
    ----------
    task
        ``"hand"`` or ``"body"``; fixes the patch size and the landmarks.
    k
        Number of neighbours whose landmarks are averaged (the paper: 3).

    Notes
    -----
    The index holds ``p_h * p_w / 8`` bytes per patch (1152 B for hands: 2.2M renders = 2.5 GB) plus
    ``k_landmarks * 2`` float32 per patch. Add large sets in shards with :meth:`add`; nothing else
    is kept.
    """

    def __init__(self, task: str, *, k: int = 3) -> None:
        self.task = parse_task(task)
        if int(k) < 1:
            raise LandmarkError(f"k must be at least 1, got {k}")
        self.k = int(k)
        pw, ph = patch_size(task)
        self.n_bits = pw * ph
        self.index = faiss.IndexBinaryFlat(self.n_bits)
        self._landmarks: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def fit(cls, data: LandmarkSet, *, k: int = 3, chunk: int = 65_536) -> BinaryNN:
        """An index over every patch of ``data``."""
        nn = cls(data.task, k=k)
        nn.add(data, chunk=chunk)
        return nn

    def add(
        self,
        masks: np.ndarray | LandmarkSet,
        landmarks: np.ndarray | None = None,
        ids: Sequence[str] | None = None,
        *,
        chunk: int = 65_536,
    ) -> BinaryNN:
        """Add patches ``(N, p_h, p_w)`` with their landmarks ``(N, k, 2)`` (patch px); packs in chunks."""
        if isinstance(masks, LandmarkSet):
            data = masks
            arr = _parse_masks(data, self.task, "training patches")
            landmarks, ids = data.landmarks, data.ids
        else:
            arr = _parse_masks(masks, self.task, "training patches")
            if landmarks is None:
                raise LandmarkError("add() needs the landmarks of the patches")
        landmarks = _parse_landmarks(landmarks, self.task, len(arr))
        for start in range(0, len(arr), chunk):
            self.index.add(pack_masks(arr[start : start + chunk]))
        self._landmarks.append(landmarks)
        self._ids.append(np.asarray(ids if ids is not None else [""] * len(arr)).astype(str))
        return self

    def add_codes(self, codes: np.ndarray, landmarks: np.ndarray) -> BinaryNN:
        """Add already bit-packed patches ``(N, p_h * p_w / 8)`` uint8 (see :func:`pack_masks`)."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim != 2 or codes.shape[1] * 8 != self.n_bits:
            raise LandmarkError(f"{self.task} codes must be (N, {self.n_bits // 8}) uint8, got {codes.shape}")
        self._landmarks.append(_parse_landmarks(landmarks, self.task, len(codes)))
        self._ids.append(np.full(len(codes), "", dtype=str))
        self.index.add(codes)
        return self

    @property
    def landmarks(self) -> np.ndarray:
        """``(N, k, 2)`` landmarks of the indexed patches (patch px)."""
        if len(self._landmarks) != 1:
            merged = np.concatenate(self._landmarks) if self._landmarks else np.zeros((0, 0, 2), np.float32)
            self._landmarks = [merged]
        return self._landmarks[0]

    @property
    def ids(self) -> np.ndarray:
        """``(N,)`` ids of the indexed patches (empty strings where none were given)."""
        if len(self._ids) != 1:
            self._ids = [np.concatenate(self._ids) if self._ids else np.zeros(0, str)]
        return self._ids[0]

    def search(self, masks: np.ndarray | LandmarkSet) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed patches of each query.

        Returns
        -------
        distances
            ``(Q, k)`` int32 Hamming distances (differing pixels), ascending.
        indices
            ``(Q, k)`` int64 rows of the index.
        """
        queries = _parse_masks(masks, self.task, "query patches")
        return self.search_codes(pack_masks(queries))

    def search_codes(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` for bit-packed queries ``(Q, p_h * p_w / 8)`` uint8."""
        if len(self) < self.k:
            raise LandmarkError(f"the index holds {len(self)} patches, fewer than k={self.k}; add more")
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        # Cache blocking (faiss's public knobs): all queries in one batch, database blocks of ~8 MiB, so
        # each block is read from RAM once and reused by every query from cache. With faiss's defaults
        # (32 queries, 65,536-code blocks = 75 MB) the scan streams the database from RAM once per
        # query and runs 2.5x slower (benchmarks/bench_nn.py). Results are identical.
        self.index.query_batch_size = max(32, len(codes))
        saved = faiss.cvar.hamming_batch_size
        faiss.cvar.hamming_batch_size = max(1024, SEARCH_BLOCK_BYTES // (self.n_bits // 8))
        try:
            distances, indices = self.index.search(codes, self.k)
        finally:
            faiss.cvar.hamming_batch_size = saved
        return distances, indices

    def predict(self, masks: np.ndarray | LandmarkSet) -> np.ndarray:
        """``(Q, k_landmarks, 2)`` mean landmarks of the ``k`` nearest patches (patch px)."""
        _, indices = self.search(masks)
        return self.landmarks[indices].mean(axis=1)
