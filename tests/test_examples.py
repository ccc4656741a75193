"""Everything in examples/ is valid (runbooks against their own lab, labs on their own)."""

from __future__ import annotations

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
