"""Everything in examples/ is valid (runbooks against their own lab, labs on their own)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.language.labfile import load_lab
from runbook.language.runbookfile import load_runbook
from runbook.language.validate import validate_files
from runbook.plan.compiler import compile_plan
from runbook.render.secrets import SecretStore
from runbook.render.templating import Templater

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


def test_firmware_check_accepts_the_real_image_and_refuses_a_corrupt_one(tmp_path: Path) -> None:
    """The checksum step compares against the image's real sha256, not just its format."""
    book = load_runbook(EXAMPLES / "firmware.yml")
    image = EXAMPLES / "files" / book.vars["image"]
    assert book.vars["fw_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    verify = next(s for s in book.steps if s.name == "verify the image checksum")
    plan = compile_plan(book, load_lab(EXAMPLES / "lab.yml", secrets=SecretStore(environ={})),
                        Templater(), extra_vars={"staging": str(tmp_path)})
    action = plan.steps[verify.index].rendered["router1"]
    assert action.expect_output is not None
    (tmp_path / image.name).write_bytes(image.read_bytes())
    good = subprocess.run(["sha256sum", image.name], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout
    (tmp_path / image.name).write_bytes(image.read_bytes()[:-1] + b"X")
    corrupt = subprocess.run(["sha256sum", image.name], cwd=tmp_path, capture_output=True,
                             text=True, check=True).stdout
    assert re.search(action.expect_output, good, re.MULTILINE)
    assert not re.search(action.expect_output, corrupt, re.MULTILINE)
