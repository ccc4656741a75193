"""The dry run of a structured runbook: batches listed, paths on steps, loop items rendered,
placeholders for what rescue sees."""

from __future__ import annotations

from pathlib import Path

from runbook import api
from runbook.engine.events import BatchStarted, Event, PlannedHost, StepStarted

BOOK = """
name: dry
batch: 1
vars: {ports: [22, 80]}
steps:
  - name: probe
    hosts: local
    loop: "{{ ports }}"
    run: echo {{ item }}
  - name: work
    hosts: local
    block:
      - {name: fails, run: "false"}
    rescue:
      - {name: say, run: "echo {{ failed_step }}"}
"""


def test_plan_shows_batches_paths_items_and_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "book.yml"
    path.write_text(BOOK)
    book, lab = api.load(path)
    events: list[Event] = []
    outcome = api.show(api.compile(book, lab, dry_run=True), subscribers=[events.append])
    assert outcome.status.value == "success"
    assert [e.hosts for e in events if isinstance(e, BatchStarted)] == [("local",)]
    assert [e.path for e in events if isinstance(e, StepStarted)] == [
        "probe", "block 'work' > fails", "block 'work'/rescue > say"]
    lines = {e.step_name: e.lines for e in events if isinstance(e, PlannedHost)}
    assert lines["probe"] == ("loop over 2 item(s) as item", "[22] run: echo 22",
                              "[80] run: echo 80")
    assert lines["say"] == ("run: echo <failed_step>",)
