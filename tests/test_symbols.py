"""symbols.py and docs/language.md name the same functions and values, with the same types."""

from __future__ import annotations

import re
from pathlib import Path

from smartseg_dsl.symbols import BOOL, DURATION, FUNCTIONS, NUMBER, STRING, VALUES, Type

LANGUAGE = Path(__file__).resolve().parent.parent / "docs" / "language.md"

#: How the table's "gives" column says a type (its first words).
_GIVES = (
    ("true when", BOOL),
    ("a number", NUMBER),
    ("the segment's points", NUMBER),
    ("times ", NUMBER),
    ("visits so far", NUMBER),
    ("page views so far", NUMBER),
    ("time since", DURATION),
    ("a segment of", None),  # most_likely: a segment of the group
    ("a value", Type("any", nullable=True)),
    ('`"mobile"`', STRING),
)
#: How the table writes an argument of each kind.
_ARGS = {
    "segment": r"G\.S",
    "group": r"G",
    "text": r'"[a-z]+"',
    "matcher": r"M",
    "count-matcher": r"M within D",
}


def _table() -> dict[str, tuple[str | None, str]]:
    """name → (argument as written, or None for a value; the "gives" text)."""
    text = LANGUAGE.read_text(encoding="utf-8")
    section = text.split("### Every function", 1)[1].split("\n\n", 2)[1]
    rows: dict[str, tuple[str | None, str]] = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"`(\w+)(?:\((.*)\))?`", cells[0])
        assert m is not None, f"not a function or value: {cells[0]!r}"
        rows[m.group(1)] = (m.group(2), cells[1])
    return rows


def _type(gives: str) -> Type | None:
    for words, t in _GIVES:
        if gives.startswith(words):
            return t
    raise AssertionError(f"cannot tell the type of {gives!r}")


def test_the_docs_list_every_function_and_value_and_no_other() -> None:
    table = _table()
    functions = {name for name, (arg, _) in table.items() if arg is not None}
    values = {name for name, (arg, _) in table.items() if arg is None}
    assert functions == set(FUNCTIONS)
    assert values == set(VALUES)


def test_the_docs_give_each_function_its_argument_and_type() -> None:
    for name, (arg, gives) in _table().items():
        if arg is None:
            assert _type(gives) == VALUES[name], name
            continue
        fn = FUNCTIONS[name]
        assert re.fullmatch(_ARGS[fn.arg], arg), f"{name}: {arg!r} is not a {fn.arg} argument"
        expected = fn.result
        if expected is not None:
            assert ("none" in gives) == expected.nullable, f"{name}: none or not?"
            if expected.kind == "duration":
                expected = DURATION  # "or none" is said in words (checked above)
        assert _type(gives) == expected, name
