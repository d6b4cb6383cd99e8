"""Before/after figures of the hostile corpus for any checkout of the code.

    python -m tests.hostile.figures CODE_DIR [--skip-gui] [--skip-signals]

``CODE_DIR`` is a checkout whose ``tests/`` holds this ``hostile`` folder (copy it into an
old checkout to measure that). Every data case runs in its own ``nsclean clean`` with a
good file after it, so one hang does not hide the others; the GUI cases run in a child
process (a GUI-thread hang ends it, and is counted). Prints one JSON document: the
problems of every case and the totals per kind.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def _gui(folder: Path) -> dict[str, list[str]]:
    """Run in the child: the GUI cases on a fresh window."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    state = folder / "state"
    os.environ["NSCLEAN_GUI_STATE_DIR"] = str(state)
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from app.main import configure_pyqtgraph
    from app.main_window import MainWindow
    from tests.hostile.gui import gui_cases, recovery_offer

    app = QApplication.instance() or QApplication([])
    configure_pyqtgraph()
    window = MainWindow(settings=QSettings(str(folder / "settings.ini"),
                                           QSettings.Format.IniFormat))
    window.show()

    def wait(condition, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            if condition():
                return True
            time.sleep(0.01)
        return False

    return gui_cases(window, folder, wait, recovery_offer(window, state))


def measure(code: Path, gui: bool = True, signals: bool = True) -> dict[str, object]:
    from tests.hostile.batch import batch, command_cases

    results: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="nsclean-hostile-") as work:
        folder = Path(work)
        for case, problems in batch(folder / "data", code, jobs=1, isolated=True).items():
            results[f"cli {case}"] = problems
        for case, problems in command_cases(folder / "commands", code).items():
            results[f"cli {case}"] = problems
        if signals:
            from tests.hostile.signals import signal_cases

            for case, problems in signal_cases(folder / "signals", code).items():
                results[f"signal {case}"] = problems
        if gui:
            child = subprocess.run(
                [sys.executable, "-m", "tests.hostile.figures", str(code), "--gui-child",
                 str(folder / "gui")], capture_output=True, text=True, timeout=1800,
                env={**os.environ, "PYTHONPATH": str(code)})
            lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
            if lines:
                results.update({f"gui {k}": v for k, v in json.loads(lines[-1]).items()})
            else:  # the window died (a hang ended by the watchdog, or a crash)
                results["gui (run)"] = ["hang" if "HANG" in child.stderr else "crash"]
                print(child.stderr[-3000:], file=sys.stderr)
    totals = Counter(kind for problems in results.values() for kind in problems)
    return {"cases": len(results), "cases with a problem": sum(1 for p in results.values() if p),
            "totals": dict(sorted(totals.items())), "problems": {
                case: problems for case, problems in results.items() if problems}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("code", type=Path)
    parser.add_argument("--skip-gui", action="store_true")
    parser.add_argument("--skip-signals", action="store_true")
    parser.add_argument("--gui-child", type=Path, default=None)
    args = parser.parse_args()
    if args.gui_child is not None:
        args.gui_child.mkdir(parents=True, exist_ok=True)
        print(json.dumps(_gui(args.gui_child)), flush=True)
        os._exit(0)  # skip Qt's teardown: the figures are out
    print(json.dumps(measure(args.code.resolve(), not args.skip_gui, not args.skip_signals),
                     indent=1, ensure_ascii=True))


if __name__ == "__main__":
    main()
