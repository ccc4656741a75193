"""The position-keeping YAML/JSON loader: positions, duplicate keys, YAML 1.2 booleans, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runbook.errors import ConfigError, YamlSyntaxError
from runbook.language.yamlload import load_data, load_file, load_text, not_a_regular_file

TEXT = """\
name: demo
steps:
  - hosts: local
    run: [a, b]
  - hosts: router
    power: on
mode: 0644
"""


def test_every_node_and_key_has_a_position() -> None:
    doc = load_text(TEXT, file="rb.yml")
    assert str(doc.location(("steps", 1, "power"))) == "rb.yml:6:12"
    assert str(doc.location(("steps", 1, "power"), key=True)) == "rb.yml:6:5"
    assert str(doc.location(("steps", 0, "run", 1))) == "rb.yml:4:14"
    assert str(doc.location(("steps", 0))) == "rb.yml:3:5"


def test_unknown_path_falls_back_to_nearest_ancestor() -> None:
    doc = load_text(TEXT, file="rb.yml")
    assert str(doc.location(("steps", 0, "missing", "deeper"))) == "rb.yml:3:5"
    assert str(doc.location(("nothing",))) == "rb.yml:1:1"


def test_only_true_and_false_are_booleans() -> None:
    data = load_text("a: on\nb: yes\nc: true\nd: False\ne: off\n").data
    assert data == {"a": "on", "b": "yes", "c": True, "d": False, "e": "off"}


def test_yaml11_octal_ints_and_raw_text() -> None:
    doc = load_text(TEXT)
    assert doc.data["mode"] == 0o644
    assert doc.raw(("mode",)) == "0644"


def test_duplicate_keys_are_problems_with_position() -> None:
    doc = load_text("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", file="d.yml")
    messages = [str(p) for p in doc.problems]
    assert messages == [
        "d.yml:4:3: duplicate key 'c' (first defined on line 3); YAML would silently keep "
        "only the last one: remove or rename one",
        "d.yml:5:1: duplicate key 'a' (first defined on line 1); YAML would silently keep "
        "only the last one: remove or rename one",
    ]
    assert all(isinstance(p, ConfigError) for p in doc.problems)


def test_merge_keys_are_not_duplicates_and_own_keys_win() -> None:
    doc = load_text("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n")
    assert doc.problems == []
    assert doc.data["m"] == {"x": 1, "y": 3}


def test_non_string_keys_are_kept_as_text() -> None:
    assert load_text("1: a\ntrue: b\n").data == {"1": "a", "true": "b"}


def test_complex_key_is_a_problem() -> None:
    doc = load_text("? [a, b]\n: 1\n", file="k.yml")
    assert [str(p) for p in doc.problems] == [
        "k.yml:1:3: mapping keys must be plain strings, not lists or mappings"]


def test_syntax_error_has_position_and_context() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_text("a: [1, 2\nb: 3\n", file="s.yml")
    assert info.value.file == "s.yml"
    assert info.value.line == 2
    assert "started on line 1" in info.value.message


def test_tab_indentation_gets_a_hint() -> None:
    with pytest.raises(YamlSyntaxError, match="use spaces") as info:
        load_text("a:\n\tb: 1\n", file="t.yml")
    assert (info.value.line, info.value.column) == (2, 1)


def test_multiple_documents_are_an_error() -> None:
    with pytest.raises(YamlSyntaxError, match="single document"):
        load_text("a: 1\n---\nb: 2\n")


def test_recursive_alias_is_an_error() -> None:
    with pytest.raises(YamlSyntaxError, match="recursive alias"):
        load_text("a: &x [*x]\n")


def test_alias_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import runbook.language.yamlload as yl

    monkeypatch.setattr(yl, "MAX_NODES", 1000)
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdef"):
        prev = "abcdef"[i]
        lines.append(f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    with pytest.raises(YamlSyntaxError, match="alias bomb"):
        load_text("\n".join(lines) + "\n")


def test_empty_document_is_none() -> None:
    assert load_text("# only a comment\n").data is None


def test_json_file_with_tabs_and_positions(tmp_path: Path) -> None:
    path = tmp_path / "lab.json"
    path.write_text('{\n\t"hosts": {\n\t\t"r1": {"address": "10.0.0.1"}\n\t}\n}\n')
    doc = load_file(path, file="lab.json")
    assert doc.data == {"hosts": {"r1": {"address": "10.0.0.1"}}}
    assert str(doc.location(("hosts", "r1", "address"))) == "lab.json:3:21"


def test_json_syntax_error_uses_json_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"a": 1,\n}\n')
    with pytest.raises(YamlSyntaxError, match="JSON syntax error") as info:
        load_file(path, file="bad.json")
    assert info.value.line == 2


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(YamlSyntaxError, match="no such file"):
        load_file(tmp_path / "missing.yml")
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"name: x\nsteps: \xff\xfe\n")
    with pytest.raises(YamlSyntaxError, match=r"not UTF-8 text: byte 0xff .*save the file as "
                       "UTF-8") as info:
        load_file(binary)
    assert (info.value.line, info.value.column) == (2, 8)


def test_fifo_folder_and_link_loop_are_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO would block open() forever; folders and link loops get a plain reason."""
    fifo = tmp_path / "lab.yml"
    os.mkfifo(fifo)
    with pytest.raises(YamlSyntaxError, match="not a regular file"):
        load_file(fifo)
    with pytest.raises(YamlSyntaxError, match="is a folder, not a file"):
        load_file(tmp_path)
    loop = tmp_path / "loop.yml"
    loop.symlink_to(tmp_path / "loop.yml")
    with pytest.raises(YamlSyntaxError, match="symbolic link loop"):
        load_file(loop)
    with pytest.raises(YamlSyntaxError, match="contains a NUL character"):
        load_file(tmp_path / "a\x00.yml")
    dangling = tmp_path / "dangling.yml"
    dangling.symlink_to(tmp_path / "nowhere.yml")
    with pytest.raises(YamlSyntaxError, match="broken symbolic link"):
        load_file(dangling)


def test_control_character_is_located_on_one_line() -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_text("name: x\nsteps: [a\x00]\n", file="nul.yml")
    error = info.value
    assert (error.line, error.column) == (2, 10)
    assert "\n" not in str(error)
    assert "0x0000 is not allowed" in str(error)


def test_yaml_in_a_json_file_says_to_rename_it(tmp_path: Path) -> None:
    path = tmp_path / "lab.json"
    path.write_text("hosts:\n  a: {}\n")
    with pytest.raises(YamlSyntaxError, match=r"looks like YAML: rename the file to \.yml"):
        load_file(path)


def test_load_data_raises_first_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "v.yml"
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        load_data(path)


@pytest.mark.parametrize(("text", "hint"), [
    ("run: echo a: b\n", "a ': ' inside a plain value starts a mapping: quote the whole value"),
    ("run: @echo\n", "a plain value cannot start with '@': quote the whole value"),
    ("a:\n  b: 1\n c: 2\n", "check this line's indentation against the lines above"),
    ("a: *nothing\n", "define the anchor (&name) before using the alias (*name)"),
    ("a: !!python/object:os.system x\n", "remove the !tag"),
    ("a: 1\n---\nb: 2\n", "a file holds one runbook or lab"),
    ("run: {{ cmd }} --now\n", 'quote the whole value, like run: "{{ cmd }} --now"'),
])
def test_syntax_errors_say_what_to_do(text: str, hint: str) -> None:
    with pytest.raises(YamlSyntaxError) as info:
        load_text(text, file="s.yml")
    assert hint in str(info.value)


def test_unquoted_template_value_is_one_problem_and_keeps_its_text() -> None:
    doc = load_text("name: x\nrun: {{ cmd }}\n", file="s.yml")
    assert doc.data == {"name": "x", "run": "{{ cmd }}"}
    assert [str(p) for p in doc.problems] == [
        's.yml:2:6: YAML reads a value starting with {{ as a mapping: quote the whole value, '
        'like run: "{{ cmd }} --now"']


def test_str_paths_work_like_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.yml").write_text("x: 1\n")
    monkeypatch.chdir(tmp_path)
    assert load_file("a.yml").data == {"x": 1}
    assert not_a_regular_file("a.yml") is None
    assert not_a_regular_file("nope.yml") == "no such file: check the path"
