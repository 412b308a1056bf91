"""Interactive overlays: binarized scans with ground truth, each method's estimate and the errors.

:class:`OverlayViewer` is an ipywidgets viewer that works the same live in Jupyter and in the static
HTML book without a kernel: choose the dataset (tabs), the scan (slider), the method (all methods, one
method, or ground truth only) and the landmark (all landmarks or one). Every combination is a
precomputed frame (a small palette PNG and its error table in one :class:`ipywidgets.HTML`), held
in nested :class:`ipywidgets.Stack` s whose ``selected_index`` the selectors drive through links on
the JavaScript side (:func:`ipywidgets.jslink`), so no selection needs Python. The saved widget
state carries every frame, so the number of scans per dataset is bounded (``max_scans``).

The frames are drawn with Pillow directly (nearest-neighbour upscaled mask, markers and lines on a
10-colour palette, 4-bit PNG) rather than with matplotlib: such a frame of a binary patch is ~1 kB, a
matplotlib PNG ~20 kB.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
from ipywidgets.embed import dependency_state
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
    return [c for rgb in colors for c in rgb]  # only the colours used: a short PLTE chunk


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
    image.save(buffer, format="PNG", optimize=True, bits=4)  # 10 colours fit in 4 bits
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


#: The choices offered besides the single methods and landmarks.
ALL_METHODS, TRUTH_ONLY, ALL_LANDMARKS = "all methods", "ground truth only", "all landmarks"
#: Scans per dataset in the viewer by default: 8 hands x 48 frames + 8 bodies x 80 frames keep the saved
#: widget state of the results page near 2 MB (see :meth:`OverlayViewer.embedded_bytes`).
DEFAULT_MAX_SCANS = 8

_CSS = ("<style>.lmv{font-size:12px}.lmv table{border-collapse:collapse}.lmv td,.lmv th{padding:0 4px;"
        "white-space:nowrap}.lmv td{text-align:right}.lmv td:first-child{text-align:left}"
        ".lmv i{color:#777;font-style:normal}.lmv-frame{display:flex;flex-flow:row wrap;gap:8px;"
        "align-items:flex-start}</style>")


def _errors_html(header: str, methods: Sequence[str], columns: Sequence[str], px: np.ndarray,
                 mm: np.ndarray | None, task: str) -> str:
    """The label and the error table (a row per method, a column per landmark, and their mean if several)."""
    from ..viz.figures import METHOD_COLORS

    head = f"<b class='lmv-label'>{html.escape(header)}</b>"
    if not len(methods):
        return f"<div class='lmv'>{head}<br>ground truth only (no estimate drawn)</div>"
    if len(columns) > 1:
        px = np.column_stack([px, np.nanmean(px, axis=1)])  # every row has a finite error
        mm = None if mm is None else np.column_stack([mm, np.nanmean(mm, axis=1)])
        columns = [*columns, "mean"]
    cols = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for r, method in enumerate(methods):
        cells = []
        for c in range(px.shape[1]):
            text = "–" if not np.isfinite(px[r, c]) else f"{px[r, c]:.1f}"
            if mm is not None and np.isfinite(mm[r, c]):
                text += f" <i>({mm[r, c]:.1f})</i>"
            cells.append(f"<td>{text}</td>")
        swatch = f"<span style='color:{METHOD_COLORS[method]}'>&#9632;</span>"
        rows.append(f"<tr><td>{swatch} {html.escape(method_label(method, task))}</td>{''.join(cells)}</tr>")
    unit = "error in patch px" + (" (mm)" if mm is not None else "")
    return (f"<div class='lmv'>{head}<br>{unit}<table>"
            f"<tr><th></th>{cols}</tr>{''.join(rows)}</table></div>")


class _Dataset:
    """One dataset's panel: every (method choice, landmark choice, scan) frame precomputed.

    The frames sit in nested :class:`ipywidgets.Stack` s, method choice -> landmark choice -> scan,
    and each selector is linked on the JavaScript side to the ``selected_index`` of every stack of its
    level: the method dropdown's ``index`` to :attr:`stack`, the landmark dropdown's ``index`` to
    each of :attr:`landmark_stacks`, the scan slider's ``value`` to each of :attr:`scan_stacks`.
    """

    def __init__(self, title: str, cohort: LandmarkSet, predictions: pd.DataFrame, *, scale: int,
                 methods: Sequence[str] | None, landmarks: Sequence[str] | None,
                 max_scans: int | None) -> None:
        self.total = len(cohort)
        shown = self.total if max_scans is None else min(self.total, max_scans)
        if shown < self.total:
            cohort = cohort.subset(slice(0, shown))
        self.title, self.cohort, self.scale = title, cohort, scale
        self.estimates = estimates_for(cohort, predictions)
        self._error_cache: dict[int, tuple[list[str], np.ndarray, np.ndarray | None]] = {}
        names = list(cohort.landmark_names)
        offered = [m for m in self.estimates if m in (methods or self.estimates)]  # in METHODS order
        chosen = list(landmarks or names)
        unknown = sorted(set(chosen) - set(names))
        if unknown:
            raise LandmarkError(f"unknown {cohort.task} landmarks {unknown}; use some of {names}")
        task = cohort.task
        picks = [names.index(n) for n in chosen]
        #: ``[(label, methods drawn)]`` and ``[(label, landmark indices drawn)]``, in selector order.
        self.method_choices: list[tuple[str, tuple[str, ...]]] = (
            ([(ALL_METHODS, tuple(offered))] if len(offered) > 1 else [])
            + [(method_label(m, task), (m,)) for m in offered] + [(TRUTH_ONLY, ())])
        self.landmark_choices: list[tuple[str, tuple[int, ...]]] = (
            ([(ALL_LANDMARKS, tuple(picks))] if len(picks) > 1 else []) + [(names[j], (j,)) for j in picks])

        # One Layout/Style model shared by all frames keeps the saved widget state small.
        layout, style = widgets.Layout(), widgets.widget_string.HTMLStyle()
        #: ``frames[a][b][i]``: HTML (image and error table) of method choice a, landmark choice b, scan i.
        self.frames = [[[widgets.HTML(self.frame_html(i, ms, ls, m_label, l_label), layout=layout, style=style)
                         for i in range(shown)]
                        for l_label, ls in self.landmark_choices]
                       for m_label, ms in self.method_choices]
        self.scan_stacks = [[widgets.Stack(row, selected_index=0, layout=layout) for row in per_method]
                            for per_method in self.frames]
        self.landmark_stacks = [widgets.Stack(row, selected_index=0, layout=layout) for row in self.scan_stacks]
        self.stack = widgets.Stack(self.landmark_stacks, selected_index=0, layout=layout)

        self.method = widgets.Dropdown(options=[label for label, _ in self.method_choices], index=0,
                                       description="method")
        self.landmark = widgets.Dropdown(options=[label for label, _ in self.landmark_choices], index=0,
                                         description="landmark")
        self.slider = widgets.IntSlider(value=0, min=0, max=max(0, shown - 1), description="scan",
                                        continuous_update=True)
        # No Play button: its view looks for an <i> icon that the book theme's fontawesome.js replaces
        # by an <svg>, and the resulting error stops the slider -> stack link in the static page.
        self.links = ([widgets.jslink((self.method, "index"), (self.stack, "selected_index"))]
                      + [widgets.jslink((self.landmark, "index"), (s, "selected_index"))
                         for s in self.landmark_stacks]
                      + [widgets.jslink((self.slider, "value"), (s, "selected_index"))
                         for row in self.scan_stacks for s in row])
        from ..viz.figures import METHOD_COLORS

        swatches = " ".join(f"<span style='color:{METHOD_COLORS[m]}'>&#10010;</span> "
                            f"{html.escape(method_label(m, task))}" for m in offered)
        count = f"{shown} of {self.total} scans shown" + (
            f" (the first {shown}; the viewer's max_scans bounds the page size)" if shown < self.total else "")
        self.legend = widgets.HTML(
            f"{_CSS}<span style='font-size:12px'>{swatches or 'no predictions: ground truth only'}</span>")
        self.note = widgets.HTML(
            f"<span style='display:block;font-size:11px;line-height:1.4;color:#666'>{count}. Rings: ground truth. Crosses joined to the "
            "truth: estimates. Every choice of scan, method and landmark is a precomputed frame, so the "
            "selectors also work in the static page.</span>")
        self.widget = widgets.VBox([widgets.HBox([self.method, self.landmark]), self.slider, self.legend,
                                    self.stack, self.note])

    def _errors(self, i: int) -> tuple[list[str], np.ndarray, np.ndarray | None]:
        """Methods, and their errors of scan ``i`` in patch px and mm, ``(methods, k)`` each (cached)."""
        if i not in self._error_cache:
            cohort, names = self.cohort, list(self.cohort.landmark_names)
            est = {m: e[i] for m, e in self.estimates.items()}
            px = frame_errors(cohort.landmarks[i], est, names).drop(columns="mean", errors="ignore")
            mm = (None if cohort.mm_per_px is None else
                  frame_errors(cohort.landmarks[i], est, names, mm_per_px=cohort.mm_per_px[i])
                  .drop(columns="mean", errors="ignore").to_numpy(float))
            self._error_cache[i] = (list(px.index), px.to_numpy(float), mm)
        return self._error_cache[i]

    def frame_html(self, i: int, methods: Sequence[str], picks: Sequence[int], method_text: str,
                   landmark_text: str) -> str:
        """Image and error table of scan ``i`` with ``methods`` and landmarks ``picks`` drawn."""
        cohort = self.cohort
        names = list(cohort.landmark_names)
        png = frame_png(cohort.masks[i], cohort.landmarks[i], {m: self.estimates[m][i] for m in methods},
                        landmarks=picks, scale=self.scale)
        order, px, mm = self._errors(i)
        cols = list(picks)
        rows = [order.index(m) for m in methods if np.isfinite(px[order.index(m), cols]).any()]
        header = f"scan {cohort.ids[i]} · {method_text} · {landmark_text}"
        if methods and not rows:
            header += " (no estimate for this scan)"
        table = _errors_html(header, [order[r] for r in rows], [names[j] for j in cols],
                             px[np.ix_(rows, cols)], None if mm is None else mm[np.ix_(rows, cols)], cohort.task)
        height, width = (s * self.scale for s in cohort.masks[i].shape)
        image = (f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}' width='{width}' "
                 f"height='{height}' alt='{html.escape(header)}'>")
        return f"<div class='lmv-frame'>{image}{table}</div>"


class OverlayViewer:
    """Flip through binarized scans with ground truth, each method's estimate and the errors.

    Every choice of scan (slider), method (dropdown: all methods, each method, ground truth only) and
    landmark (dropdown: all landmarks, each landmark) is a precomputed frame, and the selectors are
    linked to the frames' stacks on the JavaScript side (:func:`ipywidgets.jslink`), so the viewer
    works the same live in Jupyter and in the static HTML book without a kernel.

    Parameters
    ----------
    datasets
        ``{title: (cohort, predictions)}``: a :class:`~landmarklib.data.LandmarkSet` of binarized
        scans (from :func:`landmarklib.scans.load_cohort`) and the long prediction table(s) of
        :mod:`landmarklib.evaluation.results`; scans are matched by subject id, landmarks by name.
    methods, landmarks
        The methods and (per task) landmarks offered (default: every method with predictions, every
        landmark).
    scale
        Integer upscaling of the patch in the frames (3: 288 x 288 px for hands).
    max_scans
        Keep only the first ``max_scans`` scans of each dataset (``None``: all). Frames per scan are
        (methods + 2) x (landmarks + 1): 48 for hands, 80 for bodies, ~2 kB each in the saved page,
        so the default (:data:`DEFAULT_MAX_SCANS`) keeps a hands + bodies viewer near 2 MB. The
        widget says how many of how many scans it shows.

    Attributes
    ----------
    widget
        The :class:`ipywidgets.Tab` (one tab per dataset); displaying the viewer displays it.
    panels
        ``{title: panel}`` with each panel's selectors ``method``, ``landmark``, ``slider``, the
        precomputed ``frames[a][b][i]``, the stacks (``stack``, ``landmark_stacks``, ``scan_stacks``)
        and ``links`` (the JS-side links).

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
        max_scans: int | None = DEFAULT_MAX_SCANS,
    ) -> None:
        if not datasets:
            raise LandmarkError("OverlayViewer needs at least one dataset: {title: (cohort, predictions)}")
        if max_scans is not None and max_scans < 1:
            raise LandmarkError(f"max_scans={max_scans!r}: give a positive number of scans, or None for all")
        unknown = sorted(set(methods or ()) - set(METHODS))
        if unknown:
            raise LandmarkError(f"unknown methods {unknown}; use some of {list(METHODS)}")
        self.panels: dict[str, _Dataset] = {}
        for title, (cohort, predictions) in datasets.items():
            if len(cohort) == 0:
                raise LandmarkError(f"dataset {title!r} has no scans")
            self.panels[title] = _Dataset(title, cohort, predictions, scale=scale, methods=methods,
                                          landmarks=(landmarks or {}).get(cohort.task), max_scans=max_scans)
        self.widget = widgets.Tab([p.widget for p in self.panels.values()], titles=list(self.panels))

    def _repr_mimebundle_(self, **kwargs):  # displayed as its widget
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def n_frames(self) -> int:
        """Number of precomputed frames over all datasets."""
        return sum(len(leaves) for p in self.panels.values() for row in p.frames for leaves in row)

    def embedded_bytes(self) -> int:
        """Size in bytes of the viewer's saved widget state (every model, frames and links included).

        This is what the notebook's metadata and the built page carry for the viewer (JSON, images as
        base64 data URIs).
        """
        state = dependency_state(self.widget, drop_defaults=False)  # adds the links between its widgets
        return len(json.dumps(state, separators=(",", ":")))


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
