"""Simulated NIRSpec count-rate exposures with known truth.

:func:`simulate_exposure` returns a :class:`Simulation`: a :class:`~app.core.files.products.Product`
shaped like a pipeline ``rate``/``rateints`` file, plus the truth that made it. The
science image of integration ``i`` is::

    sci[i] = scene + transients[i] + correlated_noise[i] + white_noise[i]

with NaN on dead pixels. ``scene`` (:mod:`app.core.simulation.scene`) is the noise-free image:
spectra plus static defects (hot pixels, values of flagged bad pixels);
``transients`` are cosmic-ray residuals and snowballs; ``correlated_noise``
(:mod:`app.core.simulation.noise`) is what NSClean should remove; ``white_noise`` is read plus
photon noise. A perfect cleaner therefore returns ``sci − correlated_noise``
(:attr:`Simulation.expected_clean`). Everything is seeded and deterministic.

:func:`write_simulation` writes SCI, ERR and DQ like the pipeline and the truth in
extra extensions: ``TRUTH_SCENE`` (2-D), ``TRUTH_NOISE`` (correlated noise, shaped like
SCI), ``TRUTH_CR`` (transients, shaped like SCI) and ``TRUTH_MASK`` (uint8, 1 =
background). :func:`read_simulation` reads such a file back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from astropy.io import fits

from app.core.errors import InputError
from app.core.files.atomic import atomic_path
from app.core.files.fitstext import fits_text
from app.core.files.products import DETECTORS, Product, read_product
from app.core.simulation.noise import FULL_SIZE, NoiseModel, Window, correlated_noise, white_noise
from app.core.simulation.noise import expected_error as _expected_error
from app.core.simulation.scene import (
    SCENES,
    build_scene,
    exposure_headers,
    placement,
    resolve_readpatt,
    static_defects,
    transients,
)

#: Signal below this (DN/s, 1 % of the white noise) counts as none for the ideal mask.
SIGNAL_THRESHOLD = 1e-4
MAX_PIXELS = 16 * FULL_SIZE * FULL_SIZE  # nints·ny·nx: 16 full frames, ~1.7 GB of arrays

TRUTH_EXTENSIONS = ("TRUTH_SCENE", "TRUTH_NOISE", "TRUTH_CR", "TRUTH_MASK")


@dataclass
class Simulation:
    """A simulated exposure and the truth behind it (all DMS orientation).

    Attributes
    ----------
    product : Product
        SCI ``(nints, ny, nx)`` float32 in DN/s, DQ, headers; ``path`` is a descriptive
        name that does not exist on disk until :func:`write_simulation` writes it.
    scene : ndarray
        Noise-free image ``(ny, nx)``: spectra plus static defects.
    transients : ndarray
        Cosmic-ray residuals and snowballs ``(nints, ny, nx)``.
    correlated_noise : ndarray
        Injected correlated noise ``(nints, ny, nx)``: 1/f (common and per output),
        ACN and picture frame.
    white_noise : ndarray
        Read plus photon noise ``(nints, ny, nx)`` (0 where SCI is NaN).
    ideal_mask : ndarray
        bool ``(ny, nx)``, True = background: no signal above :data:`SIGNAL_THRESHOLD`
        in the scene or any integration's transients, not reference border, not NaN,
        not DO_NOT_USE.
    err : ndarray
        Expected 1-σ uncorrelated noise, like the ERR extension ``(nints, ny, nx)``.
    scene_name, seed, noise_model
        How it was made.
    """

    product: Product
    scene: np.ndarray
    transients: np.ndarray
    correlated_noise: np.ndarray
    white_noise: np.ndarray
    ideal_mask: np.ndarray
    err: np.ndarray
    scene_name: str
    seed: int
    noise_model: NoiseModel

    @property
    def detector(self) -> str:
        """``NRS1`` or ``NRS2``."""
        return str(self.product.primary_header["DETECTOR"])

    @property
    def expected_clean(self) -> np.ndarray:
        """What a perfect cleaner returns: ``sci − correlated_noise`` (NaN kept)."""
        return self.product.sci - self.correlated_noise


def _check_inputs(
    scene: str, detector: str, nints: int, seed: int, shape: tuple[int, int] | None
) -> tuple[str, str, Window]:
    scene_name = str(scene).strip().lower()
    if scene_name not in SCENES:
        raise InputError(f"unknown scene {scene!r}; expected one of {', '.join(SCENES)}")
    det = str(detector).strip().upper()
    if det not in DETECTORS:
        raise InputError(f"unknown detector {detector!r}; expected NRS1 or NRS2")
    if isinstance(nints, bool) or not isinstance(nints, (int, np.integer)) or nints < 1:
        raise InputError(f"number of integrations must be a positive integer, not {nints!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, not {seed!r}")
    if shape is None:
        shape = (32, FULL_SIZE) if scene_name == "bots" else (FULL_SIZE, FULL_SIZE)
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"shape must be two integers (ny, nx), not {shape!r}") from exc
    if not (8 <= ny <= FULL_SIZE and 8 <= nx <= FULL_SIZE):
        raise InputError(f"impossible image size {ny}×{nx}: each side must be 8 to 2048 pixels")
    if nints * ny * nx > MAX_PIXELS:
        raise InputError(
            f"{nints} integrations of {ny}×{nx} is too much to simulate at once "
            f"(limit {MAX_PIXELS // (ny * nx)} integrations at this size)"
        )
    return scene_name, det, placement(scene_name, (ny, nx))


def simulate_exposure(
    scene: str = "ifu",
    detector: str = "NRS1",
    nints: int = 1,
    seed: int = 0,
    shape: tuple[int, int] | None = None,
    noise_model: NoiseModel | None = None,
    readpatt: str | None = None,
) -> Simulation:
    """Simulate a NIRSpec count-rate exposure with known truth.

    Parameters
    ----------
    scene : {"ifu", "mos", "fs", "bots"}
        What is on the detector.
    detector : {"NRS1", "NRS2"}
        Which detector (decides how time order maps onto the DMS image).
    nints : int
        Integrations; more than one gives a ``rateints``-like product.
    seed : int
        Random seed; the same arguments always give identical results.
    shape : tuple of int, optional
        DMS image shape ``(ny, nx)``, each 8–2048. Default: full frame, or 32×2048 for
        ``bots`` (512×2048 gives the taller BOTS subarray). Smaller images are a
        centred window of the detector, read by one output like a subarray.
    noise_model : NoiseModel, optional
        Noise amplitudes; the documented defaults if omitted.
    readpatt : str, optional
        Readout pattern (header ``READPATT``), which fixes when each pixel is read
        (:mod:`app.core.engine.readtime`): NRSIRS2 and NRSIRS2RAPID interleave reference
        pixels (full-frame lines only), others (NRSRAPID, NRS, ...) read traditionally.
        Default NRSIRS2RAPID for the full frame (what NIRSpec's spectroscopic modes
        use), NRSRAPID otherwise.

    Returns
    -------
    Simulation

    Raises
    ------
    InputError
        Unknown scene or detector, a bad number of integrations or seed, an impossible
        size.
    """
    scene_name, det, window = _check_inputs(scene, detector, nints, seed, shape)
    model = noise_model or NoiseModel()
    readpatt = resolve_readpatt(readpatt, window)
    # Independent streams: the scene does not change when only nints changes, and
    # each integration's noise does not depend on how many follow it.
    scene_seq, defect_seq, *int_seqs = np.random.SeedSequence(seed).spawn(2 + nints)
    scene_image = build_scene(scene_name, window, det, np.random.default_rng(scene_seq))
    defects = static_defects(window, np.random.default_rng(defect_seq))
    scene_image += defects.values
    error = _expected_error(scene_image, model)

    shape3 = (nints, *window.shape)
    sci = np.empty(shape3, dtype=np.float32)
    trans, corr, white = (np.empty(shape3, dtype=np.float32) for _ in range(3))
    for i, seq in enumerate(int_seqs):
        rng = np.random.default_rng(seq)
        trans[i] = transients(window, rng)
        corr[i] = correlated_noise(window, det, model, rng, readpatt)
        white[i] = white_noise(scene_image + trans[i], model, rng)
        white[i][defects.nan] = 0.0
        np.add(scene_image, trans[i], out=sci[i])
        sci[i] += corr[i]
        sci[i] += white[i]
        sci[i][defects.nan] = np.nan

    ideal = (scene_image < SIGNAL_THRESHOLD) & (trans.max(axis=0) < SIGNAL_THRESHOLD)
    ideal &= (defects.dq & 1) == 0
    ideal &= ~defects.nan & ~window.reference_pixels()

    primary, sci_header = exposure_headers(scene_name, det, window, nints, seed, model,
                                           readpatt)
    kind = "rateints" if nints > 1 else "rate"
    product = Product(
        path=Path(f"sim_{scene_name}_{det.lower()}_{kind}.fits"),
        sci=sci,
        dq=np.broadcast_to(defects.dq, shape3).copy(),
        primary_header=primary,
        sci_header=sci_header,
        is_cube=nints > 1,
    )
    return Simulation(
        product=product,
        scene=scene_image,
        transients=trans,
        correlated_noise=corr,
        white_noise=white,
        ideal_mask=ideal,
        err=np.broadcast_to(error, shape3).copy(),
        scene_name=scene_name,
        seed=int(seed),
        noise_model=model,
    )


DEMO_SEED = 2024


def demo_simulation(nints: int = 3, seed: int = DEMO_SEED) -> Simulation:
    """The exposure ``nsclean-gui --demo`` opens, with its truth (e.g. the ideal mask).

    A full-frame NRS1 IFU ``rateints`` product of ``nints`` integrations.
    """
    return simulate_exposure("ifu", "NRS1", nints=nints, seed=seed)


def demo_products(nints: int = 3, seed: int = DEMO_SEED) -> list[Product]:
    """The products ``nsclean-gui --demo`` opens: :func:`demo_simulation`'s product, with
    the headers of every HDU the simulation would write (its header viewer shows them)."""
    sim = demo_simulation(nints, seed)
    headers = [(hdu.name, hdu.header) for hdu in simulation_hdus(sim, sim.product.path.name)]
    return [replace(sim.product, headers=headers)]


def simulation_hdus(sim: Simulation, name: str) -> list[fits.PrimaryHDU | fits.ImageHDU]:
    """The HDUs :func:`write_simulation` writes for ``sim`` as file ``name`` (no copies of
    the arrays: building them is cheap)."""
    prod = sim.product

    def cube(a: np.ndarray) -> np.ndarray:
        return a if prod.is_cube else a[0]

    dq = prod.dq if prod.dq is not None else np.zeros(prod.sci.shape, np.uint32)
    primary = prod.primary_header.copy()
    primary["FILENAME"] = fits_text(name)
    hdus = [
        fits.PrimaryHDU(header=primary),
        fits.ImageHDU(cube(prod.sci), header=prod.sci_header.copy(), name="SCI"),
        fits.ImageHDU(cube(sim.err), name="ERR"),
        fits.ImageHDU(cube(dq), name="DQ"),
        fits.ImageHDU(sim.scene, name="TRUTH_SCENE"),
        fits.ImageHDU(cube(sim.correlated_noise), name="TRUTH_NOISE"),
        fits.ImageHDU(cube(sim.transients), name="TRUTH_CR"),
        fits.ImageHDU(sim.ideal_mask.astype(np.uint8), name="TRUTH_MASK"),
    ]
    for hdu in (hdus[2], hdus[4], hdus[5], hdus[6]):
        hdu.header["BUNIT"] = "DN/s"
    hdus[-1].header["COMMENT"] = "Pixels = 1 are background (ideal mask of the simulation)"
    return hdus


def write_simulation(sim: Simulation, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``sim`` as a ``rate`` (1 integration) or ``rateints`` file with its truth.

    The file holds PRIMARY, SCI, ERR, DQ like a pipeline product, then TRUTH_SCENE,
    TRUTH_NOISE, TRUTH_CR and TRUTH_MASK (see the module docstring). It is written to a
    temporary file and renamed, so a failure never leaves a partial file.

    Raises
    ------
    InputError
        If the file exists and ``overwrite`` is False, or it cannot be written.
    """
    path = Path(path)
    hdus = simulation_hdus(sim, path.name)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return path


def read_simulation(path: str | Path) -> Simulation:
    """Read a file written by :func:`write_simulation` back into a :class:`Simulation`.

    ``white_noise`` is recovered as ``sci − scene − transients − correlated_noise``
    (0 on NaN pixels), exact up to float32 rounding.

    Raises
    ------
    InputError
        If the file is not readable or lacks the truth extensions.
    """
    path = Path(path)
    product = read_product(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            missing = [name for name in (*TRUTH_EXTENSIONS, "ERR") if name not in hdul]
            if missing:
                raise InputError(f"{path}: not a simulation (no {', '.join(missing)} extension)")
            truth = {name: np.array(hdul[name].data) for name in (*TRUTH_EXTENSIONS, "ERR")}
    except OSError as exc:
        raise InputError(f"{path}: cannot read the truth extensions ({exc})") from exc
    shape3 = product.sci.shape
    scene = truth["TRUTH_SCENE"].astype(np.float32)
    noise = np.array(truth["TRUTH_NOISE"], dtype=np.float32, ndmin=3).reshape(shape3)
    trans = np.array(truth["TRUTH_CR"], dtype=np.float32, ndmin=3).reshape(shape3)
    white = np.nan_to_num(product.sci - scene - trans - noise, nan=0.0)
    header = product.primary_header
    return Simulation(
        product=product,
        scene=scene,
        transients=trans,
        correlated_noise=noise,
        white_noise=white,
        ideal_mask=truth["TRUTH_MASK"].astype(bool),
        err=np.array(truth["ERR"], dtype=np.float32, ndmin=3).reshape(shape3),
        scene_name=str(header.get("SIMSCENE", "")),
        seed=int(header.get("SIMSEED", 0)),
        noise_model=_noise_model_from(header),
    )


def _noise_model_from(header: fits.Header) -> NoiseModel:
    """The amplitudes recorded in the header; defaults for those not recorded."""
    default = NoiseModel()
    return NoiseModel(
        white=float(header.get("SIMWHITE", default.white)),
        alpha=float(header.get("SIMALPHA", default.alpha)),
        common_1f=float(header.get("SIM1F", default.common_1f)),
        output_1f=float(header.get("SIMOUT1F", default.output_1f)),
        exposure_seconds=float(header.get("EFFEXPTM", default.exposure_seconds)),
    )
