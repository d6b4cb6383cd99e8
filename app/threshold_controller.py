"""Threshold dock: live preview of the would-be light pixels, and Apply as one undo step.

A slider move is sent to the window's :class:`~app.widgets.workers.TaskRunner` on the
next turn of the event loop (the signals of one edit count once). Moves while a
threshold is computed are coalesced: the newest settings go out when it is shown, so
during a drag the overlay follows as fast as it can be computed and no work is thrown
away. The :class:`~app.core.threshold.traces.Thresholder` of the working image is kept between
requests (:class:`~app.core.threshold.live.ThresholderCache`), so only the first one pays
for the background fit (seconds on a full frame); later moves cost one threshold (σ ~50
ms, size ~20 ms, growth ~10 ms on a full frame, bench/bench_threshold_gui.py). Everything
the overlay and the status line need is computed in the worker too.

Apply computes the threshold of the current settings the same way and writes it into
the light layer with :meth:`~app.core.mask.layers.MaskLayers.apply_mask` (one undo
item), inside the rectangle or polygon selection when one is chosen
(:func:`~app.core.threshold.traces.limit_to_region`). A threshold that selects everything or
nothing, or an image without usable pixels, gives one dialog and no change.

The demo starts from :meth:`ThresholdController.auto_mask`: the default settings,
applied the same way, with a fallback when they fail.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from PyQt6.QtCore import QObject, QPointF, QRectF, pyqtSignal
from PyQt6.QtWidgets import QDockWidget

from app.core.errors import NSCleanError
from app.core.files.stack import ImageStack
from app.core.mask.layers import MaskLayers
from app.core.mask.model import MaskModel
from app.core.state.states import SettingsState
from app.core.state.undo import UndoStack
from app.core.threshold.live import ThresholderCache, ThresholdPreview, region_mask
from app.core.threshold.traces import ThresholdResult, ThresholdSettings, limit_to_region
from app.widgets.image_view import ImageView
from app.widgets.live_task import LiveTask, describe_error
from app.widgets.port import MessagePort
from app.widgets.region_selector import SELECTION_Z, RegionSelector
from app.widgets.threshold_panel import PREVIEW_Z, ThresholdOverlay, ThresholdPanel
from app.widgets.workers import TaskRunner

#: Delay of a preview request when none runs: the next event-loop turn.
DEBOUNCE_MS = 0
#: The Threshold tab while the first background fit of an image runs.
FITTING_MESSAGE = ("Fitting the background of this image (banding, readout channels, "
                   "picture frame; once per image, a few seconds)…")
PREVIEW_KEY, APPLY_KEY, AUTO_KEY = "threshold-preview", "threshold-apply", "threshold-auto"


def _threshold_job(cache: ThresholderCache, settings: ThresholdSettings) -> ThresholdPreview:
    return cache.preview(settings)


class ThresholdController(QObject):
    """Owns the Threshold dock, its overlay and region selection.

    Signals
    -------
    previewShown(object)
        A :class:`ThresholdResult` is on screen (None: the overlay was cleared).
    applied(object)
        The light layer was replaced (the :class:`ThresholdResult` used).
    """

    previewShown = pyqtSignal(object)
    applied = pyqtSignal(object)

    def __init__(self, stack: ImageStack, masks: MaskModel,
                 settings: SettingsState[ThresholdSettings], history: UndoStack,
                 view: ImageView, runner: TaskRunner, port: MessagePort,
                 finish_painting: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.stack, self.masks, self.settings, self.view = stack, masks, settings, view
        self.runner, self.port, self.finish_painting = runner, port, finish_painting
        self.panel = ThresholdPanel(settings, history)
        self.overlay = ThresholdOverlay()
        view.add_overlay(self.overlay, PREVIEW_Z)
        self.selector = RegionSelector()
        view.add_overlay(self.selector, SELECTION_Z)
        self.dock = QDockWidget("Threshold")  # placed by the window (its visibility counts)
        self.dock.setObjectName("Threshold")
        self.dock.setWidget(self.panel)
        self.result: ThresholdResult | None = None
        self.preview: ThresholdPreview | None = None
        self._cache: ThresholderCache | None = None
        # the image and settings of what is on screen (a result, or an error message):
        # recomputing them would give the same again, so it is not scheduled
        self._shown_for: tuple[np.ndarray, ThresholdSettings] | None = None
        # moves while a threshold is computed wait for it: then the newest settings go out
        self.live = LiveTask(self.runner, PREVIEW_KEY, _threshold_job, self._inputs,
                             self._on_preview, self._on_preview_error, idle_ms=DEBOUNCE_MS,
                             busy_ms=None, on_progress=self._on_progress, parent=self)
        self._timer = self.live.timer

        self.settings.changed.connect(lambda _fields: self.schedule())
        self.panel.overlayToggled.connect(lambda _on: self._sync_visibility())
        self.panel.regionChanged.connect(self._place_region)
        self.panel.applyRequested.connect(self.apply)
        self.dock.visibilityChanged.connect(lambda _shown: self._sync_visibility())
        stack.changed.connect(lambda _what: self._image_changed())
        masks.replaced.connect(lambda _layers: self.schedule())

    # --- the Thresholder of the working image ---------------------------------------
    def cache(self) -> ThresholderCache | None:
        """The cache of the current working image (None before an image is combined)."""
        image = self.stack.image
        if image is None:
            self._cache = None
        elif self._cache is None or self._cache.image is not image:
            self._cache = ThresholderCache(image)
        return self._cache

    def _image_changed(self) -> None:
        """A new working image (or none): what is shown or computed belongs to the old one."""
        if self._shown_for is not None and self._shown_for[0] is not self.stack.image:
            self.live.cancel()  # stops at its next step; its result is dropped
            self.panel.set_busy(False)
            self._show(None)  # also when the dock is hidden: shown again, it recomputes
        self.schedule()

    def _on_screen(self, image: np.ndarray | None) -> bool:
        """Whether what is shown was computed for ``image`` and the panel's settings."""
        return (self._shown_for is not None and image is not None
                and self._shown_for[0] is image and self._shown_for[1] == self.panel.settings())

    def _current(self, cache: ThresholderCache) -> bool:
        """Whether ``cache`` still belongs to the working image."""
        return cache.image is self.stack.image

    @property
    def active(self) -> bool:
        """Whether the user looks at the Threshold dock."""
        return self.dock.isVisible() and not self.dock.visibleRegion().isEmpty()

    # --- live preview -----------------------------------------------------------------
    def schedule(self) -> None:
        """Recompute the preview: on the next event-loop turn, or when the running
        request is shown."""
        self.live.request()

    def submit_preview(self) -> None:
        """Send the current settings to the worker now (if anybody looks)."""
        self.live.submit()

    def _inputs(self) -> tuple | None:
        cache = self.cache()
        if cache is None:
            self._show(None)
            self.panel.show_message("Load an image to threshold it")
            return None
        if not (self.active and self.panel.show_overlay.isChecked()):
            return None  # recomputed when the dock is shown again
        settings = self.panel.settings()
        if self._on_screen(cache.image) and not self.live.running:
            return None  # on screen already (e.g. the dock shown again)
        self.panel.set_busy(True)
        if not cache.fitted:  # the first look at an image takes seconds: say what happens
            self.panel.show_message(FITTING_MESSAGE)
        return cache, settings

    def _on_progress(self, fraction: float, message: str) -> None:
        text = (FITTING_MESSAGE if message.startswith("fitting")
                else f"{message[:1].upper()}{message[1:]}…")
        self.panel.set_progress(fraction, text)

    def _on_preview(self, inputs: tuple, preview: ThresholdPreview) -> None:
        cache = inputs[0]
        self.panel.set_busy(False)
        if not self._current(cache):
            return  # computed for an image that is gone
        self._show(preview, (cache.image, preview.result.settings))
        result = preview.result
        if preview.problem:
            self.panel.show_message(f"Apply would refuse: {preview.problem}.", problem=True)
        else:
            self.panel.show_message(
                f"{result.regions} light region(s): {preview.light_fraction:.1%} of the frame "
                f"light, {preview.background_fraction:.1%} background; noise σ "
                f"{result.noise:.3g}.")

    def _on_preview_error(self, inputs: tuple, text: str) -> None:
        cache, settings = inputs
        self.panel.set_busy(False)
        if not self._current(cache):
            return
        self._show(None, (cache.image, settings))  # not retried until something changes
        self.panel.show_message(f"No threshold: {text}", problem=True)

    def _show(self, preview: ThresholdPreview | None,
              shown_for: tuple[np.ndarray, ThresholdSettings] | None = None) -> None:
        self.preview = preview
        self.result = None if preview is None else preview.result
        self._shown_for = shown_for
        self.overlay.set_mask(None if preview is None else preview.light)
        self._sync_visibility()
        self.previewShown.emit(self.result)

    def _sync_visibility(self) -> None:
        active = self.active
        self.overlay.setVisible(active and self.panel.show_overlay.isChecked())
        self.selector.setVisible(active)
        if active and self.stack.image is not None \
                and not self._on_screen(self.stack.image):
            self.schedule()

    # --- region -----------------------------------------------------------------------
    def _place_region(self, kind: str) -> None:
        self.selector.place(kind, self._visible_dms_rect())

    def _visible_dms_rect(self) -> QRectF:
        view = self.view
        box = view.view
        rect = box.viewRect()
        corners = [view.dms_from_scene(box.mapViewToScene(p))
                   for p in (rect.topLeft(), rect.bottomRight())]
        visible = QRectF(corners[0], corners[1]).normalized()
        image = self.stack.image
        if image is not None:
            full = QRectF(QPointF(0, 0), QPointF(image.shape[1], image.shape[0]))
            visible = visible.intersected(full) if visible.intersects(full) else full
        return visible

    def region(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The selected pixels (None: the whole frame)."""
        return region_mask(self.selector.vertices(), shape)

    # --- applying ---------------------------------------------------------------------
    def apply(self) -> bool:
        """Threshold with the panel's settings, then write the light layer (asynchronous);
        False if there is nothing to threshold."""
        cache, layers = self.cache(), self.masks.layers
        if cache is None or layers is None:
            self.port.show_message("Nothing to threshold", "Load an image first.")
            return False
        region = self.region(layers.shape)
        if region is not None and not region.any():
            self.port.show_message("Threshold not applied", "The selection covers no pixel."
                                     "\n\nThe layers are unchanged.")
            return False
        settings = self.panel.settings()
        if self.result is not None and self._on_screen(cache.image):
            # the overlay is the answer
            self._on_apply(cache, layers, region, self.result, how=self.panel.apply_how)
            return True
        self.panel.set_busy(True)
        self.panel.apply_button.setEnabled(False)
        self.runner.submit(APPLY_KEY, cache.run, settings,
                           on_done=partial(self._on_apply, cache, layers, region,
                                           how=self.panel.apply_how),
                           on_error=self._on_apply_error)
        return True

    def _on_apply(self, cache: ThresholderCache, layers: MaskLayers,
                  region: np.ndarray | None, result: ThresholdResult, how: str = "add"
                  ) -> None:
        self._apply_finished()
        # the layers outlive an image of the same shape (new file, other combination):
        # the image decides whether this threshold still belongs on them
        if not self._current(cache) or layers is not self.masks.layers:
            text = "The image changed before the threshold was ready: nothing applied."
            self.panel.show_message(text, problem=True)
            self.port.show_status(text, 8000)  # the panel moves on to the new
            return
        problem = result.problem()
        if problem:
            self.port.show_message("Threshold not applied", f"{problem[:1].upper()}"
                                     f"{problem[1:]}.\n\nThe layers are unchanged.")
            return
        try:
            self.write(layers, result, region, f"threshold ({how})", how)
        except NSCleanError as exc:
            self.port.show_message("Threshold not applied", f"{exc}\n\nThe layers are "
                                     "unchanged.")
            return
        where = "inside the selection" if region is not None else "on the whole frame"
        done = {"add": "added to", "replace": "replaced", "intersect": "intersected with"}[how]
        self.panel.show_message(f"Threshold {done} the light layer {where} ({result.regions} "
                                "region(s)). Edit ▸ Undo (Ctrl+Z) restores it.")
        self.applied.emit(result)

    def _on_apply_error(self, exc: BaseException) -> None:
        self._apply_finished()
        if isinstance(exc, NSCleanError):
            self.port.show_message("Threshold not applied", f"{exc}\n\nThe layers are "
                                     "unchanged.")
        else:
            self.port.show_message("Threshold failed", f"{describe_error(exc)}\n\n"
                                     "The layers are unchanged.", critical=True)

    def _apply_finished(self) -> None:
        self.panel.set_busy(self.runner.is_busy(PREVIEW_KEY))
        self.panel.apply_button.setEnabled(True)

    def write(self, layers: MaskLayers, result: ThresholdResult, region: np.ndarray | None,
              label: str, how: str = "replace") -> None:
        """Combine ``result`` with the light layer (inside ``region``): one undo item.

        ``how``: "add" (union: painted light stays), "replace" or "intersect".
        """
        self.finish_painting()
        light = (self.preview.light if self.preview is not None
                 and self.preview.result is result else result.light)
        current = np.asarray(layers.layer("light"))
        if how == "add":
            light = light | current
        elif how == "intersect":
            light = light & current
        layers.apply_mask("light", limit_to_region(light, current, region), "replace", label)

    # --- the demo's starting mask -------------------------------------------------------
    def auto_mask(self, fallback: Callable[[], None],
                  on_applied: Callable[[], None] = lambda: None) -> None:
        """Threshold the working image with the default settings and make that the light
        layer (one undo item), then call ``on_applied``; call ``fallback`` instead if that
        fails."""
        cache, layers = self.cache(), self.masks.layers
        if cache is None or layers is None:
            fallback()
            return
        self.runner.submit(AUTO_KEY, cache.run, ThresholdSettings(),
                           on_done=partial(self._on_auto, cache, layers, fallback, on_applied),
                           on_error=lambda _exc: fallback())

    def _on_auto(self, cache: ThresholderCache, layers: MaskLayers, fallback: Callable[[], None],
                 on_applied: Callable[[], None], result: ThresholdResult) -> None:
        if not self._current(cache) or layers is not self.masks.layers:
            return
        if result.problem():
            fallback()
            return
        self.write(layers, result, None, "automatic threshold")
        on_applied()
        self.port.show_status(
            "Started from an automatic threshold mask (Threshold tab; Ctrl+Z undoes it)", 8000)
