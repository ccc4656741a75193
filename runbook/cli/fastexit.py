"""Ending `runbook apply` without tearing the interpreter down.

When a process exits normally, CPython frees every module and object one by one. After an
apply that is ~500 modules (asyncssh, cryptography, jinja2, click, the engine) and the run's
objects: 20-60 ms of CPU per run (more on a loaded machine), the largest part of runbook's
fixed cost over a plain asyncssh script, spent returning memory the kernel takes back
anyway. `exit_now` does what a normal exit does that anyone can observe (the `atexit`
handlers, flushing stdout and stderr), then ends the process with `os._exit`.

It declines, leaving the normal exit to happen, when the exit code is not a number (Python
prints a string code), when a non-daemon thread is still running (a normal exit waits for
it), or under a profiler or tracer (`python -m cProfile -m runbook`, pyinstrument: they write
their results after the program returns). Only the console-script entry point calls it, and
only for the engine commands (`runbook.cli.entry.ENGINE_COMMANDS`), so code that calls the
CLI in-process (click's test runner) is unaffected.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

#: The exit status CPython uses when flushing stdout fails at exit (e.g. a closed pipe).
FLUSH_FAILED = 120


def _other_threads_running() -> bool:
    main = threading.main_thread()
    return any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate())


def _observed() -> bool:
    return sys.getprofile() is not None or sys.gettrace() is not None


def exit_now(code: object) -> None:
    """Run the atexit handlers, flush, and end the process with `code` (a SystemExit code);
    returns without doing anything when a normal exit must happen instead."""
    if code is None:
        code = 0
    if not isinstance(code, int) or _other_threads_running() or _observed():
        return
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        code = FLUSH_FAILED
    os._exit(code)
