"""An index of the names of a rule set, with their spans, built from the AST.

Each *occurrence* is a definition or a use of a group, segment (`Group.Segment`),
audience, goal or experiment, or a use of a built-in function or value. The
language server answers hover, definition, references, rename and completion
from it. Building it is one walk over the parsed files: no checker involved, so
it is available while the checker still runs (or for a file with syntax errors:
whatever the parser kept).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from .. import ast
from ..symbols import FUNCTIONS, VALUES

__all__ = ["Index", "Kind", "Occurrence", "build_index"]

Kind: TypeAlias = Literal[
    "group", "segment", "audience", "goal", "experiment", "function", "value", "variant"
]
#: Kinds whose occurrences are definitions and uses of the rule set's own names.
NAMED_KINDS: frozenset[str] = frozenset({"group", "segment", "audience", "goal", "experiment"})
#: Group functions: their single-name argument is a group.
_GROUP_FUNCTIONS = frozenset(n for n, f in FUNCTIONS.items() if f.arg == "group")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A name at a place: `name` is qualified for segments (`Industry.Legal`)."""

    kind: Kind
    name: str
    file: str
    span: ast.Span
    definition: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


@dataclass(slots=True)
class Index:
    """Occurrences by file (in source order) and by name; definitions with their nodes."""

    by_file: dict[str, list[Occurrence]] = field(default_factory=dict)
    by_key: dict[tuple[str, str], list[Occurrence]] = field(default_factory=dict)
    #: (kind, name) → the AST node of its first definition, and its file
    nodes: dict[tuple[str, str], tuple[str, object]] = field(default_factory=dict)
    #: file → its `# smartseg: ignore[…]` comments
    comments: dict[str, tuple[ast.Comment, ...]] = field(default_factory=dict)
    _starts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def add(self, occ: Occurrence, node: object = None) -> None:
        self.by_file.setdefault(occ.file, []).append(occ)
        self.by_key.setdefault(occ.key, []).append(occ)
        if occ.definition and node is not None:
            self.nodes.setdefault(occ.key, (occ.file, node))

    def finish(self) -> None:
        for file, occs in self.by_file.items():
            occs.sort(key=lambda o: (o.span.line, o.span.column))
            self._starts[file] = [(o.span.line, o.span.column) for o in occs]

    def at(self, file: str, line: int, column: int) -> Occurrence | None:
        """The occurrence covering a 1-based line and column (the end column too)."""
        occs = self.by_file.get(file)
        if not occs:
            return None
        i = bisect.bisect_right(self._starts[file], (line, column)) - 1
        for j in (i, i - 1):
            if 0 <= j < len(occs):
                o = occs[j]
                s = o.span
                if s.line == line == s.end_line and s.column <= column <= s.end_column:
                    return o
        return None

    def definition(self, kind: str, name: str) -> Occurrence | None:
        for occ in self.by_key.get((kind, name), ()):
            if occ.definition:
                return occ
        return None

    def node(self, kind: str, name: str) -> tuple[str, object] | None:
        return self.nodes.get((kind, name))

    def references(self, kind: str, name: str) -> list[Occurrence]:
        return list(self.by_key.get((kind, name), ()))

    def names(self, kind: str) -> list[str]:
        """Defined names of one kind, in definition order."""
        return list(
            dict.fromkeys(n for (k, n), occs in self.by_key.items() if k == kind and _defined(occs))
        )

    def segments_of(self, group: str) -> list[str]:
        prefix = group + "."
        return [n[len(prefix) :] for n in self.names("segment") if n.startswith(prefix)]


def _defined(occs: Sequence[Occurrence]) -> bool:
    return any(o.definition for o in occs)


def build_index(files: Iterable[ast.RuleFile]) -> Index:
    """Index every name of the given parsed files (a whole rule set)."""
    files = list(files)
    audiences = {i.name.value for f in files for i in f.items if isinstance(i, ast.Audience)}
    index = Index()
    for f in files:
        index.comments[f.path] = f.comments
        _Walker(index, f.path, audiences).items(f.items)
    index.finish()
    return index


class _Walker:
    def __init__(self, index: Index, file: str, audiences: set[str]) -> None:
        self.index = index
        self.file = file
        self.audiences = audiences

    def occ(self, kind: Kind, name: str, span: ast.Span, node: object = None) -> None:
        if span.line < 1:
            return
        self.index.add(Occurrence(kind, name, self.file, span, node is not None), node)

    def items(self, items: Iterable[ast.Item]) -> None:
        for item in items:
            if isinstance(item, ast.Group):
                g = item.name.value
                self.occ("group", g, item.name.span, item)
                for seg in item.segments:
                    self.occ("segment", f"{g}.{seg.name.value}", seg.name.span, seg)
            elif isinstance(item, ast.Audience):
                self.occ("audience", item.name.value, item.name.span, item)
                self.expr(item.condition)
            elif isinstance(item, ast.Rule):
                if item.condition is not None:
                    self.expr(item.condition)
                self.actions(item.actions)
            elif isinstance(item, ast.Goal):
                self.occ("goal", item.name.value, item.name.span, item)
                if not isinstance(item.condition, ast.Matcher):
                    self.expr(item.condition)
                if item.value is not None:
                    self.expr(item.value)
            elif isinstance(item, ast.Experiment):
                self.occ("experiment", item.name.value, item.name.span, item)
                for part in item.body:
                    if isinstance(part, ast.Eligibility):
                        self.expr(part.condition)
                    elif isinstance(part, ast.Variant):
                        self.occ(
                            "variant", f"{item.name.value}.{part.name.value}", part.name.span, part
                        )
                        self.actions(part.actions)
                    elif isinstance(part, ast.ExperimentGoal):
                        self.occ("goal", part.name.value, part.name.span)

    def actions(self, actions: Iterable[ast.Action]) -> None:
        for action in actions:
            if isinstance(action, ast.OrderSlot):
                self.occ("group", action.group.value, action.group.span)
            elif isinstance(action, ast.ShowSurvey) and action.about is not None:
                self.ref(action.about, group_context=True)

    def ref(self, ref: ast.Ref, group_context: bool = False) -> None:
        g = ref.group.value
        if ref.segment is not None:
            self.occ("group", g, ref.group.span)
            self.occ("segment", f"{g}.{ref.segment.value}", ref.segment.span)
        elif g in self.audiences and not group_context:
            self.occ("audience", g, ref.group.span)
        elif g in VALUES and not group_context:
            self.occ("value", g, ref.group.span)
        else:
            self.occ("group", g, ref.group.span)

    def expr(self, e: ast.Expr) -> None:
        for node in ast.walk(e, into_calls=False):
            if isinstance(node, ast.Ref):
                self.ref(node)
            elif isinstance(node, ast.Call):
                self.occ("function", node.func.value, node.func.span)
                for arg in node.args:
                    if isinstance(arg, ast.Ref) and node.func.value in _GROUP_FUNCTIONS:
                        self.ref(arg, group_context=True)
                    elif isinstance(arg, ast.MatcherArg):
                        continue
                    else:
                        self.expr(arg)
