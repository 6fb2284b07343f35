"""The partial-render cache: `replace slot … with template` without re-rendering.

A partial's output depends on what it reads. When a template reads nothing but
`visitor` (and the environment's globals, which must be pure functions, as the
site's helpers are), its output is a function of the answers `visitor` gave it:
the first render records each call (`visitor.most_likely("Industry")` → "Legal",
`visitor.certain("Industry.Legal")` → True…) in order, and the output is stored at
the end of that path in a tree per template. A later request replays the path
against its own visitor, one call at a time, following the branch whose recorded
answer prints exactly as the new one (`_answer_key`; equality is not enough: 1, 1.0
and True are equal): a complete path is a hit (byte for byte the output a render
would produce); a new answer is a miss, rendered and added beside.

Exact by construction, with one condition checked statically per template: its
source, and the source of every template it includes, imports or extends (named by
constants), names no variable but `visitor` and the environment's globals (Jinja's
`meta` module tells). A template that reads `request`, `smartseg` or anything else
is always rendered.

Bounded: at most `max_entries` outputs and `max_bytes` of output text in all; when
full, a template's tree is dropped whole (oldest template first). A reloaded
template is a new `Template` object, hence a new tree.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import jinja2
from jinja2 import meta, nodes

__all__ = ["PartialCache", "Tracer"]

_Call = tuple[str, tuple[Any, ...], bool]  # (attribute, args, called)


class _Node:
    """A call to replay and the answers seen so far; `output` at the end of a path.

    `branches` maps each answer's `_answer_key` to the node after it: one look-up
    (a node of a percentage or a score has a branch per distinct value, and a linear
    scan of them cost several µs a request)."""

    __slots__ = ("branches", "call", "output")

    def __init__(self) -> None:
        self.call: _Call | None = None
        self.branches: dict[Hashable, _Node] = {}
        self.output: str | None = None


_SCALARS = frozenset({str, int, bool, type(None), bytes})


def _answer_key(value: Any) -> Hashable | None:
    """What an answer prints as, exactly, as a dict key; None for an answer that is not
    replayable (the render then never comes from, nor goes to, the cache).

    Equality is not enough: 1, 1.0 and True are equal but print differently, as do
    0.0 and -0.0, and (1, 2) and (1.0, 2). Scalars are keyed with their type, floats by
    their repr, tuples and lists and dicts element by element (in order); a set (whose
    order of printing is not a function of its value) or any other object is not
    replayable. The views answer with scalars."""
    t = type(value)
    if t in _SCALARS:
        return (t, value)
    if t is float:
        return (t, repr(value))
    if t is tuple or t is list:
        keys = tuple(_answer_key(v) for v in value)
        return None if None in keys else (t, keys)
    if t is dict:
        items = tuple((_answer_key(k), _answer_key(v)) for k, v in value.items())
        return None if any(None in kv for kv in items) else (t, items)
    return None


class Tracer:
    """Stands for `visitor` in a render: answers as the real view does, and records."""

    __slots__ = ("_calls", "_view")

    def __init__(self, view: Any) -> None:
        self._view = view
        self._calls: list[tuple[_Call, Any]] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._view, name)
        if callable(value):
            calls = self._calls

            def call(*args: Any, **kwargs: Any) -> Any:
                if kwargs:  # not replayable as recorded: make the render uncacheable
                    calls.append((("", (), False), _UNCACHEABLE))
                result = value(*args, **kwargs)
                calls.append(((name, args, True), result))
                return result

            return call
        self._calls.append(((name, (), False), value))
        return value

    # `{{ visitor }}` prints the view: what it prints is an answer like any other
    def __str__(self) -> str:
        text = str(self._view)
        self._calls.append((("__str__", (), True), text))
        return text

    def __repr__(self) -> str:
        text = repr(self._view)
        self._calls.append((("__repr__", (), True), text))
        return text


#: recorded for a call that cannot be replayed: `_answer_key` has no key for it
_UNCACHEABLE = object()


def _replay(view: Any, call: _Call) -> Any:
    name, args, called = call
    value = getattr(view, name)
    return value(*args) if called else value


class PartialCache:
    def __init__(self, max_entries: int = 4096, max_bytes: int = 8 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._trees: dict[jinja2.Template, _Node] = {}
        self._cacheable: dict[jinja2.Template, bool] = {}
        self._entries = 0
        self._bytes = 0
        self.hits = self.misses = 0

    def cacheable(self, env: jinja2.Environment, name: str, template: jinja2.Template) -> bool:
        """Does this template read nothing but `visitor` and the globals?"""
        known = self._cacheable.get(template)
        if known is None:
            try:
                known = _reads_only_visitor(env, name)
            except Exception:  # no source to inspect: never cached
                known = False
            if len(self._cacheable) > 1024:
                self._cacheable.clear()
            self._cacheable[template] = known
        return known

    def get(self, template: jinja2.Template, view: Any) -> str | None:
        """The stored output for this visitor's answers, or None."""
        node = self._trees.get(template)
        while node is not None:
            if node.output is not None:
                self.hits += 1
                return node.output
            call = node.call
            if call is None:
                break
            try:
                key = _answer_key(_replay(view, call))
            except Exception:
                break  # the render will raise (or log) as it would have
            node = node.branches.get(key) if key is not None else None
        self.misses += 1
        return None

    def put(self, template: jinja2.Template, tracer: Tracer, output: str) -> None:
        """Store `output` at the end of the path `tracer` recorded."""
        calls = tracer._calls
        keys = [_answer_key(answer) for _, answer in calls]
        if None in keys:
            # an answer that cannot be compared exactly (or `_UNCACHEABLE`): never stored
            return
        size = len(output)
        if size > self.max_bytes // 16:
            return
        while self._trees and (
            self._entries >= self.max_entries or self._bytes + size > self.max_bytes
        ):
            self._drop_oldest()
        node = self._trees.get(template)
        if node is None:
            node = self._trees[template] = _Node()
        for (call, _answer), key in zip(calls, keys, strict=True):
            if node.output is not None:
                return  # a shorter path already ends here (cannot differ: same answers)
            if node.call is None:
                node.call = call
            elif node.call != call:
                return  # the same answers led elsewhere: not deterministic, do not store
            child = node.branches.get(key)
            if child is None:
                child = node.branches[key] = _Node()
            node = child
        if node.output is None and node.call is None:
            node.output = output
            self._entries += 1
            self._bytes += size

    def _drop_oldest(self) -> None:
        template = next(iter(self._trees))
        entries, size = _count(self._trees.pop(template))
        self._entries -= entries
        self._bytes -= size

    def clear(self) -> None:
        self._trees.clear()
        self._cacheable.clear()
        self._entries = self._bytes = 0


#: what a partial's render context holds besides `visitor` and the globals
_CONTEXT_ONLY = frozenset({"request", "smartseg"})


def _reads_only_visitor(env: jinja2.Environment, name: str) -> bool:
    """Can this template, and every template it includes, imports or extends (each named
    by a constant), read nothing of its render context but `visitor`?

    A name the template does not define resolves to the context, else to a global,
    else is undefined: only `request` and `smartseg` would read this request. A
    global, filter or test taking the context (`@pass_context`) could read anything,
    and Jinja's `random` filter and `lipsum` differ per render: a template using one is
    never cached."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if len(seen) > 64:
            return False
        assert env.loader is not None
        tree = env.parse(env.loader.get_source(env, current)[0])
        names = meta.find_undeclared_variables(tree)
        if names & _CONTEXT_ONLY:
            return False
        # (`meta` leaves the globals out of `names`: every loaded name is looked at)
        for node in tree.find_all(nodes.Name):
            if node.ctx == "load" and _takes_context(env.globals.get(node.name)):
                return False
        for node in tree.find_all((nodes.Filter, nodes.Test)):
            table = env.filters if isinstance(node, nodes.Filter) else env.tests
            if _takes_context(table.get(node.name)):
                return False
        for ref in meta.find_referenced_templates(tree):
            if ref is None:  # a template chosen at run time: cannot tell
                return False
            todo.append(ref)
    return True


def _takes_context(fn: object) -> bool:
    """Reads the render context (`@pass_context`), or is one of Jinja's impure built-ins."""
    if fn is None:
        return False
    if fn in _IMPURE:
        return True
    if fn in _BUILT_IN:  # map, select…: the context only for its environment
        return False
    arg = getattr(fn, "jinja_pass_arg", None)
    return arg is not None and getattr(arg, "name", "") == "context"


_BUILT_IN: tuple[object, ...] = (
    *jinja2.defaults.DEFAULT_FILTERS.values(),
    *jinja2.defaults.DEFAULT_TESTS.values(),
)
_IMPURE: tuple[object, ...] = (
    jinja2.defaults.DEFAULT_FILTERS["random"],
    jinja2.defaults.DEFAULT_NAMESPACE["lipsum"],
)


def _count(node: _Node) -> tuple[int, int]:
    entries = size = 0
    stack = [node]
    while stack:
        n = stack.pop()
        if n.output is not None:
            entries += 1
            size += len(n.output)
        stack.extend(n.branches.values())
    return entries, size
