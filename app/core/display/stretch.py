"""How an image becomes colours: stretches, limit algorithms, colour maps (no Qt here).

The display pipeline keeps the float32 image untouched. Limits ("levels") map the data
range ``[lo, hi]`` onto the indices of a lookup table; the stretch, contrast/bias, invert
and colour map are all folded into that table. A change of stretch therefore only swaps a
4096-entry RGBA table, and a change of limits only changes two numbers (histogram
equalisation, whose table depends on the limits, is the one exception).

Registries are plain dicts keyed by name, like ginga's colour distributions: adding a
stretch is one entry. The algorithms come from :mod:`astropy.visualization`, imported
lazily because it costs ~0.5 s at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from app.core.state.events import Event

#: Entries of every lookup table; 4096 keeps the faint end of log/histeq smooth.
LUT_SIZE = 4096

# name -> (label, default parameter or None when the stretch takes none)
STRETCHES: dict[str, tuple[str, float | None]] = {
    "linear": ("linear", None),
    "sqrt": ("sqrt", None),
    "log": ("log (a)", 1000.0),
    "asinh": ("asinh (a)", 0.1),
    "power": ("power (x^a)", 2.0),
    "histeq": ("histogram equalization", None),
}

#: Percentile limits offered, as in DS9's scale menu.
PERCENTILES = (99.5, 99.0, 98.0, 95.0, 90.0)

LIMITS: dict[str, str] = {
    "minmax": "min/max",
    "zscale": "zscale",
    **{f"{p:g}%": f"{p:g}%" for p in PERCENTILES},
    "manual": "manual",
}

# Colour maps as per-channel (position, value) control points, interpolated linearly
# (DS9's way of defining maps). heat and cool follow DS9's definitions; viridis is a
# close five-point sample of matplotlib's map.
Channel = list[tuple[float, float]]


def _from_stops(stops: list[tuple[float, tuple[float, float, float]]]) -> tuple[Channel, ...]:
    return tuple([(x, rgb[i]) for x, rgb in stops] for i in range(3))


_CMAPS: dict[str, tuple[Channel, ...]] = {
    "gray": _from_stops([(0.0, (0, 0, 0)), (1.0, (1, 1, 1))]),
    "heat": ([(0, 0), (0.34, 1), (1, 1)], [(0, 0), (1, 1)],
             [(0, 0), (0.65, 0), (0.98, 1), (1, 1)]),
    "cool": ([(0, 0), (0.29, 0), (0.76, 0.1), (1, 1)], [(0, 0), (0.22, 0), (0.96, 1), (1, 1)],
             [(0, 0), (0.53, 1), (1, 1)]),
    "rainbow": _from_stops([(0.0, (0.35, 0, 0.5)), (0.2, (0, 0, 1)), (0.4, (0, 1, 1)),
                            (0.6, (0, 1, 0)), (0.8, (1, 1, 0)), (1.0, (1, 0, 0))]),
    "viridis": _from_stops([(0.0, (0.267, 0.005, 0.329)), (0.25, (0.231, 0.322, 0.545)),
                            (0.5, (0.129, 0.569, 0.549)), (0.75, (0.369, 0.788, 0.384)),
                            (1.0, (0.993, 0.906, 0.144))]),
}
COLORMAPS: tuple[str, ...] = tuple(_CMAPS)

# NaN (unusable) pixels get a colour that no value of the map can take, so a bad pixel
# is never mistaken for signal (DS9 uses white, which looks like a hot pixel on gray).
NAN_COLORS: dict[str, tuple[int, int, int]] = {
    "gray": (205, 60, 60),
    "heat": (70, 140, 255),
    "cool": (255, 150, 40),
    "rainbow": (128, 128, 128),
    "viridis": (205, 60, 60),
}


def colormap_table(name: str) -> np.ndarray:
    """Return colour map ``name`` as a ``(256, 3)`` uint8 table."""
    if name not in _CMAPS:
        raise ValueError(f"unknown colour map {name!r}; choose from {', '.join(COLORMAPS)}")
    x = np.linspace(0.0, 1.0, 256)
    table = np.stack(
        [np.interp(x, [p for p, _ in ch], [v for _, v in ch]) for ch in _CMAPS[name]], axis=1
    )
    return np.round(table * 255).astype(np.uint8)


def contrast_bias(values: np.ndarray, contrast: float, bias: float) -> np.ndarray:
    """DS9's contrast/bias: ``clip((v - bias) * contrast + 0.5, 0, 1)`` on values in [0, 1]."""
    from astropy.visualization import ContrastBiasStretch

    return ContrastBiasStretch(contrast, bias)(np.array(values, dtype=float), clip=True)


def contrast_bias_from_drag(fx: float, fy: float) -> tuple[float, float]:
    """Map a right-button drag position to ``(contrast, bias)``, DS9 style.

    Parameters
    ----------
    fx, fy : float
        Pointer position as a fraction of the view: ``fx`` from the left, ``fy`` from
        the bottom. The centre gives the neutral ``(1, 0.5)``.

    Returns
    -------
    contrast, bias : float
        Horizontal position sets the bias (0 … 1); height sets the contrast on a log
        scale from 0.1 (bottom) to 10 (top), so the response feels even.
    """
    fx = float(np.clip(fx, 0.0, 1.0))
    fy = float(np.clip(fy, 0.0, 1.0))
    return 10.0 ** (2.0 * fy - 1.0), fx


def stretch_curve(
    name: str, param: float | None = None, size: int = LUT_SIZE,
    equalize_on: np.ndarray | None = None,
) -> np.ndarray:
    """Evaluate stretch ``name`` on ``size`` evenly spaced inputs in [0, 1].

    Parameters
    ----------
    name : str
        A key of :data:`STRETCHES`.
    param : float, optional
        The stretch's parameter (``a``); its default when None.
    size : int
        Number of samples (table entries).
    equalize_on : ndarray, optional
        For ``histeq``: data already normalised to [0, 1] to equalise on. Without it
        (or with fewer than 2 values) histogram equalisation falls back to linear.

    Returns
    -------
    ndarray
        float64 values in [0, 1], non-decreasing.
    """
    if name not in STRETCHES:
        raise ValueError(f"unknown stretch {name!r}; choose from {', '.join(STRETCHES)}")
    if name == "linear":  # the identity; spares the window's start-up the import of
        return np.linspace(0.0, 1.0, size)  # astropy.visualization (0.3-0.5 s with mpl)
    from astropy import visualization as vis

    a = STRETCHES[name][1] if param is None else float(param)
    makers: dict[str, Callable[[], Any]] = {
        "linear": vis.LinearStretch,
        "sqrt": vis.SqrtStretch,
        "log": lambda: vis.LogStretch(a=a),
        "asinh": lambda: vis.AsinhStretch(a=a),
        "power": lambda: vis.PowerStretch(a),
        "histeq": lambda: (
            vis.HistEqStretch(equalize_on)
            if equalize_on is not None and equalize_on.size >= 2 else vis.LinearStretch()
        ),
    }
    x = np.linspace(0.0, 1.0, size)
    return np.clip(makers[name]()(x, clip=True), 0.0, 1.0)


class ImageStats:
    """Statistics of one image, computed once (off the GUI thread) and cached.

    Holds the exact min/max, an evenly strided sample of at most ``max_sample`` finite
    values (for percentiles, zscale and equalisation; exact for images up to that size),
    the histogram for the level editor and a cache of limits per algorithm.
    """

    def __init__(self, image: np.ndarray, max_sample: int = 1 << 20, bins: int = 512) -> None:
        finite = image[np.isfinite(image)]
        self.n_finite = int(finite.size)
        if finite.size == 0:
            finite = np.zeros(1, dtype=np.float32)
        self.vmin = float(finite.min())
        self.vmax = float(finite.max())
        stride = -(-finite.size // max_sample)
        # zscale samples in image order, as astropy does on a whole image; percentiles
        # and equalisation use the same values sorted
        self._scan = finite[::stride].copy()
        self.sample = np.sort(self._scan)
        self._limits: dict[str, tuple[float, float]] = {}
        # the histogram covers the bulk of the data; min/max outliers would squash it
        lo, hi = np.percentile(self.sample, [0.1, 99.9])
        pad = 0.2 * (hi - lo)
        lo, hi = _nonempty(max(lo - pad, self.vmin), min(hi + pad, self.vmax))
        counts, edges = np.histogram(self.sample, bins=bins, range=(lo, hi))
        self.hist_counts, self.hist_edges = counts, edges.astype(np.float64)

    def limits(self, name: str) -> tuple[float, float]:
        """Return the ``(lo, hi)`` of limit algorithm ``name`` (cached)."""
        if name not in self._limits:
            self._limits[name] = _nonempty(*self._compute_limits(name))
        return self._limits[name]

    def _compute_limits(self, name: str) -> tuple[float, float]:
        from astropy.visualization import PercentileInterval, ZScaleInterval

        if name == "minmax":
            return self.vmin, self.vmax
        if name == "zscale":
            return ZScaleInterval().get_limits(self._scan)
        if name.endswith("%") and name in LIMITS:
            return PercentileInterval(float(name[:-1])).get_limits(self.sample)
        raise ValueError(f"unknown limits {name!r}; choose from {', '.join(LIMITS)}")

    def normalised_within(self, lo: float, hi: float, max_points: int = 65536) -> np.ndarray:
        """Sample values inside ``[lo, hi]`` scaled to [0, 1] (for histogram equalisation)."""
        start, stop = np.searchsorted(self.sample, [lo, hi], side="left")
        inside = self.sample[start:stop]
        inside = inside[:: -(-inside.size // max_points)] if inside.size else inside
        return (inside.astype(np.float64) - lo) / (hi - lo)


def _nonempty(lo: float, hi: float) -> tuple[float, float]:
    """Return finite levels with ``hi > lo`` (a constant image still gets a range)."""
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return 0.0, 1.0
    if hi <= lo:
        return lo - 0.5, lo + 0.5
    return lo, hi


@dataclass(frozen=True)
class DisplaySettings:
    """What the user chose for display; plain values, easy to save and compare."""

    stretch: str = "linear"
    stretch_param: float | None = None
    limits: str = "zscale"
    manual_levels: tuple[float, float] = (0.0, 1.0)
    colormap: str = "gray"
    invert: bool = False
    contrast: float = 1.0
    bias: float = 0.5
    #: Model and residual views: linear, centred on zero, ± this many times half the
    #: width of the image's levels (1: a stripe looks as strong as in the image).
    difference_range: float = 1.0

    def validated(self) -> DisplaySettings:
        """Return self after checking the names and values; raise ``ValueError``."""
        _validate(self)
        return self


_LUT_FIELDS = {"stretch", "stretch_param", "colormap", "invert", "contrast", "bias"}
_LEVEL_FIELDS = {"limits", "manual_levels"}


class DisplayModel:
    """Display state of the working image with plain callbacks (no Qt).

    Listeners get the set of what changed: ``"stats"`` (new image), ``"levels"``,
    ``"lut"`` and ``"settings"``. Views redraw only what is named, so a stretch change
    never touches the image data.
    """

    def __init__(self, settings: DisplaySettings | None = None) -> None:
        self.settings = settings or DisplaySettings()
        _validate(self.settings)
        self.stats: ImageStats | None = None
        #: Emits ``changed(frozenset of "settings", "stats", "levels", "lut")``.
        self.changed = Event()
        self._levels: tuple[float, float] = (0.0, 1.0)
        self._lut: np.ndarray | None = None
        self._difference_lut: np.ndarray | None = None
        self._recompute_levels()

    @property
    def levels(self) -> tuple[float, float]:
        """Data values mapped to the first and last LUT entries."""
        return self._levels

    @property
    def nan_color(self) -> tuple[int, int, int]:
        """RGB shown for NaN pixels; changes with the colour map (announced as "lut")."""
        return NAN_COLORS[self.settings.colormap]

    @property
    def lut(self) -> np.ndarray:
        """The ``(LUT_SIZE, 4)`` uint8 RGBA lookup table."""
        if self._lut is None:
            self._lut = self._make_lut()
        return self._lut

    @property
    def difference_levels(self) -> tuple[float, float]:
        """Levels of the model and residual views: symmetric about zero."""
        half = 0.5 * self.settings.difference_range * (self._levels[1] - self._levels[0])
        return -half, half

    @property
    def difference_lut(self) -> np.ndarray:
        """The LUT of the model and residual views: linear (a log, power or equalising
        stretch of the image is meaningless for values around zero), the image's colours."""
        if self._difference_lut is None:
            s = self.settings
            y = stretch_curve("linear", None, LUT_SIZE)
            if s.invert:
                y = 1.0 - y
            lut = np.full((LUT_SIZE, 4), 255, dtype=np.uint8)
            lut[:, :3] = colormap_table(s.colormap)[np.round(y * 255).astype(np.intp)]
            self._difference_lut = lut
        return self._difference_lut

    def set_stats(self, stats: ImageStats | None) -> None:
        """Attach the statistics of a new working image and recompute the levels."""
        self.stats = stats
        self._recompute_levels()
        self._lut = None
        self._notify({"stats", "levels", "lut"})

    def update(self, **changes: Any) -> None:
        """Change settings by name, e.g. ``update(stretch="log", invert=True)``."""
        if "stretch" in changes and changes["stretch"] != self.settings.stretch:
            changes.setdefault("stretch_param", None)
        new = replace(self.settings, **changes)
        _validate(new)
        changed = {k for k in changes if getattr(new, k) != getattr(self.settings, k)}
        if not changed:
            return
        self.settings = new
        what = {"settings"}
        if changed & _LEVEL_FIELDS:
            self._recompute_levels()
            what.add("levels")
        if changed & _LUT_FIELDS or ("levels" in what and new.stretch == "histeq"):
            self._lut = self._difference_lut = None
            what.add("lut")
        if "difference_range" in changed:
            what.add("levels")
        self._notify(what)

    def set_manual_levels(self, lo: float, hi: float) -> None:
        """Switch to manual limits ``[lo, hi]`` (from the histogram or typed values)."""
        self.update(limits="manual", manual_levels=_nonempty(lo, hi))

    def drag_contrast_bias(self, fx: float, fy: float) -> None:
        """Apply a right-button drag position (see :func:`contrast_bias_from_drag`)."""
        contrast, bias = contrast_bias_from_drag(fx, fy)
        self.update(contrast=contrast, bias=bias)

    def _recompute_levels(self) -> None:
        s = self.settings
        if s.limits == "manual":
            self._levels = _nonempty(*s.manual_levels)
        elif self.stats is not None:
            self._levels = self.stats.limits(s.limits)
        else:
            self._levels = (0.0, 1.0)

    def _make_lut(self) -> np.ndarray:
        s = self.settings
        sample = None
        if s.stretch == "histeq" and self.stats is not None:
            sample = self.stats.normalised_within(*self._levels)
        y = stretch_curve(s.stretch, s.stretch_param, LUT_SIZE, equalize_on=sample)
        if (s.contrast, s.bias) != (1.0, 0.5):
            y = contrast_bias(y, s.contrast, s.bias)
        if s.invert:
            y = 1.0 - y
        lut = np.full((LUT_SIZE, 4), 255, dtype=np.uint8)
        lut[:, :3] = colormap_table(s.colormap)[np.round(y * 255).astype(np.intp)]
        return lut

    def _notify(self, what: set[str]) -> None:
        self.changed.emit(frozenset(what))


def _validate(s: DisplaySettings) -> None:
    if s.stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {s.stretch!r}")
    if s.limits not in LIMITS:
        raise ValueError(f"unknown limits {s.limits!r}")
    if s.colormap not in _CMAPS:
        raise ValueError(f"unknown colour map {s.colormap!r}")
    if not 0.01 <= s.difference_range <= 100:
        raise ValueError(f"difference range must be 0.01–100, got {s.difference_range}")
