"""The real-valued fit (``fit="real"``) against a slow per-line least-squares reference."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.core.clean import CleanParams, clean
from app.core.engine import fourier_real
from app.core.engine.fourier_real import (
    complex_to_real,
    lag_sums,
    real_gram,
    real_rhs,
    real_to_complex,
    single_threaded_blas,
    solve_batch,
)
from app.core.errors import InputError
from app.core.orientation import dms_to_detector
from tests.core import reference_nsclean as ref

N = 2048


def real_basis(rows: np.ndarray, nvec: int) -> np.ndarray:
    """[cos k, k < nvec | sin k, 1 ≤ k < nvec] of 2π·m·k/N at ``rows``: the obvious way."""
    phase = 2 * np.pi * np.outer(rows, np.arange(nvec)) / N
    return np.hstack([np.cos(phase), np.sin(phase[:, 1:])])


def reference_real_line(data, mask, fc=1 / 256, kw=1 / 1024, sigrej=3.0, weight_sigma=32.0,
                        ridge=0.0):
    """Model of one detector line: published weights and outliers, real least squares."""
    a = ref.apodizer(fc, kw, N)
    nvec = int(np.count_nonzero(a > 0))
    m = np.flatnonzero(mask)
    p = 1.0 / ref.line_density(mask, weight_sigma)[m]
    d = data[m].astype(np.float64)
    mu = np.median(d)
    sigma = 1.4826 * np.median(np.abs(d - mu))
    d = np.where((d >= mu - sigrej * sigma) & (d <= mu + sigrej * sigma), d, mu)
    design, target = real_basis(m, nvec) * p[:, None], d * p
    if ridge:  # prior rows: ridge · mean(p²) · k on the diagonal of the normal matrix
        k = np.concatenate([np.arange(nvec), np.arange(1, nvec)])
        penalty = np.sqrt(ridge * np.mean(p**2) * k)
        design = np.vstack([design, np.diag(penalty)])
        target = np.concatenate([target, np.zeros(k.size)])
    theta = np.linalg.lstsq(design, target, rcond=None)[0]
    taper = np.concatenate([a[:nvec], a[1:nvec]])
    return real_basis(np.arange(N), nvec) @ (theta * taper)


def gappy_mask(rng: np.random.Generator, coverage: float = 0.6) -> np.ndarray:
    """Background with horizontal 'traces' (runs of rows) cut out, and the border off."""
    mask = np.ones((N, N), dtype=bool)
    while mask.mean() > coverage:
        y, x = rng.integers(0, N, 2)
        mask[y:y + rng.integers(5, 60), x:x + rng.integers(50, 1500)] = False
    mask[:4] = mask[-4:] = False
    mask[:, :4] = mask[:, -4:] = False
    return mask


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(7)
    image = rng.normal(0.0, 1.0, (N, N)).astype(np.float32)
    image[rng.integers(0, N, 300), rng.integers(0, N, 300)] += 50.0  # cosmic rays
    y = np.arange(N)[:, None]
    for k in range(1, 6):
        image += (rng.normal(0, 2, N)[None, :]
                  * np.cos(2 * np.pi * k * y / N + rng.uniform(0, 6, N))).astype(np.float32)
    return image, gappy_mask(rng), rng


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
@pytest.mark.parametrize("ridge", [0.0, 5.0])
def test_real_fit_matches_slow_reference(frame, detector, ridge):
    image, mask, rng = frame
    result = clean(image, mask, detector, fit="real", ridge=ridge, buff=False,
                   background="none")
    det_image, det_mask = dms_to_detector(image, detector), dms_to_detector(mask, detector)
    det_model = dms_to_detector(result.model, detector)
    for line in rng.choice(np.arange(4, N - 4), 12, replace=False):
        expected = reference_real_line(det_image[line], det_mask[line], ridge=ridge)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(det_model[line], expected, rtol=0, atol=1e-5 * scale)


def test_ridge_changes_the_fit(frame):
    image, mask, _ = frame
    plain = clean(image, mask, "NRS1", fit="real", buff=False).model
    prior = clean(image, mask, "NRS1", fit="real", ridge=50.0, buff=False).model
    assert np.abs(prior - plain).max() > 1e-3 * np.abs(plain).max()


def test_real_fit_is_exact_on_gappy_lines_where_the_complex_fit_is_biased():
    rng = np.random.default_rng(3)
    y = np.arange(N)[:, None]
    truth = np.zeros((N, N))
    for k in range(0, 6):  # inside the pass band of fc = 1/256 (apodizer 1 up to k = 7)
        truth += rng.normal(0, 1, N)[None, :] * np.cos(2 * np.pi * k * y / N
                                                       + rng.uniform(0, 6, N)[None, :])
    truth = truth.astype(np.float32)
    mask = gappy_mask(rng, 0.6)
    inside = mask.copy()
    params = dict(buff=False, background="none", sigrej=1e6)  # no noise: nothing to reject
    real = clean(truth, mask, "NRS1", fit="real", **params).model
    complex_ = clean(truth, mask, "NRS1", fit="complex", **params).model
    lines = slice(4, N - 4)
    scale = np.sqrt(np.mean(truth[:, lines] ** 2))
    real_error = np.sqrt(np.mean((real - truth)[:, lines][inside[:, lines]] ** 2)) / scale
    complex_error = np.sqrt(np.mean((complex_ - truth)[:, lines][inside[:, lines]] ** 2)) / scale
    assert real_error < 1e-4
    assert complex_error > 0.03  # the published fit's bias on lines with gaps


def test_lines_with_few_samples_fall_back_to_the_complex_fit():
    rng = np.random.default_rng(5)
    image = rng.normal(0, 1, (N, N)).astype(np.float32)
    mask = np.zeros((N, N), dtype=bool)
    mask[4:-4, 4:-4] = True
    nvec = 9  # fc = 1/256, kw = fc/4
    mask[:, 100] = False
    mask[rng.choice(np.arange(4, N - 4), 14, replace=False), 100] = True  # 9 < 14 ≤ 17
    mask[:, 200] = False
    mask[rng.choice(np.arange(4, N - 4), nvec, replace=False), 200] = True  # ≤ nvec: unfit
    params = dict(buff=False, background="none")
    real = clean(image, mask, "NRS1", fit="real", **params)
    published = clean(image, mask, "NRS1", fit="complex", **params)
    scale = np.abs(published.model[:, 100]).max()
    np.testing.assert_allclose(real.model[:, 100], published.model[:, 100], atol=1e-5 * scale)
    assert not real.model[:, 200].any()
    assert 200 in real.diagnostics.unfit_lines
    assert list(real.diagnostics.unfit_lines) == list(published.diagnostics.unfit_lines)


def test_normal_matrix_and_coefficient_conventions():
    rng = np.random.default_rng(1)
    nvec = 6
    weights = np.where(rng.random((N, 3)) < 0.5, rng.random((N, 3)), 0.0)
    data = rng.normal(0, 1, (N, 3))
    gram = real_gram(lag_sums(weights, 2 * nvec - 1), nvec)
    rhs = real_rhs(lag_sums(weights * data, nvec + 4), nvec)  # extra frequencies ignored
    basis = real_basis(np.arange(N), nvec)
    for line in range(3):
        expected = basis.T @ (weights[:, line, None] * basis)
        np.testing.assert_allclose(gram[line], expected, atol=1e-9 * np.abs(expected).max())
        np.testing.assert_allclose(rhs[line], basis.T @ (weights[:, line] * data[:, line]),
                                   atol=1e-9)
    theta = solve_batch(gram, rhs)
    g = real_to_complex(theta, nvec)
    np.testing.assert_allclose(complex_to_real(g), theta, atol=1e-12)
    # the published synthesis (irfft of n·g) gives back the real series
    spectrum = np.zeros((3, N // 2 + 1), dtype=complex)
    spectrum[:, :nvec] = N * g
    np.testing.assert_allclose(np.fft.irfft(spectrum, N), (basis @ theta.T).T, atol=1e-9)


def test_singular_lines_do_not_spoil_the_batch():
    gram = np.stack([np.eye(3), np.zeros((3, 3)), 2 * np.eye(3)])
    rhs = np.ones((3, 3))
    x = solve_batch(gram, rhs)
    np.testing.assert_allclose(x[0], 1.0)
    np.testing.assert_allclose(x[2], 0.5)
    assert np.isfinite(x).all()


def test_parameters_are_validated():
    with pytest.raises(InputError, match="fit"):
        CleanParams(fit="imaginary").validated()
    with pytest.raises(InputError, match="ridge"):
        CleanParams(fit="real", ridge=-1.0).validated()
    assert CleanParams().fit == "complex" and CleanParams().ridge == 0.0


def test_single_threaded_blas_is_held_while_any_thread_is_inside(monkeypatch):
    events = []

    class Limit:
        def restore_original_limits(self) -> None:
            events.append("restore")

    class Controller:
        def limit(self, limits: int, user_api: str) -> Limit:
            events.append(("limit", limits, user_api))
            return Limit()

    monkeypatch.setattr(fourier_real, "_blas_controller", Controller)
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with single_threaded_blas():
            inside.set()
            leave.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    assert inside.wait(5)
    with single_threaded_blas():
        pass  # leaving here must not lift the other thread's limit
    assert events == [("limit", 1, "blas")]
    leave.set()
    worker.join(5)
    assert events == [("limit", 1, "blas"), "restore"]
    with single_threaded_blas():  # and the next user sets it again
        assert events[-1] == ("limit", 1, "blas")
    assert events[-1] == "restore"


def test_single_threaded_blas_without_threadpoolctl(monkeypatch):
    monkeypatch.setattr(fourier_real, "_blas_controller", lambda: None)
    with single_threaded_blas():
        x = solve_batch(np.stack([2 * np.eye(2)]), np.ones((1, 2)))
    np.testing.assert_allclose(x, 0.5)
