"""load_lab: lab files (YAML and JSON) into a Lab of RemoteHosts plus `local`."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ConfigError, ValidationError
from runbook.hosts.local import LocalHost
from runbook.hosts.ssh import RemoteHost
from runbook.language.labfile import load_lab
from runbook.render.secrets import SecretStore

LAB = """\
defaults:
  user: lab
  key: keys/id_lab
  connect_timeout: 5
  hop: jump1
  vars: {site: r3, role: generic}
vars: {ntp: 10.0.0.1}
hosts:
  jump1: {address: 192.0.2.1, user: ops, host_key_checking: false}
  router1:
    address: 10.0.0.11
    port: 2222
    key: [~/.ssh/id_a, /abs/id_b]
    known_hosts: kh
    vars: {role: core}
    power_control: {type: command, controller: pdu1, on_cmd: "pdu on {id}", off_cmd: "pdu off {id}"}
  pdu1: {hop: null}
"""


@pytest.fixture
def lab_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The lab above, with its key files present (a missing key file is a finding)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key in (tmp_path / "keys" / "id_lab", tmp_path / "home" / ".ssh" / "id_a"):
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text("key")
    path = tmp_path / "lab.yml"
    path.write_text(LAB.replace("/abs/id_b", str(tmp_path / "keys" / "id_b")))
    (tmp_path / "keys" / "id_b").write_text("key")
    return path


def test_hosts_in_order_with_local_last(lab_path: Path) -> None:
    lab = load_lab(lab_path)
    assert [h.id for h in lab.hosts] == ["jump1", "router1", "pdu1", "local"]
    assert isinstance(lab["local"], LocalHost)
    assert all(isinstance(lab[h], RemoteHost) for h in ("jump1", "router1", "pdu1"))
    assert lab.vars == {"ntp": "10.0.0.1"}
    assert lab.path == lab_path


def test_defaults_are_merged(lab_path: Path) -> None:
    lab = load_lab(lab_path)
    jump1, router1 = lab["jump1"], lab["router1"]
    assert isinstance(jump1, RemoteHost) and isinstance(router1, RemoteHost)
    assert jump1.user == "ops"
    assert router1.user == "lab"
    assert router1.port == 2222
    assert router1.connect_timeout == 5
    assert router1.vars == {"site": "r3", "role": "core"}
    assert jump1.host_key_checking is False
    assert router1.host_key_checking is True


def test_address_defaults_to_id_and_hop_resolution(lab_path: Path) -> None:
    lab = load_lab(lab_path)
    pdu1, router1, jump1 = lab["pdu1"], lab["router1"], lab["jump1"]
    assert isinstance(pdu1, RemoteHost) and isinstance(router1, RemoteHost)
    assert pdu1.address == "pdu1"
    assert router1.hop is jump1
    assert pdu1.hop is None  # explicit null cancels the default hop
    assert isinstance(jump1, RemoteHost) and jump1.hop is None  # default hop skips itself


def test_key_paths_expanded_and_relative_to_lab(lab_path: Path) -> None:
    lab = load_lab(lab_path)
    router1, jump1 = lab["router1"], lab["jump1"]
    assert isinstance(router1, RemoteHost) and isinstance(jump1, RemoteHost)
    assert router1.keys == [Path("~/.ssh/id_a").expanduser(), lab_path.parent / "keys" / "id_b"]
    assert jump1.keys == [lab_path.parent / "keys" / "id_lab"]
    assert router1.known_hosts == lab_path.parent / "kh"


def test_power_control_built(lab_path: Path) -> None:
    lab = load_lab(lab_path)
    control = lab["router1"].power_control
    assert control is not None and control.type_name == "command"
    assert lab["pdu1"].power_control is None


def test_lab_defining_local_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  local: {address: 127.0.0.1}\n")
    lab = load_lab(path)
    assert [h.id for h in lab.hosts] == ["local"]
    assert isinstance(lab["local"], RemoteHost)


def test_json_lab(tmp_path: Path) -> None:
    path = tmp_path / "lab.json"
    path.write_text('{"hosts": {"r1": {"address": "10.0.0.1", "port": 22}}}')
    assert load_lab(path)["r1"].address == "10.0.0.1"


def test_secrets_rendered_in_power_spec_and_password(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(
        "vars: {bmc_user: admin}\nhosts:\n  s1:\n    address: 10.0.0.31\n"
        "    password: \"{{ secret('ssh_pw') }}\"\n"
        "    power_control: {type: ipmi, address: 10.0.1.31, user: '{{ bmc_user }}',"
        " password: \"{{ secret('bmc_pw') }}\"}\n")
    secrets = SecretStore(environ={"RUNBOOK_SECRET_SSH_PW": "pw1", "RUNBOOK_SECRET_BMC_PW": "pw2"})
    lab = load_lab(path, secrets=secrets)
    host = lab["s1"]
    assert isinstance(host, RemoteHost) and host.password == "pw1"
    control = host.power_control
    assert control is not None
    assert (getattr(control, "user", None), getattr(control, "password", None)) == ("admin", "pw2")
    assert secrets.mask("pw2") == "***"


def test_missing_secret_marks_the_host_instead_of_failing(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  s1:\n    password: \"{{ secret('nope') }}\"\n  s2: {}\n")
    lab = load_lab(path, secrets=SecretStore(environ={}))
    assert list(lab.missing_secrets) == ["s1"]
    assert "RUNBOOK_SECRET_NOPE" in lab.missing_secrets["s1"].connect[0].message()


def test_a_str_path_works_like_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lab.yml").write_text("hosts:\n  r1: {address: 10.0.0.1}\n")
    monkeypatch.chdir(tmp_path)
    lab = load_lab("lab.yml")
    assert lab["r1"].address == "10.0.0.1" and lab.path == Path("lab.yml")


def test_invalid_lab_lists_all_findings(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  a: {hop: b}\n  b: {hop: a}\n  c: {prot: 22}\n  d: {hop: zz}\n")
    with pytest.raises(ValidationError) as info:
        load_lab(path)
    messages = [f.message for f in info.value.findings]
    assert len(messages) == 3
    assert any("hop cycle a -> b -> a" in m for m in messages)
    assert any("did you mean 'port'" in m for m in messages)
    assert any("hop 'zz' names no host" in m for m in messages)


def test_power_spec_error_points_at_key(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  r1:\n    power_control:\n      type: command\n"
                    "      on_cmd: x\n      off_cmd: y\n      statuscmd: z\n")
    with pytest.raises(ValidationError) as info:
        load_lab(path)
    [finding] = info.value.findings
    assert (finding.line, finding.column) == (7, 7)
    assert "did you mean 'status_cmd'" in finding.message


def test_validation_needs_no_secrets_and_renders_lab_vars(tmp_path: Path) -> None:
    from runbook.language.validate import validate_paths

    path = tmp_path / "lab.yml"
    path.write_text(
        "vars: {bmc: 'https://10.0.1.5'}\nhosts:\n  s1:\n    power_control:\n"
        "      type: redfish\n      url: '{{ bmc }}'\n"
        "      password: \"{{ secret('BMC') }}\"\n")
    assert validate_paths([path]) == []


def test_undefined_name_in_lab_template_is_located(tmp_path: Path) -> None:
    from runbook.language.validate import validate_paths

    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  s1:\n    address: '10.0.0.{{ idx }}'\n")
    [finding] = validate_paths([path])
    assert (finding.line, finding.column) == (3, 14)
    assert finding.message == "host 's1': address: undefined variable 'idx'"


def test_syntax_errors_in_lab(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  s1: {address: [\n")
    with pytest.raises(ValidationError, match="YAML syntax error"):
        load_lab(path)
    path.write_text("hosts:\n  s1:\n    user: '{{ oops'\n")
    with pytest.raises(ValidationError) as info:
        load_lab(path)
    [finding] = info.value.findings
    assert finding.line == 3
    assert finding.message.startswith("host 's1': Jinja syntax error in user:")


def test_runbook_or_empty_file_given_as_lab_says_so(tmp_path: Path) -> None:
    runbook = tmp_path / "site.yml"
    runbook.write_text("name: x\nsteps: [{hosts: local, run: uptime}]\n")
    with pytest.raises(ValidationError) as info:
        load_lab(runbook)
    assert [f.message for f in info.value.findings] == [
        "this is a runbook (it has `steps`), not a lab: a lab file lists `hosts`; pass the "
        "runbook as RUNBOOK and a lab file with --lab"]
    empty = tmp_path / "empty.yml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(ValidationError, match="the file is empty: a lab needs `hosts`"):
        load_lab(empty)


def test_lab_path_that_is_no_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lab file .*nope\.yml does not exist \(a runbook"):
        load_lab(tmp_path / "nope.yml")
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        load_lab(tmp_path)


def test_secret_rendered_into_a_bad_field_is_masked_in_findings(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  bmc1:\n    power_control: {type: ipmi, address: 10.0.0.1, "
                    "port: \"{{ secret('PW') }}\", password: \"{{ secret('PW') }}\"}\n")
    with pytest.raises(ValidationError) as info:
        load_lab(path, secrets=SecretStore(environ={"RUNBOOK_SECRET_PW": "hunter2"}))
    assert "hunter2" not in str(info.value)
    assert "power_control.port: must be an integer, got '***'" in str(info.value)


def test_a_symlinked_lab_resolves_its_files_next_to_its_target(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """key, known_hosts and a power spec's ca_file are relative to the real lab file's folder
    (`lab.yml -> ../releases/v2/lab.yml`), never to the link's folder or the current one."""
    real = tmp_path / "releases" / "v2"
    (real / "certs").mkdir(parents=True)
    (real / "certs" / "ca.pem").write_text("not read while loading\n")
    (real / "keys").mkdir()
    (real / "keys" / "id").write_text("a key file must exist\n")
    (real / "lab.yml").write_text(
        "hosts:\n  r1:\n    key: keys/id\n    known_hosts: kh\n"
        "    power_control: {type: redfish, url: 'https://bmc.example', ca_file: certs/ca.pem}\n")
    (tmp_path / "current").mkdir()
    link = tmp_path / "current" / "lab.yml"
    link.symlink_to(Path("..") / "releases" / "v2" / "lab.yml")
    monkeypatch.chdir(tmp_path)
    host = load_lab(link)["r1"]
    base = real.resolve()
    assert isinstance(host, RemoteHost)
    assert host.keys == [base / "keys" / "id"]
    assert host.known_hosts == base / "kh"
    assert getattr(host.power_control, "ca_file", None) == str(base / "certs" / "ca.pem")


def test_a_relative_ca_file_is_relative_to_the_lab_not_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "lab" / "certs").mkdir(parents=True)
    (tmp_path / "lab" / "certs" / "ca.pem").write_text("")
    path = tmp_path / "lab" / "lab.yml"
    path.write_text("hosts:\n  r1:\n    power_control: {type: redfish, "
                    "url: 'https://bmc.example', ca_file: certs/ca.pem}\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    control = load_lab(path)["r1"].power_control
    assert getattr(control, "ca_file", None) == str(path.parent / "certs" / "ca.pem")


def test_become_fields_from_defaults_and_hosts(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(
        "defaults: {become: true, become_password: \"{{ secret('sudo_pw') }}\"}\n"
        "hosts:\n  db1: {become_user: postgres}\n  web1: {become: false}\n")
    secrets = SecretStore(environ={"RUNBOOK_SECRET_SUDO_PW": "s3cr3t-sudo"})
    lab = load_lab(path, secrets=secrets)
    db1, web1 = lab["db1"], lab["web1"]
    assert (db1.become, db1.become_user, db1.become_password) == (True, "postgres", "s3cr3t-sudo")
    assert (web1.become, web1.become_user) == (False, "root")
    assert "s3cr3t-sudo" not in repr(db1.become_for()) and secrets.mask("s3cr3t-sudo") == "***"


def test_missing_become_password_secret_is_a_need_of_that_host_only(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  jump: {become_password: \"{{ secret('jump_sudo') }}\"}\n"
                    "  inner: {hop: jump}\n")
    lab = load_lab(path, secrets=SecretStore(environ={}))
    assert lab["jump"].become_password is None  # never answer sudo with a placeholder
    assert [m.field for m in lab.missing_secrets["jump"].connect] == ["become_password"]
    assert "inner" not in lab.missing_secrets


@pytest.mark.parametrize(("entry", "problem"), [
    ("become: yes please", "become"),
    ("become_user: '-u root'", "become_user"),
    ("become_password: 42", "become_password"),
    ("becom: true", "becom"),
])
def test_bad_become_fields_are_findings_at_their_line(tmp_path: Path, entry: str,
                                                      problem: str) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(f"hosts:\n  h1:\n    address: 10.0.0.1\n    {entry}\n")
    with pytest.raises(ValidationError) as info:
        load_lab(path)
    text = str(info.value)
    assert f"{path}:4:" in text and problem in text


def test_missing_key_file_is_a_finding_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "id_here").write_text("key")
    path = tmp_path / "lab.yml"
    path.write_text("defaults:\n  key: keys/id_gone\nhosts:\n  r1: {}\n  r2: {}\n"
                    "  r3:\n    key: [id_here, /nowhere/id_x]\n")
    with pytest.raises(ValidationError) as info:
        load_lab(path)
    found = [(f.line, f.message) for f in info.value.findings]
    assert [line for line, _ in found] == [2, 7], found  # defaults reported once, not per host
    assert f"the key file {tmp_path / 'keys' / 'id_gone'} does not exist" in found[0][1]
    assert "relative to the lab file's folder" in found[0][1]
    assert found[1][1].startswith("host 'r3': key: the key file /nowhere/id_x does not exist")


def test_key_passphrase_is_a_connect_secret(tmp_path: Path) -> None:
    (tmp_path / "id").write_text("key")
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  s1:\n    key: id\n"
                    "    key_passphrase: \"{{ secret('kp') }}\"\n  s2: {hop: s1}\n")
    lab = load_lab(path, secrets=SecretStore(environ={"RUNBOOK_SECRET_KP": "open sesame"}))
    host = lab["s1"]
    assert isinstance(host, RemoteHost) and host.key_passphrase == "open sesame"
    missing = load_lab(path, secrets=SecretStore(environ={}))
    assert list(missing.missing_secrets) == ["s1", "s2"]  # s2 tunnels through s1
    assert missing["s1"].key_passphrase is None  # type: ignore[attr-defined]
