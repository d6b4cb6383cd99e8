"""Mask ▸ Regions: DS9/CRTF region files into a mask layer, light outlines out as DS9.

The reading, rasterising and outlining live in :mod:`app.core.mask.regionfiles`; here
are the menu items, the file dialogs (their folder remembered) and the messages. An
import adds the regions to the chosen layer as one undo item (painted work is kept); a
file problem is one dialog and leaves the layers unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QFileDialog, QMenu

from app.core.errors import NSCleanError

if TYPE_CHECKING:
    from app.main_window import MainWindow

REGION_FILTER = "Region files (*.reg *.crtf);;All files (*)"
IMPORT_LAYERS = {"light": "&Light", "dark": "&Dark", "exclude": "E&xclude"}
DIRECTORY_KEY = "lastRegionDirectory"


class RegionActions(QObject):
    """The Regions submenu of the Mask menu (``build`` adds it)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.actions: dict[str, QAction] = {}
        self.menu: QMenu | None = None

    def build(self, mask_menu: QMenu) -> None:
        """Add the Regions submenu to ``mask_menu``."""
        menu = mask_menu.addMenu("Re&gions (DS9, CRTF)")
        for layer, text in IMPORT_LAYERS.items():
            action = QAction(f"Import regions into {text} layer…", self.window)
            action.triggered.connect(lambda _c=False, name=layer: self.import_regions(name))
            self.actions[f"import_{layer}"] = action
            menu.addAction(action)
        menu.addSeparator()
        for sky, text in ((False, "image coordinates"), (True, "sky coordinates")):
            action = QAction(f"Export light outlines as DS9 regions ({text})…", self.window)
            action.triggered.connect(lambda _c=False, s=sky: self.export_light(s))
            self.actions["export_sky" if sky else "export_image"] = action
            menu.addAction(action)
        menu.setToolTipsVisible(True)
        menu.aboutToShow.connect(self._sync)
        self.menu = menu

    def _sync(self) -> None:
        loaded = self.window.masks.layers is not None
        for action in self.actions.values():
            action.setEnabled(loaded)
        sky = self.actions["export_sky"]
        sky.setEnabled(loaded and self._wcs() is not None)
        sky.setToolTip("" if sky.isEnabled() else "The image's SCI header has no celestial WCS")

    def _wcs(self) -> object:
        from app.core.mask.regionfiles import celestial_wcs

        products = self.window.stack.products
        return celestial_wcs(products[0].sci_header) if products else None

    def _start(self) -> str:
        return self.window.settings.value(DIRECTORY_KEY, "", type=str)

    def import_regions(self, layer: str, path: str | Path | None = None) -> bool:
        """Add the regions of a DS9/CRTF file to ``layer`` (dialog when ``path`` is None)."""
        from app.core.mask.regionfiles import read_regions

        layers = self.window.masks.layers
        if layers is None:
            self.window.show_message("No image", "Open an image before importing regions.")
            return False
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self.window, f"Import regions into the {layer} layer", self._start(),
                REGION_FILTER)
            if not path:
                return False
        path = Path(path)
        self.window.settings.setValue(DIRECTORY_KEY, str(path.parent))
        products = self.window.stack.products
        header = products[0].sci_header if products else None
        try:
            read = read_regions(path, layers.shape, header)
        except NSCleanError as exc:
            self.window.show_message("Regions not imported",
                                     f"{exc}\n\nThe layers are unchanged.")
            return False
        self.window.paint_tool.finish()
        layers.apply_mask(layer, read.mask, "add", label=f"regions into {layer}")
        notes = f" ({'; '.join(read.notes)})" if read.notes else ""
        self.window.statusBar().showMessage(
            f"Added {read.used} region(s) of {path.name} to the {layer} layer{notes}", 8000)
        return True

    def export_light(self, sky: bool = False, path: str | Path | None = None) -> Path | None:
        """Write the light layer's outlines as a DS9 region file; the path written."""
        from app.core.mask.regionfiles import write_ds9

        layers = self.window.masks.layers
        if layers is None:
            return None
        wcs = self._wcs() if sky else None
        if sky and wcs is None:
            self.window.show_message("Regions not exported", "The image's SCI header has no "
                                     "celestial WCS: export in image coordinates instead.")
            return None
        if path is None:
            products = self.window.stack.products
            stem = products[0].path.name.split(".")[0] if products else "mask"
            default = str(Path(self._start()) / f"{stem}_light.reg")
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Export light outlines", default, REGION_FILTER)
            if not path:
                return None
        path = Path(path)
        if self.window.loaded_input(path) is not None:
            self.window.show_message("Regions not exported", f"{path}: this is a loaded image "
                                     "file.\n\nNothing was written; choose another name.")
            return None
        self.window.paint_tool.finish()
        try:
            written = write_ds9(path, layers.layer("light"), wcs)
        except (NSCleanError, OSError) as exc:
            self.window.show_message("Regions not exported",
                                     f"{exc}\n\nNothing was written.")
            return None
        self.window.settings.setValue(DIRECTORY_KEY, str(path.parent))
        self.window.statusBar().showMessage(f"Wrote {written}", 6000)
        return written
