"""Transcripts (`hosts/<host id>.log`) written by the real `runbook apply` against the OpenSSH
lab: every command, the whole output (10 MB on one host, past the output limit), exit statuses,
transfers with checksums, and no secret in any file of the run folder, not even one split
across two chunks of output."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path

import pytest

from tests.records.test_run_folder_sshd import (
    assert_nowhere,
    only_run,
    report_of,
    runbook,
    write_book,
)
from tests.sshlab import SshdLab

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def lab_file(sshd_lab: SshdLab, tmp_path: Path) -> Path:
    return sshd_lab.lab_yaml(tmp_path / "lab.yml")


def test_transcripts_hold_every_command_and_the_whole_output_masked(
        lab_file: Path, tmp_path: Path) -> None:
    secret = f"tok-{uuid.uuid4().hex}"
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"payload " * 5000)
    remote = tmp_path / f"remote-{uuid.uuid4().hex[:6]}"
    book = write_book(tmp_path, f"""
name: transcribed
steps:
  - name: split secret
    hosts: "^h0[12]$"
    run:
      - echo "plain {{{{ secret('TOKEN') }}}} on {{{{ host.id }}}}"
      - printf '%s' "{{{{ secret('TOKEN')[:9] }}}}"; sleep 0.5; printf '%s\\n' "{{{{ secret('TOKEN')[9:] }}}}"
      - exit 3
      - echo never sent
    ignore_errors: true
  - name: big
    hosts: h01
    oneshot: head -c {TEN_MB} /dev/zero | tr '\\0' 'y'; echo; echo "end {{{{ secret('TOKEN') }}}}"
  - name: send
    hosts: h02
    put: {{src: {payload}, dest: {remote}}}
  - name: fetch
    hosts: h02
    get: {{src: {remote}/payload.bin, dest: {tmp_path / "got"}}}
""")
    proc = runbook("apply", str(book), "--lab", str(lab_file), "--runs-dir", "runs",
                   cwd=tmp_path, timeout=180, RUNBOOK_SECRET_TOKEN=secret)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = only_run(tmp_path / "runs")
    assert sorted(p.name for p in (folder / "hosts").iterdir()) == ["h01.log", "h02.log"]
    h01 = (folder / "hosts" / "h01.log").read_text()
    h02 = (folder / "hosts" / "h02.log").read_text()
    for text, host in ((h01, "h01"), (h02, "h02")):
        # (the first command may be preceded by the connection's notes)
        assert re.search(rf'run: echo "plain \*\*\* on {host}"\n(#\|.*\n)*plain \*\*\* on {host}\n',
                         text), text[:1000]
        assert re.search(r"#\| \S+Z end: exit status 0, success in [\d.]+ s", text)
        assert "run: exit 3\n" in text and "end: exit status 3, failed" in text
        assert "not sent (an earlier command failed): echo never sent" in text
        # the secret arrived in two chunks, half a second apart: masked all the same
        assert re.search(r"run: printf .*\n\*\*\*\n", text), text[:2000]
    # the whole 10 MB, although the report keeps only the first and last 64 KiB
    assert h01.count("y") >= TEN_MB and "\nend ***\n" in h01
    assert "end: exit status 0, success in" in h01.rsplit("oneshot: head", 1)[1]
    assert len(report_of(folder)["steps"][1]["results"]["h01"]["output"]) < 200_000
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    assert f"put to h02:{remote}: {payload} ({payload.stat().st_size} bytes, sha256 {digest})" in h02
    assert re.search(rf"got from h02: \S+payload.bin \({payload.stat().st_size} bytes, "
                     rf"sha256 {digest}\)", h02)
    assert "connecting to 127.0.0" in h02 and "connected to" in h02
    assert_nowhere(secret, folder)
    assert secret not in proc.stdout + proc.stderr
