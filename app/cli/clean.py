"""``nsclean clean``: clean many rate/rateints/cal files with one mask, in parallel.

The options and :func:`run` are here; the workers that clean each file (in processes, in
this process or on a cluster) are in :mod:`app.cli.clean_workers`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.cli import clean_workers
from app.cli.progress import Progress, one_line
from app.core.errors import InputError, MaskError

HELP = """\
Fit NSClean's model of the correlated read noise to the background pixels of each file
(the mask) and subtract it. Inputs are never modified: each cleaned file is written, with
all HDUs and headers of its input plus provenance keywords (NSC_*), as
<name><suffix>.fits beside the input or in -o DIR.

Ramps (*_ramp.fits, 4-D SCI with GROUPDQ) are cleaned as the pipeline's
clean_flicker_noise step does in stage 1: each group difference is cleaned (pixels
flagged DO_NOT_USE or JUMP_DET in the later group are not background there) and added
to the previous cleaned group; the first group of each integration is kept as read.
"""


def frequency(text: str) -> float:
    """Parse a frequency in cycles per pixel: a number or a fraction (``1/256``)."""
    numerator, slash, denominator = text.partition("/")
    try:
        value = float(numerator) / float(denominator) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number or a fraction such as 1/256") from None
    return value


def add_cleaning_options(parser: argparse.ArgumentParser) -> None:
    """Add the cleaning parameters (shared with other subcommands)."""
    from app.core.clean import BACKGROUNDS, CleanParams
    from app.core.parameters import cli_help

    d = CleanParams()
    h = cli_help  # the descriptions live in one table (app.core.parameters)
    g = parser.add_argument_group("cleaning parameters")
    g.add_argument("--method", "--fit-method", dest="method",
                   choices=("fft", "median", "time"), default=d.method, help=h("method"))
    g.add_argument("--fc", type=frequency, default=d.fc, metavar="F",
                   help=h("fc", "1/256") + "; a number or a fraction such as 1/128")
    g.add_argument("--kw", type=frequency, default=None, metavar="W", help=h("kw", "fc/4"))
    g.add_argument("--sigrej", type=float, default=d.sigrej, metavar="S", help=h("sigrej"))
    g.add_argument("--weight-sigma", type=float, default=d.weight_sigma, metavar="PX",
                   help=h("weight_sigma"))
    g.add_argument("--no-buff", dest="buff", action="store_false",
                   help="switch buffing off. " + h("buff", "on"))
    g.add_argument("--buff-sigma", type=float, default=d.buff_sigma, metavar="LINES",
                   help=h("buff_sigma"))
    g.add_argument("--legacy-kernels", action="store_true", help=h("legacy_kernels", "off"))
    g.add_argument("--background", "--background-method", dest="background",
                   choices=BACKGROUNDS, default=d.background, help=h("background"))
    g.add_argument("--background-box-size", type=int, nargs=2, default=None,
                   metavar=("Y", "X"), help=h("background_box_size",
                                               "the largest side <= 32 dividing the image"))
    g.add_argument("--n-sigma", type=float, default=None, metavar="N",
                   help=h("n_sigma", "0; 2 with --like-pipeline"))
    g.add_argument("--fit-histogram", action="store_true", help=h("fit_histogram", "off"))
    g.add_argument("--subarray-fc", type=float, nargs=4, default=None,
                   metavar=("F1", "F2", "F3", "F4"),
                   help=h("subarray_fc", "the pipeline's, 150 200 49943 49957 for ALLSLITS, "
                                         "1061 1211 49943 49957 otherwise"))
    g.add_argument("--like-pipeline", action="store_true", help=h("like_pipeline", "off"))
    g.add_argument("--by-channel", "--fit-by-channel", dest="by_channel", action="store_true",
                   help=h("by_channel", "off"))
    g.add_argument("--fit", choices=("complex", "real"), default=d.fit, help=h("fit"))
    g.add_argument("--ridge", type=float, default=d.ridge, metavar="R", help=h("ridge"))
    g.add_argument("--harmonics", type=int, default=d.harmonics, metavar="K",
                   help=h("harmonics"))
    g.add_argument("--time-ridge", type=float, default=d.time_ridge, metavar="R",
                   help=h("time_ridge"))
    g.add_argument("--output-terms", type=int, default=d.output_terms, metavar="L",
                   help=h("output_terms"))
    g.add_argument("--time-weighted", action="store_true", help=h("time_weighted", "off"))
    g.add_argument("--detector", choices=("NRS1", "NRS2"), type=str.upper, default=None,
                   help="override the DETECTOR header keyword")


def add_input_checks(parser: argparse.ArgumentParser) -> None:
    """``--force`` and ``--any-mask-detector`` (shared by clean and tune)."""
    parser.add_argument("--force", action="store_true",
                        help="accept a file nsclean-gui cleaned already (NSC_* keywords)")
    parser.add_argument("--any-mask-detector", action="store_true",
                        help="use a mask whose DETECTOR is not the file's (refused otherwise)")


def params_from_args(args: argparse.Namespace):
    """Build :class:`~app.core.clean.CleanParams` from parsed options (validated)."""
    from dataclasses import replace

    from app.core.clean import CleanParams

    like = getattr(args, "like_pipeline", False)
    base = CleanParams.pipeline() if like else CleanParams()
    n_sigma = getattr(args, "n_sigma", None)
    box = getattr(args, "background_box_size", None)
    fc = getattr(args, "subarray_fc", None)
    return replace(base, method=args.method, fc=args.fc, kw=args.kw, sigrej=args.sigrej,
                   weight_sigma=args.weight_sigma, buff=args.buff,
                   buff_sigma=args.buff_sigma, legacy_kernels=args.legacy_kernels or like,
                   background=args.background, by_channel=args.by_channel,
                   fit=args.fit, ridge=args.ridge, harmonics=args.harmonics,
                   time_ridge=args.time_ridge, output_terms=args.output_terms,
                   time_weighted=args.time_weighted,
                   n_sigma=base.n_sigma if n_sigma is None else n_sigma,
                   fit_histogram=getattr(args, "fit_histogram", False),
                   background_box_size=None if box is None else tuple(box),
                   subarray_fc=None if fc is None else tuple(fc)).validated()


def add_parser(subparsers) -> None:
    """Register ``nsclean clean``."""
    p = subparsers.add_parser("clean", help="clean rate/rateints/cal/ramp files with a mask",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="input FITS products")
    p.add_argument("--mask", required=True, type=Path,
                   help="background mask: NSClean FITS, JWST ImageModel/CubeModel, or GIMP PNG")
    p.add_argument("--mask-plane", type=int, default=None, metavar="N",
                   help="plane of a CubeModel mask to use for every integration, counted "
                        "from 0 as in NumPy (plane 0 is the first); without it, plane i "
                        "cleans integration i (the mask must have one plane per integration)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output-dir", type=Path, default=None, metavar="DIR",
                     help="write cleaned files here (default: beside each input)")
    p.add_argument("--suffix", default="_nsclean",
                   help="added to each output name before .fits (default %(default)s)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="files cleaned in parallel (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="clean the files on the dask.distributed cluster whose scheduler is "
                        "at ADDRESS (e.g. tcp://host:8786; needs dask[distributed] and the "
                        "files at the same paths on the workers) instead of -j processes")
    d = p.add_argument_group("diagnostic products (as the pipeline step writes them, beside "
                             "each output)")
    d.add_argument("--save-mask", action="store_true",
                   help="write the mask used: <name>_mask.fits (ImageModel, or CubeModel "
                        "with one plane per integration)")
    d.add_argument("--save-background", action="store_true",
                   help="write the background level removed before each fit and restored: "
                        "<name>_flicker_bkg.fits, shaped like SCI")
    d.add_argument("--save-noise", action="store_true",
                   help="write the noise removed (cleaned - input): "
                        "<name>_flicker_noise.fits, shaped like SCI")
    add_cleaning_options(p)
    add_input_checks(p)
    from app.cli.tune import add_clean_tune_options

    add_clean_tune_options(p)
    p.set_defaults(func=run)


def published_note(name: Path, mask, detector: str | None, files: list[Path]) -> str | None:
    """What the published fit (jwst NSClean, NSClean 1.x) would make of the mask, when it
    is unstable on some lines: the mask is likely to be reused in the pipeline."""
    from astropy.io import fits

    from app.core.mask.published import published_fit

    if mask.shape != (2048, 2048):
        return None
    if detector is None:
        for path in files:  # the first readable header that names one
            try:
                detector = str(fits.getval(path, "DETECTOR")).strip().upper()
                break
            except (OSError, KeyError, ValueError):
                continue
    if detector not in ("NRS1", "NRS2"):
        return None
    fit = published_fit(mask, detector)
    if fit.stable:
        return None
    return (f"{name}: {fit.summary()}; our cleaning fits these lines by their mean level "
            "where needed, but the mask is unsafe for the JWST pipeline as it is")


def _output_refusal(source: Path, target: Path, unwritable: dict[Path, str],
                    overwrite: bool) -> str | None:
    """Why ``target`` cannot be written (its folder, or an existing file), or None."""
    from app.core.files.batch import exists_message

    if target.parent in unwritable:
        return (f"{source}: cannot write {target.name} into {target.parent}: "
                f"{unwritable[target.parent]}")
    if not overwrite and target.exists():
        return exists_message(target)
    return None


def run(args: argparse.Namespace) -> int:
    """Clean every file; return 0 if all succeeded, 1 otherwise."""
    from app.cli.tune import settings_from_args, tune_first
    from app.core.files.atomic import folder_problem, remove_leftovers
    from app.core.files.batch import check_suffix, name_problem, output_path
    from app.core.mask.formats import read_mask

    params = params_from_args(args)
    if args.scheduler and (args.tune or args.tune_once):
        raise InputError("--scheduler cleans with the given parameters; --tune and "
                         "--tune-once run on this machine only")
    tune = settings_from_args(args) if args.tune or args.tune_once else None
    if args.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {args.jobs}")
    check_suffix(args.suffix)
    if args.output_dir is not None and (problem := folder_problem(args.output_dir)):
        if args.output_dir.is_file():
            problem = "is a file; -o takes the folder to write into"
        raise InputError(f"{args.output_dir}: {problem}")
    # a CubeModel mask without --mask-plane: plane i for integration i of every file
    mask_read = read_mask(args.mask, args.mask_plane, all_planes=True)
    mask = mask_read.mask
    checks = {"mask_detector": mask_read.detector, "any_mask_detector": args.any_mask_detector,
              "force": args.force}
    if not mask.any():  # say it once, of the mask, rather than once per file
        raise MaskError(f"{args.mask}: the mask has no background pixel (all 0); nothing "
                        "could be fitted")
    note = published_note(args.mask, mask, mask_read.detector or args.detector, args.files)
    if note:
        print(f"nsclean: note: {note}", file=sys.stderr)
    jobs, named = [], {}
    seen = set()
    for source in args.files:
        target = output_path(source, args.output_dir, args.suffix)
        if problem := name_problem(source, target):  # the others are still cleaned
            named[source, target] = problem
            continue
        if target.resolve() == source.resolve() or target in seen:
            raise InputError(f"{source}: output name {target} would overwrite an input or "
                             "another output; choose another --suffix or -o")
        seen.add(target)
        jobs.append((source, target))
    # Outputs that cannot be written fail anyway: say so before any cleaning or tuning
    # spends time on their inputs.
    unwritable = {folder: problem for folder in {t.parent for _s, t in jobs}
                  if (problem := folder_problem(folder))}
    for folder in {t.parent for _s, t in jobs} - unwritable.keys():
        remove_leftovers(folder)  # temporary files of runs killed outright (SIGKILL)
    total = len(args.files)
    refusals = {job: _output_refusal(*job, unwritable, args.overwrite) for job in jobs}
    for refusal in [*named.values(), *filter(None, refusals.values())]:
        print(one_line(f"nsclean: error: {refusal}"), file=sys.stderr)
    jobs = [job for job, refusal in refusals.items() if not refusal]
    if not jobs:
        print(f"nsclean: {total} of {total} files failed", file=sys.stderr)
        return 1
    if args.tune_once:  # the first file that can be tuned decides for all
        params, notes = tune_first(args.files, mask, params, args.detector, tune)
        print("\n".join(one_line(f"nsclean: {text}") for text in notes), file=sys.stderr)
        tune = None
    client = None
    if args.scheduler:  # an unreachable scheduler is one error, before any file
        from app.core.files.cluster import connect

        client = connect(args.scheduler)
    progress = Progress(len(jobs))
    failures = total - len(jobs)
    save = tuple(kind for kind in ("mask", "background", "noise")
                 if getattr(args, f"save_{kind}"))
    init = (mask, params, args.detector, str(args.mask), args.overwrite, tune, checks, save)
    cpus = os.cpu_count() or 1
    if args.jobs > cpus and not args.scheduler:  # more processes than CPUs only compete
        print(f"nsclean: note: -j {args.jobs} but this machine has {cpus} CPU(s); using "
              f"{cpus}", file=sys.stderr)
    workers = min(args.jobs, len(jobs), cpus)
    pool = None
    if args.scheduler:
        outcomes = clean_workers.cluster_outcomes(args, client, jobs, mask, params, save)
    elif workers == 1:
        clean_workers.init_worker(*init)
        outcomes = (clean_workers.clean_one(s, t) for s, t in jobs)
    else:
        pool, futures, stop = clean_workers.start_pool(workers, init, jobs)
        outcomes = (future.result() for future in futures)
    shapes: set[str] = set()
    try:
        for (source, target), (status, messages) in zip(jobs, outcomes, strict=True):
            failed = "FAILED"
            if status == "mask-shape":
                text, failed = messages[0], f"FAILED ({messages[1]})"
                messages = [] if failed in shapes else [text]
                shapes.add(failed)
            for text in messages:
                progress.message(f"nsclean: {'error: ' if status != 'ok' else ''}{text}")
            failures += status != "ok"
            if status == "ok":
                progress.advance(str(source), target=str(target))
            else:
                progress.advance(str(source), failed)
    except KeyboardInterrupt:
        progress.close()
        if pool is not None:  # no new file is started; the ones being written are removed
            clean_workers.stop_pool(pool, futures, stop)
        raise
    progress.close()
    if pool is not None:
        pool.shutdown()
    if failures:
        progress.message(f"nsclean: {failures} of {total} files failed")
    return 1 if failures else 0
