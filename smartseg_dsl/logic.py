"""The interval solver behind SEG401–SEG403: can a condition be true, be false, imply another?

A condition is first turned (by the checker) into negation normal form over
*atoms*; `Reasoner.sat` then runs a small DPLL-style search with interval
arithmetic per term. The search is exhaustive up to a step budget; past it the
answer is "could be", so the checker never claims impossibility it has not
proved. `conj` and `disj` build nodes, simplifying constants on the way;
`keys_of` lists the terms a node constrains.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "COMPARE",
    "FLIP",
    "NEGATE",
    "UNKNOWN",
    "Dom",
    "F",
    "Node",
    "Reasoner",
    "T",
    "cmp",
    "conj",
    "disj",
    "keys_of",
]


# ================================================================== the atoms
#
# A condition in negation normal form is a tree of tuples, built once and never
# mutated (sharing is safe):
#   ("T",) / ("F",)                 constant true / false
#   ("?",)                          something the reasoning does not model
#   ("and", (node, …)) / ("or", (node, …))
#   ("num", key, op, value, dom)    term `key` (has a value and) satisfies `op value`
#   ("null", key, is_none, dom)     term `key` is / is not none
#   ("disc", key, equal, value)     discrete term `key` == / != value
#   ("bool", key, value)            opaque flag `key` is true / false
# `dom` = (low, high, integer, nullable): the values the term can take at all.
# Every atom carries `src`, the comparison it came from, as its last element.

Node = tuple[object, ...]
Dom = tuple[float, float, bool, bool]

T: Node = ("T",)
F: Node = ("F",)
UNKNOWN: Node = ("?",)

NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


#: A comparison operator of the language → the function that applies it.
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def cmp(op: str, a: float, b: float) -> bool:
    return COMPARE[op](a, b)


class _GiveUp(Exception):
    """The search ran out of steps: the answer is "could be true"."""


# A numeric state: (lo, lo_strict, hi, hi_strict, excluded, null) where null is
# True (must be none), False (must be a value) or None (either).
NumState = tuple[float, bool, float, bool, frozenset[float], bool | None]
_UNSET = object()


def _num_init(dom: Dom) -> NumState:
    lo, hi, _integer, nullable = dom
    return (lo, False, hi, False, frozenset(), None if nullable else False)


def _num_add(state: NumState, op: str, c: float, integer: bool) -> NumState | None:
    lo, los, hi, his, excl, _null = state
    if op == "!=":
        excl = excl | {c}
    else:
        if op in (">", ">=", "=="):
            strict = op == ">"
            if integer:
                c2 = math.floor(c) + 1 if strict else math.ceil(c)
                if c2 > lo or (c2 == lo and los):
                    lo, los = float(c2), False
            elif c > lo or (c == lo and strict and not los):
                lo, los = c, strict
        if op in ("<", "<=", "=="):
            strict = op == "<"
            if integer:
                c2 = math.ceil(c) - 1 if strict else math.floor(c)
                if c2 < hi or (c2 == hi and his):
                    hi, his = float(c2), False
            elif c < hi or (c == hi and strict and not his):
                hi, his = c, strict
    new: NumState = (lo, los, hi, his, excl, False)
    return None if _num_empty(new, integer) else new


def _num_empty(state: NumState, integer: bool) -> bool:
    lo, los, hi, his, excl, _null = state
    if lo > hi or (lo == hi and (los or his)):
        return True
    if lo == hi and lo in excl:
        return True
    if integer and excl and hi - lo <= 64:
        first = math.ceil(lo)
        return all(float(v) in excl for v in range(first, math.floor(hi) + 1))
    return False


def _num_allows(state: NumState | None, value: float) -> bool:
    if state is None:
        return True
    lo, los, hi, his, excl, null = state
    if null is True or value in excl:
        return False
    above = value > lo or (value == lo and not los)
    below = value < hi or (value == hi and not his)
    return above and below


class _Env:
    """One branch of the search: the constraints gathered so far, per term."""

    __slots__ = ("facts", "reasoner")

    def __init__(self, reasoner: Reasoner, facts: dict[object, object] | None = None) -> None:
        self.reasoner = reasoner
        self.facts: dict[object, object] = {} if facts is None else facts

    def copy(self) -> _Env:
        return _Env(self.reasoner, dict(self.facts))

    def add(self, atom: Node) -> bool:
        tag = atom[0]
        key = atom[1]
        facts = self.facts
        if tag == "num":
            _, _, op, value, dom, _src = atom
            current = facts.get(key)
            state = _num_init(dom) if current is None else current
            if state[5] is True:  # type: ignore[index]
                return False
            new = _num_add(state, op, value, dom[2])  # type: ignore[arg-type, index]
            if new is None:
                return False
            facts[key] = new
            return True
        if tag == "null":
            _, _, is_none, dom, _src = atom
            current = facts.get(key)
            state = _num_init(dom) if current is None else current  # type: ignore[arg-type]
            lo, los, hi, his, excl, null = state  # type: ignore[misc]
            if null is not None and null != is_none:
                return False
            facts[key] = (lo, los, hi, his, excl, is_none)
            return True
        if tag == "disc":
            _, _, equal, value, _src = atom
            eq, ne = facts.get(key, (_UNSET, frozenset()))  # type: ignore[misc]
            if equal:
                if (eq is not _UNSET and eq != value) or value in ne:
                    return False
                eq = value
            else:
                if eq is not _UNSET and eq == value:
                    return False
                ne = ne | {value}
                domain = self.reasoner.domain(key)
                if domain is not None and domain <= ne:
                    return False
            facts[key] = (eq, ne)
            return True
        if tag == "bool":
            _, _, value, _src = atom
            current = facts.get(key)
            if current is not None and current != value:
                return False
            facts[key] = value
            return True
        return True

    # -- relations between terms of one group (SPEC §1.2)
    def consistent(self) -> bool:
        groups: set[str] = set()
        for key in self.facts:
            if isinstance(key, tuple) and key[0] in ("conf", "certain", "ml", "known"):
                groups.add(key[1])  # type: ignore[arg-type]
        return all(self._group_ok(g) for g in groups)

    def _group_ok(self, group: str) -> bool:
        facts = self.facts
        segments = self.reasoner.segments_of(group)
        certain_eq, certain_ne = facts.get(("certain", group), (_UNSET, frozenset()))  # type: ignore[misc]
        forced = certain_eq
        confs: dict[str, NumState] = {}
        for seg in segments:
            st = facts.get(("conf", group, seg))
            if st is None:
                continue
            confs[seg] = st  # type: ignore[assignment]
            if st[0] >= 1:  # type: ignore[index]
                # implicit evidence alone never reaches 1: only a certain segment has it
                if (forced is not _UNSET and forced != seg) or seg in certain_ne:
                    return False
                forced = seg
        known = facts.get(("known", group))
        ml_eq, ml_ne = facts.get(("ml", group), (_UNSET, frozenset()))  # type: ignore[misc]
        if forced is not _UNSET and forced is not None:
            if known is False:
                return False
            if not _num_allows(confs.get(forced), 1.0):  # type: ignore[arg-type]
                return False
            if any(not _num_allows(st, 0.0) for s, st in confs.items() if s != forced):
                return False
            return not ((ml_eq is not _UNSET and ml_eq != forced) or forced in ml_ne)
        positive = [st for st in confs.values() if st[0] > 0 or (st[0] == 0 and st[1])]
        if len(positive) >= 2 and sum(st[0] for st in positive) >= 1:
            # several segments with evidence: nobody is certain, and the shares of a
            # group add up to less than 1 (the prior takes the rest)
            return False
        if ml_eq is not _UNSET and ml_eq is not None:
            st = confs.get(ml_eq)  # type: ignore[arg-type]
            if st is not None and st[2] <= 0:  # most likely has a positive score
                return False
        return True


class Reasoner:
    """Satisfiability of NNF conditions within a step budget."""

    MAX_STEPS = 20_000

    def __init__(self, segments_of: Callable[[str], list[str]], devices: Iterable[str]) -> None:
        self.segments_of = segments_of
        self.devices = frozenset(devices)
        self._domains: dict[object, frozenset[object] | None] = {}

    def domain(self, key: object) -> frozenset[object] | None:
        if key not in self._domains:
            dom: frozenset[object] | None = None
            if isinstance(key, tuple):
                if key[0] in ("ml", "certain"):
                    dom = frozenset([*self.segments_of(key[1]), None])
                elif key[0] == "device":
                    dom = self.devices
            self._domains[key] = dom
        return self._domains[key]

    def sat(self, nodes: Sequence[Node]) -> bool:
        """Can all of `nodes` hold at once? (True when unsure.)"""
        try:
            return self._search(list(nodes))
        except _GiveUp:
            return True

    def _search(self, start: list[Node]) -> bool:
        steps = 0
        stack: list[tuple[list[Node], _Env]] = [(start, _Env(self))]
        while stack:
            todo, env = stack.pop()
            ok = True
            while todo:
                steps += 1
                if steps > self.MAX_STEPS:
                    raise _GiveUp
                node = todo.pop()
                tag = node[0]
                if tag == "and":
                    todo.extend(node[1])  # type: ignore[arg-type]
                elif tag == "or":
                    arms: tuple[Node, ...] = node[1]  # type: ignore[assignment]
                    for arm in arms[1:]:
                        stack.append(([*todo, arm], env.copy()))
                    todo.append(arms[0])
                elif tag == "F":
                    ok = False
                    break
                elif tag in ("T", "?"):
                    continue
                elif not env.add(node):
                    ok = False
                    break
            if ok and env.consistent():
                return True
        return False


def conj(parts: Sequence[Node]) -> Node:
    flat: list[Node] = []
    for p in parts:
        if p[0] == "F":
            return F
        if p[0] == "T":
            continue
        if p[0] == "and":
            flat.extend(p[1])  # type: ignore[arg-type]
        else:
            flat.append(p)
    if not flat:
        return T
    return flat[0] if len(flat) == 1 else ("and", tuple(flat))


def disj(parts: Sequence[Node]) -> Node:
    flat: list[Node] = []
    for p in parts:
        if p[0] == "T":
            return T
        if p[0] == "F":
            continue
        if p[0] == "or":
            flat.extend(p[1])  # type: ignore[arg-type]
        else:
            flat.append(p)
    if not flat:
        return F
    if any(p[0] == "?" for p in flat):
        return UNKNOWN  # one unmodelled arm can always be the true one
    return flat[0] if len(flat) == 1 else ("or", tuple(flat))


def keys_of(node: Node, out: set[object]) -> set[object]:
    """The terms a condition constrains."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n[0] in ("and", "or"):
            stack.extend(n[1])  # type: ignore[arg-type]
        elif n[0] in ("num", "null", "disc", "bool"):
            out.add(n[1])
    return out
