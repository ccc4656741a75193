"""Click parameter types shared by the commands."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses `nan` (click's range check lets NaN through, since
    every comparison with NaN is false) and, with no upper bound, `inf`."""

    name = "finite float range"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number


class FolderPath(click.Path):
    """A folder path (as `pathlib.Path`) that refuses the empty string: `--runs-dir ''`
    would otherwise mean the current folder and scatter run folders there."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty folder name; give a folder (or leave the option out)",
                      param, ctx)
        return super().convert(value, param, ctx)
