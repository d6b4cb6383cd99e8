"""The one table of cleaning parameters: name, unit, default, range, help, keyword.

Every :class:`~app.core.clean.CleanParams` field is described here once; the CLI's help
(``nsclean clean``), the Cleaning form's labels, ranges and tooltips, the Auto-tune titles
and the provenance keywords written into cleaned files (``NSC_*``) are made from it. The
default is the dataclass's own; :meth:`~app.core.clean.CleanParams.validated` stays the
authority on what is accepted (a test checks that every range here is accepted there).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from app.core.clean import CleanParams


@dataclass(frozen=True)
class Parameter:
    """One cleaning parameter.

    Attributes
    ----------
    name : str
        The :class:`CleanParams` field (``--name-with-dashes`` on the command line).
    label : str
        Short human name (form, tune plots).
    unit : str
        Unit of the value as stored and as the CLI takes it ("" for none).
    low, high : float or None
        The range offered (None: not a number).
    help : str
        One or two sentences: what it does (CLI help, form tooltip).
    keyword : str
        FITS keyword recording it in a cleaned file ("" for none).
    comment : str
        That keyword's comment.
    """

    name: str
    label: str
    unit: str
    low: float | None
    high: float | None
    help: str
    keyword: str = ""
    comment: str = ""

    @property
    def default(self) -> object:
        """The published default (:class:`CleanParams`'s)."""
        return getattr(CleanParams(), self.name)


PARAMETERS: dict[str, Parameter] = {p.name: p for p in (
    Parameter("method", "Method", "", None, None,
              "fft: NSClean's Fourier fit (subarrays use its subarray variant); median: "
              "subtract each detector line's background median (a baseline); time: fit each "
              "line in read time with the four outputs together (timing from READPATT).",
              "NSC_METH", "nsclean-gui cleaning method"),
    Parameter("fc", "Cut-off fc", "cycles per pixel", 0.5 / 2048, 128 / 2048,
              "Half-power frequency of the low-pass filter along a detector line: banding "
              "that varies more slowly than 1/fc pixels is modelled. The default 1/256 keeps "
              "8 cycles per 2048-pixel line.",
              "NSC_FC", "[1/pixel] low-pass half-power frequency"),
    Parameter("kw", "Roll-off kw", "cycles per pixel", 0.0, 64 / 2048,
              "Width of the filter's cosine roll-off around fc; none = fc/4 (the published "
              "default), 0 = a hard cut.",
              "NSC_KW", "[1/pixel] low-pass roll-off width"),
    Parameter("sigrej", "Outlier rejection", "σ", 1.0, 20.0,
              "Background samples farther than this many σ (1.4826 × MAD) from their line's "
              "median are replaced by the median before the fit (cosmic rays, hot pixels).",
              "NSC_SREJ", "outlier rejection threshold [sigma]"),
    Parameter("weight_sigma", "Weight σ", "px", 1.0, 512.0,
              "σ of the Gaussian that measures the density of background samples along a "
              "line; samples are weighted by its reciprocal so that large dark areas do not "
              "dominate.", "NSC_WSIG", "[pixel] weight density kernel sigma"),
    Parameter("buff", "Buffing", "", None, None,
              "Smooth the fitted model across neighbouring lines (the dispersion direction) "
              "before subtracting it.", "NSC_BUFF", "model smoothed across lines (buffing)"),
    Parameter("buff_sigma", "Buffing σ", "lines", 0.1, 20.0,
              "σ of the smoothing of the model across neighbouring lines (DMS columns).",
              "NSC_BSIG", "[line] buffing kernel sigma"),
    Parameter("legacy_kernels", "Legacy kernels", "", None, None,
              "Reproduce the published implementations' off-by-one kernels (for comparison "
              "with the JWST pipeline only).", "NSC_LEGK", "legacy (off-by-one) kernels used"),
    Parameter("background", "Background level", "", None, None,
              "Level removed before the fit and restored after: the median of the "
              "background pixels, none, a median image across integrations (time series) "
              "or a coarse 2-D model (photutils Background2D).",
              "NSC_BKG", "background level removed and restored"),
    Parameter("by_channel", "Median per channel", "", None, None,
              "Median method: one median per 512-pixel readout channel of each line."),
    Parameter("fit", "Fit", "", None, None,
              "Full-frame least squares: complex (the published fit) or real (cos/sin "
              "series, unbiased on lines with gaps).",
              "NSC_FIT", "least squares: complex (published) or real"),
    Parameter("ridge", "1/f prior strength", "", 0.0, 100.0,
              "Real fit: strength of a 1/f prior on the Fourier amplitudes; keeps high fc "
              "stable across gaps (0: none).",
              "NSC_RIDG", "real fit: strength of the 1/f amplitude prior"),
    Parameter("harmonics", "Harmonics", "", 4, 64,
              "Read-time fit: Fourier terms of the noise series shared by the four outputs "
              "(24 ≈ one cycle per 37 ticks with IRS², about 27 pixels of each output).",
              "NSC_HARM", "time fit: harmonics of the common series"),
    Parameter("time_ridge", "Read-time 1/f prior", "", 0.1, 100.0,
              "Read-time fit: strength of the 1/f prior that keeps the series stable where "
              "no output sees background.", "NSC_TRDG", "time fit: 1/f prior strength"),
    Parameter("output_terms", "Output terms", "", 0, 16,
              "Read-time fit: harmonics of each output's own series besides its offset.",
              "NSC_OTRM", "time fit: harmonics of each output's series"),
    Parameter("time_weighted", "Read-time weights", "", None, None,
              "Read-time fit: weight the samples as NSClean does (weight σ); off by default, "
              "as the density weights left more banding under the traces.",
              "NSC_TWGT", "time fit: NSClean density weights used"),
    Parameter("n_sigma", "Residual-signal clip", "σ", 0.0, 10.0,
              "Background samples beyond this many σ of the image's background (centre and "
              "σ from its lower half, mirrored) are dropped as residual signal before the "
              "fit; 0 = off.", "NSC_NSIG", "residual signal clipped beyond [sigma]; 0 = off"),
    Parameter("fit_histogram", "Histogram σ", "", None, None,
              "With the residual-signal clip: centre and σ from a Gaussian fitted to the "
              "histogram.", "NSC_FHST", "clip statistics from a histogram fit"),
    Parameter("background_box_size", "Background box", "px", None, None,
              "Model background: box size (y, x) of the 2-D background."),
    Parameter("subarray_fc", "Subarray filter", "Hz", None, None,
              "Subarray fit: apodizer corners (unity below the first, roll-off to the "
              "second, zero to the third, roll-on to the fourth)."),
    Parameter("like_pipeline", "Like the pipeline", "", None, None,
              "Clean each image as the pipeline step clean_flicker_noise does with a user "
              "mask (with legacy kernels and n_sigma 2: --like-pipeline).",
              "NSC_LIKP", "cleaned like the pipeline step"),
)}


def cli_help(name: str, default: str | None = None) -> str:
    """The ``--help`` text of parameter ``name``: its help, unit and default."""
    p = PARAMETERS[name]
    shown = default if default is not None else f"{p.default}"
    unit = f"{p.unit}, " if p.unit else ""
    return f"{p.help} ({unit}default {shown})".replace("%", "%%")


def provenance_cards(params: CleanParams) -> dict[str, tuple[object, str]]:
    """The ``NSC_*`` keywords recording ``params`` (kw as used: fc/4 when none)."""
    cards: dict[str, tuple[object, str]] = {}
    for p in PARAMETERS.values():
        if p.keyword:
            value = params.kill_width if p.name == "kw" else getattr(params, p.name)
            cards[p.keyword] = (value, p.comment)
    return cards


def history_text(params: CleanParams) -> str:
    """``fc=0.00390625, kw=…`` for a HISTORY line (every parameter)."""
    values = {f.name: getattr(params, f.name) for f in fields(params)}
    values["kw"] = params.kill_width
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in values.items())
