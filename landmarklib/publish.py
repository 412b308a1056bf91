"""What a built book says about where its numbers come from.

:func:`landmarklib.cli.execute_notebooks` writes a *run record* beside the executed notebooks
(``_build/executed/run.json``: profile, seed, overrides, git commit, start and end, and per notebook its
time and the files it wrote, counted by folder). :func:`landmarklib.cli.build_book` reads it back and
puts a banner on every page (Jupyter Book's ``html.announcement``) with the profile, seed, commit and
date of those numbers; under ``quick`` the banner says that they are a smoke test, not results.
"""

from __future__ import annotations

import datetime as _dt
import html
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import LandmarkError
from .provenance import git_commit, read_json, write_json

__all__ = ["RUN_RECORD", "summarize_files", "new_run_record", "add_notebook", "banner_html", "read_run_record", "stage_config"]

#: File name of the run record, inside the executed-notebooks folder.
RUN_RECORD = "run.json"

#: What the banner says about the numbers of each profile.
_MEANING = {
    "quick": "a smoke test of the code on tiny data, not results: the verdicts say nothing about the paper",
    "cpu": "the published results (2-core CPU scale; see the reproducibility appendix for the sizes)",
    "paper": "the paper's own training sizes",
}


def summarize_files(paths: Iterable[Path], root: Path, *, depth: int = 3) -> str:
    """``"12 files: 8 in results/quick/predictions, 4 in models/quick/hand"``: counts by folder.

    Folders are cut to their first ``depth`` parts below ``root``, so a cohort of hundreds of scans is
    one entry, not hundreds of lines.
    """
    counts: Counter[str] = Counter()
    for path in paths:
        rel = Path(path).resolve().relative_to(root.resolve())
        counts[str(Path(*rel.parts[:-1][:depth])) if len(rel.parts) > 1 else "."] += 1
    total = sum(counts.values())
    if not total:
        return "no files"
    parts = ", ".join(f"{n} in {folder}" for folder, n in sorted(counts.items()))
    return f"{total} file{'s' if total != 1 else ''}: {parts}"


def new_run_record(profile: str, params: Mapping[str, Any], *, seed: int,
                   out_dir: Path | None = None) -> dict[str, Any]:
    """The record of one papermill run of the book's notebooks (filled by :func:`add_notebook`).

    When ``out_dir`` already holds a record of the same profile, seed, overrides and commit (an earlier
    ``--only`` run), it is continued, so the record covers every notebook of the executed copies.
    """
    fresh = {
        "profile": profile,
        "seed": int(seed),
        "overrides": {k: v for k, v in params.items() if k != "profile"},
        "git_commit": git_commit(),
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "finished": None,
        "notebooks": [],
    }
    old = read_run_record(out_dir) if out_dir is not None else None
    same = ("profile", "seed", "overrides", "git_commit")
    if old is not None and all(old.get(key) == fresh[key] for key in same):
        return old
    return fresh


def add_notebook(record: dict[str, Any], out_dir: Path, name: str, seconds: float, written: str) -> None:
    """Append one executed notebook to ``record`` and save it (atomically) in ``out_dir``.

    Saved after every notebook, so an interrupted run still documents what it finished.
    """
    record["notebooks"] = [nb for nb in record["notebooks"] if nb["name"] != name]
    record["notebooks"].append({"name": name, "seconds": round(seconds, 1), "written": written})
    record["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    write_json(out_dir / RUN_RECORD, record)


def banner_html(record: Mapping[str, Any] | None) -> str:
    """The banner of every page: profile, seed, commit (short) and date of the numbers shown.

    ``record`` is the run record (``None``: the pages were built without executed notebooks).
    """
    if record is None:
        return "These pages were built without executed notebooks: they show no results."
    profile = str(record.get("profile"))
    commit = str(record.get("git_commit") or "unknown")
    short = commit[:7] + (" (with uncommitted changes)" if commit.endswith("-dirty") else "")
    date = str(record.get("finished") or record.get("started") or "unknown date")[:10]
    meaning = _MEANING.get(profile, f"profile {profile}")
    overrides = record.get("overrides") or {}
    extra = f", overrides {', '.join(f'{k}={v}' for k, v in overrides.items())}" if overrides else ""
    text = (f"Numbers on these pages: profile <b>{html.escape(profile)}</b>, seed {record.get('seed')}"
            f"{html.escape(extra)}, commit <code>{html.escape(short)}</code>, run on {html.escape(date)}: "
            f"{html.escape(meaning)}.")
    return f'<span class="lm-banner lm-banner-{html.escape(profile)}">{text}</span>'


def read_run_record(out_dir: Path) -> dict[str, Any] | None:
    """The run record in ``out_dir``, or ``None`` when there is none."""
    path = out_dir / RUN_RECORD
    return read_json(path) if path.is_file() else None


def stage_config(source: Path, dest: Path, banner: str) -> Path:
    """Copy the book's ``_config.yml`` to ``dest`` with ``html.announcement`` set to ``banner``."""
    import yaml

    if not source.is_file():
        raise LandmarkError(f"{source}: the book's configuration is missing")
    config = yaml.safe_load(source.read_text()) or {}
    config.setdefault("html", {})["announcement"] = banner
    dest.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return dest
