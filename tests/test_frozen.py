"""`frozen.fast_init`: the request path's frozen dataclasses keep their contract
(signature, defaults, fresh default factories, frozen) with a faster ``__init__``."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl import engine, rewrite, state
from smartseg_dsl.frozen import fast_init

FAST = [engine.RequestInfo, engine.GroupView, engine.Outcome, state.VisitorState]
FAST += [rewrite.Replace, rewrite.Order]


def _plain_twin(cls: type) -> type:
    """The same fields as a dataclass with the generated ``__init__``."""
    spec = []
    for f in dataclasses.fields(cls):
        extra = {}
        if f.default is not dataclasses.MISSING:
            extra["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            extra["default_factory"] = f.default_factory
        spec.append((f.name, f.type, field(**extra)))  # type: ignore[call-overload]
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True)


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_same_signature_as_the_generated_init(cls: type) -> None:
    twin = _plain_twin(cls)
    mine, theirs = inspect.signature(cls), inspect.signature(twin)
    assert [(p.name, p.kind) for p in mine.parameters.values()] == [
        (p.name, p.kind) for p in theirs.parameters.values()
    ]
    for p, q in zip(mine.parameters.values(), theirs.parameters.values(), strict=True):
        assert repr(p.default) == repr(q.default), p.name
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"


@pytest.mark.parametrize("cls", FAST, ids=lambda c: c.__name__)
def test_defaults_and_fresh_factories(cls: type) -> None:
    fields = dataclasses.fields(cls)
    required = {
        f.name: object()
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    a, b = cls(**required), cls(**required)
    for f in fields:
        value = getattr(a, f.name)
        if f.name in required:
            assert value is required[f.name]
        elif f.default is not dataclasses.MISSING:
            assert value is f.default
        else:
            assert value == f.default_factory()  # type: ignore[misc]
            assert value is not getattr(b, f.name) or not isinstance(value, dict | list | set)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(a, fields[0].name, 1)


@given(data=st.data())
def test_every_field_stored_positionally_and_by_name(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(FAST))
    fields = dataclasses.fields(cls)
    values = [data.draw(st.integers() | st.text(max_size=5) | st.none()) for _ in fields]
    by_position = cls(*values)
    by_name = cls(**{f.name: v for f, v in zip(fields, values, strict=True)})
    twin = _plain_twin(cls)(*values)
    for f, v in zip(fields, values, strict=True):
        assert getattr(by_position, f.name) == v == getattr(by_name, f.name)
        assert getattr(twin, f.name) == v
    assert by_position == by_name


def test_refuses_what_it_cannot_keep() -> None:
    @dataclass
    class Mutable:
        x: int

    @dataclass(frozen=True)
    class Post:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, kw_only=True)
    class KwOnly:
        x: int

    for cls in (Mutable, Post, KwOnly):
        with pytest.raises(TypeError, match="fast_init"):
            fast_init(cls)
