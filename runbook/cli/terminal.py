"""Text for the user's terminal: control characters made visible, widths, shortening.

Small pure helpers of the console (runbook/cli/console.py), apart so they can be tested and
reused (a later transcript view shows remote output the same way).
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from runbook._text import visible_controls

__all__ = ["ellipsis_for", "line_width", "shorten", "visible_controls"]


def line_width(stream: TextIO) -> int | None:
    """The columns a line written to `stream` should fit in.

    A terminal's width (COLUMNS wins, as `shutil.get_terminal_size` reads it); on a pipe the
    COLUMNS variable if set, else None: a CI log has no width, and names are kept whole.
    """
    if getattr(stream, "isatty", lambda: False)():
        return shutil.get_terminal_size((80, 24)).columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


def ellipsis_for(stream: TextIO) -> str:
    """"…" where the stream can encode it (UTF-8), else "..."."""
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
    return "…" if encoding in ("utf8", "utf_8") else "..."


def shorten(text: str, width: int, *, ellipsis: str = "…", middle: bool = False) -> str:
    """`text` cut to at most `width` characters, an ellipsis where it was cut: at the end, or
    in the middle (`middle`) to keep both ends of ids such as `rack3-leaf-switch-07`."""
    if len(text) <= width:
        return text
    if width <= len(ellipsis):
        return text[:width]
    room = width - len(ellipsis)
    if not middle:
        return text[:room] + ellipsis
    head = (room + 1) // 2
    return text[:head] + ellipsis + text[len(text) - (room - head):]
