"""The register of power controller types and `power_control_from_spec`.

Built-in types (`command`, `ipmi`, `redfish`) are imported only when first used, and so are
third-party controllers published under the entry-point group `runbook.power_controllers`
(entry point name = type name, value = `module:Class`), so `pip install` of a plugin is all a
user does. The type dict lives on a `PowerControllerRegistry` instance, so tests can make a
fresh one; the module-level functions use the process-wide `default_registry`.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from typing import TYPE_CHECKING, Any

from runbook._settings import hint_text, is_sensitive, matches_hint
from runbook._suggest import did_you_mean
from runbook.errors import PowerSpecError
from runbook.power.base import PowerController

if TYPE_CHECKING:
    from importlib import metadata

ENTRY_POINT_GROUP = "runbook.power_controllers"

BUILTIN_CONTROLLERS: dict[str, str] = {
    "command": "runbook.power.command:CommandPowerController",
    "ipmi": "runbook.power.ipmi:IpmiPowerController",
    "redfish": "runbook.power.redfish:RedfishPowerController",
}


class PowerControllerRegistry:
    """Power controller classes by type name.

    Precedence: explicit `register()` calls, then built-ins, then entry points. Entry points
    are listed on the first lookup of a name that is not otherwise known and imported only
    when their own name is looked up, so one broken plugin does not break the others.
    """

    def __init__(self, *, group: str = ENTRY_POINT_GROUP,
                 builtins: dict[str, str] | None = None) -> None:
        self.group = group
        self._classes: dict[str, type[PowerController]] = {}
        self._builtins: dict[str, str] = dict(BUILTIN_CONTROLLERS if builtins is None else builtins)
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def register(self, type_name: str, cls: type[PowerController], *,
                 overwrite: bool = False) -> None:
        """Register `cls` as `type_name`; refuses a taken name or a mismatched `cls.type_name`."""
        if not (isinstance(cls, type) and issubclass(cls, PowerController)):
            raise TypeError(f"{cls!r} is not a PowerController subclass")
        if inspect.isabstract(cls):
            raise TypeError(f"{cls.__qualname__} does not implement "
                            f"{', '.join(sorted(cls.__abstractmethods__))}")
        declared = getattr(cls, "type_name", None)
        if declared != type_name and not overwrite:
            raise ValueError(f"cannot register {cls.__qualname__} as {type_name!r}: its "
                             f"type_name is {declared!r} (pass overwrite=True to force)")
        taken = type_name in self._classes or type_name in self._builtins
        if taken and not overwrite:
            raise ValueError(f"power controller type {type_name!r} is already registered "
                             f"(pass overwrite=True to replace it)")
        self._classes[type_name] = cls
        self._builtins.pop(type_name, None)

    def names(self) -> list[str]:
        """Every known type name (registered, built-in, installed plugins), sorted."""
        return sorted({*self._classes, *self._builtins, *self._plugin_entry_points()})

    def get(self, type_name: str) -> type[PowerController]:
        """The class registered as `type_name`; PowerSpecError (key 'type') when unknown."""
        cls = self._classes.get(type_name)
        if cls is not None:
            return cls
        target = self._builtins.get(type_name)
        if target is not None:
            cls = _load_class(target, type_name, f"built-in power controller {type_name!r}")
        else:
            entry_point = self._plugin_entry_points().get(type_name)
            if entry_point is None:
                raise PowerSpecError(self._unknown_message(type_name), key="type")
            dist = entry_point.dist.name if entry_point.dist is not None else "unknown"
            cls = _load_class(entry_point.value, type_name,
                              f"power controller plugin {type_name!r} "
                              f"({entry_point.value}, distribution {dist!r})")
        self._classes[type_name] = cls
        return cls

    def reload_plugins(self) -> None:
        """Forget the listed entry points so the next lookup scans the environment again."""
        self._entry_points = None

    def _plugin_entry_points(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            # importlib.metadata costs ~15 ms to import: only paid when a plugin is looked up.
            from importlib import metadata

            found: dict[str, metadata.EntryPoint] = {}
            for entry_point in metadata.entry_points(group=self.group):
                found.setdefault(entry_point.name, entry_point)
            self._entry_points = found
        return self._entry_points

    def _unknown_message(self, type_name: str) -> str:
        names = self.names()
        suggestion = did_you_mean(type_name, names)
        hint = f"; {suggestion}" if suggestion else ""
        return (f"unknown power controller type {type_name!r}{hint} (known types: "
                f"{', '.join(names)}; third-party types come from packages declaring the "
                f"entry-point group {self.group!r})")


def _load_class(target: str, type_name: str, what: str) -> type[PowerController]:
    """Import `module:Class` and check it is a PowerController for `type_name`."""
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
    except Exception as exc:
        raise PowerSpecError(f"{what} could not be loaded: {type(exc).__name__}: {exc}",
                             key="type") from exc
    if not (isinstance(obj, type) and issubclass(obj, PowerController)):
        raise PowerSpecError(f"{what} is broken: {target} is not a PowerController subclass",
                             key="type")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise PowerSpecError(f"{what} is broken: {target} does not implement {missing}",
                             key="type")
    declared = getattr(obj, "type_name", None)
    if declared != type_name:
        raise PowerSpecError(f"{what} is broken: {target} declares type_name {declared!r}",
                             key="type")
    return obj


default_registry = PowerControllerRegistry()


def register_power_controller(type_name: str, cls: type[PowerController], *,
                              overwrite: bool = False) -> None:
    """Register a PowerController subclass under `type_name` for lab-data selection."""
    default_registry.register(type_name, cls, overwrite=overwrite)


def build_power_controller(type_name: str) -> type[PowerController]:
    """Return the PowerController class registered under `type_name`."""
    return default_registry.get(type_name)


def registered_power_types() -> list[str]:
    """Every power controller type name available in this environment, sorted."""
    return default_registry.names()


def power_control_from_spec(value: Any, host_id: str | None = None, *,
                            registry: PowerControllerRegistry | None = None,
                            ) -> PowerController | None:
    """Coerce a lab `power_control` value into a PowerController instance.

    None and PowerController instances pass through; a string is a controller type that needs
    no configuration; a mapping has `type` plus the controller's constructor arguments, which
    are checked against the constructor signature (unknown, missing and mistyped fields) before
    anything is built. Every error is a PowerSpecError naming `host_id` and the offending key.
    """
    reg = registry or default_registry
    try:
        if value is None or isinstance(value, PowerController):
            return value
        if isinstance(value, str):
            return _construct(reg.get(value), {})
        if not isinstance(value, dict):
            raise PowerSpecError(f"must be a controller type name or a mapping with 'type', "
                                 f"got {type(value).__name__}")
        if "type" not in value:
            raise PowerSpecError(f"missing 'type' (one of: {', '.join(reg.names())})")
        type_name = value["type"]
        if not isinstance(type_name, str):
            raise PowerSpecError(f"must be a string, got {type_name!r}", key="type")
        kwargs = {k: v for k, v in value.items() if k != "type"}
        return _construct(reg.get(type_name), kwargs)
    except PowerSpecError as exc:
        raise exc.for_host(host_id) from exc.__cause__


def _construct(cls: type[PowerController], kwargs: dict[str, Any]) -> PowerController:
    """Check `kwargs` against `cls`'s constructor, then build it."""
    params = _constructor_params(cls)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
    for key in kwargs:
        if not isinstance(key, str):
            raise PowerSpecError(f"field names must be strings, got {key!r}")
        if key not in params and not takes_any:
            close = did_you_mean(key, params)
            suggestion = f"; {close}" if close else ""
            raise PowerSpecError(f"unknown field for type {cls.type_name!r}{suggestion} "
                                 f"(fields: {', '.join(params) or 'none'})", key=key)
    missing = [name for name, p in params.items()
               if p.default is p.empty and name not in kwargs]
    if missing:
        raise PowerSpecError(f"type {cls.type_name!r} needs field(s): {', '.join(missing)}")
    hints = _type_hints(cls)
    for key, val in kwargs.items():
        hint = hints.get(key)
        if hint is not None and not matches_hint(val, hint):
            shown = f"a value of type {type(val).__name__} (not shown)" if is_sensitive(key) else repr(val)
            raise PowerSpecError(f"must be {hint_text(hint)}, got {shown}", key=key)
    try:
        return cls(**kwargs)
    except PowerSpecError:
        raise
    except (TypeError, ValueError) as exc:
        raise PowerSpecError(f"invalid settings for type {cls.type_name!r}: {exc}") from exc
    except Exception as exc:  # a third-party controller's bug must not become a traceback
        raise PowerSpecError(f"type {cls.type_name!r} could not be set up from these settings: "
                             f"{type(exc).__name__}: {exc}") from exc


def _constructor_params(cls: type[PowerController]) -> dict[str, inspect.Parameter]:
    return {name: p for name, p in inspect.signature(cls).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _type_hints(cls: type[PowerController]) -> dict[str, Any]:
    """Constructor annotations, or none when they cannot be resolved (no check then)."""
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:
        return {}


