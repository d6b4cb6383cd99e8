"""The mask-format table: the README, the CLI and the writers follow it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core.mask.format_table import MASK_FORMATS, format_for_name, readme_table, write_mask
from app.core.mask.formats import read_mask

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_the_registry() -> None:
    assert readme_table() in README.read_text(encoding="utf-8")


def test_the_cli_offers_every_format() -> None:
    out = subprocess.run([sys.executable, "-m", "app.cli", "mask", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "{" + ",".join(MASK_FORMATS) + "}" in out


@pytest.mark.parametrize("name", list(MASK_FORMATS))
def test_every_format_round_trips_with_any_options_offered(tmp_path, name) -> None:
    fmt = MASK_FORMATS[name]
    rng = np.random.default_rng(1)
    mask = rng.random((24, 40)) > 0.5
    mask[:4] = mask[-4:] = False  # the reference border reads as not background
    target = tmp_path / f"m{fmt.suffixes[0]}"
    write_mask(target, mask, name, detector="NRS1", gray=np.zeros(mask.shape, np.uint8),
               history=["made by a test"], extra={"NSC_SRC": "x_rate.fits"})
    np.testing.assert_array_equal(read_mask(target, shape=mask.shape).mask, mask)
    assert format_for_name(target) in MASK_FORMATS
