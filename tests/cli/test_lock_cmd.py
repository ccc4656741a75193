"""`runbook lock / unlock / locks / who` with the file backend and a real redis-server."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from runbook.cli.lock_cmd import parse_duration
from runbook.cli.main import cli
from tests.locks.redislab import RedisServer

LAB = "hosts:\n  r1: {address: 10.0.0.1}\n  r2: {address: 10.0.0.2}\n  s1: {address: 10.0.0.3}\n"


@pytest.fixture(params=["file", "redis"])
def lab(request: pytest.FixtureRequest, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = tmp_path / "lab.yml"
    text = LAB
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        text += f"lock: {{type: redis, url: 'redis://127.0.0.1:{server.port}/0', " \
                f"namespace: {tmp_path.name}}}\n"
    path.write_text(text)
    return path


def runbook(lab: Path, *args: str, user: str = "alice") -> Result:
    return CliRunner().invoke(cli, [args[0], *args[1:], "--lab", str(lab)],
                              env={"RUNBOOK_LOCK_USER": user}, catch_exceptions=False)


def test_lock_shows_in_locks_and_blocks_others_all_or_nothing(lab: Path) -> None:
    taken = runbook(lab, "lock", "^r", "--for", "2h", "--note", "firmware bisect")
    assert taken.exit_code == 0, taken.output
    assert "r1: held by alice@" in taken.output and "manual reservation" in taken.output
    listing = runbook(lab, "who")
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0].split() == ["HOST", "HOLDER", "RUN", "SINCE", "UNTIL", "NOTE"]
    assert [line.split()[0] for line in lines[1:]] == ["r1", "r2"]
    assert lines[1].split()[2] == "manual" and lines[1].endswith("firmware bisect")
    refused = runbook(lab, "lock", "r2|s1", "--for", "1h", user="bob")
    assert refused.exit_code == 3
    assert "r2: held by alice@" in refused.output and "s1" not in refused.output.split(":")[0]
    assert "s1" not in runbook(lab, "locks", "s").output  # nothing taken for bob


def test_unlock_own_and_force_others_recorded(lab: Path) -> None:
    assert runbook(lab, "lock", "r1", "--for", "30m").exit_code == 0
    denied = runbook(lab, "unlock", "r1", user="bob")
    assert denied.exit_code == 3 and "--force" in denied.output
    forced = runbook(lab, "unlock", "r1", "--force", user="bob")
    assert forced.exit_code == 0 and "forced by bob@" in forced.output
    assert "no host is locked" in runbook(lab, "locks").output
    assert runbook(lab, "lock", "r2", "--for", "30m").exit_code == 0
    own = runbook(lab, "unlock", "r2")
    assert own.exit_code == 0 and own.output.startswith("released r2")


def test_usage_errors_exit_2(lab: Path) -> None:
    assert runbook(lab, "lock", "r1", "--for", "2x").exit_code == 2
    assert runbook(lab, "lock", "nomatch", "--for", "1h").exit_code == 2
    assert runbook(lab, "unlock", "r1[").exit_code == 2


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200), ("90m", 5400), ("1h30m", 5400),
                                               ("45s", 45), ("1d", 86400), ("0.5h", 1800)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2", "h", "2x", "0m", "1h 2", "-1h", "366d",
                                  "99999999999999999999d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|no time|too long"):
        parse_duration(text)


def test_unreachable_redis_exits_3_without_password(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    port = RedisServer(tmp_path).port  # nothing listens there
    lab = tmp_path / "lab.yml"
    lab.write_text(LAB + "lock: {type: redis, timeout: 2, url: \"redis://:{{ secret('PW') }}@"
                   f"127.0.0.1:{port}/0\"}}\n")
    monkeypatch.setenv("RUNBOOK_SECRET_PW", "pw-abcdef")
    result = runbook(lab, "locks")
    assert result.exit_code == 3 and "pw-abcdef" not in result.output
    assert "failed" in result.output


def test_a_huge_duration_is_refused_and_leaves_the_lab_usable(lab: Path) -> None:
    """--for 99999999999999999999d once stored a lease no command could show (traceback)."""
    refused = runbook(lab, "lock", "r1", "--for", "99999999999999999999d")
    assert refused.exit_code == 2 and "at most 365d" in refused.output
    assert "no host is locked" in runbook(lab, "locks").output


def test_notes_and_holders_with_control_characters_are_shown_escaped(lab: Path) -> None:
    note = "evil\x1b]0;pwned\x07\x1b[2J\nsecond line"
    taken = runbook(lab, "lock", "r1", "--for", "1h", "--note", note)
    listing = runbook(lab, "locks")
    refused = runbook(lab, "lock", "r1", "--for", "1h", user="bob\x1b[31m")
    for result in (taken, listing, refused):
        assert "\x1b" not in result.output and "\x07" not in result.output, result.output
        assert "\\x1b]0;pwned" in result.output
    assert len(listing.output.splitlines()) == 2  # header and one row: the newline is escaped


@pytest.mark.parametrize("record", [
    '{"user": "a", "machine": "m", "since": "abc", "until": 9e99, "note": 5}',
    '{"user": "a", "machine": "m", "since": 1, "until": 1e300}',
    '[1, 2]', '{"user": ["x"], "until": "later"}', "not json",
])
def test_damaged_file_records_never_crash_the_lock_commands(tmp_path: Path, record: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    lab = tmp_path / "lab.yml"
    lab.write_text(LAB)
    folder = tmp_path / "state" / "runbook" / "locks" / "lab"
    folder.mkdir(parents=True)
    (folder / "r1.json").write_text(record)
    for args in (["locks"], ["lock", "r", "--for", "1h"], ["unlock", "r", "--force"]):
        result = runbook(lab, *args)
        assert result.exit_code in (0, 3), result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["apply", "BOOK"], ["power", "r1", "on"]])
@pytest.mark.parametrize("wait", ["nan", "NaN", "-1", "inf"])
def test_lock_wait_must_be_a_finite_number(tmp_path: Path, command: list[str],
                                           wait: str) -> None:
    """--lock-wait nan passed click's range check and the run went on."""
    book = tmp_path / "book.yml"
    book.write_text("name: b\nsteps:\n  - {name: s, hosts: local, run: 'true'}\n")
    lab = tmp_path / "lab.yml"
    lab.write_text(LAB)
    command = [str(book) if arg == "BOOK" else arg for arg in command]
    result = CliRunner().invoke(cli, [*command, "--lock-wait", wait, "--lab", str(lab)],
                                catch_exceptions=False)
    assert result.exit_code == 2 and "--lock-wait" in result.output, result.output


def test_the_builtin_local_host_is_never_reserved(lab: Path) -> None:
    """`runbook lock local` reserved this machine, which runs never lock, and `unlock .`
    could not release it."""
    refused = runbook(lab, "lock", "local", "--for", "1h")
    assert refused.exit_code == 2 and "never locked" in refused.output, refused.output
    assert "no host is locked" in runbook(lab, "locks").output
    listed = runbook(lab, "lock", "nomatch", "--for", "1h")
    assert "local" not in listed.output.split("hosts:")[1]
