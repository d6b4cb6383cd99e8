"""Cut-off and damaged input files are refused, never cleaned into a copy missing HDUs."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from astropy.io import fits

from app.core.errors import InputError
from app.core.files.batch import clean_file
from app.core.files.products import read_product
from tests.core.products_factory import banded_frame, write_product


@pytest.fixture
def rate(tmp_path):
    return write_product(tmp_path / "r_rate.fits", banded_frame(0, (32, 2048)))


def hdu_offsets(path):
    with fits.open(path) as hdul:
        return [hdu.fileinfo()["hdrLoc"] for hdu in hdul]


def test_gzip_cut_short_is_refused(tmp_path, rate):
    packed = gzip.compress(rate.read_bytes())
    cut = tmp_path / "cut_rate.fits.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])  # astropy reads part of the HDUs
    with pytest.raises(InputError, match=r"cut_rate\.fits\.gz: the gzip file is truncated"):
        read_product(cut)
    whole = tmp_path / "whole_rate.fits.gz"
    whole.write_bytes(packed)
    assert np.array_equal(read_product(whole).sci, read_product(rate).sci)


@pytest.mark.parametrize("where", ["header", "data"])
def test_plain_file_cut_in_a_later_hdu_is_refused(tmp_path, rate, where):
    start = hdu_offsets(rate)[3]  # the DQ extension
    cut = tmp_path / "cut_rate.fits"
    cut.write_bytes(rate.read_bytes()[: start + (1000 if where == "header" else 3 * 2880)])
    target = tmp_path / "out.fits"
    with pytest.raises(InputError, match=r"cut_rate\.fits: the file is truncated or damaged"):
        clean_file(cut, np.ones((32, 2048), bool), target)
    assert not target.exists()


def test_a_gzip_is_decompressed_once_and_concatenated_members_are_read(tmp_path, rate,
                                                                       monkeypatch):
    import app.core.files.safe as safe

    raw = rate.read_bytes()
    whole = tmp_path / "whole_rate.fits.gz"
    whole.write_bytes(gzip.compress(raw))
    members = tmp_path / "members_rate.fits.gz"
    members.write_bytes(gzip.compress(raw[:5760]) + gzip.compress(raw[5760:]))
    opened = []

    class Counted(gzip.GzipFile):
        def __init__(self, *args, **kwargs):
            opened.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(safe.gzip, "GzipFile", Counted)
    read_product(whole)
    assert len(opened) == 1
    assert np.array_equal(read_product(members).sci, read_product(rate).sci)


def flip_bit(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 0x10
    return bytes(changed)


@pytest.mark.parametrize("where", [0.3, 0.6, 0.9])
def test_a_gzip_with_a_flipped_bit_is_refused(tmp_path, rate, where):
    """Deflate data with a flipped bit may still decompress, to wrong pixels: the CRC
    says so (gzip -t: 'crc error')."""
    packed = gzip.compress(rate.read_bytes(), mtime=0)
    bad = tmp_path / "bad_rate.fits.gz"
    bad.write_bytes(flip_bit(packed, int(len(packed) * where)))
    target = tmp_path / "out.fits"
    with pytest.raises(InputError, match=r"bad_rate\.fits\.gz: .*(damaged|truncated)"):
        clean_file(bad, np.ones((32, 2048), bool), target)
    assert not target.exists()


def test_a_gzip_whose_crc_is_wrong_is_refused(tmp_path, rate):
    packed = bytearray(gzip.compress(rate.read_bytes(), mtime=0))
    packed[-8] ^= 0xFF  # the CRC32 of the trailer
    bad = tmp_path / "crc_rate.fits.gz"
    bad.write_bytes(bytes(packed))
    with pytest.raises(InputError, match=r"crc_rate\.fits\.gz: the gzip file is truncated or "
                                         r"damaged \(CRC check failed"):
        read_product(bad)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "dev-urandom", "folder"])
def test_only_regular_files_are_read(tmp_path, kind):
    import os

    path = tmp_path / "x_rate.fits"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block until a writer comes
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(f"/dev/{kind[4:]}")  # endless bytes
    with pytest.raises(InputError, match=r"x_rate\.fits: is (a named pipe|a character "
                                         r"device|a folder)"):
        read_product(path)


def set_card(path, hdu: int, keyword: str, value: str) -> None:
    """Rewrite one header card in place, bytes only (astropy would fix what we break)."""
    data = bytearray(path.read_bytes())
    start = hdu_offsets(path)[hdu]
    for offset in range(start, len(data), 80):
        if data[offset:offset + 8].rstrip() == keyword.encode():
            data[offset:offset + 80] = f"{keyword:<8}= {value:>20}".ljust(80).encode()
            break
    else:
        raise AssertionError(keyword)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("keyword", "value", "words"), [
    ("BITPIX", "17", "BITPIX = 17 is not a FITS data type"),
    ("NAXIS1", "2047", "the sizes in HDU 2's header do not match its data"),
    ("NAXIS1", "1000000000", "GiB of data"),
    ("NAXIS1", "1.5", "not a whole number"),
    ("NAXIS2", "-3", "negative axis length"),
])
def test_damaged_headers_are_refused_before_allocating(tmp_path, rate, keyword, value, words):
    set_card(rate, 1, keyword, value)
    with pytest.raises(InputError, match=words) as info:
        read_product(rate)
    assert str(rate) in str(info.value) and "Error" not in str(info.value)


def test_a_blanked_end_card_is_refused_quickly(tmp_path, rate):
    data = bytearray(rate.read_bytes())
    start = hdu_offsets(rate)[1]
    end = data.index(b"END" + b" " * 77, start)
    data[end:end + 3] = b"   "
    rate.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"HDU 2's header runs into binary data .*END card"):
        read_product(rate)


@pytest.mark.parametrize("shape", [(0, 2048), (0, 32, 2048), (32, 0)])
def test_a_zero_size_image_is_refused(tmp_path, shape):
    path = tmp_path / "empty_rate.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros(shape, np.float32), name="SCI")]
                 ).writeto(path)
    with pytest.raises(InputError, match="SCI extension holds no data"):
        read_product(path)


def test_the_primary_header_alone_is_read_with_the_same_bounds(tmp_path, rate):
    import os

    from app.core.files.safe import primary_header

    assert primary_header(rate)["DETECTOR"] == "NRS1"
    packed = tmp_path / "p_rate.fits.gz"
    packed.write_bytes(gzip.compress(rate.read_bytes()))
    assert primary_header(packed)["DETECTOR"] == "NRS1"
    os.mkfifo(tmp_path / "fifo_rate.fits")
    with pytest.raises(InputError, match="named pipe"):
        primary_header(tmp_path / "fifo_rate.fits")
