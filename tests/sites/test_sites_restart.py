"""`--rerun-failed` of a multi-site run (docs/records.md, docs/sites.md): a site host starts at
its step through its site's worker, with its loop items and registered values shipped in the
task; the journal of a multi-site run holds the site hosts' loop items and rescues (forwarded
by the workers), so the run can be restarted. Real `runbook apply`, a real redis-server, two
real workers and the sshd lab; every step (and loop item) appends a word to a file per host
(the lab hosts share this machine's disk), so the files say what ran on which host, and how
often. A resume after `kill -9` of the controller continues each site host after its last
recorded step: the workers interrupted what ran when the controller's heartbeat went, so
nothing they did is lost to the journal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runbook.records import list_runs, read_journal
from runbook.sites.channel import CONTROLLER_GRACE
from tests.sites.conftest import RedisServer, SiteWorkers
from tests.sites.sitelab import SITE_TOKEN, apply, controller_env, wait_for

HOSTS = "^(h01|h03|h05|h06)$"
# h05 (site west) fails loop item y of step 2 until `fixed` exists; h06 (west) fails in the
# block and its rescue recovers it (it finished ok); h01 (local) and h03 (east) pass.
BOOK = """
name: sited repair
steps:
  - name: one
    hosts: "{hosts}"
    run: echo 1 >> {d}/{{{{ host.id }}}}; echo v-{{{{ host.id }}}} {{{{ secret('SITE_TOKEN') }}}}
    register: first
  - name: each
    hosts: "{hosts}"
    loop: [x, y]
    run: >-
      echo each-{{{{ item }}}} >> {d}/{{{{ host.id }}}};
      test {{{{ host.id }}}}-{{{{ item }}}} != h05-y -o -e {d}/fixed
  - name: upgrade
    hosts: "{hosts}"
    block:
      - name: b1
        run: echo b1 >> {d}/{{{{ host.id }}}}; test {{{{ host.id }}}} != h06
    rescue:
      - name: mend
        run: echo mend >> {d}/{{{{ host.id }}}}
  - name: last
    hosts: "{hosts}"
    run: echo last >> {d}/{{{{ host.id }}}}; echo "got {{{{ first.output | trim }}}}"
"""


def lines(marks: Path, host: str) -> list[str]:
    return (marks / host).read_text().split()


def test_rerun_failed_restarts_a_site_host_at_its_step_through_its_worker(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    book = BOOK.format(d=marks, hosts=HOSTS)
    env = controller_env(redis_server, SITE_TOKEN=SITE_TOKEN)  # h01, driven here, needs it too
    runs = ("--runs-dir", str(tmp_path / "runs"))
    first, _ = apply(tmp_path, site_lab, book, env, *runs)
    assert first.returncode == 1, first.stdout + first.stderr
    [failed] = list_runs(tmp_path / "runs")
    records = read_journal(failed.path / "journal.jsonl")
    items = {(r["host"], r["item"]) for r in records if r["event"] == "item_result"}
    assert {("h01", 0), ("h03", 0), ("h03", 1), ("h05", 0), ("h05", 1)} <= items, items
    assert [(r["host"], r["steps"]) for r in records if r["event"] == "rescued"] == \
        [("h06", ["2", "3"])]  # forwarded by west's worker: h06 is not rerun
    (marks / "fixed").touch()

    again, report = apply(tmp_path, site_lab, book, env, *runs, "--rerun-failed", failed.run_id)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"rerunning the failed hosts of run {failed.run_id}: h05 from step 2" in again.stdout
    assert "h05: registered first held a secret when recorded: restored masked (***)" \
        in again.stdout
    # only h05, from step 2, only its failed item, on west's worker
    assert lines(marks, "h05") == ["1", "each-x", "each-y", "each-y", "b1", "last"]
    assert lines(marks, "h06") == ["1", "each-x", "each-y", "b1", "mend", "last"]
    assert lines(marks, "h01") == lines(marks, "h03") == ["1", "each-x", "each-y", "b1", "last"]

    repair = list_runs(tmp_path / "runs")[-1]
    assert report["repairs"] == failed.run_id and report["status"] == "success"
    assert report["locks"]["hosts"] == ["h05"]
    assert report["sites"] == {"h03": "east", "h05": "west", "h06": "west"}
    for step in report["steps"]:  # the merged report: every host's final state
        assert sorted(step["results"]) == ["h01", "h03", "h05", "h06"], step["name"]
    each = report["steps"][1]["results"]["h05"]
    assert each["status"] == "success" and [i["item"] for i in each["items"]] == ["x", "y"]
    assert report["steps"][2]["results"]["h06"]["rescued"] is True
    # the restored value, masked where it held the secret, is what the worker templated
    assert report["steps"][4]["results"]["h05"]["output"] == "got v-h05 ***\n"
    journal = read_journal(repair.path / "journal.jsonl")
    assert {(r["host"], r.get("site")) for r in journal if r["event"] == "host_result"} == \
        {("h05", "west")}
    log = (repair.path / "hosts" / "h05.log").read_text()
    assert "echo each-y" in log and "echo 1 >>" not in log and "echo each-x" not in log, log
    assert SITE_TOKEN not in "".join(p.read_text() for p in repair.path.rglob("*.*")
                                     if p.is_file())


HELD = """
name: sited resume
steps:
  - name: one
    hosts: "^(h01|h03|h05)$"
    run: echo 1 >> {d}/{{{{ host.id }}}}
  - name: two
    hosts: "^(h01|h05)$"
    run: echo 2 >> {d}/{{{{ host.id }}}}; until [ -e {d}/go ]; do sleep 0.1; done
  - name: three
    hosts: "^(h01|h05)$"
    run: echo 3 >> {d}/{{{{ host.id }}}}
"""


def test_resume_after_kill_9_continues_a_site_host_after_its_last_recorded_step(
        running: SiteWorkers, site_lab: Path, redis_server: RedisServer, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    west_log = len(running.log_text("west"))
    book = tmp_path / "held.yml"
    book.write_text(HELD.format(d=marks))
    env = controller_env(redis_server)
    runs = ("--runs-dir", str(tmp_path / "runs"), "--no-lock")
    proc = subprocess.Popen([sys.executable, "-m", "runbook", "apply", str(book), "--lab",
                             str(site_lab), *runs], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: all((marks / h).exists() and "2" in lines(marks, h)
                              for h in ("h01", "h05")), "h01 and h05 in step 2")
        [run] = list_runs(tmp_path / "runs")
        wait_for(lambda: {r["host"] for r in read_journal(run.path / "journal.jsonl")
                           if r["event"] == "host_result"} == {"h01", "h03", "h05"},
                  "step 1's results in the journal")
    finally:
        proc.kill()  # no handler, no report, no run end
        proc.wait(30)
    # west's worker stops hearing its controller: it interrupts h05's step 2 (kills it) and
    # starts nothing more, so step 3 does not run unheard
    wait_for(lambda: "interrupting the share" in running.log_text("west")[west_log:],
              "west's worker to interrupt the orphaned share", CONTROLLER_GRACE + 30)
    (marks / "go").touch()

    resumed = subprocess.run(
        [sys.executable, "-m", "runbook", "resume", run.run_id, *runs], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=180, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming run {run.run_id}: h01 from step 2, h05 from step 2" in resumed.stdout
    assert lines(marks, "h03") == ["1"]  # east had nothing left: no task, not touched
    assert lines(marks, "h01") == ["1", "2", "2", "3"]  # its step in flight at the kill again
    # h05 starts at step 2 on west's worker (step 1 not again); its step 2 cut by the
    # interruption runs again, as h01's does, and step 3 once
    assert lines(marks, "h05") == ["1", "2", "2", "3"]
    report = json.loads((run.path / "report.json").read_text())
    assert report["status"] == "success" and report["sites"] == {"h03": "east", "h05": "west"}
    assert [sorted(s["results"]) for s in report["steps"]] == [
        ["h01", "h03", "h05"], ["h01", "h05"], ["h01", "h05"]]
    kinds = [r["event"] for r in read_journal(run.path / "journal.jsonl")]
    assert kinds.count("run_start") == 1 and kinds.count("resume") == 1
    assert kinds[-1] == "run_end"
