"""Speed of the live cleaning preview on a 2048×2048 simulated frame (offscreen Qt).

    QT_QPA_PLATFORM=offscreen python bench/bench_preview.py [--repeat N] [cleaning options]

The cleaning options are those of ``nsclean clean`` (``--fit real --ridge 10 --fc 1/48
--no-buff`` ...): the preview runs with them, as after an Auto-tune that chose them.

Targets (issues 8 and 16):

- a brush stroke touching ≤ 20 detector lines: refreshed residual on screen ≤ 50 ms
  with any parameters the tuner can choose (from the end of the stroke, any wait before
  the request included, to the repainted views: residual and cleaned side by side);
- a full recompute (a parameter change that needs a new fit: weight σ) on screen ≤ 0.3 s;
  a buffing change only rebuilds the model (also reported);
- the longest stall of the GUI event loop while a fit runs ≤ 50 ms (a 5 ms QTimer
  heartbeat; a stall is the longest gap between two beats minus the 5 ms period); also
  reported until everything is idle again (the plots computed and drawn: the power
  spectrum tab is shown, the costlier plot).

A last scenario paints continuously, a stroke every 250 ms without waiting for the
plots or the coverage of the previous one (what a user does): the latency of each
stroke's residual and the longest stall over the whole sequence.

Every time is also printed as a ratio to baselines measured in the same run: ``clean()``
from scratch on the same frame with parameters it has not seen (what the preview would
cost without the incremental path) and ``np.copy`` of the frame.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.perf import tune_allocator

tune_allocator()

import numpy as np  # noqa: E402
from benchlib import median_ms, run_times, verdict  # noqa: E402

PAINT_PERIOD_S = 0.25


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    from app.cli.clean import add_cleaning_options, params_from_args
    from app.core.errors import InputError

    add_cleaning_options(parser)
    args = parser.parse_args()
    try:
        chosen = params_from_args(args)
    except InputError as exc:
        parser.error(str(exc))

    from guibench import WindowBench

    from app.core.clean import CleanParams, clean
    from app.core.display.curves import CurveBuilder, preview_curves
    from app.core.engine.incremental import IncrementalCleaner
    from app.core.simulation.simulate import demo_simulation
    from app.preview_controller import PREVIEW_KEY

    sim = demo_simulation(nints=1)
    image, mask, detector = sim.product.sci[0], sim.ideal_mask, sim.detector
    rng = np.random.default_rng(1)

    # -- baselines and the core alone ------------------------------------------------------
    copy_ms = median_ms(run_times(lambda: image.copy(), args.repeat))
    # "cold": parameters the engine has not seen (nothing of the mask's fit cached);
    # "warm": the same call again (the engine may keep per-mask work)
    colds, warms = [], []
    for i in range(3):
        params = replace(chosen, weight_sigma=chosen.weight_sigma + 30.0 + i)
        start = time.perf_counter()
        clean(image, mask, detector, params=params)
        colds.append(time.perf_counter() - start)
        warms += run_times(lambda params=params: clean(image, mask, detector, params=params), 1)
    clean_ms, warm_ms = median_ms(colds), median_ms(warms)
    cleaner, builder = IncrementalCleaner(image, detector, chosen), CurveBuilder()
    builder.curves(cleaner.update(mask))
    core, curves = [], []
    work = mask.copy()
    for _ in range(args.repeat):
        x0 = int(rng.integers(10, 2020))
        work[500:900, x0:x0 + 16] = False
        start = time.perf_counter()
        result = cleaner.update(work)
        core.append(time.perf_counter() - start)
        start = time.perf_counter()
        builder.curves(result)  # profiles and spectra, as the shown spectrum tab needs
        curves.append(time.perf_counter() - start)
    core_ms, curves_ms = median_ms(core), median_ms(curves)
    start = time.perf_counter()
    preview_curves(result)
    scratch_ms = 1e3 * (time.perf_counter() - start)

    # -- the window ------------------------------------------------------------------------
    bench = WindowBench("bench_preview.ini",
                        lambda: f"the preview did not finish: {preview.panel.message.text()}")
    app, window, wait = bench.app, bench.window, bench.wait
    preview = window.preview
    shown: list[float] = []
    preview.resultShown.connect(lambda _r: shown.append(time.perf_counter()))

    def idle() -> None:
        bench.idle([preview._timer, window.coverage._timer])  # coverage: 300 ms after a stroke

    settled: list[float] = []  # longest stall until idle again (plots included)

    def measure(action) -> tuple[float, float]:
        """Seconds from the end of ``action`` (the stroke painted, the value typed) to the
        repainted views, and the longest event-loop stall meanwhile (fit and display)."""
        idle()
        count = len(shown)
        action()
        first_beat, start = bench.mark()
        wait(lambda: len(shown) > count)
        app.processEvents()  # the repaint of the views
        latency = time.perf_counter() - start
        stall = bench.stall_since(first_beat, start)
        idle()
        app.processEvents()  # the repaint of the plots
        settled.append(bench.stall_since(first_beat, start))
        return latency, stall

    preview.panel.form.set_params(chosen)
    window.stack.set_products([sim.product])
    wait(lambda: window.mask_layers is not None)
    idle()
    window.mask_layers.import_background(mask)
    idle()
    preview.views.side_by_side.setChecked(True)
    preview.views.second.set_kind("cleaned")
    preview.plots.tabs.setCurrentWidget(preview.plots.spectrum)
    idle()

    layers = window.mask_layers

    def stroke(x: float, y0: float = 400.0) -> None:
        window.masks.hold()  # as the paint tool: one maskChanged when the stroke ends
        layers.begin_stroke("light", 6.0)  # radius 6: at most 13 lines per stroke
        for y in np.linspace(y0, y0 + 300.0, 30):
            layers.stroke_to(float(y), x + 0.01 * y)
        layers.end_stroke()
        window.masks.release()

    strokes, stroke_stalls = [], []
    for i in range(args.repeat):
        latency, stall = measure(lambda x=200.0 + 230.0 * i: stroke(x))
        strokes.append(latency)
        stroke_stalls.append(stall)

    idle()
    paced = []
    first_beat, begin = bench.mark()
    for i in range(3 * args.repeat):
        wait(lambda i=i: time.perf_counter() >= begin + PAINT_PERIOD_S * i)
        stroke(300.0 + 97.0 * i, 1100.0)
        start = time.perf_counter()
        # shown, and no change since its request: the result includes this stroke
        wait(lambda: preview._dirty is None and not window.runner.is_busy(PREVIEW_KEY)
             and not preview._timer.isActive())
        app.processEvents()
        paced.append(time.perf_counter() - start)
    paced_stall = bench.stall_since(first_beat, begin)

    fulls, full_stalls = [], []
    for i in range(args.repeat):  # weight σ: new weights, a cold refit of every line
        value = chosen.weight_sigma + 1.0 + i
        latency, stall = measure(
            lambda value=value: preview.panel.form.spins["weight_sigma"].setValue(value))
        fulls.append(latency)
        full_stalls.append(stall)
    rebuffs, rebuff_stalls = [], []
    for i in range(args.repeat):  # buffing σ: same fit, new model
        value = chosen.buff_sigma + 0.25 * (i + 1)
        latency, stall = measure(
            lambda value=value: preview.panel.form.spins["buff_sigma"].setValue(value))
        rebuffs.append(latency)
        rebuff_stalls.append(stall)
    assert preview.result is not None and not preview.result.full
    assert preview.params.fit == chosen.fit and preview.params.ridge == chosen.ridge
    bench.close()

    stroke_ms, full_ms, rebuff_ms = median_ms(strokes), median_ms(fulls), median_ms(rebuffs)
    stalls = stroke_stalls + full_stalls + rebuff_stalls
    stall_ms = 1e3 * max(stalls)

    print(f"frame 2048×2048 ({detector}), {args.repeat} repeats, medians; parameters: "
          + (", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in chosen.as_dict().items()
                       if v != getattr(CleanParams(), k)) or "defaults"))
    print(f"baseline  np.copy of the frame                 {copy_ms:8.1f} ms")
    print(f"baseline  clean() from scratch, cold            {clean_ms:8.1f} ms")
    print(f"baseline  clean() from scratch, warm            {warm_ms:8.1f} ms")
    print(f"core      incremental update, 16 lines         {core_ms:8.1f} ms  "
          f"({core_ms / clean_ms:.2f} × cold clean, {core_ms / copy_ms:.1f} × copy)")
    print(f"core      plots after that update              {curves_ms:8.1f} ms  "
          f"(from scratch {scratch_ms:.1f} ms)")
    print(f"gui       stroke → residual on screen          {stroke_ms:8.1f} ms  "
          f"({stroke_ms / clean_ms:.2f} × cold clean)  {verdict(stroke_ms, 50)}")
    print(f"gui       weight σ → full recompute on screen  {full_ms:8.1f} ms  "
          f"({full_ms / clean_ms:.2f} × cold clean)  {verdict(full_ms, 300)}")
    print(f"gui       buffing σ → new model on screen      {rebuff_ms:8.1f} ms  "
          f"({rebuff_ms / clean_ms:.2f} × cold clean)  {verdict(rebuff_ms, 300)}")
    print(f"gui       longest event-loop stall             {stall_ms:8.1f} ms  "
          f"(strokes {1e3 * max(stroke_stalls):.1f}, full {1e3 * max(full_stalls):.1f}, "
          f"buffing {1e3 * max(rebuff_stalls):.1f})  {verdict(stall_ms, 50)}")
    print(f"gui       painting, a stroke every {1e3 * PAINT_PERIOD_S:.0f} ms      "
          f"{median_ms(paced):8.1f} ms  (worst {1e3 * max(paced):.1f}; longest stall "
          f"{1e3 * paced_stall:.1f} ms)  {verdict(median_ms(paced), 50)}")
    print(f"gui       longest stall until plots drawn      {1e3 * max(settled):8.1f} ms  "
          f"(median of the per-edit maxima {median_ms(settled):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
