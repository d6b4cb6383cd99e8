"""Entry point of ``nsclean-gui [FILES...] [--demo]``.

Only argparse is imported at module level: Qt, pyqtgraph and the window come in
:func:`main`, and astropy only when a file is read, so the window appears quickly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of ``nsclean-gui``."""
    from app.core.version import __version__

    parser = argparse.ArgumentParser(
        prog="nsclean-gui",
        description="View NIRSpec rate/rateints/cal products, paint background masks and "
        "remove correlated read noise (NSClean).",
    )
    parser.add_argument("files", nargs="*", help="rate, rateints or cal FITS files to combine")
    parser.add_argument(
        "--demo", action="store_true", help="open a simulated IFU exposure (no download)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def configure_pyqtgraph() -> None:
    """Global pyqtgraph options the viewer relies on (row-major images: no transposes)."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


def load_style(app: object) -> None:
    """Apply resources/style.qss if present."""
    from app.core.paths import resources_dir

    try:
        qss = resources_dir() / "style.qss"
    except FileNotFoundError:
        return
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))  # type: ignore[attr-defined]


def _report_unexpected(kind: type[BaseException], exc: BaseException, tb: object) -> None:
    """Show a bug as a message and keep running (PyQt would abort on an uncaught error)."""
    import traceback

    traceback.print_exception(kind, exc, tb)  # type: ignore[arg-type]
    from PyQt6.QtWidgets import QApplication, QMessageBox

    if QApplication.instance() is not None:
        QMessageBox.critical(
            None, "nsclean-gui: unexpected error",
            f"{kind.__name__}: {exc}\n\nThe details were printed on the terminal. "
            "Your loaded data and masks are kept.",
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Open the main window; returns the exit status of the Qt event loop."""
    args = build_parser().parse_args(argv)
    from app.core.perf import tune_allocator

    tune_allocator()  # before numpy arrives with Qt/pyqtgraph: see app/core/perf.py
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    configure_pyqtgraph()
    sys.excepthook = _report_unexpected
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("nsclean-gui")
    app.setOrganizationName("nsclean-gui")
    app.setStyle("Fusion")
    load_style(app)
    from app.main_window import MainWindow

    window = MainWindow(offer_recovery=True)
    window.show()
    if args.demo:
        QTimer.singleShot(0, window.open_demo)
    elif args.files:
        QTimer.singleShot(0, lambda: window.open_files(args.files))
    status = int(app.exec())
    if argv is None:  # the program itself, not a test calling main()
        _exit_now(window, status)
    return status


def _exit_now(window: object, status: int) -> None:
    """End the process without the interpreter's teardown.

    Everything the user keeps is written by the time the window has closed (sessions,
    masks and recovery files synchronously and atomically); what is left is freeing
    the images and a few thousand Qt objects one by one, which took ~2 s. QSettings
    writes lazily, so it is flushed first.
    """
    import os

    window.settings.sync()  # type: ignore[attr-defined]
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
