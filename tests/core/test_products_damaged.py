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


def test_a_whole_gzip_is_not_decompressed_twice(tmp_path, rate, monkeypatch):
    """The gzip trailer's length vouches for a whole file; gzip members concatenated (a
    valid file whose trailer gives only the last member's length) are checked in full."""
    import app.core.files.products as products

    raw = rate.read_bytes()
    whole = tmp_path / "whole_rate.fits.gz"
    whole.write_bytes(gzip.compress(raw))
    members = tmp_path / "members_rate.fits.gz"
    members.write_bytes(gzip.compress(raw[:5760]) + gzip.compress(raw[5760:]))
    opened = []
    real_open = products.gzip.open
    monkeypatch.setattr(products.gzip, "open", lambda p, *a, **k: opened.append(p)
                        or real_open(p, *a, **k))
    read_product(whole)
    assert opened == []
    assert np.array_equal(read_product(members).sci, read_product(rate).sci)
    assert opened == [members]
