"""Shared fixtures: where ../shared lives, and skipping when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# ../shared beside the checkout; a worktree one level deeper (wt/issueNN) finds ../../shared
SHARED = next((p for p in (REPO.parent / "shared", REPO.parent.parent / "shared")
               if p.is_dir()), REPO.parent / "shared")
PUBLISHED_MASKS = SHARED / "data" / "nsclean-masks"


@pytest.fixture
def published_masks_dir() -> Path:
    """The folder of real published NSClean masks; skips the test when it is absent."""
    if not PUBLISHED_MASKS.is_dir():
        pytest.skip("../shared/data/nsclean-masks is not present")
    return PUBLISHED_MASKS
