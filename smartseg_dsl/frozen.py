"""Frozen dataclasses that are cheap to build on the request path.

A frozen dataclass's generated ``__init__`` sets each field with
``object.__setattr__(self, name, value)`` (its own ``__setattr__`` refuses): a
global look-up and a call per field. `RequestInfo` (20 fields), `Outcome`,
`VisitorState` and `GroupView` are built on every request, where that costs
2–3 µs each. `fast_init` gives such a class an ``__init__`` with the same
signature, defaults and default factories that stores each field through its slot
descriptor (or straight into ``__dict__`` for a class without slots): two to
three times faster, and the class stays frozen (assignment still raises).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["fast_init"]

T = TypeVar("T")


class _Factory:
    """The default shown for a field with a default factory (as dataclasses shows it)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def fast_init(cls: type[T]) -> type[T]:
    """Replace the generated ``__init__`` of frozen dataclass `cls` (see module docs).

    Only plain fields are supported (no ``InitVar``, no ``kw_only``, no
    ``__post_init__``): anything else is refused, so a later change to the class
    cannot silently lose behaviour."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"fast_init: {cls.__name__} is not a frozen dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"fast_init: {cls.__name__} has a __post_init__")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    if len(fields) != len(dataclasses.fields(cls)) or any(f.kw_only for f in fields):
        raise TypeError(f"fast_init: {cls.__name__} has init=False or keyword-only fields")

    slotted = "__slots__" in cls.__dict__
    namespace: dict[str, Any] = {"_FACTORY": _FACTORY}
    args: list[str] = []
    body: list[str] = []
    if not slotted:
        body.append("    d = self.__dict__")
    for i, f in enumerate(fields):
        name = f.name
        if f.default is not dataclasses.MISSING:
            namespace[f"_d{i}"] = f.default
            args.append(f"{name}=_d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_f{i}"] = f.default_factory
            args.append(f"{name}=_FACTORY")
            body.append(f"    if {name} is _FACTORY: {name} = _f{i}()")
        else:
            args.append(name)
        if slotted:
            namespace[f"_s{i}"] = cls.__dict__[name].__set__
            body.append(f"    _s{i}(self, {name})")
        else:
            body.append(f"    d[{name!r}] = {name}")
    source = f"def __init__(self, {', '.join(args)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(compile(source, f"<fast_init {cls.__qualname__}>", "exec"), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[misc]
    return cls
