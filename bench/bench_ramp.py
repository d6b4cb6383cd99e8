"""Ramps: ``nsclean clean`` end to end vs the pipeline's ``do_correction``, speed and quality.

A full-frame NRS1 ramp (default 10 groups, one integration) is simulated with known truth
(``nsclean simulate --ngroups``: the scene accumulates, every read has its own correlated
and white noise) and its ideal background mask written both as an NSClean mask and as a
JWST ImageModel (``--user_mask``). Then, in the same run:

- ours: ``python -m app.cli clean RAMP --mask MASK -o DIR`` in a fresh process, timed
  from start to exit (interpreter start-up, imports, reading and writing included);
- the step: ``do_correction(RampModel, fit_method='fft', user_mask=...)`` of jwst, timed
  around that call only (the file is already open; writing not included).

Speed target (issue 15): ours ≥ 10× faster. Quality: the slope fitted (least squares, all
groups) from each cleaned ramp is scored with
:func:`app.core.simulation.metrics.residual_banding` against the truth slope (1 = nothing
removed, 0 = perfect); target ours ≤ 0.95 × the step's.

Run: ``python bench/bench_ramp.py [--ngroups 10] [--seeds 0] [--scenes ifu]``
(jwst must be installed; under load the step takes minutes). Exit status 1 if a target
is missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import load_average

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.mask.formats import write_jwst_mask, write_nsclean_fits  # noqa: E402
from app.core.simulation.metrics import residual_banding  # noqa: E402
from app.core.simulation.ramp import fitted_slope  # noqa: E402


def _cli(*args: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app.cli", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _score(ramp: np.ndarray, truth, tgroup: float) -> float:
    slope = fitted_slope(ramp[0], tgroup)
    return residual_banding(slope, truth["slope"], truth["noise"], truth["mask"])


def run_one(folder: Path, scene: str, seed: int, ngroups: int) -> tuple[float, float, float,
                                                                         float]:
    """Simulate, clean both ways; return (our s, step s, our banding, step banding)."""
    from astropy.io import fits
    from jwst.clean_flicker_noise.clean_flicker_noise import do_correction
    from stdatamodels.jwst import datamodels

    ramp = folder / f"sim_{scene}_{seed}_ramp.fits"
    _cli("simulate", "--scene", scene, "--ngroups", str(ngroups), "--seed", str(seed),
         "-o", str(ramp), "--overwrite")
    with fits.open(ramp) as hdul:
        mask = hdul["TRUTH_MASK"].data.astype(bool)
        truth = {"slope": hdul["TRUTH_SLOPE"].data[0], "noise": hdul["TRUTH_NOISE_SLOPE"].data[0],
                 "mask": mask}
        tgroup = float(hdul[0].header["TGROUP"])
    write_nsclean_fits(folder / "mask.fits", mask, overwrite=True)
    write_jwst_mask(folder / "mask_jwst.fits", mask, overwrite=True)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    ours_s = _cli("clean", str(ramp), "--mask", str(folder / "mask.fits"), "-o", str(out),
                  "--overwrite")
    with fits.open(out / f"{ramp.stem}_nsclean.fits") as hdul:
        ours = _score(hdul["SCI"].data, truth, tgroup)
    model = datamodels.RampModel(str(ramp))
    start = time.perf_counter()
    result = do_correction(model, fit_method="fft", user_mask=str(folder / "mask_jwst.fits"))
    step_s = time.perf_counter() - start
    step = _score(result[0].data, truth, tgroup)
    model.close()
    return ours_s, step_s, ours, step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ngroups", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scenes", nargs="+", default=["ifu"],
                        choices=["ifu", "mos", "fs"])
    args = parser.parse_args()
    print(load_average())
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench_ramp_") as tmp:
        for scene in args.scenes:
            for seed in args.seeds:
                ours_s, step_s, ours, step = run_one(Path(tmp), scene, seed, args.ngroups)
                speed_ok, quality_ok = step_s / ours_s >= 10, ours <= 0.95 * step
                failed |= not (speed_ok and quality_ok)
                print(f"{scene} seed {seed}, full frame, {args.ngroups} groups: "
                      f"nsclean clean (CLI, end to end) {ours_s:.1f} s, do_correction "
                      f"{step_s:.1f} s -> {step_s / ours_s:.1f}x faster (target >= 10x "
                      f"{'ok' if speed_ok else 'MISSED'})")
                print(f"  slope residual banding: ours {ours:.4f}, step {step:.4f} -> "
                      f"ratio {ours / step:.3f} (target <= 0.95 "
                      f"{'ok' if quality_ok else 'MISSED'})")
    print(load_average())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
