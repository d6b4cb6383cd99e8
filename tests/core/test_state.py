"""The event mechanism and the settings states (no Qt)."""

from __future__ import annotations

import json

import pytest

from app.core.clean import CleanParams
from app.core.errors import InputError
from app.core.state.events import Event
from app.core.state.session import Session, settings_of
from app.core.state.states import PaintSettings, SettingsState
from app.core.state.workspace import STATES, Workspace


def test_event_connect_disconnect_and_block() -> None:
    event, seen = Event(), []
    event.connect(seen.append)
    event.connect(lambda v: seen.append(v * 10))
    event.emit(1)
    with event.blocked():
        with event.blocked():
            event.emit(2)
        event.emit(3)
    event.disconnect(seen.append)
    event.disconnect(seen.append)  # twice: harmless
    event.emit(4)
    assert seen == [1, 10, 40]


def test_a_callback_connected_during_an_emit_waits_for_the_next() -> None:
    event, seen = Event(), []
    event.connect(lambda: event.connect(lambda: seen.append("late")))
    event.emit()
    assert seen == []
    event.emit()
    assert seen == ["late"]


def test_state_emits_only_real_changes_with_the_field_names() -> None:
    state, seen = SettingsState(CleanParams()), []
    state.changed.connect(seen.append)
    assert not state.update(fc=CleanParams().fc)
    assert state.update(fc=1 / 128, buff=False)
    assert seen == [frozenset({"fc", "buff"})]
    assert state.reset() and state.value == CleanParams()


def test_state_refuses_bad_values_and_keeps_its_own() -> None:
    state = SettingsState(CleanParams())
    with pytest.raises(InputError, match="fc"):
        state.update(fc=0.7)
    with pytest.raises(InputError):
        state.update(no_such_field=1)
    with pytest.raises(InputError, match="sigrej must be"):
        state.from_dict({"sigrej": "3"})
    with pytest.raises(InputError, match="a number"):
        state.from_dict({"weight_sigma": True})
    with pytest.raises(InputError):
        state.from_dict(["fc"])
    assert state.value == CleanParams()
    paint = SettingsState(PaintSettings())
    with pytest.raises(InputError, match="tool"):
        paint.update(tool="laser")


def test_state_dict_round_trip_through_json_and_unknown_keys_ignored() -> None:
    state = SettingsState(CleanParams())
    state.update(kw=0.0, fit="real", ridge=3.0, sigrej=4)
    data = json.loads(json.dumps(state.to_dict()))
    other = SettingsState(CleanParams())
    assert other.from_dict(data | {"from_a_newer_version": 1})
    assert other.value == state.value and isinstance(other.value.sigrej, float)


def test_workspace_settings_cover_every_state_and_count_work() -> None:
    workspace = Workspace()
    assert set(STATES) <= set(workspace.settings_dict())
    before = workspace.revision
    workspace.paint.update(size=40.0)  # a tool choice is not work to save
    assert workspace.revision == before
    workspace.threshold.update(sigma=3.0)
    assert workspace.revision == before + 1


def test_settings_of_an_older_session_file() -> None:
    from app.core.mask.layers import MaskLayers

    old = Session(MaskLayers((4, 4)).snapshot(), stretch={"stretch": "log"},
                  cleaning={"fc": 1 / 128},
                  view={"brush_size": 20.0, "orientation": "detector", "combine": "median"})
    tables = settings_of(old)
    workspace = Workspace()
    assert not workspace.apply_settings(tables)
    assert workspace.display.settings.stretch == "log"
    assert workspace.cleaning.value.fc == 1 / 128 and workspace.paint.value.size == 20.0
    assert workspace.view.value.orientation == "detector" and workspace.stack.method == "median"


def test_one_undo_stack_for_mask_actions_and_settings_commands() -> None:
    import numpy as np

    workspace = Workspace()
    masks, history, cleaning = workspace.masks, workspace.undo, workspace.cleaning
    nrs1 = np.zeros((20, 30), np.float32)
    layers = masks.image_changed(nrs1, "NRS1")
    layers.rectangle("light", (2, 2), (5, 10))
    assert history.set(cleaning, CleanParams(fc=1 / 128), "auto-tune")
    assert not history.set(cleaning, CleanParams(fc=1 / 128), "auto-tune")  # no change
    layers.rectangle("exclude", (8, 2), (9, 10))
    assert history.undo_label == "rectangle exclude"
    assert history.undo() == "rectangle exclude" and not layers.layer("exclude").any()
    assert history.undo() == "auto-tune" and cleaning.value == CleanParams()
    assert history.redo() == "auto-tune" and cleaning.value.fc == 1 / 128
    # another detector's image: its own layers; the NRS1 action waits for them
    other = masks.image_changed(np.zeros((20, 30), np.float32), "NRS2")
    assert other is not layers
    assert history.undo() == "auto-tune"
    assert history.undo() is None and layers.layer("light").any()
    assert masks.image_changed(nrs1, "NRS1") is layers
    assert history.undo() == "rectangle light" and not layers.layer("light").any()
