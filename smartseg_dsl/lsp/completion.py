"""Completion candidates: `Group.` → its segments; else functions, values, names, keywords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..ast import KEYWORDS
from ..symbols import FUNCTIONS, VALUES
from .hover import VALUE_DOCS, function_signature
from .index import Index

__all__ = ["Candidate", "complete"]

CandidateKind = Literal["segment", "function", "value", "audience", "goal", "group", "keyword"]

_MEMBER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z0-9_]*)$")
_EXPERIMENT_GOAL = re.compile(r"^\s*goal\s+([A-Za-z0-9_]*)$")
_BUILTINS = frozenset(FUNCTIONS) | frozenset(VALUES)


@dataclass(frozen=True, slots=True)
class Candidate:
    label: str
    kind: CandidateKind
    detail: str = ""
    documentation: str = ""
    insert_text: str | None = None


def complete(index: Index, line_before: str) -> list[Candidate]:
    """Candidates for the text of the line before the cursor."""
    m = _MEMBER.search(line_before)
    if m is not None:
        group = m.group(1)
        found = index.node("group", group)
        out = []
        for seg in index.segments_of(group):
            node = index.node("segment", f"{group}.{seg}")
            label = getattr(getattr(node[1], "label", None), "value", "") if node else ""
            out.append(
                Candidate(seg, "segment", f"segment of {group}" + (f": {label}" if label else ""))
            )
        return out if found is not None else []
    if _EXPERIMENT_GOAL.match(line_before):
        return [Candidate(g, "goal", "goal") for g in index.names("goal")]
    out = [
        Candidate(
            fn.name,
            "function",
            function_signature(fn),
            f"{fn.doc}\n\nExample: `{fn.example}`",
            insert_text=f"{fn.name}(",
        )
        for fn in FUNCTIONS.values()
    ]
    out += [
        Candidate(v, "value", f"{v} → {t.describe()}", VALUE_DOCS[v]) for v, t in VALUES.items()
    ]
    out += [Candidate(a, "audience", "audience") for a in index.names("audience")]
    out += [Candidate(g, "group", "group") for g in index.names("group")]
    out += [Candidate(g, "goal", "goal") for g in index.names("goal")]
    out += [Candidate(k, "keyword") for k in sorted(KEYWORDS - _BUILTINS)]
    return out
