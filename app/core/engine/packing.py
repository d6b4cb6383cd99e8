"""Detector lines packed for fast per-line work: groups of adjacent DMS columns, only the
rows that hold background.

Detector lines are DMS *columns*, but NumPy copies a transposed 2048² frame at ~8 ns per
element, more than sorting it costs. Here the frame is cut into groups of ``GROUP``
adjacent columns, and each group keeps only the DMS rows on which at least one of its
columns is usable background: with real masks that is 10-40 % of the rows, since the
spectral traces run along DMS rows and so cut the same rows out of neighbouring lines.
The kept rows of group 0, then those of group 1, ... are stacked into one ``(nrows,
GROUP)`` array. Copying a row of a group is copying one opaque 128-byte item, so packing
a frame is a single gather at memory speed; a line is then a column of its group's block
(a 128-byte stride, which NumPy sorts at nearly contiguous speed).

Each group's block is a multiple of ``STRIDE`` rows long (at least ``STRIDE``),
completed with "filler" rows: copies of DMS row 0 that are never usable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Columns per group (32 float32 = 128 bytes).
GROUP = 32
#: Every group's block is a multiple of this many rows (see robust.SortedColumns).
STRIDE = 16


@dataclass(frozen=True)
class Packing:
    """Which DMS rows of each column group are kept, and where they are stored.

    Attributes
    ----------
    shape : tuple of int
        DMS shape ``(n, ncols)`` of the frames packed.
    rows : ndarray of int, shape (nrows,)
        DMS row of every packed row (0 for filler rows).
    groups : ndarray of int, shape (nrows,)
        Column group of every packed row.
    starts : ndarray of int, shape (ngroups + 1,)
        Group ``g`` occupies packed rows ``starts[g]:starts[g + 1]``.
    filler : ndarray of bool, shape (nrows,)
        True on filler rows.
    """

    shape: tuple[int, int]
    rows: np.ndarray
    groups: np.ndarray
    starts: np.ndarray
    filler: np.ndarray

    @classmethod
    def covering(cls, usable: np.ndarray) -> Packing:
        """Keep, in each group, the rows where any of its columns is usable."""
        kept = [np.flatnonzero(row_flags) for row_flags in _group_rows_used(usable).T]
        return cls._from_rows(usable.shape, kept)

    @classmethod
    def _from_rows(cls, shape: tuple[int, int], kept: list[np.ndarray]) -> Packing:
        lengths = np.array([max(-(-rows.size // STRIDE), 1) * STRIDE for rows in kept])
        starts = np.concatenate([[0], np.cumsum(lengths)])
        rows = np.zeros(starts[-1], dtype=np.intp)
        filler = np.ones(starts[-1], dtype=bool)
        for group, group_rows in enumerate(kept):
            rows[starts[group]:starts[group] + group_rows.size] = group_rows
            filler[starts[group]:starts[group] + group_rows.size] = False
        groups = np.repeat(np.arange(len(kept)), lengths)
        return cls(tuple(shape), rows, groups, starts, filler)

    @property
    def ngroups(self) -> int:
        """Number of column groups (the last one may be narrower than GROUP)."""
        return self.starts.size - 1

    @property
    def nrows(self) -> int:
        """Rows of a packed array."""
        return int(self.starts[-1])

    def segment(self, group: int) -> slice:
        """Packed rows of one group."""
        return slice(int(self.starts[group]), int(self.starts[group + 1]))

    def cell_index(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
        """All packed cells of the given DMS columns at once.

        Returns
        -------
        cells : ndarray of int
            Flat index of each cell in a (C-contiguous) packed array.
        positions : ndarray of int
            Position of each cell's column in ``columns``.
        dms_rows : ndarray of int
            DMS row of each cell (0 on filler rows).
        filler : ndarray of bool
            True for cells on filler rows.
        """
        columns = np.asarray(columns, dtype=np.intp)
        group, lane = np.divmod(columns, GROUP)
        lengths = self.starts[group + 1] - self.starts[group]
        positions = np.repeat(np.arange(columns.size), lengths)
        # packed row = start of the column's segment + rank of the cell within it
        first_cell = np.cumsum(lengths) - lengths
        packed_rows = (np.arange(int(lengths.sum())) - np.repeat(first_cell, lengths)
                       + np.repeat(self.starts[group], lengths))
        cells = packed_rows * GROUP + lane[positions]
        return cells, positions, self.rows[packed_rows], self.filler[packed_rows]

    def covers(self, usable: np.ndarray, columns: np.ndarray | None = None) -> bool:
        """True if every usable sample lies on a kept row of its group.

        ``usable`` holds all columns, or only the given ``columns`` of the frame.
        """
        if columns is None:
            columns = np.arange(usable.shape[1])
        return not (usable & ~self._kept[:, np.asarray(columns) // GROUP]).any()

    @cached_property
    def _kept(self) -> np.ndarray:
        """(n, ngroups) bool: the row is kept in the group."""
        kept = np.zeros((self.shape[0], self.ngroups), dtype=bool)
        real = ~self.filler
        kept[self.rows[real], self.groups[real]] = True
        return kept

    def pack(self, values: np.ndarray, out: np.ndarray | None = None,
             groups: Iterable[int] | None = None) -> np.ndarray:
        """The packed copy of a DMS array (all groups, or only ``groups`` into ``out``).

        Filler rows hold row 0; columns past the last one hold zeros.
        """
        if out is None or out.shape != (self.nrows, GROUP) or out.dtype != values.dtype:
            out = np.empty((self.nrows, GROUP), dtype=values.dtype)
        items = _as_items(values, self.ngroups).reshape(-1)
        target = out.view(items.dtype)[:, 0]
        if groups is None:
            np.take(items, self._item_index, out=target)
        else:
            for group in groups:
                part = self.segment(group)
                np.take(items, self._item_index[part], out=target[part])
        return out

    def pack_lines(self, lines: np.ndarray, groups: Iterable[int], out: np.ndarray) -> None:
        """Pack the given ``groups`` of an array held line by line into ``out``.

        ``lines`` is ``(ncols, n)``: row ``c`` is DMS column ``c`` (the transpose of what
        :meth:`pack` takes), or only the rows of the given groups, starting with the
        first column of the first group. Same result as ``pack(lines.T)`` for them.
        """
        groups = list(groups)
        first = groups[0] * GROUP
        for group in groups:
            part = self.segment(group)
            start = group * GROUP - first
            block = lines[start:start + GROUP]  # the last group may be narrower
            out[part, :block.shape[0]] = np.take(block, self.rows[part], axis=1).T
            out[part, block.shape[0]:] = 0

    @cached_property
    def _item_index(self) -> np.ndarray:
        """Flat index of every packed row's item in the (n, ngroups) item view."""
        return self.rows * self.ngroups + self.groups

    def flags(self, usable: np.ndarray, groups: Iterable[int] | None = None) -> np.ndarray:
        """Packed copy of ``usable`` (bool), False on filler rows."""
        flags = self.pack(usable.view(np.uint8), groups=groups).view(bool)
        flags[self.filler] = False
        return flags

    def padding(self, usable: np.ndarray, out: np.ndarray | None = None,
                groups: Iterable[int] | None = None) -> np.ndarray:
        """Packed float32: -inf on usable samples, +inf elsewhere (filler rows included).

        ``fmax(sample, padding)`` keeps usable samples and turns every other one (NaN
        included) into +inf without a branch.
        """
        return padding_from_flags(self.flags(usable, groups), out,
                                  [slice(None)] if groups is None else
                                  [self.segment(g) for g in groups])

    def column_sums(self, packed: np.ndarray) -> np.ndarray:
        """Sum over the packed rows of every column (e.g. of :meth:`flags`: the counts)."""
        sums = np.add.reduceat(packed, self.starts[:-1], axis=0, dtype=np.int64)
        return sums.reshape(-1)[:self.shape[1]]


def transposed_bits(mask: np.ndarray) -> np.ndarray:
    """The transpose of a boolean (n, ncols) mask, 8 samples per byte: (ncols, ⌈n/8⌉) uint8.

    ``np.unpackbits(bits[c], count=n)`` is column ``c`` of the mask. Transposing bytes
    one by one costs ~10 ns each; here 8 rows are first combined into one byte (a
    weighted sum of 0/1 bytes), so only an eighth of the bytes are moved.
    """
    n, ncols = mask.shape
    rows = -(-n // 8) * 8
    if rows != n or mask.dtype != bool or not mask.flags.c_contiguous:
        padded = np.zeros((rows, ncols), dtype=bool)
        padded[:n] = mask
        mask = padded
    bytes_by_row = mask.view(np.uint8).reshape(rows // 8, 8, ncols)
    packed = np.einsum("ijk,j->ik", bytes_by_row, _BIT_VALUES)  # most significant bit first
    return np.ascontiguousarray(packed.T)


_BIT_VALUES = np.array([128, 64, 32, 16, 8, 4, 2, 1], dtype=np.uint8)


def unpack_lines(bits: np.ndarray, n: int) -> np.ndarray:
    """Lines of :func:`transposed_bits` as a boolean ``(nlines, n)`` array."""
    return np.unpackbits(bits, axis=1, count=n).view(bool)


def bit_counts(bits: np.ndarray) -> np.ndarray:
    """True samples per line of :func:`transposed_bits` (= per column of the mask)."""
    if hasattr(np, "bitwise_count"):  # NumPy >= 2.0
        return np.bitwise_count(bits).sum(axis=1, dtype=np.int64)
    return np.unpackbits(bits, axis=1).sum(axis=1, dtype=np.int64)


def padding_from_flags(flags: np.ndarray, out: np.ndarray | None = None,
                       parts: list[slice] | None = None) -> np.ndarray:
    """-inf where ``flags`` is True, +inf elsewhere, as float32 (in the rows ``parts``).

    The two infinities differ only in the sign bit: shift the flag into the sign bit of
    +inf. Integer work, no branches.
    """
    if out is None:
        out = np.empty(flags.shape, dtype=np.float32)
    bits = out.view(np.uint32)
    for part in parts or [slice(None)]:
        np.left_shift(flags[part].view(np.uint8), 31, out=bits[part], dtype=np.uint32)
        bits[part] |= np.uint32(0x7F800000)
    return out


def _group_rows_used(usable: np.ndarray) -> np.ndarray:
    """(n, ngroups) bool: row ``y`` of group ``g`` holds at least one usable sample."""
    n, ncols = usable.shape
    ngroups = -(-ncols // GROUP)
    if ncols % GROUP or usable.dtype != bool or not usable.flags.c_contiguous:
        usable = np.pad(usable.astype(bool, copy=False), ((0, 0), (0, ngroups * GROUP - ncols)))
    # a group's 32 flags are 4 words of 8 bytes: OR them (a reduction over a short
    # axis, ``any`` or ``bitwise_or.reduce``, is ~8x slower)
    words = usable.view(np.uint64).reshape(n, ngroups, GROUP // 8)
    return (words[:, :, 0] | words[:, :, 1]) | (words[:, :, 2] | words[:, :, 3]) != 0


def _as_items(values: np.ndarray, ngroups: int) -> np.ndarray:
    """``values`` (n, ncols) viewed as (n, ngroups) opaque items of GROUP samples."""
    n, ncols = values.shape
    if ncols != ngroups * GROUP or not values.flags.c_contiguous:
        padded = np.zeros((n, ngroups * GROUP), dtype=values.dtype)
        padded[:, :ncols] = values
        values = padded
    return values.view(np.dtype(f"V{GROUP * values.itemsize}"))
