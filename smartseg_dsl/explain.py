"""Why a rule did not fire: `smartseg simulate --explain`.

An evaluator over the condition's AST, for explanation only (the engine runs the
compiled closures; this never decides anything). It reads what the engine computed
for the step through its `VisitorView` and the step's request, and names the parts
of the condition that were false, with the values they saw:

    confidence(Industry.Legal) was 31%, needs > 50%
    audience LegalLead was false: confidence(Industry.Legal) was 12%, needs > 50%

`and` reports every false operand, `or` every operand (all false), `not X` that X was
true, a comparison its left value against the right side as written, `is` the segment
seen. Values the view does not expose (`count`, `since`, `session_time`,
`attribute`, `viewing`) are "not known here": such a part is named without a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import ast
from .logic import COMPARE
from .printer import expr_text

__all__ = ["why_not"]

_UNKNOWN: Any = object()


class _Eval:
    def __init__(
        self, view: Any, audiences: Mapping[str, ast.Expr], device: str | None = None
    ) -> None:
        self.view = view
        self.audiences = audiences
        self.device = device

    def value(self, e: ast.Expr) -> Any:
        match e:
            case ast.Number():
                return e.value
            case ast.Duration():
                return e.seconds
            case ast.String():
                return e.value
            case ast.Boolean():
                return e.value
            case ast.NoneLit():
                return None
            case ast.Ref():
                return self.ref(e)
            case ast.Call():
                return self.call(e)
            case ast.Not():
                v = self.value(e.operand)
                return _UNKNOWN if v is _UNKNOWN else not v
            case ast.BoolOp():
                values = [self.value(x) for x in e.operands]
                if e.op == "and":
                    if any(v is False for v in values):
                        return False
                    return _UNKNOWN if any(v is _UNKNOWN for v in values) else True
                if any(v is True for v in values):
                    return True
                return _UNKNOWN if any(v is _UNKNOWN for v in values) else False
            case ast.Compare():
                a, b = self.value(e.left), self.value(e.right)
                if a is _UNKNOWN or b is _UNKNOWN:
                    return _UNKNOWN
                if a is None or b is None:
                    return COMPARE[e.op](a, b) if e.op in ("==", "!=") else False
                try:
                    return COMPARE[e.op](a, b)
                except TypeError:
                    return _UNKNOWN
            case ast.Is():
                a, b = self.value(e.left), self.value(e.right)
                if a is _UNKNOWN or b is _UNKNOWN:
                    return _UNKNOWN
                return (a == b) != e.negated
        return _UNKNOWN

    def ref(self, e: ast.Ref) -> Any:
        if e.segment is not None:
            return e.dotted  # a segment, compared with what most_likely() gives
        name = e.group.value
        if name in self.audiences:
            try:
                return bool(self.view.audience(name))
            except KeyError:
                return _UNKNOWN
        if name == "visits":
            return self.view.visits
        if name == "pageviews":
            return self.view.pageviews
        if name == "device" and self.device is not None:
            return self.device
        return _UNKNOWN

    def call(self, e: ast.Call) -> Any:
        if len(e.args) != 1:
            return _UNKNOWN
        arg = e.args[0]
        name = e.func.value
        try:
            if isinstance(arg, ast.Ref):
                if name in ("confidence", "score", "certain", "likely"):
                    return getattr(self.view, name)(arg.dotted)
                if name == "known":
                    return self.view.known(arg.dotted)
                if name == "most_likely":
                    found = self.view.most_likely(arg.dotted)
                    return None if found is None else f"{arg.dotted}.{found}"
            if isinstance(arg, ast.String) and name == "tagged":
                return self.view.tagged(arg.value)
        except KeyError:
            return _UNKNOWN
        return _UNKNOWN

    # ------------------------------------------------------------ explanation
    def why(self, e: ast.Expr, depth: int = 0) -> list[str]:
        """Reasons `e` was not true (empty when it was, or when nothing can be said)."""
        v = self.value(e)
        if v is True:
            return []
        if v is _UNKNOWN:
            if isinstance(e, ast.BoolOp):
                return [r for x in e.operands for r in self.why(x, depth)]
            return [f"{_text(e)}: not known here"]
        match e:
            case ast.BoolOp():
                return [r for x in e.operands for r in self.why(x, depth)]
            case ast.Not():
                return [f"{_text(e.operand)} was true"]
            case ast.Compare():
                left = self.value(e.left)
                shown = _show(left, e.right)
                return [f"{_text(e.left)} was {shown}, needs {e.op} {_text(e.right)}"]
            case ast.Is():
                left = self.value(e.left)
                seen = "none" if left is None else str(left)
                neg = "not " if e.negated else ""
                return [f"{_text(e.left)} was {seen}, needs {neg}{_text(e.right)}"]
            case ast.Ref() if e.group.value in self.audiences and depth < 8:
                inner = self.why(self.audiences[e.group.value], depth + 1)
                head = f"audience {e.group.value} was false"
                return [head + (": " + "; ".join(inner) if inner else "")]
        return [f"{_text(e)} was {_show(v, None)}"]


def _show(value: Any, right: ast.Expr | None) -> str:
    if value is None:
        return "none"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float | int):
        if isinstance(right, ast.Number) and right.percent:
            return f"{value * 100:.4g}%"
        if isinstance(right, ast.Duration):
            return f"{value:g}s"
        return f"{value:.4g}" if isinstance(value, float) else str(value)
    if isinstance(value, str) and isinstance(right, ast.String):
        return '"' + value + '"'
    return str(value)


def why_not(
    condition: ast.Expr,
    view: Any,
    audiences: Mapping[str, ast.Expr],
    device: str | None = None,
) -> list[str]:
    """The failing parts of a condition that did not hold, with the values seen."""
    return _Eval(view, audiences, device).why(condition)


def _text(e: ast.Expr) -> str:
    return expr_text(e, explicit=True)
