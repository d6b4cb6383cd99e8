"""Simulated NIRSpec ramps (``*_ramp.fits``-like, 4-D SCI in DN) with known truth.

The scene accumulates from read to read and every read carries its own noise. With
``t_g = (g + 1)·TGROUP`` (TGROUP = exposure time / ngroups), group ``g`` of an
integration is::

    sci[g] = scene·t_g + jumps[g] + shot[g] + READ_DN·(correlated_g + white_g)

- ``scene`` is the noise-free count-rate image of :mod:`app.core.simulation.scene` (DN/s),
  with dead pixels at 0 and flagged DO_NOT_USE in PIXELDQ;
- ``jumps``: the cosmic-ray residuals and snowballs of one integration, each pixel's hit
  arriving at a random group ``k ≥ 1`` (and staying), flagged JUMP_DET in the GROUPDQ
  of group ``k``;
- ``shot``: photon noise of the accumulated signal (gain 1 e⁻/DN), cumulative;
- ``correlated_g`` and ``white_g``: an independent draw of the rate simulator's
  correlated noise (1/f, ACN, picture frame, :func:`~app.core.simulation.noise.correlated_noise`)
  and white read noise for *each read*, scaled by ``READ_DN`` from DN/s of the rate model
  to DN per read (white 10 DN, common 1/f 15 DN with the default
  :class:`~app.core.simulation.noise.NoiseModel`).

The truth is stored as slopes, which is what a ramp becomes: ``TRUTH_SLOPE`` is the
least-squares slope (DN/s, per integration) of the ramp without its correlated noise,
``TRUTH_NOISE_SLOPE`` the slope of the correlated noise alone, so a perfect cleaner
gives a fitted slope of ``TRUTH_SLOPE``; ``TRUTH_MASK`` is the ideal background mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from app.core.errors import InputError
from app.core.files.atomic import atomic_path
from app.core.files.fitstext import fits_text
from app.core.simulation.noise import NoiseModel, correlated_noise
from app.core.simulation.scene import (
    build_scene,
    exposure_headers,
    resolve_readpatt,
    static_defects,
    transients,
)
from app.core.simulation.simulate import SIGNAL_THRESHOLD, _check_inputs

#: DN per read for each DN/s of the rate noise model.
READ_DN = 1000.0
#: GROUPDQ flag of a detected jump.
JUMP_DET = 4
MAX_RAMP_PIXELS = 24 * 2048 * 2048  # nints·ngroups·ny·nx: ~400 MB of SCI at most


@dataclass
class RampSimulation:
    """A simulated ramp and its truth (DMS orientation).

    Attributes
    ----------
    sci : ndarray
        float32 ``(nints, ngroups, ny, nx)`` in DN.
    groupdq : ndarray
        uint8, shaped like ``sci``: JUMP_DET where a jump arrives.
    pixeldq : ndarray
        uint32 ``(ny, nx)``: the static defects' flags.
    truth_slope, noise_slope : ndarray
        float32 ``(nints, ny, nx)``, DN/s: least-squares slope of the ramp without its
        correlated noise, and of the correlated noise alone.
    ideal_mask : ndarray
        bool ``(ny, nx)``: background (no scene signal, no jump, not DO_NOT_USE, not
        reference border).
    primary : astropy.io.fits.Header
        Keywords like a pipeline ramp (DATAMODL = RampModel, NGROUPS, TGROUP ...).
    """

    sci: np.ndarray
    groupdq: np.ndarray
    pixeldq: np.ndarray
    truth_slope: np.ndarray
    noise_slope: np.ndarray
    ideal_mask: np.ndarray
    primary: fits.Header


def slope_weights(ngroups: int, tgroup: float) -> np.ndarray:
    """Weights ``w_g`` with ``Σ_g w_g·y_g`` = the least-squares slope of ``y`` over
    ``t_g = (g + 1)·tgroup`` (an unweighted straight-line fit, intercept free)."""
    t = (np.arange(ngroups) + 1.0) * tgroup
    centred = t - t.mean()
    return centred / np.sum(centred**2)


def fitted_slope(ramp: np.ndarray, tgroup: float) -> np.ndarray:
    """Least-squares slope (per unit time) of ``ramp`` ``(ngroups, ...)`` along axis 0."""
    weights = slope_weights(ramp.shape[0], tgroup)
    out = np.zeros(ramp.shape[1:], dtype=np.float64)
    for g, w in enumerate(weights):
        out += w * ramp[g]
    return out.astype(np.float32)


def simulate_ramp(scene: str = "ifu", detector: str = "NRS1", nints: int = 1,
                  ngroups: int = 5, seed: int = 0, shape: tuple[int, int] | None = None,
                  noise_model: NoiseModel | None = None, readpatt: str | None = None
                  ) -> RampSimulation:
    """Simulate a ramp (see the module docstring); deterministic for given arguments.

    ``readpatt`` (header ``READPATT``; default NRSIRS2RAPID for full frames, NRSRAPID
    otherwise) fixes when each pixel is read, so the correlated noise of every group is
    made with the timing its header states (as :func:`simulate_exposure`).

    Raises
    ------
    InputError
        Unknown scene or detector, fewer than 2 groups, an impossible size, or too much.
    """
    scene_name, det, window = _check_inputs(scene, detector, nints, seed, shape)
    readpatt = resolve_readpatt(readpatt, window)
    if isinstance(ngroups, bool) or not isinstance(ngroups, (int, np.integer)) or ngroups < 2:
        raise InputError(f"a ramp needs at least 2 groups, not {ngroups!r}")
    ny, nx = window.shape
    if nints * ngroups * ny * nx > MAX_RAMP_PIXELS:
        raise InputError(f"{nints} integrations of {ngroups} groups of {ny}×{nx} is too much "
                         "to simulate at once")
    model = noise_model or NoiseModel()
    tgroup = model.exposure_seconds / ngroups
    scene_seq, defect_seq, *int_seqs = np.random.SeedSequence(seed).spawn(2 + nints)
    scene_image = build_scene(scene_name, window, det, np.random.default_rng(scene_seq))
    defects = static_defects(window, np.random.default_rng(defect_seq))
    scene_image += defects.values
    scene_image[defects.nan] = 0.0  # a dead pixel collects nothing; PIXELDQ says so
    rate = np.clip(scene_image, 0.0, None)

    sci = np.empty((nints, ngroups, ny, nx), dtype=np.float32)
    gdq = np.zeros(sci.shape, dtype=np.uint8)
    truth = np.empty((nints, ny, nx), dtype=np.float32)
    noise_slope = np.empty_like(truth)
    weights = slope_weights(ngroups, tgroup)
    hit_anywhere = np.zeros(window.shape, dtype=bool)
    for i, seq in enumerate(int_seqs):
        rng = np.random.default_rng(seq)
        jump = transients(window, rng) * np.float32(model.exposure_seconds)
        hit = jump > 0
        hit_anywhere |= hit
        arrival = rng.integers(1, ngroups, size=window.shape)
        accumulated = np.zeros(window.shape, dtype=np.float32)
        clean_slope = np.zeros(window.shape, dtype=np.float64)
        corr_slope = np.zeros(window.shape, dtype=np.float64)
        for g in range(ngroups):
            increment = rate * np.float32(tgroup)
            accumulated += increment + rng.normal(0.0, 1.0, window.shape).astype(
                np.float32) * np.sqrt(increment)
            arrived = hit & (arrival <= g)
            now = hit & (arrival == g)
            gdq[i, g][now] = JUMP_DET
            read = (accumulated + np.where(arrived, jump, np.float32(0.0))
                    + np.float32(READ_DN * model.white)
                    * rng.normal(0.0, 1.0, window.shape).astype(np.float32))
            correlated = np.float32(READ_DN) * correlated_noise(window, det, model, rng, readpatt)
            sci[i, g] = read + correlated
            clean_slope += weights[g] * read
            corr_slope += weights[g] * correlated
        truth[i], noise_slope[i] = clean_slope, corr_slope

    ideal = (scene_image < SIGNAL_THRESHOLD) & ~hit_anywhere
    ideal &= (defects.dq & 1) == 0
    ideal &= ~defects.nan & ~window.reference_pixels()
    primary, _sci_header = exposure_headers(scene_name, det, window, nints, seed, model,
                                           readpatt)
    primary["DATAMODL"] = "RampModel"
    primary["NGROUPS"] = (ngroups, "groups per integration")
    primary["NFRAMES"] = (1, "frames per group")
    primary["GROUPGAP"] = (0, "frames dropped between groups")
    primary["TGROUP"] = (tgroup, "[s] time between groups")
    primary["SIMRDN"] = (READ_DN, "[DN per DN/s] read noise scale of the ramp")
    return RampSimulation(sci, gdq, defects.dq.astype(np.uint32), truth, noise_slope, ideal,
                          primary)


def write_ramp_simulation(sim: RampSimulation, path: str | Path,
                          overwrite: bool = False) -> Path:
    """Write ``sim`` like a pipeline ramp (PRIMARY, SCI, PIXELDQ, GROUPDQ) plus
    TRUTH_SLOPE, TRUTH_NOISE_SLOPE and TRUTH_MASK; atomically."""
    path = Path(path)
    primary = sim.primary.copy()
    primary["FILENAME"] = fits_text(path.name)
    sci = fits.ImageHDU(sim.sci, name="SCI")
    sci.header["BUNIT"] = "DN"
    hdus = [
        fits.PrimaryHDU(header=primary),
        sci,
        fits.ImageHDU(sim.pixeldq, name="PIXELDQ"),
        fits.ImageHDU(sim.groupdq, name="GROUPDQ"),
        fits.ImageHDU(sim.truth_slope, name="TRUTH_SLOPE"),
        fits.ImageHDU(sim.noise_slope, name="TRUTH_NOISE_SLOPE"),
        fits.ImageHDU(sim.ideal_mask.astype(np.uint8), name="TRUTH_MASK"),
    ]
    hdus[-1].header["COMMENT"] = "Pixels = 1 are background (ideal mask of the simulation)"
    with atomic_path(path, overwrite=overwrite) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return path
