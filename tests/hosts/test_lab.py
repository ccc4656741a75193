"""`Lab`: hosts by id in order, regex selection, duplicate ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runbook import ConfigError, Lab, LocalHost


def lab_of(*ids: str) -> Lab:
    return Lab([LocalHost(i) for i in ids])


def test_hosts_keep_order_and_point_back_to_the_lab() -> None:
    lab = lab_of("router1", "edge-router", "server")
    assert [h.id for h in lab.hosts] == ["router1", "edge-router", "server"]
    assert lab["server"].lab is lab
    assert "router1" in lab
    assert len(lab) == 3


def test_select_searches_the_regex_in_ids() -> None:
    lab = lab_of("router1", "edge-router", "server", "router2")
    assert [h.id for h in lab.select(re.compile("router"))] == ["router1", "edge-router", "router2"]
    assert [h.id for h in lab.select("^router")] == ["router1", "router2"]
    assert [h.id for h in lab.select(["server", "1$"])] == ["router1", "server"]
    assert lab.select("nothing") == []
    assert len(lab.select(None)) == 4


def test_duplicate_id_is_an_error() -> None:
    with pytest.raises(ConfigError, match="duplicate host id 'a'"):
        lab_of("a", "b", "a")


def test_unknown_id_names_it() -> None:
    with pytest.raises(KeyError, match="no host 'x'"):
        lab_of("a")["x"]


def test_default_lab_is_the_local_host() -> None:
    lab = Lab.default()
    assert [(type(h), h.id) for h in lab] == [(LocalHost, "local")]


def test_builtin_host_is_selected_only_by_its_whole_id() -> None:
    lab = Lab([LocalHost("router1"), LocalHost("localdb"), LocalHost("local")], builtin=["local"])
    assert [h.id for h in lab.select(".")] == ["router1", "localdb"]
    assert [h.id for h in lab.select("local")] == ["localdb", "local"]
    assert [h.id for h in lab.select("^local$")] == ["local"]
    assert [h.id for h in lab.select(["loc", "router"])] == ["router1", "localdb"]
    assert len(lab.select(None)) == 3


def test_lab_file_local_is_builtin_unless_defined(tmp_path: Path) -> None:
    from runbook.language.labfile import load_lab

    implicit = tmp_path / "implicit.yml"
    implicit.write_text("hosts:\n  r1: {address: 10.0.0.1}\n")
    lab = load_lab(implicit)
    assert [h.id for h in lab.select(".")] == ["r1"]
    assert [h.id for h in lab.select("local")] == ["local"]
    explicit = tmp_path / "explicit.yml"
    explicit.write_text("hosts:\n  r1: {address: 10.0.0.1}\n  local: {address: 127.0.0.1}\n")
    assert [h.id for h in load_lab(explicit).select(".")] == ["r1", "local"]


def test_bad_lab_arguments() -> None:
    with pytest.raises(TypeError, match="takes hosts"):
        Lab([1, 2])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        Lab.default().select("(")
