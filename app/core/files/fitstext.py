"""Text that a FITS header can hold: printable ASCII only.

File names are the usual non-ASCII text in our headers (``FILENAME``, ``NSC_MASK``,
``NSC_SRC``, HISTORY lines); astropy refuses them when the file is written, after all the
work is done. Other characters are kept readable as Python escapes (``m\\xe4sk.fits``).
"""

from __future__ import annotations


def fits_text(text: str) -> str:
    """Return ``text`` with every character outside printable ASCII escaped."""
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if " " <= c <= "~" else c.encode("unicode_escape").decode() for c in escaped)


def fits_value(value: object) -> object:
    """A header value, or ``(value, comment)`` pair, with its strings made FITS-safe."""
    if isinstance(value, tuple):
        return tuple(fits_value(item) for item in value)
    return fits_text(value) if isinstance(value, str) else value
