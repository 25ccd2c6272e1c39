"""The ``actbench`` command line.

Run ``actbench --help`` for the commands and ``actbench COMMAND --help`` for each one. One module per group
of commands: :mod:`~actbench.cli.language` (eval, space, ops), :mod:`~actbench.cli.fetch` (download, list,
pin, publish), :mod:`~actbench.cli.tables` (info, query, best, compare, convert, validate, upgrade) and
:mod:`~actbench.cli.searching` (search, plot); each adds its commands with ``add_commands``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from actbench._version import __version__
from actbench.base.errors import ActBenchError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 130 interrupted with Ctrl-C,
    141 when the reader of the output went away, e.g. ``| head``, as for other Unix tools)."""
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed escaped, never a crash
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader that left shows here, not as a message at exit
        return code
    except KeyboardInterrupt:
        print("\nactbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_to_devnull()
        return 141


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (tests capture it)
        pass


def _main(argv: Sequence[str] | None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ActBenchError as e:
        _error(e)
        return 2
    except BrokenPipeError:
        raise
    except (OSError, KeyError, ValueError) as e:
        _error(e.args[0] if isinstance(e, KeyError) and e.args else e)
        return 2


def _error(message: object) -> None:
    """An error for the terminal: control characters escaped (a name or an argument can neither colour the
    terminal nor start a line that looks like ours), credentials in URLs masked."""
    from actbench.base.text import mask_url, printable

    print(f"actbench: error: {printable(mask_url(str(message)), lines=True)}", file=sys.stderr)


def _build_parser() -> argparse.ArgumentParser:
    from actbench.cli import fetch, language, searching, tables

    p = argparse.ArgumentParser(
        prog="actbench",
        description="Benchmark tables and tools for activation-function search "
        "(Act-Bench, Bingham & Miikkulainen, NeurIPS 2023).",
    )
    p.add_argument("--version", action="version", version=f"actbench {__version__}")
    sub = p.add_subparsers(title="commands", metavar="COMMAND")
    language.add_commands(sub)
    fetch.add_commands(sub)
    tables.add_commands(sub)
    searching.add_commands(sub)
    return p
