"""Coverage dock: which detector lines the current background mask starves.

After every mask change (the mask model's ``changed``, once per stroke or undo) and
every change of the cleaning state (``fc`` decides what a line needs), a
:class:`~app.widgets.live_task.LiveTask` with a 300 ms quiet time sends the mask to
:func:`app.core.mask.coverage.line_coverage` in the TaskRunner (newest wins). The
result is listed as ranges of detector lines and drawn as bands over the matching DMS
columns, which are the same lines for NRS1 and mirrored for NRS2
(:meth:`~app.core.mask.coverage.LineCoverage.columns`); the bands are overlays in DMS
coordinates, so the detector view turns them with the image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import QDockWidget

from app.core.clean import CleanParams
from app.core.files.stack import ImageStack
from app.core.mask.coverage import LineCoverage, line_coverage
from app.core.mask.model import MaskModel
from app.core.state.states import SettingsState
from app.widgets.coverage_panel import (
    BANDS_Z,
    PUBLISHED_RGBA,
    SPARSE_RGBA,
    UNFIT_RGBA,
    ColumnBands,
    CoveragePanel,
)
from app.widgets.image_view import ImageView
from app.widgets.live_task import LiveTask
from app.widgets.workers import TaskRunner

DEBOUNCE_MS = 300
COVERAGE_KEY = "coverage"
#: Rows listed at most (a mask that starves hundreds of ranges needs a look, not a list).
MAX_ROWS = 200


def line_ranges(lines: np.ndarray) -> list[np.ndarray]:
    """Split sorted detector line indices into runs of consecutive lines."""
    lines = np.asarray(lines, dtype=np.int64)
    if lines.size == 0:
        return []
    return np.split(lines, np.flatnonzero(np.diff(lines) != 1) + 1)


def coverage_rows(coverage: LineCoverage) -> list[tuple[str, str, str, object]]:
    """Rows for :meth:`CoveragePanel.set_rows`: ``(text, tooltip, kind, (x0, x1))`` with
    the DMS column span ``x0..x1`` of each range of starved lines."""
    rows: list[tuple[str, str, str, object]] = []
    for kind, lines in (("unfit", coverage.unfit_lines), ("sparse", coverage.sparse_lines),
                        ("published", coverage.published_unstable_lines)):
        for run in line_ranges(lines):
            columns = coverage.columns(run)
            x0, x1 = int(columns.min()), int(columns.max())
            span = f"{run[0]}" if run.size == 1 else f"{run[0]}–{run[-1]}"
            cols = f"{x0}" if x0 == x1 else f"{x0}–{x1}"
            if kind == "unfit":
                low, high = coverage.samples[run].min(), coverage.samples[run].max()
                got = f"{low}" if low == high else f"{low}–{high}"
                text = f"lines {span}: {got} samples (need {coverage.min_samples})"
                tip = f"Not cleaned. DMS columns {cols}; free some background there."
            elif kind == "sparse":
                gap = int(coverage.max_gap[run].max())
                text = f"lines {span}: too clustered (gap of {gap} samples)"
                tip = (f"Only the mean level is removed: {coverage.criterion}. DMS columns "
                       f"{cols}.")
            else:
                text = f"lines {span}: published fit unstable"
                tip = ("The JWST pipeline's NSClean (and NSClean 1.x) would swing across "
                       "the gaps of these lines with this mask; exporting offers a remedy. "
                       f"DMS columns {cols}.")
            rows.append((text, tip, kind, (x0, x1)))
    return rows


class CoverageController(QObject):
    """Owns the Coverage panel and its bands on the main image.

    It receives what it uses, not the window: the stack, the mask model and the cleaning
    state it follows, the preview's copy of the background mask, the image view it draws
    on, and the task runner.

    Signals
    -------
    coverageShown(object)
        A new :class:`LineCoverage` is shown (None: cleared).
    """

    coverageShown = pyqtSignal(object)

    def __init__(self, stack: ImageStack, masks: MaskModel, cleaning: SettingsState[CleanParams],
                 current_mask: Callable[[], np.ndarray | None], view: ImageView,
                 runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.stack, self.masks, self.cleaning, self.view = stack, masks, cleaning, view
        self.current_mask = current_mask
        self.runner = runner
        self.panel = CoveragePanel()
        self.unfit_bands = ColumnBands(UNFIT_RGBA)
        self.sparse_bands = ColumnBands(SPARSE_RGBA)
        self.published_bands = ColumnBands(PUBLISHED_RGBA)
        view.add_overlay(self.published_bands, BANDS_Z - 1)
        view.add_overlay(self.sparse_bands, BANDS_Z)
        view.add_overlay(self.unfit_bands, BANDS_Z + 1)
        self.coverage: LineCoverage | None = None
        self.live = LiveTask(runner, COVERAGE_KEY, _measure, self._inputs, self._on_coverage,
                             self._on_error, idle_ms=DEBOUNCE_MS, busy_ms=DEBOUNCE_MS,
                             parent=self)
        self._timer = self.live.timer
        masks.changed.connect(lambda _box: self.schedule())
        masks.replaced.connect(lambda _layers: self.schedule())
        stack.changed.connect(lambda _what: self._image_changed())
        cleaning.changed.connect(lambda _fields: self.schedule())
        self.panel.rowActivated.connect(self.centre_on)
        self.panel.highlightToggled.connect(self._sync_bands)
        self.dock = QDockWidget("Coverage")  # placed by the window
        self.dock.setObjectName("Coverage")  # the saved layout names it
        self.dock.setWidget(self.panel)

    def schedule(self) -> None:
        """Recompute after the debounce time."""
        self.live.request()

    def _image_changed(self) -> None:
        if self.stack.image is None:  # closed or being recombined: nothing to show
            self.live.cancel()
            if self.coverage is not None:
                self._show(None, "Load an image to see how well the mask covers each line")
        self.schedule()

    def _current(self, image: np.ndarray, layers: object) -> bool:
        """Whether a result for ``image`` and ``layers`` still describes what is loaded."""
        return image is self.stack.image and layers is self.masks.layers

    def submit(self) -> None:
        """Measure the current mask now (in the worker)."""
        self.live.submit()

    def _inputs(self) -> tuple | None:
        image, layers, detector = self.stack.image, self.masks.layers, self.stack.detector
        if image is None or layers is None or layers.shape != image.shape:
            self.live.cancel()  # a running measurement is of another image
            self._show(None, "Load an image to see how well the mask covers each line")
            return None
        if detector not in ("NRS1", "NRS2"):
            self.live.cancel()
            self._show(None, "The files do not say which detector they come from: no "
                       "line coverage.")
            return None
        mask = self.current_mask()  # kept in step box by box by the preview: cheap
        return mask, detector, image, self.cleaning.value, layers

    def _on_coverage(self, inputs: tuple, coverage: LineCoverage) -> None:
        image, layers = inputs[2], inputs[4]
        if not self._current(image, layers):
            return  # the image changed meanwhile; its own measurement is scheduled
        unfit, sparse = coverage.unfit_lines, coverage.sparse_lines
        rows = coverage_rows(coverage)
        text = coverage.summary()
        if len(rows) > MAX_ROWS:
            text += f"\n(the first {MAX_ROWS} of {len(rows)} ranges are listed)"
        self._show(coverage, text, problem=bool(unfit.size), rows=rows[:MAX_ROWS])
        height = coverage.shape[0]
        self.unfit_bands.set_columns(coverage.columns(unfit), height)
        self.sparse_bands.set_columns(coverage.columns(sparse), height)
        self.published_bands.set_columns(coverage.columns(coverage.published_unstable_lines),
                                         height)

    def _on_error(self, inputs: tuple, text: str) -> None:
        if self._current(inputs[2], inputs[4]):
            self._show(None, f"No coverage: {text}", problem=True)

    def _show(self, coverage: LineCoverage | None, text: str, problem: bool = False,
              rows: list | None = None) -> None:
        self.coverage = coverage
        self.panel.set_summary(text, problem)
        self.panel.set_rows(rows or [])
        if coverage is None:
            self.unfit_bands.set_columns(np.zeros(0, int), 0)
            self.sparse_bands.set_columns(np.zeros(0, int), 0)
            self.published_bands.set_columns(np.zeros(0, int), 0)
        self._sync_bands()
        self.coverageShown.emit(coverage)

    def _sync_bands(self) -> None:
        on = self.panel.highlight.isChecked()
        self.unfit_bands.setVisible(on)
        self.sparse_bands.setVisible(on)
        self.published_bands.setVisible(on)

    def centre_on(self, columns: tuple[int, int]) -> None:
        """Centre the main view on DMS columns ``x0..x1`` (keeping the zoom)."""
        image = self.stack.image
        if image is None:
            return
        x0, x1 = columns
        view = self.view
        box = view.view
        target = box.mapSceneToView(view.scene_from_dms((x0 + x1 + 1) / 2, image.shape[0] / 2))
        rect = box.viewRect()
        rect.moveCenter(target)
        box.setRange(rect=rect, padding=0.0)


def _measure(mask: np.ndarray, detector: str, image: np.ndarray, params: object,
             _layers: object) -> LineCoverage:
    return line_coverage(mask, detector, image=image, params=params)
