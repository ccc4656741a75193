"""What console hosts stream to a transcript (`console_tap`) and what their noise filter keeps
(`console_shell.strip_noise`): pure text in, text out, piece by piece as a line delivers it."""

from __future__ import annotations

import re

import pytest

from runbook.hosts.console_shell import DEFAULT_NOISE_PATTERNS, strip_noise
from runbook.hosts.console_tap import MarkerTap, PromptTap

MARKER = "__runbook_0123456789abcdef__"
NOISE = [re.compile(p) for p in DEFAULT_NOISE_PATTERNS]


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 2, 7, 1000])
def test_marker_tap_passes_the_output_and_stops_at_the_end_marker(size: int) -> None:
    received = f"line one\n__runbook_ look-alike\nno newline{MARKER}:0:\nafter the end\n"
    got: list[bytes] = []
    tap = MarkerTap(got.append, MARKER)
    for piece in _pieces(received, size):
        tap.feed(piece)
    assert b"".join(got) == b"line one\n__runbook_ look-alike\nno newline"
    tap.close()
    assert b"".join(got) == b"line one\n__runbook_ look-alike\nno newline"


def test_marker_tap_streams_before_the_end_and_holds_back_only_a_possible_marker() -> None:
    got: list[bytes] = []
    tap = MarkerTap(got.append, MARKER)
    tap.feed("seen so far\n__run")
    assert got == [b"seen so far\n"]  # at once, the command is still running
    tap.feed("ning late\n")
    assert b"".join(got) == b"seen so far\n__running late\n"
    tap.feed("cut short __runbook_01")
    tap.close()  # a timeout or a closed line: what was held back is output after all
    assert b"".join(got).endswith(b"cut short __runbook_01")


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_prompt_tap_drops_the_echo_and_the_prompt(size: int) -> None:
    received = "show version\nFRRouting 10\n% note\nrouter1# "
    got: list[bytes] = []
    tap = PromptTap(got.append, "show version")
    for piece in _pieces(received, size):
        tap.feed(piece)
    assert b"".join(got) == b"FRRouting 10\n% note\n"  # complete lines, as they arrive
    tap.close(len("router1# "))
    assert b"".join(got) == b"FRRouting 10\n% note\n"


def test_prompt_tap_keeps_a_first_line_that_is_not_the_echo_and_text_before_the_prompt() -> None:
    got: list[bytes] = []
    tap = PromptTap(got.append, "show clock")
    tap.feed("%SYS-5-CONFIG: configured\nshow clock\n12:00 no newline router1#")
    tap.close(len("router1#"))
    assert b"".join(got) == b"%SYS-5-CONFIG: configured\nshow clock\n12:00 no newline "


@pytest.mark.parametrize(("received", "kept"), [
    # a message on a line of its own goes with its line
    ("one\n[  123.456789] usb 1-1: new device\ntwo\n", "one\ntwo\n"),
    ("<6>[    0.000000] Booting Linux\nok\n", "ok\n"),
    # glued into a line of output (the kernel writes where the cursor is): the halves rejoin
    ("hel[  123.456789] usb 1-1: new device\nlo world\n", "hello world\n"),
    ("hello world[  123.456789] eth0: link up\n\nnext\n", "hello world\nnext\n"),
    ("a[    1.000000] x\n[    1.000001] y\nb\n", "ab\n"),
    # after a line break of its own: the break stays (it cannot be told from a line's end)
    ("hel\n[  123.456789] usb 1-1: new device\nlo world\n", "hel\nlo world\n"),
    # what is not the kernel's format stays
    ("[1.5] not a kernel stamp\n[  12.34567] five digits\nx[ 1.000000]y\n",
     "[1.5] not a kernel stamp\n[  12.34567] five digits\nx[ 1.000000]y\n"),
])
def test_strip_noise_removes_messages_not_the_output_around_them(received: str, kept: str) -> None:
    assert strip_noise(received, NOISE) == kept
