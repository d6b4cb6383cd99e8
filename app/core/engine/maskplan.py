"""What the full-frame fit needs from the background mask alone, kept across frames.

The weights ``p²`` (an FFT convolution of the whole mask), the 9×9 normal matrix of every
line, the packed layout of the background rows and the sort padding depend only on the
usable background, not on the data. A mask is usually reused for many frames (the
integrations of a rateints, a batch of files), so :func:`refresh` builds them once and
afterwards only redoes the column groups whose usable samples changed: frames differ
mostly by a few NaN or DO_NOT_USE pixels, which touch a few hundred lines out of 2048.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from app.core.engine.conditioning import COND_LIMIT, condition, invert
from app.core.engine.packing import (
    Packing,
    bit_counts,
    padding_from_flags,
    transposed_bits,
    unpack_lines,
)

if TYPE_CHECKING:
    from app.core.engine.fourier import LineFitter

#: Beyond this fraction of changed lines a plan is rebuilt rather than updated.
REBUILD_FRACTION = 0.25


@dataclass
class MaskPlan:
    """Per-mask quantities of the fit; per-column arrays are indexed by DMS column."""

    usable: np.ndarray  # a copy of the usable background it was built for
    bits: np.ndarray  # the same, transposed 8 samples per byte (packing.transposed_bits)
    counts: np.ndarray  # usable samples per column
    weighted: np.ndarray  # samples with a non-zero weight per column
    packing: Packing  # the background rows of each column group
    pad: np.ndarray  # packing.padding(usable)
    packed_weights: np.ndarray  # the weights p² (float64), packed; zero on filler rows
    basis: np.ndarray  # the fitter's analysis matrix at every packed row
    gram: np.ndarray  # normal matrix of every column, complex128 (ncols, nvec, nvec)
    inverse: np.ndarray | None = None  # its inverse where the column can be fit, else NaN
    # Columns fitted by their mean level only (ill-conditioned, see app.core.engine.conditioning);
    # None with legacy kernels, which keep the published fit on every line.
    reduced: np.ndarray | None = None
    frames: int = 0  # frames fitted with this plan

    def inverse_for_frame(self, nvec: int) -> np.ndarray | None:
        """The inverted normal matrices, from the second frame fitted with this plan on.

        Inverting costs twice a solve, so a mask used once is solved; a reused one
        then needs one small matrix-vector product per line and frame. Plans that check
        conditioning (all but legacy ones) invert when built.
        """
        self.frames += 1
        if self.inverse is None and self.frames > 1:
            self.inverse = np.full_like(self.gram, np.nan)
            _invert(self, np.arange(self.gram.shape[0]), nvec)
        return self.inverse

    def fittable(self, nvec: int) -> np.ndarray:
        """Columns with enough samples to fit ``nvec`` frequencies."""
        return np.flatnonzero((self.counts > nvec) & (self.weighted > nvec))


def refresh(fitter: LineFitter, plan: MaskPlan | None, usable: np.ndarray) -> MaskPlan:
    """The plan of ``usable``: ``plan`` itself, ``plan`` updated in place, or a new one."""
    if plan is None or plan.usable.shape != usable.shape:
        return build(fitter, usable)
    if same_mask(plan.usable, usable):
        return plan
    # Lines are compared, and the changed ones taken, in the transposed bits: 8 times
    # fewer bytes than the mask, and contiguous per line.
    bits = transposed_bits(usable)
    changed = np.flatnonzero((plan.bits != bits).any(axis=1))
    if changed.size > REBUILD_FRACTION * usable.shape[1]:
        return build(fitter, usable, bits)
    lines = unpack_lines(bits[changed], usable.shape[0])
    if not plan.packing.covers(lines.T, changed):  # background on rows not packed
        return build(fitter, usable, bits)
    update(fitter, plan, usable, bits, changed, lines)
    return plan


def build(fitter: LineFitter, usable: np.ndarray, bits: np.ndarray | None = None) -> MaskPlan:
    """A new plan for ``usable`` (``bits``: its :func:`transposed_bits` if known); the
    weights are computed on the packed rows only."""
    packing = Packing.covering(usable)
    flags = packing.flags(usable)
    bits = transposed_bits(usable) if bits is None else bits
    packed_weights = fitter.weights_from_density(fitter.packed_density(bits, packing), flags)
    counts = bit_counts(bits)
    weighted = (packing.column_sums(packed_weights > 0) if fitter.settings.legacy_kernels
                else counts)
    basis = fitter.analysis[packing.rows]
    gram = fitter.packed_normal_matrices(basis, packed_weights, packing, range(packing.ngroups))
    plan = MaskPlan(usable.copy(), bits, counts, weighted, packing, padding_from_flags(flags),
                    packed_weights, basis, gram)
    if not fitter.settings.legacy_kernels:  # conditioning needs the inverses
        plan.inverse = np.full_like(gram, np.nan)
        plan.reduced = np.zeros(gram.shape[0], dtype=bool)
        _invert(plan, np.arange(gram.shape[0]), fitter.nvec)
    return plan


def update(fitter: LineFitter, plan: MaskPlan, usable: np.ndarray, bits: np.ndarray,
           changed: np.ndarray, lines: np.ndarray) -> None:
    """Bring ``plan`` to ``usable`` (``bits``: its :func:`transposed_bits`), which differs
    from ``plan.usable`` in the DMS columns ``changed`` (``lines``: those columns, line by
    line) and whose samples all lie on rows the packing keeps.

    Only the changed lines are redone (their neighbours too with legacy kernels): their
    weights, counts and padding, and their normal matrices.
    """
    n = usable.shape[0]
    affected, sources, targets = changed, lines, lines
    if fitter.settings.legacy_kernels:
        # a line's legacy weights come from the density of the line before it
        step, ncols = fitter.line_step, usable.shape[1]
        affected = np.union1d(changed, (changed + step) % ncols)
        sources = unpack_lines(bits[(affected - step) % ncols], n)
        targets = unpack_lines(bits[affected], n)
    weights = fitter.weights_from_density(fitter.line_density(sources), targets)
    np.copyto(plan.usable, usable)
    plan.bits = bits
    plan.counts[changed] = bit_counts(bits[changed])
    if fitter.settings.legacy_kernels:
        plan.weighted[affected] = np.count_nonzero(weights, axis=1)
    else:
        plan.weighted = plan.counts
    packing = plan.packing
    cells, positions, rows, filler = packing.cell_index(affected)
    plan.packed_weights.reshape(-1)[cells] = np.where(filler, 0.0, weights[positions, rows])
    if affected is not changed:
        cells, positions, rows, filler = packing.cell_index(changed)
    usable_here = lines[positions, rows] & ~filler
    plan.pad.reshape(-1)[cells] = np.where(usable_here, -np.inf, np.inf)
    plan.gram[affected] = fitter.column_normal_matrices(plan.basis, plan.packed_weights,
                                                        packing, affected)
    if plan.inverse is not None:
        _invert(plan, affected, fitter.nvec)


def _invert(plan: MaskPlan, columns: np.ndarray, nvec: int) -> None:
    """Invert the normal matrices of the given columns that can be fit (once per mask:
    each frame then needs one small matrix-vector product per line), and mark the
    ill-conditioned ones if the plan checks conditioning."""
    assert plan.inverse is not None
    plan.inverse[columns] = np.nan
    if plan.reduced is not None:
        plan.reduced[columns] = False
    columns = np.intersect1d(columns, plan.fittable(nvec))
    inverse = invert(plan.gram[columns])  # NaN where singular: least squares
    plan.inverse[columns] = inverse
    if plan.reduced is not None:
        plan.reduced[columns] = ~(condition(plan.gram[columns], inverse) <= COND_LIMIT)


def same_mask(a: np.ndarray, b: np.ndarray) -> bool:
    """``np.array_equal`` for boolean masks, comparing 8 samples at a time when it can."""
    if a.shape != b.shape:
        return False
    if a.dtype == b.dtype == bool and a.flags.c_contiguous and b.flags.c_contiguous \
            and a.size % 8 == 0:
        # Flattened first: a view as uint64 needs the *last* axis to hold a multiple of
        # 8 bytes, which a 2048×13 mask does not although its size does.
        flat_a, flat_b = a.reshape(-1), b.reshape(-1)
        return bool(np.array_equal(flat_a.view(np.uint64), flat_b.view(np.uint64)))
    return bool(np.array_equal(a, b))
