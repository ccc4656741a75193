"""Which unset secrets a lab host needs: its own fields, its hops, its power controller."""

from __future__ import annotations

from pathlib import Path

from runbook.language.labfile import load_lab
from runbook.model import Location
from runbook.render.labsecrets import MissingSecret, resolve_needs
from runbook.render.secrets import SecretStore

LAB = """\
hosts:
  jump1:
    password: "{{ secret('jump_pw') }}"
  pdu1: {hop: jump1}
  r1:
    power_control: {type: command, controller: pdu1, on_cmd: "on", off_cmd: "off"}
  r2: {hop: jump1}
  bmc1:
    power_control:
      type: ipmi
      address: 10.0.1.31
      password: "{{ secret('bmc_pw') }}"
  plain: {}
"""


def missing(host: str, field: str, name: str = "x") -> MissingSecret:
    return MissingSecret(host, name, field, Location("lab.yml", 3, 5))


def test_needs_follow_hops_and_controllers() -> None:
    own = {"j": [missing("j", "password")], "b": [missing("b", "power_control.password")]}
    needs = resolve_needs(own, {"j": None, "h": "j", "hh": "h", "b": None, "p": None},
                          {"p": "hh", "b": None})
    assert [m.host_id for m in needs["hh"].connect] == ["j"]
    assert needs["hh"].power == ()
    assert [m.host_id for m in needs["p"].power] == ["j"] and needs["p"].connect == ()
    assert needs["b"].connect == () and [m.field for m in needs["b"].power] == [
        "power_control.password"]
    assert "plain" not in needs


def test_hop_cycle_does_not_loop() -> None:
    needs = resolve_needs({"a": [missing("a", "user")]}, {"a": "b", "b": "a"}, {})
    assert [m.host_id for m in needs["b"].connect] == ["a"]


def test_for_action_power_waits_also_connect() -> None:
    needs = resolve_needs({"h": [missing("h", "password"), missing("h", "power_control.user")]},
                          {"h": None}, {})["h"]
    assert [m.field for m in needs.for_action("run")] == ["password"]
    assert [m.field for m in needs.for_action("power")] == ["power_control.user"]
    assert [m.field for m in needs.for_action("power", waits=True)] == [
        "power_control.user", "password"]


def test_message_names_secret_location_and_what_to_do(tmp_path: Path) -> None:
    one = missing("build1", "power_control.password", "BUILD1_BMC_PASSWORD")
    assert one.message() == (
        "host 'build1' needs secret BUILD1_BMC_PASSWORD for power_control.password "
        "(lab.yml:3:5): set RUNBOOK_SECRET_BUILD1_BMC_PASSWORD or pass --secrets FILE")
    via = MissingSecret("jump1", "jump_pw", "password", Location("lab.yml", 3, 5),
                        tmp_path / "s.yml")
    assert via.message(target="r2") == (
        "host 'r2' (through host 'jump1') needs secret jump_pw for password (lab.yml:3:5): "
        f"set RUNBOOK_SECRET_JUMP_PW or add 'jump_pw' to the secrets file {tmp_path / 's.yml'}")


def test_load_lab_marks_hosts_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(LAB)
    lab = load_lab(path, secrets=SecretStore(environ={}))
    needs = lab.missing_secrets
    assert sorted(needs) == ["bmc1", "jump1", "pdu1", "r1", "r2"]
    jump = needs["jump1"].connect[0]
    assert (jump.name, jump.field, jump.location.line, jump.location.column) == (
        "jump_pw", "password", 3, 15)
    assert [m.host_id for m in needs["r1"].power] == ["jump1"] and needs["r1"].connect == ()
    assert needs["bmc1"].connect == () and needs["bmc1"].power[0].name == "bmc_pw"
    assert getattr(lab["jump1"], "password", "unset") is None  # no login with a placeholder
    assert getattr(lab["bmc1"].power_control, "password", None) == "***"


def test_set_secrets_leave_nothing_missing(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(LAB)
    store = SecretStore(environ={"RUNBOOK_SECRET_JUMP_PW": "j", "RUNBOOK_SECRET_BMC_PW": "b"})
    lab = load_lab(path, secrets=store)
    assert lab.missing_secrets == {}
    assert getattr(lab["jump1"], "password", None) == "j"
