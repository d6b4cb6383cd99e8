"""The Mask menu: import (with plane choice), export round trips, library, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image
from PyQt6.QtWidgets import QApplication, QFileDialog, QInputDialog

from app.core.mask.formats import read_mask

TIMEOUT = 20000
SHAPE = (40, 60)
pytestmark = pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)")


@pytest.fixture
def win(qtbot, window, make_product, monkeypatch, tmp_path):
    monkeypatch.setenv("NSCLEAN_GUI_STATE_DIR", str(tmp_path / "state"))
    window.stack.set_products([make_product(shape=SHAPE)])
    qtbot.waitUntil(lambda: window.mask_layers is not None and not window.runner.is_busy(),
                    timeout=TIMEOUT)
    return window


def some_mask(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random(SHAPE) < 0.4


def choose_file(monkeypatch, path: Path) -> None:
    """Answer the next open/save dialogs with ``path``."""
    answer = (str(path), "")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: answer)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: answer)


def menu_action(win, text: str):
    """The action whose text starts with ``text`` anywhere in the menu bar."""
    def walk(menu):
        for action in menu.actions():
            if action.menu() is not None:
                yield from walk(action.menu())
            else:
                yield action

    for top in win.menuBar().actions():
        for action in walk(top.menu()):
            if action.text().replace("&", "").startswith(text):
                return action
    raise LookupError(text)


def expected_background(win, mask: np.ndarray) -> np.ndarray:
    """What importing ``mask`` must give: the mask minus border, unusable and excluded."""
    layers = win.mask_layers
    return mask & ~layers.never_background() & ~layers.layer("exclude")


def state(win) -> tuple:
    layers = win.mask_layers
    return (tuple(np.array(layers.layer(n)) for n in ("light", "dark", "exclude")),
            layers.dark_edited, len(layers.history))


def assert_state(win, before: tuple) -> None:
    after = state(win)
    for a, b in zip(before[0], after[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert before[1:] == after[1:]


def test_import_nsclean_fits_through_the_menu_and_undo(win, monkeypatch, tmp_path) -> None:
    mask = some_mask()
    path = tmp_path / "m.fits"
    fits.PrimaryHDU(mask.astype(np.uint8)).writeto(path)
    win.mask_layers.rectangle("exclude", (20, 20), (25, 30))
    choose_file(monkeypatch, path)
    menu_action(win, "Replace background").trigger()
    np.testing.assert_array_equal(win.mask_layers.background(), expected_background(win, mask))
    win.mask_actions.actions["undo"].trigger()
    assert not win.mask_layers.dark_edited


def test_import_of_a_wrong_shape_mask_shows_a_dialog_and_changes_nothing(
    win, monkeypatch, tmp_path, messages
) -> None:
    win.mask_layers.rectangle("light", (5, 5), (10, 10))
    before = state(win)
    path = tmp_path / "wrong.fits"
    fits.PrimaryHDU(np.ones((30, 30), np.uint8)).writeto(path)
    choose_file(monkeypatch, path)
    menu_action(win, "Replace background").trigger()
    assert len(messages) == 1
    _title, text = messages[0]
    assert "wrong.fits" in text and "30×30" in text and "unchanged" in text
    assert_state(win, before)


@pytest.mark.parametrize("problem", ["values", "png size", "not a mask"])
def test_other_bad_masks_are_refused_with_a_message(
    win, monkeypatch, tmp_path, messages, problem
) -> None:
    before = state(win)
    if problem == "values":
        path = tmp_path / "image.fits"
        fits.PrimaryHDU(np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)).writeto(path)
    elif problem == "png size":
        path = tmp_path / "small.png"
        Image.new("RGB", (20, 10), (255, 0, 0)).save(path)
    else:
        path = tmp_path / "notes.txt"
        path.write_text("hello")
    choose_file(monkeypatch, path)
    menu_action(win, "Add to background").trigger()
    assert len(messages) == 1 and path.name in messages[0][1]
    assert_state(win, before)


def test_cube_model_import_asks_for_the_plane(win, monkeypatch, tmp_path) -> None:
    planes = np.stack([some_mask(s) for s in (1, 2, 3)]).astype(np.float32)
    path = tmp_path / "x_mask.fits"
    primary = fits.PrimaryHDU()
    primary.header["DATAMODL"] = "CubeModel"
    fits.HDUList([primary, fits.ImageHDU(planes, name="SCI")]).writeto(path)
    asked = []

    def get_int(_parent, _title, text, value, low, high):
        asked.append((text, low, high))
        return 1, True

    monkeypatch.setattr(QInputDialog, "getInt", get_int)
    choose_file(monkeypatch, path)
    menu_action(win, "Replace background").trigger()
    assert asked and asked[0][1:] == (0, 2) and "3 masks" in asked[0][0]
    np.testing.assert_array_equal(
        win.mask_layers.background(), expected_background(win, planes[1].astype(bool))
    )


def test_cancelling_the_plane_choice_changes_nothing(win, monkeypatch, tmp_path) -> None:
    path = tmp_path / "x_mask.fits"
    primary = fits.PrimaryHDU()
    primary.header["DATAMODL"] = "CubeModel"
    cube = fits.ImageHDU(np.ones((2, *SHAPE), np.float32), name="SCI")
    fits.HDUList([primary, cube]).writeto(path)
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a: (0, False))
    before = state(win)
    assert not win.mask_actions.import_mask("replace", path)
    assert_state(win, before)


@pytest.mark.parametrize("kind,name", [
    ("nsclean", "mask.fits"), ("nsclean", "mask.fits.gz"), ("jwst", "m_user_mask.fits"),
    ("png", "mask.png"),
])
def test_export_round_trip_through_the_menu(win, monkeypatch, tmp_path, kind, name) -> None:
    layers = win.mask_layers
    layers.rectangle("light", (10, 10), (20, 40))
    layers.polygon("exclude", [(25.0, 5.0), (35.0, 5.0), (30.0, 50.0)])
    expected = np.array(layers.background())
    path = tmp_path / name
    choose_file(monkeypatch, path)
    text = {"nsclean": "Export NSClean", "jwst": "Export JWST", "png": "Export GIMP PNG"}[kind]
    menu_action(win, text).trigger()
    read = read_mask(path, shape=SHAPE)
    np.testing.assert_array_equal(read.mask, expected)
    if kind == "jwst":
        assert fits.getheader(path)["DATAMODL"] == "ImageModel"
    # and back in through the import menu, on fresh layers: the same background
    layers.clear("light")
    layers.clear("exclude")
    menu_action(win, "Replace background").trigger()
    np.testing.assert_array_equal(layers.background(), expected)


def test_png_export_shows_the_image_in_gray(win, monkeypatch, tmp_path) -> None:
    path = tmp_path / "mask.png"
    choose_file(monkeypatch, path)
    win.mask_layers.rectangle("light", (0, 0), (39, 59))  # nothing red
    menu_action(win, "Export GIMP PNG").trigger()
    rgb = np.asarray(Image.open(path).convert("RGB"))[::-1]
    assert (rgb[..., 0] == rgb[..., 1]).all()
    trace = win.view.image > np.nanpercentile(win.view.image, 99)
    assert rgb[..., 0][trace].mean() > rgb[..., 0][~trace].mean() + 50  # the trace is bright


def test_unwritable_export_path_shows_a_message(win, monkeypatch, tmp_path, messages) -> None:
    before = state(win)
    path = tmp_path / "missing-folder" / "mask.fits"
    choose_file(monkeypatch, path)
    menu_action(win, "Export NSClean").trigger()
    assert len(messages) == 1 and "missing-folder" in messages[0][1]
    assert not path.exists()
    assert_state(win, before)


def test_library_offers_only_this_detector_and_refuses_other_shapes(win, messages) -> None:
    menu = win.mask_actions.library_menu
    menu.aboutToShow.emit()
    enabled = [a.text() for a in menu.actions() if a.isEnabled()]
    disabled = [a.text() for a in menu.actions() if not a.isEnabled()]
    assert enabled and all("NRS1" in t for t in enabled)
    assert disabled and all("NRS2" in t for t in disabled)
    before = state(win)
    menu.actions()[0].trigger()  # 2048×2048 masks do not fit the 40×60 image
    assert len(messages) == 1 and "2048" in messages[0][1]
    assert_state(win, before)


def test_clear_layer_and_computed_background(win) -> None:
    layers = win.mask_layers
    layers.rectangle("light", (5, 5), (10, 10))
    win.mask_actions.clear_layer()
    assert not layers.layer("light").any()
    layers.rectangle("dark", (5, 5), (10, 10), value=False)
    assert layers.dark_edited
    menu_action(win, "Use computed background").trigger()
    assert not layers.dark_edited
    np.testing.assert_array_equal(layers.background(), layers.computed_dark())
    QApplication.processEvents()
    assert "computed" in win.layers_panel.dark_state.text()


@pytest.mark.parametrize("kind", ["nsclean", "jwst", "png"])
def test_export_never_replaces_a_loaded_image(qtbot, window, write_rate, monkeypatch,
                                              messages, kind) -> None:
    image = write_rate("b_rate.fits", shape=SHAPE)
    window.open_files([image])
    qtbot.waitUntil(lambda: window.mask_layers is not None and not window.runner.is_busy(),
                    timeout=TIMEOUT)
    before = image.read_bytes()
    choose_file(monkeypatch, image)  # the user picks the image in the save dialog
    assert window.mask_actions.export_mask(kind) is None
    assert image.read_bytes() == before
    assert len(messages) == 1 and "b_rate.fits" in messages[0][1]
    assert "loaded image" in messages[0][1]


def answer_questions(monkeypatch) -> tuple[list[str], list]:
    """QMessageBox.question answers ``answer[0]`` (No at first) and records its texts."""
    from PyQt6.QtWidgets import QMessageBox

    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]

    def question(_parent, _title, text, *args, **kwargs):
        asked.append(text)
        return answer[0]

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked, answer


def test_a_mask_of_the_other_detector_asks_first_naming_both(win, monkeypatch, tmp_path
                                                            ) -> None:
    from PyQt6.QtWidgets import QMessageBox

    from app.core.mask.formats import write_nsclean_fits

    path = write_nsclean_fits(tmp_path / "nrs2.fits", some_mask(), detector="NRS2")
    asked, answer = answer_questions(monkeypatch)
    choose_file(monkeypatch, path)
    before = state(win)
    menu_action(win, "Replace background").trigger()
    assert len(asked) == 1 and "NRS2" in asked[0] and "NRS1" in asked[0]
    assert_state(win, before)  # declined: nothing changed
    answer[0] = QMessageBox.StandardButton.Yes
    menu_action(win, "Replace background").trigger()
    np.testing.assert_array_equal(win.mask_layers.background(),
                                  expected_background(win, some_mask()))
    # a mask of this detector (or of none) is imported without a question
    write_nsclean_fits(tmp_path / "nrs1.fits", some_mask(2), detector="NRS1")
    choose_file(monkeypatch, tmp_path / "nrs1.fits")
    menu_action(win, "Replace background").trigger()
    assert len(asked) == 2


@pytest.mark.parametrize("kind", ["nsclean", "jwst", "png"])
def test_exports_record_the_detector(win, monkeypatch, tmp_path, kind) -> None:
    path = tmp_path / ("m.png" if kind == "png" else "m.fits")
    choose_file(monkeypatch, path)
    text = {"nsclean": "Export NSClean", "jwst": "Export JWST", "png": "Export GIMP PNG"}[kind]
    menu_action(win, text).trigger()
    assert read_mask(path).detector == "NRS1"


def test_png_import_reports_near_red_pixels(win, monkeypatch, tmp_path) -> None:
    picture = np.zeros((*SHAPE, 3), np.uint8)
    picture[10:20, 10:20] = (255, 0, 0)
    picture[10:20, 20:23] = (250, 10, 10)  # a soft brush's rim: 30 pixels
    path = tmp_path / "painted.png"
    Image.fromarray(picture, "RGB").save(path)
    choose_file(monkeypatch, path)
    menu_action(win, "Replace background").trigger()
    assert "30 pixels near pure red" in win.statusBar().currentMessage()
    assert win.mask_layers.background()[SHAPE[0] - 1 - 15, 21]


def test_loading_a_cleaned_file_says_so(qtbot, window, write_rate, messages) -> None:
    path = write_rate("c_rate_nsclean.fits", shape=SHAPE)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["NSC_METH"] = "fft"
        hdul[0].header["NSC_VER"] = "9.9"
    window.open_files([path])
    qtbot.waitUntil(lambda: bool(messages), timeout=TIMEOUT)
    title, text = messages[0]
    assert title == "Cleaned already" and "c_rate_nsclean.fits was cleaned already" in text
    assert window.stack.products  # loaded all the same: looking at it is fine


FULL = (2048, 2048)


@pytest.fixture
def full_win(qtbot, window, make_product, monkeypatch, tmp_path):
    monkeypatch.setenv("NSCLEAN_GUI_STATE_DIR", str(tmp_path / "state"))
    window.stack.set_products([make_product(shape=FULL)])
    qtbot.waitUntil(lambda: window.mask_layers is not None and not window.runner.is_busy(),
                    timeout=60000)
    return window


def clustered_layers(win) -> None:
    """Light over everything but 15-px gaps; DMS columns 600-639 keep one short stretch."""
    light = np.ones(FULL, bool)
    light[(np.arange(2048) % 48) >= 33, :] = False
    light[:, 600:640] = True
    light[1000:1060, 600:640] = False
    win.mask_layers.import_background(~light, "replace")


def press(monkeypatch, text: str, seen: list[str]) -> None:
    """Answer the next QMessageBox.exec() by clicking the button labelled ``text``."""
    from PyQt6.QtWidgets import QMessageBox

    def exec_(box):
        seen.append(box.text())
        for button in box.buttons():
            if button.text() == text or (text == "Cancel" and box.buttonRole(button)
                                         == QMessageBox.ButtonRole.RejectRole):
                button.click()
                return 0
        raise AssertionError(f"no button {text!r}")

    monkeypatch.setattr(QMessageBox, "exec", exec_)


@pytest.mark.parametrize("answer", ["Make it safe", "Export as painted", "Cancel"])
def test_export_offers_the_remedy_for_the_published_fit(full_win, monkeypatch, tmp_path,
                                                        answer) -> None:
    from app.core.mask.published import published_fit

    clustered_layers(full_win)
    before = state(full_win)
    path = tmp_path / "m_user_mask.fits"
    choose_file(monkeypatch, path)
    seen: list[str] = []
    press(monkeypatch, answer, seen)
    menu_action(full_win, "Export JWST").trigger()
    assert len(seen) == 1 and "42 lines unstable" in seen[0], seen
    assert "4, 600-640" in seen[0]  # line 640: weighted by the clustered line 639
    assert_state(full_win, before)  # the layers never change
    if answer == "Cancel":
        assert not path.exists()
        return
    written = read_mask(path).mask
    fit = published_fit(written, "NRS1")
    header = fits.getheader(path)
    assert header["NSC_PUBU"] == fit.unstable_lines.size
    if answer == "Make it safe":
        assert fit.stable and written[:, 600:640].sum() > full_win.mask_layers.background()[
            :, 600:640].sum()
        assert "made safe for the published fit" in full_win.statusBar().currentMessage()
    else:
        np.testing.assert_array_equal(written, full_win.mask_layers.background())
        assert fit.unstable_lines.size >= 40
        assert "lines unstable" in full_win.statusBar().currentMessage()


def test_library_mask_that_leaves_lines_clustered_asks_first(full_win, monkeypatch) -> None:
    from PyQt6.QtWidgets import QMessageBox

    asked, answer = answer_questions(monkeypatch)
    menu = full_win.mask_actions.library_menu
    menu.aboutToShow.emit()
    action = next(a for a in menu.actions() if a.isEnabled() and "MOS" in a.text())
    before = state(full_win)
    action.trigger()
    assert len(asked) == 1
    assert "detector lines are too clustered" in asked[0]
    assert "unstable in the published fit" in asked[0]
    assert_state(full_win, before)
    answer[0] = QMessageBox.StandardButton.Yes
    action.trigger()
    assert len(asked) == 2 and full_win.mask_layers.background()[830:930, 4:-4].mean() > 0.99


def test_coverage_lists_published_unstable_lines_apart(qtbot, full_win) -> None:
    from PyQt6.QtCore import QPointF

    coverage = full_win.coverage
    with qtbot.waitSignal(coverage.coverageShown, timeout=120000,
                          check_params_cb=lambda c: c is not None
                          and c.published_unstable_lines.size > 0):
        clustered_layers(full_win)
    texts = coverage.panel.row_texts()
    assert any(t.startswith("lines 600–640: published fit unstable") for t in texts), texts
    # our own fit: the same clustered lines, fitted by their mean (its criterion is named)
    assert any("too clustered" in t and t.startswith("lines 600–639") for t in texts), texts
    assert "criterion: complex fit" in coverage.panel.summary.text()
    path = coverage.published_bands.path()
    assert path.contains(QPointF(620.5, 1000)) and not path.contains(QPointF(300.5, 1000))
