"""Clean ramps (``*_ramp.fits``) group difference by group difference, as the pipeline's
``clean_flicker_noise`` step does in stage 1, before jump detection and ramp fitting.

A ramp holds SCI ``(nints, ngroups, ny, nx)`` in DN, GROUPDQ of the same shape and PIXELDQ
``(ny, nx)``. For every integration and every group ``j ≥ 1``:

1. the difference ``d = raw[j] − raw[j−1]`` is what the detector collected between the two
   reads, carrying the correlated noise of both;
2. ``d`` is cleaned with the background mask, minus the pixels flagged DO_NOT_USE or
   JUMP_DET in the GROUPDQ of group ``j`` (a jump in ``d`` is signal, not background);
3. ``out[j] = out[j−1] + cleaned d``: the cleaned difference is added to the previously
   *cleaned* group, so the noise removed from one difference stays removed from every
   later group.

The first group of each integration is kept as read: no difference precedes it, so
there is nothing to fit its noise against (the step does the same). Its 1/f noise is
common to every later group and cancels in the slope.

Memory: the file is read once (every HDU, SCI converted to float32 if it was not) and
SCI is cleaned in place, one integration at a time, holding only a few frames besides;
there is no second copy of the cube.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from astropy.io import fits

from app.core.clean import CleanParams, Diagnostics, clean
from app.core.errors import InputError, MaskError
from app.core.files.atomic import atomic_path
from app.core.files.frames import refuse_cleaned
from app.core.files.planes import check_mask_planes, mask_plane
from app.core.files.products import (
    DO_NOT_USE,
    Product,
    _read_hdul,
    resolve_detector,
    stamp_provenance,
)
from app.core.files.safe import open_regular
from app.core.files.stepoptions import (
    check_median_image,
    flux_scale,
    median_frames,
    params_for_file,
)
from app.core.generators import run_to_end
from app.core.mask.detector import check_mask_detector

#: GROUPDQ bit 2: a jump (cosmic ray) was detected in this group.
JUMP_DET = 4
#: Pixels with either flag in the later group's GROUPDQ are not background in a difference.
GROUP_EXCLUDED = DO_NOT_USE | JUMP_DET

#: Called after each group difference with (done, total); may raise to cancel.
StepCallback = Callable[[int, int], None]


@dataclass
class Ramp:
    """A ramp read into memory: every HDU, SCI as float32 ``(nints, ngroups, ny, nx)``.

    Attributes
    ----------
    path : Path
        The file it came from.
    hdul : astropy.io.fits.HDUList
        Every HDU of the file (closed on disk, data in memory); SCI is cleaned in place.
    """

    path: Path
    hdul: fits.HDUList

    @property
    def sci(self) -> np.ndarray:
        """SCI, float32, ``(nints, ngroups, ny, nx)``."""
        return self.hdul["SCI"].data

    @property
    def groupdq(self) -> np.ndarray:
        """GROUPDQ, the shape of SCI."""
        return self.hdul["GROUPDQ"].data

    @property
    def primary_header(self) -> fits.Header:
        """The primary header (DETECTOR, SUBARRAY, ...)."""
        return self.hdul[0].header

    @property
    def nints(self) -> int:
        """Number of integrations."""
        return int(self.sci.shape[0])

    @property
    def ngroups(self) -> int:
        """Groups per integration."""
        return int(self.sci.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)`` of one group."""
        return (int(self.sci.shape[2]), int(self.sci.shape[3]))

    # the same header keywords as a rate product's, read the same way
    detector = Product.detector
    readpatt = Product.readpatt

    def excluded(self, integration: int, group: int) -> np.ndarray:
        """Pixels that are not background in the difference ending at ``group``."""
        return (self.groupdq[integration, group] & GROUP_EXCLUDED) != 0


@dataclass
class RampResult:
    """The outcome of cleaning a ramp.

    ``diagnostics`` has one entry per integration: the lines left unfit (or fitted by
    their mean level only) in any of its group differences.
    """

    ramp: Ramp
    diagnostics: list[Diagnostics]
    detector: str
    skipped: list[tuple[int, int]] = field(default_factory=list)  # (int, group), 0-based


def is_ramp(path: str | Path) -> bool:
    """True if ``path`` is a FITS file whose SCI extension is 4-D (a ramp).

    Any problem reading the header answers False: the ordinary reader then gives the
    message about it.
    """
    try:
        open_regular(path).close()  # a FIFO or a device would block getheader
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = fits.getheader(path, "SCI")
        return int(header.get("NAXIS", 0)) == 4
    except Exception:
        return False


def read_ramp(path: str | Path) -> Ramp:
    """Read a ramp file, checking what cleaning needs.

    Raises
    ------
    InputError
        If SCI is not a 4-D numeric cube, GROUPDQ is missing or shaped unlike SCI, or
        there is a single group (no difference to clean).
    """
    path = Path(path)
    hdul = _read_hdul(path)
    try:
        sci = hdul["SCI"].data if "SCI" in hdul else None
        if sci is None or sci.ndim != 4 or not np.issubdtype(sci.dtype, np.number):
            found = "nothing" if sci is None else f"{sci.ndim}-D {sci.dtype}"
            raise InputError(f"{path}: a ramp's SCI must be a 4-D numeric cube, found {found}")
        if "GROUPDQ" not in hdul or hdul["GROUPDQ"].data is None:
            raise InputError(f"{path}: a ramp needs a GROUPDQ extension (to leave jumps out "
                             "of the background); none found")
        gdq = hdul["GROUPDQ"].data
        if gdq.shape != sci.shape:
            raise InputError(f"{path}: GROUPDQ shape {gdq.shape} does not match SCI shape "
                             f"{sci.shape}")
        if sci.shape[1] < 2:
            raise InputError(f"{path}: the ramp has {sci.shape[1]} group per integration; "
                             "cleaning needs at least 2 (it cleans group differences)")
        if sci.dtype.kind == "f" and sci.dtype.itemsize == 4:
            if not sci.dtype.isnative:  # FITS is big-endian: swap in place, no second cube
                sci.byteswap(inplace=True)
                hdul["SCI"].data = sci.view(sci.dtype.newbyteorder())
        else:  # integers (an uncalibrated ramp): cleaned values need float32
            hdul["SCI"].data = sci.astype(np.float32)
    except BaseException:
        hdul.close()
        raise
    return Ramp(path, hdul)


def clean_ramp(ramp: Ramp, mask: np.ndarray, params: CleanParams | None = None,
               detector: str | None = None, *, on_step: StepCallback | None = None,
               noise: np.ndarray | None = None, backgrounds: list | None = None
               ) -> RampResult:
    """Clean every group difference of ``ramp`` in place; see :func:`iter_clean_ramp`.

    ``on_step(done, total)`` is called after each group difference; raising from it stops
    the cleaning (the ramp is then partly cleaned: do not write it).
    """
    return _drain(iter_clean_ramp(ramp, mask, params, detector, noise=noise,
                                  backgrounds=backgrounds), on_step)


def _drain(steps: Generator[tuple[int, int], None, RampResult],
           on_step: StepCallback | None) -> RampResult:
    """Run a cleaning generator to its end, reporting each (done, total) step."""
    return run_to_end(steps, None if on_step is None else lambda step: on_step(*step))


def iter_clean_ramp(ramp: Ramp, mask: np.ndarray, params: CleanParams | None = None,
                    detector: str | None = None, *, noise: np.ndarray | None = None,
                    backgrounds: list | None = None
                    ) -> Generator[tuple[int, int], None, RampResult]:
    """Clean every group difference of ``ramp`` in place (see the module docstring).

    Parameters
    ----------
    ramp : Ramp
        Read with :func:`read_ramp`; its SCI is overwritten with the cleaned ramp.
    mask : ndarray of bool
        Background mask, DMS orientation: ``(ny, nx)``, or ``(nints, ny, nx)`` with one
        plane per integration.
    params : CleanParams, optional
        Cleaning parameters (defaults if omitted).
    detector : str, optional
        Overrides the DETECTOR keyword.
    noise : ndarray, optional
        If given (shaped like SCI, float32), receives the noise removed from each group
        (cleaned − as read; 0 in the first group).
    backgrounds : list, optional
        If given, receives ``((integration, group), level)`` for every cleaned group: the
        background level (a number, or an image) removed before its fit and restored.

    With ``background="median_image"`` every group, the first included, is cleaned
    directly against a median ramp across integrations, as the step does (no group
    differences then; GROUPDQ is not consulted).

    Yields
    ------
    tuple of int
        ``(done, total)`` group differences after each one (stop iterating to cancel).

    Returns
    -------
    RampResult
    """
    params = params_for_file(params or CleanParams(), ramp.primary_header)
    name = resolve_detector(ramp, detector)  # type: ignore[arg-type]  # duck-typed
    mask = np.asarray(mask)
    check_mask_planes(ramp.path, mask, ramp.nints, ramp.shape)
    check_median_image(ramp.path, params, ramp.nints)
    if params.background == "median_image":
        return (yield from _clean_against_median(ramp, mask, params, name, noise,
                                                 backgrounds))
    sci = ramp.sci
    total, done = ramp.nints * (ramp.ngroups - 1), 0
    diagnostics, skipped = [], []
    for i in range(ramp.nints):
        plane = np.asarray(mask_plane(mask, i), dtype=bool)
        previous_raw = np.array(sci[i, 0], dtype=np.float32)
        if noise is not None:
            noise[i, 0] = 0.0
        per_group = []
        for j in range(1, ramp.ngroups):
            raw = np.array(sci[i, j], dtype=np.float32)
            difference = raw - previous_raw
            level: float | np.ndarray = 0.0
            try:
                result = clean(difference, plane & ~ramp.excluded(i, j), name, params.method,
                               params=params, readpatt=ramp.readpatt)
                cleaned, level = result.cleaned, result.background
                per_group.append(result.diagnostics)
            except MaskError:  # nothing usable in this difference: keep it as measured
                cleaned = difference
                skipped.append((i, j))
            except InputError as exc:
                raise type(exc)(f"{ramp.path} integration {i + 1} group {j + 1}: {exc}"
                                ) from exc
            if backgrounds is not None:
                backgrounds.append(((i, j), level))
            np.add(sci[i, j - 1], cleaned, out=sci[i, j])
            if noise is not None:
                np.subtract(sci[i, j], raw, out=noise[i, j])
            previous_raw = raw
            done += 1
            yield done, total
        diagnostics.append(_merged(per_group))
    return RampResult(ramp, diagnostics, name, skipped)


def _clean_against_median(ramp: Ramp, mask: np.ndarray, params: CleanParams, name: str,
                          noise: np.ndarray | None, backgrounds: list | None
                          ) -> Generator[tuple[int, int], None, RampResult]:
    """``median_image``: each group minus the scaled median ramp, cleaned, restored."""
    sci = ramp.sci
    median = median_frames(sci)  # (ngroups, ny, nx): one integration's worth
    scale = flux_scale(sci[:, -1] - sci[:, 0])  # what each integration collected
    total, done, diagnostics = ramp.nints * ramp.ngroups, 0, []
    for i in range(ramp.nints):
        plane = np.asarray(mask_plane(mask, i), dtype=bool)
        per_group = []
        for j in range(ramp.ngroups):
            reference = np.float32(scale[i]) * median[j]
            raw = np.array(sci[i, j], dtype=np.float32)
            result = clean(raw - reference, plane, name, params.method, params=params,
                           readpatt=ramp.readpatt)
            np.add(result.cleaned, reference, out=sci[i, j])
            per_group.append(result.diagnostics)
            if noise is not None:
                np.subtract(sci[i, j], raw, out=noise[i, j])
            if backgrounds is not None:
                backgrounds.append(((i, j), reference))
            done += 1
            yield done, total
        diagnostics.append(_merged(per_group))
    return RampResult(ramp, diagnostics, name)


def _merged(per_group: list[Diagnostics]) -> Diagnostics:
    """One integration's diagnostics: lines unfit or reduced in any group difference."""
    if not per_group:
        return Diagnostics(np.zeros(0, np.int64), np.zeros(0, np.int64), 0, 0.0, "none")
    first = per_group[0]
    unfit = np.unique(np.concatenate([d.unfit_lines for d in per_group]))
    reduced = np.unique(np.concatenate([d.reduced_lines for d in per_group]))
    samples = np.min([d.samples_per_line for d in per_group], axis=0)
    return replace(first, samples_per_line=samples, unfit_lines=unfit,
                   reduced_lines=np.setdiff1d(reduced, unfit))


def write_ramp(ramp: Ramp, target: str | Path, provenance: dict[str, object],
               history: list[str] | None = None, *, overwrite: bool = False) -> Path:
    """Write the (cleaned) ramp with every HDU of its input, atomically.

    Raises
    ------
    InputError
        If ``target`` is the input file, or exists and ``overwrite`` is False.
    """
    target = Path(target)
    if target.resolve() == ramp.path.resolve():
        raise InputError(f"{target}: refusing to overwrite the input file")
    stamp_provenance(ramp.primary_header, provenance, history)
    with atomic_path(target, overwrite=overwrite) as tmp:
        ramp.hdul.writeto(tmp, overwrite=True, output_verify="silentfix")
    return target


def clean_ramp_file(source: str | Path, mask: np.ndarray, target: str | Path, *,
                    on_step: StepCallback | None = None, **options) -> RampResult:
    """Read, clean and write one ramp file; see :func:`iter_clean_ramp_file`."""
    return _drain(iter_clean_ramp_file(source, mask, target, **options), on_step)


def iter_clean_ramp_file(source: str | Path, mask: np.ndarray, target: str | Path, *,
                         params: CleanParams | None = None, detector: str | None = None,
                         mask_name: str = "(in memory)", overwrite: bool = False,
                         save: tuple[str, ...] = (), mask_detector: str | None = None,
                         any_mask_detector: bool = False, force: bool = False
                         ) -> Generator[tuple[int, int], None, RampResult]:
    """Read, clean and write one ramp file, yielding ``(done, total)`` group differences;
    the input is never modified, and nothing is written if iteration stops early.

    As for other files, a ramp we cleaned already is refused unless ``force``, and a mask
    recorded for the other detector unless ``any_mask_detector``.

    ``save``: diagnostic products written beside ``target``
    (:mod:`app.core.files.diagnostics`); ``"noise"`` holds one more cube in memory.

    Returns
    -------
    RampResult
        With one diagnostics entry per integration.
    """
    from app.core.files import diagnostics as diag
    from app.core.files.batch import provenance

    params = params or CleanParams()
    target = Path(target)
    ramp = read_ramp(source)
    with ramp.hdul:
        refuse_cleaned(ramp.path, ramp.primary_header, force)
        check_mask_detector(mask_detector, resolve_detector(ramp, detector),  # type: ignore[arg-type]
                            mask_name=mask_name, image_name=str(ramp.path),
                            override="pass --any-mask-detector", allow=any_mask_detector)
        noise = np.zeros(ramp.sci.shape, np.float32) if "noise" in save else None
        levels: list | None = [] if "background" in save else None
        result = yield from iter_clean_ramp(ramp, mask, params, detector, noise=noise,
                                            backgrounds=levels)
        cards, history = provenance(params, mask_name, result)  # type: ignore[arg-type]
        cards["NSC_RAMP"] = (True, "cleaned group differences; first group as read")
        history.append("Ramp: each group difference cleaned (DO_NOT_USE/JUMP_DET pixels of "
                       "the later group not background) and added to the previous cleaned "
                       "group; the first group of each integration kept as read")
        write_ramp(ramp, target, cards, history, overwrite=overwrite)
        diag.write_requested(
            save, Path(source), target.parent, ramp.primary_header, mask=mask,
            background=lambda: diag.background_cube(ramp.sci.shape, levels or []),
            noise=lambda: noise, overwrite=overwrite)
    return result
