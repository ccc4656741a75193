"""exit_now: atexit handlers and flushed output as a normal exit, no teardown (own process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A finalizer that only interpreter teardown runs (a module global), an atexit handler, and
# buffered output without a newline: what a normal exit does and what exit_now must keep.
PRELUDE = (
    "import atexit, sys, threading\n"
    "from runbook.cli.fastexit import exit_now\n"
    "class Torn:\n"
    "    def __del__(self):\n"
    "        sys.stderr.write('torn down\\n')\n"
    "torn = Torn()\n"
    "atexit.register(lambda: sys.stdout.write('atexit ran;'))\n"
    "sys.stdout.write('buffered;')\n"
)


def _run(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PRELUDE + body], check=False,
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_exits_with_the_code_after_atexit_and_flush_without_teardown() -> None:
    done = _run("exit_now(3)\nsys.stdout.write('not reached')\n")
    assert done.returncode == 3
    assert done.stdout == "buffered;atexit ran;"
    assert "torn down" not in done.stderr


def test_none_is_success() -> None:
    assert _run("exit_now(None)\nsys.exit(9)\n").returncode == 0


def test_declines_while_a_non_daemon_thread_runs() -> None:
    done = _run("stop = threading.Event()\n"
                "t = threading.Thread(target=stop.wait)\n"
                "t.start()\n"
                "exit_now(3)\n"
                "stop.set()\n"
                "sys.exit(4)\n")
    assert done.returncode == 4
    assert "torn down" in done.stderr


def test_declines_under_a_profiler() -> None:
    done = _run("sys.setprofile(lambda *args: None)\nexit_now(3)\nsys.exit(6)\n")
    assert done.returncode == 6


def test_declines_a_string_code() -> None:
    done = _run("exit_now('bye')\nsys.exit(5)\n")
    assert done.returncode == 5


def test_engine_command_exit_code_and_output_kept(tmp_path: Path) -> None:
    """`runbook plan` through the entry point (the fast exit): output and status as before."""
    book = tmp_path / "book.yml"
    book.write_text("name: t\nsteps:\n  - name: hello\n    hosts: local\n    run: echo hi\n")
    done = subprocess.run([sys.executable, "-m", "runbook", "plan", str(book)],
                          check=False, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "hello" in done.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text("name: t\nsteps:\n  - name: hello\n    hosts: local\n    rnu: echo hi\n")
    done = subprocess.run([sys.executable, "-m", "runbook", "plan", str(bad)],
                          check=False, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert "bad.yml:5" in done.stderr
