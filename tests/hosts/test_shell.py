"""The persistent shell protocol (runbook.hosts.shell) on LocalHost and on real OpenSSH."""

from __future__ import annotations

from pathlib import Path

from runbook import Host, Status
from tests.hosts.conftest import HostFactory
from tests.hosts.test_host_contract import on_host


def test_a_step_redirecting_the_shell_output_keeps_the_shell(host_factory: HostFactory,
                                                             tmp_path: Path) -> None:
    """`exec > log 2>&1` (install scripts) must not lose the shell nor put runbook's marker in log."""
    log = tmp_path / "install.log"

    async def scenario(host: Host) -> None:
        first = (await host.run(f"cd {tmp_path}; exec > {log} 2>&1; echo to-log; echo err >&2",
                                timeout=10)).only
        assert first.status is Status.Success, first
        assert first.output == ""
        second = await host.run(["pwd", "echo again >&2", "(exit 4)"], timeout=10)
        assert [s.status for s in second.statuses] == [Status.Success, Status.Success,
                                                         Status.Failed]
        assert second.statuses[2].retcode == 4
        assert all(s.output == "" for s in second.statuses)

    on_host(host_factory, scenario)
    assert log.read_text().splitlines()[:4] == ["to-log", "err", str(tmp_path), "again"]
    assert "__runbook" not in log.read_text()


def test_a_step_cannot_break_the_protocol_descriptor(host_factory: HostFactory) -> None:
    """fd 8 carries the protocol; inside a step it is closed, and closing it persists nowhere."""

    async def scenario(host: Host) -> None:
        probe = (await host.run("echo x >&8", timeout=10)).only
        assert probe.status is Status.Failed
        closed = (await host.run("exec 8>&-; exec 8>/dev/null; echo still", timeout=10)).only
        assert closed.output == "still\n"
        assert (await host.run("echo fine")).only.output == "fine\n"

    on_host(host_factory, scenario)
