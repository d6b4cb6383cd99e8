"""A ramp in the app: opened as a draft rate, a chosen group difference previewed, the whole
ramp saved with progress and cancel (driven through the menu, keys and buttons)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFileDialog

from app.core.clean import clean
from app.core.files.batch import clean_file
from tests.core.products_factory import banded_ramp, write_ramp
from tests.widgets.test_file_menu import choose, idle, menu_action

TIMEOUT = 60000
SHAPE = (40, 60)
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


def wait_idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.runner.is_busy() and not window.preview._timer.isActive(),
                    timeout=TIMEOUT)


def open_ramp(qtbot, window, monkeypatch, path: Path) -> None:
    choose(monkeypatch, path)
    menu_action(window, "File", "Open…").trigger()
    idle(qtbot, window)
    qtbot.waitUntil(lambda: window.mask_layers is not None, timeout=TIMEOUT)
    wait_idle(qtbot, window)


def test_a_ramp_opens_as_a_draft_rate_and_previews_a_chosen_difference(
        qtbot, window, monkeypatch, tmp_path, messages) -> None:
    sci = banded_ramp(1, (1, 4, *SHAPE))
    path = write_ramp(tmp_path / "r_ramp.fits", sci)
    open_ramp(qtbot, window, monkeypatch, path)
    assert not messages
    [product] = window.stack.products
    assert product.nints == 3  # one frame per group difference
    # the working image is the draft rate: (last - first) / (ngroups - 1), per group
    np.testing.assert_allclose(window.stack.image, (sci[0, 3] - sci[0, 0]) / 3, atol=1e-4)
    combo = window.preview.panel.frame_choice
    assert combo.count() == 4 and "group 2→3" in combo.itemText(2)
    combo.setFocus()
    with qtbot.waitSignal(window.preview.resultShown, timeout=TIMEOUT) as blocker:
        qtbot.keyClick(combo, Qt.Key.Key_Down)
        qtbot.keyClick(combo, Qt.Key.Key_Down)
    wait_idle(qtbot, window)
    result = window.preview.result or blocker.args[0]
    assert combo.currentIndex() == 2
    mask = window.preview.current_mask()
    expected = clean(sci[0, 2] - sci[0, 1], mask, "NRS1", params=window.preview.params)
    np.testing.assert_allclose(result.cleaned, expected.cleaned, atol=1e-4)


def test_save_cleaned_writes_the_whole_ramp_like_the_cli(qtbot, window, monkeypatch,
                                                         tmp_path) -> None:
    sci = banded_ramp(2, (2, 3, *SHAPE))
    path = write_ramp(tmp_path / "s_ramp.fits", sci)
    open_ramp(qtbot, window, monkeypatch, path)
    target = tmp_path / "s_ramp_clean.fits"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    with qtbot.waitSignal(window.preview.saveFinished, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(window.preview.panel.save_button, Qt.MouseButton.LeftButton)
    saved, problems = blocker.args
    assert problems == [] and saved == [target]
    reference = clean_file(path, window.preview.current_mask(), tmp_path / "ref.fits",
                           params=window.preview.params, mask_name="(painted in nsclean-gui)")
    assert reference.detector == "NRS1"
    got = fits.getdata(target, "SCI")
    assert got.shape == sci.shape
    np.testing.assert_array_equal(got, fits.getdata(tmp_path / "ref.fits", "SCI"))


def test_saving_a_ramp_shows_progress_and_can_be_cancelled(qtbot, window, monkeypatch,
                                                           tmp_path) -> None:
    sci = banded_ramp(3, (1, 80, 40, 2048))
    path = write_ramp(tmp_path / "c_ramp.fits", sci)
    open_ramp(qtbot, window, monkeypatch, path)
    target = tmp_path / "c_ramp_clean.fits"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    finished = []
    window.preview.saveFinished.connect(lambda *args: finished.append(args))
    panel = window.preview.panel
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "group difference" in panel.progress.toolTip(), timeout=TIMEOUT)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert not finished and not target.exists()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "settings.ini")
    assert left == ["c_ramp.fits"]  # no debris (temporary output removed)
    assert "Cancelled" in panel.message.text()


def test_save_cleaned_also_writes_the_ticked_diagnostic_products(qtbot, window, monkeypatch,
                                                                 tmp_path) -> None:
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    sci = banded_ramp(4, (1, 3, *SHAPE))
    path = write_ramp(tmp_path / "k_ramp.fits", sci)
    open_ramp(qtbot, window, monkeypatch, path)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "k_ramp_clean.fits"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    panel = window.preview.panel
    for kind in ("mask", "noise"):
        qtbot.mouseClick(panel.save_boxes[kind], Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.preview.saveFinished, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert blocker.args[1] == []
    assert sorted(p.name for p in out.iterdir()) == [
        "k_flicker_noise.fits", "k_mask.fits", "k_ramp_clean.fits"]
    with datamodels.open(str(out / "k_flicker_noise.fits")) as model:
        np.testing.assert_allclose(model.data, fits.getdata(target, "SCI") - sci, atol=1e-4)
