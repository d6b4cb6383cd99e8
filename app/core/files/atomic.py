"""Write files atomically: a temporary file in the target folder, then a rename.

A crash or a failed write therefore never leaves a half-written file under the
target name, and never damages an existing file of that name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from app.core.errors import InputError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    Parameters
    ----------
    target : path-like
        The final file name.
    overwrite : bool
        If False and ``target`` exists, raise :class:`InputError` before writing.

    Yields
    ------
    Path
        Where the caller writes the complete file. It is removed if the block raises.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{target}: the folder {folder} does not exist")
    if not overwrite and target.exists():
        raise InputError(f"{target}: exists already (refusing to overwrite)")
    # Keep the suffix so writers that look at it (astropy: .gz compresses) behave.
    suffix = "".join(target.suffixes[-2:]) if target.name.endswith(".gz") else target.suffix
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=folder)
    except OSError as exc:
        raise InputError(f"{target}: cannot write here ({exc.strerror})") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"{target}: write failed ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomically(
    target: str | os.PathLike[str], write: Callable[[Path], None], *, overwrite: bool = True
) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``target``.

    Parameters
    ----------
    target : path-like
        The final file name.
    write : callable
        Writes the complete file to the path it is given.
    overwrite : bool
        Whether an existing ``target`` may be replaced.

    Returns
    -------
    Path
        ``target`` as a :class:`~pathlib.Path`.
    """
    with atomic_path(target, overwrite=overwrite) as tmp:
        write(tmp)
    return Path(target)


def folder_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why files cannot be written into ``folder``, or None if they can.

    Tried by creating and removing a hidden temporary file there: permission bits say
    nothing for root, nor for read-only or immutable file systems.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return "is a file, not a folder" if folder.exists() else "folder does not exist"
    try:
        handle, name = tempfile.mkstemp(prefix=".nsclean-probe-", dir=folder)
    except OSError as exc:
        return f"cannot write there ({exc.strerror or exc})"
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None
