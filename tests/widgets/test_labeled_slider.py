"""The slider with a value box used by the Threshold dock."""

from __future__ import annotations

import pytest

from app.widgets.labeled_slider import LabeledDoubleSlider


def test_slider_and_box_follow_each_other_and_emit_once(qtbot) -> None:
    widget = LabeledDoubleSlider(0.5, 10.0, 0.1, 1)
    qtbot.addWidget(widget)
    seen: list[float] = []
    widget.valueChanged.connect(seen.append)
    widget.slider.setValue(25)  # 0.5 + 25 × 0.1
    assert widget.value() == pytest.approx(3.0) and seen == [pytest.approx(3.0)]
    widget.spin.setValue(7.2)
    assert widget.slider.value() == 67 and seen[-1] == pytest.approx(7.2)
    widget.setValue(42.0)  # clipped to the range
    assert widget.value() == 10.0 and widget.slider.value() == widget.slider.maximum()
    count = len(seen)
    widget.setValue(10.0)  # no change: no signal
    assert len(seen) == count
