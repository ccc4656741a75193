"""The README's library example really runs and prints what its comments say."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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


def test_setup_commands_are_the_ci_commands() -> None:
    text = README.read_text()
    assert "pip install . && runbook apply examples/hello.yml" in text
    test_command = "scripts/install-test-deps.sh && python -m pytest"
    assert test_command in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "scripts/install-test-deps.sh" in ci
    assert "-m pytest" in ci


def test_lab_examples_are_valid(tmp_path: Path) -> None:
    from runbook.language.validate import validate_paths

    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    labs = [b for b in blocks if "\nhosts:" in "\n" + b and "steps:" not in b]
    assert len(labs) >= 2, "README shows a lab file and a power example"
    for i, text in enumerate(labs):
        lab = tmp_path / f"lab{i}.yml"
        lab.write_text(text)
        assert validate_paths([lab]) == [], text
