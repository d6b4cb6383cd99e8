"""DS9 and CRTF region files: read them into a mask layer, write mask outlines as DS9.

Astronomers often have region files for their slits and sources already. Reading uses the
``regions`` package (DS9 ``.reg`` and CASA ``.crtf``; imported lazily, it is slow to
import). Every region with an area is rasterised on the image grid by pixel centre
(``mode="center"``): a pixel belongs to a region when its centre lies inside. Regions
are applied in file order: an include region adds its pixels, an exclude region (DS9
``-circle(...)``) removes them. Regions in sky coordinates need the image's celestial WCS.

Writing traces the outlines of a mask along pixel edges (4-connected regions; pixels that
touch only at a corner are separate polygons) and writes one DS9 ``polygon`` per outline,
holes as exclude polygons (``-polygon``), largest first, so that reading the file back
in order gives the same mask. Coordinates are DS9 image coordinates (1-based: NumPy pixel
``[iy, ix]`` has its centre at ``x = ix + 1, y = iy + 1``) or, with a WCS, ICRS degrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.core.errors import MaskError
from app.core.files.atomic import atomic_path

#: Directions of outline edges: +x, +y, -x, -y (light on the left of every edge).
_STEPS = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)])


@dataclass
class RegionRead:
    """What :func:`read_regions` found.

    Attributes
    ----------
    mask : ndarray of bool
        The pixels inside the file's regions (after its exclude regions).
    used : int
        Regions that were rasterised.
    notes : list of str
        Regions skipped and why (no area, outside the image).
    """

    mask: np.ndarray
    used: int
    notes: list[str] = field(default_factory=list)


def celestial_wcs(header: object):
    """The celestial WCS of a FITS header (astropy ``WCS``), or None if it has none."""
    if header is None:
        return None
    import warnings

    from astropy.wcs import WCS

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # JWST headers carry SIP/distortion hints
            wcs = WCS(header, naxis=2)
    except Exception:  # any unreadable WCS simply means "no sky coordinates"
        return None
    return wcs.celestial if wcs.has_celestial else None


def read_regions(path: str | Path, shape: tuple[int, int], header: object = None
                 ) -> RegionRead:
    """Rasterise the regions of a DS9 or CRTF file on an image of ``shape``.

    Parameters
    ----------
    path : path
        ``.reg`` (DS9) or ``.crtf`` (CASA) file; other names are tried as DS9, then CRTF.
    shape : tuple of int
        Image shape ``(ny, nx)``.
    header : astropy.io.fits.Header, optional
        The image's header with its WCS, needed for regions in sky coordinates.

    Raises
    ------
    MaskError
        Unreadable file, sky regions without a WCS, or no region covering any pixel.
    """
    path = Path(path)
    regions = _parse(path)
    wcs = None
    mask = np.zeros(shape, dtype=bool)
    used, notes = 0, []
    for number, region in enumerate(regions, 1):
        name = type(region).__name__.replace("PixelRegion", "").replace("SkyRegion", "")
        if not hasattr(region, "to_pixel"):  # already in pixels
            pixel = region
        else:
            wcs = wcs or celestial_wcs(header)
            if wcs is None:
                raise MaskError(f"{path}: region {number} ({name.lower()}) is in sky "
                                "coordinates, but the image has no celestial WCS; save the "
                                "regions in image coordinates")
            pixel = region.to_pixel(wcs)
        try:
            placed = _rasterise(pixel, shape)
        except (AttributeError, NotImplementedError, ValueError):
            notes.append(f"region {number} ({name.lower()}) has no area: skipped")
            continue
        if placed is None or not placed[1].any():
            notes.append(f"region {number} ({name.lower()}) covers no pixel of the image")
            continue
        used += 1
        box, inside = placed
        if region.meta.get("include", True) in (False, 0):
            mask[box] &= ~inside
        else:
            mask[box] |= inside
    if not mask.any():
        raise MaskError(f"{path}: its {len(regions)} region(s) cover no pixel of the "
                        f"{shape[1]}×{shape[0]} image")
    return RegionRead(mask, used, notes)


def _rasterise(pixel, shape: tuple[int, int]
               ) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """``(box, inside)``: a region's pixels (by centre) within its bounding box."""
    ny, nx = shape
    if type(pixel).__name__ == "PolygonPixelRegion":
        # regions' own rasteriser takes minutes for outlines of thousands of corners
        xy = np.column_stack([pixel.vertices.x, pixel.vertices.y])
        r0, c0 = (max(0, int(np.ceil(v))) for v in (xy[:, 1].min(), xy[:, 0].min()))
        r1, c1 = (min(n - 1, int(np.floor(v))) for n, v in ((ny, xy[:, 1].max()),
                                                             (nx, xy[:, 0].max())))
        if r1 < r0 or c1 < c0:
            return None
        inside = polygon_mask(xy - [c0, r0], (r1 - r0 + 1, c1 - c0 + 1))
        return (slice(r0, r1 + 1), slice(c0, c1 + 1)), inside
    region_mask = pixel.to_mask(mode="center")
    large, small = region_mask.get_overlap_slices(shape)
    if large is None:
        return None
    return large, region_mask.data[small] > 0


def polygon_mask(vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies inside a polygon (even-odd rule), by scanlines.

    ``vertices`` are ``(x, y)`` in NumPy pixel coordinates (pixel ``[iy, ix]`` centred at
    ``(ix, iy)``). A centre on a horizontal stretch of the outline counts by the half-open
    rule (``x0 ≤ x < x1``).
    """
    ny, nx = shape
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    rows = np.arange(max(0, int(np.ceil(y0.min()))), min(ny - 1, int(np.floor(y0.max()))) + 1)
    out = np.zeros(shape, dtype=bool)
    if rows.size == 0:
        return out
    slanted = y0 != y1
    x0, y0, x1, y1 = x0[slanted], y0[slanted], x1[slanted], y1[slanted]
    yc = rows[None, :].astype(float)
    low, high = np.minimum(y0, y1)[:, None], np.maximum(y0, y1)[:, None]
    crosses = (yc >= low) & (yc < high)  # each crossing counted once (half-open in y)
    edge, row = np.nonzero(crosses)
    x = x0[edge] + (rows[row] - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
    order = np.lexsort((x, row))
    row, x = row[order], x[order]
    # consecutive crossings of a row pair up: inside between the 1st and 2nd, 3rd and 4th...
    starts = np.clip(np.ceil(x[0::2]), 0, nx).astype(int)
    stops = np.clip(np.ceil(x[1::2]), 0, nx).astype(int)
    steps = np.zeros((rows.size, nx + 1), dtype=np.int32)
    np.add.at(steps, (row[0::2], starts), 1)
    np.add.at(steps, (row[0::2], stops), -1)
    out[rows] = np.cumsum(steps, axis=1)[:, :nx] > 0
    return out


def _parse(path: Path) -> list:
    from regions import Regions

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MaskError(f"{path}: cannot read ({exc.strerror or exc})") from None
    formats = ["crtf", "ds9"] if (path.suffix.lower() == ".crtf"
                                  or text.lstrip().startswith("#CRTF")) else ["ds9", "crtf"]
    problems = []
    import warnings

    for kind in formats:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # unknown DS9 properties, comments
                regions = list(Regions.parse(text, format=kind))
        except Exception as exc:  # the parsers raise many kinds of errors
            problems.append(f"{kind.upper()}: {exc}")
            continue
        if regions:
            return regions
        problems.append(f"{kind.upper()}: no region found")
    raise MaskError(f"{path}: not a DS9 or CRTF region file ({'; '.join(problems)})")


def outlines(mask: np.ndarray) -> list[np.ndarray]:
    """Closed outlines of the True pixels along pixel edges, largest area first.

    Returns
    -------
    list of ndarray
        Vertices ``(x, y)`` of each outline at pixel corners in NumPy pixel coordinates
        (pixel ``[iy, ix]`` spans ``ix ± 0.5``, ``iy ± 0.5``), only the corners where the
        outline turns. Outer outlines run counter-clockwise, holes clockwise.
    """
    padded = np.pad(np.asarray(mask, dtype=bool), 1)
    nx = padded.shape[1]
    width = nx + 1  # corners per row of the padded grid
    starts, directions = [], []
    # every light pixel's side that faces a dark pixel is an edge, light on its left
    for direction, (neighbour, corner) in enumerate((
            ((-1, 0), (0, 0)),   # bottom side, +x, from the pixel's lower-left corner
            ((0, 1), (1, 0)),    # right side, +y, from the lower-right corner
            ((1, 0), (1, 1)),    # top side, -x, from the upper-right corner
            ((0, -1), (0, 1)))):  # left side, -y, from the upper-left corner
        other = np.roll(padded, (-neighbour[0], -neighbour[1]), axis=(0, 1))
        iy, ix = np.nonzero(padded & ~other)
        starts.append((iy + corner[1]) * width + ix + corner[0])
        directions.append(np.full(iy.size, direction))
    start, step = np.concatenate(starts), np.concatenate(directions)
    if start.size == 0:
        return []
    end = start + _STEPS[step, 1] * width + _STEPS[step, 0]
    key = start * 4 + step
    order = np.argsort(key)
    sorted_keys = key[order]
    following = np.full(start.size, -1)
    # at a corner shared by two diagonal pixels take the left turn: they stay apart
    for turn in (1, 0, 3):
        wanted = end * 4 + (step + turn) % 4
        at = np.minimum(np.searchsorted(sorted_keys, wanted), sorted_keys.size - 1)
        found = (sorted_keys[at] == wanted) & (following < 0)
        following[found] = order[at[found]]
    loops, seen = [], np.zeros(start.size, dtype=bool)
    for first in range(start.size):
        if seen[first]:
            continue
        chain, edge = [], first
        while not seen[edge]:
            seen[edge] = True
            chain.append(edge)
            edge = following[edge]
        chain = np.asarray(chain)
        turns = chain[step[chain] != step[np.roll(chain, 1)]]
        corners = np.column_stack([start[turns] % width, start[turns] // width])
        loops.append(corners.astype(float) - 1.5)  # padded corner index → pixel coordinate
    loops.sort(key=lambda xy: -abs(_area(xy)))
    return loops


def _area(xy: np.ndarray) -> float:
    """Signed area of a polygon (positive counter-clockwise)."""
    x, y = xy[:, 0], xy[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def write_ds9(path: str | Path, mask: np.ndarray, wcs: object = None,
              overwrite: bool = True) -> Path:
    """Write the outlines of ``mask`` as a DS9 region file (atomically).

    Parameters
    ----------
    path : path
        The ``.reg`` file.
    mask : ndarray of bool
        The pixels to outline (e.g. the light layer).
    wcs : astropy.wcs.WCS, optional
        Celestial WCS: vertices in ICRS degrees; otherwise DS9 image coordinates.
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    MaskError
        If the mask is empty.
    """
    loops = outlines(mask)
    if not loops:
        raise MaskError("the layer is empty: there is no outline to export")
    lines = ["# Region file format: DS9 version 4.1",
             f"# {len(loops)} outline(s) of a mask written by nsclean-gui, '-polygon' "
             "lines are holes (exclude regions)",
             'global color=green width=1 font="helvetica 10 normal roman"']
    if wcs is None:
        lines.append("image")
        points = [xy + 1.0 for xy in loops]  # DS9 image coordinates are 1-based
        fmt = "{:.1f},{:.1f}"
    else:
        lines.append("icrs")
        points = [np.column_stack(wcs.pixel_to_world_values(xy[:, 0], xy[:, 1]))
                  for xy in loops]
        fmt = "{:.8f},{:.8f}"
    for xy, vertices in zip(loops, points, strict=True):
        sign = "-" if _area(xy) < 0 else ""
        lines.append(f"{sign}polygon(" + ",".join(fmt.format(*p) for p in vertices) + ")")
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path
