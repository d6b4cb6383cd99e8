"""Start-up and quit of the GUI (offscreen), as a user meets them.

    python bench/bench_startup.py [--repeat N]

Targets (issue 16), at load ≤ 1 (``uptime``; the figures are printed with the load):

- launch to a shown window ≤ 1.0 s: from starting the process (``app.main.main``, as
  ``nsclean-gui`` runs it) to the main window shown (``python -c pass`` is the baseline
  measured in the same run);
- quit ≤ 0.5 s with nothing unsaved: a 2048×2048 rate file loaded and its preview and
  background fit done, from File ▸ Quit to the process gone;
- ``import app.main_window`` does not import ``astropy.io.fits`` (checked, not timed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import median_ms  # noqa: E402

CHILD = r"""
import sys, time
from PyQt6.QtCore import QTimer
from PyQt6.QtGui import QAction
import app.main_window as main_window
shown_once = []

def show(window, _show=main_window.MainWindow.show):
    _show(window)
    if shown_once:
        return
    shown_once.append(window)
    from PyQt6.QtWidgets import QApplication
    QApplication.processEvents()
    print("shown", flush=True)
    if len(sys.argv) < 2:
        QTimer.singleShot(0, window.close)
        return

    def check():
        if window.stack.image is None or window.runner.is_busy():
            QTimer.singleShot(50, check)
            return
        print("quitting", flush=True)
        [a for a in window.findChildren(QAction) if a.text() == "&Quit"][0].trigger()
    QTimer.singleShot(50, check)

main_window.MainWindow.show = show
from app.main import main
sys.exit(main())
"""


def run(args: list[str]) -> tuple[float, float | None]:
    """Seconds to "shown" and from "quitting" to the end (None without a file)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO),
               XDG_CONFIG_HOME=args[0], NSCLEAN_GUI_STATE_DIR=args[0])  # not the user's
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args[1:]], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    shown = quitting = None
    for line in child.stdout:
        if line.startswith("shown"):
            shown = time.perf_counter() - start
        elif line.startswith("quitting"):
            quitting = time.perf_counter()
    child.wait()
    if child.returncode != 0 or shown is None:
        raise RuntimeError(f"the window did not start (exit {child.returncode})")
    return shown, None if quitting is None else time.perf_counter() - quitting


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO))
    modules = subprocess.run(
        [sys.executable, "-c", "import sys, app.main_window; print('astropy.io.fits' in "
         "sys.modules, 'astropy' in sys.modules)"], env=env, cwd=REPO, text=True,
        capture_output=True, check=True).stdout.split()
    with tempfile.TemporaryDirectory() as tmp:
        from app.core.simulation.simulate import simulate_exposure, write_simulation

        rate = write_simulation(simulate_exposure("mos", "NRS1", nints=1, seed=1),
                                Path(tmp) / "sim_rate.fits")
        settings = tmp  # settings and recovery files of the runs
        baseline = [time.perf_counter()]
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            baseline.append(time.perf_counter() - start)
        launches = [run([settings])[0] for _ in range(args.repeat)]
        quits = [run([settings, str(rate)])[1] or 0.0 for _ in range(args.repeat)]
    base_ms = median_ms(baseline[1:])
    launch_ms, quit_ms = median_ms(launches), median_ms(quits)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {args.repeat} runs, medians")
    print(f"baseline   python -c pass                 {base_ms:8.1f} ms")
    print(f"launch     start → window shown           {launch_ms:8.1f} ms  "
          f"({launch_ms / base_ms:.1f} × baseline)  target ≤ 1000 ms  "
          f"{'ok' if launch_ms <= 1000 else 'MISSED'}")
    print(f"quit       File ▸ Quit → process gone     {quit_ms:8.1f} ms  "
          f"(worst {1e3 * max(quits):.1f})  target ≤ 500 ms  "
          f"{'ok' if quit_ms <= 500 else 'MISSED'}")
    print(f"imports    app.main_window imports astropy.io.fits: {modules[0]}, "
          f"astropy: {modules[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
