"""The controller register and `power_control_from_spec`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from runbook.power import (
    CommandPowerController,
    PowerController,
    PowerControllerRegistry,
    PowerSpecError,
    build_power_controller,
    power_control_from_spec,
    registered_power_types,
)
from runbook.results import Status

REPO = Path(__file__).resolve().parents[2]


class Relay(PowerController):
    """A config-light controller used to exercise the register."""

    type_name: ClassVar[str] = "relay"

    def __init__(self, channel: int = 1, *, label: str | None = None,
                 cycle_delay: float = 2.0) -> None:
        super().__init__(cycle_delay=cycle_delay)
        self.channel = channel
        self.label = label

    async def on(self, host: object) -> tuple[Status, str]:  # type: ignore[override]
        return Status.Success, "on"

    async def off(self, host: object) -> tuple[Status, str]:  # type: ignore[override]
        return Status.Success, "off"


def test_builtins_are_known_and_built_lazily() -> None:
    assert {"command", "ipmi", "redfish"} <= set(registered_power_types())
    assert build_power_controller("command") is CommandPowerController
    assert build_power_controller("ipmi").type_name == "ipmi"
    assert build_power_controller("redfish").type_name == "redfish"


def test_importing_runbook_power_stays_cheap() -> None:
    code = ("import sys, runbook.power; "
            "print(sorted(m for m in ('asyncssh', 'pyghmi', 'requests', 'urllib.request', "
            "'runbook.power.ipmi', 'runbook.power.redfish') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_register_refuses_duplicates_and_mismatched_names() -> None:
    registry = PowerControllerRegistry()
    registry.register("relay", Relay)
    assert registry.get("relay") is Relay
    with pytest.raises(ValueError, match="already registered"):
        registry.register("relay", Relay)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("command", type("Command2", (CommandPowerController,), {}))
    with pytest.raises(ValueError, match="type_name is 'relay'"):
        registry.register("pdu", Relay)
    with pytest.raises(TypeError):
        registry.register("relay", int, overwrite=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="does not implement off, on"):
        registry.register("base", PowerController, overwrite=True)


def test_register_overwrite_replaces() -> None:
    registry = PowerControllerRegistry()
    other = type("Relay2", (Relay,), {})
    registry.register("relay", Relay)
    registry.register("relay", other, overwrite=True)
    registry.register("command", Relay, overwrite=True)
    assert registry.get("relay") is other
    assert registry.get("command") is Relay


def test_registries_do_not_share_their_dict() -> None:
    first, second = PowerControllerRegistry(), PowerControllerRegistry()
    first.register("relay", Relay)
    assert "relay" in first.names() and "relay" not in second.names()


def test_unknown_type_lists_known_types_with_did_you_mean() -> None:
    with pytest.raises(PowerSpecError) as info:
        power_control_from_spec({"type": "redfsh", "url": "https://bmc"}, "node1")
    err = info.value
    assert err.key == "type" and err.host_id == "node1"
    assert "host 'node1'" in str(err) and "did you mean 'redfish'?" in str(err)
    assert "command, ipmi, redfish" in str(err)


def spec_error(value: object, registry: PowerControllerRegistry | None = None) -> PowerSpecError:
    with pytest.raises(PowerSpecError) as info:
        power_control_from_spec(value, "web1", registry=registry)
    assert "host 'web1'" in str(info.value)
    return info.value


def test_pass_through_and_string_specs() -> None:
    registry = PowerControllerRegistry()
    registry.register("relay", Relay)
    assert power_control_from_spec(None) is None
    controller = CommandPowerController("a", "b")
    assert power_control_from_spec(controller) is controller
    built = power_control_from_spec("relay", "web1", registry=registry)
    assert isinstance(built, Relay) and built.channel == 1


def test_dict_spec_builds_with_kwargs() -> None:
    built = power_control_from_spec({"type": "command", "on_cmd": "up {name}",
                                     "off_cmd": "down {name}", "controller": "hv1",
                                     "cycle_delay": 5})
    assert isinstance(built, CommandPowerController)
    assert (built.controller, built.cycle_delay) == ("hv1", 5.0)


@pytest.mark.parametrize(("value", "key", "text"), [
    ({"on_cmd": "x"}, None, "missing 'type'"),
    ({"type": 3}, "type", "must be a string"),
    (["command"], None, "got list"),
    ({"type": "command", "on_cmd": "x"}, None, "needs field(s): off_cmd"),
    ("command", None, "needs field(s): on_cmd, off_cmd"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "stauts_cmd": "z"}, "stauts_cmd",
     "did you mean 'status_cmd'?"),
    ({"type": "command", "on_cmd": ["x"], "off_cmd": "y"}, "on_cmd", "must be a string"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "cycle_delay": "2"}, "cycle_delay",
     "must be a number"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "cycle_delay": True}, "cycle_delay",
     "must be a number"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "cycle_delay": -1}, "cycle_delay",
     ">= 0"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "cycle_delay": float("inf")},
     "cycle_delay", "must be a finite number >= 0 (seconds), got inf"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "cycle_delay": float("nan")},
     "cycle_delay", "got nan"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "timeout": float("inf")}, "timeout",
     "must be a finite number > 0 (seconds), got inf"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "timeout": float("nan")}, "timeout",
     "got nan"),
    ({"type": "ipmi", "address": "10.0.0.9", "timeout": float("nan")}, "timeout", "got nan"),
    ({"type": "redfish", "url": "https://bmc", "timeout": float("-inf")}, "timeout",
     "got -inf"),
    ({"type": "command", "on_cmd": "up {host}", "off_cmd": "y"}, "on_cmd",
     "unknown placeholder {host}"),
    ({"type": "command", "on_cmd": "x", "off_cmd": "y", "status_cmd": "awk '{print}'"},
     "status_cmd", "unknown placeholder"),
    ({"type": "ipmi", "address": "10.0.0.9", "port": "623"}, "port", "must be an integer"),
    ({"type": "ipmi", "address": "10.0.0.9", "interface": "serial"}, "interface",
     "one of 'lanplus', 'lan'"),
    ({"type": "ipmi"}, None, "needs field(s): address"),
    ({"type": "redfish", "url": "bmc.example"}, "url", "http:// or https://"),
    ({"type": "redfish", "url": "https://bmc", "verify_tls": "no"}, "verify_tls",
     "true or false"),
    ({"type": "redfish", "url": "https://bmc", "systemid": "1"}, "systemid",
     "did you mean 'system_id'?"),
])
def test_bad_specs_name_host_and_key(value: object, key: str | None, text: str) -> None:
    err = spec_error(value)
    assert err.key == key
    assert text in str(err)
    if key is not None:
        assert f"power_control.{key}:" in str(err)


def test_spec_error_is_a_config_error_without_traceback_noise() -> None:
    from runbook.errors import ConfigError

    err = spec_error({"type": "command"})
    assert isinstance(err, ConfigError) and isinstance(err, ValueError)
    assert err.detail == "type 'command' needs field(s): on_cmd, off_cmd"


def test_constructor_value_errors_become_spec_errors() -> None:
    class Picky(Relay):
        type_name: ClassVar[str] = "picky"

        def __init__(self, channel: int = 1) -> None:
            if channel > 8:
                raise ValueError("the relay board has channels 1-8")
            super().__init__(channel)

    registry = PowerControllerRegistry()
    registry.register("picky", Picky)
    err = spec_error({"type": "picky", "channel": 9}, registry)
    assert "channels 1-8" in str(err) and err.key is None


def test_any_constructor_exception_of_a_plugin_becomes_a_spec_error() -> None:
    class Buggy(Relay):
        type_name: ClassVar[str] = "buggy"

        def __init__(self, channel: int = 1) -> None:
            raise KeyError("boom")

    registry = PowerControllerRegistry()
    registry.register("buggy", Buggy)
    err = spec_error({"type": "buggy"}, registry)
    assert "type 'buggy' could not be set up from these settings: KeyError" in str(err)


def test_wrongly_typed_password_is_not_shown() -> None:
    err = spec_error({"type": "ipmi", "address": "10.0.0.1", "password": 123456789})
    assert err.key == "password"
    assert "123456789" not in str(err) and "got a value of type int (not shown)" in str(err)
