"""NSClean's full-frame fit: a weighted low-order Fourier model on every detector line.

Everything here works on arrays in **DMS layout** ``(y, x)``: a detector line is one DMS
column and the sample index along the line is the DMS row ``y`` (for NRS1 and NRS2
alike; only the order of the lines differs, see :mod:`app.core.orientation`). Matrix
products handle either layout at the same speed, so the frame is never transposed.

For a line with weights ``w = p²`` (zero off the background) and data ``d``, the fit
solves the ``nvec × nvec`` normal equations ``G g = b`` with ``G[k, k'] = W[k - k']``,
``W[j] = Σ_m w_m exp(-2πi m j / n)`` (Hermitian Toeplitz) and ``b[k] = Σ_m w_m d_m
exp(-2πi m k / n)``. Both are the first few DFT coefficients of ``w`` and ``w·d``, which
one matrix product computes for all lines at once; the systems are then solved as a batch.
The model is the inverse real FFT of ``c_k = n g_k a_k`` with the apodizer ``a``.

Speed: everything that depends only on the mask (weights, normal matrices and, from the
second frame on, their inverses; packed layout) is computed once per mask
(:mod:`app.core.engine.maskplan`) and kept by the fitter; the weight density is FFT'd along
contiguous lines of a bit-packed transpose of the mask. Each frame then costs one
gather of its background rows (:mod:`app.core.engine.packing`), one sort of its lines
(:mod:`app.core.engine.robust`, which also yields the background level, the medians and
MADs), one pass over the packed rows that replaces outliers and forms the right-hand
sides, one batched 9×9 solve (or matrix-vector product) and one matrix product for the
model. Single-threaded CPU for a 2048² frame: ~75 ms with a new mask, ~35 ms with a
known one (``bench/bench_engine.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import scipy.fft

from app.core.engine.conditioning import mean_only, solve_trusted
from app.core.engine.fourier_basis import FitSettings, circular_gaussian, lowpass_apodizer
from app.core.engine.maskplan import MaskPlan, refresh, same_mask
from app.core.engine.packing import GROUP, Packing, unpack_lines
from app.core.engine.robust import (
    MAD_TO_SIGMA,
    SortedColumns,
    parallel_map,
    sort_columns,
    sort_packed,
    spans,
    thread_spans,
    workers,
)


@dataclass
class FrameFit:
    """Result of :meth:`LineFitter.fit_frame`."""

    coeffs: np.ndarray  # g_k per DMS column, complex128 (nlines, nvec)
    counts: np.ndarray  # usable samples per DMS column
    level: float  # background level removed before the fit
    reduced: np.ndarray | None = None  # per column: fitted by its mean level only


#: Products with the analysis matrix take at most this many rows at a time: 18 × 448 ×
#: 32 multiply-adds, just under the 2¹⁸ that OpenBLAS still computes on the calling
#: thread. Larger products start BLAS's own threads, which compete with ours and, on a
#: busy machine, made them 5-20× slower.
_CHUNK_ROWS = 448
#: Model synthesis in tiles of 112 rows × 128 columns (× 18 terms: again just under 2¹⁸).
_TILE = (112, 128)
_local = threading.local()


class LineFitter:
    """Fit and evaluate the per-line Fourier model for frames of one shape and detector.

    Parameters
    ----------
    shape : tuple of int
        DMS frame shape ``(n, nlines)``; ``n`` samples per detector line.
    detector : {"NRS1", "NRS2"}
        Fixes the order of lines (needed where neighbouring lines interact).
    settings : FitSettings
        Fit parameters.
    """

    def __init__(self, shape: tuple[int, int], detector: str, settings: FitSettings) -> None:
        self.n, self.nlines = shape
        self.detector = detector
        self.settings = settings
        self.apodizer = lowpass_apodizer(settings.fc, settings.kw, self.n)
        self.nvec = int(np.count_nonzero(self.apodizer > 0))
        m = np.arange(self.n)[:, None]
        k = np.arange(self.nvec)[None, :]
        phase = 2.0 * np.pi * m * k / self.n
        # Analysis matrix: [cos | sin] so that real products give the complex DFT terms.
        self.analysis = np.ascontiguousarray(np.hstack([np.cos(phase), np.sin(phase)]))
        # Synthesis of irfft from nvec coefficients (imaginary part of c_0 is dropped):
        # [cos | -sin] · [Re g; Im g] in one product.
        # The public code buffs with a 2-D kernel centred one pixel off along the line too.
        shift = 1 if (settings.legacy_kernels and settings.buff) else 0
        phase_out = 2.0 * np.pi * (m - shift) * k / self.n
        scale = np.where(k == 0, 1.0, 2.0) * self.apodizer[: self.nvec]
        self._synthesis = np.ascontiguousarray(
            np.hstack([np.cos(phase_out) * scale, -np.sin(phase_out) * scale]), dtype=np.float32)
        centre = 1 if settings.legacy_kernels else 0
        self._weight_kernel = scipy.fft.rfft(
            circular_gaussian(self.n, settings.weight_sigma, centre)).astype(np.complex64)
        self._buff_kernel = np.fft.fft(circular_gaussian(self.nlines, settings.buff_sigma, centre))
        self.line_step = 1 if detector == "NRS1" else -1  # DMS column step per line
        self._weights_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._plan: MaskPlan | None = None
        self._pack_buffer: np.ndarray | None = None
        self._sort_buffer: np.ndarray | None = None

    @classmethod
    def cached(cls, shape: tuple[int, int], detector: str, settings: FitSettings
               ) -> LineFitter:
        """A fitter kept for this thread, so that a reused mask keeps its :class:`MaskPlan`.

        One per thread because a fitter holds buffers; two per thread at most (each
        holds ~70 MB for a full frame).
        """
        fitters: dict = _local.__dict__.setdefault("fitters", {})
        key = (tuple(shape), detector, settings)
        if key not in fitters:
            while len(fitters) >= 2:
                fitters.pop(next(iter(fitters)))
            fitters[key] = cls(shape, detector, settings)
        return fitters[key]

    # -- what depends on the mask only ----------------------------------------------
    def weights(self, usable: np.ndarray) -> np.ndarray:
        """Squared NSClean weights ``p²`` on usable samples, zero elsewhere (float64).

        ``p`` is the reciprocal of the usable-sample density along the line: the mask
        convolved with a Gaussian of σ = ``weight_sigma`` pixels. The last result is
        cached, since a mask is usually reused for many frames.
        """
        cached = self._weights_cache
        if cached is not None and same_mask(cached[0], usable):
            return cached[1]
        weights = self.compute_weights(usable)
        self._weights_cache = (usable.copy(), weights)
        return weights

    def compute_weights(self, usable: np.ndarray) -> np.ndarray:
        """:meth:`weights` without the cache."""
        density = self.density(usable)
        if self.settings.legacy_kernels:
            # The public code's 2-D kernel also sits one *line* off: line y is weighted
            # by the density of line y - 1.
            density = np.roll(density, self.line_step, axis=1)
        return self.weights_from_density(density, usable)

    def density(self, usable: np.ndarray) -> np.ndarray:
        """Usable samples per pixel along each line, smoothed by the weight kernel."""
        spectrum = scipy.fft.rfft(usable.astype(np.float32), axis=0, workers=workers())
        spectrum *= self._weight_kernel[:, None]
        return scipy.fft.irfft(spectrum, n=self.n, axis=0, workers=workers())

    def line_density(self, lines: np.ndarray) -> np.ndarray:
        """:meth:`density` of masks held line by line: ``(nlines, n)`` in and out.

        FFTs along contiguous lines cost half as much as strided ones down DMS columns.
        SciPy's FFT holds the GIL, so it gets the engine's threads itself.
        """
        spectrum = scipy.fft.rfft(lines.astype(np.float32), axis=1, workers=workers())
        spectrum *= self._weight_kernel
        return scipy.fft.irfft(spectrum, n=self.n, axis=1, workers=workers())

    def packed_density(self, bits: np.ndarray, packing: Packing) -> np.ndarray:
        """:meth:`density` (legacy roll included) at the packed rows of ``packing``.

        ``bits`` is the usable background as :func:`~app.core.engine.packing.transposed_bits`
        gives it (transposing the float density would cost more than the FFTs).
        """
        if self.settings.legacy_kernels:  # see compute_weights
            bits = np.roll(bits, self.line_step, axis=0)
        density = self.line_density(unpack_lines(bits, self.n))
        out = np.empty((packing.nrows, GROUP), dtype=np.float32)
        packing.pack_lines(density, range(packing.ngroups), out)
        return out

    def weights_from_density(self, density: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """``1 / density²`` on usable samples, zero elsewhere (``density`` is reused)."""
        # Where the density is round-off (legacy weighting from an empty neighbour line)
        # the weight is meaningless; such samples get none and the line may go unfit.
        floor = np.float32(1e-3 * circular_gaussian(1, self.settings.weight_sigma)[0])
        weights = np.empty(density.shape, dtype=np.float64)

        def rows_of_weights(rows: slice) -> None:
            part = density[rows]
            valid = usable[rows] & (part > floor)
            # Without branches: raising the density to the floor changes only samples
            # that are zeroed anyway.
            square = np.square(np.fmax(part, floor, out=part), out=weights[rows],
                               dtype=np.float64)
            np.divide(valid, square, out=square)  # 1/density² where valid, else 0

        # a new mask's ~4·10⁶ weights: the ufuncs release the GIL, so both cores work
        parallel_map(rows_of_weights, thread_spans(density.shape[0], _CHUNK_ROWS))
        return weights

    def plan(self, usable: np.ndarray) -> MaskPlan:
        """The :class:`~app.core.engine.maskplan.MaskPlan` of ``usable`` (kept and updated)."""
        self._plan = refresh(self, self._plan, usable)
        return self._plan

    def packed_normal_matrices(self, basis: np.ndarray, packed_weights: np.ndarray,
                               packing: Packing, groups: Iterable[int]) -> np.ndarray:
        """Normal matrices of the columns of ``groups`` (others zero), from packed weights.

        Returns
        -------
        ndarray, complex128, shape (ncols, nvec, nvec)
        """
        terms_w = packed_terms(basis, lambda group: packed_weights[packing.segment(group)],
                               packing, groups, self.nlines)
        return self._gram(terms_w)

    def column_normal_matrices(self, basis: np.ndarray, packed_weights: np.ndarray,
                               packing: Packing, columns: np.ndarray) -> np.ndarray:
        """Normal matrices of a few (sorted) DMS columns only, from packed weights.

        Returns
        -------
        ndarray, complex128, shape (len(columns), nvec, nvec)
        """
        columns = np.asarray(columns, dtype=np.intp)
        terms_w = np.empty((basis.shape[1], columns.size))
        groups = columns // GROUP
        for group in np.unique(groups):
            at = np.flatnonzero(groups == group)
            segment = packing.segment(int(group))
            block = packed_weights[segment][:, columns[at] % GROUP]
            terms_w[:, at] = sum(basis[segment][rows].T @ block[rows]
                                 for rows in spans(block.shape[0], _CHUNK_ROWS))
        return self._gram(terms_w)

    def _gram(self, terms_w: np.ndarray) -> np.ndarray:
        """Normal matrices ``G[k, k'] = W[k - k']`` from the DFT terms of the weights."""
        nvec = self.nvec
        dft_w = terms_w[:nvec] - 1j * terms_w[nvec:]  # W_j, j = 0..nvec-1
        j = np.arange(nvec)
        lag = j[:, None] - j[None, :]  # W[-j] = conj(W[j])
        gram = dft_w[np.abs(lag)]
        gram = np.where((lag >= 0)[:, :, None], gram, np.conj(gram))
        return np.ascontiguousarray(np.moveaxis(gram, -1, 0))  # (ncols, nvec, nvec)

    # -- outliers --------------------------------------------------------------------
    def _bounds(self, median: np.ndarray, mad: np.ndarray, dtype: np.dtype
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-column range kept as is, and the value that replaces samples outside it.

        Computed in the data's precision, as the published code does. A column without
        samples gets an empty range and 0 (its weights are all zero).
        """
        mu = median.astype(dtype)
        half = (self.settings.sigrej * MAD_TO_SIGMA * mad).astype(dtype)
        fill = np.where(np.isnan(mu), 0, mu).astype(dtype)
        return mu - half, mu + half, fill

    def replace_outliers(self, data: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """Return the data to fit: outliers set to their line's median, zero off ``usable``.

        Samples beyond ``sigrej`` σ (1.4826 × MAD) of their line's median are replaced
        by the median, as in the published code.
        """
        lower, upper, fill = self._bounds(*sort_columns(data, usable).median_mad(), data.dtype)
        with np.errstate(invalid="ignore"):
            kept = np.where((data >= lower) & (data <= upper), data, fill)
        return np.where(usable, kept, 0).astype(data.dtype, copy=False)

    # -- least squares ---------------------------------------------------------------
    def solve(self, data: np.ndarray, weights: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """The coefficients of :meth:`solve_reporting`."""
        return self.solve_reporting(data, weights, columns)[0]

    def solve_reporting(self, data: np.ndarray, weights: np.ndarray, columns: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Solve the weighted fits of the given DMS columns.

        Parameters
        ----------
        data : ndarray
            Data to fit, zero off the background (see :meth:`replace_outliers`).
        weights : ndarray, float64
            :meth:`weights`.
        columns : ndarray of int
            Columns to solve; each must have more than ``nvec`` weighted samples.

        Returns
        -------
        coeffs : ndarray, complex128, shape (len(columns), nvec)
            ``g_k`` per column.
        reduced : ndarray of bool, shape (len(columns),)
            Columns fitted by their mean level only (ill-conditioned; never with legacy
            kernels; see :mod:`app.core.engine.conditioning`).
        """
        full = len(columns) > data.shape[1] // 2  # one pass over all is cheaper than a gather
        w = weights if full else weights[:, columns]
        wd = w * (data if full else data[:, columns])
        # Real float64 products give the DFT terms Σ w cos - i Σ w sin, for w (W_j) and for
        # w·d (b_k); float32 loses up to 1 % on lines with sparse background.
        terms_w = self.analysis.T @ w
        terms_b = self.analysis.T @ wd
        if full:
            terms_w, terms_b = terms_w[:, columns], terms_b[:, columns]
        return self._solve_normal_reporting(self._gram(terms_w), terms_b)

    def _solve_normal(self, gram: np.ndarray, terms_b: np.ndarray) -> np.ndarray:
        """The coefficients of :meth:`_solve_normal_reporting`."""
        return self._solve_normal_reporting(gram, terms_b)[0]

    def _solve_normal_reporting(self, gram: np.ndarray, terms_b: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray]:
        """Batched solve of ``G g = b`` with ``b`` from the DFT terms of ``w·d``; lines
        with an ill-conditioned ``G`` get their mean level only (not with legacy kernels,
        which reproduce the published fit; see :mod:`app.core.engine.conditioning`). Returns
        the coefficients and which lines were reduced to their mean."""
        rhs = (terms_b[: self.nvec] - 1j * terms_b[self.nvec:]).T[:, :, None]
        if not self.settings.legacy_kernels:
            return solve_trusted(gram, rhs)
        reduced = np.zeros(gram.shape[0], dtype=bool)
        try:
            return np.linalg.solve(gram, rhs)[:, :, 0], reduced
        except np.linalg.LinAlgError:  # a numerically singular line: solve one by one
            return np.stack([np.linalg.lstsq(g, r, rcond=None)[0][:, 0]
                             for g, r in zip(gram, rhs, strict=True)]), reduced

    def _solve_planned(self, plan: MaskPlan, columns: np.ndarray, terms_b: np.ndarray
                       ) -> np.ndarray:
        """:meth:`_solve_normal` with the plan's inverted normal matrices (if kept)."""
        inverse = plan.inverse_for_frame(self.nvec)
        if inverse is None:
            return self._solve_normal(plan.gram[columns], terms_b)
        rhs = (terms_b[: self.nvec] - 1j * terms_b[self.nvec:]).T[:, :, None]
        coeffs = np.matmul(inverse[columns], rhs)[:, :, 0]
        if plan.reduced is not None:  # ill-conditioned (or singular): mean level only
            reduced = plan.reduced[columns]
            coeffs[reduced] = mean_only(plan.gram[columns[reduced]], rhs[reduced])
        singular = np.flatnonzero(np.isnan(coeffs).any(axis=1))
        if singular.size:  # numerically singular lines: least squares
            coeffs[singular] = self._solve_normal(plan.gram[columns[singular]],
                                                  terms_b[:, singular])
        return coeffs

    def fit_frame(self, data: np.ndarray, usable: np.ndarray, subtract_level: bool = True
                  ) -> FrameFit:
        """Fit every line of a frame, removing the background level first.

        Parameters
        ----------
        data : ndarray, DMS layout
            The frame as measured; values off ``usable`` are ignored (NaN allowed).
        usable : ndarray of bool
            Background samples (reference border already excluded).
        subtract_level : bool
            Remove the median of all background samples before the fit (the fit then
            models only the noise; the caller keeps the level in the cleaned frame).

        Returns
        -------
        FrameFit
            Same as fitting ``data - float32(level)`` with :meth:`fit_lines`.
        """
        plan = self.plan(usable)
        packing = plan.packing
        packed = self._pack_buffer = packing.pack(data, out=self._pack_buffer)
        columns = sort_packed(packed, plan.pad, plan.counts, packing, out=self._sort_buffer)
        self._sort_buffer = columns.values
        level = columns.global_median() if subtract_level else 0.0
        coeffs = np.zeros((self.nlines, self.nvec), dtype=np.complex128)
        fittable = plan.fittable(self.nvec)
        if fittable.size:
            terms_b = self._rhs_terms(packed, columns, plan, level)
            coeffs[fittable] = self._solve_planned(plan, fittable, terms_b[:, fittable])
        reduced = (np.zeros(self.nlines, dtype=bool) if plan.reduced is None
                   else plan.reduced.copy())
        return FrameFit(coeffs, plan.counts.copy(), level, reduced)

    def _rhs_terms(self, packed: np.ndarray, columns: SortedColumns, plan: MaskPlan,
                   level: float) -> np.ndarray:
        """DFT terms of ``w·d`` for every column, ``d`` the packed data shifted by the
        level with outliers replaced, group by group while the group is in cache."""
        shift = packed.dtype.type(level)
        bounds = self._bounds(*columns.median_mad(shift), packed.dtype)
        # one GROUP-wide slice per group, the last one too: pad past the last column
        width = plan.packing.ngroups * GROUP - self.nlines
        lower, upper, fill = (np.pad(b, (0, width), constant_values=v)
                              for b, v in zip(bounds, (np.nan, np.nan, 0), strict=True))

        def weighted_data(group: int) -> np.ndarray:
            cols, rows = slice(group * GROUP, (group + 1) * GROUP), plan.packing.segment(group)
            values = np.subtract(packed[rows], shift)
            with np.errstate(invalid="ignore"):  # NaN off the background: replaced
                keep = np.greater_equal(values, lower[cols])
                keep &= np.less_equal(values, upper[cols])
            # Samples off the background get the fill value too; their weight is zero.
            # (In place: ~25 % faster than np.where on these cache-sized blocks.)
            np.copyto(values, fill[cols], where=~keep)
            return np.multiply(plan.packed_weights[rows], values)

        return packed_terms(plan.basis, weighted_data, plan.packing,
                            range(plan.packing.ngroups), self.nlines)

    def fit_lines(self, data: np.ndarray, usable: np.ndarray,
                  weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Fit every line of a frame whose background level is already removed.

        Parameters
        ----------
        data : ndarray, float32, DMS layout
            Background-subtracted data; values off ``usable`` are ignored.
        usable : ndarray of bool
            Background samples (reference border already excluded).
        weights : ndarray, optional
            Ignored (kept for compatibility): the weights come with the mask's plan.

        Returns
        -------
        coeffs : ndarray, complex128, shape (nlines, nvec)
            ``g_k`` per DMS column (zero for reference and unfit lines).
        counts : ndarray of int
            Usable samples per DMS column.
        """
        fit = self.fit_frame(data, usable, subtract_level=False)
        return fit.coeffs, fit.counts

    # -- model -----------------------------------------------------------------------
    def buff(self, coeffs: np.ndarray) -> np.ndarray:
        """Smooth the per-line coefficients across lines (σ = ``buff_sigma`` lines).

        Smoothing the model across lines equals smoothing its coefficients, because every
        line is synthesised from the same basis; the convolution is circular, as in the
        published code. ``coeffs`` is indexed by DMS column.
        """
        ordered = coeffs[:: self.line_step]  # detector line order
        smoothed = np.fft.ifft(np.fft.fft(ordered, axis=0) * self._buff_kernel[:, None], axis=0)
        return smoothed[:: self.line_step]

    def synthesize(self, coeffs: np.ndarray, parallel: bool = True) -> np.ndarray:
        """Evaluate the model (DMS layout, float32) from coefficients ``g`` per column.

        ``parallel=False`` stays on the calling thread: for a few columns (the preview's
        refit) a hand-off to the engine's pool, busy with other work, costs more."""
        parts = np.concatenate([coeffs.real.T, coeffs.imag.T]).astype(np.float32)
        out = np.empty((self.n, parts.shape[1]), dtype=np.float32)

        def rows_of_model(rows: slice) -> None:
            for cols in spans(parts.shape[1], _TILE[1]):
                np.matmul(self._synthesis[rows], parts[:, cols], out=out[rows, cols])

        if parallel:
            parallel_map(rows_of_model, spans(self.n, _TILE[0]))
        else:
            rows_of_model(slice(None))
        return out

    def model(self, coeffs: np.ndarray) -> np.ndarray:
        """Background model in DMS layout from per-column coefficients (buffed if set)."""
        if self.settings.buff:
            coeffs = self.buff(coeffs)
        return self.synthesize(coeffs)


def packed_terms(basis: np.ndarray, values: Callable[[int], np.ndarray], packing: Packing,
                 groups: Iterable[int], ncols: int) -> np.ndarray:
    """``basis.T @ V`` per column group, ``V`` the packed values ``values(group)``.

    Returns
    -------
    ndarray, float64, shape (basis.shape[1], ncols)
        Zero in the columns of groups not asked for.
    """
    out = np.zeros((basis.shape[1], packing.ngroups * GROUP))

    def group_terms(chunk: list[int]) -> None:
        for group in chunk:
            total = out[:, group * GROUP:(group + 1) * GROUP]
            block, segment = values(group), packing.segment(group)
            for rows in spans(block.shape[0], _CHUNK_ROWS):
                total += basis[segment][rows].T @ block[rows]

    groups = list(groups)
    parallel_map(group_terms, [groups[part] for part in spans(len(groups), 4)])
    return out[:, :ncols]
