"""How runbook imports asyncssh (runbook.hosts.sshlib): on first use, and without the
compiler and linker runs that asyncssh's own import makes when liboqs is not installed.

Each case imports in a fresh Python whose PATH starts with a folder of stand-in `gcc`, `cc`
and `ld` programs that only note that they ran, so the test sees exactly which probes the
import made (the real linker's cache, `/sbin/ldconfig`, is still asked).
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def probes(tmp_path: Path) -> Path:
    """A folder of stand-in compiler and linker programs; each appends its name to `ran`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("gcc", "cc", "ld"):
        program = folder / name
        program.write_text(f"#!/bin/sh\necho {name} >> {tmp_path / 'ran'}\nexit 1\n")
        program.chmod(0o755)
    if getattr(ctypes.util, "_findSoname_ldconfig", lambda _: None)("oqs"):
        pytest.skip("liboqs is installed here: asyncssh's import finds it without probes")
    return folder


def _import(code: str, probes: Path, **env: str) -> list[str]:
    """Run `code` in a fresh Python with the stand-ins first on PATH; the probes that ran."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), "PATH": f"{probes}:{os.environ['PATH']}",
             **env})
    assert result.returncode == 0, result.stderr
    ran = probes.parent / "ran"
    return ran.read_text().split() if ran.exists() else []


def test_a_plain_import_of_asyncssh_runs_the_compiler_and_linker(probes: Path) -> None:
    # What runbook's way saves: gcc then ld, for each of the two names of liboqs.
    assert _import("import asyncssh", probes) == ["gcc", "ld", "gcc", "ld"]


def test_runbook_imports_asyncssh_on_first_use_without_probes(probes: Path) -> None:
    code = ("import sys, ctypes.util\n"
            "from runbook.hosts import ssh\n"
            "from runbook.hosts.sshlib import asyncssh\n"
            "assert 'asyncssh' not in sys.modules\n"
            "find = ctypes.util.find_library\n"
            "assert asyncssh.Error.__module__.startswith('asyncssh')\n"
            "assert 'asyncssh' in sys.modules and ctypes.util.find_library is find\n")
    assert _import(code, probes) == []


def test_with_ld_library_path_set_asyncssh_looks_everywhere(probes: Path, tmp_path: Path
                                                            ) -> None:
    # A liboqs in a folder named only by LD_LIBRARY_PATH is found only by the full search.
    code = "from runbook.hosts.sshlib import import_asyncssh\nimport_asyncssh()\n"
    assert _import(code, probes, LD_LIBRARY_PATH=str(tmp_path)) == ["gcc", "ld", "gcc", "ld"]


def test_threads_that_need_asyncssh_at_once_all_get_the_whole_module(probes: Path) -> None:
    # `runbook worker --concurrency N` runs runs side by side in one process: none may see a
    # partly initialised asyncssh, and find_library must come back as it was.
    code = ("import ctypes.util, threading\n"
            "from runbook.hosts.sshlib import asyncssh\n"
            "find = ctypes.util.find_library\n"
            "start, seen = threading.Barrier(4), []\n"
            "def use():\n"
            "    start.wait()\n"
            "    seen.append(asyncssh.KeyImportError.__name__)\n"
            "threads = [threading.Thread(target=use) for _ in range(4)]\n"
            "for t in threads: t.start()\n"
            "for t in threads: t.join()\n"
            "assert seen == ['KeyImportError'] * 4, seen\n"
            "assert ctypes.util.find_library is find\n")
    assert _import(code, probes) == []
