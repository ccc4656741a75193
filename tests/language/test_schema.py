"""The JSON Schemas: valid Draft 2020-12, fully documented, found in the package or the repo,
and their errors rewritten into located, readable findings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import runbook
from runbook.errors import ConfigError
from runbook.language import schema
from runbook.language.yamlload import load_text

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("name", ["runbook", "lab"])
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema.load_schema(name))


def _properties(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for key, value in node.get("properties", {}).items():
            yield f"{path}.{key}", value
        for key, value in node.items():
            yield from _properties(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{path}[{i}]")


@pytest.mark.parametrize("name", ["runbook", "lab"])
def test_every_property_has_description_and_examples(name: str) -> None:
    props = list(_properties(schema.load_schema(name), name))
    assert len(props) > 15
    undocumented = [p for p, s in props if not s.get("description") or not s.get("examples")]
    assert undocumented == []


def test_examples_in_the_schema_are_valid_for_their_property() -> None:
    for name in ("runbook", "lab"):
        root = schema.load_schema(name)
        for where, prop in _properties(root, name):
            sub = {**prop, "$defs": root.get("$defs", {})}
            validator = jsonschema.Draft202012Validator(sub)
            for example in prop.get("examples", []):
                errors = [e.message for e in validator.iter_errors(example)]
                assert errors == [], (where, example)


def test_a_source_checkout_uses_the_repository_schemas() -> None:
    assert not (REPO_SCHEMAS.parent / "runbook" / "schemas").exists()  # as in this checkout
    assert schema.schemas_dir().resolve() == REPO_SCHEMAS.resolve()
    assert schema.schema_names() == ["lab", "report", "runbook"]


def test_schemas_dir_prefers_the_packaged_folder(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "runbook"
    package.mkdir(parents=True)
    monkeypatch.setattr(runbook, "__file__", str(package / "__init__.py"))
    assert schema.schemas_dir() == tmp_path / "site" / "schemas"  # no packaged copy: fallback
    (package / "schemas").mkdir()
    assert schema.schemas_dir() == tmp_path / "site" / "runbook" / "schemas"


def test_unknown_schema_name_has_a_hint() -> None:
    with pytest.raises(ConfigError, match="did you mean 'runbook'"):
        schema.schema_path("runbok")


def test_loaded_schema_matches_the_file() -> None:
    on_disk = json.loads((REPO_SCHEMAS / "runbook.schema.json").read_text())
    assert schema.load_schema("runbook") == on_disk


def _messages(text: str, name: str = "runbook") -> list[str]:
    return [str(f) for f in schema.check(load_text(text, file="f.yml"), name)]


def test_unknown_key_points_at_the_key_with_did_you_mean() -> None:
    assert _messages("name: x\nsteps:\n  - hosts: a\n    run: b\n    timout: 3\n") == [
        "f.yml:5:5: step 1: unknown key 'timout'; did you mean 'timeout'?"]


def test_unknown_key_without_close_match_lists_choices() -> None:
    [message] = _messages("name: x\nzzz: 1\nsteps:\n  - {hosts: a, run: b}\n")
    assert message.startswith("f.yml:2:1: unknown key 'zzz'; expected one of $schema, batch, description")


def test_step_name_appears_in_messages() -> None:
    assert _messages("name: x\nsteps:\n  - name: up\n    hosts: a\n    run: b\n    retries: -1\n") \
        == ["f.yml:6:14: step 1 ('up'): retries must be >= 0, not -1"]


def test_empty_value_says_so() -> None:
    assert _messages("name: x\nsteps:\n  - hosts: a\n    run:\n") == [
        "f.yml:4:5: step 1: run has no value: give it a string or a list"]


def test_power_mapping_and_shorthand() -> None:
    assert _messages("name: x\nsteps:\n  - {hosts: a, power: {action: cycle, wait_up: 30}}\n"
                     "  - {hosts: a, power: status}\n") == []
    assert _messages("name: x\nsteps:\n  - {hosts: a, power: {action: reboot}}\n") == [
        "f.yml:3:32: step 1: power.action must be one of on, off, cycle, status, not 'reboot'"]


def test_lab_messages_name_the_host() -> None:
    assert _messages("hosts:\n  r1:\n    address: 1.2.3.4\n    port: '22'\n", "lab") == [
        "f.yml:4:11: host 'r1': port must be an integer, not a string '22' (remove the quotes)"]


def test_findings_are_sorted_and_unique() -> None:
    found = _messages("name: 1\nsteps:\n  - {hosts: a, run: b, timeout: x}\n  - {hosts: a}\n")
    assert found == sorted(set(found), key=found.index)
    lines = [int(m.split(":")[1]) for m in found]
    assert lines == sorted(lines)
