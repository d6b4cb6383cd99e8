"""Batched inversion and condition numbers used to trust (or not) a line's fit."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.engine import robust
from app.core.engine.conditioning import condition, invert


@pytest.fixture(params=[1, 2])
def engine_threads(request: pytest.FixtureRequest):
    """Run with the engine on one thread and on two (the batch is then split)."""
    before = robust.workers()
    robust.set_workers(request.param)
    yield request.param
    robust.set_workers(before)


def hermitian_batch(count: int, size: int = 9, seed: int = 0) -> np.ndarray:
    """Positive definite Hermitian matrices, like NSClean's normal matrices."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(count, size, size)) + 1j * rng.normal(size=(count, size, size))
    return a @ np.conj(np.swapaxes(a, 1, 2)) + 0.1 * np.eye(size)


@pytest.mark.parametrize("count", [7, 2040])
def test_invert_matches_one_by_one_with_singular_matrices(engine_threads: int,
                                                          count: int) -> None:
    gram = hermitian_batch(count)
    singular = [0, count // 2, count - 1]  # in the first and the last part of a split
    gram[singular] = 0.0
    inverse = invert(gram)
    for i in range(count):
        if i in singular:
            assert np.isnan(inverse[i]).all()
        else:
            np.testing.assert_allclose(inverse[i], np.linalg.inv(gram[i]), rtol=1e-10)


def test_condition_is_the_one_norm_condition_number() -> None:
    gram = hermitian_batch(5, seed=1)
    gram[3] = 0.0
    expected = [np.linalg.cond(g, 1) for g in gram[:3]]
    got = condition(gram, invert(gram))
    np.testing.assert_allclose(got[:3], expected, rtol=1e-9)
    assert got[3] == np.inf
