"""Process-level memory tuning for large-frame work, applied by the entry points.

A 2048×2048 float32 frame is 16 MB. On Linux, NumPy asks the kernel for transparent
huge pages for such arrays, and glibc returns freed blocks of that size to the kernel
at once, so every new intermediate array is page-faulted and zero-filled again. On the
virtual machines we measured that costs ~25 ms per array, more than the arithmetic.
:func:`tune_allocator` switches NumPy's huge-page hint off (NumPy's documented
``NUMPY_MADVISE_HUGEPAGE=0``) and lets glibc keep freed memory for reuse. The peak
memory is unchanged; the process just does not hand pages back between frames.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_LARGE = 1 << 30
_done = False


def tune_allocator() -> bool:
    """Apply the tuning once; return True if glibc accepted it.

    Safe to call more than once and on any platform (a no-op off glibc).
    """
    global _done
    if _done:
        return True
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # already imported: the environment variable came too late
        try:
            from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore
        except ImportError:  # pragma: no cover - older NumPy
            try:
                from numpy.core.multiarray import _set_madvise_hugepage  # type: ignore
            except ImportError:
                _set_madvise_hugepage = None
        if _set_madvise_hugepage is not None and os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0":
            _set_madvise_hugepage(False)
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, _LARGE)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, _LARGE)
        )
    except (OSError, AttributeError):
        return False
    _done = ok
    return ok
