"""The quick yes/no schema check agrees with jsonschema on every file and every mutation of one.

A disagreement the other way round (quick says valid, jsonschema says invalid) would hide
findings, so each case compares both answers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest

from runbook.errors import UnsupportedSchemaError
from runbook.language.quickschema import QuickValidator
from runbook.language.schema import load_schema
from runbook.language.yamlload import load_file

ROOT = Path(__file__).resolve().parents[2]


def _loadable(path: Path) -> bool:
    """Files whose YAML loads (the others never reach the schema check)."""
    try:
        load_file(path)
    except Exception:
        return False
    return True


FILES = [p for p in sorted([*ROOT.glob("examples/*.yml"), *ROOT.glob("tests/corpus/**/*.yml")])
         if _loadable(p)]
ODD_VALUES: tuple[Any, ...] = (None, 0, -1, 1.5, 1.0, float("nan"), 10**20, "", "x", "{{ ", "1", [], {},
              True, False, ["["], [1], {"a": 1}, {"run": "x"})


def _schema_for(path: Path) -> str:
    return "lab" if "lab" in path.name or path.parent.name == "labs" else "runbook"


def _agree(data: Any, name: str) -> None:
    expected = jsonschema.Draft202012Validator(load_schema(name)).is_valid(data)
    assert QuickValidator(load_schema(name)).is_valid(data) is expected, (name, data)


def _paths(data: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*prefix, i))
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_agrees_with_jsonschema_on_every_file(path: Path) -> None:
    data = load_file(path).data
    for name in ("runbook", "lab"):
        _agree(data, name)


@pytest.mark.parametrize("example", ["lab.yml", "firmware.yml"])
def test_agrees_with_jsonschema_on_mutated_examples(example: str) -> None:
    """Every node of an example replaced by values of every type: the same answer."""
    base = load_file(ROOT / "examples" / example).data
    name = _schema_for(ROOT / "examples" / example)
    for path in _paths(base):
        for value in ODD_VALUES:
            data = copy.deepcopy(base)
            if not path:
                _agree(value, name)
                continue
            node = data
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
            _agree(data, name)
            if isinstance(node, dict):
                node[f"{path[-1]}_x"] = value  # an unknown key next to it
                _agree(data, name)


def test_unknown_keywords_are_not_guessed() -> None:
    with pytest.raises(UnsupportedSchemaError):
        QuickValidator({"uniqueItems": True}).is_valid([1, 1])


def test_valid_files_do_not_import_jsonschema_and_invalid_ones_still_get_its_findings(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\nsteps:\n  - {hosts: local, run: true, timeout: soon}\n")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from runbook.language.validate import validate_paths\n"
        f"assert validate_paths(sorted(Path({str(ROOT / 'examples')!r}).glob('*.yml'))) == []\n"
        "assert 'jsonschema' not in sys.modules\n"
        f"print(*validate_paths([Path({str(bad)!r})]), sep='\\n')\n"
        "assert 'jsonschema' in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert "timeout must be a number, not a string 'soon'" in out.stdout, out.stdout
