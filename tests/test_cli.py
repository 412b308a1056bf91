import json
from pathlib import Path

import pytest

from landmarklib import LandmarkError
from landmarklib.cli import execute_notebooks, main, toc_files

ROOT = Path(__file__).resolve().parent.parent


def test_toc_lists_the_intro_and_notebooks_in_order():
    files = toc_files(ROOT)
    assert files[0] == Path("book/intro.md")
    notebooks = [f for f in files if f.suffix == ".ipynb"]
    assert notebooks and [f.name for f in notebooks] == sorted(f.name for f in notebooks)


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
