"""Speed of the main window's display pipeline on a 2048×2048 frame (offscreen Qt).

    QT_QPA_PLATFORM=offscreen python bench/bench_display.py [--repeat N]

Prints, for each step, the median time, its ratio to a baseline measured in the same
run (``np.copy`` of the frame, or Python start-up for the launch), and the target:

- stretch or level change re-rendered (LUT/levels swap + paint): ≤ 30 ms
- loading one rate file (read + combine + statistics):           ≤ 0.3 s
- combining 10 rate files:                                       ≤ 2 s
- launch to a shown window:                                      ≤ 2 s
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from benchlib import median_time  # noqa: E402

SHAPE = (2048, 2048)
LAUNCH = (
    "import sys\n"
    "from PyQt6.QtCore import QTimer\n"
    "from PyQt6.QtWidgets import QApplication\n"
    "from app.main import configure_pyqtgraph\n"
    "configure_pyqtgraph()\n"
    "app = QApplication(sys.argv[:1])\n"
    "from app.main_window import MainWindow\n"
    "w = MainWindow()\n"
    "w.show()\n"
    "QTimer.singleShot(0, app.quit)\n"
    "app.exec()\n"
)


def frame(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sci = rng.normal(0.0, 0.05, SHAPE).astype(np.float32)
    sci[600:640] += 3.0  # a trace
    sci[rng.uniform(size=SHAPE) < 0.002] = np.nan
    return sci


def write_rate(path: Path, seed: int) -> Path:
    from astropy.io import fits

    sci = frame(seed)
    dq = np.zeros(SHAPE, np.uint32)
    dq[:4], dq[-4:], dq[:, :4], dq[:, -4:] = 1, 1, 1, 1
    primary = fits.PrimaryHDU(header=fits.Header({"DETECTOR": "NRS1", "EXP_TYPE": "NRS_IFU"}))
    fits.HDUList([primary, fits.ImageHDU(sci, name="SCI"),
                  fits.ImageHDU(np.full(SHAPE, 0.01, np.float32), name="ERR"),
                  fits.ImageHDU(dq, name="DQ")]).writeto(path)
    return path


def report(name: str, seconds: float, baseline: float, base_name: str, target: float) -> None:
    verdict = "ok" if seconds <= target else "SLOW"
    print(f"{name:<38} {seconds * 1e3:9.1f} ms  {seconds / baseline:8.1f}× {base_name:<14} "
          f"target {target * 1e3:6.0f} ms  {verdict}")


def bench_render(repeat: int) -> None:
    from PyQt6.QtWidgets import QApplication

    from app.core.display.stretch import DisplayModel, ImageStats
    from app.main import configure_pyqtgraph
    from app.widgets.image_view import ImageView

    configure_pyqtgraph()
    app = QApplication.instance() or QApplication([])
    image = frame(0)
    baseline = median_time(lambda: np.copy(image), repeat)
    print(f"baseline np.copy of a 2048×2048 float32 frame: {baseline * 1e3:.1f} ms\n")
    view = ImageView()
    view.resize(1000, 900)
    view.show()
    model = DisplayModel()
    view.bind_display(model)
    view.set_image(image, "NRS1")
    model.set_stats(ImageStats(image))
    app.processEvents()
    view.grab()

    def paint() -> None:
        app.processEvents()
        view.grab()  # forces ImageItem.render() and a full paint of the view

    stretches = iter(["log", "asinh", "sqrt", "histeq", "power", "linear"] * 1000)
    limits = iter(["minmax", "99.5%", "zscale", "95%"] * 1000)
    level = iter(np.linspace(0.1, 1.0, 5000))
    report("stretch change + paint", median_time(
        lambda: (model.update(stretch=next(stretches)), paint()), repeat),
        baseline, "np.copy", 0.030)
    report("limit algorithm change + paint", median_time(
        lambda: (model.update(limits=next(limits)), paint()), repeat),
        baseline, "np.copy", 0.030)
    report("level drag step + paint", median_time(
        lambda: (model.set_manual_levels(-0.1, float(next(level))), paint()), repeat),
        baseline, "np.copy", 0.030)
    report("colour map change + paint", median_time(
        lambda: (model.update(colormap="heat" if model.settings.colormap == "gray" else "gray"),
                 paint()), repeat), baseline, "np.copy", 0.030)
    report("paint alone (grab)", median_time(paint, repeat), baseline, "np.copy", 0.030)
    for label, zoom in (("zoom 1:1", view.one_to_one), ("zoom 0.6", lambda: view.zoom(0.6))):
        zoom()
        paint()
        report(f"stretch change + paint, {label}", median_time(
            lambda: (model.update(stretch=next(stretches)), paint()), repeat),
            baseline, "np.copy", 0.030)
    report("level drag step + paint, zoom 0.6", median_time(
        lambda: (model.set_manual_levels(-0.1, float(next(level))), paint()), repeat),
        baseline, "np.copy", 0.030)
    view.close()


def bench_files(repeat: int) -> None:
    from app.core.display.stretch import ImageStats
    from app.core.files.products import read_product
    from app.core.files.stack import combine

    image = frame(0)
    baseline = median_time(lambda: np.copy(image), repeat)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [write_rate(Path(tmp) / f"r{i}_rate.fits", i) for i in range(10)]
        print()
        report("read one rate file", median_time(lambda: read_product(paths[0]), repeat),
               baseline, "np.copy", 0.3)

        def load_one() -> None:
            image = combine([read_product(paths[0])], "mean")
            ImageStats(image)

        report("load one: read + combine + stats", median_time(load_one, repeat),
               baseline, "np.copy", 0.3)
        products = [read_product(p) for p in paths]
        for method in ("mean", "median", "clipped"):
            report(f"combine 10 files ({method})",
                   median_time(lambda m=method: combine(products, m), max(1, repeat // 3)),
                   baseline, "np.copy", 2.0)
        report("read 10 files", median_time(lambda: [read_product(p) for p in paths], 1),
               baseline, "np.copy", 2.0)


def bench_launch(repeat: int) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))

    def run(code: str) -> None:
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)

    baseline = median_time(lambda: run("pass"), repeat)
    print()
    report("launch to shown window", median_time(lambda: run(LAUNCH), max(1, repeat // 2)),
           baseline, "python -c pass", 2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    print(f"nsclean-gui display bench, frame {SHAPE[0]}×{SHAPE[1]}, {os.cpu_count()} cpu(s)\n")
    bench_render(args.repeat)
    bench_files(args.repeat)
    bench_launch(args.repeat)


if __name__ == "__main__":
    main()
