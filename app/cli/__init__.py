"""The ``nsclean`` command line: one entry point, one module per subcommand.

Each subcommand module defines ``add_parser(subparsers)`` (which registers its
parser and sets ``func``) and a ``run(args) -> int``. Errors meant for the user are
raised as :class:`app.core.errors.NSCleanError` and printed as one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from app.core.errors import NSCleanError
from app.core.version import __version__

# Subcommand modules, in the order ``nsclean --help`` lists them.
SUBCOMMANDS = ("clean", "simulate", "mask", "tune")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``nsclean`` argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="nsclean",
        description="Remove correlated read noise (NSClean) from JWST NIRSpec rate images.",
    )
    parser.add_argument("--version", action="version", version=f"nsclean {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"app.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"app.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.add_parser(subparsers)
    return parser


def _silence_stdout() -> None:
    # Python flushes stdout again at exit, which would raise once more into the closed pipe.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``nsclean``; return the process exit status."""
    from app.core.perf import tune_allocator

    tune_allocator()  # large-frame allocations without page-fault storms (app/core/perf.py)
    from app.cli.signals import Terminated, terminate_on_signals

    try:
        with terminate_on_signals():
            parser = build_parser()  # imports the engine: a Ctrl-C can come here too
            args = parser.parse_args(argv)
            if not getattr(args, "func", None):
                parser.print_help()
                return 2
            return int(args.func(args) or 0)
    except Terminated as exc:  # SIGTERM, SIGHUP: the temporary output is removed already
        print(f"nsclean: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except NSCleanError as exc:
        from app.cli.progress import one_line

        print(f"nsclean: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nsclean: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nsclean ... | head` closed stdout: not an error to report
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the pipe
    except Exception as exc:  # a bug: one line, not a traceback (NSCLEAN_DEBUG=1 shows it)
        if os.environ.get("NSCLEAN_DEBUG"):
            raise
        from app.cli.progress import one_line

        print(one_line(f"nsclean: error: internal error ({type(exc).__name__}: {exc}); "
                       "set NSCLEAN_DEBUG=1 for the traceback"), file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
