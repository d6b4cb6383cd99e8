"""The Mask menu and its shortcuts: tools, layers, undo, import, export and the library.

Every action that changes pixels goes through :class:`~app.core.mask.layers.MaskLayers`,
so each is one undo item; every file problem becomes one dialog naming the file and
saying that the layers are unchanged (the core readers check everything before the
layers are touched, and writers are atomic).

Shortcuts (napari-like; see README "Painting masks"): B brush, E eraser, R rectangle,
P polygon/lasso, G fill, L row/column band, H pan (or hold Space), [ and ] brush size,
1/2/3 light/dark/exclude layer, V show/hide the active layer, Ctrl+Z / Ctrl+Shift+Z.
Zoom 1:1 moved from ``1`` to Ctrl+1 (as in Photoshop) to free the number keys.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, QSettings
from PyQt6.QtGui import QAction, QActionGroup, QKeySequence
from PyQt6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMenuBar, QMessageBox, QWidget

from app.core.errors import NSCleanError
from app.core.mask.coverage import line_coverage
from app.core.mask.detector import detector_mismatch, mismatch_text
from app.core.mask.format_table import MASK_FORMATS, import_filter, write_mask
from app.core.mask.formats import RED_TOLERANCE, inspect_mask, read_mask
from app.core.mask.library import LibraryEntry, library_entries
from app.core.state.workspace import Workspace
from app.published_check import choose_export
from app.region_actions import RegionActions
from app.widgets.image_view import ImageView
from app.widgets.paint_tool import PaintTool
from app.widgets.paint_tools import TOOL_TABLE
from app.widgets.port import MessagePort

LAYER_ITEMS = {"light": ("&Light (signal)", "1"), "dark": ("&Dark (background)", "2"),
               "exclude": ("E&xclude", "3")}
IMPORT_MODES = {
    "replace": "&Replace background…", "add": "&Add to background…",
    "intersect": "&Intersect with background…",
}
MASK_FILTER = import_filter()
#: Export menu items, one per format of the table (``kind: menu text``).
EXPORTS = {name: f"Export &{fmt.label}…" for name, fmt in MASK_FORMATS.items()}


class MaskActions(QObject):
    """Builds the Edit (undo/redo) and Mask menus and runs their actions.

    Parameters
    ----------
    workspace
        The models: the mask layers, the undo history, the loaded products (the
        exported mask's source name) and the display settings (the PNG's gray picture).
    paint_tool
        Finishes a stroke before an action, and holds the tool, layer and brush size.
    view
        The image as shown (the PNG's gray picture).
    port
        Dialogs for problems, the status bar for news.
    settings
        The folder of the last mask imported or exported.
    parent
        Parent of the actions (their shortcuts work in it) and of the file dialogs.
    loaded_input
        The loaded image file a path names, or None: an export never replaces an input.
    """

    def __init__(self, workspace: Workspace, paint_tool: PaintTool, view: ImageView,
                 port: MessagePort, settings: QSettings, parent: QWidget,
                 loaded_input: Callable[[Path], Path | None]) -> None:
        super().__init__(parent)
        self.stack, self.display, self.view = workspace.stack, workspace.display, view
        self.masks, self.tool = workspace.masks, paint_tool
        self.history = workspace.undo
        self.cleaning = workspace.cleaning
        self.port, self.settings, self.loaded_input = port, settings, loaded_input
        self._parent = parent  # of the actions and the dialogs
        self.tool_actions: dict[str, QAction] = {}
        self.layer_actions: dict[str, QAction] = {}
        self.actions: dict[str, QAction] = {}
        self.library_menu: QMenu | None = None
        self.regions = RegionActions(workspace, paint_tool, port, settings, parent,
                                     loaded_input)

    def _new(self, text: str, slot: Callable[[], object], shortcut: str | list[str] | None = None,
             checkable: bool = False, group: QActionGroup | None = None) -> QAction:
        action = QAction(text, self._parent)
        if shortcut:
            keys = [shortcut] if isinstance(shortcut, str) else shortcut
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setToolTip(f"{text.replace('&', '').rstrip('…')} ({keys[0]})")
        action.setCheckable(checkable)
        action.triggered.connect(lambda _checked=False: slot())  # drop the checked flag
        if group is not None:
            group.addAction(action)
        return action

    def build(self, bar: QMenuBar) -> None:
        """Add the Edit and Mask menus to ``bar`` (call once)."""
        edit = bar.addMenu("&Edit")
        undo = self._new("&Undo", self.undo, QKeySequence(QKeySequence.StandardKey.Undo).toString())
        redo = self._new("&Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        self.actions.update(undo=undo, redo=redo)
        edit.addActions([undo, redo])

        menu = bar.addMenu("&Mask")
        tools = menu.addMenu("&Tool")
        group = QActionGroup(self)
        for name, spec in TOOL_TABLE.items():
            action = self._new(spec.menu, partial(self.tool.set_tool, name), spec.key, True,
                               group)
            action.setIconText(f"{spec.button}  {spec.key}")  # the Mask dock's buttons
            self.tool_actions[name] = action
            tools.addAction(action)
        tools.addSeparator()
        bigger = self._new("Brush &larger", self.tool.grow, "]")
        smaller = self._new("Brush &smaller", self.tool.shrink, "[")
        tools.addActions([bigger, smaller])
        layers = menu.addMenu("&Layer")
        group = QActionGroup(self)
        for name, (text, key) in LAYER_ITEMS.items():
            action = self._new(text, partial(self.tool.set_layer, name), key, True, group)
            self.layer_actions[name] = action
            layers.addAction(action)
        layers.addSeparator()
        self.actions["toggle"] = self._new("Show/hide active layer", self.toggle_visible, "V")
        layers.addAction(self.actions["toggle"])
        menu.addSeparator()
        imports = menu.addMenu("&Import mask")
        for how, text in IMPORT_MODES.items():
            imports.addAction(self._new(text, partial(self.import_mask, how), None))
        self.library_menu = menu.addMenu("Start from &library")
        self.library_menu.aboutToShow.connect(self._fill_library)
        self._fill_library()
        menu.addSeparator()
        for kind, text in EXPORTS.items():
            self.actions[f"export_{kind}"] = self._new(text, partial(self.export_mask, kind))
            menu.addAction(self.actions[f"export_{kind}"])
        self.regions.build(menu)
        menu.addSeparator()
        self.actions["computed"] = self._new("Use &computed background", self.use_computed)
        self.actions["computed"].setIconText("Use computed")  # the Mask dock's button
        self.actions["computed"].setToolTip(
            "Background = everything not light, excluded or unusable (live)"
        )
        self.actions["clear"] = self._new("&Clear active layer", self.clear_layer)
        menu.addActions([self.actions["computed"], self.actions["clear"]])
        self.mask_menu = menu

        self.tool.toolChanged.connect(lambda name: self.tool_actions[name].setChecked(True))
        self.tool.layerChanged.connect(lambda name: self.layer_actions[name].setChecked(True))
        self.tool_actions[self.tool.tool].setChecked(True)
        self.layer_actions[self.tool.layer].setChecked(True)
        self.history.changed.connect(self._sync)
        self.masks.replaced.connect(lambda _layers: self._sync())
        self._sync()

    def _sync(self) -> None:
        layers = self.masks.layers
        undo_label, redo_label = self.history.undo_label, self.history.redo_label
        undo, redo = self.actions["undo"], self.actions["redo"]
        undo.setEnabled(undo_label is not None)
        redo.setEnabled(redo_label is not None)
        undo.setText(f"&Undo {undo_label}" if undo_label is not None else "&Undo")
        redo.setText(f"&Redo {redo_label}" if redo_label is not None else "&Redo")
        for name in ("toggle", "computed", "clear", *(f"export_{k}" for k in EXPORTS)):
            self.actions[name].setEnabled(layers is not None)

    # --- editing ---------------------------------------------------------------------
    def undo(self) -> None:
        """Undo the newest stroke, fill, threshold, import, Auto-tune or Defaults."""
        self.tool.finish()
        self.history.undo()

    def redo(self) -> None:
        """Redo what was undone last."""
        self.tool.finish()
        self.history.redo()

    def toggle_visible(self) -> None:
        """Show or hide the active layer (V)."""
        if self.masks.layers is not None:
            self.masks.layers.toggle_visible(self.tool.layer)

    def use_computed(self) -> None:
        """Background computed live again from light, exclude and unusable pixels."""
        if self.masks.layers is not None:
            self.tool.finish()
            self.masks.layers.use_computed_dark()

    def clear_layer(self) -> None:
        """Erase the whole active layer (one undo item)."""
        if self.masks.layers is not None:
            self.tool.finish()
            self.masks.layers.clear(self.tool.layer)

    # --- import ----------------------------------------------------------------------
    def import_mask(self, how: str = "replace", path: str | Path | None = None) -> bool:
        """Read a mask file (dialog when ``path`` is None) into the background; True if done.

        JWST ``CubeModel`` masks (one plane per integration) ask which plane to use.
        """
        layers = self.masks.layers
        if layers is None:
            self.port.show_message("No image", "Open an image before importing a mask.")
            return False
        if path is None:
            start = self.settings.value("lastMaskDirectory", "", type=str)
            path, _ = QFileDialog.getOpenFileName(self._parent, "Import mask", start, MASK_FILTER)
            if not path:
                return False
        path = Path(path)
        try:
            info = inspect_mask(path)
            plane = None
            if info.kind == "jwst-cube" and info.nplanes > 1:
                plane, ok = QInputDialog.getInt(
                    self._parent, "Choose a plane",
                    f"{path.name} holds {info.nplanes} masks, one per integration.\n"
                    "Which one should be imported?", 0, 0, info.nplanes - 1,
                )
                if not ok:
                    return False
            read = read_mask(path, plane, shape=layers.shape, border=layers.border)
            if not self._detector_agrees(read.detector, path.name):
                return False
            return self._apply_import(read.mask, how, path.name, read.near_red)
        except NSCleanError as exc:
            self.port.show_message("Mask not imported", f"{exc}\n\nThe layers are unchanged.")
            return False
        finally:
            self.settings.setValue("lastMaskDirectory", str(path.parent))

    def _detector_agrees(self, mask_detector: str | None, name: str) -> bool:
        """True unless the mask records the other detector and the user declines it."""
        image_detector = self.masks.detector
        if not detector_mismatch(mask_detector, image_detector):
            return True
        text = mismatch_text(name, mask_detector, "the image", image_detector)
        answer = QMessageBox.question(
            self._parent, "Mask for the other detector",
            f"{text}.\n\nThe spectra fall elsewhere on the other detector, so its background "
            "pixels are not this image's. Import it anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _apply_import(self, mask: np.ndarray, how: str, name: str, near_red: int = 0) -> bool:
        layers = self.masks.layers
        if layers is None:
            return False
        self.tool.finish()
        refused = layers.import_background(mask, how)
        note = f" ({refused:,} of its pixels are border, unusable or excluded)" if refused else ""
        if near_red:
            note += (f"; {near_red:,} pixels near pure red (within {RED_TOLERANCE} of 255, 0, 0)"
                     " counted as background")
        self.port.show_status(f"Imported {name}{note}", 6000)
        return True

    def _fill_library(self) -> None:
        menu = self.library_menu
        if menu is None:
            return
        menu.clear()
        detector = self.masks.detector
        entries = sorted(library_entries(), key=lambda e: (e.detector != detector, e.name))
        for entry in entries:
            action = menu.addAction(f"{entry.name}  ({entry.detector} {entry.mode})")
            action.setToolTip(entry.description)
            action.setEnabled(self.masks.layers is not None and entry.detector == detector)
            action.triggered.connect(lambda _checked=False, e=entry: self.load_library(e))
        menu.setToolTipsVisible(True)

    def load_library(self, entry: LibraryEntry) -> bool:
        """Replace the background with a library mask (one undo item)."""
        layers = self.masks.layers
        if layers is None:
            return False
        try:
            mask = read_mask(entry.path, shape=layers.shape, border=layers.border).mask
            if not self._library_fits(mask, entry.name):
                return False
        except NSCleanError as exc:
            self.port.show_message("Mask not loaded", f"{exc}\n\nThe layers are unchanged.")
            return False
        return self._apply_import(mask, "replace", entry.name)

    def _library_fits(self, mask: np.ndarray, name: str) -> bool:
        """Ask first when ``mask`` would leave lines of the loaded image unfittable, fitted
        by their mean only, or unstable in the published fit; True to go on."""
        image, detector = self.stack.image, self.masks.detector
        if image is None or image.shape != mask.shape or detector not in ("NRS1", "NRS2"):
            return True
        coverage = line_coverage(mask & ~self.masks.layers.never_background(), detector,
                                 image=image, params=self.cleaning.value)
        counts = [(coverage.unfit_lines.size, "cannot be fit (too few samples)"),
                  (coverage.sparse_lines.size, "are too clustered: only their mean level "
                                               "would be removed"),
                  (coverage.published_unstable_lines.size,
                   "are unstable in the published fit (JWST pipeline, NSClean 1.x)")]
        problems = [f"{n} detector line{'s' if n != 1 else ''} {what}" for n, what in counts
                    if n]
        if not problems:
            return True
        answer = QMessageBox.question(
            self._parent, "Library mask leaves lines unfit",
            f"On this image, {name} leaves\n  " + "\n  ".join(problems) + "\n\nUse it "
            "anyway? (Threshold the traces, or add background where the lines need it.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # --- export ----------------------------------------------------------------------
    def export_mask(self, kind: str, path: str | Path | None = None) -> Path | None:
        """Write the background as ``kind`` (a name of the format table); the path."""
        layers = self.masks.layers
        if layers is None:
            return None
        fmt = MASK_FORMATS[kind]
        text, file_filter, suffix = EXPORTS[kind], fmt.file_filter, fmt.export_suffix
        if path is None:
            start = self.settings.value("lastMaskDirectory", "", type=str)
            stem = self._source_stem()
            default = str(Path(start) / f"{stem}_nsclean_mask{suffix}") if stem else start
            path, _ = QFileDialog.getSaveFileName(
                self._parent, text.replace("&", "").rstrip("…"), default, file_filter
            )
            if not path:
                return None
        path = Path(path)
        if self.loaded_input(path) is not None:
            self.port.show_message(
                "Mask not exported", f"{path}: this is a loaded image file; a mask never "
                "replaces an input.\n\nNothing was written; choose another name.")
            return None
        self.tool.finish()
        allowed = ~layers.layer("exclude") & ~layers.never_background()
        choice = choose_export(self._parent, layers.background(), self.masks.detector, allowed)
        if choice is None:
            return None
        mask = choice.mask
        extra = {"NSC_SRC": (self._source_stem()[:60], "image the mask was painted on"),
                 **choice.cards}
        options: dict[str, object] = {"extra": extra, "detector": self.masks.detector,
                                      "history": choice.history}
        if "gray" in fmt.options:  # the picture costs a pass over the image
            options["gray"] = self._gray_picture()
        try:
            written = write_mask(path, mask, kind, **options)  # each writer takes its own
        except (NSCleanError, OSError) as exc:
            self.port.show_message(
                "Mask not exported", f"{exc}\n\nNothing was written; the layers are unchanged."
            )
            return None
        self.settings.setValue("lastMaskDirectory", str(path.parent))
        note = f" — {choice.note}" if choice.note else ""
        self.port.show_status(f"Wrote {written}{note}", 12000)
        return written

    def _source_stem(self) -> str:
        products = self.stack.products
        if not products:
            return ""
        name = products[0].path.name
        for ending in (".fits.gz", ".fits", ".fit", ".fts"):
            if name.endswith(ending):
                return name[: -len(ending)]
        return name

    def _gray_picture(self) -> np.ndarray | None:
        """The image as shown (current limits and stretch), as gray bytes for the PNG."""
        image = self.view.image
        layers = self.masks.layers
        if image is None or layers is None or image.shape != layers.shape:
            return None
        lo, hi = self.display.levels
        lut = np.asarray(self.display.lut)[:, :3].mean(axis=1)
        with np.errstate(invalid="ignore"):
            scaled = np.clip((image - lo) / max(hi - lo, 1e-30), 0.0, 1.0)
        index = np.nan_to_num(scaled * (len(lut) - 1), nan=0.0).astype(np.intp)
        return np.round(lut[index]).astype(np.uint8)
