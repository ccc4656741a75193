"""Choosing steps: --tags, --skip-tags, the `always` tag, a block's cleanup kept with its
work, --start-at-step; and the --list-steps tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbook.errors import ConfigError
from runbook.language.runbookfile import load_runbook
from runbook.model import Runbook
from runbook.plan.listing import step_tree_lines
from runbook.plan.tags import select_steps, split_tags

BOOK = """
name: t
steps:
  - {name: prep, hosts: ., tags: prep, run: echo}
  - name: main
    hosts: .
    block:
      - {name: a, tags: [work], run: echo}
      - {name: b, run: echo}
    rescue:
      - {name: r, run: echo}
    always:
      - {name: tidy, run: echo}
  - {name: audit, hosts: ., tags: always, run: echo}
  - {name: last, hosts: ., run: echo}
"""


@pytest.fixture
def book(tmp_path: Path) -> Runbook:
    path = tmp_path / "book.yml"
    path.write_text(BOOK)
    return load_runbook(path)


def names(book: Runbook) -> list[str]:
    return [s.name for s in book.steps]


def test_tags_keep_tagged_steps_their_block_cleanup_and_always(book: Runbook) -> None:
    chosen = select_steps(book, tags={"work"})
    assert names(chosen) == ["a", "r", "tidy", "audit"]
    assert [s.index for s in chosen.steps] == [0, 1, 2, 3]
    [block] = chosen.blocks
    assert (block.first, block.last) == (0, 2)


def test_skip_tags_win_and_name_always(book: Runbook) -> None:
    assert names(select_steps(book, skip_tags={"always", "prep"})) == ["a", "b", "r", "tidy",
                                                                      "last"]
    assert names(select_steps(book, tags={"work"}, skip_tags={"work"})) == ["audit"]


def test_start_at_step_by_name_or_path(book: Runbook) -> None:
    assert names(select_steps(book, start_at="tidy")) == ["tidy", "audit", "last"]
    assert names(select_steps(book, start_at="block 'main' > b")) == ["b", "r", "tidy", "audit",
                                                                     "last"]
    with pytest.raises(ConfigError, match="did you mean 'audit'"):
        select_steps(book, start_at="audti")


def test_unknown_tag_is_an_error_with_did_you_mean(book: Runbook) -> None:
    with pytest.raises(ConfigError, match="no step has the tag 'wrk'; did you mean 'work'"):
        select_steps(book, tags={"wrk"})
    assert split_tags(["a,b", " c "]) == {"a", "b", "c"}


def test_list_steps_shows_the_tree(book: Runbook) -> None:
    lines = step_tree_lines(book)
    assert lines[0].startswith("1. prep  [prep]  ") and lines[0].endswith("book.yml:4")
    assert lines[1].startswith("block 'main'  ")
    assert lines[2:4] == ["  block:", "    2. a  [work]  " + lines[3].split("  ")[-1]]
    assert "  rescue:" in lines and "  always:" in lines
    assert lines[-1].startswith("7. last")
