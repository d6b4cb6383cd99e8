"""``nsclean clean``: clean many rate/rateints/cal files with one mask, in parallel."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from app.cli.progress import Progress, one_line
from app.cli.signals import (
    STOP_SIGNALS,
    Terminated,
    detach_stdout,
    ignored_signals,
    install_worker_handlers,
    watch_parent,
)
from app.core.errors import InputError, MaskError, MaskShapeError, NSCleanError

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


# Worker-process state: the mask is sent once per process, not once per file.
_WORKER: dict[str, object] = {}


def _init_worker(mask, params, detector, mask_name, overwrite, tune=None,
                 checks=None, save=()) -> None:
    from app.core.perf import tune_allocator

    tune_allocator()
    _WORKER.update(mask=mask, params=params, detector=detector, mask_name=mask_name,
                   overwrite=overwrite, tune=tune, checks=checks or {}, save=save)


def _init_pool_worker(stop, ignored, *init) -> None:
    """Initialise a worker process of ``-j N``; ``stop`` is set when the user interrupts.

    The worker was started with the stop signals blocked (so that a Ctrl-C while it
    imports prints no traceback); from now on Ctrl-C, SIGTERM and SIGHUP (unless the
    parent ignores them: ``ignored``) stop the file being cleaned, whose temporary output
    is then removed, but never the pool's own loop, which would print a traceback. If
    the parent dies without stopping it, the worker does the same and exits.
    """
    _init_worker(*init)
    _WORKER.update(stop=stop, busy=False, interrupted=False)
    install_worker_handlers(_worker_interrupt, ignored)
    sys.unraisablehook = _worker_unraisable
    detach_stdout()
    watch_parent(_interrupt_worker, lambda: bool(_WORKER.get("busy")))
    _set_stop_blocked(False)  # a signal pending since the start only marks us interrupted


def _worker_unraisable(unraisable) -> None:
    """An interrupt that landed in a finaliser (an astropy ``__del__``) would be printed
    as "Exception ignored" with a traceback, and lost: raise it again instead."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _WORKER["interrupted"] = False
        _interrupt_worker()
        return
    sys.__unraisablehook__(unraisable)


def _interrupt_worker() -> None:
    """Stop this worker's file as a signal would (from the parent-watching thread)."""
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is _worker_interrupt:
            # a real signal: it also wakes a main thread waiting on the engine's threads
            os.kill(os.getpid(), signum)  # the handler marks us interrupted
            return
    _WORKER["interrupted"] = True


def _worker_interrupt(signum, frame) -> None:
    # Raise once: a second SIGINT (the terminal's and the parent's) must not cut short
    # the clean-up of the first, which removes the temporary output.
    first = not _WORKER.get("interrupted")
    _WORKER["interrupted"] = True
    if first and _WORKER.get("busy"):
        raise KeyboardInterrupt


def _clean_in_pool(source: Path, target: Path) -> tuple[str, list[str]]:
    """:func:`_clean_one` in a worker; ("cancelled", []) once the user has interrupted."""
    stop = _WORKER.get("stop")
    if _WORKER.get("interrupted") or (stop is not None and stop.is_set()):
        return "cancelled", []
    _WORKER["busy"] = True
    try:
        return _clean_one(source, target)
    except KeyboardInterrupt:
        _WORKER["interrupted"] = True
        return "cancelled", []
    finally:
        _WORKER["busy"] = False


def _clean_one(source: Path, target: Path) -> tuple[str, list[str]]:
    """Clean one file in a worker; return ("ok"|"error", messages)."""
    from app.core.files.batch import clean_file

    params, notes = _WORKER["params"], []
    try:
        checks = _WORKER.get("checks") or {}
        if _WORKER.get("tune") is not None:  # --tune: settings of the cross-validation
            from app.cli.tune import tune_file
            # not tuned on a file that is then refused
            refuse_input(source, checks, _WORKER["detector"], _WORKER["mask_name"])
            params, notes = tune_file(source, _WORKER["mask"], params, _WORKER["detector"],
                                      _WORKER["tune"])
        result = clean_file(source, _WORKER["mask"], target, params=params,
                            detector=_WORKER["detector"], mask_name=_WORKER["mask_name"],
                            overwrite=_WORKER["overwrite"], save=_WORKER.get("save", ()),
                            **checks)
    except MaskShapeError as exc:  # the same for every file of that shape: said once
        mask = "×".join(map(str, exc.mask_shape))
        image = "×".join(map(str, exc.image_shape))
        return "mask-shape", [f"{_WORKER['mask_name']}: the mask is {mask} pixels, which does "
                              f"not match {source} ({image})",
                              f"image {image}, not the mask's {mask}"]
    except NSCleanError as exc:
        return "error", [str(exc)]
    except OSError as exc:  # the file system refused: say which file and why
        return "error", [f"{source}: {exc.strerror or exc}"]
    except Exception as exc:  # a bug must not stop the other files or print a traceback
        return "error", [f"{source}: internal error ({type(exc).__name__}: {exc})"]
    return "ok", notes + _line_warnings(source, result.diagnostics) + _dq_warning(result)


def _dq_warning(result) -> list[str]:
    """A product without DQ (cut at an HDU boundary?) cleans with DO_NOT_USE unknown."""
    product = getattr(result, "product", None)  # a ramp's result has its GROUPDQ instead
    if product is None or product.dq is not None:
        return []
    return [f"{product.path}: warning: no DQ extension, so DO_NOT_USE pixels could not be "
            "kept out of the background (is the file cut short?)"]


def refuse_input(source: Path, checks: dict, detector: str | None, mask_name: str) -> None:
    """The refusals of :func:`~app.core.files.batch.clean_file` before any tuning: a file
    cleaned already, a mask made for the other detector (reads only the headers)."""
    from app.core.files.frames import refuse_cleaned
    from app.core.files.safe import primary_header
    from app.core.mask.detector import check_mask_detector

    try:  # bounded: a FIFO, /dev/zero or a header without END is refused at once
        header = primary_header(source)
    except NSCleanError:
        return  # unreadable: the cleaning reports it with the full reason
    refuse_cleaned(source, header, checks.get("force", False))
    detector = detector or header.get("DETECTOR")
    check_mask_detector(checks.get("mask_detector"), detector, mask_name=mask_name,
                        image_name=str(source), override="pass --any-mask-detector",
                        allow=checks.get("any_mask_detector", False))


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


def _line_warnings(source: Path, diagnostics) -> list[str]:
    """Warnings about lines left uncleaned or fitted by their mean level, one per distinct
    set of lines: a rateints file usually repeats the same lines in every integration."""
    groups: dict[tuple[str, tuple[int, ...], int], list[int]] = {}
    for i, diag in enumerate(diagnostics):
        for kind, lines in (("unfit", diag.unfit_lines), ("reduced", diag.reduced_lines)):
            if len(lines):
                key = (kind, tuple(int(line) for line in lines), diag.min_samples)
                groups.setdefault(key, []).append(i + 1)
    warnings = []
    for (kind, lines, min_samples), integrations in groups.items():
        where = _which_integrations(integrations, len(diagnostics))
        count = (f"{len(lines)} detector lines have" if len(lines) > 1
                 else "1 detector line has")
        if kind == "unfit":
            what = (f"{count} fewer than {min_samples} background samples and "
                    f"{'were' if len(lines) > 1 else 'was'} not fitted (buffing gives "
                    f"{'them' if len(lines) > 1 else 'it'} part of the neighbours' model)")
        else:
            what = (f"{count} {'their' if len(lines) > 1 else 'its'} background in too few "
                    "places for the Fourier fit; only the mean level was removed")
        warnings.append(f"{source}{where}: warning: {what} (lines {_ranges(lines)})")
    return warnings


def _which_integrations(integrations: list[int], total: int) -> str:
    """Text naming the integrations (1-based) a warning is about, after the file name."""
    if total == 1:
        return ""
    if len(integrations) == total:
        return f" (all {total} integrations)"
    return f" integration{'s' if len(integrations) > 1 else ''} {_ranges(integrations)}"


def _start_pool(workers: int, init: tuple, jobs: list[tuple[Path, Path]]):
    """Start ``workers`` processes and submit every job; return (pool, futures, stop)."""
    # "spawn", not fork: the parent already runs BLAS and sorting threads, and a forked
    # child can inherit one of their locks held, and hang.
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    ignored = ignored_signals()  # before the handlers below hide an inherited SIG_IGN
    # Workers are spawned by submit() and inherit the main thread's blocked stop signals
    # until they are initialised. A signal meanwhile (delivered to any of our threads) is
    # only recorded: raised inside submit() it would leave a worker half started, and
    # orphaned.
    received: list[int] = []
    previous = {signum: signal.signal(signum, lambda number, frame: received.append(number))
                for signum in STOP_SIGNALS if signum not in ignored}
    _set_stop_blocked(True)
    try:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker,
                                   initargs=(stop, ignored, *init))
        futures = [pool.submit(_clean_in_pool, source, target) for source, target in jobs]
    finally:
        _set_stop_blocked(False)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        _stop_pool(pool, futures, stop)
        raise KeyboardInterrupt if received[0] == signal.SIGINT else Terminated(received[0])
    return pool, futures, stop


def _set_stop_blocked(blocked: bool) -> None:
    if hasattr(signal, "pthread_sigmask"):  # not on Windows
        signal.pthread_sigmask(signal.SIG_BLOCK if blocked else signal.SIG_UNBLOCK,
                               set(STOP_SIGNALS))


def _stop_pool(pool: ProcessPoolExecutor, futures, stop) -> None:
    """After Ctrl-C: start no other file, interrupt the ones being cleaned, wait for them."""
    stop.set()
    for future in futures:
        future.cancel()
    # A terminal's Ctrl-C reached the workers too; a signal sent to this process alone is
    # passed on as SIGTERM, which workers heed even when they inherited SIGINT ignored
    # (the executor keeps its processes in a private dict: no public access).
    # Not on Windows: there os.kill(pid, SIGINT) is TerminateProcess, which would kill a
    # worker mid-write and leave its temporary file; the console's Ctrl-C reaches them.
    processes = [] if sys.platform == "win32" else list(getattr(pool, "_processes", {}).values())
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            os.kill(process.pid, signal.SIGTERM)
    pool.shutdown(wait=True, cancel_futures=True)


def _cluster_outcomes(args: argparse.Namespace, client, jobs: list[tuple[Path, Path]], mask,
                      params, save: tuple[str, ...]):
    """(status, messages) of each job, cleaned on the dask cluster of ``client``."""
    from app.core.files.cluster import clean_on_cluster

    def outcomes():
        try:
            for source, _target, status, detail in clean_on_cluster(
                    jobs, mask, client, params=params, detector=args.detector,
                    mask_name=str(args.mask), overwrite=args.overwrite, save=save):
                yield status, (_line_warnings(source, detail) if status == "ok"
                               else [str(detail)])
        finally:
            client.close()

    return outcomes()


def _ranges(lines) -> str:
    parts, start, prev = [], None, None
    for line in [*list(lines), None]:
        if start is None:
            start = prev = line
        elif line is not None and line == prev + 1:
            prev = line
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = line
    return ", ".join(parts[:8]) + (" ..." if len(parts) > 8 else "")


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
        outcomes = _cluster_outcomes(args, client, jobs, mask, params, save)
    elif workers == 1:
        _init_worker(*init)
        outcomes = (_clean_one(s, t) for s, t in jobs)
    else:
        pool, futures, stop = _start_pool(workers, init, jobs)
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
            _stop_pool(pool, futures, stop)
        raise
    progress.close()
    if pool is not None:
        pool.shutdown()
    if failures:
        progress.message(f"nsclean: {failures} of {total} files failed")
    return 1 if failures else 0
