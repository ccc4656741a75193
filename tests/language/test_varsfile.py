"""-e parsing shared by validate and apply: KEY=VALUE (YAML scalars) and @file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runbook.errors import ConfigError
from runbook.language.varsfile import parse_extra_vars, parse_value


@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), ("1.5", 1.5), ("true", True), ("on", "on"), ("", ""), ("null", None),
    ("a: b", "a: b"), ("[a, b]", ["a", "b"]), ("{a: 1}", {"a": 1}), ("x # y", "x"),
    ("#comment", "#comment"), ("0644", "0644"), ("0", 0), ("x[1", "x[1"), ('"[1,2"', "[1,2"),
    ("{{ base }}/x", "{{ base }}/x"), ("{% if a %}b{% endif %}", "{% if a %}b{% endif %}"),
])
def test_values_are_yaml_scalars(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_later_items_override_and_files_merge(tmp_path: Path) -> None:
    path = tmp_path / "vars.yml"
    path.write_text("a: 1\nb: two\n")
    assert parse_extra_vars(["a=0", f"@{path}", "b=3"]) == {"a": 1, "b": 3}


def test_value_may_contain_equals() -> None:
    assert parse_extra_vars(["url=http://x/?a=b"]) == {"url": "http://x/?a=b"}


@pytest.mark.parametrize(("item", "message"), [
    ("novalue", "expected KEY=VALUE or @FILE"),
    ("my-var=1", "not a valid variable name"),
    ("@/nonexistent/vars.yml", "no such file"),
    ("@", "give the vars file after @"),
    ("@/", "is a folder, not a file"),
])
def test_bad_items(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_extra_vars([item])


def test_vars_file_that_is_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "vars.yml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="is not a regular file"):
        parse_extra_vars([f"@{fifo}"])


def test_vars_file_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "vars.yml"
    path.write_text("- a\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_extra_vars([f"@{path}"])


@pytest.mark.parametrize("item", ["host=x", "secret=y"])
def test_reserved_names_are_refused(item: str) -> None:
    with pytest.raises(ConfigError, match="reserved name"):
        parse_extra_vars([item])


@pytest.mark.parametrize(("item", "message"), [
    ("a=[1,2", "-e 'a=[1,2': the value starts with '[' but is not a valid YAML/JSON list: "
     "did not find expected ',' or ']'; fix it, or pass the text as it is as -e 'a=\"[1,2\"'"),
    ("a={x: 1", "-e 'a={x: 1': the value starts with '{' but is not a valid YAML/JSON mapping: "
     "did not find expected ',' or '}'"),
    ("a=[unclosed", "not a valid YAML/JSON list"),
    ("a= [1,2] x", "not a valid YAML/JSON list"),
    ("a={k: 1, k: 2}", "not a valid YAML/JSON mapping: duplicate key 'k'"),
])
def test_a_malformed_list_or_mapping_is_an_error_naming_the_argument(item: str,
                                                                      message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_extra_vars([item])
    assert message in str(caught.value)
