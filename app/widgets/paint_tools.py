"""The one table of painting tools: what each does on press, move and release, its key,
menu text and hint.

:class:`~app.widgets.paint_tool.PaintTool` filters the view's mouse events and calls the
handlers of the active tool's :class:`ToolSpec`; the Mask menu, the Mask dock's buttons
and the status hints are made from :data:`TOOL_TABLE`. A new tool is one row here with
its handlers, and its name in :data:`app.core.state.states.PAINT_TOOLS` (the saved
state checks it).

Handlers get the :class:`PaintTool` and the DMS position (pixel ``i`` spans ``[i, i+1)``);
``press`` also gets whether Shift is held. A press starts a *drag* (``tool._drag``) that
the same tool's ``move`` and ``release`` continue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PyQt6.QtCore import QPointF

from app.widgets.paint_preview import band_extent, far

if TYPE_CHECKING:
    from app.widgets.paint_tool import PaintTool

#: A polygon-tool press that moves this far (screen pixels) becomes a freehand lasso.
LASSO_START = 4.0


@dataclass(frozen=True)
class ToolSpec:
    """One painting tool.

    Attributes
    ----------
    name, menu, key, button, hint : str
        Its name (saved), Mask ▸ Tool text, shortcut, the dock button's text and the
        status hint.
    press, move, release : callable or None
        The mouse handlers; no ``press`` means the tool does not paint (pan).
    brush_cursor : bool
        Whether the round brush outline follows the pointer.
    """

    name: str
    menu: str
    key: str
    button: str
    hint: str
    press: Callable[[PaintTool, QPointF, bool], None] | None = None
    move: Callable[[PaintTool, QPointF], None] | None = None
    release: Callable[[PaintTool, QPointF], None] | None = None
    brush_cursor: bool = False


# --- brush and eraser: a stroke, or Shift for a straight line ----------------------------
def _brush_press(tool: PaintTool, pos: QPointF, shift: bool) -> None:
    if shift:
        tool._drag = "line"
        tool.preview.line(pos, pos, tool.size, tool._rgb())
    else:
        tool._begin_stroke(pos)


def _brush_move(tool: PaintTool, pos: QPointF) -> None:
    if tool._drag == "stroke":
        tool._layers.stroke_to(*tool._model_point(pos))
    else:
        start = tool._line_start(pos, tool._press or pos)
        tool.preview.line(start, pos, tool.size, tool._rgb())


def _brush_release(tool: PaintTool, pos: QPointF) -> None:
    end = tool._model_point(pos)
    if tool._drag == "stroke":
        tool._layers.stroke_to(*end)
        tool._last_stroke_end = end
        tool.finish()
        return
    start = tool._press or pos
    tool._drag = tool._press = None
    p0 = tool._model_point(tool._line_start(pos, start))
    tool._layers.line(tool.layer, p0, end, tool.size / 2, not tool._erase)
    tool._last_stroke_end = end
    tool.preview.hide_shape()


# --- rectangle and band: drag a box ------------------------------------------------------
def _box_press(tool: PaintTool, pos: QPointF, shift: bool) -> None:
    tool._drag = tool.tool
    tool._show_drag(pos, pos)


def _box_move(tool: PaintTool, pos: QPointF) -> None:
    tool._show_drag(tool._press or pos, pos)


def _rectangle_release(tool: PaintTool, pos: QPointF) -> None:
    start, tool._drag, tool._press = tool._press or pos, None, None
    tool._layers.rectangle(tool.layer, tool._model_point(start), tool._model_point(pos),
                           not tool._erase)
    tool.preview.hide_shape()


def _band_release(tool: PaintTool, pos: QPointF) -> None:
    start, tool._drag, tool._press = tool._press or pos, None, None
    axis, lo, stop = band_extent(start, pos)
    tool._layers.band(tool.layer, lo, stop - 1, axis, not tool._erase)  # first, last index
    tool.preview.hide_shape()


# --- polygon: click corners, or drag a lasso ---------------------------------------------
def _polygon_press(tool: PaintTool, pos: QPointF, shift: bool) -> None:
    tool._lasso_new = not tool._vertices
    tool._drag = "vertex"
    tool._polygon_click(pos)


def _polygon_move(tool: PaintTool, pos: QPointF) -> None:
    if not tool._vertices:
        return
    # a drag (not a shaky click) draws freehand: a new lasso, or more outline
    px = tool.view.view.viewPixelSize()[0]
    if tool._drag == "vertex" and far(tool._press or pos, pos, LASSO_START * px):
        tool._drag = "lasso"
    if tool._drag == "lasso" and far(tool._vertices[-1], pos, max(px, 0.5)):
        tool._vertices.append(pos)
    hover = None if tool._drag == "lasso" else pos
    tool.preview.polygon(tool._vertices, hover, tool._rgb())


def _polygon_release(tool: PaintTool, pos: QPointF) -> None:
    drag, tool._drag, tool._press = tool._drag, None, None
    if drag == "lasso" and tool._lasso_new and len(tool._vertices) >= 3:
        tool._commit_polygon()


# --- fill: one click ---------------------------------------------------------------------
def _fill_press(tool: PaintTool, pos: QPointF, shift: bool) -> None:
    y, x = tool._model_point(pos)
    tool._layers.fill(tool.layer, y, x, not tool._erase)


TOOL_TABLE: dict[str, ToolSpec] = {spec.name: spec for spec in (
    ToolSpec("brush", "&Brush", "B", "Brush",
             "Brush: drag to paint; Shift-drag for a straight line; Ctrl erases; [ ] size",
             _brush_press, _brush_move, _brush_release, brush_cursor=True),
    ToolSpec("eraser", "&Eraser", "E", "Eraser",
             "Eraser: drag to erase; Shift-drag for a straight line; [ ] size",
             _brush_press, _brush_move, _brush_release, brush_cursor=True),
    ToolSpec("rectangle", "&Rectangle", "R", "Rectangle", "Rectangle: drag a box; Ctrl erases",
             _box_press, _box_move, _rectangle_release),
    ToolSpec("polygon", "&Polygon / lasso", "P", "Polygon",
             "Polygon: click corners, double-click or Enter to close, Esc to cancel; "
             "drag for a lasso", _polygon_press, _polygon_move, _polygon_release),
    ToolSpec("fill", "&Fill", "G", "Fill", "Fill: click a region to fill it; Ctrl erases",
             _fill_press),
    ToolSpec("band", "Row/column &band", "L", "Band",
             "Band: drag across rows or columns to mark them whole; Ctrl erases",
             _box_press, _box_move, _band_release),
    ToolSpec("pan", "Pa&n (or hold Space)", "H", "Pan", "Pan: drag to move, wheel to zoom"),
)}
#: The status hint of each tool.
HINTS = {name: spec.hint for name, spec in TOOL_TABLE.items()}
