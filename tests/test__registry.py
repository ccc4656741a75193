"""The generic plugin register (runbook._registry.Registry) with a base class of its own, apart
from the power and lock registers that use it (tests/power/test_registry.py,
tests/locks/test_lock_registry.py)."""

from __future__ import annotations

import abc
from typing import ClassVar

import pytest

from runbook._registry import Registry
from runbook.errors import LockSpecError


class Widget(abc.ABC):
    """A plugin base for the tests."""

    type_name: ClassVar[str] = ""

    @abc.abstractmethod
    def spin(self) -> str: ...


class Gear(Widget):
    type_name = "gear"

    def spin(self) -> str:
        return "gear"


class Cog(Widget):
    type_name = "sprocket"

    def spin(self) -> str:
        return "cog"


def widgets(*, check_type_name: bool = False) -> Registry[Widget]:
    return Registry(base=Widget, kind="widget", group="runbook.tests_no_such_group",
                    builtins={"gear": f"{__name__}:Gear", "cog": f"{__name__}:Cog",
                              "gone": "runbook_no_such_module:Gear",
                              "plain": f"{__name__}:Widget", "text": "os:sep"},
                    error=LockSpecError, check_type_name=check_type_name)


def test_builtins_load_on_first_use_and_unknown_names_get_a_hint() -> None:
    registry = widgets()
    assert registry.names() == ["cog", "gear", "gone", "plain", "text"]
    assert registry.get("gear") is Gear
    with pytest.raises(LockSpecError) as info:
        registry.get("geer")
    message = str(info.value)
    assert info.value.key == "type"
    assert message.startswith("unknown widget type 'geer'; did you mean 'gear'? (known types: ")
    assert "'runbook.tests_no_such_group'" in message


@pytest.mark.parametrize(("name", "text"), [
    ("gone", "built-in widget 'gone' could not be loaded: ModuleNotFoundError"),
    ("plain", f"is broken: {__name__}:Widget does not implement spin"),
    ("text", "is broken: os:sep is not a Widget subclass"),
])
def test_a_broken_builtin_says_why(name: str, text: str) -> None:
    with pytest.raises(LockSpecError) as info:
        widgets().get(name)
    assert text in str(info.value) and info.value.key == "type"


def test_type_name_is_checked_only_when_asked() -> None:
    assert widgets().get("cog") is Cog
    with pytest.raises(LockSpecError, match="declares type_name 'sprocket'"):
        widgets(check_type_name=True).get("cog")
    loose = widgets()
    loose.register("sprocket2", Cog)
    with pytest.raises(ValueError, match="type_name is 'sprocket'"):
        widgets(check_type_name=True).register("sprocket2", Cog)


def test_register_refuses_taken_names_abstract_classes_and_strangers() -> None:
    registry = widgets()
    with pytest.raises(ValueError, match="widget type 'gear' is already registered"):
        registry.register("gear", Gear)
    with pytest.raises(TypeError, match="Widget does not implement spin"):
        registry.register("base", Widget)
    with pytest.raises(TypeError, match="is not a Widget subclass"):
        registry.register("int", int)
    registry.register("gear", Cog, overwrite=True)
    assert registry.get("gear") is Cog
    assert "gear" not in widgets()._classes  # each register has its own dict
