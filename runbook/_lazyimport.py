"""`lazy_module`: a module imported on first attribute use, for start-up time; and
`lazy_exports`: a package's names imported from their modules on first use (PEP 562).

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
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any


class _LazyModule:
    """Stands in for a module; imports it on the first attribute access."""

    __slots__ = ("_load", "_module", "_name")

    def __init__(self, name: str, load: Callable[[], ModuleType] | None = None) -> None:
        self._name = name
        self._load = load
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            load = self._load
            module = self._module = load() if load else importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str, load: Callable[[], ModuleType] | None = None) -> Any:
    """A stand-in for module `name` that imports it on first attribute access (by calling
    `load`, when a module needs a particular way in, e.g. `runbook.hosts.sshlib`)."""
    return _LazyModule(name, load)


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's PEP 562 `__getattr__` and `__dir__`: each name of `exports` (name ->
    module) is imported from its module on first use and kept in `namespace`, the package's
    `globals()`, so the next use does not come back here. A package writes

        __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
    """

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *exports])

    return getattr_, dir_
