"""Control characters made visible: for remote output on the console and for text other
people wrote (a lock's note or holder) that runbook shows on someone's terminal; and the
inverse of `interact`'s key spelling (`unspell_keys`)."""

from __future__ import annotations

# Control characters other than newline and tab (C0, DEL and the C1 range, which some
# terminals also obey: U+009B is a CSI) are shown as `\xNN`. Reports keep output as received.
_VISIBLE = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7f, 0xa0))
            if code not in (0x09, 0x0a)}
_ONE_LINE = {**_VISIBLE, 0x09: "\\t", 0x0a: "\\n"}


def visible_controls(text: str) -> str:
    """`text` with control characters escaped (ESC → `\\x1b`), newline and tab kept; a CRLF
    line end is a plain newline."""
    return text.replace("\r\n", "\n").translate(_VISIBLE)


def one_line(text: str) -> str:
    """`text` as one harmless line: every control character escaped, newline and tab too."""
    return text.translate(_ONE_LINE)


_SPELLED = {"\r": "\\r", "\n": "\\n", "\t": "\\t", "\x1b": "\\e", "\\": "\\\\", "^": "\\^"}


def unspell_keys(text: str) -> str:
    """The spelling of `text` typed as it is: `hosts.expect.spell_keys(unspell_keys(t)) == t` for any t.

    Used for values rendered into a `send` (a secret holding `\\`, `^C` or `\\t` is typed as
    written, never read as key names) and to show sends with their control keys visible.
    """
    out = []
    for char in text:
        spelled = _SPELLED.get(char)
        if spelled is None and ord(char) < 0x20:
            spelled = "^" + chr(ord(char) + 64)
        out.append(char if spelled is None else spelled)
    return "".join(out)
