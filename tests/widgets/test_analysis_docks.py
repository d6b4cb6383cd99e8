"""Threshold dock (live overlay, one-step Apply, region, bad input), Coverage dock, layout."""

from __future__ import annotations

import numpy as np
import pytest
from PyQt6.QtCore import QPointF, Qt

from app.core.threshold.live import region_mask
from app.core.threshold.traces import Thresholder, ThresholdSettings

TIMEOUT = 30000
SHAPE = (128, 160)

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


def wait_idle(qtbot, window) -> None:
    timers = (window.threshold._timer, window.coverage._timer, window.preview._timer)
    qtbot.waitUntil(lambda: not window.runner.is_busy()
                    and not any(t.isActive() for t in timers), timeout=TIMEOUT)


def load(qtbot, window, product):
    window.stack.set_products([product])
    qtbot.waitUntil(lambda: window.mask_layers is not None and window.stack.image is not None,
                    timeout=TIMEOUT)
    wait_idle(qtbot, window)
    return window


@pytest.fixture
def thresholding(qtbot, window, make_product):
    """The window with a small image and the Threshold tab in front, preview shown."""
    window.threshold.dock.raise_()
    with qtbot.waitSignal(window.threshold.previewShown, timeout=TIMEOUT,
                          check_params_cb=lambda r: r is not None):
        load(qtbot, window, make_product("t_rate.fits", shape=SHAPE, seed=1))
    wait_idle(qtbot, window)
    return window


def expected_light(window, settings: ThresholdSettings) -> np.ndarray:
    return Thresholder(window.stack.image).threshold(settings).light


def apply(qtbot, window, how: str = "replace") -> None:
    """Apply, combining as ``how`` (chosen in the panel as a user would)."""
    mode = window.threshold.panel.apply_mode
    mode.setCurrentIndex(mode.findData(how))
    with qtbot.waitSignal(window.threshold.applied, timeout=TIMEOUT):
        assert window.threshold.apply()
    wait_idle(qtbot, window)


def test_minimum_height_fits_a_small_screen(window) -> None:
    assert window.minimumSizeHint().height() <= 800
    areas = {window.dockWidgetArea(d) for d in (window.display_dock, window.preview.dock,
                                                window.threshold.dock, window.coverage.dock)}
    assert len(areas) == 1
    assert window.tabifiedDockWidgets(window.display_dock)


def test_slider_change_updates_overlay(qtbot, thresholding) -> None:
    win = thresholding
    panel, overlay = win.threshold.panel, win.threshold.overlay
    assert overlay.isVisible()
    first = overlay.shown.astype(bool).copy()
    np.testing.assert_array_equal(first, expected_light(win, panel.settings()))
    with qtbot.waitSignal(win.threshold.previewShown, timeout=TIMEOUT):
        panel.sigma.setValue(6.0)  # as a slider drag would
    wait_idle(qtbot, win)
    second = overlay.shown.astype(bool)
    assert panel.settings().sigma == 6.0
    np.testing.assert_array_equal(second, expected_light(win, panel.settings()))
    assert second.sum() < first.sum()


def test_overlay_hidden_when_another_tab_is_in_front(qtbot, thresholding) -> None:
    win = thresholding
    win.display_dock.raise_()
    qtbot.waitUntil(lambda: not win.threshold.overlay.isVisible(), timeout=TIMEOUT)


def test_apply_is_one_undo_step(qtbot, thresholding) -> None:
    win = thresholding
    layers = win.mask_layers
    layers.rectangle("light", (3, 3), (10, 20))  # some earlier work to come back to
    before = np.array(layers.layer("light"))
    steps = len(layers.history)
    apply(qtbot, win)
    light = np.array(layers.layer("light"))
    np.testing.assert_array_equal(light, expected_light(win, win.threshold.panel.settings()))
    assert len(layers.history) == steps + 1
    win.mask_actions.undo()
    np.testing.assert_array_equal(layers.layer("light"), before)


def test_region_limited_apply_touches_only_the_region(qtbot, thresholding) -> None:
    win = thresholding
    layers = win.mask_layers
    layers.rectangle("light", (100, 0), (127, 159))  # top rows light before
    before = np.array(layers.layer("light"))
    win.threshold.panel.set_region_kind("rectangle")
    roi = win.threshold.selector.roi
    roi.setPos(QPointF(20, 10), finish=False)
    roi.setSize(QPointF(60, 100))  # DMS x 20..79, y 10..109
    region = np.zeros(SHAPE, bool)
    region[10:110, 20:80] = True
    np.testing.assert_array_equal(win.threshold.region(SHAPE), region)
    apply(qtbot, win)
    light = np.array(layers.layer("light"))
    np.testing.assert_array_equal(light[~region], before[~region])
    expected = expected_light(win, win.threshold.panel.settings())
    np.testing.assert_array_equal(light[region], expected[region])
    assert (light != before).any()


def test_region_mask_of_a_polygon() -> None:
    # a triangle: pixel centres (x + 0.5, y + 0.5) under the diagonal x = y
    mask = region_mask([(0, 0), (10, 0), (10, 10)], (12, 12))
    yy, xx = np.mgrid[0:12, 0:12]
    inside = (yy + 0.5 < xx + 0.5) & (xx < 10)
    assert np.count_nonzero(mask ^ inside) <= 10  # only the diagonal may go either way
    assert region_mask(None, (12, 12)) is None


def test_threshold_that_selects_nothing_changes_nothing(qtbot, window, make_product,
                                                        messages) -> None:
    product = make_product("noise_rate.fits", shape=SHAPE, seed=2)
    rng = np.random.default_rng(5)
    product.sci[...] = rng.normal(0, 1, product.sci.shape).astype(np.float32)
    load(qtbot, window, product)
    layers = window.mask_layers
    window.threshold.panel.set_settings(ThresholdSettings(sigma=10.0, min_size=50))
    steps, before = len(layers.history), np.array(layers.layer("light"))
    assert window.threshold.apply()
    qtbot.waitUntil(lambda: bool(messages), timeout=TIMEOUT)
    assert "Nothing rises above" in messages[0][1] and "unchanged" in messages[0][1]
    assert len(layers.history) == steps
    np.testing.assert_array_equal(layers.layer("light"), before)


def test_all_nan_image_gives_a_clear_message(qtbot, window, make_product, messages) -> None:
    product = make_product("nan_rate.fits", shape=SHAPE)
    product.sci[...] = np.nan
    load(qtbot, window, product)
    layers = window.mask_layers
    steps = len(layers.history)
    assert window.threshold.apply()
    qtbot.waitUntil(lambda: bool(messages), timeout=TIMEOUT)
    title, text = messages[0]
    assert title == "Threshold not applied" and "no usable pixel" in text
    assert len(layers.history) == steps and not layers.layer("light").any()


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_coverage_lists_and_marks_starved_lines(qtbot, window, make_product, detector) -> None:
    load(qtbot, window, make_product("c_rate.fits", shape=SHAPE, detector=detector))
    with qtbot.waitSignal(window.coverage.coverageShown, timeout=TIMEOUT,
                          check_params_cb=lambda c: c is not None):
        # DMS columns 0..10: a subarray's fit shares windows of neighbouring lines, so
        # only lines outside every window (here before the first with samples) are unfit
        window.mask_layers.band("exclude", 0, 10, axis=1)
    coverage = window.coverage.coverage
    nx = SHAPE[1]
    lines = range(0, 11) if detector == "NRS1" else range(nx - 1 - 10, nx)
    # a subarray has no reference columns unless it spans the detector: only the band
    assert set(coverage.unfit_lines) == set(lines)
    texts = window.coverage.panel.row_texts()
    row = next(i for i, t in enumerate(texts) if t.startswith(f"lines {lines[0]}–{lines[-1]}:"))
    assert texts[row].endswith("0 samples (need 1)")
    # the bands cover DMS columns 0..10 whatever the detector
    path = window.coverage.unfit_bands.path()
    assert path.contains(QPointF(5.5, 64)) and path.contains(QPointF(0.5, 64))
    assert not path.contains(QPointF(11.5, 64))
    # clicking the row centres the view on those columns (DMS x = 5.5)
    window.coverage.panel.rows.itemClicked.emit(window.coverage.panel.rows.item(row))
    centre = window.view.dms_from_scene(window.view.view.mapViewToScene(
        window.view.view.viewRect().center()))
    assert centre.x() == pytest.approx(5.5, abs=0.5)


def test_coverage_follows_undo(qtbot, window, make_product) -> None:
    load(qtbot, window, make_product("c_rate.fits", shape=SHAPE))
    with qtbot.waitSignal(window.coverage.coverageShown, timeout=TIMEOUT):
        window.mask_layers.band("exclude", 0, 1, axis=1)  # before the first fit window
    assert any(t.startswith("lines 0–1:") for t in window.coverage.panel.row_texts())
    with qtbot.waitSignal(window.coverage.coverageShown, timeout=TIMEOUT):
        window.mask_actions.undo()
    assert not any(t.startswith("lines 0–1:") for t in window.coverage.panel.row_texts())


def test_demo_start_mask_is_one_threshold_step(qtbot, window, make_product) -> None:
    load(qtbot, window, make_product("d_rate.fits", shape=SHAPE, seed=3))
    layers = window.mask_layers
    steps = len(layers.history)
    with qtbot.waitSignal(window.maskChanged, timeout=TIMEOUT):
        window._load_default_mask()  # what the demo does once its image is shown
    np.testing.assert_array_equal(layers.layer("light"),
                                  expected_light(window, ThresholdSettings()))
    assert len(layers.history) == steps + 1
    assert not window.sessions.dirty  # the demo's starting point asks nothing at close


def test_demo_start_mask_falls_back_when_thresholding_fails(qtbot, window, make_product) -> None:
    product = make_product("d_rate.fits", shape=SHAPE)
    product.sci[...] = np.nan
    load(qtbot, window, product)
    fallbacks: list[int] = []
    window.threshold.auto_mask(fallback=lambda: fallbacks.append(1))
    qtbot.waitUntil(lambda: bool(fallbacks), timeout=TIMEOUT)
    assert not window.mask_layers.layer("light").any()


def test_apply_reuses_the_preview_on_screen(qtbot, thresholding) -> None:
    win = thresholding
    applied: list[object] = []
    win.threshold.applied.connect(applied.append)
    assert win.threshold.apply()
    assert applied and applied[0] is win.threshold.result  # no second threshold computed
    np.testing.assert_array_equal(win.mask_layers.layer("light"),
                                  expected_light(win, win.threshold.panel.settings()))


def test_apply_while_the_preview_is_pending_uses_the_new_settings(qtbot, thresholding) -> None:
    win = thresholding
    win.threshold.panel.sigma.setValue(6.0)  # the debounce timer is running
    assert win.threshold._timer.isActive()
    apply(qtbot, win)
    settings = win.threshold.panel.settings()
    assert settings.sigma == 6.0
    np.testing.assert_array_equal(win.mask_layers.layer("light"), expected_light(win, settings))


def test_apply_dropped_when_the_image_changes_first(qtbot, thresholding, messages) -> None:
    win = thresholding
    layers = win.mask_layers
    steps, before = len(layers.history), np.array(layers.layer("light"))
    win.threshold.panel.set_settings(ThresholdSettings(sigma=4.0))  # not on screen: computed
    assert win.threshold.apply()
    win.stack.set_method("median")  # a new working image; the same-shape layers stay
    qtbot.waitUntil(lambda: win.stack.image is not None, timeout=TIMEOUT)
    wait_idle(qtbot, win)
    assert win.mask_layers is layers
    assert len(layers.history) == steps and not messages
    np.testing.assert_array_equal(layers.layer("light"), before)
    assert "image changed" in win.statusBar().currentMessage()


def test_preview_follows_a_new_image_loaded_while_the_dock_is_hidden(
        qtbot, thresholding, make_product) -> None:
    win = thresholding
    win.display_dock.raise_()
    qtbot.waitUntil(lambda: not win.threshold.overlay.isVisible(), timeout=TIMEOUT)
    load(qtbot, win, make_product("t2_rate.fits", shape=SHAPE, seed=7))
    assert win.threshold.result is None  # the old image's overlay is gone
    with qtbot.waitSignal(win.threshold.previewShown, timeout=TIMEOUT,
                          check_params_cb=lambda r: r is not None):
        win.threshold.dock.raise_()
    shown = win.threshold.overlay.shown.astype(bool)
    np.testing.assert_array_equal(shown, expected_light(win, win.threshold.panel.settings()))


def test_closing_all_files_drops_a_running_preview(qtbot, thresholding) -> None:
    win = thresholding
    shown: list[object] = []
    win.threshold.previewShown.connect(shown.append)
    win.threshold.panel.sigma.setValue(6.0)
    win.threshold.submit_preview()  # the worker has it
    win.stack.set_products([])
    wait_idle(qtbot, win)
    assert all(r is None for r in shown)
    assert win.threshold.result is None and win.threshold.overlay.shown is None
    assert not win.threshold._timer.isActive()  # no image: nothing rescheduled


def test_a_failing_threshold_is_not_retried_in_a_loop(qtbot, window, make_product) -> None:
    product = make_product("nan_rate.fits", shape=SHAPE)
    product.sci[...] = np.nan
    window.threshold.dock.raise_()
    load(qtbot, window, product)  # waits until no timer runs: the error is shown once
    assert "no usable pixel" in window.threshold.panel.message.text()
    submitted: list[object] = []
    window.runner.progress.connect(lambda *a: submitted.append(a))
    qtbot.wait(3 * 100 + 50)
    assert not submitted and not window.threshold._timer.isActive()


def test_slider_sequence_matches_a_fresh_threshold_each_time(qtbot, thresholding) -> None:
    """The caches kept between moves (labels per σ, core per size, smoothing) give what a
    Thresholder that never saw the earlier settings gives."""
    win = thresholding
    panel = win.threshold.panel
    moves = [(panel.min_size, 20), (panel.sigma, 3.0), (panel.min_size, 400),
             (panel.grow, 6), (panel.sigma, 2.3), (panel.min_size, 20)]
    for widget, value in moves:
        with qtbot.waitSignal(win.threshold.previewShown, timeout=TIMEOUT):
            widget.setValue(value)
        wait_idle(qtbot, win)
        shown = win.threshold.overlay.shown.astype(bool)
        np.testing.assert_array_equal(shown, expected_light(win, panel.settings()))


def test_coverage_of_closed_files_is_not_shown(qtbot, window, make_product) -> None:
    load(qtbot, window, make_product("c_rate.fits", shape=SHAPE))
    window.mask_layers.band("exclude", 30, 31, axis=1)
    shown: list[object] = []
    window.coverage.coverageShown.connect(shown.append)
    window.coverage.submit()  # the worker measures the old image
    window.stack.set_products([])
    wait_idle(qtbot, window)
    assert shown and all(c is None for c in shown)
    assert window.coverage.coverage is None and not window.coverage.panel.row_texts()
    assert window.coverage.unfit_bands.path().isEmpty()


def test_moves_while_a_threshold_runs_are_coalesced(qtbot, thresholding) -> None:
    win = thresholding
    panel, control = win.threshold.panel, win.threshold
    sigmas: list[float] = []
    control.previewShown.connect(lambda r: r is not None and sigmas.append(r.settings.sigma))
    panel.sigma.setValue(3.0)
    control.submit_preview()  # in the worker; its result cannot arrive before we return
    for value in (3.5, 4.0, 4.5):  # a drag goes on meanwhile
        panel.sigma.setValue(value)
    wait_idle(qtbot, win)
    assert sigmas == [3.0, 4.5]  # nothing in between was computed, the last one was
    np.testing.assert_array_equal(control.overlay.shown.astype(bool),
                                  expected_light(win, panel.settings()))


@pytest.mark.parametrize("detector", ["NRS1", "NRS2"])
def test_overlay_and_selection_follow_the_detector_view(qtbot, window, make_product,
                                                        detector) -> None:
    window.threshold.dock.raise_()
    with qtbot.waitSignal(window.threshold.previewShown, timeout=TIMEOUT,
                          check_params_cb=lambda r: r is not None):
        load(qtbot, window, make_product("o_rate.fits", shape=SHAPE, detector=detector))
    control = window.threshold
    control.panel.set_region_kind("rectangle")
    control.selector.roi.setPos(QPointF(20, 10))
    control.selector.roi.setSize(QPointF(30, 40))
    region = control.region(SHAPE)
    corner = {}
    for orientation in ("detector", "dms"):
        window._toggle_orientation(orientation == "detector")
        corner[orientation] = window.view.scene_from_dms(3.5, 7.5)
        for x, y in ((3.5, 7.5), (150.5, 100.5)):  # DMS points land where the image has them
            expected = window.view.scene_from_dms(x, y)
            for item in (control.overlay, control.selector):
                got = item.mapToScene(QPointF(x, y))
                assert got.x() == pytest.approx(expected.x(), abs=1e-6)
                assert got.y() == pytest.approx(expected.y(), abs=1e-6)
        np.testing.assert_array_equal(control.region(SHAPE), region)  # still DMS pixels
    assert region[10:50, 20:50].all() and region.sum() == 30 * 40
    assert corner["detector"] != corner["dms"]  # the view did turn


def test_apply_adds_by_default_and_says_so_on_the_button(qtbot, thresholding) -> None:
    win = thresholding
    panel, layers = win.threshold.panel, win.mask_layers
    assert panel.apply_button.text() == "Add to light layer"  # hand work is never dropped
    layers.rectangle("light", (100, 0), (110, 40))  # hand-painted
    painted = np.array(layers.layer("light"))
    threshold = expected_light(win, panel.settings())
    with qtbot.waitSignal(win.threshold.applied, timeout=TIMEOUT):
        qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, win)
    np.testing.assert_array_equal(layers.layer("light"), painted | threshold)
    win.mask_actions.undo()
    for how, text, expected in (("intersect", "Intersect with light layer",
                                 painted & threshold),
                                ("replace", "Replace light layer", threshold)):
        panel.apply_mode.setCurrentIndex(panel.apply_mode.findData(how))
        assert panel.apply_button.text() == text
        with qtbot.waitSignal(win.threshold.applied, timeout=TIMEOUT):
            qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
        wait_idle(qtbot, win)
        np.testing.assert_array_equal(layers.layer("light"), expected)
        win.mask_actions.undo()
        np.testing.assert_array_equal(layers.layer("light"), painted)


def test_threshold_tab_says_it_is_fitting_while_the_first_fit_runs(
        qtbot, window, make_product, monkeypatch) -> None:
    import threading

    from app.threshold_controller import FITTING_MESSAGE

    release, started = threading.Event(), threading.Event()
    fit = Thresholder.fit

    def slow_fit(self):  # the background fit of a full frame takes seconds
        started.set()
        release.wait(30)
        return fit(self)

    monkeypatch.setattr(Thresholder, "fit", slow_fit)
    window.threshold.dock.raise_()
    window.stack.set_products([make_product("t_rate.fits", shape=SHAPE, seed=1)])
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT)
    panel = window.threshold.panel
    qtbot.waitUntil(lambda: panel.message.text() == FITTING_MESSAGE, timeout=TIMEOUT)
    assert panel.progress.isVisible() and "Load an image" not in panel.message.text()
    with qtbot.waitSignal(window.threshold.previewShown, timeout=TIMEOUT):
        release.set()
    assert "light region(s)" in panel.message.text() and not panel.progress.isVisible()
