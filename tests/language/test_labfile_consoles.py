"""Lab fields of console and CLI hosts: checked at their lines, building the right host class."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ValidationError
from runbook.hosts.cli import DEFAULT_ERROR_PATTERNS, CliHost
from runbook.hosts.console import ConsoleHost
from runbook.hosts.links import DEFAULT_LOGIN_PROMPT, SerialLink, SshLink, TelnetLink
from runbook.hosts.ssh import RemoteHost
from runbook.language.labfile import load_lab
from runbook.language.validate import validate_paths
from runbook.render.secrets import SecretStore

LAB = """\
hosts:
  board1:
    transport: serial
    device: rfc2217://cs1:7004
    user: root
    password: "{{ secret('BOARD_PW') }}"
    login_prompt: "^board login: $"
  cs-port:
    transport: telnet
    address: cs1
    shell: cli
    setup: [terminal length 0]
  r1:
    address: 10.0.0.1
    shell: cli
    prompt: "^r1[>#]"
    error_patterns: ["^Error"]
  plain: {address: 10.0.0.2}
"""


def test_each_transport_and_shell_builds_its_host(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(LAB)
    lab = load_lab(path, secrets=SecretStore(environ={"RUNBOOK_SECRET_BOARD_PW": "pw"}))
    board = lab["board1"]
    assert isinstance(board, ConsoleHost) and board.transport == "serial"
    assert board.link == SerialLink("rfc2217://cs1:7004", 115200, 10.0)
    assert board.login is not None and board.login.password == "pw"
    assert board.login.login_prompt == "^board login: $"
    cs_port = lab["cs-port"]
    assert isinstance(cs_port, CliHost) and cs_port.link == TelnetLink("cs1", 23, 10.0)
    assert cs_port.setup == ["terminal length 0"]
    assert cs_port.error_patterns == list(DEFAULT_ERROR_PATTERNS)
    router = lab["r1"]
    assert isinstance(router, CliHost) and isinstance(router.link, SshLink)
    assert router.transport == "ssh" and router.address == "10.0.0.1" and router.port == 22
    assert router.prompt == "^r1[>#]" and router.error_patterns == ["^Error"]
    assert type(lab["plain"]) is RemoteHost and lab["plain"].transport == "ssh"
    assert DEFAULT_LOGIN_PROMPT  # the default applies when login_prompt is not given


@pytest.mark.parametrize(("host", "line", "wanted"), [
    ("transport: serail", 3, "did you mean 'serial'"),
    ("transport: serial", 3, "transport: serial needs `device`"),
    ("{device: /dev/ttyS0, transport: telnet}", 3, "device is only for `transport: serial`"),
    ("{transport: telnet, key: id}", 3, "key is only for `transport: ssh`"),
    ("{transport: telnet, baud: 9600}", 3, "baud is only for `transport: serial`"),
    ("{device: /dev/ttyS0, baud: 9600}", 3, "device is only for `transport: serial`"),
    ("{password_prompt: 'x'}", 3, "password_prompt is only for console logins"),
    ("{transport: serial, device: /dev/ttyS0, hop: ok}", 3, "hop is only for `transport: ssh`"),
    ("{login_prompt: 'x'}", 3, "login_prompt is only for console logins"),
    ("{setup: [x]}", 3, "setup is only for `shell: cli`"),
    ("{shell: cli, prompt: 'r1('}", 3, "prompt: 'r1(' is not a valid regex"),
    ("{shell: cli, error_patterns: ['ok', '((']}", 3, "error_patterns: '((' is not a valid regex"),
    ("{transport: telnet, password: pw}", 3, "a console password needs `user`"),
    ("{baudd: 9600}", 3, "did you mean 'baud'"),
    ("{transport: telnet, user: u, become: true}", 3, "become: become is only for SSH hosts"),
    ("{shell: cli, become_user: admin}", 3, "become_user: become is only for SSH hosts"),
])
def test_bad_console_fields_are_findings_at_their_line(tmp_path: Path, host: str, line: int,
                                                       wanted: str) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(f"hosts:\n  ok: {{}}\n  bad: {host}\n" if host.startswith("{")
                    else f"hosts:\n  ok: {{}}\n  bad:\n    {host}\n")
    with pytest.raises(ValidationError) as info:
        load_lab(path)
    found = [f for f in info.value.findings if wanted in f.message]
    assert found, [f.message for f in info.value.findings]
    assert found[0].line in (line, line + 1)


@pytest.mark.parametrize("field", ["address: 10.0.0.9", "port: 7001"])
def test_address_or_port_on_a_serial_host_is_a_finding_at_its_line(tmp_path: Path,
                                                                  field: str) -> None:
    path = tmp_path / "lab.yml"
    path.write_text(f"hosts:\n  ok: {{}}\n  board:\n    transport: serial\n"
                    f"    device: /dev/ttyUSB0\n    {field}\n")
    with pytest.raises(ValidationError) as info:
        load_lab(path)
    name = field.partition(":")[0]
    [finding] = info.value.findings
    assert finding.line == 6, finding
    assert finding.message == (
        f"host 'board': {name} is not used by `transport: serial` (the line is `device`): for "
        "a serial port behind a TCP terminal server, remove it and set `device: "
        "socket://HOST:PORT` (raw TCP) or `device: rfc2217://HOST:PORT`")


def test_a_console_host_cannot_be_a_hop(tmp_path: Path) -> None:
    path = tmp_path / "lab.yml"
    path.write_text("hosts:\n  cs: {transport: telnet}\n  r1: {hop: cs}\n")
    with pytest.raises(ValidationError, match="only an SSH host can be a hop"):
        load_lab(path)


def test_put_get_and_expect_rc_on_a_cli_host_are_findings(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text(LAB)
    runbook = tmp_path / "rb.yml"
    runbook.write_text(
        "name: x\nlab: lab.yml\nsteps:\n"
        "  - {hosts: r1, run: show version, expect: {rc: 0}}\n"
        "  - {hosts: 'r1|board1', put: {src: lab.yml, dest: /tmp}}\n"
        "  - {hosts: cs-port, get: {src: /x, dest: out}}\n"
        "  - {hosts: r1, run: show version, expect: {output: FRR}}\n"
        "  - {hosts: board1, run: uname, expect: {rc: 0}}\n")
    findings = validate_paths([runbook])
    assert [(f.line, f.message.split(":")[1].strip()) for f in findings] == [
        (4, "expect.rc needs exit codes, which `shell"),
        (5, "put is not supported on `shell"),
        (6, "get is not supported on `shell"),
    ]
    assert "r1" in findings[1].message and "board1" not in findings[1].message


def test_validate_and_hosts_do_not_import_console_libraries(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "lab.yml").write_text(LAB)
    repo = Path(__file__).resolve().parent.parent
    code = ("import sys\nfrom runbook.cli.main import cli\n"
            "for args in (['validate', sys.argv[1]], ['hosts', '--lab', sys.argv[1]]):\n"
            "    try:\n        cli(args, standalone_mode=False)\n"
            "    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('asyncssh', 'telnetlib3', 'serial') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lab.yml")], cwd=repo,
                            env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_become_and_shell_waits_on_console_and_cli_hosts_are_findings(tmp_path: Path) -> None:
    (tmp_path / "lab.yml").write_text(LAB)
    runbook = tmp_path / "rb.yml"
    runbook.write_text(
        "name: x\nlab: lab.yml\nsteps:\n"
        "  - {hosts: 'board1|plain', become: true, run: id}\n"
        "  - {hosts: r1, wait_for: {path: /x}}\n"
        "  - {hosts: r1, wait_for: {port: 22}}\n"
        "  - {hosts: plain, become: true, wait_for: {command: 'true'}}\n")
    findings = validate_paths([runbook])
    assert [(f.line, f.message) for f in findings] == [
        (4, "step 1: become is not supported on console or `shell: cli` host(s) board1: they "
            "log in as their `user`"),
        (5, "step 2: wait_for path needs a POSIX shell, which `shell: cli` host(s) r1 do not "
            "have: wait for a port, or use interact"),
    ]
