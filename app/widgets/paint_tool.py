"""Mouse and keyboard painting on the image view: turns events into :class:`MaskLayers` calls.

The tool watches the view's viewport with an event filter. With a paint tool active,
left-button events paint and are not passed on, so they never pan; the wheel still zooms,
the middle button pans, the right button still sets contrast/bias, and holding Space (as
in napari) or choosing the pan tool lets left-drags pan again.

Tools: ``brush`` and ``eraser`` (round, size = diameter in pixels; a stroke is one undo
item, Shift-drag paints a straight line, Shift-click joins the previous stroke's end),
``rectangle``, ``polygon`` (click corners; double-click, Enter or a click on the first
corner closes it; a drag draws a freehand lasso), ``fill`` (flood fill of the clicked
region), ``band`` (drag across rows or columns to mark whole rows or columns: the drag's
longer direction picks which) and ``pan``. Ctrl or Alt with any tool erases instead.

Coordinates: the view reports DMS positions where pixel ``i`` spans ``[i, i+1)``; the
model puts pixel centres at integers, hence the ``- 0.5`` in :meth:`PaintTool._model_point`.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, QPointF, Qt, pyqtSignal
from PyQt6.QtGui import QKeyEvent, QMouseEvent

from app.core.mask.layers import MaskLayers
from app.core.mask.model import MaskModel
from app.core.state.states import (
    MAX_BRUSH,
    MIN_BRUSH,
    PAINT_LAYERS,
    PAINT_TOOLS,
    PaintSettings,
    SettingsState,
)
from app.widgets.image_view import ImageView
from app.widgets.paint_preview import ToolPreview, far
from app.widgets.paint_tools import HINTS, TOOL_TABLE

TOOLS = PAINT_TOOLS
MIN_SIZE, MAX_SIZE = MIN_BRUSH, MAX_BRUSH
#: A click this close (screen pixels) to the first polygon corner closes the polygon.
CLOSE_DISTANCE = 8.0
_ERASE_MODIFIERS = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier


class PaintTool(QObject):
    """Paints on the layers of a :class:`MaskModel` through an :class:`ImageView`.

    The tool, layer and brush size are those of a paint state (:class:`PaintSettings`):
    the setters write it, and a change from elsewhere (a session) takes effect the same way.

    Signals
    -------
    toolChanged(str), layerChanged(str), sizeChanged(float)
        The active tool, active layer or brush size changed.
    hint(str)
        A short instruction for the status bar (empty to clear).
    """

    toolChanged = pyqtSignal(str)
    layerChanged = pyqtSignal(str)
    sizeChanged = pyqtSignal(float)
    hint = pyqtSignal(str)

    def __init__(self, view: ImageView, masks: MaskModel,
                 state: SettingsState[PaintSettings] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.masks = view, masks
        self.state = state if state is not None else SettingsState(PaintSettings())
        self._space = False
        self._drag: str | None = None  # "stroke", "line", "rectangle", "band", "lasso"
        self._press: QPointF | None = None  # DMS position of the press
        self._erase = False
        self._last_stroke_end: tuple[float, float] | None = None
        self._vertices: list[QPointF] = []
        self._lasso_new = False
        self.preview = ToolPreview(view)
        view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        view.viewport().installEventFilter(self)
        view.installEventFilter(self)
        masks.replaced.connect(lambda _layers: self.cancel())  # no shapes across images
        self.state.changed.connect(self._on_state)

    # --- state -----------------------------------------------------------------------
    @property
    def tool(self) -> str:
        """The active tool (one of :data:`TOOLS`)."""
        return self.state.value.tool

    @property
    def layer(self) -> str:
        """The layer painted on: ``"light"``, ``"dark"`` or ``"exclude"``."""
        return self.state.value.layer

    @property
    def size(self) -> float:
        """Brush diameter in image pixels."""
        return self.state.value.size

    @property
    def busy(self) -> bool:
        """True while a stroke, drag or polygon is in progress."""
        return self._drag is not None or bool(self._vertices)

    def set_tool(self, tool: str) -> None:
        """Switch tools (an unfinished polygon or drag is dropped)."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}; expected one of {', '.join(TOOLS)}")
        if not self.state.update(tool=tool):  # the same tool again: still a fresh start
            self.cancel()
            self.preview.brush(None, self.size)
            self.hint.emit(HINTS[tool])

    def set_layer(self, layer: str) -> None:
        """Paint on ``layer`` from now on."""
        if layer not in PAINT_LAYERS:
            raise ValueError(f"unknown layer {layer!r}")
        self.state.update(layer=layer)

    def set_size(self, size: float) -> None:
        """Brush diameter in pixels (clamped to 1–400)."""
        self.state.update(size=min(max(float(size), MIN_SIZE), MAX_SIZE))

    def _on_state(self, fields: frozenset[str]) -> None:
        """Whoever changed the state (these setters, a session), the tool follows."""
        if "tool" in fields:
            self.cancel()
            self.preview.brush(None, self.size)
            self.toolChanged.emit(self.tool)
            self.hint.emit(HINTS[self.tool])
        if "layer" in fields:
            self.finish()  # a stroke in progress stays one undo item on its own layer
            self.layerChanged.emit(self.layer)
        if "size" in fields:
            self.preview.set_size(self.size)
            self.sizeChanged.emit(self.size)

    def grow(self, factor: float = 1.25) -> None:
        """Bigger brush (the ``]`` key): ×``factor``, at least one pixel more."""
        self.set_size(max(self.size * factor, self.size + 1))

    def shrink(self, factor: float = 1.25) -> None:
        """Smaller brush (the ``[`` key)."""
        self.set_size(min(self.size / factor, self.size - 1))

    # --- finishing -------------------------------------------------------------------
    def finish(self) -> None:
        """End a stroke in progress (before undo, a layer switch, a menu action)."""
        if self._drag == "stroke":
            layers = self.masks.layers
            if layers is not None:
                layers.end_stroke()
            self.masks.release()
        self._drag = None
        self._press = None

    def break_stroke(self) -> None:
        """End a freehand stroke when the image moves under a still cursor (the view
        turned): the stroke so far stays one undo item, and no line joins it to the
        cursor's new image position. Painting resumes at the next press."""
        if self._drag == "stroke":
            self.finish()

    def cancel(self) -> None:
        """Finish any stroke and drop an unfinished shape (Escape)."""
        self.finish()
        self._vertices.clear()
        self.preview.hide_shape()
        self.hint.emit("")

    # --- events ----------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if obj is self.view:
            if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                return self._key(event, kind == QEvent.Type.KeyPress)  # type: ignore[arg-type]
            if kind == QEvent.Type.FocusOut:
                self._space = False
            return False
        if kind == QEvent.Type.MouseButtonPress:
            return self._on_press(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseButtonDblClick:
            return self._on_double_click(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseMove:
            return self._on_move(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.MouseButtonRelease:
            return self._on_release(event)  # type: ignore[arg-type]
        if kind == QEvent.Type.Leave:
            self.preview.brush(None, self.size)
        return False

    def _paints(self, event: QMouseEvent) -> bool:
        return (
            event.button() == Qt.MouseButton.LeftButton
            and TOOL_TABLE[self.tool].press is not None
            and not self._space and self.masks.layers is not None
        )

    def _dms(self, event: QMouseEvent) -> QPointF:
        return self.view.dms_from_scene(self.view.mapToScene(event.position().toPoint()))

    @property
    def _layers(self) -> MaskLayers:
        layers = self.masks.layers
        if layers is None:  # the handlers run only with layers (see _paints)
            raise RuntimeError("no mask layers")
        return layers

    @staticmethod
    def _model_point(p: QPointF) -> tuple[float, float]:
        return p.y() - 0.5, p.x() - 0.5

    def _on_press(self, event: QMouseEvent) -> bool:
        if not self._paints(event):
            return False
        self.view.setFocus()
        self.finish()
        pos = self._dms(event)
        self._erase = bool(event.modifiers() & _ERASE_MODIFIERS) != (self.tool == "eraser")
        self._press = pos
        press = TOOL_TABLE[self.tool].press
        if press is not None:
            press(self, pos, bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
        return True

    def _on_double_click(self, event: QMouseEvent) -> bool:
        if not self._paints(event):
            return False
        if self.tool == "polygon":
            self._commit_polygon()
            return True
        if self.tool in ("brush", "eraser"):
            return self._on_press(event)
        return True  # a second fill/rectangle would only repeat the first

    def _on_move(self, event: QMouseEvent) -> bool:
        if self.masks.layers is None:
            return False
        pos = self._dms(event)
        spec = TOOL_TABLE[self.tool]
        self.preview.brush(pos if spec.brush_cursor and not self._space else None, self.size)
        if self._drag is None:
            if self._vertices:
                self.preview.polygon(self._vertices, pos, self._rgb())
            return False
        self.view.sigCursor.emit(pos.x(), pos.y())  # the scene does not see consumed moves
        if spec.move is not None:
            spec.move(self, pos)
        return True

    def _on_release(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._drag is None:
            return False
        release = TOOL_TABLE[self.tool].release
        if release is not None:
            release(self, self._dms(event))
        else:  # a tool without a drag of its own: the press did everything
            self._drag = self._press = None
        return True

    def _key(self, event: QKeyEvent, pressed: bool) -> bool:
        key = event.key()
        if key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space = pressed
            return True
        if not pressed:
            return False
        if key == Qt.Key.Key_Escape and self.busy:
            self.cancel()
            return True
        if self._vertices and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._commit_polygon()
            return True
        if self._vertices and key == Qt.Key.Key_Backspace:
            self._vertices.pop()
            self.preview.polygon(self._vertices, None, self._rgb())
            return True
        return False

    # --- tool steps ------------------------------------------------------------------
    def _begin_stroke(self, pos: QPointF) -> None:
        layers = self._layers
        self.masks.hold()  # one maskChanged per stroke
        layers.begin_stroke(self.layer, self.size / 2, not self._erase)
        self._drag = "stroke"
        layers.stroke_to(*self._model_point(pos))

    def _line_start(self, pos: QPointF, press: QPointF) -> QPointF:
        """Shift-drag starts at the press; a Shift-click joins the last stroke's end."""
        if self._last_stroke_end is not None and not far(press, pos, 1.0):
            y, x = self._last_stroke_end
            return QPointF(x + 0.5, y + 0.5)
        return press

    def _polygon_click(self, pos: QPointF) -> None:
        if len(self._vertices) >= 3:
            tolerance = CLOSE_DISTANCE * self.view.view.viewPixelSize()[0]
            if not far(self._vertices[0], pos, tolerance):
                self._drag = None
                self._commit_polygon()
                return
        self._vertices.append(pos)
        self.preview.polygon(self._vertices, pos, self._rgb())
        self.hint.emit(HINTS["polygon"])

    def _commit_polygon(self) -> None:
        vertices, self._vertices = self._vertices, []
        self._drag = None
        self.preview.hide_shape()
        if len(vertices) >= 3 and self.masks.layers is not None:
            points = [self._model_point(v) for v in vertices]
            self.masks.layers.polygon(self.layer, points, not self._erase)

    def _show_drag(self, p0: QPointF, p1: QPointF) -> None:
        if self._drag == "band":
            self.preview.band(p0, p1, self._layers.shape, self._rgb())
        else:
            self.preview.rectangle(p0, p1, self._rgb())

    def _rgb(self) -> tuple[int, int, int]:
        return self._layers.styles[self.layer].color
