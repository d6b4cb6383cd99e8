"""Noise-free NIRSpec scenes in DMS orientation, and the detector defects on top of them.

Dispersion runs along DMS x, so every spectrum is a nearly horizontal band. Geometry
is defined on the full 2048×2048 frame (0-based DMS pixels) and evaluated only inside
the :class:`~app.core.simulation.noise.Window` being simulated, so subarrays and cut-outs cost
only their own size. Everything outside the traces is exactly zero, which makes the
ideal background mask well defined.

- ``ifu``: 30 curved slices (two groups of 15, about 32 px tall, pitch 48.5 px) like the
  published IFU masks; an extended source whose brightness changes from slice to slice.
- ``mos``: about 60 staggered slitlets (3 shutters, 16 px) outside the dark cruciform
  rows 830–929 and 1110–1199; a point source centred in each.
- ``fs``: the five fixed slits near the middle; a bright point source in S200A1 and a
  faint sky continuum in every slit.
- ``bots``: one bright point-source trace centred in a 2048-wide subarray.
Spectra are a smooth continuum plus unresolved emission lines (σ ≈ 1.2 px).

:func:`placement` and :func:`exposure_headers` say where the image sits on the detector
and which observing mode, optics and subarray its headers name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from app.core.engine.readtime import is_irs2
from app.core.errors import InputError
from app.core.simulation.noise import FULL_SIZE, REFERENCE_BORDER, NoiseModel, Window
from app.core.version import __version__

SCENES = ("ifu", "mos", "fs", "bots")
DO_NOT_USE = 1
SATURATED = 2
DEAD = 1024
HOT = 2048
REFERENCE_PIXEL = 1 << 31

_EXP_TYPES = {
    "ifu": "NRS_IFU",
    "mos": "NRS_MSASPEC",
    "fs": "NRS_FIXEDSLIT",
    "bots": "NRS_BRIGHTOBJ",
}
_OPTICS = {
    "ifu": ("G395H", "F290LP"),
    "mos": ("G140M", "F100LP"),
    "fs": ("G235H", "F170LP"),
    "bots": ("G395H", "F290LP"),
}
#: BOTS heights → (SUBARRAY name, first row). NIRSpec has no named 2048×512 subarray:
#: "GENERIC" is the name the JWST datamodels schema accepts for any other window.
_BOTS_SUBARRAYS = {32: ("SUB2048", 1031), 512: ("GENERIC", 768)}
_EDGE = 1.5  # width (px) of the linear taper at the slit edges
_LINE_SIGMA = 1.2  # px, unresolved emission line


@dataclass
class Defects:
    """Static detector defects of one exposure (DMS, window-sized).

    Attributes
    ----------
    values : ndarray
        float32 values added to the scene: hot pixels, and meaningless values on
        flagged bad pixels.
    nan : ndarray
        bool: pixels whose SCI is NaN (dead), flagged DO_NOT_USE.
    dq : ndarray
        uint32 DQ flags (DO_NOT_USE, DEAD, HOT, SATURATED, REFERENCE_PIXEL).
    """

    values: np.ndarray
    nan: np.ndarray
    dq: np.ndarray


def _spectrum(xs: np.ndarray, rng: np.random.Generator, level: float, nlines: int) -> np.ndarray:
    """Continuum (smooth, positive) plus Gaussian emission lines at random positions."""
    u = xs / FULL_SIZE
    phase, slope = rng.uniform(0, 2 * np.pi), rng.uniform(-0.4, 0.4)
    shape = 1 + slope * (u - 0.5) + 0.2 * np.sin(2 * np.pi * u + phase)
    continuum = level * np.clip(shape, 0.1, None)
    centres = rng.uniform(0, FULL_SIZE, nlines)
    heights = level * rng.uniform(2, 15, nlines)
    lines = heights[:, None] * np.exp(-0.5 * ((xs[None, :] - centres[:, None]) / _LINE_SIGMA) ** 2)
    return (continuum + lines.sum(axis=0)).astype(np.float32)


def _add_trace(
    image: np.ndarray,
    window: Window,
    x_range: tuple[float, float],
    centre: tuple[float, float, float],
    half_height: float,
    spectrum: np.ndarray,
    profile_sigma: float | None,
) -> None:
    """Add one slit's spectrum to ``image`` (window-sized), in place.

    ``centre = (y_mid, tilt, curvature)``: the trace centre at full-frame column x is
    ``y_mid + tilt·u + curvature·u²`` with ``u = (x − 1024)/1024``. Across the slit the
    light is uniform (extended source) or a Gaussian of ``profile_sigma`` (point source),
    cut by the slit edges with a linear taper; it is exactly zero outside.
    ``spectrum`` holds the flux at every full-frame column.
    """
    xa = max(int(np.ceil(x_range[0])), window.x0)
    xb = min(int(np.floor(x_range[1])), window.x0 + window.nx)
    if xb <= xa:
        return
    xs = np.arange(xa, xb)
    u = (xs - FULL_SIZE / 2) / (FULL_SIZE / 2)
    yc = centre[0] + centre[1] * u + centre[2] * u**2
    reach = half_height + _EDGE
    ya = max(int(np.floor(yc.min() - reach)), window.y0)
    yb = min(int(np.ceil(yc.max() + reach)) + 1, window.y0 + window.ny)
    if yb <= ya:
        return
    dy = np.arange(ya, yb)[:, None] - yc[None, :]
    taper = np.clip((half_height - np.abs(dy)) / _EDGE + 0.5, 0.0, 1.0)
    if profile_sigma is not None:
        taper *= np.exp(-0.5 * (dy / profile_sigma) ** 2)
    block = image[ya - window.y0 : yb - window.y0, xa - window.x0 : xb - window.x0]
    block += (taper * spectrum[xs][None, :]).astype(np.float32)


def _ifu(image: np.ndarray, window: Window, detector: str, rng: np.random.Generator) -> None:
    xs = np.arange(FULL_SIZE, dtype=np.float64)
    base = _spectrum(xs, rng, 0.08, 12)
    starts = [113.0 + 48.5 * i for i in range(15)] + [1228.0 + 48.5 * i for i in range(15)]
    for s, y_mid in enumerate(starts):
        brightness = 0.2 + np.exp(-0.5 * ((s % 15 - 7) / 4.0) ** 2)
        shift = rng.uniform(-20, 20)  # each slice sees a slightly different wavelength range
        spectrum = brightness * np.interp(xs + shift, xs, base)
        offset = 40 + 60 * abs(s % 15 - 7) / 7 + rng.uniform(0, 30)
        x_range = (offset, FULL_SIZE) if detector == "NRS1" else (0, FULL_SIZE - offset)
        curvature = 5.0 + 2.0 * abs(s % 15 - 7) / 7
        _add_trace(image, window, x_range, (y_mid, -4.0, curvature), 16.0, spectrum, None)


def _mos(image: np.ndarray, window: Window, detector: str, rng: np.random.Generator) -> None:
    xs = np.arange(FULL_SIZE, dtype=np.float64)
    allowed = [(20, 814), (945, 1094), (1215, 2028)]  # avoid the dark cruciform rows
    rows: list[float] = []
    for low, high in allowed:
        rows.extend(np.arange(low, high, 28.0) + rng.uniform(-4, 4, len(np.arange(low, high, 28))))
    for y_mid in rows:
        start = rng.uniform(-700, 900)
        length = rng.uniform(1300, 1800)
        spectrum = _spectrum(xs, rng, rng.uniform(0.05, 0.6), 4)
        sky = _spectrum(xs, rng, 0.01, 0)
        tilt = rng.uniform(-3, 3)
        _add_trace(image, window, (start, start + length), (y_mid, tilt, 2.0), 8.0, spectrum, 1.3)
        _add_trace(image, window, (start, start + length), (y_mid, tilt, 2.0), 8.0, sky, None)


def _fs(image: np.ndarray, window: Window, detector: str, rng: np.random.Generator) -> None:
    xs = np.arange(FULL_SIZE, dtype=np.float64)
    # (name, row, half height): S200A1, S200A2, S400A1, S1600A1, S200B1
    slits = [(945.0, 16.0), (985.0, 16.0), (1030.0, 20.0), (1065.0, 8.0), (1094.0, 16.0)]
    for i, (y_mid, half) in enumerate(slits):
        shift = 150.0 if i == 4 else 0.0
        x_range = (REFERENCE_BORDER + shift, FULL_SIZE + shift)
        sky = _spectrum(xs, rng, 0.02, 0)
        _add_trace(image, window, x_range, (y_mid, -2.0, 3.0), half, sky, None)
        if i == 0:
            target = _spectrum(xs, rng, 2.0, 8)
            _add_trace(image, window, x_range, (y_mid, -2.0, 3.0), half, target, 1.3)


def _bots(image: np.ndarray, window: Window, detector: str, rng: np.random.Generator) -> None:
    xs = np.arange(FULL_SIZE, dtype=np.float64)
    target = _spectrum(xs, rng, 30.0, 5)
    y_mid = window.y0 + window.ny / 2 - 0.5
    _add_trace(image, window, (0, FULL_SIZE), (y_mid, -1.0, 1.0), 8.0, target, 1.0)


_BUILDERS = {"ifu": _ifu, "mos": _mos, "fs": _fs, "bots": _bots}


def build_scene(scene: str, window: Window, detector: str, rng: np.random.Generator) -> np.ndarray:
    """Return the noise-free scene (DN/s, float32, DMS, window-sized)."""
    image = np.zeros(window.shape, dtype=np.float32)
    _BUILDERS[scene](image, window, detector, rng)
    return image


def static_defects(window: Window, rng: np.random.Generator) -> Defects:
    """Hot pixels (half of them flagged HOT), dead NaN pixels, and flagged bad pixels.

    Rates per pixel: hot 2·10⁻⁴ (0.05–20 DN/s, log-uniform), dead 10⁻⁴, bad 10⁻⁴
    (DO_NOT_USE | SATURATED with a meaningless finite value). The reference border is
    flagged REFERENCE_PIXEL | DO_NOT_USE.
    """
    ny, nx = window.shape
    npix = ny * nx
    values = np.zeros(window.shape, dtype=np.float32)
    dq = np.zeros(window.shape, dtype=np.uint32)
    flat_values, flat_dq = values.reshape(-1), dq.reshape(-1)
    n_hot, n_dead, n_bad = (rng.poisson(rate * npix) for rate in (2e-4, 1e-4, 1e-4))
    picks = rng.choice(npix, size=min(n_hot + n_dead + n_bad, npix), replace=False)
    hot, dead, bad = np.split(picks, [n_hot, n_hot + n_dead])
    flat_values[hot] = np.exp(rng.uniform(np.log(0.05), np.log(20.0), hot.size))
    flat_dq[hot[: hot.size // 2]] |= HOT
    flat_dq[dead] |= DO_NOT_USE | DEAD
    flat_values[bad] = rng.normal(0.0, 5.0, bad.size)
    flat_dq[bad] |= DO_NOT_USE | SATURATED
    dq[window.reference_pixels()] |= REFERENCE_PIXEL | DO_NOT_USE
    nan = np.zeros(window.shape, dtype=bool)
    nan.reshape(-1)[dead] = True
    return Defects(values=values, nan=nan, dq=dq)


def transients(window: Window, rng: np.random.Generator) -> np.ndarray:
    """One integration's cosmic-ray residuals and snowballs (float32, window-sized).

    About 3·10⁻⁵ residual hits per pixel (1–4 touching pixels, 0.05–2 DN/s) and 1.5
    snowballs per full frame (radius 3–8 px, a flat core of 0.3–2 DN/s, an exponential
    halo): what jump detection left behind.
    """
    ny, nx = window.shape
    image = np.zeros(window.shape, dtype=np.float32)
    for _ in range(rng.poisson(3e-5 * ny * nx)):
        y, x = int(rng.integers(0, ny)), int(rng.integers(0, nx))
        for _step in range(rng.integers(1, 5)):
            image[y, x] += np.float32(np.exp(rng.uniform(np.log(0.05), np.log(2.0))))
            y = int(np.clip(y + rng.integers(-1, 2), 0, ny - 1))
            x = int(np.clip(x + rng.integers(-1, 2), 0, nx - 1))
    for _ in range(rng.poisson(1.5 * ny * nx / FULL_SIZE**2)):
        radius, core = rng.uniform(3, 8), rng.uniform(0.3, 2.0)
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        reach = int(np.ceil(3 * radius))
        ya, yb = max(int(cy) - reach, 0), min(int(cy) + reach + 1, ny)
        xa, xb = max(int(cx) - reach, 0), min(int(cx) + reach + 1, nx)
        r = np.hypot(np.arange(ya, yb)[:, None] - cy, np.arange(xa, xb)[None, :] - cx)
        blob = np.where(r <= radius, core, core * 0.3 * np.exp(-(r - radius) / (0.5 * radius)))
        blob[r > 3 * radius] = 0.0
        image[ya:yb, xa:xb] += blob.astype(np.float32)
    return image


def placement(scene: str, shape: tuple[int, int]) -> Window:
    """Where an image of ``shape`` sits on the detector: the BOTS subarrays where the
    pipeline puts them (SUB2048 rows 1032–1063, 1-based), anything else centred."""
    ny, nx = shape
    if scene == "bots" and nx == FULL_SIZE and ny in _BOTS_SUBARRAYS:
        return Window(x0=0, y0=_BOTS_SUBARRAYS[ny][1], nx=nx, ny=ny)
    return Window(x0=(FULL_SIZE - nx) // 2, y0=(FULL_SIZE - ny) // 2, nx=nx, ny=ny)


def _subarray_name(scene: str, window: Window) -> str:
    if window.is_full:
        return "FULL"
    if scene == "bots" and window.nx == FULL_SIZE and window.ny in _BOTS_SUBARRAYS:
        return _BOTS_SUBARRAYS[window.ny][0]
    # Invented names such as SUB2048X512 are refused by stdatamodels' SUBARRAY enum.
    return "GENERIC"


def default_readpatt(window: Window) -> str:
    """The readout pattern a simulation of ``window`` uses unless told otherwise."""
    return "NRSIRS2RAPID" if window.is_full else "NRSRAPID"


def resolve_readpatt(readpatt: str | None, window: Window) -> str:
    """The readout pattern a simulation uses: ``readpatt`` (upper case) or the default.

    Raises
    ------
    InputError
        IRS² asked for lines shorter than the full 2048 samples.
    """
    name = str(readpatt or default_readpatt(window)).strip().upper()
    if is_irs2(name) and window.ny != FULL_SIZE:
        raise InputError(f"IRS² readout ({name}) needs full 2048-pixel detector lines; "
                         f"this image has {window.ny} rows")
    return name


def exposure_headers(
    scene: str, detector: str, window: Window, nints: int, seed: int, model: NoiseModel,
    readpatt: str | None = None,
) -> tuple[fits.Header, fits.Header]:
    """Primary and SCI headers of a simulated product: the keywords that matter
    (DETECTOR, EXP_TYPE, READPATT, SUBARRAY, SUBSTRT1/2, SUBSIZE1/2, ...) and how it
    was made."""
    grating, filt = _OPTICS[scene]
    primary = fits.Header()
    primary["TELESCOP"] = ("JWST", "simulated")
    primary["INSTRUME"] = "NIRSPEC"
    primary["DETECTOR"] = detector
    primary["EXP_TYPE"] = _EXP_TYPES[scene]
    primary["GRATING"] = grating
    primary["FILTER"] = filt
    primary["READPATT"] = (readpatt or default_readpatt(window)).strip().upper()
    if primary["READPATT"].startswith("NRSIRS2"):
        primary["NRS_NORM"] = (16, "IRS2: normal pixels between reference blocks")
        primary["NRS_REF"] = (4, "IRS2: reference pixels per block")
    primary["SUBARRAY"] = _subarray_name(scene, window)
    primary["SUBSTRT1"] = (window.x0 + 1, "first column of the subarray (1-based)")
    primary["SUBSTRT2"] = (window.y0 + 1, "first row of the subarray (1-based)")
    primary["SUBSIZE1"] = (window.nx, "number of columns")
    primary["SUBSIZE2"] = (window.ny, "number of rows")
    primary["FASTAXIS"] = 2 if detector == "NRS1" else -2
    primary["SLOWAXIS"] = 1 if detector == "NRS1" else -1
    primary["NINTS"] = nints
    primary["EFFEXPTM"] = (model.exposure_seconds, "[s] effective exposure time")
    primary["DATAMODL"] = (
        "CubeModel" if nints > 1 else ("IFUImageModel" if scene == "ifu" else "ImageModel")
    )
    primary["NSC_SIM"] = (True, "simulated by nsclean-gui")
    primary["NSC_VER"] = (__version__, "nsclean-gui version")
    primary["SIMSCENE"] = (scene, "simulated scene")
    primary["SIMSEED"] = (seed, "random seed of the simulation")
    primary["SIMWHITE"] = (model.white, "[DN/s] white read noise per pixel")
    primary["SIMALPHA"] = (model.alpha, "spectral index of the 1/f noise")
    primary["SIM1F"] = (model.common_1f, "[DN/s] RMS of common 1/f noise per frame")
    primary["SIMOUT1F"] = (model.output_1f, "[DN/s] RMS of per-output 1/f noise")
    sci = fits.Header()
    sci["EXTNAME"] = "SCI"
    sci["BUNIT"] = "DN/s"
    return primary, sci
