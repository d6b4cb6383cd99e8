"""Tile-diff undo history: exact restore, grouping, bounds, redo, scalar state."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.mask.paint import Box
from app.core.mask.undo import History

SHAPE = (300, 260)  # not a multiple of the tile size: edge tiles are partial


def make_history(**kwargs):
    arrays = {"a": np.zeros(SHAPE, bool), "b": np.zeros(SHAPE, bool)}
    state = {"flag": False}

    def swap(values):
        previous = {k: state[k] for k in values}
        state.update(values)
        return previous

    return arrays, state, History(arrays.__getitem__, SHAPE, swap_state=swap, **kwargs)


def random_edit(rng, arrays, history, label="edit", writes=3):
    with history.group(label):
        for _ in range(writes):
            name = "ab"[rng.integers(2)]
            y0, x0 = rng.integers(0, SHAPE[0] - 1), rng.integers(0, SHAPE[1] - 1)
            box = Box(y0, y0 + rng.integers(1, 90), x0, x0 + rng.integers(1, 90)).clip(SHAPE)
            history.before_write(name, box)
            arrays[name][box.slices] ^= rng.random(box.shape) < 0.5


def copy(arrays):
    return {k: v.copy() for k, v in arrays.items()}


def same(x, y):
    return all(np.array_equal(x[k], y[k]) for k in x)


def test_undo_and_redo_restore_every_state_exactly():
    rng = np.random.default_rng(0)
    arrays, _state, history = make_history()
    states = [copy(arrays)]
    for _ in range(20):
        random_edit(rng, arrays, history)
        states.append(copy(arrays))
    for expected in reversed(states[:-1]):
        assert history.undo() is not None
        assert same(arrays, expected)
    assert history.undo() is None
    for expected in states[1:]:
        assert history.redo() is not None
        assert same(arrays, expected)
    assert history.redo() is None


def test_a_group_is_one_item_and_reports_the_touched_box():
    arrays, _state, history = make_history()
    history.begin("stroke")
    for k in range(50):  # 50 overlapping dabs
        box = Box(100, 110, 20 + 2 * k, 30 + 2 * k)
        history.before_write("a", box)
        arrays["a"][box.slices] = True
    history.end()
    assert len(history) == 1
    applied = history.undo()
    assert not arrays["a"].any()
    assert applied.layers == {"a"} and applied.label == "stroke"
    # Painted rows 100-109, columns 20-127: tiles of 64 cover rows 64-127, columns 0-127.
    assert applied.box == Box(64, 128, 0, 128)


def test_nested_groups_join_the_outermost():
    arrays, _state, history = make_history()
    with history.group("outer"):
        for _ in range(3):
            with history.group("inner"):
                history.before_write("b", Box(0, 5, 0, 5))
                arrays["b"][:5, :5] ^= True
    assert len(history) == 1 and history.undo_label == "outer"


def test_unchanged_tiles_are_dropped_and_empty_actions_not_stored():
    arrays, _state, history = make_history()
    with history.group("nothing"):
        history.before_write("a", Box.full(SHAPE))
    assert len(history) == 0
    with history.group("one pixel"):
        history.before_write("a", Box.full(SHAPE))
        arrays["a"][150, 150] = True
    assert len(history) == 1
    assert history.nbytes == 64 * 64 // 8  # one packed tile, not the frame


def test_a_new_action_clears_redo():
    rng = np.random.default_rng(1)
    arrays, _state, history = make_history()
    random_edit(rng, arrays, history)
    random_edit(rng, arrays, history)
    history.undo()
    assert history.can_redo
    random_edit(rng, arrays, history)
    assert not history.can_redo


def test_count_bound_evicts_the_oldest():
    rng = np.random.default_rng(2)
    arrays, _state, history = make_history(max_items=5)
    states = [copy(arrays)]
    for _ in range(8):
        random_edit(rng, arrays, history)
        states.append(copy(arrays))
    assert len(history) == 5
    while history.undo() is not None:
        pass
    assert same(arrays, states[3])  # the three oldest actions can no longer be undone


def test_byte_bound_evicts_the_oldest_but_keeps_the_newest():
    arrays, _state, history = make_history(max_bytes=3 * 512)
    for k in range(4):  # each action changes exactly one tile (512 bytes packed)
        with history.group(f"tile {k}"):
            history.before_write("a", Box(0, 1, 64 * k, 64 * k + 1))
            arrays["a"][0, 64 * k] = True
    assert len(history) == 3 and history.nbytes == 3 * 512
    _arrays, _state, small = make_history(max_bytes=10)
    with small.group("big"):
        small.before_write("a", Box.full(SHAPE))
        _arrays["a"][...] = True
    assert len(small) == 1


def test_scalar_state_is_swapped_with_the_pixels():
    arrays, state, history = make_history()
    with history.group("switch"):
        history.note_state("flag", state["flag"])
        history.note_state("flag", "ignored: only the first value counts")
        state["flag"] = True
        history.before_write("b", Box(0, 3, 0, 3))
        arrays["b"][:3, :3] = True
    applied = history.undo()
    assert state["flag"] is False and not arrays["b"].any() and applied.state_changed
    history.redo()
    assert state["flag"] is True and arrays["b"][:3, :3].all()


def test_misuse_is_reported():
    _arrays, _state, history = make_history()
    with pytest.raises(RuntimeError):
        history.end()
    with pytest.raises(RuntimeError):
        history.before_write("a", Box(0, 1, 0, 1))
    history.begin("open")
    assert history.undo() is None and not history.can_undo  # never undo mid-action
    history.end()
