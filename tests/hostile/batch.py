"""Run hostile cases through ``nsclean`` and judge every case (used by the tests and by
``figures.py``)."""

from __future__ import annotations

import contextlib
import faulthandler
import io
import time
from pathlib import Path

import numpy as np

from tests.hostile.corpus import (
    SHAPE,
    Case,
    Run,
    data_cases,
    digest,
    exists,
    good_product,
    hidden_leftovers,
    judge,
    mask_cases,
    option_cases,
    run_cli,
    shown,
)

GOOD_MASK_NAME = "good_mask.fits"
#: A run's largest process may use this much (a 32×2048 batch needs ~300 MB).
MEMORY_BOUND = 2 * 2**30


def output_of(path: Path) -> Path:
    from app.core.files.batch import output_path

    return output_path(path)


def good_mask(folder: Path) -> Path:
    from app.core.mask.formats import write_nsclean_fits

    return write_nsclean_fits(folder / GOOD_MASK_NAME, np.ones(SHAPE, bool))


def about(case_path: Path, lines: list[str]) -> list[str]:
    name = shown(case_path)
    return [line for line in lines if name in line]


def batch(folder: Path, code: Path, jobs: int = 1, isolated: bool = False
          ) -> dict[str, list[str]]:
    """Clean every data case among two good files; return the problems of each case
    (and of the batch itself under ``"(batch)"``). ``isolated``: one run per case, each
    with a good file after it (slower; for figures where a hang must not hide the rest)."""
    cases = data_cases(folder / "in")
    mask = good_mask(folder)
    goods = [good_product(folder / "in" / f"good{i}_rate.fits", i) for i in (1, 2)]
    before = {case.id: digest(case.path) for case in cases}
    results: dict[str, list[str]] = {}
    runs = ([(cases, goods)] if not isolated else [([case], goods[1:]) for case in cases])
    for group, good_files in runs:
        for good in good_files:
            output_of(good).unlink(missing_ok=True)
        inputs = [*[str(c.path) for c in group], *map(str, good_files[-1:])]
        if not isolated:  # good files first and last: a bad file harms neither
            inputs = [str(goods[0]), *inputs]
        run = run_cli(["clean", *inputs, "--mask", str(mask), "-j", str(jobs)], code)
        lines = run.stderr.splitlines()
        for case in group:
            output = output_of(case.path) if case.path is not None else None
            problems = judge(case, run, about(case.path, lines), output, before[case.id])
            if not isolated or case is group[0]:
                problems += _batch_problems(run, folder / "in", good_files)
            results[case.id] = sorted(set(problems))
    return results


def _batch_problems(run: Run, folder: Path, goods: list[Path]) -> list[str]:
    problems = []
    if any(not exists(output_of(good)) for good in goods):
        problems.append("good-file casualty")
    if hidden_leftovers(folder):
        problems.append("partial file")
    if "Traceback" in run.stderr:
        problems.append("traceback")
    if run.hung:
        problems.append("hang")
    if run.max_rss > MEMORY_BOUND:
        problems.append("memory")
    return problems


def command_cases(folder: Path, code: Path | None) -> dict[str, list[str]]:
    """Absurd options and damaged masks, each one command on two good files. ``code``
    None runs them in this process (fast; the tests), else as subprocesses."""
    folder.mkdir(parents=True, exist_ok=True)
    mask = good_mask(folder)
    results: dict[str, list[str]] = {}
    cases: list[tuple[Case, list[str]]] = [(c, ["--mask", str(mask), *c.args])
                                           for c in option_cases()]
    cases += [(c, ["--mask", str(c.path)]) for c in mask_cases(folder / "masks")]
    goods = [good_product(folder / f"g{i}_rate.fits", i) for i in (1, 2)]
    for case, options in cases:
        before = digest(case.path) if case.path is not None else None
        run = (_in_process(["clean", *map(str, goods), *options]) if code is None
               else run_cli(["clean", *map(str, goods), *options], code))
        lines = run.stderr.splitlines()
        mentioned = about(case.path, lines) if case.path is not None else lines
        problems = judge(case, run, mentioned, None, before)
        if case.path is not None and len([line for line in lines if "error" in line]) != 1:
            problems.append("unclear")  # one message for the mask, not one per file
        if run.status not in (1, 2):  # 2: refused by the option parser
            problems.append("wrong status")
        written = [p.name for p in folder.rglob("*") if "nsclean" in p.name
                   or p.name.startswith(".") or "esc" in p.name]
        escaped = folder.parent / "esc.fits"  # where --suffix /../../esc would write
        if escaped.exists():
            written.append(escaped.name)
        if written:
            problems.append("partial file")
            for name in written:
                with contextlib.suppress(OSError):
                    (folder / name).unlink()
        results[case.id] = sorted(set(problems))
    return results


def _in_process(args: list[str], timeout: float = 120.0) -> Run:
    from app.cli import main

    err = io.StringIO()
    start = time.monotonic()
    faulthandler.dump_traceback_later(timeout, exit=True)  # a hang ends the test run
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main(args)
            except SystemExit as exc:  # argparse refusals
                status = int(exc.code or 0)
    finally:
        faulthandler.cancel_dump_traceback_later()
    return Run(status, err.getvalue(), time.monotonic() - start, 0, False)
