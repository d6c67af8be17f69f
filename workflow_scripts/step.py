"""How every job runs: all its output (Python's and C libraries', e.g. TensorFlow's) goes to the rule's
log, and its one-line error, or a line that it crashed, goes to the terminal as well, where the user sees
it beside Snakemake's "Error in rule X" instead of having to open `logs/`.

Each module ends with `run(main)`; a rule passes `--log {log}` (without it, output stays on the terminal).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import TextIO

_terminal: TextIO | None = None


def say(message: str) -> None:
    """A line the user should see while the job runs (a retry, a wait), on the terminal and in the log."""
    print(message, file=sys.stderr, flush=True)
    if _terminal is not None:
        print(message, file=_terminal, flush=True)


def split_log_arg(argv: list[str]) -> tuple[list[str], str | None]:
    """(argv without `--log PATH`, PATH or None)."""
    rest, log = [], None
    it = iter(argv)
    for arg in it:
        if arg == "--log":
            log = next(it, None)
        elif arg.startswith("--log="):
            log = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest, log


def run(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run `main` with its output in the log named by `--log`; errors reach the terminal too."""
    global _terminal
    args, log = split_log_arg(sys.argv[1:] if argv is None else argv)
    if log is None:
        main(args)
        return
    os.makedirs(os.path.dirname(log) or ".", exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    _terminal = os.fdopen(os.dup(2), "w", buffering=1)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    try:
        main(args)
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            # (Python itself writes a string exit code to stderr, which is the log)
            message = exit_.code if isinstance(exit_.code, str) else f"exited with status {exit_.code}"
            print(f"{message}\n  (full log: {log})", file=_terminal, flush=True)
        raise
    except BaseException as err:
        traceback.print_exc()
        sys.stderr.flush()
        print(f"ERROR: {type(err).__name__}: {err}\n  (traceback in {log})", file=_terminal, flush=True)
        raise SystemExit(1) from None
