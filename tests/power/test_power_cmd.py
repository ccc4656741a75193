"""`runbook power PATTERN on|off|cycle|status` through click's runner and as a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from runbook.cli.main import cli
from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parents[2]

def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def switch_spec(tmp_path: Path) -> dict[str, Any]:
    return {"type": "command",
            "on_cmd": f"echo on {{name}} >> {tmp_path}/log; echo running > {tmp_path}/{{name}}",
            "off_cmd": f"echo off {{name}} >> {tmp_path}/log; echo off > {tmp_path}/{{name}}",
            "status_cmd": f"cat {tmp_path}/{{name}} 2>/dev/null || echo off",
            "status_on": "running", "cycle_delay": 0}


def write_lab(tmp_path: Path, hosts: dict[str, Any], name: str = "lab.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"hosts": hosts}, sort_keys=False))
    return path


@pytest.fixture
def lab_file(tmp_path: Path) -> Path:
    spec = switch_spec(tmp_path)
    return write_lab(tmp_path, {
        "web1": {"address": "127.0.0.1", "port": closed_port(), "power_control": spec},
        "web2": {"address": "127.0.0.1", "port": closed_port(), "power_control": spec},
        "db1": {"address": "127.0.0.1", "port": closed_port()},
    })


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, ["power", *args], env=env or {"RUNBOOK_LAB": ""},
                              catch_exceptions=False)


def rows(result: Result) -> dict[str, list[str]]:
    """host -> [action, ok|FAILED, message] from the output lines."""
    return {parts[0]: [parts[1], parts[2], " ".join(parts[3:])]
            for parts in (line.split() for line in result.output.splitlines()) if parts}


def test_on_then_status(lab_file: Path, tmp_path: Path) -> None:
    result = run("web", "on", "--lab", str(lab_file))
    assert result.exit_code == 0, result.output
    assert rows(result) == {"web1": ["on", "ok", "on command succeeded"],
                            "web2": ["on", "ok", "on command succeeded"]}
    assert sorted((tmp_path / "log").read_text().splitlines()) == ["on web1", "on web2"]
    result = run("web1|db1", "status", "--lab", str(lab_file))
    assert result.exit_code == 1
    table = rows(result)
    assert table["web1"] == ["status", "ok", "on"]
    assert table["db1"][1] == "FAILED" and "no power control" in table["db1"][2]


def test_host_without_power_control_fails_with_exit_1(lab_file: Path) -> None:
    result = run("db1", "cycle", "--lab", str(lab_file))
    assert result.exit_code == 1
    assert "add a `power_control` entry for it in the lab file" in result.output


def test_check_shows_commands_and_changes_nothing(lab_file: Path, tmp_path: Path) -> None:
    result = run("web1", "cycle", "--check", "--wait", "30", "--lab", str(lab_file))
    assert result.exit_code == 0, result.output
    assert f"web1  cycle  would: run on this machine: echo off web1 >> {tmp_path}/log" \
        in result.output
    assert "wait 0s" in result.output and "then wait up to 30s for it to go up" in result.output
    assert not (tmp_path / "log").exists()


def test_check_fails_for_a_host_without_power_control(lab_file: Path) -> None:
    result = run("1", "off", "--check", "--lab", str(lab_file))
    assert result.exit_code == 1
    assert rows(result)["db1"][:2] == ["off", "FAILED"]
    assert rows(result)["web1"][:2] == ["off", "would:"]


def test_secrets_file_renders_and_output_masks_them(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("PDU_TOKEN: tok-31337\n")
    path = write_lab(tmp_path, {"web1": {"power_control": {
        "type": "command", "on_cmd": "echo token {{ secret('PDU_TOKEN') }} accepted",
        "off_cmd": "true"}}})
    result = run("web1", "on", "--lab", str(path), "--secrets", str(secrets))
    assert result.exit_code == 0, result.output
    assert "token" in result.output and "accepted" in result.output
    assert "tok-31337" not in result.output
    check = run("web1", "on", "--check", "--lab", str(path), "--secrets", str(secrets))
    assert check.exit_code == 0 and "echo token" in check.output
    assert "tok-31337" not in check.output
    missing = run("web1", "on", "--lab", str(path), env={"RUNBOOK_LAB": "",
                                                         "RUNBOOK_SECRET_PDU_TOKEN": None})
    assert missing.exit_code == 2
    assert "runbook power: host 'web1' needs secret PDU_TOKEN for power_control.on_cmd " \
        f"({path}:5:15): set RUNBOOK_SECRET_PDU_TOKEN or pass --secrets FILE" in missing.output


def test_only_the_selected_hosts_need_their_secrets(tmp_path: Path) -> None:
    spec = switch_spec(tmp_path)
    path = write_lab(tmp_path, {
        "web1": {"power_control": spec},
        "bmc1": {"power_control": {**spec, "on_cmd": "echo {{ secret('BMC_PW') }}"}}})
    env: dict[str, str | None] = {"RUNBOOK_LAB": "", "RUNBOOK_SECRET_BMC_PW": None}
    result = run("web1", "on", "--lab", str(path), env=env)
    assert result.exit_code == 0, result.output
    refused = run(".", "on", "--lab", str(path), env=env)
    assert refused.exit_code == 2 and "host 'bmc1' needs secret BMC_PW" in refused.output
    assert "web1" not in refused.output
    assert not (tmp_path / "bmc1").exists()
    check = run("bmc1", "on", "--check", "--lab", str(path), env=env)
    assert check.exit_code == 0, check.output
    assert "bmc1  on  would: run on this machine: echo ***" in check.output


def test_wait_reports_hosts_that_do_not_come_up(lab_file: Path) -> None:
    result = run("web1", "on", "--wait", "1", "--lab", str(lab_file))
    assert result.exit_code == 1
    assert rows(result)["web1"][1:] == ["FAILED", "on command succeeded; did not answer within 1s"]


def test_wait_down_after_off(lab_file: Path) -> None:
    result = run("web", "off", "--wait", "5", "--lab", str(lab_file))
    assert result.exit_code == 0, result.output
    assert rows(result)["web2"] == ["off", "ok", "off command succeeded; down"]


def test_wait_up_on_a_real_sshd_host(sshd_lab: SshdLab, tmp_path: Path) -> None:
    path = sshd_lab.lab_yaml(tmp_path / "lab.yml", ["h01"],
                             extra={"hosts": {"h01": {"power_control": switch_spec(tmp_path)}}})
    result = run("h01", "cycle", "--wait", "20", "--lab", str(path))
    assert result.exit_code == 0, result.output
    assert rows(result)["h01"] == ["cycle", "ok",
                                   "off: off command succeeded; on: on command succeeded; up"]


@pytest.mark.parametrize(("args", "text"), [
    (["zzz", "on"], "no host in {lab} matches 'zzz' (hosts: web1, web2, db1, local)"),
    (["web(", "on"], "is not a valid regex"),
    (["web", "status", "--wait", "3"], "--wait applies to on, off and cycle"),
    (["web", "reboot"], "'reboot' is not one of 'on', 'off', 'cycle', 'status'"),
    (["web", "on", "--wait", "-1"], "-1"),
    (["web", "on", "--wait", "nan"], "--wait must be a finite number of seconds, not nan"),
    (["web", "on", "--wait", "inf"], "--wait must be a finite number of seconds, not inf"),
])
def test_usage_errors_exit_2(lab_file: Path, args: list[str], text: str) -> None:
    result = run(*args, "--lab", str(lab_file))
    assert result.exit_code == 2
    assert text.format(lab=lab_file) in result.output


@pytest.mark.parametrize("pattern", ["", "  "])
def test_an_empty_pattern_powers_nothing(lab_file: Path, tmp_path: Path, pattern: str) -> None:
    """`runbook power "$NODE" off` with NODE unset must not switch the whole lab off."""
    result = run(pattern, "off", "--lab", str(lab_file))
    assert result.exit_code == 2
    assert "is empty, which would match every host" in result.output
    assert not (tmp_path / "log").exists()


def test_invalid_lab_exits_2_with_line_and_hint(tmp_path: Path) -> None:
    path = write_lab(tmp_path, {"web1": {"power_control": {"type": "ipmii",
                                                            "address": "10.0.0.1"}}})
    result = run("web1", "on", "--lab", str(path))
    assert result.exit_code == 2
    assert f"{path}:4" in result.output and "did you mean 'ipmi'?" in result.output


def test_lab_that_is_a_fifo_or_a_runbook_exits_2_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "lab.yml"
    os.mkfifo(fifo)
    result = run("web1", "on", "--lab", str(fifo))
    assert result.exit_code == 2
    assert "is not a regular file" in result.output
    runbook = tmp_path / "site.yml"
    runbook.write_text("name: x\nsteps: [{hosts: local, run: uptime}]\n")
    result = run("web1", "on", "--lab", str(runbook))
    assert result.exit_code == 2
    assert "this is a runbook (it has `steps`), not a lab" in result.output


def test_lab_from_environment_or_current_folder(lab_file: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    result = run("web1", "on", env={"RUNBOOK_LAB": str(lab_file)})
    assert result.exit_code == 0, result.output
    missing = run("web1", "on", env={"RUNBOOK_LAB": str(tmp_path / "nope.yml")})
    assert missing.exit_code == 2 and "nope.yml does not exist (from $RUNBOOK_LAB)" \
        in missing.output
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    result = run("web1", "on")
    assert result.exit_code == 2 and "no lab: pass --lab FILE, set $RUNBOOK_LAB" in result.output
    monkeypatch.chdir(tmp_path)  # holds lab.yml
    assert run("web1", "off").exit_code == 0


def test_real_process(lab_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RUNBOOK_LAB", None)
    done = subprocess.run([sys.executable, "-m", "runbook", "power", "web", "on", "--lab",
                           str(lab_file)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2 and done.stderr == ""
    done = subprocess.run([sys.executable, "-m", "runbook", "power", "db1", "on", "--lab",
                           str(lab_file)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
