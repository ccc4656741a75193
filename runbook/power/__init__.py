"""Power control for lab hosts: controllers, their register, and building them from lab data.

Importing this package is cheap: the IPMI and Redfish controllers and third-party plugins are
imported only when a lab uses them. See docs/power.md.
"""

from runbook.errors import PowerSpecError
from runbook.power.base import POWER_ACTIONS, PowerController, PowerState
from runbook.power.command import CommandPowerController
from runbook.power.registry import (
    ENTRY_POINT_GROUP,
    PowerControllerRegistry,
    build_power_controller,
    default_registry,
    power_control_from_spec,
    register_power_controller,
    registered_power_types,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "POWER_ACTIONS",
    "CommandPowerController",
    "PowerController",
    "PowerControllerRegistry",
    "PowerSpecError",
    "PowerState",
    "build_power_controller",
    "default_registry",
    "power_control_from_spec",
    "register_power_controller",
    "registered_power_types",
]
