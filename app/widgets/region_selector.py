"""A rectangle or polygon selection on the image view, edited with pyqtgraph ROI handles.

The ROIs live inside one container item that is added to the view with
:meth:`~app.widgets.image_view.ImageView.add_overlay`, so they are in DMS pixel
coordinates (pixel ``i`` spans ``[i, i+1)``) and follow the detector orientation.
The selection only reports its corners; which pixels are inside is decided by
:func:`app.core.mask.paint.polygon`.
"""

from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, pyqtSignal
from PyQt6.QtGui import QColor, QPen

SELECTION_PEN = QPen(QColor(255, 255, 255), 0)
#: Above the mask and the threshold preview.
SELECTION_Z = 40.0


class RegionSelector(pg.ItemGroup):
    """Holds at most one ROI: a rectangle or a closed polygon (``kind``), or nothing.

    Signals
    -------
    regionEdited()
        The user finished moving the selection or one of its handles.
    """

    regionEdited = pyqtSignal()

    def __init__(self) -> None:
        super().__init__()
        self.kind = "frame"
        self.roi: pg.ROI | None = None

    def place(self, kind: str, around: QRectF) -> None:
        """Show a ``"rectangle"`` or ``"polygon"`` filling the middle of ``around`` (DMS);
        ``"frame"`` removes the selection."""
        self.clear_selection()
        self.kind = kind
        if kind == "frame":
            return
        c, w, h = around.center(), around.width() / 4, around.height() / 4
        if kind == "rectangle":
            roi = pg.RectROI(QPointF(c.x() - w, c.y() - h), QPointF(2 * w, 2 * h),
                             pen=SELECTION_PEN, removable=False)
            roi.addScaleHandle((0, 0), (1, 1))
        elif kind == "polygon":
            corners = [(c.x() - w, c.y() - h), (c.x() + w, c.y() - h), (c.x() + w, c.y() + h),
                       (c.x() - w, c.y() + h)]
            roi = pg.PolyLineROI(corners, closed=True, pen=SELECTION_PEN)
        else:
            raise ValueError(f"unknown selection {kind!r}")
        roi.setParentItem(self)
        roi.sigRegionChangeFinished.connect(lambda _roi: self.regionEdited.emit())
        self.roi = roi

    def clear_selection(self) -> None:
        """Remove the ROI (the kind becomes ``"frame"``)."""
        if self.roi is not None:
            self.roi.setParentItem(None)
            scene = self.roi.scene()
            if scene is not None:
                scene.removeItem(self.roi)
            self.roi = None
        self.kind = "frame"

    def vertices(self) -> list[tuple[float, float]] | None:
        """Corners ``(x, y)`` in DMS view coordinates, or None for the whole frame."""
        roi = self.roi
        if roi is None:
            return None
        if isinstance(roi, pg.PolyLineROI):
            points = [roi.mapToParent(handle.pos()) for handle in roi.getHandles()]
        else:
            pos, size = roi.pos(), roi.size()
            points = [QPointF(pos.x(), pos.y()), QPointF(pos.x() + size.x(), pos.y()),
                      QPointF(pos.x() + size.x(), pos.y() + size.y()),
                      QPointF(pos.x(), pos.y() + size.y())]
        return [(float(p.x()), float(p.y())) for p in points]
