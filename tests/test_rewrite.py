"""The HTML slot rewriter: actions (snapshots), edge cases, gates and encodings."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import pytest

from smartseg_dsl import rewrite as rw
from smartseg_dsl.rewrite import Edit, Hide, Order, Replace, Show


@pytest.fixture(autouse=True)
def _strict(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Internal errors must surface in tests instead of degrading to "unchanged"."""
    monkeypatch.setattr(rw, "_RAISE_INTERNAL_ERRORS", True)
    yield


def run(html: str, edits: Mapping[str, Edit], encoding: str = "utf-8") -> str:
    return rw.rewrite(html.encode(encoding), edits, encoding).decode(encoding)


def unchanged(html: str, edits: Mapping[str, Edit]) -> bool:
    doc = html.encode()
    return rw.rewrite(doc, edits) is doc


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Acme Billing</title>
  <script>window.dataLayer = ["<div data-seg-slot='headline'>"];</script>
</head>
<body>
  <!-- <h1 data-seg-slot="headline">old headline</h1> -->
  <header class="hero">
    <h1 data-seg-slot="headline" class='hero__title'>Billing for everyone</h1>
    <p data-seg-slot=legal_case_study hidden>How <b>Smith &amp; Co</b> bill 30% faster.</p>
    <aside data-seg-slot="survey" HIDDEN=""></aside>
  </header>
  <ul class="quotes" data-seg-slot="testimonials">
    <li data-seg-segment="Industry.Hospitality">"Our hotel loves it"</li>
    <li class="sep" aria-hidden="true"></li>
    <li data-seg-segment="Industry.Legal">"Our firm loves it"</li>
    <li data-seg-segment='Industry.RealEstate'>"Our agency loves it"</li>
  </ul>
  <div data-seg-slot="discount_banner" hidden><img src="/sale.png" alt="Sale > 20%"><br/>
    Save now</div>
</body>
</html>
"""

RANKING = {"Industry.Legal": 0.6, "Industry.RealEstate": 0.3}


# --------------------------------------------------------------------------- snapshots


@pytest.mark.parametrize(
    ("case", "edits"),
    [
        ("show", {"legal_case_study": Show(), "discount_banner": Show()}),
        ("hide", {"headline": Hide(), "discount_banner": Hide()}),
        ("replace_text", {"headline": Replace("Billing built for law firms &amp; lawyers")}),
        ("replace_reveal", {"survey": Replace("<form>Are you a lawyer?</form>", reveal=True)}),
        ("order", {"testimonials": Order(RANKING)}),
        (
            "multiple",
            {
                "headline": Replace("Billing built for law firms"),
                "legal_case_study": Show(),
                "survey": Hide(),
                "testimonials": Order(RANKING),
                "discount_banner": Replace("<strong>-20%</strong>", reveal=True),
            },
        ),
    ],
)
def test_actions_snapshot(case: str, edits: Mapping[str, Edit], snapshot: object) -> None:
    assert run(PAGE, edits) == snapshot


NESTED = """<section data-seg-slot="outer" hidden>
  <h2>Offers</h2>
  <div data-seg-slot="inner" hidden>inner offer</div>
  <ol data-seg-slot="ranked">
    <li data-seg-segment="G.A"><span data-seg-slot="badge" hidden>new</span> A</li>
    <li data-seg-segment="G.B">B <em data-seg-slot="note">note</em></li>
  </ol>
</section>
"""


@pytest.mark.parametrize(
    ("case", "edits"),
    [
        ("outer_hidden_wins", {"outer": Hide(), "inner": Show(), "badge": Show()}),
        ("outer_replaced_wins", {"outer": Replace("gone"), "inner": Replace("never")}),
        ("outer_shown_inner_edited", {"outer": Show(), "inner": Replace("inner!")}),
        (
            "edits_move_with_ordered_children",
            {"ranked": Order({"G.B": 1.0}), "badge": Show(), "note": Replace("<b>moved</b>")},
        ),
    ],
)
def test_nested_snapshot(case: str, edits: Mapping[str, Edit], snapshot: object) -> None:
    assert run(NESTED, edits) == snapshot


# --------------------------------------------------------------------------- identity


def test_no_edits_or_no_slots_returns_the_same_object() -> None:
    doc = PAGE.encode()
    assert rw.rewrite(doc, {}) is doc
    assert rw.rewrite(doc, {"nope": Hide()}) is doc
    plain = b"<html><body><p>nothing to see</p></body></html>"
    assert rw.rewrite(plain, {"headline": Hide()}) is plain


def test_show_without_hidden_is_a_no_op() -> None:
    assert unchanged(PAGE, {"headline": Show(), "testimonials": Show()})


def test_order_already_sorted_is_a_no_op() -> None:
    assert unchanged(PAGE, {"testimonials": Order({"Industry.Hospitality": 1.0})})


# --------------------------------------------------------------------------- show / hidden


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("<div data-seg-slot=s hidden>", "<div data-seg-slot=s>"),
        ('<div hidden data-seg-slot="s">', '<div data-seg-slot="s">'),
        ("<div data-seg-slot=s hidden=''>", "<div data-seg-slot=s>"),
        ('<div data-seg-slot=s HIDDEN="hidden" class=x>', "<div data-seg-slot=s class=x>"),
        (
            "<DIV DATA-SEG-SLOT=s data-seg-slot=s\tHidden = hidden>",
            "<DIV DATA-SEG-SLOT=s data-seg-slot=s>",
        ),
        ('<div data-seg-slot=s hidden hidden="">', "<div data-seg-slot=s>"),
        ('<div data-seg-slot="s"hidden>', '<div data-seg-slot="s">'),
        # The '/' must not glue onto the unquoted value before the attribute.
        ("<div data-seg-slot=s hidden/>", "<div data-seg-slot=s />"),
        ('<div data-seg-slot=s hidden="x"b=1>', "<div data-seg-slot=s b=1>"),
        # Not a hidden attribute: a value, a longer name.
        ('<div data-seg-slot=s title="hidden" data-hidden>', None),
    ],
)
def test_show_removes_exactly_the_hidden_attribute(tag: str, expected: str | None) -> None:
    html = f"<p>a</p>{tag}x</div><p>b</p>"
    out = run(html, {"s": Show()})
    if expected is None:
        assert out == html
    else:
        assert out == f"<p>a</p>{expected}x</div><p>b</p>"


def test_show_works_when_the_extent_is_unknown() -> None:
    # Only the start tag is touched, so an omitted end tag does not matter.
    assert run("<ul><li data-seg-slot=s hidden>one<li>two</ul>", {"s": Show()}) == (
        "<ul><li data-seg-slot=s>one<li>two</ul>"
    )


# --------------------------------------------------------------------------- tags & attributes


def test_uppercase_tags_and_unquoted_attributes() -> None:
    html = "<BODY><DIV CLASS=box data-seg-slot=s>in <B>bold</B></DIV>after</BODY>"
    assert run(html, {"s": Hide()}) == "<BODY>after</BODY>"
    assert (
        run(html, {"s": Replace("x")}) == "<BODY><DIV CLASS=box data-seg-slot=s>x</DIV>after</BODY>"
    )


def test_uppercase_slot_attribute_after_a_lowercase_one_is_ignored_but_first_wins() -> None:
    # HTML keeps the first of duplicate attributes: this element is slot "a".
    html = "<div DATA-SEG-SLOT=a data-seg-slot=b>x</div>"
    assert run(html, {"a": Hide()}) == ""
    assert unchanged(html, {"b": Hide()})
    assert rw.slot_names(html.encode()) == ("a",)


def test_only_lowercase_spelling_passes_the_gate() -> None:
    html = "<div DATA-SEG-SLOT=a>x</div>"
    assert not rw.has_slots(html.encode())
    assert unchanged(html, {"a": Hide()})


def test_gt_inside_quoted_attribute_values() -> None:
    html = '<a title="1 > 0" data-x=\'<b>\' data-seg-slot="s" href=/x>link</a> tail'
    assert run(html, {"s": Replace("new")}) == (
        '<a title="1 > 0" data-x=\'<b>\' data-seg-slot="s" href=/x>new</a> tail'
    )
    assert run(html, {"s": Hide()}) == " tail"


def test_slot_name_is_entity_decoded_and_trimmed() -> None:
    assert run('<div data-seg-slot=" a&#98;c ">x</div>', {"abc": Hide()}) == ""


def test_unquoted_value_includes_a_trailing_slash() -> None:
    # <div data-seg-slot=x/> : the value is "x/" (HTML tokenizer), not "x".
    assert unchanged("<div data-seg-slot=x/>y</div>", {"x": Hide()})
    assert run("<div data-seg-slot=x/>y</div>", {"x/": Hide()}) == ""


def test_unterminated_quote_swallows_the_rest_of_the_document() -> None:
    # EOF inside the tag: the whole tag (and the would-be slot after it) is dropped.
    html = '<img alt="><div data-seg-slot="s">A</div>'
    assert rw.slot_names(html.encode()) == ()
    assert unchanged(html, {"s": Hide()})


# --------------------------------------------------------------------------- void & self-closing


def test_void_element_hide_removes_the_tag_and_other_edits_leave_it() -> None:
    html = "<p>a<img data-seg-slot=s src=x.png>b</p>"
    assert run(html, {"s": Hide()}) == "<p>ab</p>"
    assert unchanged(html, {"s": Replace("x")})
    assert unchanged(html, {"s": Order({})})
    assert (
        run("<p>a<br data-seg-slot=s hidden/>b</p>", {"s": Show()})
        == "<p>a<br data-seg-slot=s />b</p>"
    )


def test_self_closing_syntax_on_a_normal_element_is_not_self_closing() -> None:
    html = '<div data-seg-slot="s"/>inside</div>after'
    assert run(html, {"s": Hide()}) == "after"
    assert run(html, {"s": Replace("R")}) == '<div data-seg-slot="s"/>R</div>after'


def test_self_closing_in_svg_is_self_closing() -> None:
    html = '<svg><path data-seg-slot="s" d="M0"/><circle r="1"/></svg>'
    assert run(html, {"s": Hide()}) == '<svg><circle r="1"/></svg>'
    icon = '<svg data-seg-slot="i" viewBox="0 0 1 1"><title>x</title><path d="M0"/></svg>!'
    assert run(icon, {"i": Hide()}) == "!"


# --------------------------------------------------------------------------- raw text & comments


def test_script_content_that_looks_like_tags() -> None:
    html = (
        '<div data-seg-slot="s"><script>var t = "</div><div data-seg-slot=s>";'
        " if (a < b) {}</script>in</div>after"
    )
    assert run(html, {"s": Hide()}) == "after"
    assert rw.slot_names(html.encode()) == ("s",)


def test_script_double_escape() -> None:
    # Inside "<!--<script>", a "</script>" does not end the script.
    html = "<script><!--<script></script>--></script><div data-seg-slot=s>x</div>"
    assert run(html, {"s": Hide()}) == "<script><!--<script></script>--></script>"
    fake = "<script><!--<script></script><div data-seg-slot=s>x</div>--></script>"
    assert rw.slot_names(fake.encode()) == ()


@pytest.mark.parametrize(
    "html",
    [
        "<!-- <div data-seg-slot=s>x</div> -->",
        "<script>document.write('<div data-seg-slot=s>x</div>')</script>",
        "<style>/* <div data-seg-slot=s> */</style>",
        "<textarea><div data-seg-slot=s>x</div></textarea>",
        "<title><div data-seg-slot=s></title>",
        "<noscript><div data-seg-slot=s>x</div></noscript>",
        "<xmp><div data-seg-slot=s></xmp>",
        '<div title="<div data-seg-slot=s>">x</div>',
        "<div title='a > b <div data-seg-slot=s>'>x</div>",
        '<div data-x=">" title="<p data-seg-slot=s>">x</div>',
        "<svg><![CDATA[<div data-seg-slot=s>]]></svg>",
        "<?php echo '<div data-seg-slot=s>' ?>",
        "<!DOCTYPE html PUBLIC '<div data-seg-slot=s>'>",
        "text data-seg-slot=s text",
        "<plaintext><div data-seg-slot=s>",
    ],
)
def test_slot_text_that_is_not_a_slot(html: str) -> None:
    assert rw.slot_names(html.encode()) == ()
    assert unchanged(html, {"s": Hide()})


@pytest.mark.parametrize("comment", ["<!-- a -->", "<!-- a --!>", "<!-->", "<!--->", "<!---->"])
def test_comment_ends_are_recognised(comment: str) -> None:
    html = f"{comment}<div data-seg-slot=s>x</div>"
    assert run(html, {"s": Hide()}) == comment


def test_bogus_comment_ends_at_first_gt_so_the_next_tag_is_real() -> None:
    html = "<![CDATA[ x ]]><div data-seg-slot=s>x</div>"
    assert run(html, {"s": Hide()}) == "<![CDATA[ x ]]>"


def test_textarea_and_title_accept_text_replacement() -> None:
    assert run("<title data-seg-slot=t>Old</title>", {"t": Replace("New &amp; fresh")}) == (
        "<title data-seg-slot=t>New &amp; fresh</title>"
    )
    # Markup that would close the element is refused.
    assert unchanged("<title data-seg-slot=t>Old</title>", {"t": Replace("</TITLE><b>")})
    assert unchanged("<script data-seg-slot=t>1</script>", {"t": Replace("2")})
    assert run("<style data-seg-slot=t>p{}</style>x", {"t": Hide()}) == "x"


# --------------------------------------------------------------------------- nesting & extents


def test_nested_elements_of_the_same_name() -> None:
    html = "<div data-seg-slot=s><div><div>a</div></div><div>b</div></div><div>keep</div>"
    assert run(html, {"s": Hide()}) == "<div>keep</div>"


def test_several_elements_per_slot() -> None:
    html = "<p data-seg-slot=s>1</p><p>2</p><span data-seg-slot=s>3</span>"
    assert (
        run(html, {"s": Replace("x")})
        == "<p data-seg-slot=s>x</p><p>2</p><span data-seg-slot=s>x</span>"
    )


def test_slot_in_slot_outer_wins() -> None:
    html = "<div data-seg-slot=o>a<div data-seg-slot=i>b</div>c</div>d"
    assert run(html, {"o": Hide(), "i": Replace("X")}) == "d"
    assert run(html, {"o": Replace("O"), "i": Replace("X")}) == "<div data-seg-slot=o>O</div>d"
    assert (
        run(html, {"i": Replace("X")})
        == "<div data-seg-slot=o>a<div data-seg-slot=i>X</div>c</div>d"
    )


@pytest.mark.parametrize(
    "html",
    [
        "<ul><li data-seg-slot=s>one<li>two</ul>",  # the next <li> closes it
        "<ul><li data-seg-slot=s>one</ul>",  # the parent's end tag closes it
        "<p data-seg-slot=s>para<div>block</div></p>",  # a block closes the <p>
        "<p data-seg-slot=s>para<p>next",
        "<table><tr><td data-seg-slot=s>1<td>2</tr></table>",
        "<dl><dt data-seg-slot=s>t<dd>d</dl>",
        "<select><option data-seg-slot=s>a<option>b</select>",
        "<div data-seg-slot=s>never closed",
        "<div data-seg-slot=s><b><i>x</b></i></div>",  # misnested formatting
        "<div data-seg-slot=s><a href=#>x<a href=#>y</a></a></div>",
        "<span data-seg-slot=s>x</b></span>",  # stray end tag
        "<div data-seg-slot=s><table><tr><td></div></td></tr></table></div>",
        "<table data-seg-slot=s>text in table<tr><td>x</td></tr></table>",  # foster parenting
        "<h2 data-seg-slot=s>a<h3>b</h3></h2>",
    ],
)
def test_unknown_extent_is_left_alone(html: str) -> None:
    assert unchanged(html, {"s": Hide()})
    assert unchanged(html, {"s": Replace("x")})


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<ul data-seg-slot=s><li>1<li>2</ul>!", "!"),
        ("<p data-seg-slot=s>para</p><p>next", "<p>next"),
        ("<li data-seg-slot=s>one</li><li>two", "<li>two"),
        ("<table data-seg-slot=s><tr><td>1<td>2<tr><td>3</table>!", "!"),
        (
            "<table><tbody><tr data-seg-slot=s><td>1</td></tr><tr><td>2</td></tr></tbody></table>",
            None,
        ),
        ("<div data-seg-slot=s><p>a<p>b<ul><li>c</ul></div>!", "!"),
        ("<section data-seg-slot=s><div><p>unclosed div</section>!", "!"),
        ("<div data-seg-slot=s><span>closed by the div</div>!", "!"),
        ("<dl data-seg-slot=s><dt>a<dd>b<dt>c</dl>!", "!"),
        ("<select data-seg-slot=s><optgroup><option>a<option>b</select>!", "!"),
    ],
)
def test_optional_end_tags_inside_the_slot(html: str, expected: str | None) -> None:
    out = run(html, {"s": Hide()})
    if expected is None:
        assert out == "<table><tbody><tr><td>2</td></tr></tbody></table>"
    else:
        assert out == expected


def test_foreign_content() -> None:
    html = (
        "<svg><foreignObject><div data-seg-slot=f>html in svg</div></foreignObject>"
        "<g data-seg-slot=g><rect/><text>t</text></g></svg>"
        "<math><mi data-seg-slot=m>x</mi></math>"
    )
    assert run(html, {"f": Hide(), "g": Replace("<tspan>n</tspan>"), "m": Replace("y")}) == (
        "<svg><foreignObject></foreignObject><g data-seg-slot=g><tspan>n</tspan></g></svg>"
        "<math><mi data-seg-slot=m>y</mi></math>"
    )
    # In SVG, <title> and <style> are not raw text: the slot after is seen as usual.
    assert rw.slot_names(b"<svg><style>a{}</style><title>t</title></svg><b data-seg-slot=s>") == (
        "s",
    )


def test_scan_stops_after_foreign_content_it_cannot_follow() -> None:
    # A breakout tag inside <svg> ends the foreign content in a way we do not model:
    # later slots are left alone rather than guessed.
    html = "<svg><p>breakout</svg><div data-seg-slot=s>x</div>"
    assert unchanged(html, {"s": Hide()})


def test_table_rows() -> None:
    html = (
        "<table><tbody data-seg-slot=s>"
        "<tr data-seg-segment=G.A><td>A</td></tr><tr data-seg-segment=G.B><td>B</td></tr>"
        "</tbody></table>"
    )
    assert run(html, {"s": Order({"G.B": 1})}) == (
        "<table><tbody data-seg-slot=s>"
        "<tr data-seg-segment=G.B><td>B</td></tr><tr data-seg-segment=G.A><td>A</td></tr>"
        "</tbody></table>"
    )


def test_a_tag_named_like_the_attribute_is_not_a_slot() -> None:
    html = '<data-seg-slot title="<div data-seg-slot=x>">y</data-seg-slot><i data-seg-slot=x>i</i>'
    assert rw.slot_names(html.encode()) == ("x",)
    assert run(html, {"x": Replace("z")}) == (
        '<data-seg-slot title="<div data-seg-slot=x>">y</data-seg-slot><i data-seg-slot=x>z</i>'
    )


def test_many_mentions_in_text() -> None:
    html = "<p>" + "data-seg-slot=s " * 2000 + "</p><div data-seg-slot=s>x</div>"
    assert run(html, {"s": Hide()}) == "<p>" + "data-seg-slot=s " * 2000 + "</p>"


# --------------------------------------------------------------------------- order


def test_order_is_stable_and_keeps_positions() -> None:
    html = (
        "<div data-seg-slot=s>\n"
        " <p data-seg-segment=G.A>A</p>\n"
        " <hr>\n"
        " <p data-seg-segment=G.B>B</p> text\n"
        " <p data-seg-segment=G.C>C</p>\n"
        " <p data-seg-segment=G.D>D</p>\n"
        "</div>"
    )
    out = run(html, {"s": Order({"G.C": 0.5, "G.D": 0.5, "G.A": -1})})
    assert out == (
        "<div data-seg-slot=s>\n"
        " <p data-seg-segment=G.C>C</p>\n"
        " <hr>\n"
        " <p data-seg-segment=G.D>D</p> text\n"
        " <p data-seg-segment=G.B>B</p>\n"
        " <p data-seg-segment=G.A>A</p>\n"
        "</div>"
    )


def test_order_treats_missing_and_nan_as_zero() -> None:
    html = "<ol data-seg-slot=s><li data-seg-segment=G.A>A</li><li data-seg-segment=G.B>B</li></ol>"
    assert unchanged(html, {"s": Order({"G.A": math.nan, "G.B": 0.0})})
    assert run(html, {"s": Order({"G.B": 0.1})}) == (
        "<ol data-seg-slot=s><li data-seg-segment=G.B>B</li><li data-seg-segment=G.A>A</li></ol>"
    )


def test_order_only_moves_direct_children() -> None:
    html = (
        "<div data-seg-slot=s><div data-seg-segment=G.A>A<i data-seg-segment=G.B>x</i></div>"
        "<div data-seg-segment=G.B>B</div></div>"
    )
    assert run(html, {"s": Order({"G.B": 1})}) == (
        "<div data-seg-slot=s><div data-seg-segment=G.B>B</div>"
        "<div data-seg-segment=G.A>A<i data-seg-segment=G.B>x</i></div></div>"
    )


def test_order_refuses_implied_ends() -> None:
    # A ranked child whose end tag is omitted: its extent is implied.
    assert unchanged(
        "<ul data-seg-slot=s><li data-seg-segment=G.A>A<li data-seg-segment=G.B>B</ul>",
        {"s": Order({"G.B": 1})},
    )
    # An unclosed <p> before a ranked child: moving what follows it would change it.
    assert unchanged(
        "<div data-seg-slot=s><p>intro<div data-seg-segment=G.A>A</div>"
        "<span data-seg-segment=G.B>B</span></div>",
        {"s": Order({"G.B": 1})},
    )


# --------------------------------------------------------------------------- gates


def test_has_slots() -> None:
    assert rw.has_slots(b'<div data-seg-slot="x">')
    assert not rw.has_slots(b"<div>")
    # The gate is a plain find: a mention in a comment passes it, rewrite then finds none.
    assert rw.has_slots(b"<!-- data-seg-slot -->")
    assert rw.slot_names(b"<!-- data-seg-slot=x -->") == ()


def test_page_categories() -> None:
    html = (
        b'<head><meta name="smartseg:category" content="law, contracts , ,">'
        b"<meta content='tax&amp;audit' NAME=' smartseg:category'>"
        b"<meta name=smartseg:category content=law>"
        b'<!-- <meta name="smartseg:category" content="commented"> -->'
        b'<script>\'<meta name="smartseg:category" content="scripted">\'</script>'
        b'<meta name="description" content="smartseg:category">'
        b'<meta name="smartseg:category">'
        b"</head>"
    )
    assert rw.page_categories(html) == ("law", "contracts", "tax&audit")
    assert rw.page_categories(b"<p>no meta</p>") == ()
    # The gate looks for the lower-case spelling only (documented).
    assert rw.page_categories(b'<meta name="SmartSeg:Category" content="x">') == ()


META = '<meta name="smartseg:category" content="{}">'


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # Only the head is read when its end tag is real...
        (f"<head>{META.format('a')}</head><body>{META.format('b')}", ("a",)),
        (f"<head>{META.format('a')}</head >{META.format('b')}", ("a",)),
        (f"<head></head>{META.format('b')}", ()),
        # ... and the whole page when it is not, or when there is none.
        (f"<head><!-- </head> -->{META.format('a')}</HEAD>{META.format('b')}", ("a", "b")),
        (f"<script>'</head>'</script>{META.format('a')}", ("a",)),
        (f"<head><title>x</head></title>{META.format('a')}</head>", ("a",)),
        (f"<head><link title='</head>'>{META.format('a')}</head>", ("a",)),
        (f"<body><header>x</header>{META.format('a')}", ("a",)),
        (f"{META.format('a')}<p>{META.format('b')}", ("a", "b")),
        (f"<svg><path d='</head>'/></svg>{META.format('a')}", ("a",)),
    ],
)
def test_page_categories_stop_at_the_head(html: str, expected: tuple[str, ...]) -> None:
    assert rw.page_categories(html.encode()) == expected


def test_page_categories_encoding() -> None:
    html = '<meta name="smartseg:category" content="droit, société">'.encode("latin-1")
    assert rw.page_categories(html, "latin-1") == ("droit", "société")


# --------------------------------------------------------------------------- encodings


def test_latin1_replacement_uses_character_references() -> None:
    html = '<p data-seg-slot="s">caf\xe9</p>'.encode("latin-1")
    out = rw.rewrite(html, {"s": Replace("na\xefve \u2603")}, "latin-1")
    assert out == b'<p data-seg-slot="s">na\xefve &#9731;</p>'


def test_utf8_multibyte_around_slots() -> None:
    html = "<p>żółć</p><div data-seg-slot=s>ünïcödé</div><p>日本</p>"
    assert run(html, {"s": Replace("✓")}) == "<p>żółć</p><div data-seg-slot=s>✓</div><p>日本</p>"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_wide_encodings_round_trip(encoding: str) -> None:
    html = "<p>é</p><div data-seg-slot=s hidden>x</div><p>☃</p>"
    doc = html.encode(encoding)
    out = rw.rewrite(doc, {"s": Replace("ü", reveal=True)}, encoding)
    assert out.decode(encoding) == "<p>é</p><div data-seg-slot=s>ü</div><p>☃</p>"
    # The BOM (if any) and every other byte are preserved.
    assert out[:4] == doc[:4] or encoding.endswith(("le", "be"))
    assert rw.rewrite(doc, {"other": Hide()}, encoding) is doc
    assert rw.has_slots(doc, encoding)
    assert rw.slot_names(doc, encoding) == ("s",)


def test_shift_jis_is_byte_transparent() -> None:
    html = "<p>表示</p><div data-seg-slot=s>ソ</div>".encode("shift_jis")
    out = rw.rewrite(html, {"s": Replace("能")}, "shift_jis")
    assert out.decode("shift_jis") == "<p>表示</p><div data-seg-slot=s>能</div>"


@pytest.mark.parametrize("encoding", ["iso-2022-jp", "utf-7", "cp500", "no-such-charset"])
def test_unsupported_encodings_leave_the_document_unchanged(encoding: str) -> None:
    doc = b"<div data-seg-slot=s>x</div>"
    assert rw.rewrite(doc, {"s": Hide()}, encoding) is doc
    assert rw.page_categories(doc, encoding) == ()


def test_invalid_utf16_is_left_unchanged() -> None:
    doc = "<div data-seg-slot=s>x</div>".encode("utf-16-le") + b"\x00\xd8"  # lone surrogate
    assert rw.rewrite(doc, {"s": Hide()}, "utf-16-le") is doc


# --------------------------------------------------------------------------- robustness


def test_internal_errors_degrade_to_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rw, "_RAISE_INTERNAL_ERRORS", False)

    def boom(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(rw, "_rewrite", boom)
    doc = b"<div data-seg-slot=s>x</div>"
    assert rw.rewrite(doc, {"s": Hide()}) is doc


def test_odd_edit_values_are_ignored() -> None:
    doc = b"<div data-seg-slot=s>x</div>"
    assert rw.rewrite(doc, {"s": "hide"}) is doc  # type: ignore[dict-item]
    assert rw.rewrite(doc, {1: Hide()}) is doc  # type: ignore[dict-item]
    assert (
        rw.rewrite(doc, {"s": Replace(b"<b>raw</b>")}) == b"<div data-seg-slot=s><b>raw</b></div>"
    )  # type: ignore[arg-type]
