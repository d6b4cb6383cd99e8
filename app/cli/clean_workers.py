"""The worker side of ``nsclean clean``: how each file is cleaned in a process of its own
(``-j N``), in this process (``-j 1``) or on a dask cluster (``--scheduler``), and what the
outcome of each file says.

Separate from :mod:`app.cli.clean` (its options and :func:`~app.cli.clean.run`) because
this is process machinery: the state a worker keeps between files (``_WORKER``: the mask
is sent once per process, not once per file), the signal handling that stops a worker's
file on Ctrl-C without a traceback, and the pool that is started and stopped around them.
:class:`~concurrent.futures.ProcessPoolExecutor` pickles its initializer and the callable
it submits by qualified name, so they and the state they read live at module level here.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from app.cli.signals import (
    STOP_SIGNALS,
    Terminated,
    detach_stdout,
    ignored_signals,
    install_worker_handlers,
    watch_parent,
)
from app.core.errors import MaskShapeError, NSCleanError

# Worker-process state: the mask is sent once per process, not once per file.
_WORKER: dict[str, object] = {}


def init_worker(mask, params, detector, mask_name, overwrite, tune=None,
                checks=None, save=()) -> None:
    """Keep what every file of this process is cleaned with (in ``_WORKER``).

    Parameters
    ----------
    mask : ndarray of bool
        The background mask (one plane, or one plane per integration).
    params : CleanParams
        The cleaning parameters.
    detector : str or None
        ``--detector``: overrides each file's DETECTOR keyword.
    mask_name : str
        The mask's path, for messages and provenance keywords.
    overwrite : bool
        Replace existing outputs.
    tune : TuneSettings or None
        ``--tune``'s cross-validation settings: each file is tuned before it is cleaned.
    checks : dict, optional
        The input refusals' settings (``mask_detector``, ``any_mask_detector``, ``force``).
    save : tuple of str
        The diagnostic products to write beside each output.
    """
    from app.core.perf import tune_allocator

    tune_allocator()
    _WORKER.update(mask=mask, params=params, detector=detector, mask_name=mask_name,
                   overwrite=overwrite, tune=tune, checks=checks or {}, save=save)


def _init_pool_worker(stop, ignored, *init) -> None:
    """Initialise a worker process of ``-j N``; ``stop`` is set when the user interrupts.

    The worker was started with the stop signals blocked (so that a Ctrl-C while it
    imports prints no traceback); from now on Ctrl-C, SIGTERM and SIGHUP (unless the
    parent ignores them: ``ignored``) stop the file being cleaned, whose temporary output
    is then removed, but never the pool's own loop, which would print a traceback. If
    the parent dies without stopping it, the worker does the same and exits.
    """
    init_worker(*init)
    _WORKER.update(stop=stop, busy=False, interrupted=False)
    install_worker_handlers(_worker_interrupt, ignored)
    sys.unraisablehook = _worker_unraisable
    detach_stdout()
    watch_parent(_interrupt_worker, lambda: bool(_WORKER.get("busy")))
    _set_stop_blocked(False)  # a signal pending since the start only marks us interrupted


def _worker_unraisable(unraisable) -> None:
    """An interrupt that landed in a finaliser (an astropy ``__del__``) would be printed
    as "Exception ignored" with a traceback, and lost: raise it again instead."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _WORKER["interrupted"] = False
        _interrupt_worker()
        return
    sys.__unraisablehook__(unraisable)


def _interrupt_worker() -> None:
    """Stop this worker's file as a signal would (from the parent-watching thread)."""
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is _worker_interrupt:
            # a real signal: it also wakes a main thread waiting on the engine's threads
            os.kill(os.getpid(), signum)  # the handler marks us interrupted
            return
    _WORKER["interrupted"] = True


def _worker_interrupt(signum, frame) -> None:
    # Raise once: a second SIGINT (the terminal's and the parent's) must not cut short
    # the clean-up of the first, which removes the temporary output.
    first = not _WORKER.get("interrupted")
    _WORKER["interrupted"] = True
    if first and _WORKER.get("busy"):
        raise KeyboardInterrupt


def _clean_in_pool(source: Path, target: Path) -> tuple[str, list[str]]:
    """:func:`clean_one` in a worker; ("cancelled", []) once the user has interrupted."""
    stop = _WORKER.get("stop")
    if _WORKER.get("interrupted") or (stop is not None and stop.is_set()):
        return "cancelled", []
    _WORKER["busy"] = True
    try:
        return clean_one(source, target)
    except KeyboardInterrupt:
        _WORKER["interrupted"] = True
        return "cancelled", []
    finally:
        _WORKER["busy"] = False


def clean_one(source: Path, target: Path) -> tuple[str, list[str]]:
    """Clean one file in a worker; return ("ok"|"error", messages)."""
    from app.core.files.batch import clean_file

    params, notes = _WORKER["params"], []
    try:
        checks = _WORKER.get("checks") or {}
        if _WORKER.get("tune") is not None:  # --tune: settings of the cross-validation
            from app.cli.tune import tune_file
            # not tuned on a file that is then refused
            refuse_input(source, checks, _WORKER["detector"], _WORKER["mask_name"])
            params, notes = tune_file(source, _WORKER["mask"], params, _WORKER["detector"],
                                      _WORKER["tune"])
        result = clean_file(source, _WORKER["mask"], target, params=params,
                            detector=_WORKER["detector"], mask_name=_WORKER["mask_name"],
                            overwrite=_WORKER["overwrite"], save=_WORKER.get("save", ()),
                            **checks)
    except MaskShapeError as exc:  # the same for every file of that shape: said once
        mask = "×".join(map(str, exc.mask_shape))
        image = "×".join(map(str, exc.image_shape))
        return "mask-shape", [f"{_WORKER['mask_name']}: the mask is {mask} pixels, which does "
                              f"not match {source} ({image})",
                              f"image {image}, not the mask's {mask}"]
    except NSCleanError as exc:
        return "error", [str(exc)]
    except OSError as exc:  # the file system refused: say which file and why
        return "error", [f"{source}: {exc.strerror or exc}"]
    except Exception as exc:  # a bug must not stop the other files or print a traceback
        return "error", [f"{source}: internal error ({type(exc).__name__}: {exc})"]
    return "ok", notes + _line_warnings(source, result.diagnostics) + _dq_warning(result)


def _dq_warning(result) -> list[str]:
    """A product without DQ (cut at an HDU boundary?) cleans with DO_NOT_USE unknown."""
    product = getattr(result, "product", None)  # a ramp's result has its GROUPDQ instead
    if product is None or product.dq is not None:
        return []
    return [f"{product.path}: warning: no DQ extension, so DO_NOT_USE pixels could not be "
            "kept out of the background (is the file cut short?)"]


def refuse_input(source: Path, checks: dict, detector: str | None, mask_name: str) -> None:
    """The refusals of :func:`~app.core.files.batch.clean_file` before any tuning: a file
    cleaned already, a mask made for the other detector (reads only the headers)."""
    from app.core.files.frames import refuse_cleaned
    from app.core.files.safe import primary_header
    from app.core.mask.detector import check_mask_detector

    try:  # bounded: a FIFO, /dev/zero or a header without END is refused at once
        header = primary_header(source)
    except NSCleanError:
        return  # unreadable: the cleaning reports it with the full reason
    refuse_cleaned(source, header, checks.get("force", False))
    detector = detector or header.get("DETECTOR")
    check_mask_detector(checks.get("mask_detector"), detector, mask_name=mask_name,
                        image_name=str(source), override="pass --any-mask-detector",
                        allow=checks.get("any_mask_detector", False))

def _line_warnings(source: Path, diagnostics) -> list[str]:
    """Warnings about lines left uncleaned or fitted by their mean level, one per distinct
    set of lines: a rateints file usually repeats the same lines in every integration."""
    groups: dict[tuple[str, tuple[int, ...], int], list[int]] = {}
    for i, diag in enumerate(diagnostics):
        for kind, lines in (("unfit", diag.unfit_lines), ("reduced", diag.reduced_lines)):
            if len(lines):
                key = (kind, tuple(int(line) for line in lines), diag.min_samples)
                groups.setdefault(key, []).append(i + 1)
    warnings = []
    for (kind, lines, min_samples), integrations in groups.items():
        where = _which_integrations(integrations, len(diagnostics))
        count = (f"{len(lines)} detector lines have" if len(lines) > 1
                 else "1 detector line has")
        if kind == "unfit":
            what = (f"{count} fewer than {min_samples} background samples and "
                    f"{'were' if len(lines) > 1 else 'was'} not fitted (buffing gives "
                    f"{'them' if len(lines) > 1 else 'it'} part of the neighbours' model)")
        else:
            what = (f"{count} {'their' if len(lines) > 1 else 'its'} background in too few "
                    "places for the Fourier fit; only the mean level was removed")
        warnings.append(f"{source}{where}: warning: {what} (lines {_ranges(lines)})")
    return warnings


def _which_integrations(integrations: list[int], total: int) -> str:
    """Text naming the integrations (1-based) a warning is about, after the file name."""
    if total == 1:
        return ""
    if len(integrations) == total:
        return f" (all {total} integrations)"
    return f" integration{'s' if len(integrations) > 1 else ''} {_ranges(integrations)}"


def _ranges(lines) -> str:
    parts, start, prev = [], None, None
    for line in [*list(lines), None]:
        if start is None:
            start = prev = line
        elif line is not None and line == prev + 1:
            prev = line
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = line
    return ", ".join(parts[:8]) + (" ..." if len(parts) > 8 else "")


def start_pool(workers: int, init: tuple, jobs: list[tuple[Path, Path]]):
    """Start ``workers`` processes and submit every job; return (pool, futures, stop)."""
    # "spawn", not fork: the parent already runs BLAS and sorting threads, and a forked
    # child can inherit one of their locks held, and hang.
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    ignored = ignored_signals()  # before the handlers below hide an inherited SIG_IGN
    # Workers are spawned by submit() and inherit the main thread's blocked stop signals
    # until they are initialised. A signal meanwhile (delivered to any of our threads) is
    # only recorded: raised inside submit() it would leave a worker half started, and
    # orphaned.
    received: list[int] = []
    previous = {signum: signal.signal(signum, lambda number, frame: received.append(number))
                for signum in STOP_SIGNALS if signum not in ignored}
    _set_stop_blocked(True)
    try:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_pool_worker,
                                   initargs=(stop, ignored, *init))
        futures = [pool.submit(_clean_in_pool, source, target) for source, target in jobs]
    finally:
        _set_stop_blocked(False)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        stop_pool(pool, futures, stop)
        raise KeyboardInterrupt if received[0] == signal.SIGINT else Terminated(received[0])
    return pool, futures, stop


def _set_stop_blocked(blocked: bool) -> None:
    if hasattr(signal, "pthread_sigmask"):  # not on Windows
        signal.pthread_sigmask(signal.SIG_BLOCK if blocked else signal.SIG_UNBLOCK,
                               set(STOP_SIGNALS))


def stop_pool(pool: ProcessPoolExecutor, futures, stop) -> None:
    """After Ctrl-C: start no other file, interrupt the ones being cleaned, wait for them."""
    stop.set()
    for future in futures:
        future.cancel()
    # A terminal's Ctrl-C reached the workers too; a signal sent to this process alone is
    # passed on as SIGTERM, which workers heed even when they inherited SIGINT ignored
    # (the executor keeps its processes in a private dict: no public access).
    # Not on Windows: there os.kill(pid, SIGINT) is TerminateProcess, which would kill a
    # worker mid-write and leave its temporary file; the console's Ctrl-C reaches them.
    processes = [] if sys.platform == "win32" else list(getattr(pool, "_processes", {}).values())
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            os.kill(process.pid, signal.SIGTERM)
    pool.shutdown(wait=True, cancel_futures=True)


def cluster_outcomes(args: argparse.Namespace, client, jobs: list[tuple[Path, Path]], mask,
                      params, save: tuple[str, ...]):
    """(status, messages) of each job, cleaned on the dask cluster of ``client``."""
    from app.core.files.cluster import clean_on_cluster

    def outcomes():
        try:
            for source, _target, status, detail in clean_on_cluster(
                    jobs, mask, client, params=params, detector=args.detector,
                    mask_name=str(args.mask), overwrite=args.overwrite, save=save):
                yield status, (_line_warnings(source, detail) if status == "ok"
                               else [str(detail)])
        finally:
            client.close()

    return outcomes()
