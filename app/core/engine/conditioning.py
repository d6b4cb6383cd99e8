"""Which lines' normal matrices can be trusted, and what is fitted on the others.

A line whose background is one short stretch (or a few clustered ones) leaves the 9
Fourier terms of the published fit almost degenerate: the normal matrix is
ill-conditioned and the least-squares model, although it matches the data where there is
background, swings far away from it across the gap, where the spectra are. On white
noise of σ = 1, a line with background on 1000 of its 2048 pixels gets a model reaching
±170 in the gap (condition number ~4e5); with 1400 pixels ±1.8 (~6e2); a fully covered
line ±0.25. The published implementations subtract such models as they are; our engine
fits these lines by their weighted mean level only (the DC term, which is always well
determined) and reports them, so that the user can free some background there.
"""

from __future__ import annotations

import contextlib

import numpy as np

from app.core.engine.robust import per_line_parallel

#: Lines whose normal matrix has a 1-norm condition number above this are fitted by their
#: mean level only. Well-spread masks stay far below it (the published "thorough" IFU
#: masks: ≤ 9 on every line); the published 2023-03-06 NRS1 IFU mask has 137 lines above
#: it, on which the full fit of white noise swings up to 8σ across the gaps (2.6σ at
#: most once they are fitted by their mean).
COND_LIMIT = 1e2


def invert(gram: np.ndarray) -> np.ndarray:
    """Batched inverse of ``(n, k, k)`` matrices; NaN where a matrix is singular.

    Large batches are split over the engine's threads (NumPy's batched inverse releases
    the GIL): a full frame's 2040 inverses take half the time on two cores.
    """
    return per_line_parallel(_invert_serial, np.empty_like(gram), gram)


def _invert_serial(gram: np.ndarray) -> np.ndarray:
    """:func:`invert` on the calling thread."""
    try:
        return np.linalg.inv(gram)
    except np.linalg.LinAlgError:  # a singular matrix: the others one by one
        inverse = np.full_like(gram, np.nan)
        for i, matrix in enumerate(gram):
            with contextlib.suppress(np.linalg.LinAlgError):
                inverse[i] = np.linalg.inv(matrix)
        return inverse


def condition(gram: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """1-norm condition numbers ``‖G‖₁·‖G⁻¹‖₁`` (inf where the inverse is NaN).

    Within a factor ``k`` of the 2-norm condition number, and nearly free once the
    inverse is known (no SVD).
    """
    norm = np.abs(gram).sum(axis=1).max(axis=1)
    norm_inverse = np.abs(inverse).sum(axis=1).max(axis=1)
    return np.where(np.isfinite(norm_inverse), norm * norm_inverse, np.inf)


def mean_only(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Coefficients holding only the DC term: the weighted mean of the line's samples.

    Parameters
    ----------
    gram : ndarray, complex, shape (n, k, k)
        Normal matrices (``G[0, 0]`` is the sum of the weights).
    rhs : ndarray, complex, shape (n, k) or (n, k, 1)
        Right-hand sides (``b[0]`` is the weighted sum of the data).
    """
    coeffs = np.zeros(gram.shape[:2], dtype=np.complex128)
    coeffs[:, 0] = rhs.reshape(coeffs.shape)[:, 0].real / gram[:, 0, 0].real
    return coeffs


def solve_trusted(gram: np.ndarray, rhs: np.ndarray, inverse: np.ndarray | None = None,
                  limit: float = COND_LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``G g = b`` per line where ``G`` is well conditioned, mean level elsewhere.

    Parameters
    ----------
    gram : ndarray, complex, shape (n, k, k)
        Normal matrices.
    rhs : ndarray, complex, shape (n, k, 1)
        Right-hand sides.
    inverse : ndarray, optional
        ``invert(gram)`` if already known.
    limit : float
        Condition numbers above it are not trusted.

    Returns
    -------
    coeffs : ndarray, complex, shape (n, k)
    reduced : ndarray of bool, shape (n,)
        True where only the mean level was fitted.
    """
    inverse = invert(gram) if inverse is None else inverse
    reduced = ~(condition(gram, inverse) <= limit)
    coeffs = np.matmul(inverse, rhs)[:, :, 0]
    if reduced.any():
        coeffs[reduced] = mean_only(gram[reduced], rhs[reduced])
    return coeffs, reduced
