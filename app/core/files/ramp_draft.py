"""A ramp opened for painting and previewing: its group differences as count-rate frames.

The app works on count-rate images. A ramp (``nints × ngroups × ny × nx`` in DN) is opened
as a :class:`~app.core.files.products.Product` whose frames are its group differences
divided by the group time::

    frame[i·(ngroups−1) + j − 1] = (group j − group j−1) / TGROUP      (DN/s)

so the stack's working image (the mean of all frames) is the draft rate image
``(last group − first group) / ((ngroups − 1)·TGROUP)`` of each integration, averaged over
integrations: what a straight line through the first and last reads gives. Pixels flagged
DO_NOT_USE or JUMP_DET in the later group's GROUPDQ, or DO_NOT_USE in PIXELDQ, are marked
DO_NOT_USE in that frame's DQ, so the working image and the preview leave them out as
saving does. Each frame is a group difference the preview can clean (the cleaning is
scale-free: dividing by TGROUP changes nothing but units). Without TGROUP the frames are
in DN per group.

Saving a ramp product cleans the ramp file itself (:mod:`app.core.files.ramps`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.core.files.products import DO_NOT_USE, Product
from app.core.files.ramps import GROUP_EXCLUDED, read_ramp

#: ``Product.extras`` key marking a product opened from a ramp.
RAMP_KIND = "ramp"


def read_ramp_draft(path: str | Path) -> Product:
    """Open a ramp file as a product of group-difference rate frames (see module).

    Raises
    ------
    InputError
        As :func:`app.core.files.ramps.read_ramp` (no GROUPDQ, shapes, one group).
    """
    ramp = read_ramp(path)
    with ramp.hdul:
        sci, gdq = ramp.sci, ramp.groupdq
        nints, ngroups = ramp.nints, ramp.ngroups
        tgroup = float(ramp.primary_header.get("TGROUP", 0) or 0)
        scale = np.float32(1.0 / tgroup) if tgroup > 0 else np.float32(1.0)
        pixeldq = None
        if "PIXELDQ" in ramp.hdul and ramp.hdul["PIXELDQ"].data is not None:
            pixeldq = np.asarray(ramp.hdul["PIXELDQ"].data, dtype=np.uint32)
            if pixeldq.shape != ramp.shape:
                pixeldq = None
        frames = np.empty((nints * (ngroups - 1), *ramp.shape), dtype=np.float32)
        dq = np.zeros(frames.shape, dtype=np.uint32)
        for i in range(nints):
            for j in range(1, ngroups):
                k = i * (ngroups - 1) + j - 1
                np.subtract(sci[i, j], sci[i, j - 1], out=frames[k])
                frames[k] *= scale
                dq[k][(gdq[i, j] & GROUP_EXCLUDED) != 0] = DO_NOT_USE
                if pixeldq is not None:
                    dq[k] |= pixeldq & DO_NOT_USE
        header = ramp.primary_header.copy()
        sci_header = ramp.hdul["SCI"].header.copy()
    return Product(path=Path(path), sci=frames, dq=dq, primary_header=header,
                   sci_header=sci_header, is_cube=True,
                   extras={"kind": RAMP_KIND, "ngroups": str(ngroups), "nints": str(nints)})


def is_ramp_product(product: Product) -> bool:
    """True for a product opened with :func:`read_ramp_draft`."""
    return product.extras.get("kind") == RAMP_KIND


def frame_label(product: Product, frame: int) -> str:
    """``"integration i, groups j−1→j"`` (1-based) for a ramp product's frame."""
    per = int(product.extras["ngroups"]) - 1
    i, j = divmod(frame, per)
    return f"integration {i + 1}, group {j + 1}→{j + 2}"
