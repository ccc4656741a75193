"""Third-party controllers found through the `runbook.power_controllers` entry-point group.

The test plugin (tests/power/plugin_dist) and the documented example (examples/power-plugin)
are really pip-installed into a temporary folder that is then put on sys.path, which is all
importlib.metadata needs to see their entry points.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runbook.hosts.lab import Lab
from runbook.hosts.local import LocalHost
from runbook.power import PowerControllerRegistry, PowerSpecError, PowerState, power_control_from_spec
from runbook.results import Status
from tests.power.helpers import require_tool

REPO = Path(__file__).resolve().parents[2]
DISTS = [Path(__file__).with_name("plugin_dist"), REPO / "examples" / "power-plugin"]


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the pip-installed plugin distributions."""
    require_tool(importlib.util.find_spec("hatchling") is not None,
                 "hatchling is needed to build the test plugins; pip install -e '.[test]'")
    work = tmp_path_factory.mktemp("plugins")
    site = work / "site"
    for dist in DISTS:
        source = shutil.copytree(dist, work / dist.name)  # pip builds in the source folder
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--disable-pip-version-check", "--no-input",
             "--target", str(site), str(source)],
            check=False, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    return site


@pytest.fixture
def registry(site_dir: Path, monkeypatch: pytest.MonkeyPatch) -> PowerControllerRegistry:
    monkeypatch.syspath_prepend(str(site_dir))
    return PowerControllerRegistry()


def test_installed_plugins_are_listed(registry: PowerControllerRegistry) -> None:
    assert {"command", "ipmi", "redfish", "fileswitch", "tasmota"} <= set(registry.names())


def test_plugin_controller_is_built_from_lab_data_and_works(
        registry: PowerControllerRegistry, tmp_path: Path) -> None:
    controller = power_control_from_spec(
        {"type": "fileswitch", "path": str(tmp_path / "{name}.switch")}, "pi4",
        registry=registry)
    assert type(controller).__module__ == "runbook_fileswitch"
    host = LocalHost("pi4", power_control=controller)
    Lab([host])

    async def scenario() -> tuple[tuple[Status, str], PowerState | None]:
        return await host.power("on"), await host.power_status()

    assert asyncio.run(scenario()) == ((Status.Success, "switched on"), PowerState.ON)
    assert (tmp_path / "pi4.switch").read_text() == "on"


def test_plugin_fields_are_validated_like_builtins(registry: PowerControllerRegistry) -> None:
    with pytest.raises(PowerSpecError) as info:
        power_control_from_spec({"type": "tasmota", "url": "http://10.0.0.201", "relais": 2},
                                "pi4", registry=registry)
    assert info.value.key == "relais" and "did you mean 'relay'?" in str(info.value)
    with pytest.raises(PowerSpecError, match="must be 1-8"):
        power_control_from_spec({"type": "tasmota", "url": "http://x", "relay": 9},
                                registry=registry)


def test_a_new_process_finds_the_plugin_through_the_default_registry(site_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site_dir), str(REPO)])}
    code = ("from runbook.power import build_power_controller as b, registered_power_types as r;"
            " print(r()); print(b('fileswitch').__module__)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout.splitlines()
    assert "'fileswitch'" in out[0] and out[1] == "runbook_fileswitch"


def write_dist_info(site: Path, name: str, entry_points: dict[str, str]) -> None:
    """A hand-made installed distribution: what importlib.metadata reads from sys.path."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("[runbook.power_controllers]\n" + "\n".join(lines)
                                           + "\n")


def test_a_broken_plugin_is_named_and_does_not_break_others(
        registry: PowerControllerRegistry, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    write_dist_info(tmp_path, "acme-pdu", {
        "acmepdu": "acme_pdu_missing:AcmePdu",
        "wrongname": "runbook_fileswitch:FileSwitchPowerController",
        "notacontroller": "os:getcwd",
        "abstract": "runbook.power:PowerController",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reload_plugins()
    with pytest.raises(PowerSpecError) as info:
        power_control_from_spec({"type": "acmepdu"}, "rack1", registry=registry)
    message = str(info.value)
    assert info.value.key == "type"
    assert "plugin 'acmepdu' (acme_pdu_missing:AcmePdu, distribution 'acme-pdu')" in message
    assert "No module named 'acme_pdu_missing'" in message and "host 'rack1'" in message
    with pytest.raises(PowerSpecError, match="declares type_name 'fileswitch'"):
        registry.get("wrongname")
    with pytest.raises(PowerSpecError, match="not a PowerController subclass"):
        registry.get("notacontroller")
    with pytest.raises(PowerSpecError, match="does not implement off, on"):
        registry.get("abstract")
    assert registry.get("fileswitch").type_name == "fileswitch"


def test_builtins_win_over_a_plugin_claiming_their_name(
        registry: PowerControllerRegistry, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    write_dist_info(tmp_path, "impostor", {"ipmi": "runbook_fileswitch:FileSwitchPowerController"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reload_plugins()
    assert registry.get("ipmi").__module__ == "runbook.power.ipmi"
