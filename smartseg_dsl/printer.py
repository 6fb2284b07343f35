"""AST → source text: the one printer behind `smartseg fmt` and the checker's messages.

`expr_text(e)` prints a condition on one line with parentheses only where
precedence needs them (the formatter's canonical layout, docs/formatting.md);
`expr_text(e, explicit=True)` is the form messages quote: every nested `and`/`or`
in parentheses, so a reader never has to know the precedence. Literals are
printed as written (`text`), or canonically for a tree built by hand.
"""

from __future__ import annotations

import math

from . import ast

__all__ = [
    "action_text",
    "bool_operand_text",
    "duration_text",
    "expr_text",
    "matcher_arg_text",
    "matcher_text",
    "number_text",
    "quote",
    "short",
]

_ATOMS = (ast.Number, ast.Duration, ast.String, ast.Boolean, ast.NoneLit, ast.Ref, ast.Call)


def expr_text(expr: ast.Expr | ast.MatcherArg, *, explicit: bool = False) -> str:
    """An expression on one line (see the module's docstring for `explicit`)."""
    if isinstance(expr, ast.BoolOp):
        return f" {expr.op} ".join(_sub(x, explicit, "bool", expr.op) for x in expr.operands)
    if isinstance(expr, ast.Not):
        return f"not {_sub(expr.operand, explicit, 'not')}"
    if isinstance(expr, ast.Compare):
        left, right = _sub(expr.left, explicit), _sub(expr.right, explicit)
        return f"{left} {expr.op} {right}"
    if isinstance(expr, ast.Is):
        word = "is not" if expr.negated else "is"
        return f"{_sub(expr.left, explicit)} {word} {_sub(expr.right, explicit)}"
    if isinstance(expr, ast.Number):
        return number_text(expr)
    if isinstance(expr, ast.Duration):
        return duration_text(expr)
    if isinstance(expr, ast.String):
        return quote(expr.value)
    if isinstance(expr, ast.Boolean):
        return "true" if expr.value else "false"
    if isinstance(expr, ast.NoneLit):
        return "none"
    if isinstance(expr, ast.Ref):
        return expr.dotted
    if isinstance(expr, ast.MatcherArg):
        return matcher_arg_text(expr)
    if isinstance(expr, ast.Call):
        args = ", ".join(
            matcher_arg_text(a) if isinstance(a, ast.MatcherArg) else _sub(a, explicit, "arg")
            for a in expr.args
        )
        return f"{expr.func.value}({args})"
    if explicit:
        return "?"
    raise TypeError(f"not an expression: {expr!r}")


def _sub(expr: ast.Expr, explicit: bool, where: str = "operand", op: str = "") -> str:
    """An operand of a larger expression, in parentheses where it needs them."""
    text = expr_text(expr, explicit=explicit)
    if explicit:
        parens = isinstance(expr, ast.BoolOp)
    elif where == "bool":
        # `and` binds tighter than `or`: an `or` inside an `and` needs parentheses. A
        # same-operator operand is flattened by the parser; it only appears in a tree
        # built by hand, and the parentheses keep that tree's shape.
        parens = isinstance(expr, ast.BoolOp) and (expr.op == "or" or expr.op == op)
    elif where == "not":
        parens = isinstance(expr, ast.BoolOp)
    elif where == "arg":
        parens = False
    else:  # both sides of a comparison are operands: anything else needs parentheses
        parens = not isinstance(expr, _ATOMS)
    return f"({text})" if parens else text


def bool_operand_text(op: str, expr: ast.Expr) -> str:
    """An operand of an `op` (`and`/`or`) chain, as the formatter prints it."""
    return _sub(expr, False, "bool", op)


def number_text(n: ast.Number) -> str:
    if n.text:
        return n.text  # the user's spelling: `30%` stays `30%`, `0.30` stays `0.30`
    value = n.value * 100 if n.percent else n.value
    text = _plain(value)
    return text + "%" if n.percent else text


def duration_text(d: ast.Duration) -> str:
    if d.text:
        return d.text
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if d.seconds >= size and d.seconds % size == 0:
            return f"{_plain(d.seconds / size)}{unit}"
    return f"{_plain(d.seconds)}s"


def _plain(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(value)


def quote(text: str) -> str:
    """A text in double quotes, escaped as the grammar reads it."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def matcher_text(m: ast.Matcher) -> str:
    if m.param is not None:
        return f"{m.kind} {m.param.value} {quote(m.pattern.value)}"
    return f"{m.kind} {quote(m.pattern.value)}"


def matcher_arg_text(arg: ast.MatcherArg) -> str:
    text = matcher_text(arg.matcher)
    return f"{text} within {duration_text(arg.within)}" if arg.within is not None else text


def action_text(action: ast.Action) -> str:
    """One action on one line."""
    if isinstance(action, ast.ShowSlot):
        return f"show slot {action.slot.value}"
    if isinstance(action, ast.HideSlot):
        return f"hide slot {action.slot.value}"
    if isinstance(action, ast.ReplaceText):
        return f"replace slot {action.slot.value} with {quote(action.text.value)}"
    if isinstance(action, ast.ReplaceTemplate):
        return f"replace slot {action.slot.value} with template {quote(action.template.value)}"
    if isinstance(action, ast.OrderSlot):
        return f"order slot {action.slot.value} by {action.group.value}"
    if isinstance(action, ast.ShowSurvey):
        text = f"show survey {quote(action.question.value)}"
        if action.about is not None:
            text += f" about {action.about.dotted}"
        if action.slot is not None:
            text += f" in slot {action.slot.value}"
        return text
    raise TypeError(f"not an action: {action!r}")


def short(text: str, limit: int = 60) -> str:
    """`text`, cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
