"""Clean many files on a ``dask.distributed`` cluster (an optional dependency).

Each file is one task: the worker reads, cleans and writes it exactly as
:func:`app.core.files.batch.clean_file` does locally (atomic output, every HDU kept), so
the files must be reachable from the workers under the same paths (a shared file system).
The mask is sent to every worker once. A file that cannot be cleaned is one ``"error"``
outcome with its message; the others go on.

>>> for source, target, status, detail in clean_on_cluster(jobs, mask, "tcp://host:8786"):
...     print(source, status)                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from app.core.clean import CleanParams
from app.core.errors import InputError, NSCleanError


def clean_job(source: Path, target: Path, mask: np.ndarray, params: CleanParams,
              detector: str | None, mask_name: str, overwrite: bool,
              save: tuple[str, ...]) -> tuple[str, object]:
    """Clean one file where it runs; ("ok", per-integration diagnostics) or ("error", text).

    Never raises for a bad file: its message is returned, so one file cannot stop others.
    """
    from app.core.files.batch import clean_file
    from app.core.perf import tune_allocator

    tune_allocator()
    try:
        result = clean_file(source, mask, target, params=params, detector=detector,
                            mask_name=mask_name, overwrite=overwrite, save=save)
    except NSCleanError as exc:
        return "error", str(exc)
    except Exception as exc:  # a bug must not stop the other files
        return "error", f"{source}: internal error ({type(exc).__name__}: {exc})"
    return "ok", result.diagnostics


def connect(address: str, timeout: float = 10.0):
    """A ``distributed.Client`` for the scheduler at ``address``.

    Raises
    ------
    InputError
        If dask.distributed is not installed or the scheduler cannot be reached.
    """
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--scheduler needs dask.distributed "
                         "(pip install 'dask[distributed]')") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the dask scheduler at {address} "
                         f"({type(exc).__name__}: {exc})") from None


def clean_on_cluster(jobs: list[tuple[Path, Path]], mask: np.ndarray, scheduler,
                     *, params: CleanParams | None = None, detector: str | None = None,
                     mask_name: str = "(in memory)", overwrite: bool = False,
                     save: tuple[str, ...] = ()
                     ) -> Iterator[tuple[Path, Path, str, object]]:
    """Clean ``(source, target)`` pairs on a cluster; yield their outcomes in job order.

    Parameters
    ----------
    jobs : list of (Path, Path)
        Input and output of each file.
    mask : ndarray of bool
        The background mask (2-D, or one plane per integration).
    scheduler : str or distributed.Client
        The scheduler's address (``tcp://host:8786``), or a connected client.
    params, detector, mask_name, overwrite, save
        As for :func:`app.core.files.batch.clean_file`.

    Yields
    ------
    tuple
        ``(source, target, status, detail)``: ``"ok"`` with the diagnostics, or
        ``"error"`` with the message. Closing the generator early cancels what is left.
    """
    params = params or CleanParams()
    owned = isinstance(scheduler, str)
    client = connect(scheduler) if owned else scheduler
    futures = []
    try:
        [shared_mask] = client.scatter([np.asarray(mask)], broadcast=True)
        futures = [client.submit(clean_job, source, target, shared_mask, params, detector,
                                 mask_name, overwrite, tuple(save), pure=False)
                   for source, target in jobs]
        for (source, target), future in zip(jobs, futures, strict=True):
            status, detail = future.result()
            yield source, target, status, detail
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:  # interrupted: start no other file
            client.cancel(pending)
        if owned:
            client.close()
