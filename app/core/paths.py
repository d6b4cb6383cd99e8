"""Locate the data folders that ship with the application.

In a checkout, ``lib/`` and ``resources/`` sit at the top of the repository; in an
installed wheel they are packaged as ``app/lib`` and ``app/resources`` (see the
``package-dir`` mapping in pyproject.toml). These helpers find either.
"""

from __future__ import annotations

from pathlib import Path

_APP_DIR = Path(__file__).resolve().parent.parent


def _find(name: str) -> Path:
    for candidate in (_APP_DIR / name, _APP_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ folder of nsclean-gui near {_APP_DIR}")


def library_dir() -> Path:
    """Return the folder holding the shipped mask library (``lib/``)."""
    return _find("lib")


def resources_dir() -> Path:
    """Return the folder holding GUI resources (``resources/``)."""
    return _find("resources")
