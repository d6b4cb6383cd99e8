"""Choose NSClean's parameters by cross-validation on the background pixels.

The model is fit to background samples; background samples that were *not* fit tell how
well it predicts the noise where it is not fit (under the spectra). So the background is
cut into tiles of ``block_rows`` samples along a line × ``block_lines`` neighbouring
lines (spectral traces cross many neighbouring lines at the same rows, so a held-out
tile imitates a trace and buffing cannot borrow the held-out rows from the next line).
Each tile belongs to one of ``groups`` groups at random; in fold ``f`` group ``f`` is
held out (1/``groups`` of the background, 1/6 by default), the model is fit on the rest
(held-out samples get weight zero) and scored on the held-out samples::

    score = Σ (d − model)² / N   over held-out samples (N of them) of the used folds

Held-out samples farther than ``score_clip`` σ (1.4826 × MAD of the line's training
samples) from the line's median are not scored, so a cosmic ray cannot decide the
ranking; the white noise adds the same floor to every candidate. The uncertainty is the
standard error over (fold, group of lines) units; differences between candidates use the
paired standard error, which is much smaller because the floor cancels.

The search is a coordinate line search from the starting parameters: buffing, fit,
fc, kw, weight σ, sigrej, then buffing again. Then the model itself is chosen by the
data: the tuned NSClean fit ("fft") against the read-time fit ("time",
:mod:`app.core.engine.time_fit`) on the same held-out samples; if "time" scores lower it
is kept and its 1/f prior, per-output terms and harmonics are searched in turn. (A
search that starts from "time" compares the methods first and searches the winner.)
Every NSClean fit and score is computed from lag sums
(:mod:`app.core.engine.fourier_real`) that are shared between candidates, so a candidate
costs one batched solve per fold, and a buffing candidate nothing more than a smoothing
of coefficients. Implementation in :mod:`app.core.tuning.cv`; this module is the API.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field, replace

import numpy as np

from app.core.clean import FULL_FRAME, CleanParams, check_inputs, usable_background
from app.core.errors import InputError
from app.core.generators import run_to_end
from app.core.tuning.cv import CrossValidation, NotEnoughBackground, Score

__all__ = ["NotEnoughBackground", "Stage", "TuneResult", "TuneSettings", "iter_tune", "tune"]


@dataclass(frozen=True)
class TuneSettings:
    """How the cross-validation and the search run.

    Attributes
    ----------
    groups : int
        Tiles are split into this many groups; each fold holds one group out.
    folds : int
        Folds evaluated (≤ ``groups``): ``folds/groups`` of the background is scored.
    block_rows, block_lines : int
        Tile size: samples along a line × neighbouring lines.
    score_clip : float
        Held-out samples beyond this many σ of their line's median are not scored.
    score : {"banding", "mse"}
        "banding": the residuals of each held-out block (one line × one tile) are
        averaged first, so the score measures the slowly varying error that cleaning is
        for, and white noise adds only σ²/(block size). "mse": plain squared error.
    rule : {"min", "1se"}
        "min": in each stage, the value with the lowest score. "1se": keep the current
        value unless the lowest score beats it by more than one paired standard error;
        then take, among the values within one paired standard error of the lowest,
        the smoothest model (lowest fc or kw, strongest prior; the lowest score for the
        other parameters).
    seed : int
        Seed of the random tile assignment (the result is deterministic).
    line_run, line_stride : int
        Tune on every ``line_stride``-th run of ``line_run`` neighbouring lines (stride 1:
        all lines). Lines are fit independently, so this divides the cost; the default
        (6 runs of 128 lines, 3/8 of the frame) chose as well as every other run did on
        the simulated scenes of bench/bench_tune.py, 25 % faster.
    fc_grid, kw_ratios, buff_sigmas, weight_sigmas, sigrejs : tuple
        Candidate values; kw as multiples of fc; buffing σ in lines (0 = off).
    fits : tuple of str
        Fit variants to compare: "complex" (the published maths) and "real" (unbiased
        on lines with gaps, with a 1/f prior of strength ``ridge``).
    ridges : tuple of float
        Candidate strengths of the 1/f prior of the real fit.
    prior : float
        Prior strength the "real" candidate starts from when the current ridge is 0.
    methods : tuple of str
        Models compared in the "method" stage: "fft" (NSClean) and "time" (the
        read-time fit); ``("fft",)`` tunes NSClean only.
    time_ridges, output_terms, harmonics : tuple
        Candidate values of the read-time fit's parameters.
    """

    groups: int = 6
    folds: int = 2
    block_rows: int = 24
    block_lines: int = 16
    score_clip: float = 5.0
    score: str = "banding"
    rule: str = "min"
    seed: int = 0
    line_run: int = 128
    line_stride: int = 3
    fc_grid: tuple[float, ...] = (1 / 512, 1 / 384, 1 / 256, 1 / 192, 1 / 128, 1 / 96,
                                  1 / 64, 1 / 48)
    kw_ratios: tuple[float, ...] = (0.0, 0.25, 0.5)
    buff_sigmas: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 3.0)
    weight_sigmas: tuple[float, ...] = (8.0, 16.0, 32.0, 64.0, 128.0)
    sigrejs: tuple[float, ...] = (2.5, 3.0, 4.0, 6.0)
    fits: tuple[str, ...] = ("complex", "real")
    ridges: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0)
    prior: float = 10.0
    methods: tuple[str, ...] = ("fft", "time")
    time_ridges: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)
    output_terms: tuple[int, ...] = (1, 2, 3, 5)
    harmonics: tuple[int, ...] = (16, 24, 32)

    def validated(self) -> TuneSettings:
        """Return self after checking ranges; raise :class:`InputError` with the reason."""
        if not 1 <= self.folds <= self.groups or self.groups < 2:
            raise InputError(f"need 2 ≤ groups and 1 ≤ folds ≤ groups, got {self.groups}, "
                             f"{self.folds}")
        if min(self.block_rows, self.block_lines, self.line_run, self.line_stride) < 1 \
                or not self.score_clip > 0:
            raise InputError("block sizes, line runs and score_clip must be positive")
        if self.score not in ("banding", "mse"):
            raise InputError(f"score must be 'banding' or 'mse', got {self.score!r}")
        if int(self.seed) != self.seed or self.seed < 0:  # numpy refuses negative seeds
            raise InputError(f"the seed must be a whole number ≥ 0, got {self.seed}")
        if self.rule not in ("min", "1se"):
            raise InputError(f"rule must be 'min' or '1se', got {self.rule!r}")
        if not self.methods or not set(self.methods) <= {"fft", "time"}:
            raise InputError(f"methods must be 'fft' and/or 'time', got {self.methods!r}")
        return self


@dataclass
class Stage:
    """One coordinate of the search: the score curve of one parameter.

    Attributes
    ----------
    name : str
        Parameter: "buff_sigma" (0 = no buffing), "fit", "fc", "kw", "weight_sigma",
        "sigrej"; "method" ("fft" or "time"); "time_ridge", "output_terms", "harmonics"
        (the read-time fit's).
    values : list
        Candidate values tried, in grid order (str for "fit", float otherwise).
    scores, errors : list of float
        Mean squared prediction error on held-out samples ((DN/s)²) and its standard error.
    diff_errors : list of float
        Paired standard error of each score's difference from the stage's minimum.
    chosen : int
        Index of the value kept.
    """

    name: str
    values: list
    scores: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    diff_errors: list[float] = field(default_factory=list)
    chosen: int = 0


@dataclass
class TuneResult:
    """What :func:`tune` found.

    Attributes
    ----------
    best, start : CleanParams
        Chosen parameters and the parameters the search started from.
    best_score, start_score : Score
        Cross-validated score (mean, standard error) of each.
    stages : list of Stage
        Score curves, in search order.
    elapsed : float
        Seconds.
    held_out_fraction : float
        Fraction of the usable background held out per fold.
    scored_samples : int
        Held-out samples scored over all folds.
    """

    best: CleanParams
    start: CleanParams
    best_score: Score
    start_score: Score
    stages: list[Stage]
    elapsed: float
    held_out_fraction: float
    scored_samples: int

    @property
    def improvement(self) -> float:
        """Relative drop of the score from the start to the best (0.1 = 10 % lower)."""
        return 1.0 - self.best_score.mean / self.start_score.mean

    def changes(self) -> dict[str, tuple[object, object]]:
        """Parameters that differ: ``name -> (start, best)``."""
        a, b = self.start.as_dict(), self.best.as_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def _settings_value(params: CleanParams, name: str) -> object:
    """The value of search coordinate ``name`` in ``params``."""
    if name == "buff_sigma":
        return params.buff_sigma if params.buff else 0.0
    if name == "kw":
        return params.kill_width / params.fc
    return getattr(params, name)


def _with_value(params: CleanParams, name: str, value: object, settings: TuneSettings
                ) -> CleanParams:
    """``params`` with search coordinate ``name`` set to ``value``."""
    if name == "buff_sigma":
        value = float(value)
        return replace(params, buff=value > 0, buff_sigma=value if value > 0 else
                       params.buff_sigma)
    if name == "kw":
        return replace(params, kw=float(value) * params.fc)
    if name == "fc":  # keep kw proportional to fc (the default kw is fc/4)
        return replace(params, fc=float(value), kw=params.kill_width / params.fc * float(value))
    if name == "fit":
        ridge = (params.ridge or settings.prior) if value == "real" else 0.0
        return replace(params, fit=str(value), ridge=ridge)
    if name == "method":
        return replace(params, method=str(value))
    if name in ("output_terms", "harmonics"):
        return replace(params, **{name: round(float(value))})
    return replace(params, **{name: float(value)})


def _grid(settings: TuneSettings, name: str, current: object) -> list:
    """Candidate values of ``name`` in order (simplest first), including ``current``."""
    grid = {"buff_sigma": settings.buff_sigmas, "fit": settings.fits, "fc": settings.fc_grid,
            "ridge": settings.ridges, "kw": settings.kw_ratios,
            "weight_sigma": settings.weight_sigmas, "sigrej": settings.sigrejs,
            "method": settings.methods, "time_ridge": settings.time_ridges,
            "output_terms": settings.output_terms, "harmonics": settings.harmonics}[name]
    values = list(grid)
    if isinstance(current, str):
        return values if current in values else [*values, current]
    if not np.isclose(values, float(current)).any():
        values = sorted([*values, float(current)])
    return values


def _index_of(values: list, current: object) -> int:
    if isinstance(current, str):
        return values.index(current)
    return int(np.argmin([abs(float(v) - float(current)) for v in values]))


#: Search order. Buffing comes first and last because it costs almost nothing (cached
#: solutions are only smoothed); weight σ and sigrej come before fc because they are
#: scored at the starting fc, where every solve is cheap, and hardly depend on it.
SEARCH = ("buff_sigma", "fit", "weight_sigma", "sigrej", "fc", "ridge", "kw", "buff_sigma")
#: The read-time fit's search, after the "method" stage chose it.
TIME_SEARCH = ("time_ridge", "output_terms", "harmonics")
#: Parameters whose whole (short) grid is scored; the others get a 1-D line search.
FULL_GRID = ("buff_sigma", "fit", "method")
#: Steps without improvement before a line search stops: the fc curve has shoulders
#: (the number of fitted frequencies grows in steps), the others are smooth.
PATIENCE = {"fc": 2}


def why_not_tunable(shape: tuple[int, ...], params: CleanParams) -> str | None:
    """Why these cleaning settings have nothing to tune on a frame of ``shape``, or None.

    Auto-tune searches the full-frame Fourier and read-time fits (centred kernels only):
    subarrays, the median method and the published (legacy) kernels have no parameters
    to search.
    """
    if params.method not in ("fft", "time") or tuple(shape) != FULL_FRAME \
            or params.legacy_kernels:
        return ("auto-tune applies to the full-frame Fourier fit (method fft or time, "
                "2048×2048, centred kernels); subarrays and the median method have no "
                "parameters to tune")
    return None


def search_order(start: CleanParams, settings: TuneSettings) -> tuple[str, ...]:
    """The stages before the method is chosen (the rest follows the choice)."""
    compare = ("method",) if len(settings.methods) > 1 else ()
    if start.method == "time":
        return compare
    return SEARCH + compare


def iter_tune(image: np.ndarray, mask: np.ndarray, detector: str = "NRS1", *,
              dq: np.ndarray | None = None, start: CleanParams | None = None,
              settings: TuneSettings | None = None, readpatt: str | None = None,
              ) -> Generator[tuple[float, str], None, TuneResult]:
    """Cross-validate cleaning parameters; a generator of ``(fraction, message)``.

    The generator's return value (``StopIteration.value``) is the :class:`TuneResult`;
    :func:`tune` runs it to the end. Closing the generator cancels the search.

    Parameters
    ----------
    image, mask, detector, dq
        As for :func:`app.core.clean.clean` (DMS orientation, full 2048×2048 frame).
    start : CleanParams, optional
        Starting parameters (default :class:`CleanParams`); values not searched (method,
        background, legacy kernels) are kept.
    settings : TuneSettings, optional
        Cross-validation and search settings.
    readpatt : str, optional
        The exposure's ``READPATT`` (the read-time fit's timing).

    Raises
    ------
    InputError
        For a subarray, the median method or legacy kernels (nothing to tune).
    NotEnoughBackground
        If too little background can be held out; the caller should keep ``start``.
    """
    began = time.perf_counter()
    start = (start or CleanParams()).validated()
    settings = (settings or TuneSettings()).validated()
    name = check_inputs(image, mask, detector)
    refusal = why_not_tunable(image.shape, start)
    if refusal:
        raise InputError(refusal)
    data = np.asarray(image, dtype=np.float32)
    usable = usable_background(data, mask, dq)
    level = float(np.median(data[usable])) if start.background == "median" and usable.any() \
        else 0.0
    yield 0.0, "holding out background tiles"
    cv = CrossValidation(data - np.float32(level), usable, name, settings, start, readpatt)
    current, current_score = start, cv.score(start)
    start_score = current_score
    stages: list[Stage] = []
    order = list(search_order(start, settings))
    step = 0
    while step < len(order):
        pname = order[step]
        step += 1
        if pname == "ridge" and current.fit != "real":
            continue  # the prior belongs to the real fit only
        values = _grid(settings, pname, _settings_value(current, pname))
        here = _index_of(values, _settings_value(current, pname))
        tried: dict[int, Score] = {here: current_score}
        for i in _candidates(pname, here, values, tried):
            yield ((step - 1 + len(tried) / (len(values) + 1)) / len(order),
                   f"{pname} = {_label(values[i])}")
            tried[i] = cv.score(_with_value(current, pname, values[i], settings))
        stage = _stage(pname, values, tried, here, cv, settings.rule)
        stages.append(stage)
        current = _with_value(current, pname, stage.values[stage.chosen], settings).validated()
        current_score = tried[values.index(stage.values[stage.chosen])]
        if pname == "method":  # search the chosen model's own parameters
            if current.method == "time":
                order += TIME_SEARCH
            elif start.method == "time":
                order += SEARCH
    yield 1.0, "done"
    return TuneResult(current, start, current_score, start_score, stages,
                      time.perf_counter() - began, cv.held_out_fraction, cv.scored_samples)


def _label(value: object) -> str:
    return value if isinstance(value, str) else f"{float(value):.4g}"


def _candidates(name: str, here: int, values: list, tried: dict[int, Score]
                ) -> Generator[int, None, None]:
    """Indices to score next: the whole grid, or a 1-D line search from ``here``.

    The line search walks each way from ``here`` and stops after :data:`PATIENCE`
    steps in a row that do not lower the best score so far (the caller fills ``tried``).
    """
    if name in FULL_GRID:
        yield from (i for i in range(len(values)) if i != here)
        return
    for step in (-1, 1):
        best = min(score.mean for score in tried.values())
        i, misses = here, 0
        while 0 <= i + step < len(values) and misses < PATIENCE.get(name, 1):
            i += step
            if i not in tried:
                yield i
            if tried[i].mean < best:
                best, misses = tried[i].mean, 0
            else:
                misses += 1


def _stage(name: str, values: list, tried: dict[int, Score], here: int,
           cv: CrossValidation, rule: str) -> Stage:
    """The score curve of one stage and the value chosen by ``rule``."""
    order = sorted(tried)
    results = [tried[i] for i in order]
    best = int(np.argmin([r.mean for r in results]))
    diffs = [cv.paired_error(r, results[best]) for r in results]
    chosen = best
    if rule == "1se":
        near = [i for i, r in enumerate(results) if r.mean <= results[best].mean + diffs[i]]
        current = order.index(here)
        if current in near:
            chosen = current
        elif name in SMOOTHEST:
            chosen = SMOOTHEST[name](near)
    return Stage(name, [values[i] for i in order], [r.mean for r in results],
                 [r.error for r in results], diffs, chosen)


#: Which of several equally good (ascending) grid positions is the smoothest model.
SMOOTHEST = {"fc": min, "kw": min, "ridge": max, "time_ridge": max, "output_terms": min,
             "harmonics": min}


def tune(image: np.ndarray, mask: np.ndarray, detector: str = "NRS1", *,
         dq: np.ndarray | None = None, start: CleanParams | None = None,
         settings: TuneSettings | None = None, readpatt: str | None = None) -> TuneResult:
    """Run :func:`iter_tune` to the end and return its :class:`TuneResult`."""
    return run_to_end(iter_tune(image, mask, detector, dq=dq, start=start, settings=settings,
                                readpatt=readpatt))
