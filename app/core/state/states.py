"""Evented settings: one :class:`SettingsState` per subject, each a frozen dataclass value.

A state holds one immutable value (:class:`~app.core.clean.CleanParams`,
:class:`~app.core.threshold.traces.ThresholdSettings`, :class:`PaintSettings`,
:class:`ViewSettings`), validates every new value with the value's own ``validated()``,
and emits ``changed(frozenset of field names)`` only when something really changed. It
serialises itself to and from a JSON-friendly dict, so whatever holds a set of states (the
:class:`~app.core.state.workspace.Workspace`) saves a new setting without code of its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from app.core.errors import InputError
from app.core.state.events import Event

#: The painting tools, in the order of the Mask menu (their behaviour lives in the widgets).
PAINT_TOOLS = ("brush", "eraser", "rectangle", "polygon", "fill", "band", "pan")
#: The layers a tool paints on.
PAINT_LAYERS = ("light", "dark", "exclude")
#: Brush diameters (image pixels).
MIN_BRUSH, MAX_BRUSH = 1.0, 400.0
ORIENTATIONS = ("dms", "detector")
PROFILE_AXES = ("rows", "columns")
PLOT_TABS = ("profile", "spectrum", "coverage")


class _Validated(Protocol):
    def validated(self) -> Any: ...


V = TypeVar("V", bound=_Validated)


@dataclass(frozen=True)
class PaintSettings:
    """The painting tool, the layer it paints on and the brush diameter (pixels)."""

    tool: str = "pan"  # napari starts in pan/zoom too
    layer: str = "light"
    size: float = 15.0

    def validated(self) -> PaintSettings:
        """Return self after checking the names and the size; raise :class:`InputError`."""
        if self.tool not in PAINT_TOOLS:
            raise InputError(f"unknown tool {self.tool!r}; expected one of "
                             f"{', '.join(PAINT_TOOLS)}")
        if self.layer not in PAINT_LAYERS:
            raise InputError(f"unknown layer {self.layer!r}; expected one of "
                             f"{', '.join(PAINT_LAYERS)}")
        if not MIN_BRUSH <= self.size <= MAX_BRUSH:
            raise InputError(f"brush size must be {MIN_BRUSH:g}–{MAX_BRUSH:g} px, got {self.size}")
        return self


@dataclass(frozen=True)
class ViewSettings:
    """How the images and the preview are looked at.

    Attributes
    ----------
    orientation : {"dms", "detector"}
        DMS orientation (dispersion horizontal) or the detector's (fast scan horizontal).
    profile_axis : {"rows", "columns"}
        The background profile of the cleaning plots: mean per DMS row or column.
    plot_tab : {"profile", "spectrum", "coverage"}
        The cleaning plot shown.
    """

    orientation: str = "dms"
    profile_axis: str = "rows"
    plot_tab: str = "profile"

    def validated(self) -> ViewSettings:
        """Return self after checking each choice; raise :class:`InputError`."""
        for name, allowed in (("orientation", ORIENTATIONS), ("profile_axis", PROFILE_AXES),
                              ("plot_tab", PLOT_TABS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got "
                                 f"{getattr(self, name)!r}")
        return self


def _types(annotation: str) -> tuple[type, ...]:
    """The JSON types a dataclass field annotated ``annotation`` accepts."""
    kinds: list[type] = []
    for part in (p.strip() for p in annotation.split("|")):
        kinds += {"float": [int, float], "int": [int], "bool": [bool], "str": [str],
                  "None": [type(None)]}.get(part, [])
    return tuple(kinds)


def _check_type(name: str, value: object, annotation: str) -> object:
    kinds = _types(annotation)
    if isinstance(value, list) and "tuple" in annotation:  # optional tuples, from JSON lists
        return tuple(value)
    if not kinds:  # tuples and other structured fields: JSON gives lists
        return tuple(value) if isinstance(value, list) else value
    if isinstance(value, bool) and bool not in kinds:  # JSON true is not a number here
        raise InputError(f"{name} must be a number, got {value!r}")
    if not isinstance(value, kinds):
        wanted = " or ".join(sorted({k.__name__ for k in kinds} - {"NoneType"})) or "empty"
        raise InputError(f"{name} must be {wanted}, got {type(value).__name__} {value!r}")
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def value_from_dict(default: V, data: object) -> V:
    """``default`` with the fields named in ``data`` replaced, type-checked and validated.

    Unknown keys are ignored (a newer file); a wrong type or range raises
    :class:`InputError` naming the field.
    """
    if not isinstance(data, dict):
        raise InputError(f"expected a table of settings, got {type(data).__name__}")
    fields = {f.name: str(f.type) for f in dataclasses.fields(default)}  # type: ignore[arg-type]
    changes = {name: _check_type(name, value, fields[name])
               for name, value in data.items() if name in fields}
    try:
        return replace(default, **changes).validated()  # type: ignore[type-var]
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from exc


def value_to_dict(value: object) -> dict[str, Any]:
    """The fields of a dataclass value as JSON values (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(value).items()}  # type: ignore[call-overload]


class SettingsState(Generic[V]):
    """One evented, validated, serialisable settings value.

    Parameters
    ----------
    default : frozen dataclass with ``validated()``
        The starting value and what :meth:`reset` goes back to.

    Events
    ------
    changed(frozenset of str)
        The names of the fields that changed.
    """

    def __init__(self, default: V) -> None:
        self.default: V = default.validated()
        self._value: V = self.default
        self.changed = Event()

    @property
    def value(self) -> V:
        """The current value (immutable: change it with :meth:`set` or :meth:`update`)."""
        return self._value

    def set(self, value: V) -> bool:
        """Adopt ``value`` (validated first); True if anything changed."""
        value = value.validated()
        old = self._value
        changed = frozenset(f.name for f in dataclasses.fields(value)  # type: ignore[arg-type]
                            if getattr(value, f.name) != getattr(old, f.name))
        if not changed:
            return False
        self._value = value
        self.changed.emit(changed)
        return True

    def update(self, **fields: Any) -> bool:
        """Change fields by name, e.g. ``update(fc=1 / 128)``; True if anything changed."""
        try:
            value = replace(self._value, **fields)  # type: ignore[type-var]
        except TypeError as exc:
            raise InputError(str(exc)) from exc
        return self.set(value)

    def reset(self) -> bool:
        """Back to the default value."""
        return self.set(self.default)

    def to_dict(self) -> dict[str, Any]:
        """The value as JSON values."""
        return value_to_dict(self._value)

    def from_dict(self, data: object) -> bool:
        """Adopt the fields in ``data`` (others keep their default; see
        :func:`value_from_dict`); nothing changes when it raises."""
        return self.set(value_from_dict(self.default, data))
