"""The live cleaning preview in the main window: strokes, parameters, bursts, errors, saving."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PyQt6.QtCore import QTimer

from app.core.clean import CleanParams, clean, usable_background
from app.core.display.curves import preview_curves
from app.core.engine.incremental import IncrementalCleaner
from app.core.errors import NSCleanError
from app.core.files.batch import clean_file
from app.core.files.products import read_product

TIMEOUT = 60000
FULL = (2048, 2048)

pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


def load(qtbot, window, product):
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT):
        window.stack.set_products([product])
    wait_idle(qtbot, window)
    return window


@pytest.fixture
def loaded(qtbot, window, make_product):
    """The window with a full-frame product and its first preview on screen."""
    return load(qtbot, window, make_product("full_rate.fits", shape=FULL, seed=3))


@pytest.fixture
def small(qtbot, window, make_product):
    """The window with a small (subarray-variant) product and its preview."""
    return load(qtbot, window, make_product("small_rate.fits", shape=(40, 60), seed=4))


def wait_idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.runner.is_busy() and not window.preview._timer.isActive(),
                    timeout=TIMEOUT)


def set_params(qtbot, window, params: CleanParams):
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT) as blocker:
        window.preview.panel.form.set_params(params)
        window.preview.schedule()
    wait_idle(qtbot, window)
    return blocker.args[0]


def brush(layers, points, radius: float = 3.0, layer: str = "light") -> None:
    layers.begin_stroke(layer, radius)
    for y, x in points:
        layers.stroke_to(y, x)
    layers.end_stroke()


def changed_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.flatnonzero(~same.all(axis=0))


def assert_equals_clean(result, image, mask, params) -> None:
    reference = clean(image, mask, result.detector, params.method, params=params)
    tol = 4 * float(np.finfo(np.float32).eps) * float(np.nanmax(np.abs(image)))
    np.testing.assert_allclose(result.cleaned, reference.cleaned, rtol=0, atol=tol)


def test_a_stroke_changes_the_preview_of_exactly_the_touched_lines(qtbot, loaded) -> None:
    window = loaded
    # no background level and no buffing: nothing couples the lines
    first = set_params(qtbot, window, CleanParams(background="none", buff=False))
    layers = window.mask_layers
    before_mask = layers.background()
    shown_before = window.preview.views.first.view.image.copy()
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT) as blocker:
        brush(layers, [(1000.0, 500.0), (1040.0, 512.0)])
    result = blocker.args[0]
    assert not result.full and first.full
    touched = np.flatnonzero((layers.background() != before_mask).any(axis=0))
    assert touched.size and touched.size <= 20
    np.testing.assert_array_equal(result.refit_columns, touched)
    shown = window.preview.views.first.view.image  # the residual view
    np.testing.assert_array_equal(changed_columns(shown_before, shown), touched)


def test_a_parameter_change_recomputes(qtbot, loaded) -> None:
    window = loaded
    spin = window.preview.panel.form.spins["fc"]
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT) as blocker:
        spin.setValue(16.0)  # cycles per line
    result = blocker.args[0]
    assert result.full and result.params.fc == pytest.approx(16.0 / 2048)
    assert_equals_clean(result, window.stack.image, window.mask_layers.background(),
                        result.params)


def test_a_burst_of_edits_yields_one_final_result_equal_to_a_clean_from_scratch(
        qtbot, loaded) -> None:
    window = loaded
    shown = []
    window.preview.resultShown.connect(shown.append)
    layers = window.mask_layers
    # strokes faster than the debounce: one request
    for i in range(6):
        brush(layers, [(300.0 + 40 * i, 100.0 + 60 * i), (320.0 + 40 * i, 110.0 + 60 * i)])
    window.preview.panel.form.spins["sigrej"].setValue(2.5)
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=TIMEOUT)
    wait_idle(qtbot, window)
    qtbot.wait(100)
    assert len(shown) == 1
    # strokes that outrun the worker: older requests are cancelled, their results dropped
    for i in range(5):
        brush(layers, [(1500.0, 200.0 + 90 * i), (1540.0, 205.0 + 90 * i)])
        qtbot.wait(60)
    wait_idle(qtbot, window)
    final = shown[-1]
    mask = layers.background()
    np.testing.assert_array_equal(final.usable, usable_background(window.stack.image, mask))
    assert_equals_clean(final, window.stack.image, mask, window.preview.params)
    assert window.preview.result is final


def test_an_edit_is_sent_at_once_when_idle_and_coalesced_while_a_fit_runs(
        qtbot, loaded) -> None:
    from app.preview_controller import DEBOUNCE_MS, PREVIEW_KEY

    preview = loaded.preview
    preview.schedule()
    preview.schedule()  # the same action again: still one request, not postponed
    assert preview._timer.isActive() and preview._timer.interval() == 0
    wait_idle(qtbot, loaded)
    preview.runner.submit(PREVIEW_KEY, time.sleep, 0.3)  # a fit is running
    preview.schedule()
    assert preview._timer.interval() == DEBOUNCE_MS
    wait_idle(qtbot, loaded)


def test_the_event_loop_keeps_running_during_a_fit(qtbot, loaded) -> None:
    window = loaded
    beats: list[float] = []
    heart = QTimer()
    heart.setInterval(5)
    heart.timeout.connect(lambda: beats.append(time.perf_counter()))
    heart.start()
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT):
        window.preview.panel.form.spins["weight_sigma"].setValue(20.0)  # a full recompute
    heart.stop()
    gaps = np.diff(beats)
    assert len(beats) > 5
    assert gaps.max() < 0.2  # generous: CI machines are noisy; the 50 ms target is benched


def test_plots_are_computed_for_the_shown_tab_and_equal_curves_from_scratch(
        qtbot, loaded) -> None:
    window = loaded
    preview, plots = window.preview, window.preview.plots
    assert preview.plots_dock.isVisible()
    layers = window.mask_layers
    plots.tabs.setCurrentWidget(plots.coverage)  # no curves needed: none computed
    computed = []
    plots.set_curves = computed.append  # type: ignore[method-assign]
    with qtbot.waitSignal(preview.resultShown, timeout=TIMEOUT):
        brush(layers, [(600.0, 700.0), (640.0, 705.0)])
    wait_idle(qtbot, window)
    assert computed == []
    plots.tabs.setCurrentWidget(plots.spectrum)  # shown: the curves follow, with spectra
    qtbot.waitUntil(lambda: len(computed) == 1, timeout=TIMEOUT)
    for i in range(2):  # strokes reuse the lines they did not touch
        with qtbot.waitSignal(preview.resultShown, timeout=TIMEOUT):
            brush(layers, [(900.0, 300.0 + 400 * i), (940.0, 310.0 + 400 * i)])
        wait_idle(qtbot, window)
    assert len(computed) == 3
    curves, reference = computed[-1], preview_curves(preview.result, plots.profile_axis)
    for name in ("profile_before", "profile_after", "spectrum_before", "spectrum_after"):
        expected = getattr(reference, name)
        np.testing.assert_allclose(getattr(curves, name), expected, rtol=0,
                                   atol=1e-5 * np.nanmax(np.abs(expected)))
    plots.tabs.setCurrentIndex(0)  # the profile alone: the spectrum is not recomputed
    qtbot.waitUntil(lambda: len(computed) == 4, timeout=TIMEOUT)
    assert computed[-1].profile_after is not None and not computed[-1].with_spectrum


def test_lines_without_background_are_shown_and_reported(qtbot, loaded) -> None:
    window = loaded
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT) as blocker:
        window.mask_layers.band("light", 700, 709, axis=1)  # DMS columns 700-709
    result = blocker.args[0]
    np.testing.assert_array_equal(result.diagnostics.unfit_lines, np.arange(700, 710))
    text = window.preview.panel.message.text()
    assert "10 detector line(s)" in text and "lines 700–709 (DMS columns 700–709)" in text
    assert not window.preview.views.first.unfit.path().isEmpty()
    assert window.preview.main_unfit.path().boundingRect().left() == 700
    # the other lines are cleaned as from scratch
    assert_equals_clean(result, window.stack.image, window.mask_layers.background(),
                        window.preview.params)


def test_an_engine_error_shows_a_message_and_keeps_the_mask(qtbot, small, monkeypatch) -> None:
    window = small
    layers = window.mask_layers

    def broken(self, *args, **kwargs):
        raise NSCleanError("the engine broke")
        yield  # a generator, like the real one

    monkeypatch.setattr(IncrementalCleaner, "iter_update", broken)
    brush(layers, [(10.0, 10.0), (12.0, 30.0)], radius=2.0)
    mask = layers.background()
    qtbot.waitUntil(lambda: "the engine broke" in window.preview.panel.message.text(),
                    timeout=TIMEOUT)
    assert "mask is unchanged" in window.preview.panel.message.text()
    np.testing.assert_array_equal(layers.background(), mask)
    # no background at all: the engine's own refusal, shown the same way
    monkeypatch.undo()
    layers.rectangle("light", (0, 0), (39, 59))
    qtbot.waitUntil(lambda: "no usable background" in window.preview.panel.message.text(),
                    timeout=TIMEOUT)
    assert not layers.background().any()
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT):
        layers.undo()  # the painting is intact and undoable
    np.testing.assert_array_equal(layers.background(), mask)


def zoomed_side_by_side(qtbot, views):
    """Zoom the first of the side-by-side views; return both views' ranges."""
    qtbot.wait(50)
    views.first.view.zoom(2.0)
    qtbot.wait(50)
    return views.first.view.view.viewRange(), views.second.view.view.viewRange()


def test_side_by_side_views_share_zoom_and_stretch(qtbot, small) -> None:
    window = small
    views = window.preview.views
    views.side_by_side.setChecked(True)
    views.first.set_kind("residual")
    views.second.set_kind("cleaned")
    ((ax0, ax1), (ay0, ay1)), ((bx0, bx1), (by0, by1)) = zoomed_side_by_side(qtbot, views)
    assert (by0, by1) == pytest.approx((ay0, ay1))
    assert (bx0 + bx1) / 2 == pytest.approx((ax0 + ax1) / 2, abs=1.0)
    lo, hi = window.display.levels
    assert views.second.view.image_item.levels == pytest.approx([lo, hi])
    half = (hi - lo) / 2  # residual: centred on zero with the image's contrast
    assert views.first.view.image_item.levels == pytest.approx([-half, half])
    window.stack.remove([0])  # closing everything clears the preview
    qtbot.waitUntil(lambda: views.first.view.image is None, timeout=TIMEOUT)
    assert window.preview.result is None


def test_form_reset_units_and_subarray_variant(window) -> None:
    form = window.preview.panel.form
    assert form.spins["fc"].value() == pytest.approx(8.0)  # 1/256 per pixel
    assert form.spins["kw"].text() == "auto (fc/4)"
    form.spins["buff_sigma"].setValue(4.0)
    form.buff.setChecked(False)
    assert not form.params().buff and not form.spins["buff_sigma"].isEnabled()
    form.reset()
    assert form.params() == CleanParams()
    form.set_frame_shape((32, 2048))
    assert "Subarray" in form.variant.text() and not form.spins["fc"].isEnabled()
    form.method.setCurrentIndex(form.method.findData("median"))
    assert form.params().method == "median" and form.by_channel.isEnabled()


def test_form_offers_the_read_time_fit(qtbot, window) -> None:
    form = window.preview.panel.form
    form.set_frame_shape((2048, 2048))
    form.method.setCurrentIndex(form.method.findData("time"))
    assert form.state.value.method == "time"
    assert form.spins["harmonics"].isEnabled() and not form.spins["fc"].isEnabled()
    assert not form.buff.isEnabled() and "read time" in form.variant.text()
    # unweighted by default: weight σ would change nothing, so it is not offered
    assert form.spins["sigrej"].isEnabled() and not form.spins["weight_sigma"].isEnabled()
    form.set_params(replace(form.params(), time_weighted=True))
    assert form.spins["weight_sigma"].isEnabled()
    form.set_params(replace(form.params(), time_weighted=False))
    form.spins["harmonics"].setValue(20)
    form.spins["output_terms"].setValue(3)
    params = form.params()
    assert (params.harmonics, params.output_terms) == (20, 3)
    assert isinstance(params.harmonics, int) and params.validated() == params
    form.set_frame_shape((32, 2048))  # a subarray: the Fourier fit's subarray variant
    assert not form.spins["harmonics"].isEnabled() and "Subarray" in form.variant.text()


def test_save_cleaned_writes_what_the_cli_writes(qtbot, window, write_rate, make_product,
                                                 messages, tmp_path: Path) -> None:
    on_disk = write_rate("a_rate.fits", shape=(40, 60), seed=1)
    in_memory = make_product("sim_nrs1_rate.fits", shape=(40, 60), seed=2)  # no file behind it
    window.stack.set_products([read_product(on_disk), in_memory])
    qtbot.waitUntil(lambda: window.mask_layers is not None, timeout=TIMEOUT)
    wait_idle(qtbot, window)
    mask = window.mask_layers.background()
    out = tmp_path / "out"
    out.mkdir()
    items = [(window.stack.products[0], out / "a_clean.fits"),
             (window.stack.products[1], out / "sim_clean.fits")]
    with qtbot.waitSignal(window.preview.saveFinished, timeout=TIMEOUT) as blocker:
        window.preview.save(items)
    saved, problems = blocker.args
    assert problems == [] and saved == [out / "a_clean.fits", out / "sim_clean.fits"]
    cli = clean_file(on_disk, mask, tmp_path / "cli.fits", params=CleanParams())
    np.testing.assert_array_equal(fits.getdata(out / "a_clean.fits", "SCI"),
                                  fits.getdata(tmp_path / "cli.fits", "SCI"))
    assert cli.diagnostics
    expected = clean(in_memory.sci[0], mask, "NRS1", dq=in_memory.dq[0]).cleaned
    np.testing.assert_array_equal(fits.getdata(out / "sim_clean.fits", "SCI"), expected)
    assert fits.getheader(out / "sim_clean.fits")["NSC_METH"] == "fft-subarray"
    assert sorted(p.name for p in out.iterdir()) == ["a_clean.fits", "sim_clean.fits"]
    # an existing file is refused unless overwriting, and reported
    with qtbot.waitSignal(window.preview.saveFinished, timeout=TIMEOUT) as blocker:
        window.preview.save(items[:1])
    assert "exists already" in blocker.args[1][0]
    assert messages and "exists already" in messages[-1][1]


def test_clean_all_can_be_cancelled(qtbot, window, make_product, tmp_path: Path) -> None:
    products = [make_product(f"f{i}_rate.fits", shape=(40, 60), seed=i) for i in range(6)]
    window.stack.set_products(products)
    qtbot.waitUntil(lambda: window.mask_layers is not None, timeout=TIMEOUT)
    wait_idle(qtbot, window)
    items = [(p, tmp_path / f"{p.path.stem}_nsclean.fits") for p in window.stack.products]
    finished = []
    window.preview.saveFinished.connect(lambda *args: finished.append(args))
    window.preview.save(items)
    window.preview.panel.cancel_button.click()
    wait_idle(qtbot, window)
    written = sorted(tmp_path.glob("*.fits"))
    assert len(written) < len(items) and not finished
    assert all(p.name.endswith("_nsclean.fits") for p in tmp_path.iterdir())  # no debris
    assert "Cancelled" in window.preview.panel.message.text()


def test_clean_all_asks_before_replacing_files(qtbot, window, make_product, monkeypatch,
                                               tmp_path: Path) -> None:
    from PyQt6.QtWidgets import QFileDialog, QMessageBox

    products = [make_product(f"g{i}_rate.fits", shape=(40, 60), seed=i) for i in range(2)]
    window.stack.set_products(products)
    qtbot.waitUntil(lambda: window.mask_layers is not None, timeout=TIMEOUT)
    wait_idle(qtbot, window)
    (tmp_path / "g0_rate_nsclean.fits").write_text("old")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _p, _t, text, *a: (asked.append(text), answers.pop(0))[1])
    window.preview.panel.clean_all_button.click()  # "No": nothing is written
    wait_idle(qtbot, window)
    assert asked and "1 cleaned file(s) exist" in asked[0]
    assert (tmp_path / "g0_rate_nsclean.fits").read_text() == "old"
    with qtbot.waitSignal(window.preview.saveFinished, timeout=TIMEOUT) as blocker:
        window.preview.panel.clean_all_button.click()  # "Yes": replaced
    assert blocker.args[1] == [] and len(blocker.args[0]) == 2
    assert fits.getdata(tmp_path / "g0_rate_nsclean.fits", "SCI").shape == (40, 60)


@pytest.mark.parametrize("shape", [(40, 60), (512, 2048)])
def test_the_single_preview_view_shows_the_whole_frame(qtbot, window, make_product,
                                                       shape) -> None:
    # the hidden side-by-side pane must not pull the visible one off the image
    window.resize(1600, 1000)
    load(qtbot, window, make_product("sub_rate.fits", shape=shape, seed=5))
    qtbot.wait(50)
    view = window.preview.views.first.view
    shown, frame = view.view.viewRect(), view.image_rect()
    assert shown.contains(frame.adjusted(1, 1, -1, -1)), (shown, frame)
    views = window.preview.views
    views.side_by_side.setChecked(True)  # linked once both are on screen
    (_, (ay0, ay1)), (_, (by0, by1)) = zoomed_side_by_side(qtbot, views)
    assert (by0, by1) == pytest.approx((ay0, ay1))
    views.side_by_side.setChecked(False)
    view.fit()
    qtbot.wait(50)
    assert view.view.viewRect().contains(frame.adjusted(1, 1, -1, -1))


def test_profile_plot_range_shows_the_banding_not_a_cosmic_ray(qtbot, window) -> None:
    from app.core.display.curves import PreviewCurves

    plots = window.preview.plots
    rows = np.arange(512, dtype=float)
    before = 0.01 * np.sin(rows / 20.0)
    before[200] = 0.4  # one row hit by a cosmic ray
    curves = PreviewCurves(rows, before, before * 0.3, None, None, None)
    plots.set_curves(curves)
    qtbot.wait(20)
    (x0, x1), (y0, y1) = plots.profile.getViewBox().viewRange()
    assert -0.02 < y0 < -0.0099 and 0.0099 < y1 < 0.02
    assert x0 <= 0 and x1 >= 511  # the whole profile along x


def test_residual_keeps_its_own_linear_scale_under_a_log_stretch(qtbot, small) -> None:
    """Under log or histogram equalisation the residual pane used to be a blank square."""
    from tests.widgets.test_file_menu import menu_action

    window = small
    views = window.preview.views
    views.first.set_kind("residual")
    for name in ("log (a)", "histogram equalization"):
        menu_action(window, "Scale", name).trigger()
        item = views.first.view.image_item
        lo, hi = window.display.levels
        half = (hi - lo) / 2
        assert item.levels == pytest.approx([-half, half])  # symmetric about zero
        np.testing.assert_array_equal(item.lut, window.display.difference_lut)
        # zero is drawn mid-grey (a log LUT drew it near white: a blank square)
        values = item.image[np.isfinite(item.image)]
        top = len(item.lut) - 1
        rendered = item.lut[np.clip(np.round((values + half) / (2 * half) * top), 0,
                                    top).astype(int)]
        assert abs(float(np.median(rendered[:, 0])) - 127.5) < 10
        assert window.display.lut is not window.display.difference_lut
    views.difference_range.setValue(2.0)  # the preview's own setting, in the display model
    assert window.display.settings.difference_range == 2.0
    assert views.first.view.image_item.levels == pytest.approx([-2 * half, 2 * half])
