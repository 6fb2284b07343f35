"""Property tests for the rewriter.

Documents are built from balanced units (hand-made tricky ones, and well-formed fragments
of the corpus pages and html5lib inputs), with one slot element placed at a random spot
whose extent the generator knows.  Whatever the units contain (comments and scripts full
of fake tags, attributes with '>' and fake slot text, raw text, SVG), the output must be
the input with exactly that element's bytes changed as the action says.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import pytest
from conftest import CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartseg_dsl import rewrite as rw
from smartseg_dsl.rewrite import Hide, Order, Replace, Show


@pytest.fixture(autouse=True)
def _strict(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(rw, "_RAISE_INTERNAL_ERRORS", True)
    yield


# --------------------------------------------------------------------------- units

# Balanced, data-state-to-data-state units: each is complete markup (or text).
TRICKY: list[str] = [
    "text with 1 < 2 and a > b",
    "<!-- <div data-seg-slot=s>fake</div> -->",
    "<!-- a --!>",
    "<!---->",
    "<!-->",
    '<script>var a = "</div><div data-seg-slot=s>"; if (a < b) {}</script>',
    "<script type=module>/* <!-- */ let x = '</scr' + 'ipt>';</script>",
    "<script><!--<script></script>--></script>",
    "<style>/* <div data-seg-slot=s> */ a > b { color: red }</style>",
    "<textarea name=t><div data-seg-slot=s></div></textarea>",
    "<title>T <b data-seg-slot=s></title>",
    "<noscript><img data-seg-slot=s src=x></noscript>",
    '<div title="a > b <div data-seg-slot=s>" data-x=\'=">\'>x</div>',
    '<a href="/x?a=1&b=2" title=">">link</a>',
    "<SPAN CLASS=big Title=x>UP</SPAN>",
    "<img src=a.png alt='<p data-seg-slot=s>'>",
    "<br/>",
    "<input type=text value='data-seg-slot=s' disabled>",
    "<hr>",
    '<svg viewBox="0 0 2 2"><title>icon</title><path d="M0 0"/><g><circle r="1"/></g></svg>',
    "<svg><![CDATA[ <div data-seg-slot=s> ]]></svg>",
    "<math><mi>x</mi><mo>=</mo><mn>1</mn></math>",
    "<![CDATA[ bogus ]]>",
    "<?processing instruction?>",
    "<p>para <em>em</em> and <b>bold</b></p>",
    "<ul><li>one<li>two</ul>",
    "<table><tr><td>1<td>2</table>",
    "<div><div>nested</div><div>same</div></div>",
    "<section><p>unclosed para</section>",
    "<x-card data-x=1>custom</x-card>",
    "<p>&amp; &lt;div data-seg-slot=s&gt; &#x3C;</p>",
    "\n  \t",
    "data-seg-slot=s as text",
    '<template><div data-seg-slot="t">in template</div></template>',
]


@cache
def corpus_units() -> list[str]:
    """Well-formed fragments: the outer HTML of elements of the corpus pages and the body
    content of html5lib inputs, as serialised by an HTML5 parser (Lexbor), kept only when
    the rewriter knows their extent inside a <div> (a slot must be able to contain them)."""
    if not CORPUS.is_dir():
        return []
    from selectolax.lexbor import LexborHTMLParser

    found: list[str] = []
    rnd = random.Random(2024)
    for page in ("cloudflare.com.html", "ecma402-spec.html"):
        tree = LexborHTMLParser((CORPUS / "pages" / page).read_bytes().decode("utf-8"))
        nodes = [n for n in tree.css("div, p, span, a, ul, h2, section, table, svg, form")]
        for node in rnd.sample(nodes, min(150, len(nodes))):
            html = node.html or ""
            if 0 < len(html) < 3000:
                found.append(html)
    lines = (CORPUS / "html5lib-tree-construction.jsonl").read_text("utf-8").splitlines()
    for line in rnd.sample(lines, 300):
        body = LexborHTMLParser(json.loads(line)["html"]).body
        if body is not None and body.html:
            found.append(body.html[len("<body>") : -len("</body>")])
    keep = []
    for unit in found:
        if "data-seg-slot" in unit or "data-seg-segment" in unit:
            continue
        probe = f'<div data-seg-slot="probe">{unit}</div>'.encode()
        tags = rw._slot_tags(probe, rw._candidates(probe, rw.SLOT_ATTR))
        if len(tags) == 1 and rw._element_extent(probe, tags[0][0]) is not None:
            ext = rw._element_extent(probe, tags[0][0])
            if ext is not None and ext.end == len(probe):
                keep.append(unit)
    return keep


# --------------------------------------------------------------------------- the slot element

ROOTS = ["div", "section", "article", "aside", "x-card", "DIV", "Section", "span", "nav"]
HIDDEN_FORMS = ["hidden", 'hidden=""', "HIDDEN='hidden'", "hidden=hidden", "Hidden = ''"]
EXTRA_ATTRS = [
    'class="a > b"',
    "data-x='data-seg-slot=fake'",
    'title="<div data-seg-slot=fake>"',
    "id=plain",
    "data-empty",
    'style="x:y"',
]
SEPARATORS = [" ", "\n  ", "\t", "  "]


@dataclass
class SlotDoc:
    prefix: str
    start: str  # the start tag
    start_shown: str  # the start tag without its hidden attributes
    inner: str
    end: str
    suffix: str

    def html(self) -> str:
        return self.prefix + self.start + self.inner + self.end + self.suffix


@st.composite
def slot_start(draw: st.DrawFn, name: str, slot: str = "s") -> tuple[str, str]:
    """A start tag for slot ``slot`` and the same tag without its hidden attribute(s)."""
    quote = draw(st.sampled_from(['"{}"', "'{}'", "{}"]))
    attrs = [f"data-seg-slot={quote.format(slot)}"]
    attrs += draw(st.lists(st.sampled_from(EXTRA_ATTRS), max_size=3))
    hidden = draw(st.lists(st.sampled_from(HIDDEN_FORMS), max_size=2))
    attrs += hidden
    order = draw(st.permutations(attrs))
    seps = [draw(st.sampled_from(SEPARATORS)) for _ in order]
    tail = draw(st.sampled_from(["", " ", "\n"]))
    full = "<" + name + "".join(s + a for s, a in zip(seps, order, strict=True)) + tail + ">"
    # Expected Show result: each hidden attribute goes with the whitespace before it.
    shown = "<" + name + "".join(s + a for s, a in zip(seps, order, strict=True) if a not in hidden)
    return full, shown + tail + ">"


def units(extra: list[str]) -> st.SearchStrategy[str]:
    pool = TRICKY + extra
    return st.lists(st.sampled_from(pool), max_size=4).map("".join)


@st.composite
def slot_docs(draw: st.DrawFn, extra: list[str], slot: str = "s") -> SlotDoc:
    name = draw(st.sampled_from(ROOTS))
    start, shown = draw(slot_start(name, slot))
    end = draw(st.sampled_from([f"</{name}>", f"</{name.upper()}>", f"</{name.lower()} >"]))
    return SlotDoc(draw(units(extra)), start, shown, draw(units(extra)), end, draw(units(extra)))


REPLACEMENTS = ["plain", "<b>bold</b> &amp; more", "", "caf\u00e9 \u2603"]


def check_actions(doc: SlotDoc) -> None:
    html = doc.html()
    data = html.encode()
    out = rw.rewrite(data, {"s": Hide()})
    assert out == (doc.prefix + doc.suffix).encode()
    for text in REPLACEMENTS:
        out = rw.rewrite(data, {"s": Replace(text)})
        assert out == (doc.prefix + doc.start + text + doc.end + doc.suffix).encode()
        out = rw.rewrite(data, {"s": Replace(text, reveal=True)})
        assert out == (doc.prefix + doc.start_shown + text + doc.end + doc.suffix).encode()
    out = rw.rewrite(data, {"s": Show()})
    assert out == (doc.prefix + doc.start_shown + doc.inner + doc.end + doc.suffix).encode()
    if doc.start_shown == doc.start:
        assert out is data
    assert rw.rewrite(data, {"other": Hide()}) is data
    assert rw.slot_names(data)[:1] == ("s",) or doc.prefix.count('data-seg-slot="t"')


@given(slot_docs([]))
def test_actions_on_generated_documents(doc: SlotDoc) -> None:
    check_actions(doc)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_actions_on_corpus_fragments(data: st.DataObject) -> None:
    extra = corpus_units()
    if not extra:
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    check_actions(data.draw(slot_docs(extra)))


# --------------------------------------------------------------------------- order


@st.composite
def ordered_docs(draw: st.DrawFn) -> tuple[str, dict[str, float], str]:
    """A slot with ranked and unranked children, a ranking, and the expected output."""
    container, child = draw(st.sampled_from([("ul", "li"), ("div", "div"), ("ol", "li")]))
    start, _ = draw(slot_start(container))
    items: list[tuple[str | None, str]] = []  # (segment or None, markup)
    for k in range(draw(st.integers(1, 6))):
        body = draw(units([]))
        if draw(st.booleans()):
            seg = f"G.S{k}"
            q = draw(st.sampled_from(['"{}"', "'{}'", "{}"])).format(seg)
            items.append((seg, f"<{child} data-seg-segment={q}>{body}</{child}>"))
        else:
            items.append((None, f"<{child}>{body}</{child}>"))
    gaps = [draw(st.sampled_from(["", "\n  ", " text ", "<!-- c -->"])) for _ in items]
    segs = sorted({s for s, _ in items if s})
    ranking = {s: draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, -1.0])) for s in segs}
    ranked = [i for i, (s, _) in enumerate(items) if s]
    order = sorted(ranked, key=lambda i: -ranking.get(items[i][0] or "", 0.0))
    placed = dict(zip(ranked, order, strict=True))
    body = "".join(g + items[placed.get(i, i)][1] for i, g in enumerate(gaps))
    original = "".join(g + m for g, (_, m) in zip(gaps, items, strict=True))
    prefix, suffix = draw(units([])), draw(units([]))
    html = f"{prefix}{start}{original}</{container}>{suffix}"
    expected = f"{prefix}{start}{body}</{container}>{suffix}"
    return html, ranking, expected


@given(ordered_docs())
def test_order_on_generated_documents(case: tuple[str, dict[str, float], str]) -> None:
    html, ranking, expected = case
    data = html.encode()
    out = rw.rewrite(data, {"s": Order(ranking)})
    assert out == expected.encode()
    if expected == html:
        assert out is data


# --------------------------------------------------------------------------- nesting


@given(slot_docs([]), slot_docs([], "i"), st.sampled_from(["hide", "replace", "show"]))
def test_inner_slot_goes_with_a_hidden_or_replaced_outer(
    outer: SlotDoc, inner: SlotDoc, inner_action: str
) -> None:
    doc = SlotDoc(
        outer.prefix, outer.start, outer.start_shown, inner.html(), outer.end, outer.suffix
    )
    data = doc.html().encode()
    edit = {"hide": Hide(), "replace": Replace("X"), "show": Show()}[inner_action]
    assert rw.rewrite(data, {"s": Hide(), "i": edit}) == (doc.prefix + doc.suffix).encode()
    assert (
        rw.rewrite(data, {"s": Replace("O"), "i": edit})
        == (doc.prefix + doc.start + "O" + doc.end + doc.suffix).encode()
    )
    # The outer one shown: the inner edit applies inside it.
    inner_out = {
        "hide": inner.prefix + inner.suffix,
        "replace": inner.prefix + inner.start + "X" + inner.end + inner.suffix,
        "show": inner.prefix + inner.start_shown + inner.inner + inner.end + inner.suffix,
    }[inner_action]
    assert (
        rw.rewrite(data, {"s": Show(), "i": edit})
        == (doc.prefix + doc.start_shown + inner_out + doc.end + doc.suffix).encode()
    )


# --------------------------------------------------------------------------- robustness

EDITS = st.sampled_from(
    [Hide(), Show(), Replace("x"), Replace("<b>y</b>", reveal=True), Order({"G.A": 1.0})]
)
NAMES = st.sampled_from(["s", "a", "", "x/"])


@given(st.binary(max_size=400), st.dictionaries(NAMES, EDITS, max_size=3))
def test_random_bytes_never_raise(doc: bytes, edits: dict[str, object]) -> None:
    out = rw.rewrite(doc, edits)  # type: ignore[arg-type]
    if rw.SLOT_ATTR not in doc or not edits:
        assert out is doc
    rw.page_categories(doc)
    rw.slot_names(doc)
    rw.has_slots(doc)


TOKENS = [
    b"<",
    b">",
    b'"',
    b"'",
    b"=",
    b"/",
    b"<!--",
    b"-->",
    b"<script>",
    b"</script>",
    b"<div ",
    b"</div>",
    b"<svg>",
    b"<![CDATA[",
    b"]]>",
    b" data-seg-slot=s ",
    b'<p data-seg-slot="s" hidden>',
    b"</p>",
    b"<li data-seg-segment=G.A>",
    b"<textarea>",
    b"\x00",
    b"\xff",
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    base = draw(st.sampled_from(TRICKY)).encode()
    doc = (draw(units([])) + '<div data-seg-slot="s">x</div>').encode() + base
    for _ in range(draw(st.integers(0, 6))):
        k = draw(st.integers(0, len(doc)))
        doc = doc[:k] + draw(st.sampled_from(TOKENS)) + doc[k:]
    return doc


@given(mutated(), EDITS)
def test_mutated_documents_change_only_inside_a_slot(doc: bytes, edit: object) -> None:
    out = rw.rewrite(doc, {"s": edit})  # type: ignore[dict-item]
    if out is doc:
        return
    # What changed lies within the slot elements the scanner found: everything before
    # the first one and after the last one is unchanged (no truncation, nothing moved).
    tags = [t for t, raw in rw._slot_tags(doc, rw._candidates(doc, rw.SLOT_ATTR)) if raw == b"s"]
    assert tags
    first = tags[0].start
    last = max(ext.end if (ext := rw._element_extent(doc, t)) is not None else t.end for t in tags)
    assert out[:first] == doc[:first]
    assert out.endswith(doc[last:])
    assert len(out) >= first + len(doc) - last


# --------------------------------------------------------------------------- the proof


class _ExactScan(rw._Scan):
    """The document scan with the cheap proof disabled: every event is located by the
    exact tokenizer.  Both must find the same tags (the docstring's conditions A/B)."""

    __slots__ = ()

    def _quotes_ok(self, a: int, o: int) -> bool:
        return False


@st.composite
def noisy(draw: st.DrawFn) -> bytes:
    doc = draw(slot_docs([])).html().encode()
    for _ in range(draw(st.integers(0, 6))):
        k = draw(st.integers(0, len(doc)))
        doc = doc[:k] + draw(st.sampled_from([*TOKENS, b'="', b"='", b"a>b"])) + doc[k:]
    return doc


@given(noisy())
def test_cheap_proof_agrees_with_exact_tokenization(doc: bytes) -> None:
    cands = rw._candidates(doc, rw.SLOT_ATTR)
    fast = [(t.start, t.end) for t in rw._Scan(doc, cands).run()]
    exact = [(t.start, t.end) for t in _ExactScan(doc, cands).run()]
    assert fast == exact


# --------------------------------------------------------------------------- categories

HEAD_UNITS = [
    '<meta name="smartseg:category" content="a">',
    "<meta name=smartseg:category content=b>",
    "</head>",
    "</HEAD>",
    "</header>",
    "<!-- </head> -->",
    "<script>'</head>'</script>",
    "<title></head></title>",
    "<link title='</head>'>",
]


def _all_categories(doc: bytes) -> list[tuple[int, str]]:
    """(tag end, category) for every real category meta of the whole document."""
    out = []
    for tag in rw._Scan(doc, rw._candidates(doc, rw.CATEGORY_META)).run():
        attrs = {a[0]: a[4] for a in reversed(tag.attrs(doc))}
        if tag.name == b"meta" and attrs.get(b"name") == b"smartseg:category":
            out.append((tag.end, (attrs.get(b"content") or b"").decode()))
    return out


@given(st.lists(st.sampled_from(TRICKY + HEAD_UNITS), max_size=8).map("".join))
def test_categories_are_those_before_the_heads_end(html: str) -> None:
    doc = html.encode()
    found = rw.page_categories(doc)
    every = _all_categories(doc)
    cut = doc.find(b"</head>")
    whole = tuple(dict.fromkeys(c for _, c in every if c))
    head = tuple(dict.fromkeys(c for end, c in every if c and end <= cut))
    # Either the head's end was proved (metas after it are ignored) or all is read.
    assert found in (whole, head)
    if cut < 0 or doc.find(b"</head") < 0:
        assert found == whole
