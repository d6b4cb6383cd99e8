"""Speed of the simulator: one full-frame integration per scene.

Target (issue 4): a full frame in ≤ 1 s. Each timing is also printed as a ratio to two
baselines measured in the same run on the same machine: one ``numpy.fft.rfft`` of a
2048×2048 float32 image along its rows, and drawing 2048×2048 float32 normal deviates
(the least any simulation of a full frame must do).

Run: ``python bench/bench_simulate.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from benchlib import median_time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.perf import tune_allocator
from app.core.simulation.simulate import simulate_exposure

TARGET_SECONDS = 1.0


def main() -> int:
    tune_allocator()
    image = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    rng = np.random.default_rng(1)
    fft = median_time(lambda: np.fft.rfft(image, axis=1), 7)
    normals = median_time(lambda: rng.standard_normal((2048, 2048), dtype=np.float32), 7)
    print(f"baselines: rfft 2048² {fft * 1e3:.1f} ms; 2048² normal deviates "
          f"{normals * 1e3:.1f} ms")
    print(f"{'case':24} {'time':>8} {'/rfft':>7} {'/normals':>9}")
    worst = 0.0
    cases = [("ifu", "NRS1", 1, None), ("mos", "NRS2", 1, None), ("fs", "NRS1", 1, None),
             ("bots", "NRS1", 1, (32, 2048)), ("bots", "NRS2", 1, (512, 2048)),
             ("ifu", "NRS1", 3, None)]
    for scene, detector, nints, shape in cases:
        seconds = median_time(lambda s=scene, d=detector, n=nints, sh=shape:
                        simulate_exposure(s, d, nints=n, seed=0, shape=sh), 3)
        per_int = seconds / nints
        if shape is None:
            worst = max(worst, per_int)
        size = "full" if shape is None else f"{shape[0]}×{shape[1]}"
        label = f"{scene} {detector} {size} ×{nints}"
        print(f"{label:24} {seconds * 1e3:6.0f}ms {seconds / fft:7.1f} {seconds / normals:9.1f}")
    verdict = "PASS" if worst <= TARGET_SECONDS else "FAIL"
    print(f"{verdict}: slowest full frame {worst:.2f} s per integration "
          f"(target ≤ {TARGET_SECONDS:.0f} s)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
