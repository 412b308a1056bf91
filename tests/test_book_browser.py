"""The results page as a reader sees it: built into HTML and opened in a real headless browser.

A small staged book (the intro and ``07_results`` only) is executed with papermill under the
``quick`` profile and built with Jupyter Book, served from a localhost ``http.server`` thread and
opened with Playwright driving Debian's chromium (no browser download). The prediction tables are
synthetic (toy numbers, not results), and so are the scan images: the kernel imports a copy of
``landmarklib`` whose ``scans.load_cohort`` returns the test's small landmark sets, so the test does
not depend on (or regenerate) the simulated cohorts of the scans stage.

Screenshots go to ``renders/results/screenshots/`` of the checkout (``$LANDMARKLIB_SCREENSHOTS``
overrides), for the note.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers_results import PAPER_LIKE, toy_landmark_set, toy_predictions

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(apt-get install chromium, or `make install` as root)"),
]

#: Console messages a clean page may still print: thebe's duplicate declaration (TOOLCHAIN.md) and the
#: theme's note when the browser has no stored light/dark choice.
ALLOWED_CONSOLE = ("THEBE_JS_URL", "Got invalid theme mode")
#: Requests that may fail: the browser asks every site for a favicon; the book has none.
ALLOWED_MISSING = ("/favicon.ico",)

STUB_SCANS = '''# Test double of the scans stage: the cohorts the browser test saved (not simulated scans).
import os

from ..data import LandmarkSet


def load_cohort(task, cfg):
    return LandmarkSet.load(os.path.join(os.environ["LANDMARKLIB_TEST_COHORTS"], f"{task}.npz"))
'''


#: The run record the staged book's banner is made from (as ``cli.execute_notebooks`` writes it).
BANNER_RECORD = {"profile": "quick", "seed": 0, "overrides": {}, "git_commit": "feedc0de1234",
                 "started": "2026-12-01T09:00:00+00:00", "finished": "2026-12-01T09:02:00+00:00"}


def _screenshot_dir() -> Path:
    # set LANDMARKLIB_SCREENSHOTS to keep them; by default they go to this test's temporary root (conftest)
    default = Path(os.environ.get("LANDMARKLIB_RENDERS", ROOT / "renders")) / "results" / "screenshots"
    folder = Path(os.environ.get("LANDMARKLIB_SCREENSHOTS", default))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _stage_book(tmp: Path) -> Path:
    """intro + 07_results, the repository's _config.yml and offline widget assets."""
    stage = tmp / "book_src"
    (stage / "book").mkdir(parents=True)
    from landmarklib.publish import banner_html, stage_config

    shutil.copy2(ROOT / "references.bib", stage / "references.bib")
    stage_config(ROOT / "_config.yml", stage / "_config.yml", banner_html(BANNER_RECORD))
    shutil.copy2(ROOT / "book" / "intro.md", stage / "book" / "intro.md")
    shutil.copytree(ROOT / "book" / "widgets_static", stage / "book" / "widgets_static")
    (stage / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/07_results\n")
    return stage


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    import papermill as pm

    from landmarklib.evaluation.results import write_predictions

    tmp = tmp_path_factory.mktemp("browser")
    renders, cohorts_dir, pylib = tmp / "renders", tmp / "cohorts", tmp / "py"
    cohorts_dir.mkdir()
    env = {"LANDMARKLIB_RENDERS": str(renders), "LANDMARKLIB_TEST_COHORTS": str(cohorts_dir),
           "PYTHONPATH": str(pylib), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        shutil.copytree(ROOT / "landmarklib", pylib / "landmarklib",
                        ignore=shutil.ignore_patterns("__pycache__"))
        # the real scans package, with load_cohort replaced by the test double (a later def wins)
        cohorts = pylib / "landmarklib" / "scans" / "cohorts.py"
        cohorts.write_text(cohorts.read_text() + "\n\n" + STUB_SCANS)
        for task, n, seed in (("hand", 10, 0), ("body", 5, 1)):  # 10 hands: more than the viewer shows
            cohort = toy_landmark_set(task, n, seed=seed)
            cohort.save(cohorts_dir / f"{task}.npz")
            frame = toy_predictions(cohort, PAPER_LIKE, seed=seed)
            for _, part in frame.groupby("method"):
                write_predictions(part, params={"profile": "quick", "seed": 0, "renders_dir": renders})
        stage = _stage_book(tmp)
        pm.execute_notebook(str(ROOT / "book" / "07_results.ipynb"), str(stage / "book" / "07_results.ipynb"),
                            parameters={"profile": "quick", "bootstrap": 200}, cwd=str(stage / "book"),
                            kernel_name="python3", progress_bar=False)
        jb = Path(sys.executable).parent / "jupyter-book"
        cmd = [str(jb)] if jb.is_file() else [sys.executable, "-m", "jupyter_book"]
        proc = subprocess.run([*cmd, "build", str(stage), "--path-output", str(tmp)], capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    html = tmp / "_build" / "html"
    assert (html / "book" / "07_results.html").is_file()
    return html


@pytest.fixture(scope="module")
def server(built_book):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args, **kwargs):  # keep the test output readable
            pass

    handler = functools.partial(Quiet, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _visible_frame_src(page) -> str:
    return page.evaluate(
        """() => {
            const imgs = [...document.querySelectorAll('.jupyter-widgets img')]
                .filter(im => im.offsetParent !== null && im.getBoundingClientRect().width > 50);
            return imgs.length ? imgs[0].src : '';
        }"""
    )


def _visible_label(page) -> str:
    """The label of the frame the viewer shows (scan, method and landmark chosen)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.widget-tab .lmv-label')]
            .filter(el => el.offsetParent !== null).map(el => el.innerText).join(' | ')"""
    )


def _visible_table_headers(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.widget-tab .lmv table th')]
            .filter(el => el.offsetParent !== null).map(el => el.innerText)"""
    )


def _visible_table_rows(page) -> list[str]:
    """The methods in the visible error table (first cell of each row, swatch left out)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.widget-tab .lmv table tr td:first-child')]
            .filter(el => el.offsetParent !== null).map(el => el.innerText.replace('\u25a0', '').trim())"""
    )


def _choose(page, viewer, name: str, option: str, expected: str, shot: Path) -> tuple[str, bytes]:
    """Choose ``option`` in the viewer's dropdown ``name``; wait until the visible frame says ``expected``."""
    viewer.locator(".widget-dropdown", has_text=name).first.locator("select").select_option(label=option)
    page.wait_for_function(
        """s => [...document.querySelectorAll('.widget-tab .lmv-label')]
            .some(el => el.offsetParent !== null && el.innerText.includes(s))""", arg=expected, timeout=5_000)
    return _visible_frame_src(page), viewer.screenshot(path=str(shot))


def test_results_page_shows_figures_claims_and_a_viewer_that_flips_without_a_kernel(server):
    from playwright.sync_api import sync_playwright

    shots = _screenshot_dir()
    errors: list[str] = []
    failed: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("console", lambda m: errors.append(f"{m.text} ({m.location.get('url')})")
                    if m.type == "error" and not m.location.get("url", "").endswith(ALLOWED_MISSING) else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith(ALLOWED_MISSING) else None)
            for url in (f"{server}/index.html", f"{server}/book/intro.html", f"{server}/book/07_results.html"):
                page.goto(url, wait_until="networkidle")
                banner = page.locator(".lm-banner").first
                assert banner.is_visible(), f"no banner on {url}"
                words = banner.inner_text()
                assert all(w in words for w in ("quick", "seed 0", "feedc0d", "2026-12-01", "smoke test")), words
            page.goto(f"{server}/book/07_results.html", wait_until="networkidle")
            page.wait_for_selector(".jupyter-widgets img", state="visible", timeout=30_000)

            # both figures: matplotlib outputs saved as PNG files of the page
            figures = page.evaluate(
                "() => [...document.querySelectorAll('.cell_output img')]"
                ".filter(im => !im.closest('.jupyter-widgets')).map(im => im.naturalWidth)"
            )
            assert len([w for w in figures if w > 400]) >= 2, figures
            # the claims table, computed (five claims with a verdict each)
            text = page.inner_text("main")
            assert all(f"C{i}" in text for i in range(1, 6)) and "verdict" in text
            assert any(v in text for v in ("holds", "inconclusive", "does not hold"))

            viewer = page.locator(".widget-tab").first
            viewer.scroll_into_view_if_needed()
            before_src = _visible_frame_src(page)
            before_png = viewer.screenshot(path=str(shots / "06_viewer_scan0.png"))
            assert before_src.startswith("data:image/png") or before_src.startswith("blob:")
            assert "scan s00" in viewer.inner_text()

            handle = viewer.locator(".noUi-handle").first
            handle.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function("s => document.querySelector('.widget-tab').innerText.includes(s)",
                                   arg="scan s01", timeout=5_000)
            after_src = _visible_frame_src(page)
            after_png = viewer.screenshot(path=str(shots / "06_viewer_scan1.png"))
            assert after_src and after_src != before_src
            assert after_png != before_png
            assert _visible_label(page) == "scan s01 · all methods · all landmarks"
            assert "8 of 10 scans shown" in viewer.inner_text()
            assert _visible_table_rows(page) == ["NN(syn)", "NN(MR)", "RF", "CNN(syn)", "CNN(MR)", "CNN(ft)"]

            # method and landmark selectors: linked to the precomputed frames in JavaScript, no kernel
            method_src, method_png = _choose(page, viewer, "method", "CNN(ft)", "scan s01 · CNN(ft) · all landmarks",
                                             shots / "06_viewer_scan1_cnnft.png")
            assert method_src and method_src not in (before_src, after_src) and method_png != after_png
            assert _visible_table_rows(page) == ["CNN(ft)"]
            headers = _visible_table_headers(page)
            assert headers[-1] == "mean" and "thumb" in headers and "pinky" in headers
            landmark_src, landmark_png = _choose(page, viewer, "landmark", "thumb", "scan s01 · CNN(ft) · thumb",
                                                 shots / "06_viewer_scan1_cnnft_thumb.png")
            assert landmark_src and landmark_src != method_src and landmark_png != method_png
            assert [h for h in _visible_table_headers(page) if h] == ["thumb"]
            assert _visible_label(page) == "scan s01 · CNN(ft) · thumb"
            # the scan slider keeps the method and landmark chosen
            handle.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function("s => document.querySelector('.widget-tab').innerText.includes(s)",
                                   arg="scan s02 · CNN(ft) · thumb", timeout=5_000)
            assert _visible_frame_src(page) not in ("", landmark_src)
            truth_src, _ = _choose(page, viewer, "method", "ground truth only", "scan s02 · ground truth only · thumb",
                                   shots / "06_viewer_scan2_truth_thumb.png")
            assert "ground truth only (no estimate drawn)" in viewer.inner_text()
            _choose(page, viewer, "landmark", "all landmarks", "scan s02 · ground truth only · all landmarks",
                    shots / "06_viewer_scan2_truth.png")
            assert _visible_frame_src(page) != truth_src
            page.screenshot(path=str(shots / "07_results_page.png"), full_page=True)
        finally:
            browser.close()
    unexpected = [e for e in errors if not any(a in e for a in ALLOWED_CONSOLE)]
    assert not unexpected, unexpected
    assert not failed, f"requests that failed (the book must work offline): {failed}"
