"""The register of power controller types and `power_control_from_spec`.

Built-in types (`command`, `ipmi`, `redfish`) are imported only when first used, and so are
third-party controllers published under the entry-point group `runbook.power_controllers`
(entry point name = type name, value = `module:Class`), so `pip install` of a plugin is all a
user does. The type dict lives on a `PowerControllerRegistry` instance, so tests can make a
fresh one; the module-level functions use the process-wide `default_registry`. The register
itself is the generic `runbook._registry.Registry`, shared with the lock backends.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from runbook._registry import Registry
from runbook._settings import hint_text, is_sensitive, matches_hint
from runbook._suggest import did_you_mean
from runbook.errors import PowerSpecError
from runbook.power.base import PowerController

ENTRY_POINT_GROUP = "runbook.power_controllers"

BUILTIN_CONTROLLERS: dict[str, str] = {
    "command": "runbook.power.command:CommandPowerController",
    "ipmi": "runbook.power.ipmi:IpmiPowerController",
    "redfish": "runbook.power.redfish:RedfishPowerController",
}


class PowerControllerRegistry(Registry[PowerController]):
    """Power controller classes by type name: registered, then built-in, then entry points.

    A controller must declare the `type_name` it is registered or published under.
    """

    def __init__(self, *, group: str = ENTRY_POINT_GROUP,
                 builtins: dict[str, str] | None = None) -> None:
        super().__init__(base=PowerController, kind="power controller", group=group,
                         builtins=BUILTIN_CONTROLLERS if builtins is None else builtins,
                         error=PowerSpecError, check_type_name=True)


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


