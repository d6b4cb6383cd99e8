"""Mask ▸ Regions: DS9/CRTF region files into a mask layer, light outlines out as DS9.

The reading, rasterising and outlining live in :mod:`app.core.mask.regionfiles`; here
are the menu items, the file dialogs (their folder remembered) and the messages. An
import adds the regions to the chosen layer as one undo item (painted work is kept); a
file problem is one dialog and leaves the layers unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, QSettings
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QFileDialog, QMenu, QWidget

from app.core.errors import NSCleanError
from app.core.state.workspace import Workspace
from app.widgets.paint_tool import PaintTool
from app.widgets.port import MessagePort

REGION_FILTER = "Region files (*.reg *.crtf);;All files (*)"
IMPORT_LAYERS = {"light": "&Light", "dark": "&Dark", "exclude": "E&xclude"}
DIRECTORY_KEY = "lastRegionDirectory"


class RegionActions(QObject):
    """The Regions submenu of the Mask menu (``build`` adds it).

    Built like :class:`~app.mask_actions.MaskActions`: the workspace (layers, loaded
    products), the paint tool (a stroke finished first), the message port, the settings
    (the last folder), the parent of the actions and dialogs, and ``loaded_input`` (the
    loaded image file a path names, or None: an export never replaces an input).
    """

    def __init__(self, workspace: Workspace, paint_tool: PaintTool, port: MessagePort,
                 settings: QSettings, parent: QWidget,
                 loaded_input: Callable[[Path], Path | None]) -> None:
        super().__init__(parent)
        self.masks, self.stack, self.paint_tool = workspace.masks, workspace.stack, paint_tool
        self.port, self.settings, self.loaded_input = port, settings, loaded_input
        self._parent = parent  # of the actions and the dialogs
        self.actions: dict[str, QAction] = {}
        self.menu: QMenu | None = None

    def build(self, mask_menu: QMenu) -> None:
        """Add the Regions submenu to ``mask_menu``."""
        menu = mask_menu.addMenu("Re&gions (DS9, CRTF)")
        for layer, text in IMPORT_LAYERS.items():
            action = QAction(f"Import regions into {text} layer…", self._parent)
            action.triggered.connect(lambda _c=False, name=layer: self.import_regions(name))
            self.actions[f"import_{layer}"] = action
            menu.addAction(action)
        menu.addSeparator()
        for sky, text in ((False, "image coordinates"), (True, "sky coordinates")):
            action = QAction(f"Export light outlines as DS9 regions ({text})…", self._parent)
            action.triggered.connect(lambda _c=False, s=sky: self.export_light(s))
            self.actions["export_sky" if sky else "export_image"] = action
            menu.addAction(action)
        menu.setToolTipsVisible(True)
        menu.aboutToShow.connect(self._sync)
        self.menu = menu

    def _sync(self) -> None:
        loaded = self.masks.layers is not None
        for action in self.actions.values():
            action.setEnabled(loaded)
        sky = self.actions["export_sky"]
        sky.setEnabled(loaded and self._wcs() is not None)
        sky.setToolTip("" if sky.isEnabled() else "The image's SCI header has no celestial WCS")

    def _wcs(self) -> object:
        from app.core.mask.regionfiles import celestial_wcs

        products = self.stack.products
        return celestial_wcs(products[0].sci_header) if products else None

    def _start(self) -> str:
        return self.settings.value(DIRECTORY_KEY, "", type=str)

    def import_regions(self, layer: str, path: str | Path | None = None) -> bool:
        """Add the regions of a DS9/CRTF file to ``layer`` (dialog when ``path`` is None)."""
        from app.core.mask.regionfiles import read_regions

        layers = self.masks.layers
        if layers is None:
            self.port.show_message("No image", "Open an image before importing regions.")
            return False
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self._parent, f"Import regions into the {layer} layer", self._start(),
                REGION_FILTER)
            if not path:
                return False
        path = Path(path)
        self.settings.setValue(DIRECTORY_KEY, str(path.parent))
        products = self.stack.products
        header = products[0].sci_header if products else None
        try:
            read = read_regions(path, layers.shape, header)
        except NSCleanError as exc:
            self.port.show_message("Regions not imported",
                                   f"{exc}\n\nThe layers are unchanged.")
            return False
        self.paint_tool.finish()
        layers.apply_mask(layer, read.mask, "add", label=f"regions into {layer}")
        notes = f" ({'; '.join(read.notes)})" if read.notes else ""
        self.port.show_status(
            f"Added {read.used} region(s) of {path.name} to the {layer} layer{notes}", 8000)
        return True

    def export_light(self, sky: bool = False, path: str | Path | None = None) -> Path | None:
        """Write the light layer's outlines as a DS9 region file; the path written."""
        from app.core.mask.regionfiles import write_ds9

        layers = self.masks.layers
        if layers is None:
            return None
        wcs = self._wcs() if sky else None
        if sky and wcs is None:
            self.port.show_message("Regions not exported", "The image's SCI header has no "
                                   "celestial WCS: export in image coordinates instead.")
            return None
        if path is None:
            products = self.stack.products
            stem = products[0].path.name.split(".")[0] if products else "mask"
            default = str(Path(self._start()) / f"{stem}_light.reg")
            path, _ = QFileDialog.getSaveFileName(
                self._parent, "Export light outlines", default, REGION_FILTER)
            if not path:
                return None
        path = Path(path)
        if self.loaded_input(path) is not None:
            self.port.show_message("Regions not exported", f"{path}: this is a loaded image "
                                   "file.\n\nNothing was written; choose another name.")
            return None
        self.paint_tool.finish()
        try:
            written = write_ds9(path, layers.layer("light"), wcs)
        except (NSCleanError, OSError) as exc:
            self.port.show_message("Regions not exported",
                                   f"{exc}\n\nNothing was written.")
            return None
        self.settings.setValue(DIRECTORY_KEY, str(path.parent))
        self.port.show_status(f"Wrote {written}", 6000)
        return written
