"""`interact` steps through `runbook apply` on the sshd lab: a script that asks two questions,
a secret typed and masked everywhere, a pattern that never comes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema

from tests.sshlab import SshdLab

REPO = Path(__file__).resolve().parent.parent.parent
SECRET = "s3cret-answer-7f3a"
#: A secret that reads like key spelling (^C, \\t, \\q): it must be typed as it is.
KEYS_SECRET = "p^C\\t\\q"
ASK_TWO = ("printf 'Name? '; read name; printf 'Secret? '; read s; "
           "echo \"hello $name (${#s} chars)\"\n")


def _runbook(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNBOOK_SECRET_ANSWER": SECRET, "PYTHONPATH": str(REPO),
           "RUNBOOK_RUNS_DIR": str(tmp_path / "runs"), "RUNBOOK_SECRET_KEYS": KEYS_SECRET}
    return subprocess.run([sys.executable, "-m", "runbook", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _run(command: str, tmp_path: Path, lab: Path, book: Path,
         *args: str) -> subprocess.CompletedProcess[str]:
    return _runbook(tmp_path, command, str(book), "--lab", str(lab), *args)


def test_interact_answers_a_prompting_script_and_masks_the_secret(sshd_lab: SshdLab,
                                                                   tmp_path: Path) -> None:
    script = tmp_path / "ask.sh"
    script.write_text(ASK_TWO)
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01", "h02"])
    book = tmp_path / "book.yml"
    book.write_text(f"""
name: dialogs
steps:
  - name: answer the script
    hosts: h0[12]
    timeout: 60
    interact:
      - {{expect: '[#$] ?$', send: 'sh {script}\\r'}}
      - {{expect: 'Name\\? $', send: '{{{{ host.id }}}}\\r'}}
      - {{expect: 'Secret\\? $', send: "{{{{ secret('ANSWER') }}}}\\\\r", timeout: 10}}
      - expect: 'hello h0[12] \\(18 chars\\)'
    register: dialog
  - name: the dialog is registered
    hosts: h0[12]
    oneshot: echo "{{{{ 'hello ' ~ host.id ~ ' (18 chars)' in dialog.output }}}}"
  - name: a pattern that never comes
    hosts: h01
    interact:
      - {{expect: '[#$] ?$', send: 'echo last-words-here\\r'}}
      - {{expect: never-printed, timeout: 1}}
""")
    plan = _run("plan", tmp_path, lab, book)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "interact 2: expect /Name\\? $/, then send 'h02\\r'" in plan.stdout
    assert "interact 3: expect /Secret\\? $/, then send '***" in plan.stdout
    report = tmp_path / "report.json"
    proc = _run("apply", tmp_path, lab, book, "-v", "--report-json", str(report))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    jsonschema.validate(data, json.loads((REPO / "schemas" / "report.schema.json").read_text()))
    answered, registered, never = (s["results"] for s in data["steps"])
    for host in ("h01", "h02"):
        assert answered[host]["status"] == "success", answered[host]
        assert f"hello {host} (18 chars)" in answered[host]["output"]
        assert registered[host]["output"] == "True\n"
    assert never["h01"]["status"] == "failed"
    assert "'never-printed' did not come within its timeout (1 s)" in never["h01"]["message"]
    assert "last-words-here" in never["h01"]["output"].split("last output received:")[1]
    # the run record: `runbook show` of one host's interact step has the dialog, masked
    shown = _runbook(tmp_path, "show", "last", "--host", "h02", "--step", "answer the script")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "interact 2: expect /Name\\? $/, then send 'h02\\r'" in shown.stdout
    assert "interact 3: expect /Secret\\? $/, then send '***" in shown.stdout
    assert "hello h02 (18 chars)" in shown.stdout
    recorded = [p.read_bytes() for p in (tmp_path / "runs").rglob("*") if p.is_file()]
    assert recorded
    for text in (proc.stdout, proc.stderr, report.read_text(), plan.stdout, shown.stdout,
                 *(b.decode(errors="replace") for b in recorded)):
        assert SECRET not in text


def test_a_templated_send_keeps_its_carriage_return(sshd_lab: SshdLab, tmp_path: Path) -> None:
    """A CR typed in YAML double quotes reaches the far end as CR, not LF, also when the send
    is templated (Jinja normalises newlines in template source). The far end reads raw bytes."""
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01"])
    book = tmp_path / "book.yml"
    script = tmp_path / "raw.sh"
    script.write_text("stty raw -echo; printf 'READY>'; v=$(dd bs=1 count=4 2>/dev/null | od -An -c)"
                      "; stty sane; printf 'got[%s]\\n' \"$v\"\n")
    book.write_text(f"""
name: carriage returns
steps:
  - name: send a CR and a CRLF through templates
    hosts: h01
    timeout: 60
    interact:
      - {{expect: '[#$] ?$', send: 'sh {script}\\r'}}
      - {{expect: 'READY>', send: "a{{{{ 'b' }}}}\\r\\n"}}
      - expect: 'got\\[.*\\]'
    register: raw
""")
    report = tmp_path / "report.json"
    proc = _run("apply", tmp_path, lab, book, "--report-json", str(report))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = json.loads(report.read_text())["steps"][0]["results"]["h01"]["output"]
    assert "a   b  \\r  \\n" in output, output


def test_a_secret_in_a_send_is_typed_as_it_is_not_read_as_key_names(sshd_lab: SshdLab,
                                                                     tmp_path: Path) -> None:
    """Key spelling applies to the runbook's own text; a value rendered into a send (a
    password holding `^C` or a backslash) reaches the far end byte for byte, and is masked."""
    lab = sshd_lab.lab_yaml(tmp_path / "lab.yml", host_ids=["h01"])
    book = tmp_path / "book.yml"
    script = tmp_path / "raw.sh"
    script.write_text("stty raw -echo; printf 'READY>'; v=$(dd bs=1 count=8 2>/dev/null | od -An -c)"
                      "; stty sane; printf 'got[%s]\\n' \"$v\"\n")
    book.write_text(f"""
name: a password with key names in it
steps:
  - name: type the secret
    hosts: h01
    timeout: 60
    interact:
      - {{expect: '[#$] ?$', send: 'sh {script}\\r'}}
      - {{expect: 'READY>', send: "{{{{ secret('KEYS') }}}}\\r"}}
      - expect: 'got\\[.*\\]'
""")
    report = tmp_path / "report.json"
    proc = _run("apply", tmp_path, lab, book, "--report-json", str(report))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = json.loads(report.read_text())["steps"][0]["results"]["h01"]["output"]
    assert "p   ^   C   \\   t   \\   q  \\r" in output, output
    plan = _run("plan", tmp_path, lab, book)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "send '***\\r'" in plan.stdout, plan.stdout
    for text in (proc.stdout, proc.stderr, plan.stdout, report.read_text()):
        assert KEYS_SECRET not in text and "p\\^C" not in text
