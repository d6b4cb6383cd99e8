"""The stack of loaded products and the working image combined from them (no Qt).

The working image is a per-pixel mean, median or σ-clipped mean of SCI over every file
and every integration, ignoring NaN and DQ ``DO_NOT_USE`` pixels. Loading and combining
are generators that yield ``(fraction, message)`` progress and return their result, so a
GUI worker can run them off the GUI thread and cancel between yields; ``combine`` runs the
same code to the end for scripts and tests.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path

import numpy as np

from app.core.errors import InputError
from app.core.files.products import DO_NOT_USE, Product, read_product
from app.core.generators import run_to_end
from app.core.orientation import naxis_text
from app.core.state.events import Event

#: Combination methods: name -> label for menus.
COMBINE_METHODS: dict[str, str] = {
    "mean": "Mean",
    "median": "Median",
    "clipped": "Sigma-clipped mean",
}

Progress = tuple[float, str]


def check_compatible(reference: Product, product: Product) -> None:
    """Raise :class:`InputError` if ``product`` cannot be combined with ``reference``.

    Products must come from the same detector (NRS1 and NRS2 are different pixels,
    flipped relative to each other) and have the same image shape.
    """
    if product.detector != reference.detector:
        raise InputError(
            f"{product.path.name}: detector {product.detector or 'unknown'} does not match "
            f"{reference.detector or 'unknown'} of {reference.path.name}; NRS1 and NRS2 "
            "images cannot be combined (open them separately)"
        )
    if product.shape != reference.shape:
        raise InputError(
            f"{product.path.name}: image shape {_shape(product.shape)} differs from "
            f"{_shape(reference.shape)} of {reference.path.name}; only images of the same "
            "shape can be combined"
        )


def _shape(shape: tuple[int, int]) -> str:
    return naxis_text(shape)


def _file_key(product: Product) -> Path | None:
    """The file behind ``product`` (None for products without one, e.g. simulated)."""
    try:
        return product.path.resolve() if product.path.is_file() else None
    except OSError:
        return None


def partition_compatible(
    existing: Sequence[Product], new: Iterable[Product]
) -> tuple[list[Product], list[str]]:
    """Split ``new`` into products that fit with ``existing`` and refusal messages.

    The first existing product (or else the first new one) is the reference.
    """
    accepted: list[Product] = []
    refused: list[str] = []
    reference = existing[0] if existing else None
    seen = {_file_key(p) for p in existing}
    for product in new:
        key = _file_key(product)
        if key is not None and key in seen:
            # a file counted twice would weigh twice in the mean
            refused.append(f"{product.path}: already loaded")
            continue
        seen.add(key)
        reference = reference or product
        try:
            check_compatible(reference, product)
        except InputError as exc:
            refused.append(str(exc))
        else:
            accepted.append(product)
    return accepted, refused


def iter_load(
    paths: Sequence[str | Path],
) -> Generator[Progress, None, tuple[list[Product], list[str]]]:
    """Read ``paths`` one by one; yields progress, returns ``(products, error messages)``.

    A file that cannot be read becomes a message naming it; the others still load.
    """
    products: list[Product] = []
    errors: list[str] = []
    for i, path in enumerate(paths):
        yield i / max(len(paths), 1), f"reading {Path(path).name}"
        try:
            products.append(_read_any(path))
        except InputError as exc:
            errors.append(str(exc))
        except Exception as exc:  # a damaged file must not take the app down
            errors.append(f"{path}: could not be read ({type(exc).__name__}: {exc})")
    return products, errors


def _read_any(path: str | Path) -> Product:
    """A product, or a ramp opened as its group-difference rate frames
    (:func:`app.core.files.ramp_draft.read_ramp_draft`)."""
    from app.core.files.ramps import is_ramp

    if is_ramp(path):
        from app.core.files.ramp_draft import read_ramp_draft

        return read_ramp_draft(path)
    return read_product(path)


def iter_combine(
    products: Sequence[Product],
    method: str = "mean",
    *,
    sigma: float = 3.0,
    maxiters: int = 5,
    chunk_rows: int = 128,
) -> Generator[Progress, None, np.ndarray]:
    """Combine every integration of ``products`` pixel by pixel; yields progress.

    Parameters
    ----------
    products : sequence of Product
        Compatible products (same shape; see :func:`check_compatible`).
    method : {"mean", "median", "clipped"}
        ``clipped`` is the mean after astropy's σ-clipping along the stack (median
        centre, standard deviation, ``sigma`` and ``maxiters`` as given).
    sigma, maxiters : float, int
        σ-clipping parameters.
    chunk_rows : int
        Rows processed at once: bounds memory and sets the progress granularity.

    Returns
    -------
    ndarray
        C-contiguous float32 ``(ny, nx)``; NaN where no frame has a usable value.
    """
    if method not in COMBINE_METHODS:
        choices = ", ".join(COMBINE_METHODS)
        raise InputError(f"unknown combination {method!r}; choose from {choices}")
    if not products:
        raise InputError("nothing to combine: no files are loaded")
    for product in products[1:]:
        check_compatible(products[0], product)
    ny, nx = products[0].shape
    nframes = sum(p.nints for p in products)
    starts = np.cumsum([0] + [p.nints for p in products])[:-1]
    out = np.empty((ny, nx), dtype=np.float32)
    for r0 in range(0, ny, chunk_rows):
        r1 = min(r0 + chunk_rows, ny)
        block = np.concatenate([p.sci[:, r0:r1] for p in products], axis=0)
        for start, product in zip(starts, products, strict=True):
            if product.dq is not None:
                unusable = (product.dq[:, r0:r1] & DO_NOT_USE) != 0
                np.copyto(block[start : start + product.nints], np.nan, where=unusable)
        if nframes == 1:
            out[r0:r1] = block[0]
        elif method == "median":
            out[r0:r1] = _nanmedian_axis0(block)
        else:
            if method == "clipped":
                block = _sigma_clip_axis0(block, sigma, maxiters)
            out[r0:r1] = _nanmean_axis0(block)
        yield r1 / ny, f"combining {nframes} frames ({COMBINE_METHODS[method].lower()})"
    return out


def combine(products: Sequence[Product], method: str = "mean", **kwargs: float) -> np.ndarray:
    """Run :func:`iter_combine` to the end and return the combined image."""
    return run_to_end(iter_combine(products, method, **kwargs))  # type: ignore[arg-type]


def _nanmean_axis0(block: np.ndarray) -> np.ndarray:
    good = np.isfinite(block)
    total = np.where(good, block, np.float32(0)).sum(axis=0, dtype=np.float64)
    count = good.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(np.float32)


def _nanmedian_axis0(block: np.ndarray) -> np.ndarray:
    # NumPy sorts NaN last, so the c usable values of a pixel come first and its median
    # sits at indices (c-1)//2 and c//2: several times faster than np.nanmedian.
    ordered = np.sort(block, axis=0)
    count = np.isfinite(block).sum(axis=0)
    low = np.take_along_axis(ordered, (np.maximum(count - 1, 0) // 2)[None], axis=0)[0]
    high = np.take_along_axis(ordered, (count // 2)[None], axis=0)[0]
    median = 0.5 * (low + high)
    median[count == 0] = np.nan
    return median


def _sigma_clip_axis0(block: np.ndarray, sigma: float, maxiters: int) -> np.ndarray:
    from astropy.stats import SigmaClip
    from astropy.utils.exceptions import AstropyUserWarning

    clipper = SigmaClip(sigma=sigma, maxiters=maxiters, cenfunc="median", stdfunc="std")
    with warnings.catch_warnings():
        # NaN marks unusable pixels on purpose; astropy's fast path warns about them
        warnings.filterwarnings(
            "ignore", message="Input data contains invalid values", category=AstropyUserWarning
        )
        return clipper(block, axis=0, masked=False, copy=False)


class ImageStack:
    """The loaded products, the chosen combination and the resulting working image.

    Listeners are called with the set of what changed: ``"products"``, ``"method"``,
    ``"image"``. Combining itself happens elsewhere (a worker runs :func:`iter_combine`);
    its result comes back through :meth:`set_image` with the :attr:`generation` it was
    started for, so a result computed for an older stack is dropped.
    """

    def __init__(self) -> None:
        self.products: list[Product] = []
        self.method = "mean"
        self.image: np.ndarray | None = None
        self.generation = 0
        #: Emits ``changed(frozenset of "products", "method", "image")`` after every change.
        self.changed = Event()

    @property
    def detector(self) -> str | None:
        """DETECTOR of the loaded products, None if nothing is loaded or unknown."""
        return self.products[0].detector if self.products else None

    @property
    def readpatt(self) -> str | None:
        """READPATT of the products (the read-time fit's timing), None if unknown."""
        return self.products[0].readpatt if self.products else None

    @property
    def shape(self) -> tuple[int, int] | None:
        """Image shape ``(ny, nx)``, None when nothing is loaded."""
        return self.products[0].shape if self.products else None

    @property
    def nframes(self) -> int:
        """Number of integrations over all products."""
        return sum(p.nints for p in self.products)

    def accept(self, new: Iterable[Product], replace: bool) -> tuple[list[Product], list[str]]:
        """Which of ``new`` may join the stack (or replace it), and why the others may not."""
        return partition_compatible([] if replace else self.products, new)

    def set_products(self, products: Sequence[Product]) -> None:
        """Replace the products (they must be compatible with each other)."""
        for product in products[1:]:
            check_compatible(products[0], product)
        self.products = list(products)
        self._invalidate({"products"})

    def add(self, products: Sequence[Product]) -> None:
        """Append compatible products."""
        self.set_products(self.products + list(products))

    def remove(self, indices: Iterable[int]) -> None:
        """Drop the products at ``indices``."""
        drop = set(indices)
        self.set_products([p for i, p in enumerate(self.products) if i not in drop])

    def set_method(self, method: str) -> None:
        """Choose ``mean``, ``median`` or ``clipped``."""
        if method not in COMBINE_METHODS:
            raise InputError(f"unknown combination {method!r}")
        if method != self.method:
            self.method = method
            self._invalidate({"method"})

    def set_image(self, image: np.ndarray, generation: int) -> bool:
        """Store a combined image computed for ``generation``; False (ignored) if stale."""
        if generation != self.generation:
            return False
        self.image = image
        self._notify({"image"})
        return True

    def _invalidate(self, what: set[str]) -> None:
        self.generation += 1
        self.image = None
        self._notify(what)

    def _notify(self, what: set[str]) -> None:
        self.changed.emit(frozenset(what))
