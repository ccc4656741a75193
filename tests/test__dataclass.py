"""`@frozen` and `@mutable` behave as the dataclasses they replace: the same repr, equality,
hashing, immutability, copying and pickling, with and without slots."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import field
from typing import Any

import pytest

from runbook._dataclass import frozen, mutable


def _body() -> dict[str, Any]:
    """One class body, given to ours and to `dataclasses.dataclass` alike."""
    return {
        "__annotations__": {"name": "str", "port": "int", "password": "str | None",
                            "note": "str", "tags": "tuple[str, ...]"},
        "password": field(default=None, repr=False),
        "note": field(default="", compare=False),
        "tags": (),
    }


def _ours(frozen_: bool = True, slots: bool = False) -> type:
    """The class `Host` made by `@frozen` or `@mutable`."""
    decorator = frozen if frozen_ else mutable
    return decorator(slots=slots)(type("Host", (), _body()))


def _pair(**options: Any) -> tuple[Any, Any]:
    """The same class made by ours and by `dataclasses.dataclass`."""
    theirs: type = dataclasses.dataclass(type("Host", (), _body()), frozen=options.get("frozen_", True),
                                   slots=options.get("slots", False))
    return _ours(**options), theirs


VARIANTS = [{}, {"slots": True}, {"frozen_": False}, {"frozen_": False, "slots": True}]


@pytest.mark.parametrize("options", VARIANTS)
def test_init_signature_matches_dataclass(options: dict[str, Any]) -> None:
    ours, theirs = _pair(**options)
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    assert ours.__match_args__ == theirs.__match_args__
    with pytest.raises(TypeError):
        ours("r1")


@pytest.mark.parametrize("decorator", [frozen, mutable])
def test_default_factories_give_each_instance_its_own_value(decorator: Any) -> None:
    bag: Any = decorator(type("Bag", (), {"__annotations__": {"name": "str", "items": "list[str]"},
                                          "items": field(default_factory=list)}))
    first, second = bag("a"), bag("b")
    first.items.append("x")
    assert (first.items, second.items, bag("c", ["y"]).items) == (["x"], [], ["y"])


def test_a_field_without_default_after_one_with_is_refused_as_by_dataclasses() -> None:
    body = {"__annotations__": {"a": "int", "b": "int"}, "a": 1}
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        frozen(type("Bad", (), dict(body)))
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        dataclasses.dataclass(type("Bad", (), dict(body)), frozen=True)


@pytest.mark.parametrize("options", VARIANTS)
def test_repr_matches_dataclass_and_hides_repr_false_fields(options: dict[str, Any]) -> None:
    ours, theirs = _pair(**options)
    args = ("r1", 22, "s3cret", "lab rack 4", ("edge",))
    assert repr(ours(*args)) == repr(theirs(*args))
    assert "s3cret" not in repr(ours(*args))


@pytest.mark.parametrize("options", VARIANTS)
def test_equality_uses_compared_fields_of_one_class(options: dict[str, Any]) -> None:
    ours, _ = _pair(**options)
    assert ours("r1", 22, note="a") == ours("r1", 22, note="b")  # note: compare=False
    assert ours("r1", 22) != ours("r1", 23)
    assert ours("r1", 22) != ("r1", 22, None, ())
    other = _ours(**options)
    assert ours("r1", 22) != other("r1", 22)


@pytest.mark.parametrize("options", [{}, {"slots": True}])
def test_frozen_classes_hash_like_dataclasses(options: dict[str, Any]) -> None:
    ours, theirs = _pair(**options)
    assert hash(ours("r1", 22, note="a")) == hash(ours("r1", 22, note="b"))
    assert len({ours("r1", 22), ours("r1", 22), ours("r2", 22)}) == 2
    unhashable: Any = frozen(type("Bag", (), {"__annotations__": {"items": "list[int]"}}))
    with pytest.raises(TypeError):
        hash(unhashable([1]))
    assert hash(theirs("r1", 22)) == hash(theirs("r1", 22))


@pytest.mark.parametrize("options", [{"frozen_": False}, {"frozen_": False, "slots": True}])
def test_mutable_classes_assign_and_are_unhashable(options: dict[str, Any]) -> None:
    ours, _ = _pair(**options)
    host = ours("r1", 22)
    host.port = 2222
    assert host == ours("r1", 2222)
    with pytest.raises(TypeError):
        hash(host)


@pytest.mark.parametrize("options", [{}, {"slots": True}])
def test_frozen_classes_refuse_assignment_and_deletion(options: dict[str, Any]) -> None:
    ours, _ = _pair(**options)
    host = ours("r1", 22)
    for name, value in (("port", 2), ("tags", ("x",)), ("extra", 1)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(host, name, value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        del host.name
    assert (host.name, host.port, host.tags) == ("r1", 22, ())


def test_post_init_may_set_a_derived_field_as_with_frozen_dataclasses() -> None:
    @frozen
    class Span:
        start: int
        end: int
        length: int = field(init=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "length", self.end - self.start)

    span = Span(3, 10)
    assert span.length == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        span.length = 1  # type: ignore[misc]


@pytest.mark.parametrize("options", VARIANTS)
def test_replace_copy_pickle_and_asdict_work(options: dict[str, Any]) -> None:
    ours, _ = _pair(**options)
    globals()["Host"] = ours  # pickle finds classes by module and name
    try:
        host = ours("r1", 22, "pw", "n", ("a",))
        assert dataclasses.replace(host, port=2) == ours("r1", 2, "pw", "n", ("a",))
        assert copy.deepcopy(host) == host
        assert copy.copy(host) == host
        assert pickle.loads(pickle.dumps(host)) == host
        assert dataclasses.asdict(host)["password"] == "pw"
        assert dataclasses.is_dataclass(host)
        assert [f.name for f in dataclasses.fields(host)] == [
            "name", "port", "password", "note", "tags"]
    finally:
        del globals()["Host"]


def test_slotted_classes_have_no_instance_dict() -> None:
    ours, _ = _pair(slots=True)
    assert not hasattr(ours("r1", 22), "__dict__")


def test_subclass_adds_fields_and_never_equals_its_base() -> None:
    @frozen
    class Base:
        name: str

    @frozen
    class Loaded(Base):
        origin: str = field(default="", compare=False, repr=False)

    assert Loaded("a", "x") == Loaded("a", "y")
    assert Loaded("a") != Base("a")
    assert repr(Loaded("a", "x")).endswith(".<locals>.Loaded(name='a')")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Loaded("a").origin = "z"  # type: ignore[misc]


def test_methods_written_in_the_class_body_are_kept() -> None:
    @frozen
    class Secret:
        value: str

        def __repr__(self) -> str:
            return "Secret(***)"

    assert repr(Secret("pw")) == "Secret(***)"
    assert Secret("pw") == Secret("pw")
