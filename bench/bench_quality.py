"""Cleaning quality on simulated exposures with known truth: our defaults vs legacy.

For each scene and seed, an NRS1 exposure (full frame; bots: the 2048×32 subarray) is simulated
(:func:`app.core.simulation.simulate.simulate_exposure`) and cleaned with the engine using the
ideal background mask, once with our defaults (centred kernels) and once with
``legacy_kernels=True`` (the published implementations' off-by-one kernels, i.e. what
the JWST pipeline does). The score is :func:`app.core.simulation.metrics.residual_banding`: the
banding left relative to the banding injected (1 = nothing removed, 0 = perfect).
Printed per run, per scene, and averaged, with the ratio ours/legacy (< 1 = ours
better). The target (issue 4): ours is not worse than legacy on any scene.

Run: ``python bench/bench_quality.py [--seeds 0 1 2] [--scenes ifu mos fs bots] [--also]``
(``--also`` adds, for context, the fit without buffing and the median baseline.)
Exit status 1 if ours is worse than legacy on any scene. ``bots`` is not in the default
set: its subarray fit is unweighted, so the kernel centring changes its result by less
than 0.1 % either way.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from benchlib import add_scene_options

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.perf import tune_allocator
from app.core.simulation.metrics import residual_banding, residual_rms
from app.core.simulation.simulate import simulate_exposure

VARIANTS = {
    "ours": {},
    "legacy": {"legacy_kernels": True},
    # context only (--also): the same fit without buffing, and the median baseline
    "no-buff": {"buff": False},
    "median": {"method": "median"},
}


def score(scene: str, seed: int, detector: str, variants: list[str]) -> dict[str, float]:
    """Residual banding (and RMS) of one simulated exposure for each variant."""
    from app.core.clean import clean

    sim = simulate_exposure(scene, detector, nints=1, seed=seed)
    image, dq, mask = sim.product.sci[0], sim.product.dq[0], sim.ideal_mask
    expected, noise = sim.expected_clean[0], sim.correlated_noise[0]
    out = {"none": residual_rms(image, expected, mask)}
    for name in variants:
        result = clean(image, mask, detector, dq=dq, **VARIANTS[name])
        out[name] = residual_banding(result.cleaned, expected, noise, mask, detector)
        out[f"{name}_rms"] = residual_rms(result.cleaned, expected, mask)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_scene_options(parser, ["ifu", "mos", "fs", "bots"])
    parser.add_argument("--detector", default="NRS1", choices=("NRS1", "NRS2"))
    parser.add_argument("--also", action="store_true",
                        help="also score the fit without buffing and the median baseline")
    args = parser.parse_args(argv)
    tune_allocator()
    try:
        import app.core.clean  # noqa: F401
    except ImportError:
        print("app.core.clean is not available yet: nothing to benchmark")
        return 2

    print(f"residual banding (1 = nothing removed, 0 = perfect), {args.detector}, ideal mask")
    variants = ["ours", "legacy"] + (["no-buff", "median"] if args.also else [])
    extra = "".join(f" {name:>8}" for name in variants[2:])
    print(f"{'scene':6} {'seed':>4} {'ours':>7} {'legacy':>7} {'ratio':>7} "
          f"{'rms in':>8} {'rms ours':>9} {'rms leg':>8}{extra}")
    per_scene: dict[str, list[tuple[float, float]]] = {}
    start = time.perf_counter()
    for scene in args.scenes:
        for seed in args.seeds:
            s = score(scene, seed, args.detector, variants)
            per_scene.setdefault(scene, []).append((s["ours"], s["legacy"]))
            print(f"{scene:6} {seed:4d} {s['ours']:7.4f} {s['legacy']:7.4f} "
                  f"{s['ours'] / s['legacy']:7.4f} {s['none']:8.5f} {s['ours_rms']:9.5f} "
                  f"{s['legacy_rms']:8.5f}" + "".join(f" {s[n]:8.4f}" for n in variants[2:]))
    print()
    print(f"{'scene':6} {'ours':>7} {'legacy':>7} {'ratio ours/legacy':>18}")
    worse = []
    ratios = []
    for scene, runs in per_scene.items():
        ours, legacy = np.mean(runs, axis=0)
        ratios.append(ours / legacy)
        if ours > legacy:
            worse.append(scene)
        print(f"{scene:6} {ours:7.4f} {legacy:7.4f} {ours / legacy:18.4f}")
    print(f"{'mean':6} {'':7} {'':7} {np.mean(ratios):18.4f}")
    print(f"({time.perf_counter() - start:.1f} s)")
    if worse:
        print(f"FAIL: ours is worse than legacy on {', '.join(worse)}")
        return 1
    print("PASS: ours is not worse than legacy on any scene")
    return 0


if __name__ == "__main__":
    sys.exit(main())
