"""Interactive overlays: binarized scans with ground truth, each method's estimate and the errors.

:class:`OverlayViewer` is an ipywidgets viewer that works in two settings:

* **live in Jupyter**: choose the dataset (tabs), the scan (slider), the methods and
  the landmarks (multi-selects); changing a selection redraws the frames in Python.
* **in the static HTML book, without a kernel**: every scan's frame is precomputed as a small PNG
  (palette image, a few kB) inside a :class:`ipywidgets.Stack`, and the scan slider is linked to the
  stack's ``selected_index`` *on the JavaScript side* (:func:`ipywidgets.jslink`), so flipping
  through scans and switching datasets need no Python. The method and landmark selectors need a
  kernel; in the static page every method and landmark is shown.

The frames are drawn with Pillow directly (nearest-neighbour upscaled mask, markers and lines on a
fixed palette) rather than with matplotlib: a palette PNG of a binary patch is ~1-3 kB, a matplotlib
PNG ~20 kB, and the saved widget state carries every frame.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ..data import LandmarkSet
from ..errors import LandmarkError
from ..evaluation.results import METHODS, method_label

__all__ = ["frame_png", "estimates_for", "frame_errors", "OverlayViewer", "load_cohorts"]

_BG, _MASK, _BLACK, _WHITE = 0, 1, 2, 3
_METHOD_INDEX = {m: 4 + i for i, m in enumerate(METHODS)}


def _hex_rgb(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def _palette() -> list[int]:
    from ..viz.figures import METHOD_COLORS

    colors = [(255, 255, 255), (200, 200, 200), (0, 0, 0), (255, 255, 255)]
    colors += [_hex_rgb(METHOD_COLORS[m]) for m in METHODS]
    flat = [c for rgb in colors for c in rgb]
    return flat + [0] * (768 - len(flat))


def frame_png(
    mask: np.ndarray,
    truth: np.ndarray,
    estimates: Mapping[str, np.ndarray] | None = None,
    *,
    landmarks: Sequence[int] | None = None,
    scale: int = 3,
) -> bytes:
    """One overlay frame as PNG bytes.

    Parameters
    ----------
    mask
        ``(p_h, p_w)`` bool binarized patch (drawn light grey on white).
    truth
        ``(k, 2)`` ground truth ``(x, y)`` in patch px (black rings with a white centre).
    estimates
        ``{method: (k, 2)}`` estimates in patch px (a cross in the method's colour, joined to the truth
        by a line of the same colour); NaN rows are skipped.
    landmarks
        Indices of the landmarks to draw (default all).
    scale
        Integer upscaling of the patch (the PNG is ``scale * p_w`` by ``scale * p_h`` pixels).
    """
    mask = np.asarray(mask, bool)
    truth = np.asarray(truth, float)
    pick = list(range(len(truth))) if landmarks is None else list(landmarks)
    image = Image.fromarray(np.where(mask, _MASK, _BG).astype(np.uint8), mode="P")
    image = image.resize((mask.shape[1] * scale, mask.shape[0] * scale), Image.NEAREST)
    image.putpalette(_palette())
    draw = ImageDraw.Draw(image)
    r = max(2, scale)

    def at(point: np.ndarray) -> tuple[float, float]:
        return float(point[0] * scale), float(point[1] * scale)

    for method, points in (estimates or {}).items():
        color = _METHOD_INDEX[method]
        for j in pick:
            if not np.all(np.isfinite(points[j])):
                continue
            (x, y), (tx, ty) = at(points[j]), at(truth[j])
            draw.line([(tx, ty), (x, y)], fill=color, width=1)
            draw.line([(x - r, y), (x + r, y)], fill=color, width=2)
            draw.line([(x, y - r), (x, y + r)], fill=color, width=2)
    for j in pick:
        x, y = at(truth[j])
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_WHITE, outline=_BLACK, width=1)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def estimates_for(cohort: LandmarkSet, predictions: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{method: (N, k, 2)}`` estimates aligned with ``cohort``'s scans and landmarks (NaN if absent).

    ``predictions`` is a long table of :mod:`landmarklib.evaluation.results`; rows of other tasks are ignored.
    """
    part = predictions[predictions["task"] == cohort.task]
    names = list(cohort.landmark_names)
    subject_index = {s: i for i, s in enumerate(cohort.ids)}
    out = {}
    for method in [m for m in METHODS if m in set(part["method"])]:
        rows = part[part["method"] == method]
        arr = np.full((len(cohort), len(names), 2), np.nan)
        i = rows["subject"].astype(str).map(subject_index)
        j = rows["landmark"].map({n: k for k, n in enumerate(names)})
        ok = i.notna() & j.notna()
        arr[i[ok].astype(int), j[ok].astype(int)] = rows.loc[ok, ["x_pred", "y_pred"]].to_numpy(float)
        out[method] = arr
    return out


def frame_errors(
    truth: np.ndarray, estimates: Mapping[str, np.ndarray], names: Sequence[str], *,
    landmarks: Sequence[int] | None = None, mm_per_px: np.ndarray | None = None,
) -> pd.DataFrame:
    """Error (patch px, and mm if ``mm_per_px`` is given) per method (rows) and landmark (columns) of one scan."""
    pick = list(range(len(names))) if landmarks is None else list(landmarks)
    table = {}
    for method, points in estimates.items():
        d = np.asarray(points, float)[pick] - np.asarray(truth, float)[pick]
        if mm_per_px is not None:
            d = d * np.asarray(mm_per_px, float)
        table[method] = np.hypot(d[:, 0], d[:, 1])
    frame = pd.DataFrame(table, index=[names[j] for j in pick]).T
    if not frame.empty:
        frame["mean"] = frame.mean(axis=1)
    return frame


_TABLE_CSS = ("<style>.lmv{font-size:12px}.lmv table{border-collapse:collapse}.lmv td,.lmv th{padding:0 4px;"
              "white-space:nowrap}.lmv td{text-align:right}.lmv td:first-child{text-align:left}"
              ".lmv i{color:#777;font-style:normal}</style>")


def _errors_html(subject: str, px: pd.DataFrame, mm: pd.DataFrame | None, task: str) -> str:
    from ..viz.figures import METHOD_COLORS

    head = f"<b>scan {html.escape(subject)}</b>"
    if px.empty:
        return f"<div class='lmv'>{head}: ground truth only (no predictions)</div>"
    cols = "".join(f"<th>{html.escape(c)}</th>" for c in px.columns)
    values = px.to_numpy(float)
    in_mm = None if mm is None else mm.to_numpy(float)
    rows = []
    for r, method in enumerate(px.index):
        cells = []
        for c in range(values.shape[1]):
            text = "–" if not np.isfinite(values[r, c]) else f"{values[r, c]:.1f}"
            if in_mm is not None and np.isfinite(in_mm[r, c]):
                text += f" <i>({in_mm[r, c]:.1f})</i>"
            cells.append(f"<td>{text}</td>")
        swatch = f"<span style='color:{METHOD_COLORS[method]}'>&#9632;</span>"
        rows.append(f"<tr><td>{swatch} {html.escape(method_label(method, task))}</td>{''.join(cells)}</tr>")
    unit = "error in patch px" + (" (mm)" if mm is not None else "")
    return (f"{_TABLE_CSS}<div class='lmv'>{head}: {unit}<table>"
            f"<tr><th></th>{cols}</tr>{''.join(rows)}</table></div>")


class _Dataset:
    """One dataset's panel: a slider linked (in JS) to a stack of precomputed frames."""

    def __init__(self, title: str, cohort: LandmarkSet, predictions: pd.DataFrame, *, scale: int,
                 methods: Sequence[str] | None, landmarks: Sequence[str] | None) -> None:
        self.title, self.cohort, self.scale = title, cohort, scale
        self.estimates = estimates_for(cohort, predictions)
        names = list(cohort.landmark_names)
        available = list(self.estimates)
        chosen_methods = [m for m in (methods or available) if m in self.estimates]
        chosen_landmarks = list(landmarks or names)
        unknown = sorted(set(chosen_landmarks) - set(names))
        if unknown:
            raise LandmarkError(f"unknown {cohort.task} landmarks {unknown}; use some of {names}")
        task = cohort.task
        self.methods = widgets.SelectMultiple(
            options=[(method_label(m, task), m) for m in available], value=chosen_methods,
            rows=min(6, max(1, len(available))), description="methods")
        self.landmarks = widgets.SelectMultiple(options=names, value=chosen_landmarks,
                                                rows=min(9, len(names)), description="landmarks")
        # One Layout/Style model shared by all frames keeps the saved widget state small.
        image_layout = widgets.Layout(width=f"{scale * cohort.patch_size[0]}px")
        html_layout, html_style = widgets.Layout(), widgets.widget_string.HTMLStyle()
        box_layout = widgets.Layout(flex_flow="row wrap")  # the table goes below the image when narrow
        self.images = [widgets.Image(format="png", layout=image_layout) for _ in range(len(cohort))]
        self.tables = [widgets.HTML(layout=html_layout, style=html_style) for _ in range(len(cohort))]
        self.stack = widgets.Stack([widgets.HBox([im, tb], layout=box_layout)
                                    for im, tb in zip(self.images, self.tables)], selected_index=0)
        n = len(cohort)
        self.slider = widgets.IntSlider(value=0, min=0, max=max(0, n - 1), description="scan",
                                        continuous_update=True)
        # No Play button: its view looks for an <i> icon that the book theme's fontawesome.js replaces
        # by an <svg>, and the resulting error stops the slider -> stack link in the static page.
        self.links = [widgets.jslink((self.slider, "value"), (self.stack, "selected_index"))]
        self.legend = widgets.HTML()
        note = widgets.HTML("<span style='font-size:11px;color:#666'>Rings: ground truth. Crosses joined "
                            "to the truth: estimates. The method and landmark selectors need a running "
                            "kernel; the scan slider also works in the static page.</span>")
        self.widget = widgets.VBox([self.slider, self.legend, self.stack,
                                    widgets.HBox([self.methods, self.landmarks]), note])
        self.methods.observe(lambda _: self.redraw(), names="value")
        self.landmarks.observe(lambda _: self.redraw(), names="value")
        self.redraw()

    def frame(self, i: int) -> tuple[bytes, str]:
        """PNG bytes and error table HTML of scan ``i`` with the current selection."""
        cohort = self.cohort
        names = list(cohort.landmark_names)
        pick = [names.index(n) for n in self.landmarks.value]
        est = {m: self.estimates[m][i] for m in self.methods.value if np.isfinite(self.estimates[m][i]).any()}
        png = frame_png(cohort.masks[i], cohort.landmarks[i], est, landmarks=pick, scale=self.scale)
        px = frame_errors(cohort.landmarks[i], est, names, landmarks=pick)
        mm = (None if cohort.mm_per_px is None
              else frame_errors(cohort.landmarks[i], est, names, landmarks=pick, mm_per_px=cohort.mm_per_px[i]))
        return png, _errors_html(str(cohort.ids[i]), px, mm, cohort.task)

    def redraw(self) -> None:
        from ..viz.figures import METHOD_COLORS

        for i in range(len(self.cohort)):
            self.images[i].value, self.tables[i].value = self.frame(i)
        swatches = " ".join(f"<span style='color:{METHOD_COLORS[m]}'>&#10010;</span> "
                            f"{html.escape(method_label(m, self.cohort.task))}" for m in self.methods.value)
        self.legend.value = f"<span style='font-size:12px'>{swatches or 'ground truth only'}</span>"


class OverlayViewer:
    """Flip through binarized scans with ground truth, each method's estimate and the errors.

    Parameters
    ----------
    datasets
        ``{title: (cohort, predictions)}``: a :class:`~landmarklib.data.LandmarkSet` of binarized
        scans (from :func:`landmarklib.scans.load_cohort`) and the long prediction table(s) of
        :mod:`landmarklib.evaluation.results`; scans are matched by subject id, landmarks by name.
    methods, landmarks
        Initial selection (default: every method with predictions, every landmark).
    scale
        Integer upscaling of the patch in the frames (3: 288 x 288 px for hands).
    max_scans
        Keep only the first ``max_scans`` scans of each dataset (bounds the size of the saved page).

    Attributes
    ----------
    widget
        The :class:`ipywidgets.Tab` (one tab per dataset); displaying the viewer displays it.
    panels
        ``{title: panel}`` with each panel's ``slider``, ``stack``, ``images``, ``methods``,
        ``landmarks`` and ``links`` (the JS-side links).

    Examples
    --------
    >>> viewer = OverlayViewer({"MR hand": (hands, predictions)})  # doctest: +SKIP
    >>> viewer  # in Jupyter                                        # doctest: +SKIP
    """

    def __init__(
        self,
        datasets: Mapping[str, tuple[LandmarkSet, pd.DataFrame]],
        *,
        methods: Sequence[str] | None = None,
        landmarks: Mapping[str, Sequence[str]] | None = None,
        scale: int = 3,
        max_scans: int | None = None,
    ) -> None:
        if not datasets:
            raise LandmarkError("OverlayViewer needs at least one dataset: {title: (cohort, predictions)}")
        self.panels: dict[str, _Dataset] = {}
        for title, (cohort, predictions) in datasets.items():
            if len(cohort) == 0:
                raise LandmarkError(f"dataset {title!r} has no scans")
            if max_scans is not None:
                cohort = cohort.subset(slice(0, max_scans))
            self.panels[title] = _Dataset(title, cohort, predictions, scale=scale, methods=methods,
                                          landmarks=(landmarks or {}).get(cohort.task))
        self.widget = widgets.Tab([p.widget for p in self.panels.values()], titles=list(self.panels))

    def _repr_mimebundle_(self, **kwargs):  # displayed as its widget
        return self.widget._repr_mimebundle_(**kwargs)

    def embedded_bytes(self) -> int:
        """Total size of the PNG frames the saved widget state carries."""
        return sum(len(im.value) for p in self.panels.values() for im in p.images)


def load_cohorts(cfg: Mapping[str, object], tasks: Sequence[str] = ("hand", "body")) -> tuple[dict[str, LandmarkSet], list[str]]:
    """The binarized scan cohorts for the figures and the viewer, and a note per cohort that is missing.

    Calls :func:`landmarklib.scans.load_cohort` (which generates and caches a simulated cohort, or
    reads ``cfg.scan_dir``). A cohort that cannot be had (the scans stage is not installed, or it
    reports a :class:`~landmarklib.errors.LandmarkError`) is left out with a note instead of stopping
    the results page.
    """
    cohorts: dict[str, LandmarkSet] = {}
    notes: list[str] = []
    try:
        from ..scans.cohorts import load_cohort
    except ImportError as err:
        return cohorts, [f"landmarklib.scans is not available ({err}); no scan images"]
    for task in tasks:
        try:
            cohorts[task] = load_cohort(task, cfg)
        except LandmarkError as err:
            notes.append(f"{task} cohort: {err}")
    return cohorts, notes
