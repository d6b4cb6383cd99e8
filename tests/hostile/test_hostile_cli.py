"""The hostile corpus through ``nsclean``: every damaged, special, absurd or oddly named
input gets one clear message naming it, nothing else is harmed, nothing hangs.

See :mod:`tests.hostile.corpus` for the cases and what is checked. The -j 2 batch is
marked slow (the -j 1 batch covers the same cases).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.hostile.batch import batch, command_cases
from tests.hostile.corpus import data_cases, mask_cases, option_cases

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, sockets, /dev")
CODE = Path(__file__).resolve().parents[2]


def failures(results: dict[str, list[str]]) -> dict[str, list[str]]:
    return {case: problems for case, problems in results.items() if problems}


def test_the_corpus_has_at_least_60_cases(tmp_path):
    count = (len(data_cases(tmp_path / "d")) + len(option_cases())
             + len(mask_cases(tmp_path / "m")))
    assert count >= 60, count


def test_every_hostile_product_is_refused_alone_in_a_batch(tmp_path):
    assert failures(batch(tmp_path, CODE, jobs=1)) == {}


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="-j 2 needs two CPUs")
def test_every_hostile_product_is_refused_alone_in_a_parallel_batch(tmp_path):
    assert failures(batch(tmp_path, CODE, jobs=2)) == {}


def test_every_absurd_option_and_damaged_mask_is_refused_up_front(tmp_path):
    assert failures(command_cases(tmp_path, None)) == {}
