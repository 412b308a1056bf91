"""pyproject.toml and environment.yml must declare the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_norm(r) for r in pip_section if not r.startswith("-e")}
    assert listed == declared, f"only in pyproject: {declared - listed}; only in environment.yml: {listed - declared}"


def test_torch_is_pinned_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]
    assert "torch==2.13.0" in (ROOT / "environment.yml").read_text()
    assert "torch==2.13.0" in (ROOT / "Makefile").read_text()


def test_the_design_cards_top_level_exists():
    for name in ("book", "_config.yml", "_toc.yml", "landmarklib", "renders", "environment.yml", "tests",
                 "pyproject.toml", "Makefile", "README.md", ".ci/run", "benchmarks"):
        assert (ROOT / name).exists(), name
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make book") < readme.index("make test") < readme.index("landmarklib run")
