"""Write files atomically: a temporary file in the target folder, then a rename.

A crash or a failed write therefore never leaves a half-written file under the
target name, and never damages an existing file of that name.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    held = hold_stop_signals()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=temporary_prefix(), suffix=_suffix(target),
                                        dir=folder)
    except OSError as exc:
        release_signals(held)
        raise InputError(f"{target}: cannot write here ({exc.strerror})") from exc
    tmp = Path(tmp_name)
    try:  # from here on, a signal (KeyboardInterrupt, Terminated) removes the file too
        release_signals(held)  # a signal that came during mkstemp is raised here, inside the try
        os.close(fd)
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        if overwrite:
            os.replace(tmp, target)
        else:
            _rename_new(tmp, target)
    except OSError as exc:
        raise InputError(f"{target}: write failed ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()



#: The signals that stop a run (Ctrl-C, kill, timeout, a closed terminal).
_STOP_SIGNALS = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                 if hasattr(signal, name)}


@dataclass
class HeldSignals:
    """What :func:`hold_stop_signals` changed, for :func:`release_signals`."""

    mask: set[int] | None  # the main thread's previous signal mask
    handlers: dict[int, Any] = field(default_factory=dict)  # the handlers replaced
    caught: list[int] = field(default_factory=list)  # signals that came while held


def hold_stop_signals() -> HeldSignals | None:
    """Hold SIGINT/SIGTERM/SIGHUP in the main thread until :func:`release_signals`.

    ``mkstemp`` creates the file before it returns its name: a signal handled in between
    would raise where no ``finally`` knows the name yet, and leave the file behind. Held,
    the signal waits until the caller is inside the block that removes the file.

    Masking the main thread is not enough once the engine has started its threads: the
    kernel then hands the signal to one of them and Python still runs the handler in the
    main thread, at its next instruction. So the Python handlers are also swapped for one
    that notes the signal, and :func:`release_signals` raises it again.

    Returns
    -------
    HeldSignals or None
        None where nothing was held (another thread: Python runs handlers in the main
        thread only).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    held = HeldSignals(None)
    for number in _STOP_SIGNALS:
        handler = signal.getsignal(number)
        if handler is signal.SIG_IGN or handler is None:
            continue  # ignored (a background job's SIGINT) stays ignored
        held.handlers[number] = handler
        signal.signal(number, lambda signum, _frame: held.caught.append(signum))
    if hasattr(signal, "pthread_sigmask"):
        held.mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    return held


def release_signals(held: HeldSignals | None) -> None:
    """Undo :func:`hold_stop_signals`; a signal that came meanwhile is handled now."""
    if held is None:
        return
    for number, handler in held.handlers.items():
        signal.signal(number, handler)
    if held.mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, held.mask)  # a masked one arrives here
    for number in dict.fromkeys(held.caught):
        signal.raise_signal(number)


def _rename_new(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target`` unless ``target`` exists: another writer of the same
    name (a second run, started at the same time) must not be overwritten silently."""
    try:
        os.link(tmp, target)  # atomic, and fails if the name is taken
    except FileExistsError:
        raise InputError(f"{target}: exists already (refusing to overwrite)") from None
    except OSError:  # no hard links here (some network and FAT file systems)
        if target.exists():
            raise InputError(f"{target}: exists already (refusing to overwrite)") from None
        os.replace(tmp, target)


#: Temporary files are ``.nsclean-tmp-<host>-<pid>-<random><suffix>``: short whatever the
#: target's name (a 250-byte name stays legal), and recognisable, so that the leftovers
#: of a process killed outright (SIGKILL, power cut) can be removed later.
_TEMPORARY = re.compile(r"^\.nsclean-tmp-([0-9a-f]{8})-(\d+)-")
#: A leftover of another machine (a shared folder) is removed only when this old.
FOREIGN_AGE = 24 * 3600.0


def _host() -> str:
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def temporary_prefix() -> str:
    """The name prefix of this process's temporary files."""
    return f".nsclean-tmp-{_host()}-{os.getpid()}-"


def _suffix(target: Path) -> str:
    # Keep the suffix so writers that look at it (astropy: .gz compresses) behave.
    suffix = "".join(target.suffixes[-2:]) if target.name.endswith(".gz") else target.suffix
    return suffix if len(suffix) <= 16 else ""


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (assumed so where we cannot tell)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate the process on Windows; assume dead
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


def remove_leftovers(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files that processes killed mid-write left in ``folder``.

    Only our own pattern is touched: files of processes of this machine that are no
    longer running, and files of other machines older than :data:`FOREIGN_AGE`.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed: list[Path] = []
    if os.name == "nt":  # no way to tell a live writer from a dead one (process_alive)
        return removed
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    host, now = _host(), time.time()
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if not match:
            continue
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            if match.group(1) == host:
                if process_alive(int(match.group(2))):
                    continue
            elif now - entry.stat(follow_symlinks=False).st_mtime < FOREIGN_AGE:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


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
