"""When each pixel of a NIRSpec detector line is read: outputs, directions, ticks.

A full-frame line (one DMS column, 2048 samples along DMS y) is read by four outputs at
once, 512 samples each, one sample per 10 µs tick. The fast-scan direction alternates
from one output to the next (the pipeline's IRS² code, ``jwst/refpix/
irs2_subtract_reference.py``: "The readout direction alternates from one amp output to
the next"; it flips outputs 2 and 4 to put them in time order). In DMS y, NRS1 and NRS2
alike (NRS2's detector frame reverses both the outputs' order and each output's
direction, which leaves the pattern unchanged)::

    output 0: y    0 …  511, read with increasing y
    output 1: y  512 … 1023, read with decreasing y
    output 2: y 1024 … 1535, increasing
    output 3: y 1536 … 2047, decreasing

so that DMS rows 511 and 512 are read last and first, and the pixels read at one tick
are mirror images across the outputs' boundaries.

Readout patterns (header ``READPATT``):

- Traditional (NRSRAPID, NRS, …): the ``k``-th sample of each output is read at tick
  ``k``; after 512 samples 12 ticks of new-line overhead, so lines start 524 ticks apart.
- IRS² (NRSIRS2, NRSIRS2RAPID): every output reads ``N`` (``NRS_NORM``, 16) normal
  pixels, then ``R`` (``NRS_REF``, 4) interleaved reference pixels, with one tick of
  jump overhead on each side of the reference block; a line starts with N/2 normal
  pixels. Normal sample ``k`` is therefore read at tick ``k + (R + 2)·⌊(k + N/2)/N⌋``
  and a line (with the pipeline's 8 ticks of new-row overhead) lasts
  ``(N + R + 2)·512/N + 8`` = 712 ticks. The normal pixels are not evenly spaced in
  time: every 16 of them a 6-tick gap.

A subarray line (fewer than 2048 samples) is read by one output, forwards, at ticks
``0 … n−1`` plus 12 ticks of overhead (the pipeline's NSCleanSubarray timing).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from app.core.errors import InputError

FULL_LINE = 2048
OUTPUTS = 4
OUTPUT_SAMPLES = FULL_LINE // OUTPUTS
LINE_OVERHEAD_TICKS = 12
#: IRS² new-row overhead (``pad`` in the pipeline's IRS² code).
IRS2_ROW_OVERHEAD = 8
TICK_SECONDS = 10e-6
IRS2_PATTERNS = ("NRSIRS2", "NRSIRS2RAPID")


def is_irs2(readpatt: str | None) -> bool:
    """Whether the header value ``READPATT`` names an IRS² readout pattern."""
    return str(readpatt or "").strip().upper() in IRS2_PATTERNS


@dataclass(frozen=True, eq=False)  # one instance per timing (cached): hashed by identity
class LineTiming:
    """Read timing of the samples of one detector line (index = DMS y within the line).

    Attributes
    ----------
    output : ndarray of int
        Output (0 … outputs−1) that reads each sample.
    tick : ndarray of int
        Tick, counted from the start of the line, at which each sample is read.
    outputs : int
        Outputs reading the line in parallel (4 for a full frame, else 1).
    span : int
        Ticks from the first to just past the last sample of an output (the time grid
        a line's samples live on: 512 traditional, 704 IRS²).
    line_ticks : int
        Ticks between the starts of consecutive lines (524 traditional, 712 IRS²).
    irs2 : bool
        IRS² timing.
    """

    output: np.ndarray
    tick: np.ndarray
    outputs: int
    span: int
    line_ticks: int
    irs2: bool

    @property
    def n(self) -> int:
        """Samples per line."""
        return int(self.output.size)

    def samples_at(self, output: int) -> np.ndarray:
        """DMS y (within the line) of the samples read by ``output``, in time order."""
        rows = np.flatnonzero(self.output == output)
        return rows[np.argsort(self.tick[rows], kind="stable")]


def irs2_normal_ticks(nrs_normal: int = 16, nrs_reference: int = 4) -> np.ndarray:
    """Tick of each of an output's 512 normal samples, in read order, under IRS²."""
    k = np.arange(OUTPUT_SAMPLES)
    return k + (nrs_reference + 2) * ((k + nrs_normal // 2) // nrs_normal)


@functools.lru_cache(maxsize=16)
def line_timing(n: int = FULL_LINE, readpatt: str | None = None, nrs_normal: int = 16,
                nrs_reference: int = 4) -> LineTiming:
    """Read timing of a detector line of ``n`` samples.

    Parameters
    ----------
    n : int
        Samples per line: 2048 (four outputs) or fewer (a subarray, one output).
    readpatt : str, optional
        Header ``READPATT``; IRS² timing for NRSIRS2 and NRSIRS2RAPID (full frame only).
    nrs_normal, nrs_reference : int
        Header ``NRS_NORM`` and ``NRS_REF`` (IRS² only): normal and reference pixels per
        interleaving period.

    Returns
    -------
    LineTiming
        Read-only arrays.

    Raises
    ------
    InputError
        IRS² timing asked for a subarray, or impossible ``NRS_NORM``/``NRS_REF``.
    """
    irs2 = is_irs2(readpatt)
    if n != FULL_LINE:
        if irs2:
            raise InputError(f"IRS² readout ({readpatt}) is full-frame only, not {n} samples")
        timing = LineTiming(np.zeros(n, dtype=np.int64), np.arange(n, dtype=np.int64), 1, n,
                            n + LINE_OVERHEAD_TICKS, False)
    else:
        if irs2 and (nrs_normal < 2 or nrs_normal % 2 or OUTPUT_SAMPLES % nrs_normal
                     or nrs_reference < 0):
            raise InputError(f"IRS² needs an even NRS_NORM dividing 512 and NRS_REF ≥ 0, "
                             f"got {nrs_normal} and {nrs_reference}")
        y = np.arange(FULL_LINE)
        output = y // OUTPUT_SAMPLES
        within = y % OUTPUT_SAMPLES
        order = np.where(output % 2 == 0, within, OUTPUT_SAMPLES - 1 - within)  # read order
        if irs2:
            ticks = irs2_normal_ticks(nrs_normal, nrs_reference)
            span = int(ticks[-1]) + 1
            tick = ticks[order]
            line = (nrs_normal + nrs_reference + 2) * OUTPUT_SAMPLES // nrs_normal
            line += IRS2_ROW_OVERHEAD
        else:
            tick, span, line = order, OUTPUT_SAMPLES, OUTPUT_SAMPLES + LINE_OVERHEAD_TICKS
        timing = LineTiming(output.astype(np.int64), tick.astype(np.int64), OUTPUTS, span,
                            line, irs2)
    timing.output.setflags(write=False)
    timing.tick.setflags(write=False)
    return timing


def read_order_coverage(usable: np.ndarray, timing: LineTiming) -> np.ndarray:
    """Per read step (tick, in order) and line: whether any output has a usable sample.

    Parameters
    ----------
    usable : ndarray of bool, (n, ncols)
        Usable background, DMS layout (one column per detector line).
    timing : LineTiming
        Read timing of the ``n`` samples of a line.

    Returns
    -------
    ndarray of bool, (n // outputs, ncols)
        Row ``k``: the ``k``-th read of the line's outputs (all read at the same tick).
    """
    covered = np.zeros((timing.n // timing.outputs, usable.shape[1]), dtype=bool)
    for a in range(timing.outputs):
        covered |= usable[timing.samples_at(a)]
    return covered
