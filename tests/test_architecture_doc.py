"""docs/architecture.md shows the package as it is: every subpackage and top-level module."""

from __future__ import annotations

from pathlib import Path

import runbook

PACKAGE = Path(runbook.__file__).parent
DOC = PACKAGE.parent / "docs" / "architecture.md"


def test_the_tree_names_every_subpackage_and_top_level_module() -> None:
    tree = DOC.read_text(encoding="utf-8").split("```")[1]
    names = [f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()]
    names += [p.name for p in PACKAGE.glob("*.py")]
    missing = sorted(n for n in names if n not in tree)
    assert not missing, f"docs/architecture.md does not show {missing}"


def test_the_package_docstring_names_every_subpackage() -> None:
    doc = runbook.__doc__ or ""
    missing = sorted(p.name for p in PACKAGE.iterdir()
                     if (p / "__init__.py").exists() and f"`{p.name}/`" not in doc)
    assert not missing, f"the package docstring does not name {missing}"
