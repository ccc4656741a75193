"""The README's library example really runs and prints what its comments say."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_library_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has a python example"
    code = blocks[0]
    expected = [line.split("# ", 1)[1] for line in code.splitlines() if "print(" in line]
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         timeout=60, cwd=README.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == expected


def setup_commands() -> list[str]:
    """The README's set-up commands: the shell blocks of its Set-up section."""
    section = README.read_text().split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S)]


def test_setup_has_two_one_line_commands_that_start_in_a_virtualenv() -> None:
    commands = setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    run, test = commands
    assert run.endswith("runbook apply examples/hello.yml")
    assert test.endswith("python -m pytest")
    for command in commands:  # PEP 668: no pip before a virtualenv is active
        assert command.startswith(". scripts/venv.sh && "), command


def test_ci_runs_the_readme_test_command() -> None:
    """Each part of the README's test command is a command line of .ci/run, in order (CI
    may add arguments, and ruff and mypy between them)."""
    parts = [part.strip() for part in setup_commands()[1].split("&&")]
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    lines = [line.strip() for line in ci if line.strip() and not line.lstrip().startswith("#")]
    found = [next((i for i, line in enumerate(lines) if line == part
                   or line.startswith(part + " ")), None) for part in parts]
    assert None not in found, f"{parts} not all in .ci/run: {lines}"
    assert found == sorted(found), f"{parts} out of order in .ci/run: {lines}"


def _externally_managed(python: Path) -> bool:
    check = ("import os, sys, sysconfig; print(os.path.exists(os.path.join("
             "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')) and sys.prefix == sys.base_prefix)")
    done = subprocess.run([str(python), "-c", check], check=False, capture_output=True,
                          text=True, timeout=60)
    return done.stdout.strip() == "True"


@pytest.mark.timeout(900)
def test_first_setup_command_works_as_written(tmp_path: Path) -> None:
    """The README's first command, verbatim, in a copy of the checkout, with a fresh Debian's
    PATH: the system's externally managed python3 (when there is one), no virtualenv active."""
    system = Path("/usr/bin/python3")
    if not (system.exists() and _externally_managed(system)):
        if os.environ.get("CI"):
            pytest.fail("CI runs on Debian 12: /usr/bin/python3 should be externally managed")
        pytest.skip("no externally managed /usr/bin/python3 here (not Debian 12 or later)")
    checkout = tmp_path / "runbook"
    shutil.copytree(README.parent, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*_cache", "__pycache__", "*.egg-info", "build", "dist"))
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHON")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env["HOME"] = os.environ.get("HOME", str(tmp_path))  # pip's cache
    done = subprocess.run(["sh", "-c", setup_commands()[0]], cwd=checkout, env=env,
                          check=False, capture_output=True, text=True, timeout=850)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "success in" in done.stdout
    assert (checkout / ".venv" / "bin" / "runbook").exists()


def test_lab_examples_are_valid(tmp_path: Path) -> None:
    from runbook.language.validate import validate_paths

    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    labs = [b for b in blocks if "\nhosts:" in "\n" + b and "steps:" not in b]
    assert len(labs) >= 2, "README shows a lab file and a power example"
    for i, text in enumerate(labs):
        lab = tmp_path / f"lab{i}.yml"
        lab.write_text(text)
        assert validate_paths([lab]) == [], text
