"""Auto-tune from the Cleaning panel: apply and undo, cancel, too little background."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

import app.tune_controller as tune_controller
from app.core.clean import FULL_FRAME, CleanParams
from app.core.threshold.traces import ThresholdSettings
from app.core.tuning.cv import NotEnoughBackground, Score
from app.core.tuning.tune import Stage, TuneResult
from tests.widgets.test_file_menu import menu_action

TIMEOUT = 60000

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


def fake_iter_tune(steps: int = 3, pause: float = 0.0):
    """A quick stand-in for iter_tune: fc ×2 and buffing σ 1, with a two-stage curve."""

    def run(image, mask, detector, *, start=None, settings=None, dq=None, readpatt=None):
        assert image.shape == mask.shape and detector in ("NRS1", "NRS2")
        start = start or CleanParams()
        for i in range(steps):
            time.sleep(pause)
            yield i / steps, f"step {i}"
        best = replace(start, fc=2 * start.fc, buff_sigma=1.0)
        stages = [Stage("fc", [start.fc, best.fc], [2.0, 1.5], [0.1, 0.1], [0.05, 0.0], 1),
                  Stage("buff_sigma", [0.0, 1.0, 1.5], [1.7, 1.5, 1.6], [0.1] * 3,
                        [0.02, 0.0, 0.03], 1)]
        return TuneResult(best, start, Score(1.5, 0.1, np.zeros(2)), Score(2.0, 0.1, np.zeros(2)),
                          stages, 0.1, 1 / 6, 1234)

    return run


def as_if_full_frame(monkeypatch) -> None:
    """Small test frames stand in for a 2048×2048 one (the method still counts)."""
    real = tune_controller.why_not_tunable
    monkeypatch.setattr(tune_controller, "why_not_tunable",
                        lambda shape, params: real(FULL_FRAME, params))


@pytest.fixture
def loaded(qtbot, window, make_product, monkeypatch):
    as_if_full_frame(monkeypatch)
    window.stack.set_products([make_product("t_rate.fits", shape=(64, 80))])
    qtbot.waitUntil(lambda: window.mask_layers is not None, timeout=TIMEOUT)
    return window


def test_tune_applies_best_values_and_undo_restores(qtbot, loaded, monkeypatch) -> None:
    monkeypatch.setattr(tune_controller, "iter_tune", fake_iter_tune())
    win, form = loaded, loaded.preview.panel.form
    before = form.params()
    seen: list[CleanParams] = []
    win.workspace.cleaning.changed.connect(lambda _fields: seen.append(form.params()))
    with qtbot.waitSignal(win.tune.tuneFinished, timeout=TIMEOUT) as blocker:
        win.tune.controls.tune_button.click()
    result = blocker.args[0]
    assert result is not None and form.params() == result.best
    assert form.params().fc == 2 * before.fc and form.params().buff_sigma == 1.0
    assert seen[-1] == result.best  # the live preview was told
    assert form.spins["fc"].value() == pytest.approx(2 * before.fc * 2048)
    dialog = win.tune.dialog
    assert dialog.isVisible() and "Applied: fc 8 → 16 cycles/line" in dialog.message.text()
    assert len(dialog.plots.ci.items) == 2  # one score curve per stage
    undo = menu_action(win, "Edit", "Undo auto-tune")  # one undo stack with the painting
    undo.trigger()
    assert form.params() == before and seen[-1] == before
    assert form.spins["fc"].value() == pytest.approx(before.fc * 2048)
    menu_action(win, "Edit", "Redo auto-tune").trigger()
    assert form.params() == result.best


def test_tune_and_strokes_undo_in_the_order_they_were_made(qtbot, loaded, monkeypatch) -> None:
    monkeypatch.setattr(tune_controller, "iter_tune", fake_iter_tune())
    win, form = loaded, loaded.preview.panel.form
    layers, before = win.mask_layers, form.params()
    layers.rectangle("light", (5, 5), (10, 30))  # a stroke, then a tune, then a stroke
    after_first = np.array(layers.layer("light"))
    with qtbot.waitSignal(win.tune.tuneFinished, timeout=TIMEOUT) as blocker:
        win.tune.controls.tune_button.click()
    tuned = blocker.args[0].best
    layers.rectangle("light", (20, 5), (30, 30))
    win.tune.dialog.close()
    undo = win.mask_actions.actions["undo"]  # Edit ▸ Undo, named after what it undoes
    assert undo.text() == "&Undo rectangle light"
    undo.trigger()
    np.testing.assert_array_equal(layers.layer("light"), after_first)
    assert form.params() == tuned and undo.text() == "&Undo auto-tune"
    undo.trigger()
    assert form.params() == before
    np.testing.assert_array_equal(layers.layer("light"), after_first)
    undo.trigger()
    assert not layers.layer("light").any() and not undo.isEnabled()


def test_defaults_are_one_undo_step(qtbot, loaded) -> None:
    win, form = loaded, loaded.preview.panel.form
    form.spins["fc"].setValue(16.0)
    edited = form.params()
    form.reset_button.click()
    assert form.params() == CleanParams()
    menu_action(win, "Edit", "Undo cleaning defaults").trigger()
    assert form.params() == edited
    panel = win.threshold.panel
    panel.grow.setValue(9)
    panel.reset_button.click()
    assert panel.settings().grow == ThresholdSettings().grow
    menu_action(win, "Edit", "Undo threshold defaults").trigger()
    assert panel.settings().grow == 9 and panel.grow.value() == 9


def test_cancel_keeps_the_parameters(qtbot, loaded, monkeypatch) -> None:
    monkeypatch.setattr(tune_controller, "iter_tune", fake_iter_tune(steps=2000, pause=0.005))
    win, form = loaded, loaded.preview.panel.form
    before = form.params()
    assert win.tune.start()
    qtbot.waitUntil(lambda: win.tune.dialog.progress.value() > 0, timeout=TIMEOUT)
    with qtbot.waitSignal(win.tune.tuneFinished, timeout=TIMEOUT) as blocker:
        win.tune.dialog.cancel_button.click()
    assert blocker.args == [None]
    qtbot.waitUntil(lambda: not win.runner.is_busy("tune"), timeout=TIMEOUT)
    assert form.params() == before
    assert "Cancelled" in win.tune.dialog.message.text()
    assert win.tune.controls.tune_button.isEnabled()


def test_refusal_shows_a_message_and_keeps_the_parameters(qtbot, loaded, monkeypatch,
                                                          messages) -> None:
    def refuse(*args, **kwargs):
        raise NotEnoughBackground("only 12 background samples can be held out")
        yield  # a generator, like iter_tune

    monkeypatch.setattr(tune_controller, "iter_tune", refuse)
    win, form = loaded, loaded.preview.panel.form
    before = form.params()
    with qtbot.waitSignal(win.tune.tuneFinished, timeout=TIMEOUT):
        win.tune.start()
    assert messages and "only 12 background samples" in messages[0][1]
    assert "unchanged" in messages[0][1]
    assert form.params() == before


def test_auto_tune_is_offered_only_where_there_is_something_to_tune(
        qtbot, window, make_product, messages, monkeypatch) -> None:
    controls = window.tune.controls
    window.stack.set_products([make_product("s_rate.fits", shape=(32, 2048))])  # a subarray
    qtbot.waitUntil(lambda: window.mask_layers is not None, timeout=TIMEOUT)
    assert not controls.tune_button.isEnabled()
    assert "subarrays" in controls.tune_button.toolTip()
    assert not window.tune.start()  # one message, no dialog, nothing running
    assert len(messages) == 1 and "unchanged" in messages[0][1]
    assert window.tune.dialog is None and not window.runner.is_busy("tune")

    as_if_full_frame(monkeypatch)
    window.stack.set_products([make_product("t_rate.fits", shape=(64, 80))])
    qtbot.waitUntil(lambda: window.mask_layers.shape == (64, 80), timeout=TIMEOUT)
    assert controls.tune_button.isEnabled()
    form = window.preview.panel.form
    form.method.setCurrentIndex(form.method.findData("median"))
    assert not controls.tune_button.isEnabled() and "median" in controls.tune_button.toolTip()
    form.method.setCurrentIndex(form.method.findData("fft"))
    assert controls.tune_button.isEnabled()


@pytest.mark.slow
def test_real_tune_with_too_little_background(qtbot, window, make_product, messages) -> None:
    """The real iter_tune on a full frame whose mask leaves almost no background."""
    window.stack.set_products([make_product("full_rate.fits", shape=(2048, 2048))])
    qtbot.waitUntil(lambda: window.mask_layers is not None, timeout=TIMEOUT)
    window.mask_layers.rectangle("light", (0, 0), (2047, 2040))  # all but a few columns
    before = window.preview.panel.form.params()
    with qtbot.waitSignal(window.tune.tuneFinished, timeout=TIMEOUT):
        assert window.tune.start()
    assert messages and messages[0][0] == "Auto-tune not possible"
    assert "unchanged" in messages[0][1]
    assert window.preview.panel.form.params() == before


def test_form_keeps_a_hard_cut_apart_from_auto(window) -> None:
    """Auto-tune may choose kw = 0 (a hard cut); the form must not turn it into 'auto'."""
    form = window.preview.panel.form
    form.set_params(replace(CleanParams(), kw=0.0, fit="real", ridge=10.0))
    assert form.spins["kw"].text() != "auto (fc/4)"
    form.spins["sigrej"].setValue(4.0)  # any edit rebuilds the parameters from the form
    assert form.params().kw == 0.0 and form.params().ridge == 10.0
    assert "1/f prior of strength 10" in form.variant.text()
    form.spins["kw"].stepDown()  # one step below 0: auto again
    assert form.params().kw is None and form.spins["kw"].text() == "auto (fc/4)"
