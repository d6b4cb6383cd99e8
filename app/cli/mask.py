"""``nsclean mask``: make a background mask from rate files by thresholding their traces."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.core.threshold.traces import ThresholdSettings

HELP = """\
Threshold the spectral traces of one or many rate/rateints files into a background mask
(1 = background), with the same code as the GUI's threshold tool. The files are combined
first (every integration of every file, ignoring NaN and DO_NOT_USE pixels). Correlated
read noise (banding, picture frame) is fitted and removed before thresholding, so it is
not mistaken for light. The mask is written atomically; the coverage of every detector
line is printed, with the lines NSClean cannot fit.
"""



def smoothing(text: str) -> tuple[str, float | None]:
    """Parse ``KIND`` or ``KIND:SIZE`` (``gaussian:0.7``, ``median:2``, ``none``)."""
    from app.core.threshold.traces import SMOOTHING

    kind, _, size = text.partition(":")
    kind = kind.strip().lower()
    if kind not in SMOOTHING:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected {', '.join(SMOOTHING)}, optionally with :SIZE")
    if not size:
        return kind, None
    try:
        value = float(size)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the size must be a number") from None
    return kind, value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``nsclean mask``."""
    from app.core.files.stack import COMBINE_METHODS
    from app.core.mask.format_table import MASK_FORMATS, cli_help
    from app.core.threshold.traces import ThresholdSettings

    d = ThresholdSettings()
    p = subparsers.add_parser("mask", help="make a background mask by thresholding the traces",
                              description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="rate/rateints files")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="MASK",
                   help="mask file to write (" + ", ".join(sorted(
                       {s for f in MASK_FORMATS.values() for s in f.suffixes})) + ")")
    p.add_argument("--format", choices=tuple(MASK_FORMATS), default=None, help=cli_help())
    p.add_argument("--overwrite", action="store_true", help="replace MASK if it exists")
    p.add_argument("--force", action="store_true",
                   help="accept files nsclean-gui cleaned already (NSC_* keywords)")
    p.add_argument("--combine", choices=tuple(COMBINE_METHODS), default="mean",
                   help="how several frames are combined per pixel (default mean)")
    p.add_argument("--detector", choices=("NRS1", "NRS2"), type=str.upper, default=None,
                   help="override the DETECTOR header keyword")
    p.add_argument("--published-fit", choices=("safe", "as-is"), default="safe",
                   help="safe (default): remedy the lines where the published fit (jwst "
                        "NSClean, NSClean 1.x) would be unstable, by borrowing background "
                        "from neighbouring lines and dropping orphan samples; as-is: "
                        "write the threshold as it is and only report those lines")
    g = p.add_argument_group("threshold")
    g.add_argument("--sigma", type=float, default=d.sigma, metavar="S",
                   help="light is what rises S sigma above the background (default %(default)s)")
    g.add_argument("--smooth", type=smoothing, default=(d.smoothing, None),
                   metavar="KIND[:SIZE]",
                   help=f"gaussian, median or none; SIZE = sigma or half-width across the "
                        f"dispersion in pixels (default gaussian:{d.smooth_size:g})")
    g.add_argument("--elongation", type=float, default=d.elongation, metavar="E",
                   help="the smoothing is E times longer along the dispersion "
                        "(default %(default)s)")
    g.add_argument("--grow", type=int, default=d.grow, metavar="N",
                   help="pixels added around faint light (default %(default)s)")
    g.add_argument("--bright-grow", type=int, default=d.bright_grow, metavar="N",
                   help="pixels added around light brighter than --bright-sigma "
                        "(default %(default)s)")
    g.add_argument("--bright-sigma", type=float, default=d.bright_sigma, metavar="S",
                   help="level (sigma) above which light counts as bright (default %(default)s)")
    g.add_argument("--min-size", type=int, default=d.min_size, metavar="PX",
                   help="light regions smaller than PX pixels are noise (default %(default)s)")
    g.add_argument("--low-sigma", type=float, default=d.low_sigma, metavar="S",
                   help="pixels S sigma below the background (negative nod traces, bad "
                        "pixels) are not background either; 0 disables (default %(default)s)")
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> ThresholdSettings:
    """Build :class:`~app.core.threshold.traces.ThresholdSettings` from options (validated)."""
    from app.core.threshold.traces import ThresholdSettings

    kind, size = args.smooth
    base = ThresholdSettings()
    return ThresholdSettings(
        sigma=args.sigma, smoothing=kind,
        smooth_size=base.smooth_size if size is None else size,
        elongation=args.elongation, grow=args.grow, bright_grow=args.bright_grow,
        bright_sigma=args.bright_sigma, min_size=args.min_size, low_sigma=args.low_sigma,
    ).validated()


def check_output(path: Path, kind: str | None, inputs: list[Path], overwrite: bool) -> str:
    """The mask format to write ``path`` as; refuse names that would lose data.

    Raises :class:`~app.core.errors.InputError` when the name does not suit the format,
    names a folder or one of the input files (never replaced, even with ``--overwrite``),
    or exists already without ``overwrite``.
    """
    from app.core.errors import InputError
    from app.core.files.atomic import folder_problem
    from app.core.mask.format_table import MASK_FORMATS, format_for_name

    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    folder = path.parent if str(path.parent) else Path(".")
    if problem := folder_problem(folder):  # before the thresholding, not 13 s after
        raise InputError(f"{path}: cannot write into {folder}: {problem}")
    name = path.name.lower()
    kind = kind or format_for_name(name)
    wanted = MASK_FORMATS[kind].suffixes
    if not name.endswith(wanted):
        raise InputError(f"{path}: a {kind} mask needs a name ending in {' or '.join(wanted)}")
    target = path.resolve()
    for source in inputs:
        if source.resolve() == target or (path.exists() and source.exists()
                                          and path.samefile(source)):
            raise InputError(f"{path}: is one of the input files; choose another name")
    if path.exists() and not overwrite:
        raise InputError(f"{path}: exists already (pass --overwrite to replace it)")
    return kind


def run(args: argparse.Namespace) -> int:
    """Combine, threshold, write the mask and print the coverage summary."""
    import numpy as np

    from app.core.errors import InputError
    from app.core.files.products import read_product, resolve_detector
    from app.core.files.stack import combine
    from app.core.mask.coverage import line_coverage
    from app.core.mask.format_table import write_mask
    from app.core.threshold.traces import Thresholder

    settings = settings_from_args(args)
    kind = check_output(args.output, args.format, list(args.files), args.overwrite)
    from app.core.files.frames import refuse_cleaned

    products = [read_product(path) for path in args.files]
    for product in products:  # thresholds a residual: say so unless asked for
        refuse_cleaned(product.path, product.primary_header, args.force,
                       "pass --force to threshold it anyway")
    detector = resolve_detector(products[0], args.detector)
    image = combine(products, args.combine)  # checks that detectors and shapes match
    nframes = sum(p.nints for p in products)
    try:
        result = Thresholder(image).threshold(settings).check()
    except InputError as exc:  # name the files: the message alone says what, not where
        where = products[0].path.name + (f" and {len(products) - 1} more" if
                                         len(products) > 1 else "")
        raise InputError(f"{where}: {exc}") from None
    mask = result.background
    safety = None
    if args.published_fit == "safe":  # lines the published fit cannot handle: remedied
        from app.core.mask.safe import make_safe

        safety = make_safe(mask, detector, allowed=result.usable & ~result.low, image=image)
        mask = safety.mask
    from app.core.mask.published import provenance_cards, published_fit

    published = published_fit(mask, detector, image=image)
    cards, notes = provenance_cards(published)
    sources = ", ".join(p.path.name for p in products)
    extra = {
        "NSC_SRC": (products[0].path.name[:68], "image the mask was made from"),
        "NSC_NSRC": (len(products), "number of files combined"),
        "NSC_THR": (settings.sigma, "threshold in sigma above the background"),
        "NSC_GROW": (settings.grow, "pixels grown around faint light"),
        **cards,
    }
    history = [f"nsclean mask from {len(products)} file(s), {nframes} frame(s) "
               f"({args.combine}): {sources}"[:2000],
               "settings: " + ", ".join(f"{k}={v}" for k, v in settings.as_dict().items()),
               *([safety.summary()] if safety is not None else []), *notes]
    # each format's writer takes those of these options that apply to it
    write_mask(args.output, mask, kind, extra=extra, overwrite=args.overwrite, history=history,
               detector=detector)
    share = 100.0 * np.count_nonzero(mask) / mask.size
    print(f"wrote {args.output} ({kind}): background {share:.1f}% of pixels, "
          f"{result.regions} light region{'' if result.regions == 1 else 's'} above "
          f"{settings.sigma:g} sigma "
          f"(noise {result.noise:.3g} after smoothing), from {nframes} frame(s)")
    if safety is not None:
        print(safety.summary())
    print(line_coverage(mask, detector, image=image).summary())
    print(published.summary())
    return 0

