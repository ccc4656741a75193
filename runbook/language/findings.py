"""`Finding`: one problem at file:line:col, and `ValidationError`, the error carrying a list of them.

A leaf module: the readers (schema, runbookfile, labfile, checks) and the validate orchestrator
all import it, and it imports none of them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from runbook._dataclass import frozen
from runbook.errors import ConfigError


@frozen
class Finding:
    """One problem in one file, at 1-based line and column."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`runbook validate --format json`)."""
        return asdict(self)


def finding_from_error(error: ConfigError) -> Finding:
    """A ConfigError (syntax error, duplicate key, ...) as a Finding."""
    return Finding(error.file or "<input>", error.line or 1, error.column or 1, error.message)
