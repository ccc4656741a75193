"""`lazy_module`: a module imported on first attribute use, for start-up time.

`runbook validate` and `runbook hosts` build lab hosts but never run them; importing asyncio
for that alone costs tens of milliseconds. Modules on that path write

    if TYPE_CHECKING:
        import asyncio
    else:
        asyncio = lazy_module("asyncio")

and keep full typing, while the import happens when the first coroutine needs it. Unlike
`importlib.util.LazyLoader` this touches nothing in `sys.modules`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    """Stands in for a module; imports it on the first attribute access."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> Any:
    """A stand-in for module `name` that imports it on first attribute access."""
    return _LazyModule(name)
