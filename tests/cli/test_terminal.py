"""`runbook.cli.terminal`: the text helpers behind the console."""

from __future__ import annotations

import io

import pytest

from runbook.cli.terminal import line_width, shorten, visible_controls


def test_visible_controls_escapes_c0_del_and_c1_keeps_newline_and_tab() -> None:
    text = "a\x1b]0;t\x07\x1b[2J\tb\r\nc\rd\x7f\u009be\x00"
    assert visible_controls(text) == "a\\x1b]0;t\\x07\\x1b[2J\tb\nc\\x0dd\\x7f\\x9be\\x00"
    assert visible_controls("plain ünïcode ✓") == "plain ünïcode ✓"


@pytest.mark.parametrize(("text", "width", "middle", "expected"), [
    ("short", 10, False, "short"),
    ("a long step name", 8, False, "a long …"),
    ("rack3-leaf-switch-07", 11, True, "rack3…ch-07"),
    ("abcdef", 1, False, "a"),
])
def test_shorten(text: str, width: int, middle: bool, expected: str) -> None:
    shortened = shorten(text, width, middle=middle)
    assert shortened == expected and len(shortened) <= width


def test_line_width_on_a_pipe_is_columns_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert line_width(io.StringIO()) is None
    monkeypatch.setenv("COLUMNS", "72")
    assert line_width(io.StringIO()) == 72
    monkeypatch.setenv("COLUMNS", "wide")
    assert line_width(io.StringIO()) is None
