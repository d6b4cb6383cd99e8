"""The nsclean-gui main window: composes the widgets and wires them to the core models.

The window owns no numerics: :class:`~app.core.files.stack.ImageStack` holds the products and
the working image, :class:`~app.core.display.stretch.DisplayModel` the display settings; the
widgets bind to those. Loading and combining run in :class:`~app.widgets.workers.TaskRunner`
threads, and a result computed for an older stack is dropped.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QIcon
from PyQt6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QWidget,
)

from app.core.display.stretch import ImageStats
from app.core.errors import NSCleanError
from app.core.files.frames import cleaned_already, cleaned_note
from app.core.files.stack import COMBINE_METHODS, iter_combine, iter_load
from app.core.mask.layers import MaskLayers
from app.core.orientation import naxis_text
from app.core.state.workspace import Workspace
from app.mask_actions import MaskActions
from app.session_actions import SessionActions
from app.widgets.file_list import FileList
from app.widgets.header_viewer import HeaderViewer
from app.widgets.image_view import ImageView
from app.widgets.layers_panel import LayersPanel
from app.widgets.mask_overlay import OVERLAY_Z, MaskOverlay
from app.widgets.paint_tool import PaintTool
from app.widgets.readout import Readout
from app.widgets.stretch_panel import StretchPanel
from app.widgets.workers import TaskRunner
from app.window_layout import place_analysis, place_preview, restore_layout, save_layout
from app.window_menus import add_action, build_menus, sync_menus

if TYPE_CHECKING:  # imported in _build_controllers: astropy.io.fits waits for the window
    from app.coverage_controller import CoverageController
    from app.preview_controller import PreviewController
    from app.threshold_controller import ThresholdController
    from app.tune_controller import TuneController

FITS_FILTER = "FITS products (*.fits *.fits.gz *.fit *.fts);;All files (*)"
MAX_RECENT = 10


#: The status bar's progress box fits this text (the usual progress messages).
PROGRESS_SAMPLE = "refitting 2048 lines · weight_sigma = 16.0"


def _load_demo() -> Generator[tuple[float, str], None, tuple[list, list[str]]]:
    yield 0.0, "simulating a NIRSpec IFU exposure"
    from app.core.simulation.simulate import demo_products

    return demo_products(), []


def _combine_and_measure(products: Sequence, method: str) -> Generator:
    image = yield from iter_combine(products, method)
    yield 1.0, "image statistics"
    return image, ImageStats(image)


class MainWindow(QMainWindow):
    """DS9-like viewer for NIRSpec rate/rateints/cal products.

    Signals
    -------
    maskChanged(Box)
        The background mask changed inside this :class:`~app.core.mask.paint.Box` (once per
        stroke, fill, threshold, import or undo; the full frame for new layers). Read
        :attr:`mask_layers` afresh in the slot: it is replaced for a new image shape.
    """

    maskChanged = pyqtSignal(object)

    # the controllers of the docks, built in this order in __init__ (coverage and
    # Auto-tune read the preview's current mask; Auto-tune sits under its form)
    preview: PreviewController
    threshold: ThresholdController
    coverage: CoverageController
    tune: TuneController

    def __init__(
        self, settings: QSettings | None = None, parent: QWidget | None = None,
        *, offer_recovery: bool = False,
    ) -> None:
        super().__init__(parent)
        self.settings = settings or QSettings("nsclean-gui", "nsclean-gui")
        #: Every model and setting of this window (what a session saves).
        self.workspace = Workspace()
        self.stack = self.workspace.stack
        self.display = self.workspace.display
        self.masks = self.workspace.masks
        self.runner = TaskRunner(self)
        self.masks.changed.connect(self.maskChanged.emit)
        self.setWindowTitle("nsclean-gui[*]")  # [*]: Qt's unsaved-changes mark
        self.setAcceptDrops(True)
        from app.core.paths import resources_dir

        icon = resources_dir() / "nsclean-gui.svg"
        if icon.is_file():
            self.setWindowIcon(QIcon(str(icon)))

        self.view = ImageView()
        self.view.bind_display(self.display)
        self.setCentralWidget(self.view)
        self.overlay = MaskOverlay()
        self.view.add_overlay(self.overlay, OVERLAY_Z)
        self.masks.replaced.connect(self.overlay.bind)
        self.paint_tool = PaintTool(self.view, self.masks, self.workspace.paint, self)
        self.demo_loaded = False
        self._demo_mask_pending = False
        self.sessions = SessionActions(
            self.workspace, self.paint_tool, self.runner, self, self.settings, self,
            open_images=lambda paths: self.open_files(paths, replace=True),
            open_demo=lambda: self.open_demo(with_mask=False),
            is_demo=lambda: self.demo_loaded, close_images=self.close_images,
            loaded_input=self.loaded_input, set_modified=self.setWindowModified)
        self.mask_actions = MaskActions(self.workspace, self.paint_tool, self.view, self,
                                        self.settings, self, self.loaded_input)
        self.files = FileList()
        self.stretch_panel = StretchPanel(self.display)
        self.files_dock = self._dock("Files", self.files, Qt.DockWidgetArea.RightDockWidgetArea)
        self.display_dock = self._dock(
            "Display", self.stretch_panel, Qt.DockWidgetArea.RightDockWidgetArea
        )
        # the image gets most of the window; the docks start narrow
        self.resizeDocks([self.files_dock], [420], Qt.Orientation.Horizontal)
        self.resizeDocks([self.files_dock, self.display_dock], [240, 490], Qt.Orientation.Vertical)
        self.header_viewer: HeaderViewer | None = None

        self.readout = Readout()
        self.status = QLabel("Nothing loaded: File ▸ Open, or drop FITS files here")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        # wide enough for the usual messages on one line ("cleaning the whole frame",
        # "fc = 12 cycles/line"); longer ones are elided, whole in the tooltip
        self.progress.setFixedWidth(self.progress.fontMetrics().horizontalAdvance(
            PROGRESS_SAMPLE) + 24)
        self.progress.setVisible(False)
        bar = self.statusBar()
        bar.addWidget(self.readout, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.status)

        self._build_menus()
        self.layers_panel = LayersPanel(
            self.masks, self.paint_tool, self.mask_actions.tool_actions, self.mask_actions.actions
        )
        self.mask_dock = self._dock("Mask", self.layers_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.resizeDocks([self.mask_dock], [260], Qt.Orientation.Horizontal)
        self.view_menu.addAction(self.mask_dock.toggleViewAction())
        self.readout.set_layer_provider(self._layers_under)
        self.stack.changed.connect(self._on_stack_changed)
        self.display.changed.connect(lambda what: self._sync_menus())
        self.workspace.view.changed.connect(self._on_view_changed)
        self.view.sigCursor.connect(self.readout.show_at)
        self.view.sigCursorLeft.connect(self.readout.leave)
        # a stroke or an undo changes the layers under a still pointer
        self.masks.changed.connect(lambda _box: self.readout.refresh())
        self.files.removeRequested.connect(self.stack.remove)
        self.files.headerRequested.connect(self.show_header)
        self.runner.progress.connect(self._on_progress)
        self.runner.busyChanged.connect(self.progress.setVisible)
        self._build_controllers()
        restore_layout(self)
        if offer_recovery:
            QTimer.singleShot(0, self.sessions.offer_recovery)

    @property
    def mask_layers(self) -> MaskLayers | None:
        """Light/dark/exclude layers of the working image (None before an image is loaded)."""
        return self.masks.layers

    # --- construction ------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_controllers(self) -> None:
        """The docks' controllers, each given the models it uses, the runner and this
        window as its :class:`~app.widgets.port.MessagePort`; then their docks placed."""
        from app.coverage_controller import CoverageController
        from app.preview_controller import PreviewController
        from app.threshold_controller import ThresholdController
        from app.tune_controller import TuneController

        ws, view, runner = self.workspace, self.view, self.runner
        self.preview = PreviewController(ws, view, runner, self, self.settings, self)
        self.threshold = ThresholdController(ws.stack, ws.masks, ws.threshold, ws.undo, view,
                                             runner, self, self.paint_tool.finish, self)
        self.coverage = CoverageController(ws.stack, ws.masks, ws.cleaning,
                                           self.preview.current_mask, view, runner, self)
        self.tune = TuneController(ws.stack, ws.cleaning, ws.undo, self.preview.current_mask,
                                   runner, self, self)
        place_preview(self)
        place_analysis(self)  # threshold, coverage, auto-tune, tabs

    def _build_menus(self) -> None:
        build_menus(self)

    def _sync_menus(self) -> None:
        sync_menus(self)

    # --- loading -------------------------------------------------------------------------
    def choose_files(self, replace: bool = True) -> None:
        """Ask for files with a dialog; ``replace`` the stack or add to it."""
        start = self.settings.value("lastDirectory", "", type=str)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open NIRSpec products", start, FITS_FILTER)
        if paths:
            self.settings.setValue("lastDirectory", str(Path(paths[0]).parent))
            self.open_files(paths, replace=replace)

    def open_files(self, paths: Sequence[str | Path], replace: bool = True) -> None:
        """Read ``paths`` in a worker thread, then replace (or add to) the stack."""
        paths = [str(p) for p in paths]
        self.runner.submit(
            "load", iter_load, paths,
            on_done=partial(self._on_loaded, replace), on_error=self._on_task_error,
        )

    def open_demo(self, with_mask: bool = True) -> None:
        """Open simulated data (no download); ``with_mask`` starts from a threshold mask."""
        self.runner.submit(
            "load", _load_demo, on_done=partial(self._on_loaded, True, demo=with_mask),
            on_error=self._on_task_error,
        )
        self._demo_mask_pending = False

    def _on_loaded(
        self, replace: bool, result: tuple[list, list[str]], demo: bool | None = None
    ) -> None:
        products, problems = result
        if replace and products:
            self.demo_loaded = demo is not None
            self._demo_mask_pending = bool(demo)
        accepted, refused = self.stack.accept(products, replace=replace)
        problems = problems + refused
        if accepted:
            if replace:
                self.stack.set_products(accepted)
            else:
                self.stack.add(accepted)
            self._remember([p.path for p in accepted if p.path.is_file()])
        if problems:
            text = "\n\n".join(problems)
            if not accepted and self.stack.products:
                text += "\n\nThe files already loaded are kept."
            self.show_message("Some files were not loaded", text)
        cleaned = [f"{p.path.name} {cleaned_note(p.primary_header)}." for p in accepted
                   if cleaned_already(p.primary_header)]
        if cleaned:  # cleaning it again would fit the residual of a residual
            self.show_message("Cleaned already", "\n".join(cleaned) + "\n\nIts banding was "
                              "removed already: cleaning it again only fits what is left. "
                              "Open the original rate file to clean it with other settings.")

    def _on_task_error(self, exc: BaseException) -> None:
        if isinstance(exc, NSCleanError):
            self.show_message("nsclean-gui", str(exc))
        else:
            self.show_message("Unexpected error", f"{type(exc).__name__}: {exc}", critical=True)

    def show_message(self, title: str, text: str, critical: bool = False) -> None:
        """Tell the user something went wrong (one place, easy to intercept in tests)."""
        if critical:
            QMessageBox.critical(self, title, text)
        else:
            QMessageBox.warning(self, title, text)

    def show_status(self, text: str, msecs: int = 6000) -> None:
        """A transient line in the status bar (the controllers' :class:`MessagePort`)."""
        self.statusBar().showMessage(text, msecs)

    def close_images(self) -> None:
        """Stop a load and close every image (the demo's too)."""
        self.runner.cancel("load")
        self.demo_loaded = False
        self.stack.set_products([])

    def loaded_input(self, path: str | Path) -> Path | None:
        """The loaded image file that ``path`` names (None if it names none): writers
        refuse it, so a mask or session is never written over a user's input."""
        target = Path(path)
        for product in self.stack.products:
            try:
                if target.exists() and target.samefile(product.path):
                    return product.path
            except OSError:
                continue
        return None

    # --- recent files --------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        """Most recently opened files first."""
        value = self.settings.value("recentFiles", [], type=list)
        return [str(v) for v in value]

    def _remember(self, paths: Sequence[Path]) -> None:
        recent = [str(p.resolve()) for p in paths]
        recent += [p for p in self.recent_files() if p not in recent]
        self.settings.setValue("recentFiles", recent[:MAX_RECENT])
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        """List the recent files that exist now (refilled each time the menu opens; a
        file on a disk that is not mounted comes back when it is)."""
        self.recent_menu.clear()
        present = [path for path in self.recent_files() if Path(path).is_file()]
        for path in present:
            # Open Recent replaces, like Open (``triggered`` would pass checked=False)
            add_action(self, self.recent_menu, path,
                       lambda _checked=False, p=path: self.open_files([p], replace=True))
        self.recent_menu.setEnabled(bool(present))

    # --- combining and display -----------------------------------------------------------
    def _on_stack_changed(self, what: frozenset[str]) -> None:
        if "products" in what:
            self.files.set_products(self.stack.products)
            if self.header_viewer is not None:
                self.header_viewer.set_products(self.stack.products)
        if what & {"products", "method"}:
            self._sync_menus()
            if self.stack.products:
                generation = self.stack.generation
                self.runner.submit(
                    "combine", _combine_and_measure, list(self.stack.products), self.stack.method,
                    on_done=partial(self._on_combined, generation),
                    on_error=self._on_task_error,
                )
            else:
                self.runner.cancel("combine")
                if "products" in what:  # kept by the controller for a file opened again
                    self.masks.set_layers(None, None)
                self.view.set_image(None)
                self.readout.set_image(None, None)
                self.display.set_stats(None)
        self._update_status()

    def _on_combined(self, generation: int, result: tuple) -> None:
        image, stats = result
        if self.stack.set_image(image, generation):
            self.masks.image_changed(image, self.stack.detector)
            if self._demo_mask_pending:
                self._demo_mask_pending = False
                self._load_default_mask()
            self.view.set_image(image, self.stack.detector)
            self.display.set_stats(stats)
            self.readout.set_image(image, self.stack.detector)
            self._update_status()

    def _on_progress(self, key: str, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        room = self.progress.width() - 16
        self.progress.setFormat(self.progress.fontMetrics().elidedText(
            message, Qt.TextElideMode.ElideRight, room))
        self.progress.setToolTip(message)

    def _update_status(self) -> None:
        stack = self.stack
        if not stack.products:
            self.status.setText("Nothing loaded")
            self.setWindowTitle("nsclean-gui[*]")
            return
        state = "" if stack.image is not None else " (combining…)"
        self.status.setText(
            f"{stack.detector or '?'} · {len(stack.products)} file(s) · {stack.nframes} "
            f"integration(s) · {COMBINE_METHODS[stack.method].lower()} · "
            f"{naxis_text(stack.shape or (0, 0))}{state}"
        )
        more = f" (+{len(stack.products) - 1})" if len(stack.products) > 1 else ""
        self.setWindowTitle(f"{stack.products[0].path.name}{more}[*] — nsclean-gui")

    def _load_default_mask(self) -> None:
        """Start the demo from an automatic threshold mask (one undo step); the library's
        known-dark mask if thresholding fails (a known-dark mask makes the fit swing)."""
        self.threshold.auto_mask(fallback=self._load_library_mask,
                                 on_applied=self.sessions.mark_clean)

    def _load_library_mask(self) -> None:
        """The library's known-dark mask of the demo's detector and mode."""
        from app.core.mask.library import default_entry

        product = self.stack.products[0]
        entry = default_entry(product.detector, str(product.primary_header.get("EXP_TYPE", "")))
        if entry is not None and self.mask_actions.load_library(entry):
            self.sessions.mark_clean()

    def _layers_under(self, x: int, y: int) -> str:
        """Readout text: the mask layers under DMS pixel (x, y)."""
        layers = self.masks.layers
        if layers is None:
            return ""
        names = ["background" if n == "dark" else n for n in layers.layers_at(y, x)]
        return "mask " + (", ".join(names) if names else "—")

    def _toggle_orientation(self, detector_view: bool) -> None:
        self.workspace.view.update(orientation="detector" if detector_view else "dms")

    def _on_view_changed(self, fields: frozenset[str]) -> None:
        if "orientation" in fields:
            orientation = self.workspace.view.value.orientation
            self.paint_tool.break_stroke()
            self.view.set_orientation(orientation)
            self.detector_action.setChecked(orientation == "detector")

    def show_header(self, index: int | bool = 0) -> None:
        """Open the header viewer on file ``index``."""
        if self.header_viewer is None:
            self.header_viewer = HeaderViewer(self)
        self.header_viewer.set_products(self.stack.products, int(index))
        self.header_viewer.show()
        self.header_viewer.raise_()

    # --- drag and drop -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths, replace=not self.stack.products)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.sessions.confirm_close():
            event.ignore()
            return
        save_layout(self)
        self.runner.shutdown()
        super().closeEvent(event)
