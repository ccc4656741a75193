"""`Lab`: hosts by id in order, regex selection, duplicate ids."""

from __future__ import annotations

import re

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
