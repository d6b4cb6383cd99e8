"""``nsclean simulate``: write a simulated NIRSpec exposure with its truth."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = """\
Simulate a NIRSpec count-rate exposure (DN/s, DMS orientation) with correlated read
noise made in time order like an H2RG reads it (1/f common to the four outputs plus
per-output 1/f, the outputs' fast-scan directions alternating, 12-tick line overhead or,
with --readpatt NRSIRS2/NRSIRS2RAPID, IRS2 timing with interleaved reference pixels,
alternating column noise, picture frame, white noise) on top of a noise-free scene with
hot pixels, cosmic-ray residuals, snowballs and NaN/DO_NOT_USE pixels. One integration
gives a *_rate-like file (2-D SCI), more give a *_rateints-like file. Besides SCI, ERR
and DQ the file holds the truth:
  TRUTH_SCENE  noise-free scene (2-D)
  TRUTH_NOISE  injected correlated noise (what NSClean should remove), shaped like SCI
  TRUTH_CR     cosmic-ray residuals and snowballs, shaped like SCI
  TRUTH_MASK   ideal background mask, uint8, 1 = background
A perfect cleaner returns SCI - TRUTH_NOISE. The same arguments always give the same file.

With --ngroups N (2 or more) a *_ramp-like file is written instead: SCI (nints, N, y, x)
in DN, where the scene accumulates from read to read and every read carries its own
correlated and white noise; cosmic-ray jumps flagged JUMP_DET in GROUPDQ; PIXELDQ. Its
truth is TRUTH_SLOPE (the fitted slope without correlated noise), TRUTH_NOISE_SLOPE and
TRUTH_MASK.
"""

_SUBSIZES = (32, 512)
READPATTS = ("NRSIRS2RAPID", "NRSIRS2", "NRSRAPID", "NRS", "NRSRAPIDD1", "NRSRAPIDD2",
             "NRSRAPIDD6")


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _positive_int(text: str) -> int:
    value = _nonnegative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``nsclean simulate``."""
    from app.core.simulation.scene import SCENES

    p = subparsers.add_parser(
        "simulate",
        help="write a simulated exposure with known truth (demo and test data)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--scene", choices=SCENES, type=str.lower, default="ifu",
                   help="ifu: 30 curved slices; mos: many short slitlets; fs: fixed slits; "
                        "bots: one bright trace in a 2048-wide subarray (default ifu)")
    p.add_argument("--detector", choices=("NRS1", "NRS2"), type=str.upper, default="NRS1",
                   help="detector (decides how readout time maps onto the image; default NRS1)")
    p.add_argument("--nints", type=_positive_int, default=1, metavar="N",
                   help="integrations; more than 1 writes a rateints-like cube (default 1)")
    p.add_argument("--ngroups", type=_positive_int, default=None, metavar="N",
                   help="write a ramp of N groups (N >= 2) per integration instead of a rate "
                        "image (see above)")
    p.add_argument("--seed", type=_nonnegative_int, default=0, metavar="S",
                   help="random seed (default 0)")
    p.add_argument("--subsize", type=int, choices=_SUBSIZES, default=None, metavar="ROWS",
                   help="bots only: subarray height, 32 (SUB2048, default) or 512 (SUBARRAY = "
                        "GENERIC: NIRSpec has no named 2048×512 subarray)")
    p.add_argument("--readpatt", type=str.upper, default=None, metavar="PATTERN",
                   choices=READPATTS,
                   help="readout pattern (header READPATT), which fixes when each pixel is "
                        "read: NRSIRS2RAPID or NRSIRS2 (IRS2, interleaved reference pixels; "
                        "full frame only) or a traditional one (NRSRAPID, NRS); default "
                        "NRSIRS2RAPID for full frames, NRSRAPID for subarrays")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                   help="FITS file to write, e.g. sim_ifu_nrs1_rate.fits")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Simulate and write; return 0 on success (errors raise InputError)."""
    from app.core.errors import InputError
    from app.core.orientation import naxis_text
    from app.core.simulation.noise import FULL_SIZE
    from app.core.simulation.simulate import simulate_exposure, write_simulation

    output: Path = args.output
    if args.subsize is not None and args.scene != "bots":
        raise InputError(f"--subsize applies to --scene bots only, not {args.scene}")
    if output.is_dir():
        raise InputError(f"{output}: is a folder; give a file name")
    if output.exists() and not args.overwrite:
        raise InputError(f"{output}: exists already (pass --overwrite to replace it)")
    if not output.name.lower().endswith((".fits", ".fits.gz")):
        raise InputError(f"{output}: the output name must end in .fits or .fits.gz")
    shape = (args.subsize, FULL_SIZE) if args.subsize is not None else None
    if args.ngroups is not None:
        return _run_ramp(args, shape)
    sim = simulate_exposure(args.scene, args.detector, nints=args.nints, seed=args.seed,
                            shape=shape, readpatt=args.readpatt)
    write_simulation(sim, output, overwrite=args.overwrite)
    kind = "rateints" if sim.product.is_cube else "rate"
    readpatt = sim.product.primary_header["READPATT"]
    print(f"wrote {output}: {args.scene} {args.detector} {kind}, {args.nints} integration(s) "
          f"of {naxis_text(sim.product.shape)} (NAXIS1×NAXIS2), {readpatt}, seed {args.seed}; "
          "truth in TRUTH_SCENE/NOISE/CR/MASK")
    return 0


def _run_ramp(args: argparse.Namespace, shape: tuple[int, int] | None) -> int:
    """``--ngroups``: simulate and write a ramp."""
    from app.core.simulation.ramp import simulate_ramp, write_ramp_simulation

    sim = simulate_ramp(args.scene, args.detector, nints=args.nints, ngroups=args.ngroups,
                        seed=args.seed, shape=shape, readpatt=args.readpatt)
    write_ramp_simulation(sim, args.output, overwrite=args.overwrite)
    nints, ngroups, ny, nx = sim.sci.shape
    print(f"wrote {args.output}: {args.scene} {args.detector} ramp, {nints} integration(s) of "
          f"{ngroups} groups of {ny}×{nx}, seed {args.seed}; truth in "
          "TRUTH_SLOPE/NOISE_SLOPE/MASK")
    return 0
