import contextlib
import json
import os
from pathlib import Path

import pytest

from landmarklib import LandmarkError
from landmarklib.cli import execute_notebooks, main, toc_files

ROOT = Path(__file__).resolve().parent.parent


def test_toc_lists_the_intro_and_notebooks_in_order():
    files = toc_files(ROOT)
    assert files[0] == Path("book/intro.md")
    notebooks = [f.name for f in files if f.suffix == ".ipynb"]
    chapters, appendix = notebooks[:-1], notebooks[-1]  # the chapters in numeric order, then the appendix (00)
    assert chapters and chapters == sorted(chapters) and appendix.startswith("00_")


def test_cli_refuses_unknown_parameters_before_running(capsys):
    assert main(["run", "--profile", "quick", "-p", "n_renderz", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown parameter n_renderz" in err and "hand_renders" in err


def test_cli_refuses_unknown_profile_and_notebook(capsys):
    assert main(["run", "--profile", "gpu"]) == 2
    assert "unknown profile 'gpu'; choose one of: quick, cpu, paper" in capsys.readouterr().err
    assert main(["run", "--only", "99"]) == 2
    assert "--only 99 matches no notebook" in capsys.readouterr().err


def test_papermill_injects_parameters_and_the_notebook_records_them(tmp_path):
    out = execute_notebooks("cpu", only=["00"], overrides={"seed": 3}, out_dir=tmp_path)
    nb = json.loads(out[0].read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "seed = 3" in "".join(injected[0]["source"])
    from landmarklib.paths import subdir

    record = json.loads((subdir("results", "cpu") / "environment.json").read_text())
    assert record["profile"] == "cpu" and record["seed"] == 3


def test_a_misspelt_papermill_parameter_stops_the_notebook_with_one_line(tmp_path):
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(ROOT / "book/00_reproducibility.ipynb"), str(tmp_path / "o.ipynb"),
                            parameters={"sed": 3}, progress_bar=False, cwd=str(ROOT / "book"))
    assert err.value.ename == "LandmarkError"
    assert "unknown parameter sed; valid names are:" in err.value.evalue
    assert len(err.value.traceback) == 1  # no traceback wall


def test_landmark_error_is_a_value_error():
    assert issubclass(LandmarkError, ValueError)


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "book").glob("*.ipynb")))
def test_papermill_sees_every_name_of_the_parameters_cell(notebook):
    """papermill skips a line it cannot parse (e.g. an '=' inside a comment) and then warns that a
    perfectly valid ``-p name value`` is unknown; every declared name must survive its parser."""
    import ast

    import nbformat
    import papermill as pm

    nb = nbformat.read(ROOT / "book" / notebook, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{notebook} needs exactly one cell tagged 'parameters'"
    declared = {t.id for node in ast.parse(cells[0].source).body if isinstance(node, ast.Assign)
                for t in node.targets}
    assert "profile" in declared
    assert set(pm.inspect_notebook(str(ROOT / "book" / notebook))) == declared


# ------------------------------------------------------------------ one root for everything a run writes

#: Notebooks whose every call takes its root from the Config. The depth, fine-tuning and results
#: chapters (05-07) still call helpers that default to the user's root (tests/test_paths.py lists
#: them in PENDING); add them here when that list is empty. 01 is left out for time only (its Blender
#: comparison takes two minutes; its renders are written by 02 and 03 through the same code).
ISOLATED_NOTEBOOKS = ("00", "02", "03", "04")
#: Sizes small enough for the whole chain to run in about two minutes on two cores.
TINY = {"hand_renders": 60, "body_renders": 60, "shard_size": 30, "depth_renders": 30, "mr_subjects": 6,
        "ct_subjects": 4, "hand_pretrain_images": 60, "body_pretrain_images": 60, "pretrain_epochs": 1,
        "finetune_epochs": 1, "bpy_meshes": 1, "bootstrap": 50, "rf_trees": 3}


def _files(*roots: Path, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """``{path: (size, mtime_ns)}`` of every file below ``roots``, less ``skip`` folders and caches."""
    found = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            # tool caches that pytest, its xdist workers and ruff write while this test runs
            dirnames[:] = [d for d in dirnames if d not in ("__pycache__", ".ipynb_checkpoints", ".git", ".venv",
                                                            ".pytest_cache", ".ruff_cache")
                           and os.path.join(dirpath, d) not in skip]
            for name in filenames:
                path = os.path.join(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(path)
                    found[path] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.mark.slow
def test_run_with_a_renders_dir_writes_nothing_elsewhere(tmp_path, monkeypatch):
    """``python -m landmarklib run -p renders_dir DIR`` keeps every file it makes under DIR: nothing in
    the checkout, nothing under the user-level default root, nothing in the home cache (the anny
    model cache aside, which is built once per machine)."""
    pytest.importorskip("anny")
    from landmarklib.paths import anny_cache_dir

    monkeypatch.setenv("LANDMARKLIB_RENDERS", str(tmp_path / "default-root"))
    monkeypatch.chdir(tmp_path)
    home_cache = Path("~/.cache").expanduser()
    watched = (ROOT, home_cache)
    # the anny model cache is built once per machine; dconf is the desktop's settings store, which
    # any GTK program of the session (not this package) rewrites
    skip = (str(anny_cache_dir()), str(home_cache / "dconf"))
    before = _files(*watched, skip=skip)
    args = ["run", "--profile", "quick", "--only", *ISOLATED_NOTEBOOKS, "-p", "renders_dir", "out"]
    for name, value in TINY.items():
        args += ["-p", name, str(value)]
    assert main(args) == 0
    after = _files(*watched, skip=skip)
    changed = sorted(p for p, stat in after.items() if before.get(p) != stat)
    assert not changed, f"written outside renders_dir: {changed[:20]}"
    assert not (tmp_path / "default-root").exists()
    made = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    kinds = {p.relative_to(tmp_path / "out").parts[0] for p in made}
    assert {"executed", "results", "scans", "synthetic", "models"} <= kinds
