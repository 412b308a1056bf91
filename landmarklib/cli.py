"""Command line: run the notebook chain with papermill, build the book, show the profiles.

Examples
--------
``python -m landmarklib run --profile quick``            execute every notebook of ``_toc.yml``
``python -m landmarklib run --profile cpu --only 02 04``  only the notebooks whose name starts so
``python -m landmarklib run -p seed 3 -p hand_renders 500``
``python -m landmarklib book --profile quick``           run, then build ``_build/html``
``python -m landmarklib profiles``                       print the profile table
``python -m landmarklib detect SCANS --task hand``      landmarks for your own scans (3D Slicer files)
``python -m landmarklib plan --profile paper``           disk, RAM and time per stage, here and on a GPU machine
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import LandmarkError
from .paths import renders_root, repo_root, subdir
from .profiles import DEFAULT_PROFILE, PROFILES, get_profile, resolve

__all__ = ["main", "toc_files", "execute_notebooks", "build_book"]


def _root() -> Path:
    root = repo_root()
    if root is None:
        raise LandmarkError("the book commands need the repository checkout (the folder with _toc.yml)")
    return root


def toc_files(root: Path | None = None) -> list[Path]:
    """Every file named in ``_toc.yml``, in reading order (relative to the repository root)."""
    import yaml

    root = root or _root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found: list[str] = [toc["root"]]

    def walk(entries: Any) -> None:
        for entry in entries or []:
            if "file" in entry:
                found.append(entry["file"])
            for key in ("sections", "chapters"):
                walk(entry.get(key))
            walk(entry.get("parts"))

    walk(toc.get("chapters"))
    walk(toc.get("parts"))
    files = []
    for name in found:
        matches = [root / f"{name}{ext}" for ext in ("", ".ipynb", ".md") if (root / f"{name}{ext}").is_file()]
        if not matches:
            raise LandmarkError(f"_toc.yml names {name!r} but no such file exists")
        files.append(matches[0].relative_to(root))
    return files


def _select(notebooks: list[Path], only: Sequence[str] | None) -> list[Path]:
    if not only:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.stem.startswith(o) or nb.stem == o for o in only)]
    if not chosen:
        names = ", ".join(nb.stem for nb in notebooks)
        raise LandmarkError(f"--only {' '.join(only)} matches no notebook; the notebooks are: {names}")
    return chosen


def _new_files(since: float, folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime >= since
                  and "executed" not in p.parts and not p.name.startswith("."))


def execute_notebooks(
    profile: str = DEFAULT_PROFILE,
    *,
    only: Sequence[str] | None = None,
    overrides: dict[str, Any] | None = None,
    out_dir: Path | None = None,
) -> list[Path]:
    """Execute the book's notebooks with papermill into ``out_dir`` (default
    ``<renders_dir>/executed/<profile>``, so that a run writes nothing outside its ``renders_dir``).

    Sources stay output-free; each executed copy has papermill's injected-parameters cell. Returns
    the executed paths. A failing notebook stops the chain with its error and the path of the
    partial copy (which papermill keeps for inspection).
    """
    import papermill as pm
    from tqdm.auto import tqdm

    from .progress import bar as progress_bar
    from .progress import follow_status
    from .publish import add_notebook, new_run_record, summarize_files

    root = _root()
    cfg = resolve(profile, overrides)  # refuse bad names before spending any time
    # papermill runs each notebook in its own folder: pass the root of generated data as an
    # absolute path, so that ``-p renders_dir DIR`` means DIR relative to where the command ran.
    results_root = renders_root(cfg.renders_dir)
    params = {"profile": profile, **(overrides or {})}
    if cfg.renders_dir is not None:
        params["renders_dir"] = str(results_root)
    out_dir = out_dir or subdir("executed", profile, renders_dir=cfg.renders_dir)
    notebooks = _select([p for p in toc_files(root) if p.suffix == ".ipynb"], only)
    executed = []
    record = new_run_record(profile, params, seed=cfg.seed, out_dir=out_dir)
    bar = progress_bar(notebooks, desc=f"notebooks ({profile})", unit="nb", file=sys.stdout)
    for nb in bar:
        bar.set_postfix_str(nb.stem)
        target = out_dir / nb
        target.parent.mkdir(parents=True, exist_ok=True)
        start = time.time()
        # what runs inside the notebook (its progress bars: stage, images/s) under the notebook's line
        status = follow_status(out_dir / f".{nb.stem}.status", lambda line, nb=nb: tqdm.write(f"    {nb.stem}: {line}"))
        try:
            with status:
                pm.execute_notebook(
                    str(root / nb), str(target), parameters=params, cwd=str(root / nb.parent),
                    kernel_name="python3", progress_bar=False, log_output=False,
                )
        except pm.PapermillExecutionError as err:
            raise LandmarkError(
                f"{nb} failed in cell {err.exec_count}: {err.ename}: {err.evalue} (executed copy: {target})"
            ) from None
        seconds = time.time() - start
        written = summarize_files(_new_files(start, results_root), results_root)
        tqdm.write(f"  {nb} ({seconds:.0f} s) wrote {written} under {results_root}")
        add_notebook(record, out_dir, nb.stem, seconds, written)
        executed.append(target)
    return executed


def build_book(profile: str = DEFAULT_PROFILE, *, overrides: dict[str, Any] | None = None,
               execute: bool = True) -> Path:
    """Execute every notebook, stage the executed copies beside the book's sources, build the HTML.

    The HTML lands in ``_build/html``; the staged sources in ``_build/src``.
    """
    from .publish import banner_html, read_run_record, stage_config

    root = _root()
    executed_dir = root / "_build" / "executed"
    if execute:
        execute_notebooks(profile, overrides=overrides, out_dir=executed_dir)
    stage = root / "_build" / "src"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in ("_toc.yml", "references.bib", "CITATION.cff"):
        if (root / name).is_file():
            shutil.copy2(root / name, stage / name)
    stage_config(root / "_config.yml", stage / "_config.yml", banner_html(read_run_record(executed_dir)))
    shutil.copytree(root / "book", stage / "book", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for nb in executed_dir.rglob("*.ipynb"):
        dest = stage / nb.relative_to(executed_dir)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nb, dest)
    cmd = [sys.executable, "-m", "jupyter_book", "build", str(stage), "--path-output", str(root),
           "--keep-going"]
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    if jb:
        cmd = [jb, *cmd[3:]]
    proc = subprocess.run(cmd, cwd=root)
    index = root / "_build" / "html" / "index.html"
    if proc.returncode != 0 or not index.is_file():
        raise LandmarkError(f"jupyter-book build failed (exit {proc.returncode}); see the log above")
    print(f"book: {index}")
    return index


def _parse_overrides(pairs: list[list[str]] | None) -> dict[str, str]:
    return {name: value for name, value in (pairs or [])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m landmarklib", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "execute the notebooks with papermill"), ("book", "execute and build the HTML book")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {', '.join(PROFILES)}")
        p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                       help="override one parameter (repeatable)")
        if name == "run":
            p.add_argument("--only", nargs="+", help="notebook name prefixes, e.g. 01 02")
        else:
            p.add_argument("--no-execute", action="store_true", help="build from the last executed copies")
    sub.add_parser("profiles", help="print the profile table")
    _add_detect_parser(sub)
    # --- plan (issue 13): resources per stage, here and on one GPU machine ---
    plan_parser = sub.add_parser("plan", help="disk, peak RAM and time per stage of a profile")
    plan_parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {', '.join(PROFILES)}")
    plan_parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                             help="override one parameter (repeatable)")
    # --- end plan ---
    args = parser.parse_args(argv)
    try:
        if args.command == "detect":
            return _run_detect(args)
        if args.command == "plan":  # plan (issue 13)
            from .plan import main_plan

            print(main_plan(args.profile, _parse_overrides(args.parameter)))
            return 0
        if args.command == "profiles":
            import pandas as pd

            print(pd.DataFrame({name: dict(v) for name, v in PROFILES.items()}).to_string())
            return 0
        get_profile(args.profile)
        overrides = _parse_overrides(args.parameter)
        if args.command == "run":
            execute_notebooks(args.profile, only=args.only, overrides=overrides)
        else:
            build_book(args.profile, overrides=overrides, execute=not args.no_execute)
    except LandmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


# ----------------------------------------------------------------------------------------------
# detect: landmarks for a folder of the user's scans (logic in landmarklib.detection)
# ----------------------------------------------------------------------------------------------
def _add_detect_parser(sub: Any) -> None:
    p = sub.add_parser("detect", help="detect landmarks on a folder of NIfTI scans, write 3D Slicer files")
    p.add_argument("scan_dir", help="folder of *.nii / *.nii.gz volumes (landmark files beside them optional)")
    p.add_argument("--task", required=True, choices=("hand", "body"), help="hand (MR) or body (CT)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--profile", default=None, help=f"use this profile's trained bundle (default {DEFAULT_PROFILE})")
    which.add_argument("--model", default=None, help="a detector bundle file (detector-<task>.pt)")
    p.add_argument("--out", default=None, help="output folder (default: a new <scan_dir>_landmarks beside it)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--renders-dir", default=None,
                   help="root of generated data that holds the profile's bundle (default: ./renders)")


def _run_detect(args: argparse.Namespace) -> int:
    from .detection import detect

    try:
        detect(args.scan_dir, args.task, profile=args.profile, model=args.model, out=args.out, device=args.device,
               renders_dir=args.renders_dir)
    except LandmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
