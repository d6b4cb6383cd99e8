"""The shipped mask library: catalogue, generated defaults, published copies."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from app.core.mask import library as lib
from app.core.mask.formats import read_mask
from app.core.paths import library_dir

# The doc's "Known-dark regions", restated in DMS: horizontal bands over columns 4-2043.
DMS_BANDS = {
    "MOS": [(830, 929), (1110, 1199)],
    "IFU": [(830, 915), (1110, 1195), (4, 89), (1958, 2043)],
}


def expected_dms(mode):
    out = np.zeros((2048, 2048), bool)
    for first, last in DMS_BANDS[mode]:
        out[first : last + 1, 4:2044] = True
    return out


def test_every_entry_exists_and_every_file_is_catalogued():
    entries = lib.library_entries()
    assert len(entries) == 8
    for entry in entries:
        assert entry.path.is_file(), entry.path
        assert entry.detector in ("NRS1", "NRS2") and entry.mode in ("MOS", "IFU")
        assert entry.description
    shipped = {p.name for p in library_dir().glob("*.fits.gz")}
    assert shipped == {e.path.name for e in entries}


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
@pytest.mark.parametrize("mode", ["MOS", "IFU"])
def test_known_dark_bands_land_on_dms_rows(detector, mode):
    mask = lib.known_dark_mask(detector, mode)
    assert np.array_equal(mask, expected_dms(mode))


def test_shipped_defaults_equal_what_the_generator_writes(tmp_path):
    written = lib.write_defaults(tmp_path)
    assert len(written) == 4
    for path in written:
        shipped = library_dir() / path.name
        assert np.array_equal(read_mask(path).mask, read_mask(shipped).mask), path.name
        new, old = fits.getheader(path), fits.getheader(shipped)
        for key in ("DETECTOR", "NSC_MODE", "NSC_LIB"):
            assert new[key] == old[key]
        assert "Pixels = 1 are background" in str(old["COMMENT"])


def test_published_masks_are_unchanged_copies(published_masks_dir):
    for source in published_masks_dir.glob("*.fits.gz"):
        assert (library_dir() / source.name).read_bytes() == source.read_bytes()


def test_readme_gives_attribution():
    text = (library_dir() / "README.md").read_text(encoding="utf-8")
    assert "Rauscher" in text and "PASP" in text and "2306.03250" in text
    for entry in lib.library_entries():
        assert entry.path.name in text


def test_default_entry_for_an_exposure():
    entry = lib.default_entry("nrs2", "NRS_MSASPEC")
    assert entry is not None and entry.name == "nrs2_mos_known_dark"
    assert np.array_equal(entry.load(), expected_dms("MOS"))
    assert lib.default_entry("NRS1", "NRS_IFU").name == "nrs1_ifu_known_dark"
    assert lib.default_entry("NRS1", "NRS_FIXEDSLIT") is None
    assert lib.default_entry(None, "NRS_IFU") is None
    with pytest.raises(ValueError):
        lib.known_dark_mask("NRS1", "BOTS")
