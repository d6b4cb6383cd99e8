"""Live cleaning preview: wires the mask, the parameters and the views to the engine.

Every mask change (the mask model's ``changed(box)``, once per stroke, fill, threshold,
import or undo) and every parameter change schedules a recompute: at once (on the next
turn of the event loop, so the changes of one action count once) when no preview is
being computed, otherwise after a short quiet time that each further change restarts,
so a burst of edits costs one fit. When it fires, the current mask is copied and handed
to :class:`~app.core.engine.incremental.IncrementalCleaner` in the
:class:`~app.widgets.workers.TaskRunner` under one key, so a newer request cancels an
older one and only the newest result (by request id) reaches the views. The cleaner
refits only the lines whose mask changed. The union of the changed boxes since the last
*shown* result goes with each request: it covers everything that can differ from the
mask the cleaner last committed. Plots are computed afterwards as a second task, so the
images appear first, and only for the plot tab on screen; a new request stops the plots
of the previous one (they would be replaced anyway) so both never compete for the CPU.

Saving runs :func:`app.core.files.batch.clean_file` (the writer of ``nsclean clean``) for every
loaded file, in the worker thread, with progress and cancel.
"""

from __future__ import annotations

import tempfile
from collections.abc import Generator, Sequence
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, QSettings, pyqtSignal
from PyQt6.QtWidgets import QDockWidget, QFileDialog, QMessageBox, QWidget

from app.core.clean import CleanParams
from app.core.display.curves import CurveBuilder, summary, unfit_columns
from app.core.engine.incremental import IncrementalCleaner, PreviewResult
from app.core.errors import NSCleanError
from app.core.files.batch import ProductResult, clean_file, output_path
from app.core.files.products import Product
from app.core.files.ramp_draft import frame_label, is_ramp_product
from app.core.files.ramps import iter_clean_ramp_file
from app.core.mask.paint import Box
from app.core.state.workspace import Workspace
from app.widgets.image_view import ImageView
from app.widgets.live_task import LiveTask, describe_error
from app.widgets.port import MessagePort
from app.widgets.preview_panel import CleaningControls, PreviewViews, UnfitLinesItem
from app.widgets.preview_plots import PreviewPlots
from app.widgets.workers import TaskRunner

#: Quiet time before a recompute while one runs: a burst of edits costs one fit.
DEBOUNCE_MS = 30
PREVIEW_KEY, PLOTS_KEY, SAVE_KEY = "preview", "preview-plots", "clean-all"
FITS_FILTER = "FITS files (*.fits *.fits.gz)"
MASK_NAME = "(painted in nsclean-gui)"
#: QSettings key of the folder Save cleaned / Clean all last wrote to.
CLEANED_DIRECTORY = "lastCleanedDirectory"


def _preview_job(cleaner: IncrementalCleaner, mask: np.ndarray, box: Box | None,
                 image: np.ndarray, detector: str, params: CleanParams,
                 readpatt: str | None = None) -> Generator:
    return (yield from cleaner.iter_update(mask, box, image=image, detector=detector,
                                           params=params, readpatt=readpatt))


def save_product(product: Product, mask: np.ndarray, target: Path, params: CleanParams,
                 mask_name: str = MASK_NAME, overwrite: bool = False,
                 save: tuple[str, ...] = ()) -> ProductResult:
    """Clean ``product`` and write it to ``target`` with :func:`~app.core.files.batch.clean_file`.

    A product with no file behind it (simulated demo data) is first written as a plain
    rate/rateints file (PRIMARY, SCI, DQ) to a temporary folder, so the writer has every
    HDU to copy; the output is then exactly what ``nsclean clean`` makes of that file.
    ``save``: the diagnostic products written beside ``target`` (mask, background, noise).
    """
    from astropy.io import fits

    if product.path.is_file():
        return clean_file(product.path, mask, target, params=params, mask_name=mask_name,
                          overwrite=overwrite, save=save)
    with tempfile.TemporaryDirectory(prefix="nsclean-gui-") as folder:
        source = Path(folder) / product.path.name
        sci = product.sci if product.is_cube else product.sci[0]
        hdus = [fits.PrimaryHDU(header=product.primary_header.copy()),
                fits.ImageHDU(sci, header=product.sci_header.copy(), name="SCI")]
        if product.dq is not None:
            hdus.append(fits.ImageHDU(product.dq if product.is_cube else product.dq[0],
                                      name="DQ"))
        fits.HDUList(hdus).writeto(source)
        return clean_file(source, mask, target, params=params, mask_name=mask_name,
                          overwrite=overwrite, save=save)


def _save_job(items: Sequence[tuple[Product, Path]], mask: np.ndarray, params: CleanParams,
              overwrite: bool, save: tuple[str, ...] = ()) -> Generator:
    saved: list[Path] = []
    problems: list[str] = []
    for i, (product, target) in enumerate(items):
        yield i / len(items), f"cleaning {product.path.name} ({i + 1}/{len(items)})"
        try:
            if is_ramp_product(product):  # the whole ramp, difference by difference
                steps = iter_clean_ramp_file(product.path, mask, target, params=params,
                                             mask_name=MASK_NAME, overwrite=overwrite,
                                             save=save)
                for done, total in steps:
                    yield ((i + done / total) / len(items),
                           f"cleaning {product.path.name}: group difference {done}/{total}")
            else:
                save_product(product, mask, target, params, overwrite=overwrite, save=save)
            saved.append(target)
        except (NSCleanError, OSError) as exc:
            problems.append(f"{product.path.name}: {exc}")
    yield 1.0, "done"
    return saved, problems


def _dock(title: str, widget: QWidget) -> QDockWidget:
    dock = QDockWidget(title)
    dock.setObjectName(title)  # the saved layout names it
    dock.setWidget(widget)
    return dock


class PreviewController(QObject):
    """Owns the Cleaning, Preview and Cleaning plots docks and keeps them live.

    It receives the workspace's models, the main image view (for the unfit-line marks),
    the task runner, a message port, the settings (last folder) and the parent of its
    dialogs; the window places the docks.

    Signals
    -------
    resultShown(PreviewResult)
        A new preview is on screen (after the views were updated).
    saveFinished(list, list)
        Written paths and problems of a save / clean-all run.
    """

    resultShown = pyqtSignal(object)
    saveFinished = pyqtSignal(list, list)

    def __init__(self, workspace: Workspace, view: ImageView, runner: TaskRunner,
                 port: MessagePort, settings: QSettings, parent: QWidget) -> None:
        super().__init__(parent)
        self.stack, self.masks = workspace.stack, workspace.masks
        self.cleaning, self.view_state = workspace.cleaning, workspace.view
        self.view, self.runner, self.port = view, runner, port
        self.settings = settings  # the folder of the last files opened (save dialogs)
        self._parent = parent  # of the file dialogs
        self.cleaner = IncrementalCleaner()
        self.curves = CurveBuilder()
        self.panel = CleaningControls(self.cleaning, workspace.undo)
        self.views = PreviewViews(workspace.display)
        self.plots = PreviewPlots(self.view_state)
        # the docks are placed by the window; their visibility decides what is computed
        self.dock = _dock("Cleaning", self.panel)
        self.views_dock = _dock("Preview", self.views)
        self.plots_dock = _dock("Cleaning plots", self.plots)
        self.views.setMinimumHeight(200)
        self.plots.setMinimumHeight(200)
        self.main_unfit = UnfitLinesItem()
        view.add_overlay(self.main_unfit, 30.0)
        self.result: PreviewResult | None = None
        # a copy of the background mask kept in step box by box: computing the whole
        # mask from the layers costs ~10 ms of GUI time per stroke, a box far less
        self._mask: np.ndarray | None = None
        self._mask_key: tuple[object, int] | None = None  # (layers, revision) it shows
        self._dirty: Box | None = None  # changed since the mask of the shown result
        self._after: Box | None = None  # changed since the last request was sent
        # at once when idle; while a fit runs, a quiet time that each change restarts
        self.live = LiveTask(self.runner, PREVIEW_KEY, _preview_job, self._inputs,
                             self._on_result, self._on_error, idle_ms=0, busy_ms=DEBOUNCE_MS,
                             on_progress=self.panel.set_progress, parent=self)
        self._timer = self.live.timer

        self.masks.changed.connect(self._on_mask_changed)
        self.stack.changed.connect(self._on_stack_changed)
        self.cleaning.changed.connect(lambda _fields: self.schedule())
        self.view_state.changed.connect(self._on_view_changed)
        self.panel.cancelRequested.connect(self.cancel)
        self.panel.frameChosen.connect(self._on_frame_chosen)
        self._frame: int | None = None  # a ramp frame the preview cleans, or None
        self.panel.saveRequested.connect(self.choose_and_save)
        self.panel.cleanAllRequested.connect(self.choose_and_clean_all)
        self.plots_dock.visibilityChanged.connect(lambda shown: shown and self._submit_plots())
        self.views_dock.visibilityChanged.connect(lambda shown: shown and self.schedule())

    @property
    def params(self) -> CleanParams:
        """The cleaning parameters (of the workspace's cleaning state)."""
        return self.cleaning.value

    def _on_view_changed(self, fields: frozenset[str]) -> None:
        if "orientation" in fields:
            self.views.set_orientation(self.view_state.value.orientation)
        if fields & {"profile_axis", "plot_tab"}:
            self._submit_plots()

    # --- live preview --------------------------------------------------------------------
    def _on_mask_changed(self, box: Box) -> None:
        self._dirty = box.union(self._dirty) if box is not None else None
        self._after = box.union(self._after) if box is not None else None
        layers = self.masks.layers
        if (layers is not None and box is not None and self._mask is not None
                and self._mask_key is not None and self._mask_key[0] is layers):
            self._mask[box.slices] = layers.background(box)
            self._mask_key = (layers, layers.revision)
        else:
            self._mask = None
        self.schedule()

    def current_mask(self) -> np.ndarray | None:
        """A private copy of the background mask (None without layers)."""
        layers = self.masks.layers
        if layers is None:
            return None
        if self._mask is None or self._mask_key != (layers, layers.revision):
            self._mask = layers.background()  # new layers, or a change we were not told of
            self._mask_key = (layers, layers.revision)
        return self._mask.copy()  # the worker reads it while painting goes on

    def _ramp_product(self) -> Product | None:
        return next((p for p in self.stack.products if is_ramp_product(p)), None)

    def _on_frame_chosen(self, frame: int) -> None:
        self._frame = None if frame < 0 else frame
        self.schedule()

    def preview_image(self) -> np.ndarray | None:
        """What the preview cleans: the chosen frame of a ramp, else the working image."""
        ramp = self._ramp_product()
        if ramp is not None and self._frame is not None and self._frame < ramp.nints:
            return ramp.sci[self._frame]
        return self.stack.image

    def _on_stack_changed(self, _what: frozenset[str]) -> None:
        ramp = self._ramp_product()
        labels = [] if ramp is None else [frame_label(ramp, k) for k in range(ramp.nints)]
        choice = self.panel.frame_choice
        if labels != [choice.itemText(i) for i in range(1, choice.count())]:
            self._frame = None
            self.panel.set_frames(labels)
        if not self.stack.products:  # everything closed: no stale preview
            self.live.cancel()
            self.runner.cancel(PLOTS_KEY)
            self._show(None)

    def schedule(self) -> None:
        """Recompute soon: at once when idle, else after a quiet time (restarts it)."""
        self.live.request()

    def submit(self) -> None:
        """Send the current mask and parameters to the worker now."""
        self.live.submit()

    def _inputs(self) -> tuple | None:
        image, layers, detector = self.preview_image(), self.masks.layers, self.stack.detector
        self.panel.form.set_frame_shape(None if image is None else image.shape)
        if image is None or layers is None or layers.shape != image.shape:
            self._show(None)
            return None
        if not (self.views_dock.isVisible() or self.plots_dock.isVisible()):
            return None  # nobody looks: recompute when the dock is shown again
        if detector is None:
            self.panel.show_message("The files do not say which detector (NRS1 or NRS2) "
                                    "they come from: no preview.", problem=True)
            return None
        mask = self.current_mask()
        box, self._after = self._dirty, None
        self.runner.cancel(PLOTS_KEY)  # its result is about to be stale
        self.panel.set_busy(True)
        return self.cleaner, mask, box, image, detector, self.params, self.stack.readpatt

    def cancel(self) -> None:
        """Stop the running preview and any batch cleaning."""
        self.live.cancel()
        for key in (PLOTS_KEY, SAVE_KEY):
            self.runner.cancel(key)
        self.panel.set_busy(False)
        self.panel.show_message("Cancelled. The preview updates at the next change.")

    def _on_result(self, _inputs: tuple, result: PreviewResult) -> None:
        self._dirty = self._after
        self._show(result)
        self._submit_plots()
        self.resultShown.emit(result)

    def _on_error(self, _inputs: tuple, text: str) -> None:
        self._submit_plots()  # the request stopped the plots of the result still shown
        self.panel.set_busy(False)
        self.panel.show_message(f"Preview not updated: {text}. The mask is unchanged.",
                                problem=True)

    def _show(self, result: PreviewResult | None) -> None:
        self.result = result
        self.panel.set_busy(self.runner.is_busy(SAVE_KEY))
        self.views.set_orientation(self.view_state.value.orientation)
        self.views.set_result(result)
        if result is None:
            self.views.set_unfit_columns(np.zeros(0, int), 0)
            self.main_unfit.set_columns(np.zeros(0, int), 0)
            self.plots.set_curves(None)
            self.plots.set_diagnostics(None)
            self.panel.show_message("Load an image and paint a mask to see the preview")
            return
        columns, height = unfit_columns(result), result.image.shape[0]
        self.views.set_unfit_columns(columns, height)
        self.main_unfit.set_columns(columns, height)
        self.plots.set_diagnostics(result.diagnostics)
        self.panel.show_message(*summary(result))

    def _submit_plots(self) -> None:
        if self.result is None or not self.plots_dock.isVisible() or not self.plots.wants_curves:
            return
        self.runner.submit(PLOTS_KEY, self.curves.iter_curves, self.result,
                           self.plots.profile_axis, self.plots.wants_spectrum,
                           on_done=self.plots.set_curves, on_error=self._on_plot_error)

    def _on_plot_error(self, exc: BaseException) -> None:
        self.plots.set_curves(None)
        self.panel.show_message(f"Plots not updated: {describe_error(exc)}", problem=True)

    # --- saving --------------------------------------------------------------------------
    def choose_and_save(self) -> None:
        """Ask where to save (a file for one product, a folder for several), then save."""
        products = self.stack.products
        if len(products) != 1:
            self.choose_and_clean_all()
            return
        remembered = self.settings.value(CLEANED_DIRECTORY, "", type=str)
        start = Path(remembered or self.settings.value("lastDirectory", "", type=str) or ".")
        # the last folder cleaned files went to; else beside the input
        default = output_path(products[0].path, start if remembered
                              or not products[0].path.is_file() else None)
        name, _ = QFileDialog.getSaveFileName(self._parent, "Save cleaned file", str(default),
                                              FITS_FILTER)
        if name:  # the dialog asked before replacing a file
            self.settings.setValue(CLEANED_DIRECTORY, str(Path(name).parent))
            self.save([(products[0], Path(name))], overwrite=True)

    def choose_and_clean_all(self) -> None:
        """Ask for a folder, then clean every loaded file into ``<name>_nsclean.fits``."""
        products = self.stack.products
        if not products:
            self.port.show_message("Nothing to clean", "Load files first.")
            return
        start = (self.settings.value(CLEANED_DIRECTORY, "", type=str)
                 or self.settings.value("lastDirectory", "", type=str))
        folder = QFileDialog.getExistingDirectory(self._parent, "Folder for the cleaned files",
                                                  start)
        if not folder:
            return
        self.settings.setValue(CLEANED_DIRECTORY, folder)
        items = [(p, output_path(p.path, Path(folder))) for p in products]
        existing = [t for _, t in items if t.exists()]
        overwrite = False
        if existing:
            answer = QMessageBox.question(
                self._parent, "Replace files?",
                f"{len(existing)} cleaned file(s) exist already in {folder}, e.g. "
                f"{existing[0].name}. Replace them?")
            if answer != QMessageBox.StandardButton.Yes:
                return
            overwrite = True
        self.save(items, overwrite=overwrite)

    def save(self, items: Sequence[tuple[Product, Path]], overwrite: bool = False) -> bool:
        """Clean and write ``(product, target)`` pairs in the worker, with progress."""
        mask = self.current_mask()
        if mask is None or not items:
            self.port.show_message("Nothing to clean", "Load files and paint a mask first.")
            return False
        self.panel.set_busy(True)
        self.panel.show_message(f"Cleaning {len(items)} file(s)…")
        self.runner.submit(SAVE_KEY, _save_job, list(items), mask, self.params, overwrite,
                           self.panel.diagnostics(), on_done=self._on_saved,
                           on_error=self._on_save_error, on_progress=self.panel.set_progress)
        return True

    def _on_saved(self, outcome: tuple[list[Path], list[str]]) -> None:
        saved, problems = outcome
        self.panel.set_busy(False)
        where = f" to {saved[0].parent}" if saved else ""
        self.panel.show_message(f"Saved {len(saved)} cleaned file(s){where}.", bool(problems))
        if problems:
            self.port.show_message("Some files were not cleaned", "\n\n".join(problems))
        self.saveFinished.emit(saved, problems)

    def _on_save_error(self, exc: BaseException) -> None:
        self.panel.set_busy(False)
        self.port.show_message("Cleaning failed", describe_error(exc), critical=True)
        self.saveFinished.emit([], [describe_error(exc)])
