"""Rename and code actions as plain edits (1-based lines, columns in characters)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..ast import KEYWORDS
from ..diagnostics import UNSUPPRESSIBLE_CLASSES
from .index import Index, Occurrence

__all__ = ["Action", "Edit", "RenameError", "code_actions", "rename_edits"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`\?")
_WRITE = re.compile(r"^write `([^`]+)`")
#: kinds that can be renamed, and how a user would call them
RENAMABLE = {
    "group": "group",
    "segment": "segment",
    "audience": "audience",
    "goal": "goal",
    "experiment": "experiment",
}


@dataclass(frozen=True, slots=True)
class Edit:
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    text: str


@dataclass(frozen=True, slots=True)
class Action:
    title: str
    edits: tuple[Edit, ...]
    preferred: bool = False


class RenameError(Exception):
    """The new name is not acceptable; the message says why."""


def _edit(occ: Occurrence, text: str) -> Edit:
    s = occ.span
    return Edit(occ.file, s.line, s.column, s.end_line, s.end_column, text)


def rename_edits(index: Index, occ: Occurrence, new_name: str) -> list[Edit]:
    """Every edit renaming the name under `occ`, across the files of the rule set."""
    if occ.kind not in RENAMABLE:
        raise RenameError(f"a {occ.kind} cannot be renamed")
    if not _NAME.match(new_name):
        raise RenameError(f"`{new_name}` is not a name: letters, digits and _, not first a digit")
    if new_name in KEYWORDS:
        raise RenameError(f"`{new_name}` is a reserved word of the language")
    if occ.kind == "segment":
        group = occ.name.rsplit(".", 1)[0]
        taken = new_name in index.segments_of(group)
        new_key = f"{group}.{new_name}"
    else:
        taken = new_name in index.names(occ.kind)
        new_key = new_name
    if taken and new_key != occ.name:
        raise RenameError(f"there is already a {occ.kind} `{new_key}`")
    return [_edit(o, new_name) for o in index.references(occ.kind, occ.name)]


def code_actions(
    file: str,
    code: str,
    line: int,
    column: int,
    end_line: int,
    end_column: int,
    help: str | None,
    line_text: str,
) -> list[Action]:
    """Quick fixes for one diagnostic: its "did you mean" replacement; an ignore comment."""
    actions: list[Action] = []
    replacement = None
    if help:
        m = _DID_YOU_MEAN.search(help)
        if m is None and code in ("SEG201", "SEG101"):
            m = _WRITE.match(help)
        if m is not None:
            replacement = m.group(1)
    if replacement is not None:
        actions.append(
            Action(
                f"Replace with `{replacement}`",
                (Edit(file, line, column, end_line, end_column, replacement),),
                preferred=True,
            )
        )
    if code[3:4] not in UNSUPPRESSIBLE_CLASSES:
        indent = line_text[: len(line_text) - len(line_text.lstrip(" \t"))]
        actions.append(
            Action(
                f"Ignore {code} on this line (# smartseg: ignore[{code}])",
                (Edit(file, line, 1, line, 1, f"{indent}# smartseg: ignore[{code}]\n"),),
            )
        )
    return actions
