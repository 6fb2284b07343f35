"""Hover texts (Markdown): what a name, a function or a diagnostic code means."""

from __future__ import annotations

import re
import textwrap

from .. import ast
from ..diagnostics import CODES
from ..printer import action_text, duration_text, expr_text, matcher_text, number_text
from ..symbols import FUNCTIONS, VALUES, Function
from .index import Index, Occurrence

__all__ = ["code_at", "function_signature", "hover_text"]

_ARG = {
    "segment": "Group.Segment",
    "group": "Group",
    "text": '"text"',
    "matcher": "matcher",
    "count-matcher": "matcher [within D]",
}

VALUE_DOCS = {
    "visits": "Visits so far, this one included.",
    "pageviews": "Page views so far, this one included.",
    "session_time": "The time since this visit began.",
    "device": '`"mobile"`, `"tablet"` or `"desktop"`.',
}

_CODE = re.compile(r"SEG\d{3}")


def function_signature(fn: Function) -> str:
    result = f"a segment of {'Group'} or none" if fn.result is None else fn.result.describe()
    return f"{fn.name}({_ARG[fn.arg]}) → {result}"


def code_at(comment: ast.Comment, column: int) -> str | None:
    """The diagnostic code under a 1-based column of a comment, if any."""
    for m in _CODE.finditer(comment.text):
        start = comment.span.column + m.start()
        if start <= column <= start + len(m.group(0)) and m.group(0) in CODES:
            return m.group(0)
    return None


def code_markdown(code: str) -> str:
    info = CODES[code]
    return (
        f"**{code}** `{info.name}` ({info.severity})\n\n{info.summary}\n\n{info.explanation}\n\n"
        f"[Documentation]({info.docs_url})"
    )


def _source(text: str | None, node: object) -> str | None:
    span: ast.Span | None = getattr(node, "span", None)
    if text is None or span is None or span.end <= span.start:
        return None
    snippet = text[span.start : span.end]
    first, _, rest = snippet.partition("\n")
    return first + ("\n" + textwrap.dedent(rest) if rest else "")


def _signal(sig: ast.Signal) -> str:
    out = f"{'explicit' if sig.explicit else 'implicit'} {matcher_text(sig.matcher)}"
    if sig.weight is not None:
        out += f" weight {number_text(sig.weight)}"
    if sig.cap is not None:
        out += f" max {number_text(sig.cap)}"
    return out


def hover_text(index: Index, occ: Occurrence, texts: dict[str, str | None]) -> str | None:
    """Markdown for the occurrence; `texts` maps files to their text (for definitions)."""
    if occ.kind == "function":
        fn = FUNCTIONS.get(occ.name)
        if fn is None:
            return None
        return (
            f"```\n{function_signature(fn)}\n```\n\n{fn.doc}\n\nExample: `{fn.example}`"
        ).strip()
    if occ.kind == "value":
        return f"```\n{occ.name} → {VALUES[occ.name].describe()}\n```\n\n{VALUE_DOCS[occ.name]}"
    found = index.node(occ.kind, occ.name)
    if found is None:
        return f"`{occ.name}`: no {occ.kind} of this name is defined in the rule set"
    file, node = found
    if isinstance(node, ast.Segment):
        label = f' "{node.label.value}"' if node.label is not None else ""
        lines = [f"**segment {occ.name}**{label}", ""]
        if node.signals:
            lines += ["```seg", *(_signal(s) for s in node.signals), "```"]
        else:
            lines.append("no signals")
        return "\n".join(lines)
    if isinstance(node, ast.Group):
        label = f' "{node.label.value}"' if node.label is not None else ""
        lines = [f"**group {occ.name}**{label}", ""]
        settings = []
        if node.prior is not None:
            settings.append(f"prior {number_text(node.prior.value)}")
        if node.decay is not None:
            settings.append(f"decay {duration_text(node.decay.half_life)}")
        if settings:
            lines += [", ".join(settings), ""]
        for seg in node.segments:
            seg_label = f" — {seg.label.value}" if seg.label is not None else ""
            lines.append(f"- `{seg.name.value}`{seg_label}")
        return "\n".join(lines)
    if isinstance(node, ast.Audience):
        return f"```seg\naudience {node.name.value} = {expr_text(node.condition)}\n```"
    if isinstance(node, ast.Variant):
        actions = "\n".join(action_text(a) for a in node.actions) or "(control: no actions)"
        return f"**variant {occ.name}** weight {node.weight.text}\n\n```seg\n{actions}\n```"
    if isinstance(node, ast.Goal | ast.Experiment):
        source = _source(texts.get(file), node)
        if source is not None:
            return f"```seg\n{source}\n```"
        return f"**{occ.kind} {occ.name}**"
    return None
