"""The rewriter's memos (smartseg_dsl/memo.py, rewrite._PAGES and rewrite._EXTENTS) never
change an answer: pages built from one template with per-request values in every kind of
place (CSRF-like attribute values, text, comments, scripts, slot names, unquoted values,
values that try to break out of their quotes) are rewritten exactly as a fresh scan
would, request after request, while the memo is learning and once it hits.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartseg_dsl import rewrite as rw
from smartseg_dsl.memo import SpanMemo, diff_runs
from smartseg_dsl.rewrite import Hide, Order, Replace, Show

pytestmark = pytest.mark.usefixtures("fresh_rewriter")


@contextlib.contextmanager
def memo_off() -> Iterator[None]:
    saved = rw._MEMO_ON
    rw._MEMO_ON = False
    try:
        yield
    finally:
        rw._MEMO_ON = saved


def fresh(doc: bytes, edits: dict[str, rw.Edit]) -> bytes:
    with memo_off():
        return rw.rewrite(doc, edits)


def shape(ext: rw._Extent | None) -> object:
    """Everything an extent says, children and their tags included (None stays None)."""
    if ext is None:
        return None
    kids = [
        (c.start, c.end, c.complete, c.tag.start, c.tag.end, c.tag.area) for c in ext.children or []
    ]
    return (ext.start, ext.inner, ext.close, ext.end, ext.kind, kids)


def fresh_slot_tags(doc: bytes) -> list[tuple[int, int, bytes]]:
    tags = rw._slot_tags(doc, rw._candidates(doc, rw.SLOT_ATTR))
    return [(t.start, t.end, raw) for t, raw in tags]


def memo_slot_tags(doc: bytes) -> list[tuple[int, int, bytes]]:
    return [(t.start, t.end, raw) for t, raw in rw._PAGES.slot_tags(doc)]


EDITS: dict[str, rw.Edit] = {
    "s": Show(),
    "t": Hide(),
    "u": Replace("<b>R</b>", reveal=True),
    "o": Order({"G.B": 0.9, "G.A": 0.1}),
}

# --------------------------------------------------------------------------- diff_runs


def naive_runs(a: bytes, b: bytes) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            if out and out[-1][1] == i:
                out[-1][1] = i + 1
            else:
                out.append([i, i + 1])
    return [(p, q) for p, q in out]


@settings(max_examples=300)
@given(
    st.binary(max_size=3000),
    st.lists(st.tuples(st.integers(0, 3000), st.binary(min_size=1, max_size=80)), max_size=6),
)
def test_diff_runs_is_the_naive_diff(base: bytes, patches: list[tuple[int, bytes]]) -> None:
    new = bytearray(base)
    for at, data in patches:
        if at < len(new):
            new[at : at + len(data)] = data[: len(new) - at]
    new_b = bytes(new)
    assert len(new_b) == len(base)
    assert diff_runs(base, new_b, max_runs=10_000) == naive_runs(base, new_b)
    assert diff_runs(base, new_b + b"x") is None  # lengths differ


def test_diff_runs_gives_up_past_max_runs() -> None:
    a = bytes(1000)
    b = bytes(x if i % 10 else 1 for i, x in enumerate(a))
    assert diff_runs(a, b, max_runs=5) is None
    assert len(diff_runs(a, b, max_runs=100) or []) == 100


# --------------------------------------------------------------------------- SpanMemo


def test_span_memo_hits_only_on_the_same_bytes() -> None:
    memo: SpanMemo[str] = SpanMemo(max_entries=8)
    memo.put("k", b"<div>abc</div>", "v1")
    assert memo.get("k", b"xx<div>abc</div>yy", 2) == "v1"
    assert memo.get("k", b"xx<div>abd</div>yy", 2) is None
    assert memo.get("k", b"<div>abc</di", 0) is None  # cut short
    assert memo.get("other", b"<div>abc</div>", 0) is None
    memo.put("k", b"<div>xyz</div>", "v2")  # a second content under the same key
    assert memo.get("k", b"<div>abc</div>", 0) == "v1"
    assert memo.get("k", b"<div>xyz</div>", 0) == "v2"


def test_span_memo_is_bounded() -> None:
    memo: SpanMemo[int] = SpanMemo(max_entries=10, max_bytes=1000, max_span=300)
    for i in range(100):
        memo.put(i, bytes([i % 256]) * 100, i)
    assert len(memo) <= 10 and memo.size_bytes <= 1000
    memo.put("big", b"x" * 301, 0)
    assert memo.get("big", b"x" * 301, 0) is None  # too large to keep
    assert memo.get(99, bytes([99]) * 100, 0) == 99  # the newest survive


def test_page_memo_is_bounded() -> None:
    memo = rw._PageMemo(max_bytes=50_000, per_length=2)
    for i in range(200):
        doc = f'<div data-seg-slot="s">{"x" * (i % 37)}</div>{"y" * i}'.encode()
        memo.slot_tags(doc)
    assert memo.size_bytes <= 50_000


# --------------------------------------------------------------------------- page memo

# Template units; "{V}" marks where a per-request value goes.
UNITS = [
    '<form method="post"><input type="hidden" name="csrf_token" value="{V}"></form>',
    "<a href='/x?t={V}' class=\"nav\">link</a>",
    '<p data-info="{V}" title="a > b">para</p>',
    "<p>Hello {V}, welcome</p>",
    "<!-- {V} -->",
    '<script>var t = "{V}"; if (a < b) {}</script>',
    "<img alt={V} src=x.png>",
    '<input type="{V}" value=x>',
    '<div data-seg-slot="{V}" hidden>maybe a slot</div>',
    '<div data-seg-slot="s" hidden data-v="{V}">shown</div>',
    '<section data-seg-slot="t"><p>gone</p><input name=c value="{V}"></section>',
    '<div data-seg-slot="u" hidden><span title="{V}">old</span></div>',
    '<ul data-seg-slot="o"><li data-seg-segment="G.A">a</li>'
    '<li data-seg-segment="{V}" data-x="{V}">b</li><li data-seg-segment="G.B">c</li></ul>',
    '<svg viewBox="0 0 2 2"><path d="{V}"/></svg>',
    "<table><tr><td data-k='{V}'>1<td>2</table>",
    "<textarea>{V}</textarea>",
    '<div data-seg-slot="s" hidden>plain</div>',
    '<ul data-seg-slot="o"><li data-seg-segment="G.A">a</li><li data-seg-segment="G.B">b</li></ul>',
    "<p>static text</p>",
]
# Values of one length: the memo only reuses a page of the same length, so most requests
# get there; the alphabet includes every byte that could break out of a value.
ALPHABET = "abcXYZ019_-.=/ \"'<>&G.AB"


@st.composite
def journeys(draw: st.DrawFn) -> tuple[str, list[list[str]]]:
    template = "".join(draw(st.lists(st.sampled_from(UNITS), min_size=1, max_size=7)))
    holes = template.count("{V}")
    length = draw(st.integers(0, 12))
    value = st.text(alphabet=ALPHABET, min_size=length, max_size=length)
    safe = st.text(alphabet="abcXYZ019_-", min_size=length, max_size=length)
    pages = draw(
        st.lists(
            st.lists(st.one_of(safe, safe, value), min_size=holes, max_size=holes),
            min_size=2,
            max_size=6,
        )
    )
    return template, pages


def fill(template: str, values: list[str]) -> bytes:
    parts = template.split("{V}")
    out = [parts[0]]
    for v, part in zip(values, parts[1:], strict=True):
        out += [v, part]
    return "".join(out).encode()


@settings(
    max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(journeys())
def test_memoized_rewrites_are_fresh_rewrites(journey: tuple[str, list[list[str]]]) -> None:
    rw._PAGES.clear()
    rw._EXTENTS.clear()
    template, pages = journey
    for values in pages:
        doc = fill(template, values)
        expected = fresh(doc, EDITS)
        assert rw.rewrite(doc, EDITS) == expected, doc
        assert rw.rewrite(doc, EDITS) == expected, doc  # the page's plan, if it has one
        assert memo_slot_tags(doc) == fresh_slot_tags(doc), doc
    if "data-seg-slot" in template:
        # the second rewrite of a page finds its shape memoized, and the plan made by the
        # first (the fresh rewrites above run with the memos off: they count nothing)
        assert rw._PAGES.plan_hits > 0


def test_csrf_tokens_are_learned_then_hit() -> None:
    template = (
        '<main><div data-seg-slot="s" hidden>Hi</div>'
        + UNITS[0]
        + "<p>text</p>"
        + UNITS[0]
        + '<ul data-seg-slot="o"><li data-seg-segment="G.A">a</li>'
        + '<li data-seg-segment="G.B">b</li></ul></main>'
    )
    rnd = random.Random(7)

    def token() -> str:
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789-_.") for _ in range(40))

    outs = []
    for _ in range(10):
        doc = fill(template, [token(), token()])
        out = rw.rewrite(doc, EDITS)
        assert out == fresh(doc, EDITS)
        outs.append(out)
    # The first page is scanned, the second teaches the token ranges, the rest hit.
    assert rw._PAGES.misses == 2 and rw._PAGES.hits == 8
    assert all(b'<div data-seg-slot="s">Hi</div>' in o for o in outs)
    assert all(o.index(b'"G.B"') < o.index(b'"G.A"') for o in outs)


def test_a_value_that_breaks_out_of_its_quotes_is_scanned_afresh() -> None:
    template = '<input type="hidden" name="csrf" value="{V}"><div data-seg-slot="s" hidden>x</div>'
    rw.rewrite(fill(template, ["aaaaaaaaaaaaaaaaaaaaaaaaaa"]), EDITS)
    rw.rewrite(fill(template, ["bbbbbbbbbbbbbbbbbbbbbbbbbb"]), EDITS)  # learned
    hits = rw._PAGES.hits
    # Same length; closes the quote and opens a slot start tag of its own.
    evil = fill(template, ['"><p data-seg-slot="s" x="'])
    assert len(evil) == len(fill(template, ["a" * 26]))
    assert rw.rewrite(evil, EDITS) == fresh(evil, EDITS)
    assert rw._PAGES.hits == hits  # not taken from the memo
    assert memo_slot_tags(evil) == fresh_slot_tags(evil)


def test_text_that_varies_is_never_inert() -> None:
    template = '<p>Hello {V}</p><div data-seg-slot="s" hidden>x</div>'
    for name in ("Ann", "Bob", "Cyd", "<b>"):
        doc = fill(template, [name])
        assert rw.rewrite(doc, EDITS) == fresh(doc, EDITS)
    assert rw._PAGES.hits == 0


# --------------------------------------------------------------------------- extent memo


@settings(
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from([u for u in UNITS if "data-seg-slot" in u]),
    st.lists(st.sampled_from(UNITS), max_size=3).map("".join),
    st.lists(st.sampled_from([*UNITS, "</div>", "<div>", "</ul><p>", "<!--"]), max_size=3),
    st.lists(st.text(alphabet=ALPHABET, max_size=6), min_size=12, max_size=12),
)
def test_the_same_element_elsewhere_has_the_same_extent(
    slot: str, before: str, after: list[str], values: list[str]
) -> None:
    # The same slot element, at other offsets, with other bytes after it.
    for k in range(3):
        html = before + slot + "".join(after[k:]) + "".join(after[:k])
        doc = fill(html, values[: html.count("{V}")])
        for tag, _raw in rw._slot_tags(doc, rw._candidates(doc, rw.SLOT_ATTR)):
            for want_children in (False, True):
                a = rw._element_extent(doc, tag, want_children)
                with memo_off():
                    b = rw._element_extent(doc, tag, want_children)
                assert shape(a) == shape(b)
        if k == 0:
            before = "<p>shifted</p>" + before
    assert rw._EXTENTS.hits + rw._EXTENTS.misses > 0 or "data-seg-slot" not in slot


# ----------------------------------------------------- attribute and head memos

HEADS = [
    '<meta name="smartseg:category" content="{V}">',
    "<meta content='law, {V}' name=smartseg:category>",
    "<!-- <meta name=smartseg:category content={V}> -->",
    '<script>var m = "<meta name=smartseg:category content=x>{V}";</script>',
    "<title>{V}</title>",
    '<link rel="x" href="{V}">',
]


@st.composite
def documents(draw: st.DrawFn) -> list[bytes]:
    head = "".join(draw(st.lists(st.sampled_from(HEADS), min_size=1, max_size=4)))
    holes = head.count("{V}")
    value = st.text(alphabet=ALPHABET, max_size=8)
    docs = []
    for _ in range(draw(st.integers(2, 5))):
        values = draw(st.lists(value, min_size=holes, max_size=holes))
        body = draw(
            st.sampled_from(["", "<p>x</p>", '<meta name="smartseg:category" content="b">'])
        )
        end = draw(st.sampled_from(["</head>", "</HEAD >", "</header>", ""]))
        docs.append(f"<html><head>{fill(head, values).decode()}{end}<body>{body}".encode())
    return docs


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_the_head_memo_gives_what_a_fresh_read_gives(docs: list[bytes]) -> None:
    rw._HEAD_MEMO.clear()
    for doc in docs * 2:  # the second pass hits the memo
        got = rw.page_categories(doc)
        saved = dict(rw._HEAD_MEMO)
        rw._HEAD_MEMO.clear()
        assert got == rw.page_categories(doc), doc
        rw._HEAD_MEMO.clear()
        rw._HEAD_MEMO.update(saved)


@given(st.binary(max_size=120), st.binary(max_size=120))
def test_memoized_attributes_are_parsed_attributes(area: bytes, before: bytes) -> None:
    doc = before + b"<p " + area + b">"
    tag = rw._Tag(len(before), len(doc), b"p", len(before) + 3, 0, 0)
    first, again = tag.attrs(doc), tag.attrs(doc)
    assert first == again == rw._parse_attrs(doc, tag.area, tag.end - 1)


# --------------------------------------------------------------------------- plan cache

# Template units for plans: slots of every kind, nested in one another and in ordered
# children, with per-request values ("{V}") in inert places inside them (CSRF-like
# tokens in hidden, replaced and ordered elements, and next to revealed start tags).
PLAN_UNITS = [
    *UNITS,
    '<form><input type="hidden" name="csrf" value="{V}"><div data-seg-slot="u" hidden>'
    '<input name="csrf" value="{V}"></div></form>',
    '<title data-seg-slot="ti">Old title</title>',
    '<textarea data-seg-slot="ti" hidden>old {V} text</textarea>',
    '<ul data-seg-slot="o"><li data-seg-segment="G.A"><div data-seg-slot="u" hidden>'
    '<a href="/a?t={V}">in a</a></div></li><li data-seg-segment="G.B" data-k="{V}">'
    '<span data-seg-slot="s" hidden data-x="{V}">b</span></li>'
    '<li data-seg-segment="G.C"><p data-seg-slot="t">c<input value="{V}"></p></li></ul>',
    '<ol data-seg-slot="o"><li data-seg-segment="G.A"><ul data-seg-slot="p">'
    '<li data-seg-segment="H.X">x</li><li data-seg-segment="H.Y" title="{V}">y</li>'
    '<li data-seg-segment="H.Z"><b data-seg-slot="u">z</b></li></ul></li>'
    '<li data-seg-segment="G.B">b<i data-k="{V}">i</i></li>\n<li>unranked</li>'
    '<li data-seg-segment="G.C" data-seg-slot="t">c</li></ol>',
    '<div data-seg-slot="p" hidden><section data-seg-slot="o"><p data-seg-segment="G.B">b</p>'
    '<p data-seg-segment="G.A" class="{V}">a</p></section></div>',
    '<div data-seg-slot="t"><div data-seg-slot="s" hidden title="{V}">in t</div></div>',
    '<ul data-seg-slot="p"><li data-seg-segment="H.X">x<li data-seg-segment="H.Y">y</ul>',
    '<div data-seg-slot="u"></div><span data-seg-slot="s" hidden=hidden>s</span>',
]
SLOTS = ("s", "t", "u", "o", "p", "ti")
KINDS = ("show", "hide", "replace", "reveal", "order", None)
SEGMENTS = ("G.A", "G.B", "G.C", "H.X", "H.Y", "H.Z")
HTMLS = ["", "<b>R</b>", "plain é", "</title> escapes", "x</TEXTAREA>", "<p>a</p><p>b</p>"]


def make_edit(kind: str, html: str, ranking: dict[str, float]) -> rw.Edit:
    return {
        "show": lambda: Show(),
        "hide": lambda: Hide(),
        "replace": lambda: Replace(html),
        "reveal": lambda: Replace(html, reveal=True),
        "order": lambda: Order(ranking),
    }[kind]()


@st.composite
def plan_journeys(
    draw: st.DrawFn,
) -> tuple[str, list[tuple[list[str], dict[str, rw.Edit]]]]:
    """A template and requests: per-request values and edits.  The edits follow one of a
    few "rule sets" (slot → kind, so that plans are reused), with html and rankings
    drawn per request."""
    template = "".join(draw(st.lists(st.sampled_from(PLAN_UNITS), min_size=1, max_size=6)))
    holes = template.count("{V}")
    length = draw(st.integers(0, 10))
    value = st.text(alphabet=ALPHABET, min_size=length, max_size=length)
    safe = st.text(alphabet="abcXYZ019_-", min_size=length, max_size=length)
    # o and p hold ranked children: mostly ordered (nested orders too)
    ordered = st.sampled_from(("order", "order", "order", "hide", "reveal", None))
    kinds = st.fixed_dictionaries(
        {slot: ordered if slot in "op" else st.sampled_from(KINDS) for slot in SLOTS}
    )
    rule_sets = draw(st.lists(kinds, min_size=1, max_size=3))
    score = st.one_of(
        st.sampled_from([0.0, 0.5, 1.0, -1.0]),
        st.floats(allow_nan=True, width=16),
        st.integers(-2, 2),
    )
    requests = []
    for _ in range(draw(st.integers(2, 8))):
        values = draw(st.lists(st.one_of(safe, safe, value), min_size=holes, max_size=holes))
        rules = draw(st.sampled_from(rule_sets))
        edits: dict[str, rw.Edit] = {}
        for slot in draw(st.permutations(SLOTS)):
            if rules[slot] is not None:
                ranking = draw(st.dictionaries(st.sampled_from(SEGMENTS), score, max_size=6))
                edits[slot] = make_edit(rules[slot], draw(st.sampled_from(HTMLS)), ranking)
        requests.append((values, edits))
    return template, requests


@settings(
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan_journeys())
def test_planned_rewrites_are_fresh_rewrites(
    journey: tuple[str, list[tuple[list[str], dict[str, rw.Edit]]]],
) -> None:
    rw._PAGES.clear()
    rw._EXTENTS.clear()
    template, requests = journey
    for values, edits in requests:
        doc = fill(template, values)
        expected = fresh(doc, edits)
        for _ in range(2):  # the second time at least, the page's shape is memoized
            got = rw.rewrite(doc, edits)
            assert got == expected, (doc, edits)
            assert (got is doc) == (expected is doc)


def test_plans_hit_across_requests_with_other_values() -> None:
    """Values change every request (tokens, texts, rankings, slots present): one plan per
    rule set, hit by every later request of that page shape."""
    # (values only where the page memo learns them: not in text, nor in a slot's tag)
    template = (
        '<form><input type="hidden" name="csrf" value="{V}"><div data-seg-slot="u" hidden>'
        '<input name="csrf" value="{V}"></div></form><title data-seg-slot="ti">T</title>'
        '<ol data-seg-slot="o"><li data-seg-segment="G.A"><ul data-seg-slot="p">'
        '<li data-seg-segment="H.X">x</li><li data-seg-segment="H.Y" title="{V}">y</li>'
        '<li data-seg-segment="H.Z"><b data-seg-slot="u">z</b></li></ul></li>'
        '<li data-seg-segment="G.B">b<i data-k="{V}">i</i></li>\n<li>unranked</li>'
        '<li data-seg-segment="G.C" data-seg-slot="t">c</li></ol>'
        '<div data-seg-slot="s" hidden><span title="{V}">s</span></div>'
    )
    rnd = random.Random(17)

    def token() -> str:
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789-_.") for _ in range(8))

    rule_sets = [
        {"s": "show", "t": "hide", "u": "reveal", "o": "order", "p": "order", "ti": "reveal"},
        {"s": "show", "u": "replace", "o": "order", "ti": "replace"},
        {"t": "hide", "o": "order", "p": "hide"},
    ]
    for i in range(60):
        rules = rule_sets[i % 3]
        edits = {
            slot: make_edit(
                kind,
                rnd.choice(HTMLS),
                {seg: rnd.choice([0.0, 0.3, 0.9, -1.0]) for seg in SEGMENTS},
            )
            for slot, kind in rules.items()
        }
        doc = fill(template, [token() for _ in range(template.count("{V}"))])
        assert rw.rewrite(doc, edits) == fresh(doc, edits)
    # one plan per rule set, made on its first request; the second request only taught
    # the page memo the tokens (no page shape yet: no plan); every other one hits
    assert rw._PAGES.plan_misses == 3
    assert rw._PAGES.plan_hits == 60 - 1 - 3


def test_a_token_inside_edited_elements_comes_from_the_request() -> None:
    """Ranges, not bytes: a per-request token inside a hidden, replaced, revealed or
    ordered element is taken from the document being rewritten."""
    template = (
        '<div data-seg-slot="s" hidden><input name="csrf" value="{V}"></div>'
        '<ul data-seg-slot="o"><li data-seg-segment="G.A"><a href="/?t={V}">a</a></li>'
        '<li data-seg-segment="G.B">b</li></ul>'
        '<p data-seg-slot="u" hidden><span title="{V}">x</span></p>'
    )
    edits: dict[str, rw.Edit] = {"s": Show(), "o": Order({"G.B": 1.0}), "u": Replace("", True)}
    for k in range(6):
        token = f"tok{k:04d}"
        doc = fill(template, [token] * 3)
        out = rw.rewrite(doc, edits)
        assert out == fresh(doc, edits)
        assert out.count(token.encode()) == 2  # the replaced element's one is gone
    assert rw._PAGES.plan_hits >= 3


def test_plans_are_bounded_and_go_with_their_page() -> None:
    doc = b'<div data-seg-slot="s" hidden>x</div><div data-seg-slot="t">y</div>'
    for i in range(3 * rw._PLANS_PER_PAGE):
        edits: dict[str, rw.Edit] = {"s": Show(), f"other{i}": Hide()}
        assert rw.rewrite(doc, edits) == fresh(doc, edits)
    (page,) = rw._PAGES._pages[len(doc)]
    assert len(page.plans) == rw._PLANS_PER_PAGE
    assert page.plan_bytes == sum(p.size for p in page.plans.values() if p is not None)
    assert rw._PAGES.size_bytes == len(doc) + page.plan_bytes
    # a page dropped from the memo takes its plans with it, and gets no new ones
    rw._PAGES.clear()
    assert rw._PAGES.size_bytes == 0
    rw._PAGES.put_plan(page, ("utf-8",), None)
    assert rw._PAGES.size_bytes == 0


def test_page_memo_budget_counts_plans() -> None:
    memo = rw._PageMemo(max_bytes=20_000, per_length=4)
    docs = [f'<div data-seg-slot="s">{"x" * i}</div>'.encode() for i in range(40)]
    for doc in docs:
        page, _tags = memo.lookup(doc)
        assert page is not None
        big = rw._Plan([(0, 1)] * 20)  # ~2.8 KB counted
        memo.put_plan(page, ("utf-8", "s", "show"), big)
        assert memo.size_bytes <= 20_000
    held = [p for pages in memo._pages.values() for p in pages]
    assert memo.size_bytes == sum(len(p.doc) + p.plan_bytes for p in held)


def test_no_plans_with_the_memos_off() -> None:
    doc = b'<div data-seg-slot="s" hidden>x</div>'
    with memo_off():
        for _ in range(3):
            rw.rewrite(doc, {"s": Show()})
    assert rw._PAGES.plan_hits == rw._PAGES.plan_misses == 0


def test_a_title_replace_follows_the_request_html() -> None:
    template = '<head><link href="/s.css?v={V}"><title data-seg-slot="ti" hidden>T</title></head>'
    for k, html in enumerate(["New", "a </title> b", "x</TITLE", "fine </p>", "ok"]):
        doc = fill(template, [f"{k:03d}"])
        edits: dict[str, rw.Edit] = {"ti": Replace(html, reveal=True)}
        assert rw.rewrite(doc, edits) == fresh(doc, edits)
    assert rw._PAGES.plan_hits >= 2


def test_nested_orders_with_rankings_that_keep_or_change_the_order() -> None:
    """An ordered element inside a ranked child of another, edits nested in both, and
    rankings under which either order, both or none is the identity (then _order_splice
    makes no splice and the nested edits apply in place: the plan must agree)."""
    template = (
        '<link href="/x?v={V}"><ol data-seg-slot="o"><li data-seg-segment="G.A">'
        '<ul data-seg-slot="p"><li data-seg-segment="H.X">x<i data-k="{V}">i</i></li>'
        '<li data-seg-segment="H.Y"><b data-seg-slot="u">y</b></li>'
        '<li data-seg-segment="H.Z"><div data-seg-slot="t">z</div></li></ul></li>'
        '<li data-seg-segment="G.B"><span data-seg-slot="s" hidden>b</span></li>'
        '<li data-seg-segment="G.C" data-k="{V}">c</li></ol>'
    )
    rankings = [{}, {"G.B": 1.0}, {"H.Z": 1.0}, {"G.C": 2.0, "H.Y": 1.0}, {"G.A": 0.1}]
    k = 0
    for outer in rankings:
        for inner in rankings:
            k += 1
            edits: dict[str, rw.Edit] = {
                "o": Order(outer),
                "p": Order(inner),
                "u": Replace(f"<em>{k}</em>"),
                "t": Hide(),
                "s": Show(),
            }
            doc = fill(template, [f"{k:04d}"] * 3)
            assert rw.rewrite(doc, edits) == fresh(doc, edits), (outer, inner)
    assert rw._PAGES.plan_misses == 1 and rw._PAGES.plan_hits == len(rankings) ** 2 - 2
