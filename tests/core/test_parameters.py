"""The cleaning-parameter table: complete, its ranges accepted, and what follows from it."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields, replace

import pytest

from app.core.clean import CleanParams
from app.core.parameters import PARAMETERS, history_text, provenance_cards


def test_every_parameter_is_described_once() -> None:
    assert list(PARAMETERS) == [f.name for f in fields(CleanParams)]
    assert all(p.help.endswith(".") and p.label for p in PARAMETERS.values())


@pytest.mark.parametrize("name", [n for n, p in PARAMETERS.items() if p.low is not None])
def test_both_ends_of_each_range_are_accepted(name) -> None:
    p = PARAMETERS[name]
    # the roll-off's upper end needs a cut-off high enough to hold it
    base = CleanParams(fc=PARAMETERS["fc"].high) if name == "kw" else CleanParams()
    for value in (p.low, p.high):
        replace(base, **{name: type(p.default or 0.0)(value)}).validated()


def test_provenance_records_every_keyword_and_kw_as_used() -> None:
    params = CleanParams(fit="real", ridge=2.0)
    cards = provenance_cards(params)
    assert {p.keyword for p in PARAMETERS.values() if p.keyword} == set(cards)
    assert cards["NSC_KW"][0] == params.fc / 4 and cards["NSC_RIDG"][0] == 2.0
    assert "ridge=2" in history_text(params) and "harmonics=24" in history_text(params)


def test_the_cli_help_is_the_table() -> None:
    out = subprocess.run([sys.executable, "-m", "app.cli", "clean", "--help"],
                         capture_output=True, text=True, check=True).stdout
    flat = " ".join(out.split())
    for p in PARAMETERS.values():
        assert " ".join(p.help.split())[:40] in flat, p.name
