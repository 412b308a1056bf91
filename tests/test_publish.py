from pathlib import Path

import yaml

from landmarklib.publish import (
    add_notebook,
    banner_html,
    new_run_record,
    read_run_record,
    stage_config,
    summarize_files,
)


def test_files_are_summarised_by_folder_not_listed(tmp_path):
    root = tmp_path / "renders"
    paths = [root / "scans" / "mr_hand" / "seed0" / f"s{i:03d}.nii.gz" for i in range(300)]
    paths += [root / "results" / "quick" / "predictions" / "hand_nn-syn.csv", root / "README.md"]
    text = summarize_files(paths, root)
    assert text.startswith("302 files:")
    assert "300 in scans/mr_hand/seed0" in text and "1 in results/quick/predictions" in text and "1 in ." in text
    assert summarize_files([], root) == "no files"


def test_run_record_is_saved_after_every_notebook_and_continued_by_a_later_run(tmp_path):
    record = new_run_record("quick", {"profile": "quick", "seed": 3}, seed=3, out_dir=tmp_path)
    add_notebook(record, tmp_path, "01_rendering", 12.34, "2 files: 2 in synthetic/hand")
    saved = read_run_record(tmp_path)
    assert saved["notebooks"] == [{"name": "01_rendering", "seconds": 12.3, "written": "2 files: 2 in synthetic/hand"}]
    assert saved["overrides"] == {"seed": 3} and saved["finished"]
    again = new_run_record("quick", {"profile": "quick", "seed": 3}, seed=3, out_dir=tmp_path)
    add_notebook(again, tmp_path, "02_binarization", 1.0, "no files")
    assert [nb["name"] for nb in read_run_record(tmp_path)["notebooks"]] == ["01_rendering", "02_binarization"]
    other = new_run_record("cpu", {"profile": "cpu"}, seed=0, out_dir=tmp_path)
    assert other["notebooks"] == []  # another profile starts a new record


def test_banner_names_profile_seed_commit_date_and_says_quick_is_a_smoke_test():
    record = {"profile": "quick", "seed": 0, "overrides": {}, "git_commit": "0123456789abcdef-dirty",
              "started": "2026-12-02T10:00:00+00:00", "finished": "2026-12-02T10:05:00+00:00"}
    quick = banner_html(record)
    assert "quick" in quick and "seed 0" in quick and "0123456" in quick and "0123456789" not in quick
    assert "2026-12-02" in quick and "smoke test" in quick and "uncommitted" in quick
    cpu = banner_html({**record, "profile": "cpu", "git_commit": "abcdef0123", "overrides": {"seed": 1}})
    assert "smoke test" not in cpu and "published results" in cpu and "seed=1" in cpu
    assert "without executed notebooks" in banner_html(None)


def test_staged_config_carries_the_banner_and_keeps_the_rest(tmp_path):
    root = Path(__file__).resolve().parent.parent
    dest = stage_config(root / "_config.yml", tmp_path / "_config.yml", "<span>banner</span>")
    staged, source = yaml.safe_load(dest.read_text()), yaml.safe_load((root / "_config.yml").read_text())
    assert staged["html"]["announcement"] == "<span>banner</span>"
    assert staged["sphinx"] == source["sphinx"] and staged["title"] == source["title"]
