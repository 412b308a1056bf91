import json

import numpy as np
import pytest

from landmarklib.provenance import atomic_path, provenance, save_npz, write_json


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "shard.npz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_until_success(tmp_path):
    target = write_json(tmp_path / "r.json", {"v": 1})
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("{")
            raise KeyboardInterrupt
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_save_npz_round_trip(tmp_path):
    path = save_npz(tmp_path / "a.npz", x=np.arange(4))
    with np.load(path) as z:
        assert z["x"].tolist() == [0, 1, 2, 3]


def test_provenance_records_profile_seed_versions_commit():
    rec = provenance({"profile": "quick", "seed": 3, "lr": np.float32(0.5)}, fold=2)
    assert rec["profile"] == "quick" and rec["seed"] == 3 and rec["fold"] == 2
    assert rec["versions"]["torch"].startswith("2.13.0")
    assert rec["versions"]["numpy"] == np.__version__
    assert rec["git_commit"]
    json.dumps(rec)  # serialisable
