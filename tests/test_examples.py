"""Everything in examples/ is valid (runbooks against their own lab, labs on their own)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.validate import validate_files

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FILES = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".yml", ".yaml", ".json")
               and p.is_file())


def test_there_are_examples() -> None:
    assert any(p.name == "lab.yml" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_is_valid(path: Path) -> None:
    report = validate_files([path])
    assert [str(f) for f in report.findings] == []


RUNBOOKS = sorted(p for p in EXAMPLES.glob("*.yml") if p.name != "lab.yml")


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.name)
def test_example_plans_without_any_secret(path: Path) -> None:
    """The commands in the examples' headers work on a fresh checkout: no secret is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNBOOK_SECRET_")}
    env["PYTHONPATH"] = str(EXAMPLES.parent)
    done = subprocess.run([sys.executable, "-m", "runbook", "plan", str(path)], env=env,
                          cwd=EXAMPLES.parent, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "plan is valid" in done.stdout
