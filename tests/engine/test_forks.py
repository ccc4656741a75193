"""What `runbook apply` says when the open-files limit bounds a run (pure arithmetic; the
real processes are in tests/cli/test_apply_fd_limit.py)."""

from __future__ import annotations

from runbook.engine.forks import open_files_notes


def test_nothing_to_say_when_the_limit_is_ample() -> None:
    assert open_files_notes(None, 500, 20000, 20000) == []
    assert open_files_notes(50, 2, 96, 96) == []  # clamped to 8, but 2 hosts need no more


def test_fewer_at_once_than_the_default_names_the_limits() -> None:
    [note] = open_files_notes(None, 300, 1024, 1024)
    assert note.startswith("working on 240 hosts at once, not 300 (the default of 500): "
                           "the open-files limit is 1024 (hard limit 1024)")


def test_more_hosts_than_descriptors_says_they_will_fail() -> None:
    notes = open_files_notes(4, 2000, 1024, 4096)
    assert len(notes) == 1 and notes[0].startswith(
        "2000 hosts each keep a connection from their first step to their last: about 2064 "
        "open files, over the limit of 1024 (hard limit 4096)")
