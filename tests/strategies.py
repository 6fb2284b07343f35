"""Hypothesis strategies for random *valid* `.seg` programs.

The generator follows the grammar (every construct of SPEC §1) and enough of
the semantics that a correct checker accepts what it makes (warnings such as
"shadowed action" or "unused audience" are possible, errors are not):

- names are unique, never keywords; `G.S` refers to a declared segment;
- `prior` > 0, `weight` >= 0, `max` >= `weight`, explicit signals carry neither;
- audiences refer only to groups, segments and *earlier* audiences (no cycles);
- every comparison is well typed (confidence against 0..1 numbers or
  percentages, `session_time`/`since` against durations, counts against small
  numbers, `is`/`is not` between `most_likely(G)` and a segment of G or `none`,
  ...), and no condition can be proved impossible: every atom can be both true
  and false, and one condition never mentions the same subject (a group, a
  matcher, a tag, ...) twice, directly or through an audience, so no
  conjunction contradicts itself and `not` never negates a tautology;
- a `show survey` without `about` sits under a condition that mentions exactly
  one segment; with `about`, it names a group the condition does not mention.

API:

- `rule_files()` → strategy of `ast.RuleFile`: the generated tree (no spans,
  `path` "<generated>").
- `programs(noise=True)` → strategy of `str`: the source text of a generated
  file; with noise it has random whitespace, line breaks, CRLFs, comments (some
  of them `# smartseg: ignore[...]`), redundant parentheses and regrouped
  `and`/`or`; without, one item per line with single spaces.
- `programs_with_ast(noise=True, comments=True)` → strategy of
  `(str, ast.RuleFile)`: the text and the tree it must parse to
  (`parse_source(text).file.items == tree.items`). `comments=False` limits the
  noise to whitespace without blank lines.
- `render(tree, rnd=None, *, comments=True)` → `str`: renders a tree; `rnd`
  (a `random.Random`) adds the noise.

Usage: `@given(programs())` in any test; the checker reports no error for them:
`check(RuleSet((parse_source(text).file,)))` holds warnings at most.
"""

from __future__ import annotations

import operator
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st

from smartseg_dsl import ast

__all__ = ["programs", "programs_with_ast", "render", "rule_files"]

Draw = Callable[[st.SearchStrategy[object]], object]

# --------------------------------------------------------------------- names

_LETTERS = string.ascii_letters + "_"
_ALNUM = _LETTERS + string.digits
_LOWER = string.ascii_lowercase
# Built from plain character draws (`from_regex` is several times slower).
_NAME = st.builds(operator.add, st.sampled_from(_LETTERS), st.text(_ALNUM, max_size=9)).filter(
    lambda s: s not in ast.KEYWORDS
)
#: Free text (labels, survey questions, replacement text): anything but a newline,
#: including the `"` and `\` the formatter must escape.
_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\n")
    | st.sampled_from('"\\#{}'),
    max_size=24,
)
_WORD = st.builds(
    operator.add, st.sampled_from(_LOWER), st.text(_LOWER + string.digits + "_-", max_size=11)
)
_HOST = st.builds(
    "{}{}.{}".format,
    st.sampled_from(["", "*."]),
    st.text(_LOWER + string.digits + "-", min_size=1, max_size=9).map(lambda s: "a" + s),
    st.sampled_from(["com", "org", "io", "co.uk"]),
)
_GLOB_PART = st.sampled_from(["*", "**", "a?c"]) | st.text(_LOWER + "_-", min_size=1, max_size=6)
_GLOB = st.builds(
    lambda parts, slash: "/" + "/".join(parts) + slash,
    st.lists(_GLOB_PART, min_size=1, max_size=4),
    st.sampled_from(["", "/"]),
)


def _num(text: str) -> ast.Number:
    if text.endswith("%"):
        return ast.Number(float(text[:-1]) / 100.0, True, text)
    return ast.Number(float(text), False, text)


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def _dur(text: str) -> ast.Duration:
    return ast.Duration(float(text[:-1]) * _UNITS[text[-1]], text)


def _n(v: str) -> ast.Name:
    return ast.Name(v)


def _s(v: str) -> ast.String:
    return ast.String(v)


def _ref(g: str, s: str | None = None) -> ast.Ref:
    return ast.Ref(_n(g), _n(s) if s is not None else None)


def _call(func: str, *args: ast.Expr | ast.MatcherArg) -> ast.Call:
    return ast.Call(_n(func), tuple(args))


# ----------------------------------------------------------------- the world


@dataclass
class _World:
    """What has been declared so far, for references that must resolve."""

    groups: dict[str, list[str]] = field(default_factory=dict)  # group → segments
    audiences: dict[str, frozenset[str]] = field(default_factory=dict)  # name → subjects
    slots: list[str] = field(default_factory=list)
    fresh: int = 0

    def new_event(self) -> str:
        self.fresh += 1
        return f"ev{self.fresh}"


@st.composite
def _unique_names(draw: Draw, count: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    lowered = {t.lower() for t in taken}
    while len(names) < count:
        name = draw(_NAME)
        if name.lower() not in lowered:
            lowered.add(name.lower())
            taken.add(name)
            names.append(name)
    return names


# ------------------------------------------------------------------- groups

_WEIGHTS = st.sampled_from(["0", "1", "2", "3", "5", "0.5", "1.5", "10", "2.25"])
_PRIORS = st.sampled_from(["10", "1", "0.5", "5", "20", "2.5"])
_HALF_LIVES = st.sampled_from(["30d", "7d", "2w", "12h", "90m", "3600s", "1.5d"])


@st.composite
def _matcher(draw: Draw, kinds: tuple[str, ...] = ast.MATCHER_KINDS) -> ast.Matcher:
    kind = draw(st.sampled_from(kinds))
    if kind == "query":
        param = draw(_NAME)
        return ast.Matcher("query", _s(draw(_WORD | _GLOB)), _n(param))
    pattern = {
        "tag": _WORD,
        "category": _WORD,
        "event": _WORD,
        "referrer": _HOST,
        "landing": _GLOB,
        "page": _GLOB,
    }[kind]
    return ast.Matcher(kind, _s(draw(pattern)))  # type: ignore[arg-type]


@st.composite
def _signal(draw: Draw) -> ast.Signal:
    matcher = draw(_matcher())
    if draw(st.booleans()):
        return ast.Signal(True, matcher)
    weight = draw(_WEIGHTS)
    cap = None
    if draw(st.booleans()):
        # max >= weight, and max > 0: `max 0` would cancel the signal (SEG306)
        extra = draw(st.sampled_from(["0", "1", "4", "10", "2.5"] if float(weight) else ["1", "4"]))
        total = float(weight) + float(extra)
        cap = _num(str(int(total)) if total == int(total) else str(total))
    return ast.Signal(False, matcher, _num(weight), cap)


@st.composite
def _group(draw: Draw, name: str, world: _World, taken: set[str]) -> ast.Group:
    seg_names = draw(_unique_names(draw(st.integers(1, 3)), set(ast.KEYWORDS)))
    segments = [
        ast.Segment(
            _n(s),
            _s(draw(_TEXT)) if draw(st.booleans()) else None,
            tuple(draw(st.lists(_signal(), min_size=0, max_size=4))),
        )
        for s in seg_names
    ]
    body: list[ast.Prior | ast.Decay | ast.Segment] = list(segments)
    if draw(st.booleans()):
        body.insert(draw(st.integers(0, len(body))), ast.Prior(_num(draw(_PRIORS))))
    if draw(st.booleans()):
        body.insert(draw(st.integers(0, len(body))), ast.Decay(_dur(draw(_HALF_LIVES))))
    world.groups[name] = seg_names
    label = _s(draw(_TEXT)) if draw(st.booleans()) else None
    return ast.Group(_n(name), label, tuple(body))


# --------------------------------------------------------------- conditions

_FRACTIONS = st.sampled_from(["0.3", "0.25", "0.5", "0.75", "0.9", "10%", "30%", "50%", "95%"])
_ORDER = st.sampled_from(["<", "<=", ">", ">="])
_ANY_CMP = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
_SMALL = st.sampled_from(["2", "3", "4", "5", "10"])
_DURATIONS = st.sampled_from(["5m", "30m", "1h", "2h", "45s"])
_LONG_DURATIONS = st.sampled_from(["1h", "24h", "7d", "30d", "90d", "2w"])


_ATOM_KINDS = (
    "confidence", "score", "certain", "likely", "known", "most_likely", "tagged", "visits",
    "pageviews", "session_time", "count", "since", "viewing", "attribute", "device", "audience",
)  # fmt: skip


class _Conditions:
    """Draws contingent, well-typed conditions whose atoms never share a subject."""

    def __init__(self, draw: Draw, world: _World, used: set[str]) -> None:
        self.draw = draw
        self.world = world
        self.used = used  # subjects this condition already mentions

    def claim(self, key: str) -> bool:
        if key in self.used:
            return False
        self.used.add(key)
        return True

    def free_group(self) -> str | None:
        free = [g for g in self.world.groups if f"group:{g}" not in self.used]
        return self.draw(st.sampled_from(free)) if free else None  # type: ignore[return-value]

    def expr(self, depth: int = 0, parent: str | None = None) -> ast.Expr:
        d = self.draw
        kinds = ["atom", "atom", "atom"]
        if depth < 3:
            kinds += ["not", "and", "or"]
        kind = d(st.sampled_from([k for k in kinds if k != parent]))
        if kind == "not":
            return ast.Not(self.expr(depth + 1, "not_"))
        if kind in ("and", "or"):
            count = d(st.integers(2, 3))
            return ast.BoolOp(kind, tuple(self.expr(depth + 1, kind) for _ in range(count)))  # type: ignore[arg-type]
        return self.atom()

    def atom(self) -> ast.Expr:
        d = self.draw
        while True:
            kind = d(st.sampled_from(_ATOM_KINDS))
            found = self.make(kind)
            if found is not None:
                return found

    def segment(self) -> tuple[str, str] | None:
        group = self.free_group()
        if group is None or not self.world.groups[group]:
            return None
        self.used.add(f"group:{group}")
        return group, self.draw(st.sampled_from(self.world.groups[group]))  # type: ignore[return-value]

    def make(self, kind: str) -> ast.Expr | None:
        d = self.draw
        if kind in ("confidence", "score", "certain", "likely"):
            found = self.segment()
            if found is None:
                return None
            call = _call(kind, _ref(*found))
            if kind == "confidence":
                return ast.Compare(d(_ORDER), call, _num(d(_FRACTIONS)))
            if kind == "score":
                return ast.Compare(d(_ORDER), call, _num(d(st.sampled_from(["1", "2.5", "10"]))))
            return call
        if kind == "known":
            group = self.free_group()
            if group is None:
                return None
            self.used.add(f"group:{group}")
            return _call("known", _ref(group))
        if kind == "most_likely":
            group = self.free_group()
            if group is None:
                return None
            self.used.add(f"group:{group}")
            segments = self.world.groups[group]
            right: ast.Expr = ast.NoneLit()
            if segments and d(st.booleans()):
                right = _ref(group, d(st.sampled_from(segments)))
            return ast.Is(_call("most_likely", _ref(group)), right, d(st.booleans()))
        if kind == "tagged":
            tag = d(_WORD)
            return _call("tagged", _s(tag)) if self.claim(f"tag:{tag}") else None
        if kind in ("visits", "pageviews", "session_time"):
            # visits <= pageviews: both share one subject so no pair contradicts
            if not self.claim("traffic"):
                return None
            if kind == "session_time":
                return ast.Compare(d(_ORDER), _ref(kind), _dur(d(_DURATIONS)))
            return ast.Compare(d(_ANY_CMP), _ref(kind), _num(d(_SMALL)))
        if kind in ("count", "since"):
            matcher = d(_matcher(("page", "category", "event", "query")))
            key = f"m:{matcher.kind}:{matcher.param}:{matcher.pattern.value}"
            if not self.claim(key):
                matcher = ast.Matcher("event", _s(self.world.new_event()))
                self.claim(f"m:event:None:{matcher.pattern.value}")
            if kind == "count":
                within = _dur(d(_LONG_DURATIONS)) if d(st.booleans()) else None
                call = _call("count", ast.MatcherArg(matcher, within))
                if d(st.integers(0, 4)) == 0:
                    return ast.Compare("==", call, _num("0"))
                return ast.Compare(d(_ANY_CMP), call, _num(d(st.sampled_from(["1", "2", "3"]))))
            call = _call("since", ast.MatcherArg(matcher))
            if d(st.booleans()):
                return ast.Is(call, ast.NoneLit(), d(st.booleans()))
            return ast.Compare(d(_ORDER), call, _dur(d(_LONG_DURATIONS)))
        if kind == "viewing":
            if not self.claim("viewing"):
                return None
            return _call("viewing", _s(d(_GLOB)))
        if kind == "attribute":
            name = d(_WORD)
            if not self.claim(f"attr:{name}"):
                return None
            call = _call("attribute", _s(name))
            shape = d(st.sampled_from(["number", "negative", "string", "none"]))
            if shape == "number":
                return ast.Compare(d(_ANY_CMP), call, _num(d(st.sampled_from(["0.5", "3", "70%"]))))
            if shape == "negative":
                n = d(st.sampled_from(["1", "2.5"]))
                return ast.Compare(d(_ANY_CMP), call, ast.Number(-float(n), False, "-" + n))
            if shape == "string":
                return ast.Compare(d(st.sampled_from(["==", "!="])), call, _s(d(_TEXT)))
            return ast.Is(call, ast.NoneLit(), d(st.booleans()))
        if kind == "device":
            if not self.claim("device"):
                return None
            value = d(st.sampled_from(["mobile", "tablet", "desktop"]))
            return ast.Compare(d(st.sampled_from(["==", "!="])), _ref("device"), _s(value))
        if kind == "audience":
            free = [a for a, subjects in self.world.audiences.items() if not subjects & self.used]
            if not free:
                return None
            name = d(st.sampled_from(free))
            self.used.update(self.world.audiences[name])
            self.used.add(f"audience:{name}")
            return _ref(name)
        raise AssertionError(kind)


# ------------------------------------------------------------------ actions


@st.composite
def _action(draw: Draw, world: _World, used: set[str] | None) -> ast.Action:
    """An action; `used` holds the subjects of the rule's condition (None: bare)."""
    slot = _n(draw(st.sampled_from(world.slots)))
    kind = draw(st.sampled_from(["show", "hide", "text", "template", "order", "survey"]))
    if kind == "show":
        return ast.ShowSlot(slot)
    if kind == "hide":
        return ast.HideSlot(slot)
    if kind == "text":
        return ast.ReplaceText(slot, _s(draw(_TEXT)))
    if kind == "template":
        return ast.ReplaceTemplate(slot, _s(draw(st.sampled_from(["partials/a.html", "x.html"]))))
    if kind == "order":
        return ast.OrderSlot(slot, _n(draw(st.sampled_from(sorted(world.groups)))))
    # `about` a group the condition does not mention: a condition such as
    # `certain(G.S)` would keep a survey about G from ever showing (SEG408)
    free = [g for g in world.groups if world.groups[g] and f"group:{g}" not in (used or ())]
    if not free:
        return ast.ShowSlot(slot)
    group = draw(st.sampled_from(free))
    segments = world.groups[group]
    about = _ref(group, draw(st.sampled_from(segments))) if draw(st.booleans()) else _ref(group)
    in_slot = slot if draw(st.booleans()) else None
    return ast.ShowSurvey(_s(draw(_TEXT)), about, in_slot)


@st.composite
def _rule(draw: Draw, world: _World) -> ast.Rule:
    shape = draw(st.sampled_from(["single", "block", "block", "bare", "survey"]))
    if shape == "bare":
        return ast.Rule(None, (draw(_action(world, None)),))
    used: set[str] = set()
    if shape == "survey":
        # Without `about`, the condition must mention exactly one segment.
        options = [(g, s) for g, segs in world.groups.items() for s in segs]
        if options:
            group, segment = draw(st.sampled_from(options))
            used.add(f"group:{group}")
            main = ast.Compare(
                draw(st.sampled_from([">", ">="])),
                _call("confidence", _ref(group, segment)),
                _num(draw(_FRACTIONS)),
            )
            cond: ast.Expr = main
            if draw(st.booleans()):
                extra = _Conditions(draw, world, used)
                kind = draw(st.sampled_from(["tagged", "visits", "count", "device", "viewing"]))
                atom = extra.make(kind)
                if atom is not None:
                    cond = ast.BoolOp("and", (main, atom))
            survey = ast.ShowSurvey(
                _s(draw(_TEXT)),
                None,
                _n(draw(st.sampled_from(world.slots))) if draw(st.booleans()) else None,
            )
            return ast.Rule(cond, (survey,))
        shape = "single"
    cond = _Conditions(draw, world, used).expr()
    if shape == "single":
        return ast.Rule(cond, (draw(_action(world, used)),))
    # one rule acts on a slot at most once (SEG404); a survey's slot defaults to `survey`
    actions = draw(
        st.lists(_action(world, used), min_size=1, max_size=3, unique_by=ast.action_slot)
    )
    return ast.Rule(cond, tuple(actions), block=True)


@st.composite
def rule_files(draw: Draw) -> ast.RuleFile:
    """A random valid rule file (an AST without spans)."""
    world = _World()
    taken: set[str] = set(ast.KEYWORDS)
    group_names = draw(_unique_names(draw(st.integers(1, 3)), taken))
    groups = [draw(_group(name, world, taken)) for name in group_names]
    world.slots = draw(_unique_names(draw(st.integers(1, 4)), set(ast.KEYWORDS)))

    audiences: list[ast.Audience] = []
    for name in draw(_unique_names(draw(st.integers(0, 3)), taken)):
        used: set[str] = set()
        condition = _Conditions(draw, world, used).expr(depth=1)
        world.audiences[name] = frozenset(used)
        audiences.append(ast.Audience(_n(name), condition))

    rules = [draw(_rule(world)) for _ in range(draw(st.integers(1, 5)))]
    # Goals (their own namespace) and at most one holdout: declarations like the others.
    goals: list[ast.Goal | ast.Holdout] = []
    for name in draw(_unique_names(draw(st.integers(0, 2)), set(ast.KEYWORDS))):
        matcher = draw(_matcher(("event", "page", "tag", "category", "query")))
        value: ast.Expr | None = None
        if matcher.kind == "event" and draw(st.booleans()):
            value = draw(st.sampled_from([_call("attribute", _s("order_total")), _num("12.5")]))
        label = _s(draw(_WORD)) if draw(st.booleans()) else None
        goals.append(ast.Goal(_n(name), label, matcher, value))
    if draw(st.booleans()):
        goals.append(ast.Holdout(_num(draw(st.sampled_from(["5%", "10%", "0.2", "20%"])))))
    items: list[ast.Item] = [*groups, *audiences, *goals, *rules]
    if draw(st.booleans()):
        # Names are global: declarations may follow their uses. Rules keep their order.
        declarations = draw(st.permutations([*groups, *audiences, *goals]))
        slots = sorted(draw(st.lists(st.integers(0, len(rules)), min_size=len(declarations),
                                     max_size=len(declarations))))  # fmt: skip
        items = list(rules)
        for offset, (position, decl) in enumerate(zip(slots, declarations, strict=True)):
            items.insert(position + offset, decl)
    return ast.RuleFile("<generated>", tuple(items))


# ---------------------------------------------------------------- rendering

_COMMENTS = [
    "# a comment",
    "#",
    "#no space",
    '# "quoted" # and # hashes {}',
    "# smartseg: ignore[SEG401]",
    # codes generated programs do produce (shadowed rule, segment without signals,
    # unused audience), so moving a line across this comment would show
    "# smartseg: ignore[SEG403, SEG405, SEG406]",
    "#   indented text  ",
    "# ünïcödé ✓",
]


#: Tokens that need no space around them.
_GLUE = frozenset({"(", ")", "{", "}", ",", "."})


class _Renderer:
    """Renders a tree token by token; with a `Random`, separators are noisy."""

    def __init__(self, rnd: random.Random | None, comments: bool = True) -> None:
        self.rnd = rnd
        self.comments = comments
        self.tokens: list[str] = []

    def tok(self, *words: str) -> None:
        self.tokens.extend(words)

    def sep(self, before: str, after: str) -> str:
        rnd = self.rnd
        glue = before in _GLUE or after in _GLUE
        if rnd is None:
            return "" if before in ("(", ".") or after in (")", ".", ",") else " "
        roll = rnd.random()
        if not self.comments:
            # layout only: no comment and no blank line, so the canonical text is fixed
            return rnd.choice(["" if glue else " ", " ", "\t", "\n", "\n    ", "\r\n  "])
        if roll < 0.55:
            return "" if glue and rnd.random() < 0.5 else " "
        if roll < 0.7:
            return rnd.choice(["  ", "\t", " \t "])
        if roll < 0.85:
            return rnd.choice(["\n", "\n    ", "\n\n", "\n\n\n  ", "\r\n"])
        comment = rnd.choice(_COMMENTS)
        return rnd.choice([" ", "  ", "\n", ""]) + comment + rnd.choice(["\n", "\n\n", "\n  "])

    def text(self) -> str:
        out: list[str] = []
        prev = ""
        for tok in self.tokens:
            if out:
                out.append(self.sep(prev, tok))
            out.append(tok)
            prev = tok
        return "".join(out)

    # -- pieces
    def string(self, s: ast.String) -> None:
        self.tok('"' + s.value.replace("\\", "\\\\").replace('"', '\\"') + '"')

    def number(self, n: ast.Number) -> None:
        text = n.text
        if text.startswith("-"):
            self.tok("-", text[1:])
        else:
            self.tok(text)

    def matcher(self, m: ast.Matcher) -> None:
        self.tok(m.kind)
        if m.param is not None:
            self.tok(m.param.value)
        self.string(m.pattern)

    def ref(self, r: ast.Ref) -> None:
        self.tok(r.group.value)
        if r.segment is not None:
            self.tok(".", r.segment.value)

    def maybe_paren(self, expr: ast.Expr, needed: bool) -> None:
        extra = self.rnd is not None and self.rnd.random() < 0.1
        if needed or extra:
            self.tok("(")
            self.expr(expr)
            self.tok(")")
        else:
            self.expr(expr)

    def expr(self, e: ast.Expr) -> None:
        atoms = (ast.Number, ast.Duration, ast.String, ast.Boolean, ast.NoneLit, ast.Ref, ast.Call)
        if isinstance(e, ast.BoolOp):
            self.bool_op(e.op, list(e.operands))
        elif isinstance(e, ast.Not):
            self.tok("not")
            self.maybe_paren(e.operand, isinstance(e.operand, ast.BoolOp))
        elif isinstance(e, ast.Compare):
            self.maybe_paren(e.left, not isinstance(e.left, atoms))
            self.tok(e.op)
            self.maybe_paren(e.right, not isinstance(e.right, atoms))
        elif isinstance(e, ast.Is):
            self.maybe_paren(e.left, not isinstance(e.left, atoms))
            self.tok("is", "not") if e.negated else self.tok("is")
            self.maybe_paren(e.right, not isinstance(e.right, atoms))
        elif isinstance(e, ast.Number):
            self.number(e)
        elif isinstance(e, ast.Duration):
            self.tok(e.text)
        elif isinstance(e, ast.String):
            self.string(e)
        elif isinstance(e, ast.Boolean):
            self.tok("true" if e.value else "false")
        elif isinstance(e, ast.NoneLit):
            self.tok("none")
        elif isinstance(e, ast.Ref):
            self.ref(e)
        elif isinstance(e, ast.Call):
            self.tok(e.func.value, "(")
            for i, arg in enumerate(e.args):
                if i:
                    self.tok(",")
                if isinstance(arg, ast.MatcherArg):
                    self.matcher(arg.matcher)
                    if arg.within is not None:
                        self.tok("within", arg.within.text)
                else:
                    self.expr(arg)
            self.tok(")")
        else:
            raise TypeError(e)

    def bool_op(self, op: str, operands: list[ast.Expr]) -> None:
        # The parser flattens `a and (b and c)`: regroup at random to prove it.
        if self.rnd is not None and len(operands) > 2 and self.rnd.random() < 0.3:
            cut = self.rnd.randint(1, len(operands) - 1)
            left, right = operands[:cut], operands[cut:]
            for i, part in enumerate((left, right)):
                if i:
                    self.tok(op)
                if len(part) == 1:
                    self.operand(op, part[0])
                else:
                    self.tok("(")
                    self.bool_op(op, part)
                    self.tok(")")
            return
        for i, x in enumerate(operands):
            if i:
                self.tok(op)
            self.operand(op, x)

    def operand(self, op: str, x: ast.Expr) -> None:
        needed = isinstance(x, ast.BoolOp) and (x.op == "or" or x.op == op)
        self.maybe_paren(x, needed)

    def action(self, a: ast.Action) -> None:
        if isinstance(a, ast.ShowSlot):
            self.tok("show", "slot", a.slot.value)
        elif isinstance(a, ast.HideSlot):
            self.tok("hide", "slot", a.slot.value)
        elif isinstance(a, ast.ReplaceText):
            self.tok("replace", "slot", a.slot.value, "with")
            self.string(a.text)
        elif isinstance(a, ast.ReplaceTemplate):
            self.tok("replace", "slot", a.slot.value, "with", "template")
            self.string(a.template)
        elif isinstance(a, ast.OrderSlot):
            self.tok("order", "slot", a.slot.value, "by", a.group.value)
        elif isinstance(a, ast.ShowSurvey):
            self.tok("show", "survey")
            self.string(a.question)
            if a.about is not None:
                self.tok("about")
                self.ref(a.about)
            if a.slot is not None:
                self.tok("in", "slot", a.slot.value)

    def item(self, item: ast.Item) -> None:
        if isinstance(item, ast.Group):
            self.tok("group", item.name.value)
            if item.label is not None:
                self.string(item.label)
            self.tok("{")
            for part in item.body:
                if isinstance(part, ast.Prior):
                    self.tok("prior")
                    self.number(part.value)
                elif isinstance(part, ast.Decay):
                    self.tok("decay", part.half_life.text)
                else:
                    self.tok("segment", part.name.value)
                    if part.label is not None:
                        self.string(part.label)
                    self.tok("{")
                    for signal in part.signals:
                        self.tok("explicit" if signal.explicit else "implicit")
                        self.matcher(signal.matcher)
                        if signal.weight is not None:
                            self.tok("weight")
                            self.number(signal.weight)
                        if signal.cap is not None:
                            self.tok("max")
                            self.number(signal.cap)
                    self.tok("}")
            self.tok("}")
        elif isinstance(item, ast.Audience):
            self.tok("audience", item.name.value, "=")
            self.maybe_paren(item.condition, False)
        elif isinstance(item, ast.Goal):
            self.tok("goal", item.name.value)
            if item.label is not None:
                self.string(item.label)
            self.tok("=")
            assert isinstance(item.condition, ast.Matcher)
            self.matcher(item.condition)
            if item.value is not None:
                self.tok("value")
                self.maybe_paren(item.value, False)
        elif isinstance(item, ast.Holdout):
            self.tok("holdout")
            self.number(item.share)
        else:
            if item.condition is not None:
                self.tok("when")
                self.maybe_paren(item.condition, False)
            if item.block:
                self.tok("{")
                for a in item.actions:
                    self.action(a)
                self.tok("}")
            else:
                self.action(item.actions[0])


def render(tree: ast.RuleFile, rnd: random.Random | None = None, *, comments: bool = True) -> str:
    """Source text for `tree`; with `rnd`, random (meaning-preserving) noise.

    With `comments=False` the noise is whitespace only, without blank lines, so
    the canonical layout of the text is the same as that of `render(tree)`.
    """
    if rnd is None:
        # Plain: one item per line, single spaces.
        return "".join(_render_item(item, None) + "\n" for item in tree.items)
    between = ["\n", "\n\n", " ", "\n\n\n", "\n# between items\n"] if comments else ["\n", " "]
    out: list[str] = []
    for item in tree.items:
        if out:
            out.append(rnd.choice(between))
        out.append(_render_item(item, rnd, comments))
    if not comments:
        return "".join(out) + "\n"
    head = rnd.choice(["", "", "# file header\n", "\n\n"])
    tail = rnd.choice(["", "\n", "\n\n", "\n# the end", "  # trailing\n"])
    return head + "".join(out) + tail


def _render_item(item: ast.Item, rnd: random.Random | None, comments: bool = True) -> str:
    r = _Renderer(rnd, comments)
    r.item(item)
    return r.text()


@st.composite
def programs_with_ast(
    draw: Draw, noise: bool = True, comments: bool = True
) -> tuple[str, ast.RuleFile]:
    """A generated valid file's source text and the tree it must parse to."""
    tree = draw(rule_files())
    # A seeded Random is much faster than `st.randoms()`; the noise needs no shrinking.
    rnd = random.Random(draw(st.integers(0, 2**32))) if noise else None
    return render(tree, rnd, comments=comments), tree  # type: ignore[arg-type]


def programs(noise: bool = True) -> st.SearchStrategy[str]:
    """Source text of random valid programs (see the module docstring)."""
    return programs_with_ast(noise).map(lambda pair: pair[0])
