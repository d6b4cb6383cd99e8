"""Widget-test setup: offscreen Qt, row-major pyqtgraph, synthetic products and files."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt
# Autosaves during tests must never land in the user's real cache folder.
os.environ.setdefault(
    "NSCLEAN_GUI_STATE_DIR",
    os.path.join(os.environ.get("TMPDIR", "/tmp"), f"nsclean-gui-tests-{os.getpid()}"),
)

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from app.core.files.products import DO_NOT_USE, Product
from app.main import configure_pyqtgraph

configure_pyqtgraph()


def synthetic_sci(shape: tuple[int, int], nints: int = 1, seed: int = 0) -> np.ndarray:
    """A small spectrum-like image: noise, a tilted bright trace, a few NaNs."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    sci = rng.normal(0.0, 0.02, (nints, ny, nx)).astype(np.float32)
    yy, xx = np.mgrid[0:ny, 0:nx]
    sci += (2.0 * np.exp(-0.5 * ((yy - ny / 3 - xx * 0.05) / 1.5) ** 2)).astype(np.float32)
    sci[:, 2, 3] = np.nan
    return sci


@pytest.fixture
def make_product() -> Callable[..., Product]:
    def make(
        name: str = "a_rate.fits", shape: tuple[int, int] = (40, 60), detector: str = "NRS1",
        nints: int = 1, seed: int = 0,
    ) -> Product:
        sci = synthetic_sci(shape, nints, seed)
        dq = np.zeros(sci.shape, np.uint32)
        dq[:, 5, 7] = DO_NOT_USE
        header = fits.Header({"DETECTOR": detector, "EXP_TYPE": "NRS_IFU", "NINTS": nints})
        return Product(Path(name), sci, dq, header, fits.Header({"EXTNAME": "SCI"}), nints > 1)

    return make


@pytest.fixture
def write_rate(tmp_path: Path) -> Callable[..., Path]:
    """Write a rate (or rateints) file with PRIMARY, SCI and DQ like the pipeline does."""

    def write(
        name: str, shape: tuple[int, int] = (40, 60), detector: str = "NRS1", nints: int = 1,
        seed: int = 0,
    ) -> Path:
        sci = synthetic_sci(shape, nints, seed)
        path = tmp_path / name
        primary = fits.PrimaryHDU(header=fits.Header(
            {"DETECTOR": detector, "EXP_TYPE": "NRS_IFU", "NINTS": nints}
        ))
        data = sci if nints > 1 else sci[0]
        dq = np.zeros(data.shape, np.uint32)
        fits.HDUList([primary, fits.ImageHDU(data, name="SCI"),
                      fits.ImageHDU(dq, name="DQ")]).writeto(path)
        return path

    return write


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[object]:
    """QSettings in a temporary file, so tests never touch the user's recent files."""
    from PyQt6.QtCore import QSettings

    yield QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings) -> Iterator[object]:
    """A shown main window; its worker threads are stopped at the end."""
    from app.main_window import MainWindow

    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.runner.shutdown()
    win.close()


@pytest.fixture
def messages(monkeypatch) -> list[tuple[str, str]]:
    """Capture message boxes instead of blocking on them."""
    from PyQt6.QtWidgets import QMessageBox

    seen: list[tuple[str, str]] = []

    def capture(_parent, title, text, *args, **kwargs):
        seen.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", capture)
    monkeypatch.setattr(QMessageBox, "critical", capture)
    return seen


@pytest.fixture
def state_dir(monkeypatch, tmp_path: Path) -> Path:
    """Recovery files go to a temporary folder (``NSCLEAN_GUI_STATE_DIR``)."""
    folder = tmp_path / "state"
    monkeypatch.setenv("NSCLEAN_GUI_STATE_DIR", str(folder))
    return folder


def dead_pid() -> int:
    """The id of a process that has exited (a crashed session's recovery file names it)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
