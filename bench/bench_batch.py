"""Many full-frame rate files: ``nsclean clean -j 2`` (and ``--scheduler``) vs I/O alone.

Writes N (default 100) full-frame rate files (SCI float32 and DQ, like a pipeline
``_rate.fits``, 32 MB each) into a temporary folder, then times, in the same run:

- I/O alone: two processes that read each file and write it back under a new name the way
  the cleaner does (astropy, every HDU, temp file + rename), nothing cleaned;
- ``nsclean clean FILES --mask M -j 2`` (a fresh process; start-up included);
- with ``--dask``: ``nsclean clean FILES --scheduler ADDRESS`` on a dask LocalCluster of
  two single-threaded worker processes started beforehand (its start-up not included).

Target (issue 15): 100 files with ``-j 2`` in ≤ 15 s on this machine.

Run: ``python bench/bench_batch.py [--files 100] [--dask]``; needs ~2 × 3.2 GB of disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from benchlib import load_average

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _write_inputs(folder: Path, count: int) -> list[Path]:
    from astropy.io import fits

    rng = np.random.default_rng(0)
    sci = (rng.normal(0, 0.01, (2048, 2048)) + rng.normal(0, 0.02, 2048)[None, :]).astype(
        np.float32)
    primary = fits.PrimaryHDU()
    primary.header["DETECTOR"] = "NRS1"
    primary.header["EXP_TYPE"] = "NRS_IFU"
    first = folder / "f000_rate.fits"
    fits.HDUList([primary, fits.ImageHDU(sci, name="SCI"),
                  fits.ImageHDU(np.zeros(sci.shape, np.uint32), name="DQ")]).writeto(first)
    paths = [first]
    for i in range(1, count):
        paths.append(folder / f"f{i:03d}_rate.fits")
        shutil.copyfile(first, paths[-1])
    return paths


def _copy_like_cleaner(source: Path) -> None:
    from app.core.files.products import read_product, write_cleaned

    product = read_product(source)
    write_cleaned(product, product.sci, source.with_name(source.stem + "_io.fits"), {})


def _io_only(paths: list[Path]) -> float:
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_copy_like_cleaner, paths))
    return time.perf_counter() - start


def _cli(*args: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app.cli", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--dask", action="store_true", help="also time --scheduler")
    args = parser.parse_args()
    from app.core.mask.formats import write_nsclean_fits

    print(load_average())
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        folder = Path(tmp)
        paths = _write_inputs(folder, args.files)
        mask = np.ones((2048, 2048), bool)
        mask[900:1000] = False
        mask_path = write_nsclean_fits(folder / "mask.fits", mask)
        io_s = _io_only(paths)
        for p in folder.glob("*_io.fits"):
            p.unlink()
        files = [str(p) for p in paths]
        clean_s = _cli("clean", *files, "--mask", str(mask_path), "-j", "2", "--overwrite")
        print(f"{args.files} full-frame rate files: read+write only (2 processes) {io_s:.1f} s; "
              f"nsclean clean -j 2 {clean_s:.1f} s (target <= 15 s for 100: "
              f"{'ok' if clean_s * 100 / args.files <= 15 else 'MISSED'})")
        if args.dask:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster:
                dask_s = _cli("clean", *files, "--mask", str(mask_path), "--overwrite",
                              "--scheduler", cluster.scheduler_address)
            print(f"  nsclean clean --scheduler (LocalCluster, 2 workers) {dask_s:.1f} s")
    print(load_average())
    return 0


if __name__ == "__main__":
    sys.exit(main())
