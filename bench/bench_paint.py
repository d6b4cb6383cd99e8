"""Painting speed and undo memory of the core mask model on a 2048×2048 frame.

Targets (issue 6): one brush dab including the overlay update of the touched region
≤ 16 ms; undo of a 500-dab stroke ≤ 50 ms; 100 undo steps of typical strokes ≤ 200 MB.
Every timing is also printed as a ratio to a baseline measured in the same run: a
full-frame copy of the mask (what one naive whole-frame operation per event costs).

Run: ``python bench/bench_paint.py``
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.mask_layers import MaskLayers
from app.core.paint import Box

SHAPE = (2048, 2048)


def timed(func, repeat: int) -> float:
    """Median wall time of ``func()`` in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def random_walk(rng: np.random.Generator, count: int, step: float) -> np.ndarray:
    """Mouse positions of one stroke: a smooth random walk inside the frame."""
    angle = np.cumsum(rng.normal(0.0, 0.3, count))
    steps = step * np.column_stack([np.sin(angle), np.cos(angle)])
    start = rng.uniform(200, SHAPE[0] - 200, 2)
    return np.clip(start + np.cumsum(steps, axis=0), 0, SHAPE[0] - 1)


def stroke(layers: MaskLayers, points: np.ndarray, radius: float, layer: str = "light") -> None:
    layers.begin_stroke(layer, radius)
    for y, x in points:
        box = layers.stroke_to(float(y), float(x))
        if box is not None:
            layers.render_rgba(box)  # the overlay update a view would draw
    layers.end_stroke()


def main() -> int:
    rng = np.random.default_rng(42)
    mask = np.zeros(SHAPE, dtype=bool)
    baseline = timed(lambda: mask.copy(), 21)
    layers = MaskLayers(SHAPE)
    full_overlay = timed(lambda: layers.render_rgba(), 5)
    print(f"baseline: full-frame copy of a 2048² bool mask   {baseline:8.3f} ms")
    print(f"reference: full-frame overlay render (RGBA)      {full_overlay:8.3f} ms"
          f"   ({full_overlay / baseline:6.1f}× baseline)")

    # One dab = one mouse event: rasterise, record undo, write, render the region.
    dab_times = []
    for radius in (5.0, 20.0, 60.0):
        points = random_walk(rng, 400, step=3.0)
        layers.begin_stroke("light", radius)
        samples = []
        for y, x in points:
            start = time.perf_counter()
            box = layers.stroke_to(float(y), float(x))
            layers.render_rgba(box)
            samples.append((time.perf_counter() - start) * 1e3)
        layers.end_stroke()
        dab = statistics.median(samples)
        worst = max(samples)
        dab_times.append(dab)
        print(f"dab + overlay, radius {radius:4.0f}: median {dab:7.3f} ms, max {worst:7.3f} ms"
              f"   ({dab / baseline:6.2f}× baseline)   target ≤ 16 ms")
    first_dark = MaskLayers(SHAPE)
    start = time.perf_counter()
    first_dark.begin_stroke("dark", 10, value=False)
    first_dark.stroke_to(1000.0, 1000.0)
    first_dark.end_stroke()
    switch = (time.perf_counter() - start) * 1e3
    print(f"first direct dark edit (copies the background once): {switch:7.3f} ms"
          f"   ({switch / baseline:6.2f}× baseline)")

    # Undo / redo of one 500-dab stroke.
    layers = MaskLayers(SHAPE)
    stroke(layers, random_walk(rng, 500, step=4.0), radius=15.0)
    undo = timed(lambda: (layers.undo(), layers.redo()), 9) / 2
    print(f"undo of a 500-dab stroke (radius 15):    {undo:7.3f} ms"
          f"   ({undo / baseline:6.2f}× baseline)   target ≤ 50 ms")
    item_bytes = layers.history.nbytes

    # Memory of 100 undo steps, traced: typical strokes, then broad sweeping ones.
    steps_mb = 0.0
    for dabs, radius, step in ((60, 8.0, 4.0), (200, 40.0, 12.0)):
        layers = MaskLayers(SHAPE)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            stroke(layers, random_walk(rng, dabs, step=step), radius=radius)
        after, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        used = (after - before) / 2**20
        steps_mb = max(steps_mb, used)
        print(f"100 undo steps ({dabs}-dab strokes, r={radius:.0f}): traced {used:7.2f} MB, peak "
              f"{(peak - before) / 2**20:7.2f} MB, history "
              f"{layers.history.nbytes / 2**20:6.2f} MB ({(after - before) / mask.nbytes:5.2f}× "
              "one mask)   target ≤ 200 MB")
    print(f"(one 500-dab stroke holds {item_bytes / 1024:.0f} kB of undo data)")
    full = Box.full(SHAPE)
    imports = timed(lambda: layers.import_background(np.ones(SHAPE, bool)), 3)
    print(f"import of a whole mask (one undo item):  {imports:7.3f} ms"
          f"   ({imports / baseline:6.1f}× baseline, box {full.shape})")
    ok = max(dab_times) <= 16 and undo <= 50 and steps_mb <= 200
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
