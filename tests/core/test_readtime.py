"""Read timing of detector lines, checked against the pipeline's own IRS² time ordering."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.engine.readtime import is_irs2, line_timing
from app.core.errors import InputError

irs2_code = pytest.importorskip("jwst.refpix.irs2_subtract_reference")


class _Captured(Exception):
    pass


def pipeline_time_order(monkeypatch, nrs_normal: int = 16, nrs_reference: int = 4
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The pipeline's IRS² time order of the raw columns, straight from its code.

    ``subtract_reference`` lays every output's samples out in time order (one array
    element per 10 µs tick) before it fits anything; the first call after that layout
    is ``remove_slopes``, replaced here to capture the layout. Each raw column holds its
    own number + 1 (after the pipeline removes the mean of two groups, group 1 holds it
    exactly), so the captured array says which raw column was read at which tick.

    Returns, for the 2048 normal columns of the pipeline's detector orientation, the
    output (0-3) and the tick.
    """
    captured = {}

    def capture(data0, *args):
        captured["layout"] = np.array(data0)
        raise _Captured

    monkeypatch.setattr(irs2_code, "remove_slopes", capture)
    nx = 3200
    data = np.zeros((2, 2, nx), dtype=np.float32)
    data[1] = 2 * (np.arange(nx) + 1)
    mask = irs2_code.make_irs2_mask(nx, 2048, nrs_normal, nrs_reference)
    size = 712 * 2048
    with pytest.raises(_Captured):
        irs2_code.subtract_reference(data, np.ones((4, size), np.complex64),
                                     np.zeros((4, size), np.complex64), mask, nrs_normal,
                                     nrs_reference, 8)
    layout = captured["layout"][1:, 1, 0]  # the four amp outputs, group 1, first row
    normal_index = np.cumsum(mask) - 1  # raw column -> column among the normal pixels
    output = np.full(2048, -1)
    tick = np.full(2048, -1)
    for amp, row in enumerate(layout):
        for t in np.flatnonzero(row > 0):
            raw = round(float(row[t])) - 1
            if mask[raw]:
                output[normal_index[raw]], tick[normal_index[raw]] = amp, t
    assert (output >= 0).all()
    return output, tick


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_irs2_ticks_match_the_pipeline(monkeypatch, detector):
    output, tick = pipeline_time_order(monkeypatch)
    # pipeline detector orientation -> DMS y: NRS1 x = y, NRS2 x = 2047 - y
    if detector == "NRS2":
        output, tick = output[::-1], tick[::-1]
    timing = line_timing(2048, "NRSIRS2")
    np.testing.assert_array_equal(timing.tick, tick)
    # same outputs (numbered by position along DMS y here, by amplifier there)
    for ours in range(4):
        assert np.unique(output[timing.output == ours]).size == 1
    assert timing.line_ticks == 712  # the pipeline's "row"
    assert timing.span == tick.max() + 1


def test_irs2_with_other_interleaving_matches_the_pipeline(monkeypatch):
    _, tick = pipeline_time_order(monkeypatch, nrs_normal=8, nrs_reference=2)
    np.testing.assert_array_equal(line_timing(2048, "NRSIRS2RAPID", 8, 2).tick, tick)


def test_traditional_readout():
    timing = line_timing(2048, "NRSRAPID")
    assert timing.line_ticks == 524 and timing.span == 512 and timing.outputs == 4
    y = np.arange(2048)
    # slow reference: blocks of 512 along y, even blocks read forwards, odd backwards
    for row in y:
        block, k = divmod(row, 512)
        assert timing.output[row] == block
        assert timing.tick[row] == (k if block % 2 == 0 else 511 - k)
    # at every tick exactly one sample of each output, mirrored across boundaries
    for t in (0, 100, 511):
        rows = np.flatnonzero(timing.tick == t)
        assert sorted(timing.output[rows]) == [0, 1, 2, 3]
    assert timing.tick[511] == timing.tick[512] == 511
    np.testing.assert_array_equal(timing.samples_at(1), np.arange(1023, 511, -1))


def test_irs2_normal_pixels_are_not_evenly_spaced():
    ticks = np.sort(line_timing(2048, "NRSIRS2").tick[:512])
    steps = np.diff(ticks)
    assert set(steps.tolist()) == {1, 7}  # a 4-reference-pixel block plus two jumps
    assert ticks[:9].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 14]


def test_subarray_is_one_output_read_forwards():
    timing = line_timing(32)
    np.testing.assert_array_equal(timing.tick, np.arange(32))
    assert timing.outputs == 1 and timing.line_ticks == 44
    with pytest.raises(InputError):
        line_timing(32, "NRSIRS2")
    with pytest.raises(InputError):
        line_timing(2048, "NRSIRS2", nrs_normal=5)


def test_readpatt_names():
    assert is_irs2("nrsirs2rapid") and is_irs2(" NRSIRS2 ")
    assert not is_irs2("NRSRAPID") and not is_irs2(None)
