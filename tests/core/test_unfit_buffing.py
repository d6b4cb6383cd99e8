"""What an unfit line gets with buffing on: the smoothed model of its neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.clean import clean


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_unfit_lines_receive_their_neighbours_buffed_model(detector):
    rng = np.random.default_rng(7)
    shape = (2048, 2048)
    # banding that varies slowly from line to line, so that neighbours' models agree
    offsets = (0.05 * np.sin(np.arange(shape[1]) / 40.0) + 0.03).astype(np.float32)
    image = rng.normal(0, 0.01, shape).astype(np.float32) + offsets[None, :]
    mask = np.zeros(shape, bool)
    mask[4:-4, 4:-4] = True
    mask[:, 1000] = False  # one empty line between fitted ones
    mask[:, 1500:1503] = False  # three in a row
    plain = clean(image, mask, detector, buff=False)
    buffed = clean(image, mask, detector, buff=True)
    assert 1000 in plain.diagnostics.unfit_lines or 1047 in plain.diagnostics.unfit_lines
    assert np.all(plain.model[:, 1000] == 0)
    # slow reference: a centred Gaussian of σ = 1.5 lines across the (detector) lines
    lines = plain.model.T if detector == "NRS1" else plain.model.T[::-1]
    n = lines.shape[0]
    offset = (np.arange(n) + n // 2) % n - n // 2
    kernel = np.exp(-0.5 * (offset / 1.5) ** 2) / (1.5 * np.sqrt(2 * np.pi))
    smooth = np.zeros_like(lines, dtype=np.float64)
    for shift in range(-8, 9):
        smooth += kernel[shift % n] * np.roll(lines, shift, axis=0)
    expected = smooth.T if detector == "NRS1" else smooth[::-1].T
    for column in (1000, 1501, 999):
        np.testing.assert_allclose(buffed.model[:, column], expected[:, column], atol=2e-4)
    # between two fitted lines: all but the central weight of the kernel, ~73 %
    neighbours = 0.5 * (plain.model[:, 999] + plain.model[:, 1001])
    share = np.sum(buffed.model[:, 1000] * neighbours) / np.sum(neighbours ** 2)
    assert share == pytest.approx(1 - 1 / (1.5 * np.sqrt(2 * np.pi)), abs=0.06)
    # without buffing the line is left as it was
    np.testing.assert_array_equal(plain.cleaned[:, 1000], image[:, 1000])
