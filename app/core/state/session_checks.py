"""Checks on what a session file holds, before anything is built from it.

A damaged or hostile file (a zip bomb, a member whose header lies about its size, an
encrypted member, a layer shape of 10⁹ pixels, settings of the wrong type) must cost
neither memory nor time, and must be refused with a message saying what is wrong:
:func:`member` never decompresses more than a member may hold, :func:`need` raises
:class:`Damaged` with the reason, :func:`checked_view` drops view settings of the wrong
type. Used by :func:`app.core.state.session.load_session`.
"""

from __future__ import annotations

import zipfile

import numpy as np

#: Limits that keep a damaged or hostile session file from costing memory or time: a
#: zip bomb, a member whose header lies about its size, a layer shape of 10⁹ pixels.
MAX_SESSION_BYTES = 512 * 2**20
MAX_JSON_BYTES = 8 * 2**20
MAX_MEMBERS = 64
MAX_SIDE = 16384
_VIEW_TYPES: dict[str, tuple[type, ...]] = {
    "orientation": (str,), "combine": (str,), "demo": (bool,), "tool": (str,),
    "layer": (str,), "brush_size": (int, float),
}


class Damaged(Exception):
    """A session file is damaged in a way the message names."""


def member(archive: zipfile.ZipFile, name: str, size: int, exact: bool) -> bytes:
    """Read one member: at most ``size`` bytes (exactly ``size`` when ``exact``)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise Damaged(f"the member {name} is missing") from None
    if info.flag_bits & 0x1:
        raise Damaged(f"the member {name} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise Damaged(f"the member {name} uses an unsupported compression")
    wrong = info.file_size != size if exact else info.file_size > size
    if wrong:
        raise Damaged(f"the member {name} has {info.file_size:,} bytes, expected "
                       f"{'' if exact else 'at most '}{size:,}")
    with archive.open(info) as handle:
        data = handle.read(size + 1)  # the header may lie: never read more than allowed
    if len(data) != info.file_size:
        raise Damaged(f"the member {name} is not the size its header says")
    return data


def need(condition: bool, what: str) -> None:
    """Raise :class:`Damaged` saying ``what`` unless ``condition`` holds."""
    if not condition:
        raise Damaged(what)


def is_int(value: object) -> bool:
    """True for a JSON whole number (``true`` and ``false`` are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def checked_view(view: dict[str, object]) -> tuple[dict[str, object], list[str]]:
    """The view settings with every value of the wrong type dropped, and notes saying so."""
    dropped = []
    for key, types in _VIEW_TYPES.items():
        value = view.get(key)
        if value is None:
            continue
        bad = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
        if not bad and isinstance(value, float) and not np.isfinite(value):
            bad = True
        if bad:
            dropped.append(key)
            view.pop(key)
    detector = view.get("detector")
    if detector is not None and detector not in ("NRS1", "NRS2"):
        dropped.append("detector")
        view["detector"] = None
    styles = view.get("styles", {})
    if not isinstance(styles, dict) or not all(
            isinstance(style, dict) and isinstance(style.get("visible", True), bool)
            and finite_number(style.get("opacity", 1.0)) for style in styles.values()):
        dropped.append("styles")
        view.pop("styles", None)
    notes = ([f"These view settings were damaged and not restored: {', '.join(dropped)}."]
             if dropped else [])
    return view, notes


def finite_number(value: object) -> bool:
    """True for a JSON number that is neither infinite nor NaN."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and bool(np.isfinite(value)))


def unpack(data: bytes, shape: tuple[int, int]) -> np.ndarray:
    """A layer's packed bits (``numpy.packbits``) as a boolean image of ``shape``."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=shape[0] * shape[1])
    return bits.reshape(shape).view(bool)
