"""``nsclean tune``: choose cleaning parameters for one file by cross-validation.

Also the helpers behind ``nsclean clean --tune`` (every file tuned on itself) and
``--tune-once`` (the first file's choice used for all).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from app.core.errors import InputError

HELP = """\
Hold out tiles of background pixels, fit the noise model on the rest, and score how well
it predicts the held-out pixels; search fc, kw, the fit (published complex or real with a
1/f prior), buffing, weight sigma and sigrej one at a time. Prints the score of every value
tried (the banding left in the held-out tiles: each tile's mean prediction error, squared,
averaged over the held-out samples, (DN/s)^2, with its standard error; * = kept) and the
options to pass to `nsclean clean`. The starting values are the cleaning options given
here (defaults if none). Rateints files are tuned on one integration (--integration).
"""


def add_tune_settings(parser: argparse.ArgumentParser) -> None:
    """Options of the cross-validation itself (shared with ``nsclean clean --tune``)."""
    from app.core.tuning.tune import TuneSettings

    d = TuneSettings()
    g = parser.add_argument_group("auto-tune")
    g.add_argument("--tune-rule", choices=("min", "1se"), default=d.rule,
                   help="min: keep each parameter's best-scoring value; 1se: change a value "
                        "only when the best beats it by more than one standard error "
                        "(default %(default)s)")
    g.add_argument("--tune-folds", type=int, default=d.folds, metavar="K",
                   help=f"held-out folds scored, each 1/{d.groups} of the background "
                        "(default %(default)s)")
    g.add_argument("--tune-lines", type=int, default=d.line_stride, metavar="N",
                   help=f"tune on every N-th run of {d.line_run} lines (1 = all lines, "
                        "slower; default %(default)s)")
    g.add_argument("--tune-seed", type=int, default=d.seed, metavar="S",
                   help="seed of the random held-out tiles (default %(default)s)")


def add_clean_tune_options(parser: argparse.ArgumentParser) -> None:
    """``--tune`` / ``--tune-once`` and the tuning settings, for ``nsclean clean``."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--tune", action="store_true",
                       help="choose the parameters of every file by cross-validation on its "
                            "own background (a few seconds per file); the cleaning options "
                            "are the starting point")
    which.add_argument("--tune-once", action="store_true",
                       help="tune on the first FILE (the first that can be tuned) and clean "
                            "every file with that choice (same parameters for a set of "
                            "exposures)")
    add_tune_settings(parser)


def settings_from_args(args: argparse.Namespace):
    """:class:`~app.core.tuning.tune.TuneSettings` from parsed options (validated)."""
    from app.core.tuning.tune import TuneSettings

    return replace(TuneSettings(), rule=args.tune_rule, folds=args.tune_folds,
                   line_stride=args.tune_lines, seed=args.tune_seed).validated()


def tune_integration(product, mask, start, detector: str | None, settings,
                     integration: int = 0, progress=None):
    """Tune on one integration of a read product; return the :class:`TuneResult`.

    ``integration`` is 0-based; ``progress(fraction, message)`` is called as it goes.
    Raises :class:`InputError` (``NotEnoughBackground`` included) when it cannot tune.
    """
    from app.core.errors import MaskError
    from app.core.files.products import resolve_detector
    from app.core.tuning.tune import iter_tune

    if not 0 <= integration < product.nints:
        raise InputError(f"{product.path}: the integration must be 1 to {product.nints}")
    if mask.shape != product.shape:
        raise MaskError(f"{product.path}: mask shape {mask.shape} does not match the image "
                        f"shape {product.shape}")
    dq = None if product.dq is None else product.dq[integration]
    name = resolve_detector(product, detector)
    gen = iter_tune(product.sci[integration], mask, name, dq=dq, start=start,
                    settings=settings, readpatt=product.readpatt)
    while True:
        try:
            fraction, message = next(gen)
        except StopIteration as stop:
            return stop.value
        except InputError as exc:  # the engine says what is wrong, not with which file
            raise type(exc)(f"{product.path}: {exc}") from None
        if progress is not None:
            progress(fraction, message)


def _tune_source(source: Path, mask, start, detector: str | None, settings):
    """``(TuneResult or None, message)`` for the first integration of a file."""
    from app.core.files.products import read_product

    try:
        result = tune_integration(read_product(source), mask, start, detector, settings)
    except InputError as exc:
        reason = str(exc).removeprefix(f"{source}: ")  # name the file once
        return None, f"{source}: warning: not tuned, keeping the given parameters: {reason}"
    return result, (f"{source}: tuned in {result.elapsed:.1f} s: {options_text(result.best)}"
                    f" (held-out error {100 * result.improvement:.1f} % below the start)")


def tune_file(source: Path, mask, start, detector: str | None, settings):
    """Tune on the first integration of a file; return ``(params, messages)``.

    When the file cannot be tuned (too little background, a subarray, the median
    method, an unreadable file) ``start`` comes back unchanged with a warning: cleaning
    goes on with it (and reports an unreadable file itself).
    """
    result, message = _tune_source(source, mask, start, detector, settings)
    return (start if result is None else result.best), [message]


def tune_first(sources, mask, start, detector: str | None, settings):
    """``--tune-once``: tune on the first of ``sources`` that can be tuned.

    Returns ``(params, messages)``: ``start`` and every reason when none can be.
    """
    notes: list[str] = []
    for source in sources:
        result, message = _tune_source(source, mask, start, detector, settings)
        notes.append(message)
        if result is not None:
            return result.best, notes
    return start, notes


def options_text(params) -> str:
    """The ``nsclean clean`` options that reproduce the fitted part of ``params``."""
    if params.method == "time":
        return (f"--method time --harmonics {params.harmonics} --output-terms "
                f"{params.output_terms} --time-ridge {params.time_ridge:g} "
                f"--sigrej {params.sigrej:g}")
    parts = [f"--fc {params.fc:.6g}", f"--kw {params.kill_width:.6g}", f"--fit {params.fit}"]
    if params.fit == "real":
        parts.append(f"--ridge {params.ridge:g}")
    parts.append(f"--buff-sigma {params.buff_sigma:g}" if params.buff else "--no-buff")
    parts += [f"--weight-sigma {params.weight_sigma:g}", f"--sigrej {params.sigrej:g}"]
    return " ".join(parts)


def add_parser(subparsers) -> None:
    """Register ``nsclean tune``."""
    from app.cli.clean import add_cleaning_options, add_input_checks

    p = subparsers.add_parser("tune", help="choose cleaning parameters by cross-validation",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", type=Path, metavar="FILE", help="input FITS product (full frame)")
    p.add_argument("--mask", required=True, type=Path,
                   help="background mask: NSClean FITS, JWST ImageModel/CubeModel, or GIMP PNG")
    p.add_argument("--mask-plane", type=int, default=None, metavar="N",
                   help="plane of a CubeModel mask to use, counted from 0 as in "
                        "NumPy (plane 0 is the first; --integration counts from 1)")
    p.add_argument("--integration", type=int, default=1, metavar="I",
                   help="integration of a rateints file to tune on, counted from 1 "
                        "as the pipeline's INT_NUM (default 1, the first; --mask-plane "
                        "counts from 0)")
    p.add_argument("--json", action="store_true",
                   help="print the result as JSON instead of a table")
    add_tune_settings(p)
    add_cleaning_options(p)
    add_input_checks(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Tune one file and print the score table (exit 1, via the error, if it cannot)."""
    from app.cli.clean import params_from_args
    from app.core.files.products import read_product, resolve_detector
    from app.core.mask.formats import read_mask

    start = params_from_args(args)
    settings = settings_from_args(args)
    from app.core.files.frames import refuse_cleaned
    from app.core.mask.detector import check_mask_detector

    mask_read = read_mask(args.mask, args.mask_plane)
    mask = mask_read.mask
    product = read_product(args.file)
    refuse_cleaned(product.path, product.primary_header, args.force,
                   "pass --force to tune on it anyway")
    check_mask_detector(mask_read.detector, resolve_detector(product, args.detector),
                        mask_name=str(args.mask), image_name=str(args.file),
                        override="pass --any-mask-detector", allow=args.any_mask_detector)
    tty = sys.stderr.isatty()

    def show(fraction: float, message: str) -> None:
        if tty:
            sys.stderr.write(f"\r\033[Ktuning {100 * fraction:3.0f} % {message}")
            sys.stderr.flush()

    try:
        result = tune_integration(product, mask, start, args.detector, settings,
                                  args.integration - 1, show)
    finally:
        if tty:
            sys.stderr.write("\r\033[K")
    if args.json:
        print(json.dumps(result_dict(result), indent=1))
    else:
        name = resolve_detector(product, args.detector)
        print(format_table(result, f"{args.file} ({name}, integration {args.integration}), "
                                   f"mask {args.mask}"))
    return 0


def result_dict(result) -> dict:
    """A JSON-ready summary of a :class:`~app.core.tuning.tune.TuneResult`."""
    return {
        "best": result.best.as_dict(), "start": result.start.as_dict(),
        "best_score": [result.best_score.mean, result.best_score.error],
        "start_score": [result.start_score.mean, result.start_score.error],
        "elapsed_s": result.elapsed, "held_out_fraction": result.held_out_fraction,
        "scored_samples": result.scored_samples,
        "stages": [{"parameter": s.name, "values": s.values, "scores": s.scores,
                    "errors": s.errors, "paired_errors": s.diff_errors,
                    "chosen": s.values[s.chosen]} for s in result.stages],
        "options": options_text(result.best),
    }


def format_table(result, title: str) -> str:
    """The score of every value tried, stage by stage, and the chosen options."""
    lines = [
        f"nsclean tune: {title}",
        f"held out {100 * result.held_out_fraction:.1f} % of the background per fold; "
        f"{result.scored_samples} held-out samples scored; {result.elapsed:.1f} s",
        "score = squared mean prediction error of each held-out tile, per sample, (DN/s)^2;",
        "paired s.e. = standard error of the difference from the stage's best; * = kept",
        "",
        f"{'parameter':<13} {'value':>10} {'score':>11} {'s.e.':>9} {'vs best':>10} "
        f"{'paired s.e.':>11}",
    ]
    for stage in result.stages:
        best = min(stage.scores)
        for i, value in enumerate(stage.values):
            mark = "*" if i == stage.chosen else " "
            lines.append(
                f"{stage.name:<13} {_value_text(stage.name, value):>10} "
                f"{stage.scores[i]:11.4e} {stage.errors[i]:9.2e} "
                f"{stage.scores[i] - best:+10.2e} {stage.diff_errors[i]:11.2e} {mark}")
        lines.append("")
    lines += [
        f"start:  score {result.start_score.mean:.4e} ± {result.start_score.error:.1e}",
        f"chosen: score {result.best_score.mean:.4e} ± {result.best_score.error:.1e} "
        f"({100 * result.improvement:.1f} % lower)",
        f"options for nsclean clean: {options_text(result.best)}",
    ]
    return "\n".join(lines)


def _value_text(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if name == "fc":
        return f"1/{1 / float(value):.0f}"
    if name == "kw":
        return f"{float(value):g}·fc"
    if name == "buff_sigma" and float(value) == 0:
        return "off"
    return f"{float(value):g}"
