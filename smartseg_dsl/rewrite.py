"""Byte-preserving HTML slot rewriter (SPEC §3.1–3.3): pure, no HTTP.

``rewrite(doc, {slot: edit})`` applies ``Show`` / ``Hide`` / ``Replace`` / ``Order`` to
the elements carrying ``data-seg-slot="slot"`` and returns the new document.  It never
parses the whole document into a tree and never re-serialises anything: the output is
the input with a few byte ranges spliced, so every byte outside the elements an action
changed is preserved exactly.  ``page_categories`` reads
``<meta name="smartseg:category" content="…">``; ``has_slots`` is the cheap gate.

How we are sure a ``data-seg-slot`` is a real attribute of a real start tag
--------------------------------------------------------------------------
A full forward tokenizer is the obvious answer, but it is too slow in CPython: an exact
regex tokenizer costs ~0.8 ms on the 119 KB cloudflare page (any regex that stops at
every ``<`` costs 85-150 µs; a Python loop per tag even more) against a ~250 µs budget
for the whole middleware.  So the scan only looks at the places where the HTML
tokenizer can leave the data state for long, and proves the rest cheaply:

1. Candidates are the offsets of the literal ``data-seg-slot`` (``bytes.find``).  When a
   candidate's value names no slot being edited (and no other spelling of the attribute
   precedes it in its tag), it is dropped before any scanning: its element could only
   matter if it were edited.
2. "Special" openers are found with one regex (ASCII case-insensitive): ``<!--`` and
   the start tags that switch the tokenizer or the tree builder into another mode:
   ``script`` (script-data states, including the ``<!--<script>`` double escape),
   ``style xmp iframe noembed noframes noscript`` (raw text: scripting is assumed on,
   as in browsers), ``textarea title`` (RCDATA), ``plaintext`` (rest of document) and
   ``svg math`` (foreign content, where CDATA sections exist and the raw-text rules do
   not apply).  The search restarts after each special that was really entered, so the
   inside of scripts and styles is jumped over with ``find`` and never regex-scanned.
   It stops at the last candidate.
3. Between ``pos`` (a point known to be in the data state: the document start, the end
   of the last token handled, or a candidate found to be text) and the next event
   ``o`` (special opener or candidate) there is, by construction, no real comment,
   raw-text element or foreign content: only text, ordinary tags and bogus
   comments/doctypes.  There the naive reading "a tag runs from ``<`` to the next
   ``>``" is exact unless a quoted attribute value contains ``>``.  With ``r`` the last
   ``>`` before ``o`` and ``j`` the first ``<`` after ``r`` followed by a letter, ``/``,
   ``!`` or ``?`` (``o`` itself for a special opener right after text):

   * if there is no such ``j``, ``o`` is in text; if there is, the token containing
     ``o`` starts at ``j`` (in the data state such a ``<`` always starts a token that
     ends with a ``>``) -- *provided* the naive reading holds up to ``j``, which is
     proved by (A) no quote character lies in ``(r, j)`` and (B) the last ``"`` and the
     last ``'`` before ``j`` are not preceded (modulo whitespace) by ``=``.  Proof: if
     ``j`` were inside a tag ``X``, then ``r`` would be a ``>`` inside a quoted value
     ``V`` of ``X``; either ``V`` closes before ``j`` (its closing quote is in ``(r,
     j)``: A fails) or ``j`` is inside ``V`` (the last such quote before ``j`` opens
     ``V``, so ``=`` precedes it: B fails).
   * when (A) or (B) fails (rare: ``href="?q="``, text with quotes), an exact regex
     tokenizer runs from ``pos`` instead and gives the token containing ``o``.

   That token is then tokenized exactly and handled (a comment, a raw-text element, a
   tag...), moving ``pos`` past it.  A candidate is accepted only if its token is a
   start tag and an attribute name starts at the candidate.  The slot name is the value
   of the first attribute whose name is ``data-seg-slot`` in any case (HTML drops later
   duplicates).
4. Foreign content (``<svg>``/``<math>``) before a candidate is measured with the same
   strict element scanner used for slot extents (integration points, self-closing tags,
   CDATA).  If its end cannot be determined safely, the scan stops: no slot after it is
   touched (conservative: fewer personalisations, never a broken page).
   ``<plaintext>``, an unterminated comment/raw-text element or an end of file inside a
   tag also stop the scan.

   Walking it tag by tag is only needed for unusual content.  Up to the first ``</svg``
   (``</math``) after the opener, a typical inline icon holds only text and start tags
   after which the strict scanner just pushes or skips a foreign element.  One regex
   search proves that nothing else is there: no ``<!`` (comment, CDATA: either may hide
   the ``</svg``), ``<?``, ``</`` (an end tag: a stray one makes the scanner give up),
   nested ``svg``/``math``, integration points (``foreignObject desc title
   annotation-xml mi mo mn ms mtext``), the breakout start tags of "in foreign content"
   and ``font``, nor any name step 2 treats as special.  Then, if that ``</svg`` starts a
   token -- proved by conditions (A)/(B) of step 3, taking the opener (or the data-state
   offset ``pos`` before it) as the starting point: the content is tokenized like the
   data state, as there is no CDATA -- the element ends with that end tag, exactly where
   the scanner would find its end, and the scan jumps there.  The document scan does not
   even match the start tag: if the opener is no tag at all (inside an attribute value)
   or a self-closing one, what follows is ordinary markup and a stray end tag, and the
   scan ends up at the same point (``_foreign_skip``).  With end tags before the
   ``</svg`` the content is tokenized exactly by one regex and the end tags are checked
   to pop open descendants only (``_foreign_end``).  Anything else, or a candidate
   inside, is walked.  ``tests/test_rewrite_foreign.py`` checks on generated documents
   that the answers are the scanner's.

Not modelled (documented limits): tree-construction effects that do not change the
tokenizer state except those of foreign content (e.g. ``<svg>`` inside ``<select>``
being ignored); the ``noscript`` of a scripting-disabled parser.

The extent of a slot element
----------------------------
From the end of its start tag, a small tree builder runs over the element's subtree
only: a stack of open elements, void elements, raw text, comments, CDATA and foreign
content (integration points, self-closing tags, breakout tags), and the parts of HTML's
tree construction that decide where elements end inside it: implied end tags (``p``
closed by blocks, ``li``/``dt``/``dd``, ``option``/``optgroup``, table cells, rows and
sections, ruby), end tags of blocks and table parts closing what is still open inside
them when their element is in scope (``<section><div>…</section>``), and "any other end
tag" passing only non-special elements.  The extent is found when the element's own
explicit end tag is reached at the right depth.  It is unknown, and the element is left
alone, when anything would close the element implicitly (``<li>`` inside a ``<li>``
slot, a ``<div>`` inside a ``<p>`` slot, the parent's end tag), when an end tag would
be ignored or misnested (``<b><i></b>``, a stray ``</span>``), when a formatting element
would be closed implicitly (the tree builder would reconstruct it after the slot,
changing markup outside it), for ``<a>``/``<form>``/``<button>``/``<nobr>`` nested in
themselves, table parts outside a table, text or elements the tree builder would move
out of a table (foster parenting), a foreign breakout tag, ``<html>``/``<head>``/
``<body>``/``<frameset>`` slots, and the end of the document.  The markup *around* the
slot is assumed not to close it (e.g. a ``<span>`` slot holding a ``<div>`` while a
``<p>`` is open outside, or a ``<form>`` directly in a ``<table>``: invalid HTML that
browsers rearrange; we treat the bytes between the tags as the element).
``<div .../>`` is not self-closing in HTML: its extent is searched like any other.  In
foreign content ``/>`` does self-close.

Actions
-------
* ``Show``: removes every ``hidden`` attribute (any case, any value form) from the start
  tag and nothing else; without ``hidden`` the bytes are unchanged.  Works on any
  element, even one whose extent is unknown (only the start tag is touched).
* ``Hide``: removes the element from ``<`` of its start tag to ``>`` of its end tag (a
  void element: the start tag; a raw-text element: to its end tag).
* ``Replace(html, reveal)``: the bytes between the tags become ``html`` (already safe
  markup) encoded with ``xmlcharrefreplace``; ``reveal`` also removes ``hidden``.  Void
  and raw-text elements are left alone; ``title``/``textarea`` accept it when ``html``
  cannot close them.
* ``Order(ranking)``: element children carrying ``data-seg-segment="G.S"`` are stably
  reordered by descending ``ranking[G.S]`` (missing or NaN → 0) into the positions such
  children held; other children and the text between stay.  Left alone when a ranked
  child's end is implied, or when an implicitly closed child precedes a ranked one
  (moving things after it would change what closes it).
* Nesting: a slot inside a hidden or replaced element goes with it (outer wins); edits
  inside the children of an ordered element are applied and move with their child.

Gates and encodings
-------------------
``has_slots`` is ``b"data-seg-slot" in doc``: the attribute must be written in lower
case for the page to be considered at all (templates are ours; an upper- or mixed-case
spelling alone never makes a slot, so such a page is sent unchanged).  The same holds
for ``smartseg:category`` in ``page_categories``.  The byte scanner is exact for every
ASCII-compatible, stateless encoding (UTF-8, windows-125x, ISO-8859-x, Shift_JIS, EUC-*,
GBK, Big5: their multibyte sequences never contain the ASCII bytes the tokenizer
acts on).  UTF-16 and UTF-32 documents are decoded, rewritten as UTF-8 and encoded back
(the BOM kept; an input that does not round-trip is returned unchanged).  Stateful
encodings (ISO-2022-*, UTF-7, HZ), EBCDIC and unknown encodings are returned unchanged.

Cost
----
A page without slots: one ``bytes.find``.  With slots: one ``find`` pass collecting the
candidates, the special-opener regex up to the last edited slot (skipping the inside of
scripts and styles), a few ``find``/``rfind`` and regex searches per special element met
(2-3 µs for an inline icon), and about 1 µs per tag inside each edited element (its
extent has to be checked; inline icons in it cost the same few searches).  The output
is joined from slices of the input.  ``page_categories`` reads the head only when its
end tag is found and proved.  ``bench/bench_rewrite.py`` measures it against full
parsers.

Memos: pages come from templates, so the next request brings the same bytes again,
save for per-request values.  Bounded memos reuse earlier answers, and only when
that is provably exact (``tests/test_rewrite_memo.py`` compares them with fresh scans):

* the page memo (_PageMemo): the slot tags of a page are reused for a page of the same
  length that differs only inside *inert* ranges -- quoted attribute values of real
  start tags (CSRF tokens, nonces, signed URLs), learned by the scan of the second page
  of that shape -- when the new bytes there hold no quote, ``<`` or ``>``.  A memcmp
  per stretch between those ranges: ~5 µs on the demo home page instead of ~450 µs.
* the extent memo (_EXTENTS): an element's extent (and children) depends only on its
  own bytes and context, so it is stored with those bytes and reused wherever a page
  holds exactly the same bytes (one ``startswith``).
* the plan cache (_Plan, held by the page memo's entry): for a page shape and an edit
  signature (slot names and edit kinds, not the html nor the rankings), the output as
  ranges of the request's document, replacement bodies and orders made per request:
  ~18 µs instead of ~65 on the demo home page.  A title/textarea replacement and the
  order of ranked children stay per-request decisions; a page whose outcome could
  depend on more (an edit dropped for lying across ordered children) gets no plan.

All are per process, bounded (24 MiB of pages and their plans, at most 16 plans a page;
8 MiB and 16,384 elements), keep offsets rather than content, and never let one page's
answer apply to other bytes.

Work bound: every search and walk counts its work (about a unit per byte); a call that
would exceed ``WORK_PER_BYTE * len(page) + WORK_BASE`` raises WorkLimitExceeded from
``rewrite`` (``slot_names``/``page_categories`` answer ``()``).  Edited slots are walked
last to first, and a walk jumps over a nested edited slot whose outcome did not depend
on anything below it (_Subtree.sums): unclosed and nested slots cost one walk in all.

Failure policy: ``rewrite`` never truncates and raises nothing else; a document with no edits
or no applicable slot is returned as the very same object.  An internal error returns
the input unchanged (``_RAISE_INTERNAL_ERRORS`` lets the tests see such bugs).
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import gc
import html as _html
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TypeVar

from .frozen import fast_init
from .memo import SpanMemo, diff_runs

__all__ = [
    "Edit",
    "Hide",
    "Order",
    "Replace",
    "Show",
    "WorkLimitExceeded",
    "has_slots",
    "page_categories",
    "rewrite",
    "slot_names",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_CloseImplied = Callable[[frozenset[bytes], frozenset[bytes], int], None]
_PopTo = Callable[[int, int, bool], None]

#: Set by the test suite so that internal errors surface instead of being swallowed.
_RAISE_INTERNAL_ERRORS = False


# --------------------------------------------------------------------------- work bound


class WorkLimitExceeded(RuntimeError):
    """The rewriter would do more than ``WORK_PER_BYTE * len(page) + WORK_BASE`` units of
    work on one page (a unit is about one byte examined by a search or a scan step).

    The algorithm is linear for the shapes we know of, so only a page built to defeat it
    gets here; ``rewrite`` raises it (the caller sends the page as the app made it) rather
    than hold the event loop for seconds."""


#: The work budget of one call: units per byte of the page, plus a constant.  Ordinary
#: pages use 1-3 units per byte (tests/test_rewrite_linear.py checks the corpus); a page
#: that reaches the bound costs ~0.1 s per 100 KB (walking is the dearest unit).
WORK_PER_BYTE = 8
WORK_BASE = 1 << 16
#: Bytes the extent memo may compare or copy per call, per byte of page: nested elements
#: have overlapping spans, so unbounded use could be quadratic (the memo is only a cache).
_MEMO_BYTES_PER_BYTE = 2


class _Meter:
    """Work accounting of one call on one document, and the search caches that keep the
    work linear (valid for that document only)."""

    __slots__ = ("doc", "left", "limit", "memo_left", "nexts")

    def __init__(self, doc: bytes) -> None:
        self.doc = doc
        self.limit = WORK_PER_BYTE * len(doc) + WORK_BASE
        self.left = self.limit
        self.memo_left = _MEMO_BYTES_PER_BYTE * len(doc)
        self.nexts: dict[object, list[int]] = {}


_METER = threading.local()


def _meter() -> _Meter | None:
    return getattr(_METER, "current", None)


def _charge(units: int) -> None:
    """Count ``units`` of work against the current call's budget (none outside a call)."""
    m = getattr(_METER, "current", None)
    if m is not None:
        m.left -= units
        if m.left < 0:
            raise WorkLimitExceeded(
                f"rewriting would exceed {m.limit} work units on a {len(m.doc)}-byte page"
            )


def _start_meter(doc: bytes) -> _Meter | None:
    """Put a call on ``doc`` under a fresh budget; returns the meter to restore."""
    saved = getattr(_METER, "current", None)
    _METER.current = _Meter(doc)
    return saved


def _stop_meter(saved: _Meter | None) -> None:
    """End the current call's budget; the units it used stay readable through
    ``_last_work`` (tests check the bound on adversarial shapes with it)."""
    m = _METER.current
    _METER.current = saved
    _METER.last = m.limit - m.left


@contextlib.contextmanager
def _metered(doc: bytes) -> Iterator[None]:
    saved = _start_meter(doc)
    try:
        yield
    finally:
        _stop_meter(saved)


def _last_work() -> int:
    """Work units used by the last metered call in this thread."""
    return int(getattr(_METER, "last", 0))


def _next_at(doc: bytes, key: object, x: int, search: Callable[[int, int], int], width: int) -> int:
    """``search(x, len(doc))`` (the first match at or after ``x``, -1: none), remembering
    the answer as an interval ``[lo, at]`` in which every start has the same answer.

    Foreign content asks for the next ``</`` / ``</svg`` from each nested ``<svg>``; on a
    page of unclosed ones each search would run to the end (quadratic).  Queries move
    forward within a walk, and a query before the interval only searches up to it
    (``width``: the longest match, so none straddling ``lo`` is missed)."""
    n = len(doc)
    m = _meter()
    if m is None or m.doc is not doc:
        return search(x, n)
    iv = m.nexts.get(key)
    if iv is not None:
        lo, at = iv
        if lo <= x and (at < 0 or x <= at):
            return at
        if x < lo:
            r = search(x, min(n, lo + width))
            _charge(min(n, lo + width) - x)
            if r < 0 or r >= lo:
                iv[0] = x  # the same answer as from lo: extend the interval back
                return at
            m.nexts[key] = [x, r]
            return r
    r = search(x, n)
    _charge((n if r < 0 else r) - x)
    m.nexts[key] = [x, r]
    return r


# --------------------------------------------------------------------------- edits


@dataclass(frozen=True, slots=True)
class Show:
    """Keep the slot's elements and remove their ``hidden`` attribute."""


@dataclass(frozen=True, slots=True)
class Hide:
    """Remove the slot's elements entirely (start tag to end tag)."""


@fast_init
@dataclass(frozen=True, slots=True)
class Replace:
    """Make ``html`` (already-safe markup) the inner content; ``reveal`` removes ``hidden``."""

    html: str
    reveal: bool = False


@fast_init
@dataclass(frozen=True, slots=True)
class Order:
    """Reorder ``data-seg-segment`` children by descending ``ranking`` (stable)."""

    ranking: Mapping[str, float]


Edit = Show | Hide | Replace | Order

SLOT_ATTR = b"data-seg-slot"
CATEGORY_META = b"smartseg:category"


# --------------------------------------------------------------------------- byte classes

_WS = frozenset(b" \t\n\r\f")
_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OPENERS = _LETTERS | frozenset(b"!/?")
_DELIMS = frozenset(b" \t\n\r\f/>")

# Element names (lower case bytes).
_VOID = frozenset(
    b"area base br col embed hr img input link meta source track wbr param keygen frame "
    b"basefont bgsound image".split()
)
_RAWTEXT = frozenset(b"script style xmp iframe noembed noframes noscript".split())
_RCDATA = frozenset(b"textarea title".split())
_TEXT_ONLY = _RAWTEXT | _RCDATA | {b"plaintext"}
_HEADINGS = frozenset(b"h1 h2 h3 h4 h5 h6".split())
_P_CLOSERS = frozenset(
    b"address article aside blockquote center details dialog dir div dl fieldset "
    b"figcaption figure footer header hgroup main menu nav ol p search section summary ul "
    b"h1 h2 h3 h4 h5 h6 pre listing form table hr xmp li dd dt plaintext".split()
)
_BUTTON_SCOPE = frozenset(b"applet caption html table td th marquee object template button".split())
_SPECIAL = frozenset(
    b"address applet area article aside base basefont bgsound blockquote body br button "
    b"caption center col colgroup dd details dir div dl dt embed fieldset figcaption figure "
    b"footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img "
    b"input keygen li link listing main marquee menu meta nav noembed noframes noscript "
    b"object ol p param plaintext pre script search section select source style summary "
    b"table tbody td template textarea tfoot th thead title tr track ul wbr xmp".split()
)
# "generate implied end tags" pops these.
_IMPLIED = frozenset(b"p li dd dt option optgroup rb rp rt rtc".split())
_FORMATTING = frozenset(b"a b big code em font i nobr s small strike strong tt u".split())
# Where the tree builder moves text and most elements out of the table ("foster
# parenting"): their bytes are inside the slot but the nodes are not.
_FOSTER = frozenset(b"table tbody thead tfoot tr colgroup".split())
_IN_TABLE_OK = frozenset(b"script style template".split())
_TABLE_PARTS = frozenset(b"td th tr tbody thead tfoot caption colgroup".split())
_TABLE_ENDS = frozenset(b"table tbody thead tfoot tr td th caption colgroup".split())
_TABLE_CONTEXT = frozenset(b"table tbody thead tfoot tr td th caption colgroup template".split())
_SECTIONS = frozenset(b"tbody thead tfoot".split())
_CELLS = frozenset(b"td th".split())
_NOT_IN_SLOT = frozenset(b"html head body frameset frame".split())
_SELF_NESTING_FORBIDDEN = frozenset(b"a form nobr".split())
# Start tags that make the tree builder leave foreign content (SPEC'd by HTML, §13.2.6.5).
_BREAKOUT = frozenset(
    b"b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr "
    b"i img li listing menu meta nobr ol p pre ruby s small span strong strike sub sup "
    b"table tt u ul var".split()
)
_FOREIGN_ROOTS = frozenset((b"svg", b"math"))
_FOREIGN_FIRST = frozenset(b"sSmM")
_RUBY_ALL = frozenset(b"rb rp rt rtc".split())
_RUBY_NO_RTC = frozenset(b"rb rp rt".split())
_SVG_HTML_IP = frozenset(b"foreignobject desc title".split())
_MATHML_TEXT_IP = frozenset(b"mi mo mn ms mtext".split())

# Namespaces and integration-point kinds of stack entries.
_HTML, _SVG, _MATH = 0, 1, 2
_IP_NONE, _IP_HTML, _IP_MATHML_TEXT = 0, 1, 2


# --------------------------------------------------------------------------- regexes

_ATTRS = (
    rb"(?:[\t\n\f\r /]++|[^\t\n\f\r />][^\t\n\f\r />=]*+"
    rb"(?>[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+)"
    rb"|(?![\t\n\f\r ]*+=)))*+"
)
# One start or end tag, exactly as the HTML tokenizer reads it (quotes protect '>').
_START_RE = re.compile(rb"<([A-Za-z][^\t\n\f\r />]*+)(" + _ATTRS + rb")>")
_END_RE = re.compile(rb"</([A-Za-z][^\t\n\f\r />]*+)" + _ATTRS + rb">")
# One attribute (leading separators, name, optional "= value"), matched in sequence.
_ATTR_RE = re.compile(
    rb"([\t\n\f\r /]*+)([^\t\n\f\r />][^\t\n\f\r />=]*+)"
    rb"(?>[\t\n\f\r ]*+=[\t\n\f\r ]*+(\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\t\n\f\r >]*+)"
    rb"|(?![\t\n\f\r ]*+=))"
)


def _ci(word: bytes) -> bytes:
    """ASCII case-insensitive pattern for a lower-case ``word`` (digits, ``-`` as is)."""
    return b"".join(
        b"[%c%c]" % (c, c - 32) if 0x61 <= c <= 0x7A else re.escape(bytes((c,))) for c in word
    )


def _ci_alternation(words: list[bytes]) -> bytes:
    """A trie-shaped, ASCII case-insensitive alternation (cheaper for `re` than re.I)."""
    by_first: dict[int, list[bytes]] = {}
    for w in sorted(words):
        by_first.setdefault(w[0], []).append(w[1:])
    parts = []
    for first, rests in sorted(by_first.items()):
        head = _ci(bytes([first]))
        if len(rests) == 1:
            parts.append(head + _ci(rests[0]))
        else:
            parts.append(head + b"(?:" + b"|".join(_ci(r) for r in rests) + b")")
    return b"(?:" + b"|".join(parts) + b")"


_SPECIAL_NAMES = sorted(_TEXT_ONLY | {b"svg", b"math"})
_SPECIAL_FIRST = bytes(sorted({w[0] for w in _SPECIAL_NAMES} | {w[0] - 32 for w in _SPECIAL_NAMES}))
_SPECIAL_RE = re.compile(
    rb"<(?=[!"
    + re.escape(_SPECIAL_FIRST)
    + rb"])(?:!--|"
    + _ci_alternation(_SPECIAL_NAMES)
    + rb"[\t\n\f\r />])"
)
# The exact tokenizer of the fallback path: consumes text, comments, bogus comments and
# ordinary tags from a data-state position; stops before a special start tag, at the
# end (endpos) or before a token that is cut by it.
_BORING_RE = re.compile(
    rb"(?:[^<]++"
    rb"|<(?=[^A-Za-z!/?])"  # a text '<' needs its next byte seen (not cut by endpos)
    rb"|<(?!"
    + _ci_alternation(_SPECIAL_NAMES)
    + rb"[\t\n\f\r />])[A-Za-z][^\t\n\f\r />]*+"
    + _ATTRS
    + rb">"
    rb"|</[A-Za-z][^\t\n\f\r />]*+" + _ATTRS + rb">"
    rb"|<!--(?>>|->|[\s\S]*?--!?>)"
    rb"|<!(?!--)[^>]*+>"
    rb"|<\?[^>]*+>"
    rb"|</(?![A-Za-z])[^>]*+>"
    rb")*+"
)
_SCRIPT_START_RE = re.compile(rb"<" + _ci(b"script") + rb"[\t\n\f\r />]")

# Foreign content fast path (see _foreign_end).  Start tags after which the strict walker
# does more than push or skip a foreign element (breakouts, integration points, nested
# foreign roots, <font>: a breakout with some attributes), and the names the document
# scan treats as raw text (foreign there, but _foreign_skip must not rely on it).
_FOREIGN_RISKY = sorted(
    _BREAKOUT
    | _SVG_HTML_IP
    | _MATHML_TEXT_IP
    | _TEXT_ONLY
    | {b"svg", b"math", b"font", b"annotation-xml"}
)
# Text, text '<', safe start tags and end tags, tokenized exactly, and nothing else: no
# comment, CDATA, bogus comment or '</' without a letter (each may hide a '</svg').
_FOREIGN_BODY_RE = re.compile(
    rb"(?:[^<]++"
    rb"|<(?![A-Za-z/!?])"
    rb"|<(?!"
    + _ci_alternation(_FOREIGN_RISKY)
    + rb"[\t\n\f\r />])[A-Za-z][^\t\n\f\r />]*+"
    + _ATTRS
    + rb">"
    rb"|</[A-Za-z][^\t\n\f\r />]*+" + _ATTRS + rb">"
    rb")*+"
)
# One tag of a body accepted by _FOREIGN_BODY_RE: (end slash, name, attributes).  (No
# group inside the repetition: CPython 3.11's re can misplace such a group's span.)
_FOREIGN_TAG_RE = re.compile(rb"<(/?)([A-Za-z][^\t\n\f\r />]*+)(" + _ATTRS + rb")>")
# Anything before the first '</' that makes the cheap answer unsafe.
_FOREIGN_BAD_RE = re.compile(rb"<(?:[!?/]|" + _ci_alternation(_FOREIGN_RISKY) + rb"[\t\n\f\r />])")
_FOREIGN_CLOSE_RE = {
    name: re.compile(rb"</" + _ci(name) + rb"[\t\n\f\r />]") for name in (b"svg", b"math")
}
#: Off in tests, to compare the fast path with the strict walker.
_FOREIGN_FAST = True


# --------------------------------------------------------------------------- small tokens


def _comment_end(doc: bytes, i: int) -> int:
    """End of the comment whose ``<!--`` is at ``i``; -1 if it runs to the end.

    (Like _find_end_tag, it counts no work: callers jump past what it searched, or stop
    there, and count that.)"""
    k = i + 4
    if doc.startswith(b">", k):
        return k + 1
    if doc.startswith(b"->", k):
        return k + 2
    a = doc.find(b"-->", k)
    # "--!>" also ends a comment; look for it only before the first "-->" (no rescan).
    b = doc.find(b"--!>", k, a + 3 if a >= 0 else len(doc))
    if b >= 0:
        return b + 4
    return -1 if a < 0 else a + 3


def _bogus_end(doc: bytes, i: int) -> int:
    """End of a bogus comment / doctype / ``</…>`` starting at ``i``: the first ``>``."""
    k = doc.find(b">", i + 1)
    return -1 if k < 0 else k + 1


def _find_end_tag(doc: bytes, i: int, name: bytes) -> int:
    """Offset of the first ``</name`` + delimiter at or after ``i`` (ASCII case-insensitive)."""
    size = len(name)
    find = doc.find
    j = find(b"</", i)
    while j >= 0:
        k = j + 2 + size
        if doc[j + 2 : k].lower() == name and k < len(doc) and doc[k] in _DELIMS:
            return j
        j = find(b"</", j + 2)
    return -1


def _end_tag_span(doc: bytes, j: int) -> int:
    """End offset of the end tag at ``j`` (its attributes may quote '>'); -1 at EOF."""
    m = _END_RE.match(doc, j)
    return -1 if m is None else m.end()


def _script_close(doc: bytes, i: int) -> tuple[int, int] | None:
    """Where a script element whose content starts at ``i`` ends: (``</script`` offset,
    offset after its ``>``), following the script-data escape states of the tokenizer."""
    n = len(doc)
    # The next "</script", "-->" and "<script" at or after i.  i only grows, so each
    # answer stays right until i passes it (-1: none to the end, for good); searching
    # again on every state change would rescan the rest of the page per "<!--".
    e = d = sp = -2
    state = 0  # 0 script data, 1 escaped (after "<!--"), 2 double escaped ("<!--<script>")
    while True:
        if -1 != e < i:
            e = _find_end_tag(doc, i, b"script")
        if state == 0:
            c = doc.find(b"<!--", i, e if e >= 0 else n)
            _charge((c if c >= 0 else e if e >= 0 else n) - i)
            if c < 0:
                if e < 0:
                    return None
                end = _end_tag_span(doc, e)
                return None if end < 0 else (e, end)
            state, i = 1, c + 2  # the dashes of "<!--" count towards "-->"
            continue
        if -1 != d < i:
            d = doc.find(b"-->", i)
            _charge((n if d < 0 else d) - i)
        if state == 1:
            if -1 != sp < i:
                s = _SCRIPT_START_RE.search(doc, i)
                sp = s.start() if s is not None else -1
                _charge((n if sp < 0 else sp) - i)
            best = min((x for x in (d, e, sp) if x >= 0), default=-1)
            if best < 0:
                return None
            if best == e:
                end = _end_tag_span(doc, e)
                return None if end < 0 else (e, end)
            if best == d:
                state, i = 0, d + 3
            else:
                state, i = 2, sp + 8
        else:
            if d < 0 and e < 0:
                return None
            if e < 0 or 0 <= d < e:
                state, i = 0, d + 3
            else:
                state, i = 1, e + 9


def _text_close(doc: bytes, i: int, name: bytes) -> tuple[int, int] | None:
    """(end tag offset, end) of a raw-text/RCDATA element whose content starts at ``i``."""
    if name == b"script":
        return _script_close(doc, i)
    if name == b"plaintext":
        return None
    j = _find_end_tag(doc, i, name)
    if j < 0:
        return None
    end = _end_tag_span(doc, j)
    return None if end < 0 else (j, end)


def _foreign_end(
    doc: bytes, start: int, name: bytes, cands: list[int] | None
) -> tuple[int, int] | None:
    """(``</name`` offset, end) of the ``svg``/``math`` element whose content starts at
    ``start`` (a data-state offset), when a few C-speed searches prove what the strict
    walker would find; None: run the walker.

    Inline icons are numerous (a hundred per page is common) and walking each one tag by
    tag costs microseconds per tag.  The walker's answer is the first ``</name`` when,
    up to it, the content holds nothing that makes it do more than push or skip a
    foreign element (no comment, CDATA, bogus comment, risky start tag: see
    _FOREIGN_RISKY), every end tag pops an open descendant (a stray one makes it give
    up), and that ``</name`` starts a token.  Without end tags (the usual icon) the last
    point is proved like the document scan's events (_token_at): no tokenizing at all.

    The two forward searches are remembered (_next_at): nested unclosed ``<svg>`` would
    each search to the end of the page."""
    b = _next_slash(doc, start)
    if b < 0:
        return None
    if _closes(doc, b, name):
        bad = _FOREIGN_BAD_RE.search(doc, start, b)
        _charge((b if bad is None else bad.end()) - start)  # the search, then _token_at
        if bad is not None or not _token_at(doc, start, b):
            return None
        end = _close_end(doc, b, name)
    else:
        # End tags before it: tokenize exactly, check that each pops an open descendant.
        b = _next_close(doc, name, b)
        if b < 0:
            return None
        body = _FOREIGN_BODY_RE.match(doc, start, b).end()  # type: ignore[union-attr]
        _charge(body - start)
        if body != b:
            return None  # a risky token, or the '</name' is inside a tag
        stack: list[bytes] = []
        for t in _FOREIGN_TAG_RE.finditer(doc, start, b):
            tag_name = t.group(2).lower()
            if t.group(1):
                try:
                    k = len(stack) - 1 - stack[::-1].index(tag_name)
                except ValueError:
                    return None  # a stray end tag: the walker gives up
                del stack[k:]
            elif not (
                doc[t.end() - 2] == 0x2F
                and _Tag(t.start(), t.end(), tag_name, t.start(3), _SVG, _IP_NONE).self_closing(doc)
            ):
                stack.append(tag_name)
        end = _end_tag_span(doc, b)
    if end < 0:
        return None
    if cands:
        k = bisect.bisect_left(cands, start)
        if k < len(cands) and cands[k] < end:
            return None  # the walker reports the tags that contain candidates
    return b, end


def _foreign_skip(doc: bytes, pos: int, o: int, name: bytes, cands: list[int]) -> int:
    """For the document scan: the end of the ``svg``/``math`` element opened at ``o``
    when it needs no walk; -1 otherwise.  ``pos`` is the scan's data-state offset: only
    text, ordinary tags and bogus comments lie between it and ``o``.

    The start tag is not even matched: if the content up to the first ``</`` is clean
    (see _foreign_end) and holds no candidate, and that ``</`` is a ``</name`` that
    starts a token, the scan would end up right after its end tag whether ``o`` is a
    real start tag (the walker finds that extent), a self-closing one (then ordinary tags
    follow, and a stray end tag) or no tag at all (a '<svg' inside an attribute value)."""
    b = _next_slash(doc, o)
    if b < 0 or not _closes(doc, b, name):
        return -1
    bad = _FOREIGN_BAD_RE.search(doc, o + 1, b)
    # The search, then _token_at's (at most from pos: that range is the scan's anyway).
    _charge((b if bad is None else bad.end()) - o)
    if bad is not None:
        return -1
    k = bisect.bisect_left(cands, o)
    if k < len(cands) and cands[k] < b:
        return -1
    if not _token_at(doc, pos, b):
        return -1
    return _close_end(doc, b, name)


def _next_slash(doc: bytes, x: int) -> int:
    """``doc.find(b"</", x)``, remembered (see _next_at); inlined for the usual cases
    (inline icons: a search forward from the last answer, or the same answer again)."""
    m = getattr(_METER, "current", None)
    if m is not None and m.doc is doc:
        iv = m.nexts.get(b"</")
        if iv is not None and iv[0] <= x:
            at = iv[1]
            if at < 0 or x <= at:
                return at
            # Forward past the last answer: a new stretch (these never overlap, so they
            # add up to at most the page: not counted one by one).
            at = doc.find(b"</", x)
            iv[0], iv[1] = x, at
            return at
    return _next_at(doc, b"</", x, partial(doc.find, b"</"), 2)


def _next_close(doc: bytes, name: bytes, x: int) -> int:
    """Offset of the first ``</name`` + delimiter at or after ``x``, remembered."""
    pattern = _FOREIGN_CLOSE_RE[name]

    def search(a: int, z: int) -> int:
        m = pattern.search(doc, a, z)
        return -1 if m is None else m.start()

    return _next_at(doc, name, x, search, len(name) + 3)


def _closes(doc: bytes, b: int, name: bytes) -> bool:
    """Is the ``</`` at ``b`` an end tag named ``name`` (ASCII case-insensitive)?"""
    k = b + 2 + len(name)
    return k < len(doc) and doc[k] in _DELIMS and doc[b + 2 : k].lower() == name


def _close_end(doc: bytes, b: int, name: bytes) -> int:
    """End of the ``</name`` end tag at ``b`` (-1 at the end of the document)."""
    k = b + 2 + len(name)
    return k + 1 if doc[k] == 0x3E else _end_tag_span(doc, b)


def _token_at(doc: bytes, pos: int, o: int) -> bool:
    """Does a token start at ``o``, given a data-state offset ``pos`` with only text,
    ordinary tags and bogus comments between them (the module docstring, step 3)?"""
    r = doc.rfind(b">", pos, o)
    a = r + 1 if r >= 0 else pos
    if a < o:
        j = doc.find(b"<", a, o)
        while j >= 0:
            if doc[j + 1] in _OPENERS:
                return False  # the token containing o starts at j
            j = doc.find(b"<", j + 1, o)
    return _quotes_ok(doc, pos, a, o)


def _quotes_ok(doc: bytes, pos: int, a: int, o: int) -> bool:
    """Conditions (A) and (B) of the module docstring for the naive reading up to ``o``
    (``a`` just after the last '>' before ``o``); False: not proved."""
    if a < o and (doc.find(b'"', a, o) >= 0 or doc.find(b"'", a, o) >= 0):
        return False
    z = doc.rfind(b'"', pos, a)
    if z >= 0 and _after_equals(doc, pos, z):
        return False
    z = doc.rfind(b"'", pos, a)
    return not (z >= 0 and _after_equals(doc, pos, z))


# --------------------------------------------------------------------------- tags


#: attribute area bytes → its attributes with offsets from the area's start (see attrs)
_ATTRS_MEMO: dict[bytes, list[tuple[bytes, int, int, int, bytes | None]]] = {}
_ATTRS_MEMO_ENTRIES = 8192
_ATTRS_MEMO_KEY_MAX = 4096


def _parse_attrs(doc: bytes, i: int, stop: int) -> list[tuple[bytes, int, int, int, bytes | None]]:
    out = []
    match = _ATTR_RE.match
    while i < stop:
        m = match(doc, i, stop)
        if m is None:
            break
        value = m.group(3)
        if value is not None and value[:1] in (b'"', b"'"):
            value = value[1:-1]
        out.append((m.group(2).lower(), m.start(1), m.start(2), m.end(), value))
        i = m.end()
    return out


class _Tag:
    """A real start tag: ``doc[start:end]``, its attributes in ``doc[area:end-1]``."""

    __slots__ = ("area", "end", "ip", "name", "ns", "start")

    def __init__(self, start: int, end: int, name: bytes, area: int, ns: int, ip: int) -> None:
        self.start = start
        self.end = end
        self.name = name
        self.area = area
        self.ns = ns
        self.ip = ip

    def attrs(self, doc: bytes) -> list[tuple[bytes, int, int, int, bytes | None]]:
        """(lower-case name, separator start, name start, attribute end, raw value).

        Memoized by the bytes of the attribute area (the parse depends on nothing else:
        `_ATTR_RE` has no look-behind, so matching up to `stop` is matching a slice);
        pages repeat their slot tags request after request."""
        area, stop = self.area, self.end - 1
        if stop - area > _ATTRS_MEMO_KEY_MAX:
            return _parse_attrs(doc, area, stop)
        key = doc[area:stop]
        rel = _ATTRS_MEMO.get(key)
        if rel is None:
            rel = _parse_attrs(key, 0, len(key))
            if len(_ATTRS_MEMO) >= _ATTRS_MEMO_ENTRIES:
                _ATTRS_MEMO.clear()
            _ATTRS_MEMO[key] = rel
        return [(n, a + area, b + area, c + area, v) for n, a, b, c, v in rel]

    def self_closing(self, doc: bytes) -> bool:
        if doc[self.end - 2] != 0x2F:  # '/'
            return False
        attrs = self.attrs(doc)
        # A trailing '/' that belongs to an unquoted value (<a href=/x/>) is not the flag.
        return not attrs or attrs[-1][3] < self.end - 1

    def attr(self, doc: bytes, name: bytes) -> bytes | None:
        for a in self.attrs(doc):
            if a[0] == name:
                return a[4] if a[4] is not None else b""
        return None


def _decode_value(raw: bytes, encoding: str) -> str:
    text = raw.decode(encoding, "replace")
    return _html.unescape(text) if "&" in text else text


# --------------------------------------------------------------------------- element scan


class _Child:
    """An element child of a slot element: ``doc[start:end]``; ``complete`` when closed by
    its own end tag (or void, raw text, self-closing foreign), not implicitly."""

    __slots__ = ("complete", "end", "start", "tag")

    def __init__(self, start: int, end: int, complete: bool, tag: _Tag) -> None:
        self.start = start
        self.end = end
        self.complete = complete
        self.tag = tag


class _Extent:
    """An element whose bytes are ``doc[start:end]`` with content ``doc[inner:close]``."""

    __slots__ = ("children", "close", "end", "free", "inner", "kind", "start")

    def __init__(
        self,
        start: int,
        inner: int,
        close: int,
        end: int,
        kind: str,
        children: list[_Child] | None,
        free: bool = False,
    ) -> None:
        self.start = start
        self.inner = inner
        self.close = close
        self.end = end
        self.kind = kind  # "normal", "void", "text" (raw text / RCDATA)
        self.children = children
        # Found without looking below the element (see _Subtree.touched): the same answer
        # holds inside any enclosing element (_Subtree.sums).
        self.free = free


#: Element extents by their bytes.  Sound because a successful subtree scan reads the
#: document only from the start tag to the end of the element's own end tag (every step
#: is "the next '<' after the previous token", and each token it matches ends before
#: that end tag), and otherwise depends only on the root's name, namespace and
#: integration-point kind: the same bytes in the same context give the same extent,
#: wherever they are.  ``tests/test_rewrite_memo.py`` checks hits against fresh scans.
#: many entries (a page may edit thousands of slots: with 256, 1,000 slots on a 1 MB
#: page evicted one another and cost 18× the 100-slot time); bytes still bound it
_EXTENTS: SpanMemo[_Extent] = SpanMemo(max_entries=16_384)
_MEMO_KEY_TAIL = 48
#: Off in tests, to compare memoized answers with fresh scans.
_MEMO_ON = True


class _Unknown(Exception):
    """The extent cannot be determined safely."""


def _element_extent(
    doc: bytes,
    root: _Tag,
    want_children: bool = False,
    cands: list[int] | None = None,
    found: list[_Tag] | None = None,
) -> _Extent | None:
    """Scan the subtree of ``root`` (strict, see the module docstring); None if unknown.

    ``children`` (when wanted) lists the root's element children.  With
    ``cands``/``found``, every start tag that contains a candidate offset is appended to
    ``found`` (used to look for slots inside foreign content during the document scan)."""
    if found is not None:
        try:
            return _Subtree(doc, root, want_children, cands, found).scan()
        except _Unknown:
            return None
    return _extent_and_free(doc, root, want_children, None)[0]


def _extent_and_free(
    doc: bytes, root: _Tag, want_children: bool, sums: _Sums | None
) -> tuple[_Extent | None, bool]:
    """The extent of ``root`` (None: unknown) and whether it was found without looking
    below ``root`` (then it also holds inside enclosing elements: _Subtree.sums)."""
    m = _meter()
    s = root.start
    key: tuple[object, ...] | None = None
    if _MEMO_ON and (m is None or m.memo_left > 0):
        # The answer depends only on the element's own bytes and its context (see
        # _EXTENTS): look it up by the start tag and what follows, verified byte for byte.
        key = (root.name, root.ns, root.ip, want_children, doc[s : root.end + _MEMO_KEY_TAIL])
        rel, cost = _EXTENTS.lookup(key, doc, s)
        if m is not None:
            m.memo_left -= cost
        _charge(cost >> 3)  # memcmp: a few times cheaper than a scan per byte
        if rel is not None:
            return _shift_extent(rel, s), rel.free
    walk = _Subtree(doc, root, want_children, None, None)
    walk.sums = sums
    try:
        ext = walk.scan()
    except _Unknown:
        return None, not walk.touched
    ext.free = not walk.touched
    size = ext.end - s
    if key is not None and size <= _EXTENTS.max_span and (m is None or m.memo_left >= size):
        if m is not None:
            m.memo_left -= size
        _charge(size >> 3)
        _EXTENTS.put(key, doc[s : ext.end], _shift_extent(ext, -s))
    return ext, ext.free


#: Outcomes of the subtrees of edited slots, by start offset: (end tag offset, end) or
#: None (unknown), for those found without looking below their element (see _Subtree).
_Sums = dict[int, tuple[int, int] | None]


def _shift_extent(ext: _Extent, d: int) -> _Extent:
    """A copy of ``ext`` (its children and their tags too) moved by ``d`` bytes."""
    children = None
    if ext.children is not None:
        children = []
        for c in ext.children:
            t = c.tag
            tag = _Tag(t.start + d, t.end + d, t.name, t.area + d, t.ns, t.ip)
            children.append(_Child(c.start + d, c.end + d, c.complete, tag))
    return _Extent(
        ext.start + d, ext.inner + d, ext.close + d, ext.end + d, ext.kind, children, ext.free
    )


class _Subtree:
    """The stack of open elements below one element, as the tree builder would keep it.

    ``touched`` records whether the walk ever looked below its root: a rule that went
    past it (an implied end tag, a heading, a table part or an end tag finding nothing
    inside, a ``pop_top_while`` reaching it).  Otherwise every decision depended only on
    the entries above the root and on the counts of ``open``, so an enclosing walk that
    pushes the same start tag with none of ``_COUNTED`` open makes exactly the same
    decisions until the element ends (or fails) at the same token.  ``sums`` holds such
    outcomes for the edited slots nested in this one (computed last to first by
    _plan_extents): the walk jumps over their subtrees instead of walking them again,
    which made unclosed or nested slots quadratic."""

    __slots__ = (
        "cands",
        "children",
        "doc",
        "found",
        "ips",
        "names",
        "nss",
        "open",
        "root",
        "sums",
        "touched",
    )

    def __init__(
        self,
        doc: bytes,
        root: _Tag,
        want_children: bool,
        cands: list[int] | None,
        found: list[_Tag] | None,
    ) -> None:
        self.doc = doc
        self.root = root
        self.names = [root.name]
        self.nss = [root.ns]
        self.ips = [root.ip]
        # How many elements of a few names are open (membership tests on a deep stack
        # would make the scan quadratic).
        self.open = dict.fromkeys(_COUNTED, 0)
        if root.name in _COUNTED:
            self.open[root.name] = 1
        self.children: list[_Child] | None = [] if want_children else None
        self.cands = cands if found is not None else None
        self.found = found
        self.sums: _Sums | None = None
        self.touched = False

    # -- stack operations -------------------------------------------------------------

    def pop_to(self, k: int, at: int, explicit: bool) -> None:
        """Pop entries k..top; the root's open child (index 1) ends at ``at``."""
        names = self.names
        if self.children is not None and k <= 1 < len(names):
            child = self.children[-1]
            child.end = at
            child.complete = explicit and k == 1
        for name in names[k:]:
            if name in _COUNTED:
                self.open[name] -= 1
        del names[k:], self.nss[k:], self.ips[k:]

    def pop_top_while(self, closable: frozenset[bytes], at: int) -> None:
        names, nss = self.names, self.nss
        while names[-1] in closable and nss[-1] == _HTML:
            if len(names) == 1:
                self.touched = True
                raise _Unknown  # would close the slot element itself
            self.pop_to(len(names) - 1, at, False)

    def close_implied(self, targets: frozenset[bytes], stop: frozenset[bytes], at: int) -> None:
        """Close the nearest open element of ``targets`` met before an element of ``stop``;
        everything above it must be an element whose end tag is implied."""
        names, nss = self.names, self.nss
        k = len(names) - 1
        _charge(k)  # at most: the walk down the stack
        while True:
            if nss[k] == _HTML and names[k] in targets:
                if k == 0:
                    self.touched = True
                    raise _Unknown  # would close the slot element itself
                for x in range(k + 1, len(names)):
                    # Popped on the way ("generate implied end tags", then "pop until"):
                    # fine unless a formatting element would be reconstructed later.
                    if nss[x] != _HTML or names[x] in _FORMATTING:
                        raise _Unknown
                self.pop_to(k, at, False)
                return
            if nss[k] != _HTML or names[k] in stop:
                return
            if k == 0:
                # The search would continue into the markup around the slot: for an open
                # <p> we assume there is none (see the docstring); an <li>/<dd>/<dt>
                # outside could be closed, which would close the slot element too.
                self.touched = True
                if stop is _LI_STOP:
                    raise _Unknown
                return
            k -= 1

    # -- rules ----------------------------------------------------------------------

    def html_start(self, name: bytes, at: int) -> None:
        """Implied end tags a start tag causes in HTML content (raises when unsafe)."""
        names, nss = self.names, self.nss
        if name in _NOT_IN_SLOT:
            raise _Unknown
        open_ = self.open
        if name in _SELF_NESTING_FORBIDDEN and open_[name]:
            raise _Unknown
        if name in _CLOSES_SELECT and open_[b"select"]:
            raise _Unknown  # these close the select
        if name in _TABLE_PARTS or name == b"col":
            self.table_start(name, at)
            return
        if names[-1] == b"colgroup" and nss[-1] == _HTML:
            raise _Unknown  # anything but <col> closes a column group
        if name == b"li":
            self.close_implied(_LI_ONLY, _LI_STOP, at)
        elif name == b"dd" or name == b"dt":
            self.close_implied(_DD_DT, _LI_STOP, at)
        elif name == b"button":
            if open_[b"button"]:
                raise _Unknown  # a button in scope would be closed
        elif name == b"option":
            self.pop_top_while(_OPTION_ONLY, at)
        elif name == b"optgroup":
            self.pop_top_while(_OPTION_ONLY, at)
            if open_[b"select"]:
                self.pop_top_while(_OPTGROUP_ONLY, at)
        elif name in _RUBY_ALL:
            self.pop_top_while(_RUBY_ALL if name in (b"rb", b"rtc") else _RUBY_NO_RTC, at)
        if name in _P_CLOSERS and open_[b"p"]:
            self.close_implied(_P_ONLY, _BUTTON_SCOPE, at)
        if name in _HEADINGS and names[-1] in _HEADINGS and nss[-1] == _HTML:
            if len(names) == 1:
                self.touched = True
                raise _Unknown
            self.pop_to(len(names) - 1, at, False)

    def table_start(self, name: bytes, at: int) -> None:
        """Table parts: they may close cells, rows and sections open in the slot."""
        if name == b"col":
            return
        names, nss = self.names, self.nss

        def context() -> int:
            # The nearest table context inside the slot; none means the part is loose in
            # the slot and its meaning depends on markup we have not read.
            k = len(names) - 1
            _charge(k)
            while k >= 0 and not (nss[k] == _HTML and names[k] in _TABLE_CONTEXT):
                if nss[k] != _HTML:
                    raise _Unknown
                k -= 1
            if k < 0:
                self.touched = True
                raise _Unknown
            return k

        k = context()
        if names[k] == b"colgroup" and k == len(names) - 1 and name != b"colgroup":
            if k == 0:
                self.touched = True  # the root column group would be ended
            else:
                self.pop_to(k, at, False)  # a table part ends the column group
                k = context()
        ctx = names[k]
        if ctx in (b"caption", b"colgroup"):
            raise _Unknown
        if ctx == b"template" or (ctx == b"table" and name in _CELLS_TR):
            return
        if ctx in _CELLS:
            for x in range(k + 1, len(names)):
                if nss[x] != _HTML or names[x] not in _IMPLIED:
                    raise _Unknown
            if name in _CELLS:
                self.pop_top_while(_IMPLIED_CELLS, at)
            elif name == b"tr":
                self.pop_top_while(_IMPLIED_CELLS_TR, at)
            else:  # tbody/thead/tfoot/caption/colgroup
                self.pop_top_while(_IMPLIED_CELLS_TR_SECTIONS, at)
            return
        if k != len(names) - 1:
            raise _Unknown  # something else is open inside the row/section: too odd
        if ctx == b"tr":
            if name == b"tr":
                self.pop_top_while(_TR_ONLY, at)
            elif name not in _CELLS:
                self.pop_top_while(_TR_SECTIONS, at)
        elif ctx in _SECTIONS and (name in _SECTIONS or name in (b"caption", b"colgroup")):
            self.pop_top_while(_SECTIONS, at)
        # ctx == table: caption/colgroup/sections open directly.

    def end_target(self, name: bytes) -> int:
        """Index of the element an HTML end tag closes, when elements above it are open.

        Follows what the tree builder does for each kind of end tag, but refuses when a
        formatting element would be popped (the tree builder reconstructs it after the
        slot, changing markup outside it), when the tag would be ignored, or when the
        search would leave the slot."""
        names, nss = self.names, self.nss
        if name in _FORMATTING or name in _STRICT_ENDS:
            raise _Unknown  # adoption agency / form pointer / body: not modelled
        if name in _TABLE_ENDS:
            boundary = _TABLE_SCOPE_TABLE if name == b"table" else _TABLE_SCOPE
            keep_out = _NOTHING  # cells and captions clear formatting to their marker
        elif name in _BLOCK_ENDS:
            boundary = _END_SCOPES.get(name, _DEFAULT_SCOPE)
            keep_out = _FORMATTING
        else:
            boundary = _SPECIAL  # "any other end tag" is ignored at a special element
            keep_out = _FORMATTING
        k = len(names) - 1
        _charge(k)
        while k > 0:
            if nss[k] != _HTML:
                raise _Unknown
            if names[k] == name:
                return k
            if names[k] in boundary or names[k] in keep_out:
                raise _Unknown
            k -= 1
        if names[0] == name and nss[0] == _HTML:
            return 0
        self.touched = True  # an enclosing walk would look further down
        raise _Unknown

    # -- the scan ---------------------------------------------------------------------

    def scan(self) -> _Extent:
        doc, root = self.doc, self.root
        name0 = root.name
        if root.ns == _HTML:
            if name0 in _NOT_IN_SLOT:
                raise _Unknown  # html/head/body/frameset: not an element one can cut out
            if name0 in _VOID:
                return _Extent(root.start, root.end, root.end, root.end, "void", [])
            if name0 in _TEXT_ONLY:
                closed = _text_close(doc, root.end, name0)
                if closed is None:
                    raise _Unknown
                return _Extent(root.start, root.end, closed[0], closed[1], "text", [])
        elif root.self_closing(doc):
            return _Extent(root.start, root.end, root.end, root.end, "void", [])
        elif _FOREIGN_FAST and self.children is None and name0 in _FOREIGN_ROOTS:
            span = _foreign_end(doc, root.end, name0, self.cands)
            if span is not None:
                return _Extent(root.start, root.end, span[0], span[1], "normal", None)

        names, nss, ips, open_ = self.names, self.nss, self.ips, self.open
        children, cands, found = self.children, self.cands, self.found
        sums = self.sums
        kids: list[_Child] = children if children is not None else []
        find = doc.find
        start_match = _START_RE.match
        end_match = _END_RE.match
        n = len(doc)
        i = j = root.end
        skipped = 0  # bytes of nested subtrees jumped over (sums): not read
        try:
            while True:
                j = find(b"<", i)
                if j < 0 or j + 1 >= n:
                    j = n  # searched to the end
                    raise _Unknown
                c = doc[j + 1]
                top_name = names[-1]
                tns = nss[-1]
                foster = top_name in _FOSTER and tns == _HTML
                if foster and j > i and doc[i:j].strip(b" \t\n\r\f"):
                    raise _Unknown  # text directly in a table is moved out of it
                if c in _LETTERS:
                    m = start_match(doc, j)
                    if m is None:
                        j = n
                        raise _Unknown  # end of file inside a tag
                    name = m.group(1).lower()
                    e = m.end()
                    if (
                        tns == _HTML
                        and not foster
                        and cands is None
                        and (children is None or len(names) > 1)
                        and top_name != b"colgroup"
                        and (
                            name not in _SLOW_START
                            or (name in _FAST_IF_NO_P and not open_[b"p"])
                            or (name == b"a" and not open_[b"a"])
                        )
                    ):
                        # Fast path: an ordinary element in HTML content (a block one only
                        # when no <p> is open in the slot: then it closes nothing).
                        if name in _PLAIN_VOID:
                            i = e
                            continue
                        if sums is not None and j in sums and not any(open_.values()):
                            # A nested edited slot whose outcome is known (see sums).
                            done = sums[j]
                            if done is None:
                                raise _Unknown
                            skipped += done[1] - j
                            i = done[1]
                            continue
                        names.append(name)
                        nss.append(_HTML)
                        ips.append(_IP_NONE)
                        if name in _COUNTED:
                            open_[name] += 1
                        i = e
                        continue
                    tag: _Tag | None = None
                    tip = ips[-1]
                    ns, ip = _HTML, _IP_NONE
                    if (
                        tns == _HTML
                        or tip == _IP_HTML
                        or (tip == _IP_MATHML_TEXT and name not in _MATHML_GLYPHS)
                    ):
                        if foster and name not in _IN_TABLE_OK:
                            if name == b"input":
                                tag = _Tag(j, e, name, m.start(2), _HTML, _IP_NONE)
                                # Only an exact (ASCII case-insensitive) "hidden" stays in
                                # the table.
                                if (tag.attr(doc, b"type") or b"").lower() != b"hidden":
                                    raise _Unknown
                            elif name not in _TABLE_PARTS and name != b"col":
                                raise _Unknown
                        if name == b"svg":
                            ns = _SVG
                        elif name == b"math":
                            ns = _MATH
                        elif name in _RULED:
                            self.html_start(name, j)
                        elif names[-1] == b"colgroup" and nss[-1] == _HTML:
                            raise _Unknown  # anything but <col> closes a column group
                    else:
                        if name in _BREAKOUT:
                            raise _Unknown
                        ns = tns
                        if name == b"font" or (tns == _MATH and name == b"annotation-xml"):
                            tag = _Tag(j, e, name, m.start(2), ns, _IP_NONE)
                            if name == b"font":
                                for a in tag.attrs(doc):
                                    if a[0] in (b"color", b"face", b"size"):
                                        raise _Unknown
                            else:
                                enc = (tag.attr(doc, b"encoding") or b"").lower()
                                if enc in (b"text/html", b"application/xhtml+xml"):
                                    ip = _IP_HTML
                        elif tns == _SVG and name in _SVG_HTML_IP:
                            ip = _IP_HTML
                        elif tns == _MATH and name in _MATHML_TEXT_IP:
                            ip = _IP_MATHML_TEXT
                    at_child = children is not None and len(names) == 1
                    if at_child or cands is not None:
                        if tag is None:
                            tag = _Tag(j, e, name, m.start(2), ns, ip)
                        else:
                            tag.ns, tag.ip = ns, ip
                        if cands is not None and found is not None:
                            k = bisect.bisect_left(cands, j)
                            if k < len(cands) and cands[k] < e:
                                found.append(tag)
                    if ns == _HTML:
                        if name in _VOID:
                            if at_child and tag is not None:
                                kids.append(_Child(j, e, True, tag))
                            i = e
                            continue
                        if name in _TEXT_ONLY:
                            closed = _text_close(doc, e, name)
                            if closed is None:
                                j = n  # searched to the end
                                raise _Unknown
                            if at_child and tag is not None:
                                kids.append(_Child(j, closed[1], True, tag))
                            i = closed[1]
                            continue
                    elif doc[e - 2] == 0x2F and _Tag(j, e, name, m.start(2), ns, ip).self_closing(
                        doc
                    ):
                        if at_child and tag is not None:
                            kids.append(_Child(j, e, True, tag))
                        i = e
                        continue
                    elif _FOREIGN_FAST and name in _FOREIGN_ROOTS:
                        span = _foreign_end(doc, e, name, cands)
                        if span is not None:  # what the walker would find, at C speed
                            if at_child and tag is not None:
                                kids.append(_Child(j, span[1], True, tag))
                            i = span[1]
                            continue
                    if (
                        sums is not None
                        and j in sums
                        and ns == _HTML
                        and ip == _IP_NONE
                        and not any(open_.values())
                    ):
                        # A nested edited slot whose outcome is known (see sums): pushed
                        # and closed by its own end tag, or the walk fails there too.
                        done = sums[j]
                        if done is None:
                            raise _Unknown
                        skipped += done[1] - j
                        if at_child and tag is not None:
                            kids.append(_Child(j, done[1], True, tag))
                        i = done[1]
                        continue
                    if at_child and tag is not None:
                        kids.append(_Child(j, -1, False, tag))
                    names.append(name)
                    nss.append(ns)
                    ips.append(ip)
                    if name in _COUNTED:
                        open_[name] += 1
                    i = e
                elif c == 0x2F:  # '/'
                    if j + 2 < n and doc[j + 2] in _LETTERS:
                        m = end_match(doc, j)
                        if m is None:
                            j = n
                            raise _Unknown
                        name = m.group(1).lower()
                        e = m.end()
                        k = len(names) - 1
                        if (
                            name == top_name
                            and tns == _HTML
                            and (k > 1 or (k and children is None))
                        ):
                            # Fast path: the current element's own end tag.
                            names.pop()
                            nss.pop()
                            ips.pop()
                            if name in _COUNTED:
                                open_[name] -= 1
                            i = e
                            continue
                        if tns != _HTML:
                            # Foreign content: pop to the nearest element of that name.
                            while names[k] != name:
                                k -= 1
                                if k < 0 or nss[k] == _HTML:
                                    self.touched = self.touched or k < 0
                                    raise _Unknown
                        elif names[k] != name:
                            k = self.end_target(name)
                        if k == 0:
                            if len(names) > 1:
                                self.pop_to(1, j, False)  # a child left open is closed implicitly
                            _charge(e - root.end - skipped)
                            return _Extent(root.start, root.end, j, e, "normal", children)
                        self.pop_to(k, e, True)
                        i = e
                    else:
                        e = _bogus_end(doc, j)  # "</>" or a bogus comment
                        if e < 0:
                            j = n
                            raise _Unknown
                        i = e
                elif c == 0x21:  # '!'
                    if doc.startswith(b"<!--", j):
                        e = _comment_end(doc, j)
                    elif tns != _HTML and doc.startswith(b"<![CDATA[", j):
                        e = find(b"]]>", j + 9)
                        e = -1 if e < 0 else e + 3
                    else:
                        e = _bogus_end(doc, j)
                    if e < 0:
                        j = n
                        raise _Unknown
                    i = e
                elif c == 0x3F:  # '?'
                    e = _bogus_end(doc, j)
                    if e < 0:
                        j = n
                        raise _Unknown
                    i = e
                else:
                    if foster:
                        raise _Unknown
                    i = j + 1
        except _Unknown:
            # The walk read up to the token it failed at (j), or to the end (j = n).
            _charge(j - root.end - skipped)
            raise


_LI_STOP = frozenset(_SPECIAL - {b"address", b"div", b"p"})
_NOTHING: frozenset[bytes] = frozenset()
_STRICT_ENDS = frozenset(b"form body html br".split())
_DEFAULT_SCOPE = frozenset(b"applet caption html table td th marquee object template".split())
_TABLE_SCOPE = frozenset(b"html table template".split())
_TABLE_SCOPE_TABLE = frozenset(b"html template".split())
# End tags whose element, when in scope, is closed with everything opened after it.
_BLOCK_ENDS = frozenset(
    b"address article aside blockquote button center details dialog dir div dl fieldset "
    b"figcaption figure footer header hgroup listing main menu nav ol pre search section "
    b"summary ul p li dd dt h1 h2 h3 h4 h5 h6 applet marquee object template".split()
)
_END_SCOPES = {
    b"p": _DEFAULT_SCOPE | {b"button"},
    b"li": _DEFAULT_SCOPE | {b"ol", b"ul"},
    # </hN> pops until *any* heading: another level open above it would be the one closed.
    **{h: _DEFAULT_SCOPE | (_HEADINGS - {h}) for h in _HEADINGS},
}
_LI_ONLY = frozenset((b"li",))
_DD_DT = frozenset((b"dd", b"dt"))
_P_ONLY = frozenset((b"p",))
_OPTION_ONLY = frozenset((b"option",))
_OPTGROUP_ONLY = frozenset((b"optgroup",))
_TR_ONLY = frozenset((b"tr",))
_TR_SECTIONS = _TR_ONLY | _SECTIONS
_CELLS_TR = _CELLS | _TR_ONLY
_IMPLIED_CELLS = _IMPLIED | _CELLS
_IMPLIED_CELLS_TR = _IMPLIED_CELLS | _TR_ONLY
_IMPLIED_CELLS_TR_SECTIONS = _IMPLIED_CELLS_TR | _SECTIONS
_COUNTED = frozenset(b"p a select button form nobr".split())
_MATHML_GLYPHS = frozenset((b"mglyph", b"malignmark"))
_CLOSES_SELECT = frozenset(
    b"input keygen textarea select caption table tbody tfoot thead tr td th".split()
)
# Start tags that need more than a push (rules, void, raw text, foreign, table).
_SLOW_START = (
    _NOT_IN_SLOT
    | _SELF_NESTING_FORBIDDEN
    | _CLOSES_SELECT
    | _TABLE_PARTS
    | _P_CLOSERS
    | _HEADINGS
    | _RUBY_ALL
    | _VOID
    | _TEXT_ONLY
    | _FOSTER
    | {b"col", b"li", b"dd", b"dt", b"button", b"option", b"optgroup", b"svg", b"math"}
)
# Block elements whose only rule is "close an open <p>", and void elements without rules.
_FAST_IF_NO_P = frozenset(
    b"address article aside blockquote center details dialog dir div dl fieldset figcaption "
    b"figure footer header hgroup main menu nav ol search section summary ul pre listing p "
    b"img br wbr area embed source track meta link param base basefont bgsound image".split()
)
_PLAIN_VOID = _VOID - {b"input", b"keygen", b"col", b"frame", b"hr"}
# Start tags for which html_start has something to check.
_RULED = (
    _NOT_IN_SLOT
    | _SELF_NESTING_FORBIDDEN
    | _CLOSES_SELECT
    | _TABLE_PARTS
    | _P_CLOSERS
    | _HEADINGS
    | _RUBY_ALL
    | {b"col", b"li", b"dd", b"dt", b"button", b"option", b"optgroup"}
)


# --------------------------------------------------------------------------- document scan


class _Scan:
    """Finds the real start tags that contain some of the candidate offsets."""

    __slots__ = ("cands", "doc", "found", "n", "pos")

    def __init__(self, doc: bytes, cands: list[int]) -> None:
        self.doc = doc
        self.n = len(doc)
        self.cands = cands
        self.pos = 0
        self.found: list[_Tag] = []

    def run(self) -> list[_Tag]:
        doc, cands = self.doc, self.cands
        if not cands:
            return self.found
        n = self.n
        # One forward pass: every range it searches lies between pos and the next event,
        # and pos then moves past that event; the lookaheads (raw text, comments, foreign
        # content) count their own work.
        _charge(n)
        limit = min(n, cands[-1] + 32)
        ci, nc = 0, len(cands)
        o = -1  # the next special opener at or after pos (n: none before limit)
        search = _SPECIAL_RE.search
        rfind = doc.rfind
        quotes_ok = self._quotes_ok
        while ci < nc:
            pos = self.pos
            p = cands[ci]
            if p < pos:
                ci += 1
                continue
            if o < pos:
                sm = search(doc, pos, limit)
                o = sm.start() if sm is not None else n
            # The next event: a special opener, or the candidate.  The token containing
            # it starts at the first opener after the last '>' before it (naively; then
            # proved with conditions (A)/(B), or computed exactly).
            x = o if o < p else p
            if x == o and doc[o + 1] in _FOREIGN_FIRST:
                # An inline svg/math: most need no walk (and no start tag match either).
                head = doc[o + 1 : o + 5].lower()
                name = b"svg" if head[:3] == b"svg" else b"math" if head == b"math" else b""
                if name and _FOREIGN_FAST:
                    end = _foreign_skip(doc, pos, o, name, cands)
                    if end >= 0:
                        self.pos = end
                        continue
            r = rfind(b">", pos, x)
            a = r + 1 if r >= 0 else pos
            if x == o and (a == o or doc[a:o].isspace()):
                j = o  # hot path: a special right after a tag, whitespace between
            else:
                j = self._first_opener(a, x + 1 if x == o else x)
            if j < 0:
                # The candidate is in text (if proved): the data state holds at p.
                t = p if quotes_ok(a, p) else self._exact(p)
                if t == p:
                    self.pos = p
                    ci += 1
                    continue
            else:
                t = j if quotes_ok(a, j) else self._exact(j)
            if not self._consume(t):
                break
        return self.found

    def reaches(self, target: int) -> bool:
        """Run up to ``target`` (the last candidate): is it a token boundary in the data
        state, outside foreign content?"""
        self.run()
        return self.pos == target

    def _first_opener(self, a: int, o: int) -> int:
        doc = self.doc
        j = doc.find(b"<", a, o)
        while j >= 0 and doc[j + 1] not in _OPENERS:
            j = doc.find(b"<", j + 1, o)
        return j

    def _quotes_ok(self, a: int, o: int) -> bool:
        return _quotes_ok(self.doc, self.pos, a, o)

    def _exact(self, o: int) -> int:
        """Tokenize exactly from ``pos``: ``o`` if it is a token boundary, else the start of
        the token that contains it (or of a special start tag met on the way)."""
        return _BORING_RE.match(self.doc, self.pos, o).end()

    def _consume(self, t: int) -> bool:
        """Handle the token at data-state offset ``t``; False when the scan must stop."""
        doc = self.doc
        if t + 1 >= self.n:
            return False
        c = doc[t + 1]
        if c in _LETTERS:
            m = _START_RE.match(doc, t)
            if m is None:
                return False  # end of file inside a tag: the tag is dropped
            name = m.group(1).lower()
            end = m.end()
            tag = _Tag(t, end, name, m.start(2), _HTML, _IP_NONE)
            cands = self.cands
            k = bisect.bisect_left(cands, t)
            if k < len(cands) and cands[k] < end:
                self.found.append(tag)
            if name in _TEXT_ONLY:
                closed = _text_close(doc, end, name)
                if closed is None:
                    return False
                end = closed[1]
            elif name == b"svg" or name == b"math":
                tag.ns = _SVG if name == b"svg" else _MATH
                if not tag.self_closing(doc):
                    span = _foreign_end(doc, end, name, self.cands) if _FOREIGN_FAST else None
                    if span is not None:
                        end = span[1]
                    else:
                        inner: list[_Tag] = []
                        ext = _element_extent(doc, tag, False, self.cands, inner)
                        if ext is None:
                            return False
                        self.found.extend(inner)
                        end = ext.end
            self.pos = end
            return True
        if c == 0x2F and t + 2 < self.n and doc[t + 2] in _LETTERS:
            end = _end_tag_span(doc, t)
        elif c == 0x21 and doc.startswith(b"<!--", t):
            end = _comment_end(doc, t)
        elif c in _OPENERS:
            end = _bogus_end(doc, t)
        else:
            end = t + 1
        if end < 0:
            return False
        self.pos = end
        return True


def _after_equals(doc: bytes, pos: int, z: int) -> bool:
    """Is the quote at ``z`` preceded, modulo whitespace, by '=' (at or after ``pos``)?"""
    k = z - 1
    while k >= pos and doc[k] in _WS:
        k -= 1
    return k >= pos and doc[k] == 0x3D


def _candidates(doc: bytes, needle: bytes, stop: int | None = None) -> list[int]:
    out = []
    find = doc.find
    end = len(doc) if stop is None else stop
    i = find(needle, 0, end)
    while i >= 0:
        out.append(i)
        i = find(needle, i + len(needle), end)
    return out


def _slot_tags(doc: bytes, cands: list[int]) -> list[tuple[_Tag, bytes]]:
    """Real slot start tags (document order) and their raw slot-name value."""
    return _slot_tags_of(doc, _Scan(doc, cands).run())


def _slot_tags_of(doc: bytes, found: list[_Tag]) -> list[tuple[_Tag, bytes]]:
    out = []
    seen = -1
    for tag in found:
        if tag.start == seen:
            continue
        seen = tag.start
        for a in tag.attrs(doc):
            if a[0] == SLOT_ATTR:
                out.append((tag, a[4] if a[4] is not None else b""))
                break
    return out


# --------------------------------------------------------------------------- page memo

#: Attributes whose values change how the tree builder or this module reads a page
#: (foster parenting, foreign breakouts, charset, slots, ordering): never inert.
_NOT_INERT = frozenset(
    (
        *b"type color face size encoding charset content http-equiv name hidden".split(),
        SLOT_ATTR,
        b"data-seg-segment",
    )
)
_UNSAFE_IN_VALUE = re.compile(rb"[\"'<>]")


class _Page:
    """One scanned page: its bytes, its slot tags, and the *inert* ranges learned so far:
    insides of quoted attribute values where other bytes may stand in later pages."""

    __slots__ = ("doc", "plan_bytes", "plans", "ranges", "tags")

    def __init__(self, doc: bytes, tags: list[tuple[_Tag, bytes]]) -> None:
        self.doc = doc
        self.tags = tags
        # Rewriting plans of this page shape, by edit signature (see _Plan); dropped with
        # the page.  ``plan_bytes`` is their estimated size, counted in the memo's budget.
        self.plans: dict[tuple[object, ...], _Plan | None] = {}
        self.plan_bytes = 0
        # (ranges, their starts), replaced as one object: readers in other threads
        # never see one updated without the other.
        self.ranges: tuple[list[tuple[int, int]], list[int]] = ([], [])

    def uncovered(self, new: bytes, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The runs not inside an inert range, or holding a quote, '<' or '>' in ``new``."""
        inert, starts = self.ranges
        left = []
        for u, v in runs:
            k = bisect.bisect_right(starts, u) - 1
            if k < 0 or inert[k][1] < v or _UNSAFE_IN_VALUE.search(new, u, v) is not None:
                left.append((u, v))
        return left

    def matches(self, new: bytes) -> bool:
        """Does ``new`` (same length) differ only inside inert ranges, safely?  The
        steady state: a memcmp per stretch between ranges, a regex over each range."""
        inert = self.ranges[0]
        if not inert:
            return new == self.doc
        view = memoryview(self.doc)
        same, unsafe = new.startswith, _UNSAFE_IN_VALUE.search
        cur = 0
        for a, b in inert:
            if not same(view[cur:a], cur) or unsafe(new, a, b) is not None:
                return False
            cur = b
        return same(view[cur:], cur)

    def learn(self, ranges: list[tuple[int, int]]) -> None:
        merged = sorted({*self.ranges[0], *ranges})[:_PAGE_MAX_INERT]
        self.ranges = (merged, [a for a, _ in merged])


class _PageMemo:
    """Slot tags of pages seen before, reused for a page of the same length whose other
    bytes all lie inside inert ranges (real pages carry CSRF tokens and the like).

    Sound because: if every byte where the new page differs lies inside a quoted
    attribute value of a real start tag (proved by the document scan of a page where it
    stood: the pages then share every token but those values) and the new bytes hold no
    quote, ``<`` or ``>``, the HTML tokenizer stays in that attribute-value state over
    them: both pages have the same tokens at the same offsets, differing only in those
    values; and no value that matters to the tree builder or to this module (slot names,
    ``data-seg-segment``, ``type``...: _NOT_INERT, or any value in a slot tag) is inert.
    Extents are memoized separately (_EXTENTS), verified byte for byte.
    ``tests/test_rewrite_memo.py`` checks hits against fresh scans."""

    def __init__(self, max_bytes: int = 24 << 20, per_length: int = 4) -> None:
        self.max_bytes = max_bytes
        self.per_length = per_length
        self._pages: OrderedDict[int, list[_Page]] = OrderedDict()  # by length, LRU
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.plan_hits = 0
        self.plan_misses = 0
        #: the document last found, and its page: the middleware asks twice about the
        #: same bytes object (the slot names for an exposure, then the rewrite)
        self._last: tuple[bytes, _Page, list[tuple[_Tag, bytes]]] | None = None

    def slot_tags(self, doc: bytes) -> list[tuple[_Tag, bytes]]:
        return self.lookup(doc)[1]

    def lookup(self, doc: bytes) -> tuple[_Page | None, list[tuple[_Tag, bytes]]]:
        """The slot tags of ``doc``, and the memoized page whose shape ``doc`` has (None
        when ``doc`` only taught a page new inert ranges, or is not memoized)."""
        last = self._last
        if last is not None and last[0] is doc:  # held there: its id cannot be reused
            self.hits += 1
            return last[1], last[2]
        page, tags = self._lookup(doc)
        if page is not None:
            self._last = (doc, page, tags)
        return page, tags

    def _lookup(self, doc: bytes) -> tuple[_Page | None, list[tuple[_Tag, bytes]]]:
        pages = tuple(self._pages.get(len(doc), ()))
        for page in pages:
            if page.matches(doc):
                self.hits += 1
                with contextlib.suppress(KeyError):  # dropped by another thread meanwhile
                    self._pages.move_to_end(len(doc))
                return page, page.tags
        todo: list[tuple[int, int]] = []
        best: _Page | None = None
        for page in pages:
            runs = diff_runs(page.doc, doc)
            if runs is None:
                continue
            left = page.uncovered(doc, runs)
            if not left:
                self.hits += 1
                with contextlib.suppress(KeyError):  # dropped by another thread meanwhile
                    self._pages.move_to_end(len(doc))
                return page, page.tags
            if best is None or len(left) < len(todo):
                todo, best = left, page
        self.misses += 1
        cands = _candidates(doc, SLOT_ATTR)
        if not cands:
            return None, []
        # The scan proves the unknown runs too: each must sit in a tag's quoted value.
        found = _Scan(doc, sorted({*cands, *(u for u, _ in todo)})).run()
        tags = _slot_tags_of(doc, found)
        if best is not None:
            proved = _inert_ranges(doc, found, todo, best.doc)
            if proved is not None:
                best.learn(proved)
                return None, tags
        page = _Page(doc, tags)
        return (page if self._store(page) else None), tags

    def _store(self, page: _Page) -> bool:
        n = len(page.doc)
        # up to half the budget: a page of the middleware's default max_html_bytes
        # (8 MiB) is memoized too (a 10 MB page scanned afresh costs 36 ms a request)
        if n > self.max_bytes // 2:
            return False
        with self._lock:
            pages = self._pages.pop(n, [])
            pages.insert(0, page)
            self._bytes += n
            while len(pages) > self.per_length:
                old = pages.pop()
                self._bytes -= len(old.doc) + old.plan_bytes
            self._pages[n] = pages
            self._trim()
        return True

    def _trim(self) -> None:
        """Drop the least recently used pages (and their plans) down to the budget; with
        the lock held."""
        while self._bytes > self.max_bytes and self._pages:
            _, dropped = self._pages.popitem(last=False)
            self._bytes -= sum(len(p.doc) + p.plan_bytes for p in dropped)

    def put_plan(self, page: _Page, key: tuple[object, ...], plan: _Plan | None) -> None:
        """Remember ``plan`` for ``page`` (if the memo still holds it) under ``key``: at
        most _PLANS_PER_PAGE per page (the oldest goes first), their size counted in the
        memo's byte budget, so that pages and plans share one bound."""
        size = _PLAN_BASE_BYTES if plan is None else plan.size
        if size > self.max_bytes // 4:
            return
        with self._lock:
            if not any(p is page for p in self._pages.get(len(page.doc), ())):
                return  # dropped meanwhile: its plans would never be freed from the count
            plans = page.plans
            if key in plans:
                return  # another thread built the same plan
            while len(plans) >= _PLANS_PER_PAGE:
                gone = plans.pop(next(iter(plans)))
                freed = _PLAN_BASE_BYTES if gone is None else gone.size
                page.plan_bytes -= freed
                self._bytes -= freed
            plans[key] = plan
            page.plan_bytes += size
            self._bytes += size
            self._trim()

    def clear(self) -> None:
        self.hits = self.misses = 0
        self.plan_hits = self.plan_misses = 0
        self._last = None
        with self._lock:
            self._pages.clear()
            self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes


def _inert_ranges(
    doc: bytes, found: list[_Tag], runs: list[tuple[int, int]], old: bytes
) -> list[tuple[int, int]] | None:
    """For each run, the quoted attribute value (inside the quotes) of a real start tag
    of ``doc`` that contains it, when that value may vary (see _PageMemo); None if any
    run has none, or holds a quote, '<' or '>' in ``doc`` or in the ``old`` page."""
    out = []
    starts = [t.start for t in found]
    for u, v in runs:
        if _UNSAFE_IN_VALUE.search(doc, u, v) or _UNSAFE_IN_VALUE.search(old, u, v):
            return None
        k = bisect.bisect_right(starts, u) - 1
        tag = found[k] if k >= 0 else None
        if tag is None or not (tag.start <= u and v <= tag.end):
            return None
        if SLOT_ATTR in doc[tag.start : tag.end].lower():
            return None
        for name, _sep, _name_start, end, value in tag.attrs(doc):
            if value is None or doc[end - 1] not in (0x22, 0x27):
                continue  # no value, or an unquoted one
            a, b = end - 1 - len(value), end - 1
            if a <= u and v <= b:
                if name in _NOT_INERT:
                    return None
                out.append((a, b))
                break
        else:
            return None
    return out


_PAGES = _PageMemo()
_PAGE_MAX_INERT = 64


# --------------------------------------------------------------------------- encodings

_PROBE = "<>/=\"' \t\n\r\f!?-:;&#abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."
_STATEFUL = ("iso2022", "utf_7", "hz")


@lru_cache(maxsize=64)
def _codec_mode(encoding: str) -> tuple[str, str]:
    """("bytes", codec) | ("wide", codec) | ("none", "") for an encoding label."""
    try:
        name = codecs.lookup(encoding).name.replace("-", "_")
    except (LookupError, TypeError, ValueError):
        return ("none", "")
    if name.startswith(("utf_16", "utf_32")):
        return ("wide", name)
    if name.startswith("utf_8"):
        return ("bytes", "utf-8")  # utf-8-sig: never insert a BOM mid-document
    if name.startswith(_STATEFUL):
        return ("none", "")
    try:
        if _PROBE.encode(name) != _PROBE.encode("ascii"):
            return ("none", "")
    except (UnicodeError, LookupError):
        return ("none", "")
    return ("bytes", name)


def _wide_codec(doc: bytes, name: str) -> tuple[bytes, str] | None:
    """(BOM, endian-explicit codec) for a UTF-16/32 document."""
    width = 2 if name.startswith("utf_16") else 4
    if name.endswith(("_le", "_be")):
        return b"", name
    base = "utf_16" if width == 2 else "utf_32"
    le, be = codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE
    if width == 4:
        le, be = codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE
    if doc.startswith(le):
        return le, base + "_le"
    if doc.startswith(be):
        return be, base + "_be"
    return b"", base + "_le"  # the WHATWG default for a BOM-less "utf-16"


def _through_utf8(doc: bytes, name: str, fn: Callable[[bytes], _T]) -> tuple[bytes, str, _T] | None:
    """Run ``fn(utf8_doc)`` on a UTF-16/32 document; None if it does not round-trip."""
    spec = _wide_codec(doc, name)
    if spec is None:
        return None
    bom, codec = spec
    try:
        text = doc[len(bom) :].decode(codec)
        if text.encode(codec) != doc[len(bom) :]:
            return None
        return bom, codec, fn(text.encode("utf-8", "surrogatepass"))
    except UnicodeError:
        return None


# --------------------------------------------------------------------------- public API


def has_slots(doc: bytes, encoding: str = "utf-8") -> bool:
    """Cheap gate: does the page mention ``data-seg-slot`` (lower case) at all?

    One ``bytes.find`` for ASCII-compatible encodings; the answer may be True for a page
    whose only mention is in a comment or a script (``rewrite`` then finds no slot)."""
    try:
        mode, name = _codec_mode(encoding)
        if mode == "wide":
            spec = _wide_codec(doc, name)
            return spec is not None and "data-seg-slot".encode(spec[1]) in doc
        return SLOT_ATTR in doc
    except Exception:
        if _RAISE_INTERNAL_ERRORS:
            raise
        return SLOT_ATTR in doc


def page_categories(doc: bytes, encoding: str = "utf-8") -> tuple[str, ...]:
    """Categories declared by ``<meta name="smartseg:category" content="a, b">`` tags.

    Several metas are allowed; attribute order and quoting are free; values are
    entity-decoded, split on commas, trimmed; empty entries and repeats are dropped.
    A meta inside a comment, a script or an attribute value does not count.  The metas
    belong in the head: when the document has a real ``</head>`` end tag, nothing after
    it is read (a page without one is read whole)."""
    try:
        mode, name = _codec_mode(encoding)
        if mode == "wide":
            done = _through_utf8(doc, name, lambda d: _categories(d, "utf-8"))
            return () if done is None else done[2]
        if mode == "none":
            return ()
        return _categories(doc, name)
    except WorkLimitExceeded:
        # Categories only refine the rules: a page built to be slow just has none (the
        # caller's whole request fails on an exception here).
        log.warning("smartseg: page categories not read", exc_info=True)
        return ()
    except Exception:
        if _RAISE_INTERNAL_ERRORS:
            raise
        log.exception("smartseg: reading page categories failed")
        return ()


#: the head's bytes (through its real end tag) → the categories it declares
_HEAD_MEMO: dict[bytes, tuple[str, ...]] = {}
_HEAD_MEMO_ENTRIES = 256
_HEAD_MEMO_KEY_MAX = 64 * 1024


def _categories(doc: bytes, encoding: str) -> tuple[str, ...]:
    # When the head ends before the page does, the answer depends on the head's bytes
    # alone (`_head_metas` reads nothing after its `</head`, and `_closes` one byte
    # past the name): the same head, request after request, is looked up, not scanned.
    key = None
    cut = doc.find(b"</head")
    while cut >= 0 and not _closes(doc, cut, b"head"):
        cut = doc.find(b"</head", cut + 6)
    if 0 <= cut < _HEAD_MEMO_KEY_MAX:
        key = doc[: cut + 8] + encoding.encode()
        found = _HEAD_MEMO.get(key)
        if found is not None:
            return found
    if CATEGORY_META not in doc:
        # none at all (most pages): remembered for this head once its end is proved
        if key is not None:
            with _metered(doc):
                proved = _Scan(doc, [cut]).reaches(cut)
            if proved:
                _remember_head(key, ())
        return ()
    with _metered(doc):
        tags = _head_metas(doc)
        if tags is None:
            key = None  # read the whole page: not a function of the head
            tags = _Scan(doc, _candidates(doc, CATEGORY_META)).run()
    out = _category_values(doc, tags, encoding)
    if key is not None:
        _remember_head(key, out)
    return out


def _remember_head(key: bytes, categories: tuple[str, ...]) -> None:
    if len(_HEAD_MEMO) >= _HEAD_MEMO_ENTRIES:
        _HEAD_MEMO.clear()
    _HEAD_MEMO[key] = categories


def _category_values(doc: bytes, tags: list[_Tag], encoding: str) -> tuple[str, ...]:
    out: list[str] = []
    for tag in tags:
        if tag.name != b"meta" or tag.ns != _HTML:
            continue
        name_value = content = None
        for a in tag.attrs(doc):
            if a[0] == b"name" and name_value is None:
                name_value = a[4] if a[4] is not None else b""
            elif a[0] == b"content" and content is None:
                content = a[4] if a[4] is not None else b""
        if name_value is None or content is None:
            continue
        if _decode_value(name_value, encoding).strip(" \t\n\r\f").lower() != "smartseg:category":
            continue
        for part in _decode_value(content, encoding).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return tuple(out)


def _head_metas(doc: bytes) -> list[_Tag] | None:
    """The tags holding the category name (which ``doc`` mentions) before the head's end
    tag; None when that end is not found or not proved (the whole document is read).

    Pages put the meta in the head, which is small: the rest of the page need not even
    be searched.  The first lower-case ``</head`` counts only if the scan reaches it in
    the data state (not inside a comment, a script, an attribute value...)."""
    cut = doc.find(b"</head")
    while cut >= 0 and not _closes(doc, cut, b"head"):
        cut = doc.find(b"</head", cut + 6)
    if cut < 0:
        return None
    cands = _candidates(doc, CATEGORY_META, cut)
    if not cands:  # only mentioned after it: ignored if it is the head's real end
        return [] if _Scan(doc, [cut]).reaches(cut) else None
    scan = _Scan(doc, [*cands, cut])
    if not scan.reaches(cut):
        return None
    return [tag for tag in scan.found if tag.end <= cut]


#: id(slot tag list the page memo returned) → (that list, encoding, its slot names)
_NAMES: dict[int, tuple[list[tuple[_Tag, bytes]], str, tuple[str, ...]]] = {}


def slot_names(doc: bytes, encoding: str = "utf-8") -> tuple[str, ...]:
    """The names of the real slots of ``doc``, each once, in document order."""
    try:
        mode, name = _codec_mode(encoding)
        if mode == "wide":
            done = _through_utf8(doc, name, lambda d: slot_names(d, "utf-8"))
            return () if done is None else done[2]
        if mode == "none" or SLOT_ATTR not in doc:
            return ()
        out: list[str] = []
        with _metered(doc):
            # the same memo as the rewrite: a page shape seen before is not scanned again
            found = (
                _PAGES.slot_tags(doc) if _MEMO_ON else _slot_tags(doc, _candidates(doc, SLOT_ATTR))
            )
        # a memo hit hands back the very list it stored: its names are decoded once
        known = _NAMES.get(id(found))
        if known is not None and known[0] is found and known[1] == name:
            return known[2]
        for _tag, raw in found:
            slot = _decode_value(raw, name).strip(" \t\n\r\f")
            if slot not in out:
                out.append(slot)
        names = tuple(out)
        if len(_NAMES) >= 64:
            _NAMES.clear()
        _NAMES[id(found)] = (found, name, names)  # holds `found`: its id stays its own
        return names
    except WorkLimitExceeded:
        log.warning("smartseg: slots not listed", exc_info=True)
        return ()
    except Exception:
        if _RAISE_INTERNAL_ERRORS:
            raise
        log.exception("smartseg: listing slots failed")
        return ()


def rewrite(doc: bytes, edits: Mapping[str, Edit], encoding: str = "utf-8") -> bytes:
    """Apply ``edits`` (slot name → edit) to ``doc``; see the module docstring.

    Returns ``doc`` itself when nothing applies.  Raises only WorkLimitExceeded, for a
    page that would take more than ``WORK_PER_BYTE`` units of work per byte."""
    try:
        if not edits:
            return doc
        mode, name = _codec_mode(encoding)
        if mode == "bytes":
            out = _rewrite(doc, edits, name)
            return doc if out is None else out
        if mode == "wide":
            done = _through_utf8(doc, name, lambda d: _rewrite(d, edits, "utf-8"))
            if done is None or done[2] is None:
                return doc
            bom, codec, out = done
            return bom + out.decode("utf-8", "surrogatepass").encode(codec, "surrogatepass")
        return doc
    except WorkLimitExceeded:
        raise  # the caller decides (the middleware sends the page as the app made it)
    except Exception:
        if _RAISE_INTERNAL_ERRORS:
            raise
        log.exception("smartseg: rewriting failed; document left unchanged")
        return doc


# --------------------------------------------------------------------------- rewriting


class _Splice:
    """Replace ``doc[start:end]`` by ``pieces`` (bytes, or (a, b) ranges of ``doc`` that
    are themselves rendered with the splices nested in them; in a plan's splices, also
    _Body and _Cond)."""

    __slots__ = ("end", "inner", "layout", "pieces", "ranges", "start")

    def __init__(self, start: int, end: int, pieces: list[bytes | _Op]) -> None:
        self.start = start
        self.end = end
        self.pieces = pieces
        self.inner: list[_Splice] = []
        # A plan's order splice: (slot name, segments of the ranked children); its
        # pieces are then in document order, the ranking picks their order (_Reorder).
        self.layout: tuple[str, list[str]] | None = None
        # The (a, b) pieces sorted, with their starts (built on first use): an ordered
        # element may have thousands of children, each holding an edited slot.
        self.ranges: tuple[list[int], list[tuple[int, int]]] | None = None

    def sorted_ranges(self) -> tuple[list[int], list[tuple[int, int]]]:
        if self.ranges is None:
            spans = sorted(p for p in self.pieces if isinstance(p, tuple))
            self.ranges = ([a for a, _ in spans], spans)
        return self.ranges


def _rewrite(doc: bytes, edits: Mapping[str, Edit], encoding: str) -> bytes | None:
    """The rewritten document, or None when nothing changed."""
    if SLOT_ATTR not in doc:
        return None
    names = {}
    # The edits' plan signature (see _Plan): slot names and edit kinds, in order.
    sig: list[object] = [encoding]
    for key, edit in edits.items():
        if isinstance(key, str) and isinstance(edit, _EDIT_CLASSES):
            names[key] = edit
            cls = edit.__class__
            if cls is Replace:
                kind = "reveal" if edit.reveal else "replace"  # type: ignore[union-attr]
            else:
                kind = _KIND_OF.get(cls) or _edit_kind(edit)
            sig += (key, kind)
    if not names:
        return None
    saved = _start_meter(doc)
    paused = _pause_gc(doc)
    try:
        return _rewrite_metered(doc, names, encoding, tuple(sig))
    finally:
        if paused:
            gc.enable()
        _stop_meter(saved)


#: Pages from this size on are rewritten with the cyclic garbage collector paused.
GC_PAUSE_FROM = 256 * 1024


def _pause_gc(doc: bytes) -> bool:
    """Pause the cyclic GC for a large page's rewrite; True when the caller re-enables it.

    A rewrite allocates per slot and per tag (tuples and small lists, freed by reference
    counting: no cycles), and the collector's full passes, triggered by those allocations,
    walk every live object: on pages of thousands of slots that made each doubling of
    the page cost 2.2–2.3× (measured: 2.0–2.08× paused, and 35 % faster at 5 MB). Only
    when the collector is on (an app that turned it off keeps it off)."""
    if len(doc) < GC_PAUSE_FROM or not gc.isenabled():
        return False
    gc.disable()
    return True


def _rewrite_metered(
    doc: bytes, names: Mapping[str, Edit], encoding: str, sig: tuple[object, ...] | None = None
) -> bytes | None:
    if _MEMO_ON:
        # Every slot of the page, scanned once per page shape (see _PageMemo).
        page, slot_tags = _PAGES.lookup(doc)
        if page is not None and sig is not None and _PLANS_ON:
            # Where every splice goes, computed once per page shape and edit signature:
            # only the replacement bytes and the orders are made per request (_Plan).
            plan = page.plans.get(sig, _NO_ENTRY)
            if plan is _NO_ENTRY:
                _PAGES.plan_misses += 1
                plan = _build_plan(doc, slot_tags, names, encoding)
                _PAGES.put_plan(page, sig, plan)
            elif plan is not None:
                _PAGES.plan_hits += 1
            if plan is not None:
                # its work: copying the page (a memcmp-like pass, as the extent memo counts)
                _charge(len(doc) >> 3)
                return plan.run(doc, names, encoding)
    else:
        slot_tags = _slot_tags(doc, _edited_candidates(doc, names, encoding))
    top, _exact = _splices(doc, slot_tags, names, encoding, False)
    if not top:
        return None
    top.sort(key=lambda s: s.start)
    out: list[bytes] = []
    _render(doc, 0, len(doc), top, out)
    result = b"".join(out)
    return None if result == doc else result


def _edited_slots(
    slot_tags: list[tuple[_Tag, bytes]], names: Mapping[str, Edit], encoding: str
) -> list[tuple[_Tag, Edit, str]]:
    """The slot tags an edit names, with their edit and slot name (document order)."""
    edited: list[tuple[_Tag, Edit, str]] = []
    for tag, raw in slot_tags:
        slot = _decode_value(raw, encoding).strip(" \t\n\r\f")
        edit = names.get(slot)
        if edit is not None:
            edited.append((tag, edit, slot))
    return edited


def _collect_splices(
    doc: bytes,
    edited: list[tuple[_Tag, Edit, str]],
    encoding: str,
    extents: Mapping[int, _Extent | None],
    symbolic: bool,
) -> tuple[list[_Splice], bool]:
    """The top-level splices of the edits (those nested in ordered elements hang from
    their order splice), and whether none was dropped for lying across the pieces of an
    ordered element (``symbolic``: splices for a plan, see _edit_splices)."""
    exact = True
    top: list[_Splice] = []  # non-overlapping, in document order
    # Ranges covered by earlier edits, innermost last: (start, end, order splice | None).
    # Element extents nest, and slots come in document order, so a stack suffices.
    covered: list[tuple[int, int, _Splice | None]] = []
    gone = 0  # entries of covered that are hidden/replaced (counted: the stack may be deep)
    for tag, edit, name in edited:
        while covered and covered[-1][1] <= tag.start:
            gone -= covered.pop()[2] is None
        # Inside an earlier hidden/replaced element: gone with it.  Inside an ordered
        # element: nested under it.
        if gone:
            continue
        host = covered[-1][2] if covered else None
        made = _edit_splices(doc, tag, edit, encoding, extents, symbolic, name)
        if not made:
            continue
        splices, cover = made
        target = top if host is None else host.inner
        if host is not None and not all(_inside_one_piece(host, s) for s in splices):
            exact = False
            continue
        target.extend(splices)
        if cover is not None:
            covered.append(cover)
            gone += cover[2] is None
    return top, exact


def _plan_extents(doc: bytes, wanted: list[tuple[_Tag, bool]]) -> dict[int, _Extent | None]:
    """The extents of the slots in ``wanted`` (tag, children wanted), by start offset.

    Computed last to first, so that each walk can jump over the edited slots nested in
    it whose outcome is already known (_Subtree.sums): walking every slot from its own
    start tag made unclosed or nested slots quadratic (each walked the rest of the page).
    """
    out: dict[int, _Extent | None] = {}
    sums: _Sums = {}
    for tag, want in reversed(wanted):
        ext, free = _extent_and_free(doc, tag, want, sums or None)
        out[tag.start] = ext
        if free and tag.ns == _HTML and tag.ip == _IP_NONE:
            sums[tag.start] = None if ext is None else (ext.close, ext.end)
    return out


def _edited_candidates(doc: bytes, names: Mapping[str, Edit], encoding: str) -> list[int]:
    """The candidates whose value names an edited slot (so the scan can stop earlier);
    the value is read as if the candidate were a real attribute (if it is not, dropping
    it is harmless)."""
    cands = []
    prev = -1
    for p in _candidates(doc, SLOT_ATTR):
        m = _ATTR_RE.match(doc, p)
        _charge((len(doc) if m is None else m.end()) - p)
        if m is None:
            continue  # e.g. an unterminated quote: the tag never ends
        raw = m.group(3) or b""
        if raw[:1] in (b'"', b"'"):
            raw = raw[1:-1]
        if _decode_value(raw, encoding).strip(" \t\n\r\f") in names:
            cands.append(p)
        else:
            # Another spelling earlier in the same tag may name the slot (first one
            # wins); keeping a candidate is always safe, so a long window just keeps it.
            q = doc.rfind(b"<", max(0, p - 4096), p)
            # The previous candidate is a spelling in doc[q:p] if it lies there; else the
            # windows of successive candidates are disjoint (linear in total).
            if q < 0 or prev >= q:
                cands.append(p)
            else:
                _charge(p - q)
                if SLOT_ATTR in doc[q:p].lower():
                    cands.append(p)
        prev = p
    return cands


def _inside_one_piece(order: _Splice, s: _Splice) -> bool:
    # The pieces are disjoint: only the last one starting at or before s.start can hold
    # s, save empty ones at s.start (harmless to check too).
    starts, spans = order.sorted_ranges()
    k = bisect.bisect_right(starts, s.start) - 1
    while k >= 0 and spans[k][0] == s.start:
        if s.end <= spans[k][1]:
            return True
        k -= 1
    return k >= 0 and spans[k][0] <= s.start and s.end <= spans[k][1]


def _render(doc: bytes, a: int, b: int, splices: list[_Splice], out: list[bytes]) -> None:
    cur = a
    for s in sorted(splices, key=lambda s: s.start):
        if s.start < cur or s.end > b:
            continue  # defensive: never emit overlapping edits
        out.append(doc[cur : s.start])
        # The inner splices of each piece, found by bisection (sorted stably, as the
        # recursive call sorts them anyway): filtering the whole list for every piece was
        # quadratic in the number of children.
        inner = sorted(s.inner, key=lambda x: x.start)
        starts = [x.start for x in inner]
        for piece in s.pieces:
            if isinstance(piece, tuple):
                picked: list[_Splice] = []
                k = bisect.bisect_left(starts, piece[0])
                while k < len(inner) and inner[k].start <= piece[1]:
                    if inner[k].end <= piece[1]:
                        picked.append(inner[k])
                    k += 1
                _render(doc, piece[0], piece[1], picked, out)
            else:
                out.append(piece)
        cur = s.end
    out.append(doc[cur:b])


def _edit_splices(
    doc: bytes,
    tag: _Tag,
    edit: Edit,
    encoding: str,
    extents: Mapping[int, _Extent | None] | None = None,
    symbolic: bool = False,
    name: str = "",
) -> tuple[list[_Splice], tuple[int, int, _Splice | None] | None] | None:
    """The splices an edit makes on one slot element, and the range it covers
    (``extents``: those already computed, by start offset).

    ``symbolic`` (for a plan, see _Plan): the same splices with the same positions, but
    what an edit's own values decide is left to the plan's run: a ``Replace`` body is a
    _Body (a title's or textarea's whole edit a _Cond), an ``Order`` splice holds its
    pieces in document order and its layout (_Splice.layout), and the start tag a
    ``Show`` keeps is ranges of the document rather than bytes."""

    def extent(want_children: bool = False) -> _Extent | None:
        if extents is not None and tag.start in extents:
            return extents[tag.start]
        return _element_extent(doc, tag, want_children)

    if isinstance(edit, Show):
        if symbolic:
            kept = _hidden_kept(doc, tag)
            if kept is None:
                return None
            return [_Splice(tag.start, tag.end, list(kept))], None
        new = _without_hidden(doc, tag)
        if new is None:
            return None
        return [_Splice(tag.start, tag.end, [new])], None
    if isinstance(edit, Hide):
        ext = extent()
        if ext is None:
            return None
        return [_Splice(ext.start, ext.end, [])], (ext.start, ext.end, None)
    if isinstance(edit, Replace):
        ext = extent()
        if ext is None or ext.kind == "void":
            return None
        if ext.kind == "text":
            if tag.name not in _RCDATA:
                return None
            if symbolic:
                kept = _hidden_kept(doc, tag) if edit.reveal else None
                start = ext.inner if kept is None else tag.start
                ok: list[_Op] = [*(kept or ()), (tag.end, ext.inner), _Body(name)]
                cond = _Cond(name, "</" + tag.name.decode("ascii"), ok, [(start, ext.close)])
                return [_Splice(start, ext.close, [cond])], (ext.start, ext.end, None)
            html = edit.html if isinstance(edit.html, str) else str(edit.html)
            if ("</" + tag.name.decode("ascii")) in html.lower():
                return None
        if symbolic:
            splices = [_Splice(ext.inner, ext.close, [_Body(name)])]
            kept = _hidden_kept(doc, tag) if edit.reveal else None
            if kept is not None:
                splices.insert(0, _Splice(tag.start, tag.end, list(kept)))
            return splices, (ext.start, ext.end, None)
        body = _encode_html(edit.html, encoding)
        splices = [_Splice(ext.inner, ext.close, [body])]
        if edit.reveal:
            new = _without_hidden(doc, tag)
            if new is not None:
                splices.insert(0, _Splice(tag.start, tag.end, [new]))
        return splices, (ext.start, ext.end, None)
    if isinstance(edit, Order):
        ext = extent(want_children=True)
        if ext is None or ext.kind != "normal" or not ext.children:
            return None
        if symbolic:
            layout = _order_layout(doc, ext, encoding)
            if layout is None:
                return None
            splice = _Splice(ext.inner, ext.close, _layout_pieces(ext, layout[0]))
            splice.layout = (name, layout[1])
            return [splice], (ext.inner, ext.close, splice)
        splice = _order_splice(doc, ext, edit.ranking, encoding)
        if splice is None:
            return None
        return [splice], (ext.inner, ext.close, splice)
    return None


def _encode_html(html: object, encoding: str) -> bytes:
    if isinstance(html, bytes | bytearray):
        return bytes(html)
    return str(html).encode(encoding, "xmlcharrefreplace")


def _without_hidden(doc: bytes, tag: _Tag) -> bytes | None:
    """The start tag without any ``hidden`` attribute; None if it has none."""
    kept = _hidden_kept(doc, tag)
    if kept is None:
        return None
    return b"".join([doc[a:b] for a, b in kept])


def _hidden_kept(doc: bytes, tag: _Tag) -> list[tuple[int, int]] | None:
    """The ranges of the start tag that remain without its ``hidden`` attributes; None
    if it has none."""
    cuts: list[tuple[int, int]] = []
    for name, sep_start, name_start, end, _value in tag.attrs(doc):
        if name != b"hidden":
            continue
        # Take the whitespace before the attribute too, unless what follows could then
        # glue onto the previous attribute (e.g. a '/' after an unquoted value).
        k = name_start
        if end < len(doc) and (doc[end] in _WS or doc[end] == 0x3E):
            while k > sep_start and doc[k - 1] in _WS:
                k -= 1
        cuts.append((k, end))
    if not cuts:
        return None
    kept = []
    cur = tag.start
    for a, b in cuts:
        kept.append((cur, a))
        cur = b
    kept.append((cur, tag.end))
    return kept


def _rank(ranking: Mapping[str, float], key: str) -> float:
    try:
        value = float(ranking.get(key, 0.0))
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if math.isnan(value) else value


def _order_layout(doc: bytes, ext: _Extent, encoding: str) -> tuple[list[int], list[str]] | None:
    """The indexes of the ranked children of an ordered element and their segments;
    None when the element is left alone whatever the ranking."""
    children = ext.children or []
    ranked: list[int] = []
    segments: list[str] = []
    for idx, child in enumerate(children):
        raw = child.tag.attr(doc, b"data-seg-segment")
        if raw is None:
            continue
        if not child.complete:
            return None
        ranked.append(idx)
        segments.append(_decode_value(raw, encoding).strip(" \t\n\r\f"))
    if len(ranked) < 2:
        return None
    if not all(child.complete for child in children[: ranked[-1]]):
        return None  # an implicitly closed child before a ranked one
    return ranked, segments


def _layout_pieces(ext: _Extent, ranked: list[int]) -> list[_Op]:
    """The pieces of an ordered element in document order: the stretch before each
    ranked child, the child, ..., the stretch after the last one."""
    children = ext.children or []
    pieces: list[_Op] = []
    cur = ext.inner
    for idx in ranked:
        child = children[idx]
        pieces += [(cur, child.start), (child.start, child.end)]
        cur = child.end
    pieces.append((cur, ext.close))
    return pieces


def _order_splice(
    doc: bytes, ext: _Extent, ranking: Mapping[str, float], encoding: str
) -> _Splice | None:
    children = ext.children or []
    layout = _order_layout(doc, ext, encoding)
    if layout is None:
        return None
    ranked, segments = layout
    keys = [-_rank(ranking, segment) for segment in segments]
    order = sorted(range(len(ranked)), key=keys.__getitem__)  # stable
    if order == list(range(len(ranked))):
        return None
    # The k-th ranked position receives the k-th child of the new order.
    source = {ranked[k]: children[ranked[src]] for k, src in enumerate(order)}
    pieces: list[bytes | tuple[int, int]] = []
    cur = ext.inner
    for idx, child in enumerate(children):
        if idx in source:
            moved = source[idx]
            pieces += [(cur, child.start), (moved.start, moved.end)]
            cur = child.end
    pieces.append((cur, ext.close))
    return _Splice(ext.inner, ext.close, pieces)


# --------------------------------------------------------------------------- plans

#: The plan cache (with the page memo: both need _MEMO_ON); off to measure without it.
_PLANS_ON = True
#: Plans kept per memoized page (edit signatures: the set of rules that fire on it).
_PLANS_PER_PAGE = 16
#: Estimated bytes of a plan, and of each of its ops (a range tuple and its two ints).
_PLAN_BASE_BYTES = 256
_PLAN_OP_BYTES = 128
#: The edit kinds of the plan signature, by class (subclasses: _edit_kind).
_KIND_OF: dict[type, str] = {Show: "show", Hide: "hide", Order: "order"}
_EDIT_CLASSES = (Show, Hide, Replace, Order)
_NO_ENTRY = object()


def _edit_kind(edit: Edit) -> str:
    """What of an edit decides where its splices go (the order of _edit_splices)."""
    if isinstance(edit, Show):
        return "show"
    if isinstance(edit, Hide):
        return "hide"
    if isinstance(edit, Replace):
        return "reveal" if edit.reveal else "replace"
    return "order"


class _Body:
    """A plan op: the ``Replace`` body of slot ``name``, encoded per request."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, doc: bytes, names: Mapping[str, Edit], encoding: str, out: list[bytes]) -> None:
        out.append(_encode_html(names[self.name].html, encoding))  # type: ignore[union-attr]


class _Cond:
    """A plan op: the ``Replace`` of a title or textarea slot (reveal included), which
    applies only when the request's html cannot close the element (``ok``); otherwise
    the element keeps its bytes (``fail``), as _edit_splices decides."""

    __slots__ = ("closer", "fail", "name", "ok")

    def __init__(self, name: str, closer: str, ok: list[_Op], fail: list[_Op]) -> None:
        self.name = name
        self.closer = closer  # "</title", "</textarea"
        self.ok = ok
        self.fail = fail

    def run(self, doc: bytes, names: Mapping[str, Edit], encoding: str, out: list[bytes]) -> None:
        html = names[self.name].html  # type: ignore[union-attr]
        html = html if isinstance(html, str) else str(html)
        _run_ops(doc, self.fail if self.closer in html.lower() else self.ok, names, encoding, out)


class _Reorder:
    """A plan op: the content of an ordered element, its ranked children in the order
    the request's ranking gives (stably, as _order_splice): ``gaps[k]`` then the child
    that goes to position k, ..., then ``gaps[-1]``; each part holds the ops of the
    edits nested in it, so they move with their child."""

    __slots__ = ("children", "gaps", "name", "segments")

    def __init__(
        self, name: str, segments: list[str], gaps: list[list[_Op]], children: list[list[_Op]]
    ) -> None:
        self.name = name
        self.segments = segments
        self.gaps = gaps
        self.children = children

    def run(self, doc: bytes, names: Mapping[str, Edit], encoding: str, out: list[bytes]) -> None:
        ranking = names[self.name].ranking  # type: ignore[union-attr]
        keys = []
        for segment in self.segments:
            try:
                value = ranking.get(segment, 0.0)
            except (TypeError, ValueError):
                value = None
            # a float that is not NaN: what _rank returns for it (the common case, inline)
            keys.append(
                -value if value.__class__ is float and value == value else -_rank(ranking, segment)
            )
        gaps, children = self.gaps, self.children
        append = out.append
        for k, src in enumerate(sorted(range(len(keys)), key=keys.__getitem__)):
            for part in (gaps[k], children[src]):
                if len(part) == 1 and part[0].__class__ is tuple:  # one range: inline
                    a, b = part[0]  # type: ignore[misc]
                    append(doc[a:b])
                else:
                    _run_ops(doc, part, names, encoding, out)
        _run_ops(doc, gaps[-1], names, encoding, out)


_Op = tuple[int, int] | _Body | _Cond | _Reorder


def _run_ops(
    doc: bytes, ops: list[_Op], names: Mapping[str, Edit], encoding: str, out: list[bytes]
) -> None:
    for op in ops:
        if op.__class__ is tuple:
            out.append(doc[op[0] : op[1]])  # type: ignore[index]
        else:
            op.run(doc, names, encoding, out)  # type: ignore[union-attr]


class _Plan:
    """How to rewrite one page shape (_Page) for one edit signature: the output as ops,
    ranges of the request's document and per-request parts.

    The signature (_rewrite) is the encoding and, in the edits' order, each slot name
    with the kind of its edit: show, hide, order, replace, or replace with reveal -- not
    the html nor the ranking.  Why a plan gives what a fresh rewrite would give, for any
    document ``d`` the page memo matched with page ``P`` (_PageMemo.lookup) and edits of
    that signature:

    * ``d`` and the document the plan was built from have the same tokens at the same
      offsets and differ only inside inert attribute values (_PageMemo: both match
      ``P``), which nothing below reads: slot names and ``data-seg-segment`` are never
      inert, nor is any value in a slot's start tag, nor any value the element scanner
      reads (``type``, ``encoding``, ``color``/``face``/``size``: _NOT_INERT).  So the
      slot tags, the slot names, the extents and children (_Subtree reads tokens,
      names and those values), where ``hidden`` attributes are (names and positions,
      _hidden_kept), the ranked children and their segments (_order_layout) are those of
      ``d``; and the set of slots edited and the kind of each edit follow from the
      signature.  _collect_splices then takes the same path for ``d``: its decisions
      depend on those only, except the three the plan leaves to the request below.
    * Nothing is stored as bytes: every kept stretch, including a start tag that loses
      ``hidden``, is a range of ``d`` (same offsets), so a CSRF token inside a hidden,
      replaced or ordered element, or in the start tag of a revealed one, comes from
      ``d``.  Replacement html is encoded from the request's edit (_Body).
    * What the request's values decide: (1) a title/textarea ``Replace`` is skipped when
      its html holds the element's end tag (_Cond: both outcomes kept, and skipping
      covers nothing that matters: no start tag lies inside such an element); (2) the
      order of ranked children (_Reorder), each part holding its nested edits as
      _render would pick them; (3) whether that order is the identity, when
      _order_splice returns None and the nested edits are applied in place instead of
      in their pieces.  (3) gives the same bytes when every nested edit was kept by
      _inside_one_piece (``exact``), no splice is dropped as overlapping, and each is
      picked by exactly one piece, not empty at the element's edges (checked by
      _compile): the pieces then tile the element's content in document order, so
      "pieces in the identity order" is "the content with the same splices in place",
      and the enclosing order (if any) keeps them as it keeps the element (its splice
      lies in one of its pieces).  A plan that fails those checks is not made: such
      pages are rewritten afresh (``None`` is remembered).
    * The result is compared with ``d`` like a fresh rewrite (None: unchanged).
    ``tests/test_rewrite_memo.py`` compares plan hits with fresh rewrites."""

    __slots__ = ("ops", "size")

    def __init__(self, ops: list[_Op] | None) -> None:
        self.ops = ops  # None: no edit applies to this page shape
        self.size = _PLAN_BASE_BYTES + _PLAN_OP_BYTES * _count_ops(ops or [])

    def run(self, doc: bytes, names: Mapping[str, Edit], encoding: str) -> bytes | None:
        if self.ops is None:
            return None
        out: list[bytes] = []
        # slices of a memoryview share the page's bytes: the join is then the only copy
        # (a 72 KB page was copied twice, ≈ 6 µs more inside a request)
        _run_ops(memoryview(doc), self.ops, names, encoding, out)  # type: ignore[arg-type]
        result = b"".join(out)
        return None if result == doc else result


def _count_ops(ops: list[_Op]) -> int:
    n = len(ops)
    for op in ops:
        if isinstance(op, _Cond):
            n += _count_ops(op.ok) + _count_ops(op.fail)
        elif isinstance(op, _Reorder):
            n += sum(_count_ops(part) for part in (*op.gaps, *op.children))
    return n


def _splices(
    doc: bytes,
    slot_tags: list[tuple[_Tag, bytes]],
    names: Mapping[str, Edit],
    encoding: str,
    for_plan: bool,
) -> tuple[list[_Splice], bool]:
    """The top-level splices the edits make in ``doc`` (and whether a plan may keep
    them, see _collect_splices): what a fresh rewrite and a plan's construction share."""
    edited = _edited_slots(slot_tags, names, encoding)
    extents = _plan_extents(
        doc,
        [(tag, isinstance(edit, Order)) for tag, edit, _ in edited if not isinstance(edit, Show)],
    )
    return _collect_splices(doc, edited, encoding, extents, for_plan)


def _build_plan(
    doc: bytes, slot_tags: list[tuple[_Tag, bytes]], names: Mapping[str, Edit], encoding: str
) -> _Plan | None:
    """The plan of ``doc``'s shape for the signature of ``names`` (see _Plan); None when
    a fresh rewrite's outcome could depend on more than the plan models."""
    top, exact = _splices(doc, slot_tags, names, encoding, True)
    if not exact:
        return None
    if not top:
        return _Plan(None)
    ops: list[_Op] = []
    if not _compile(0, len(doc), top, ops):
        return None
    return _Plan(ops)


def _copy(ops: list[_Op], a: int, b: int) -> None:
    """Append the range ``[a, b)``, merged with a range ending at ``a``."""
    if a == b:
        return
    last = ops[-1] if ops else None
    if last.__class__ is tuple and last[1] == a:  # type: ignore[index]
        ops[-1] = (last[0], b)  # type: ignore[index]
    else:
        ops.append((a, b))


def _compile(a: int, b: int, splices: list[_Splice], ops: list[_Op]) -> bool:
    """_render, symbolically: append to ``ops`` the ops that render ``doc[a:b]`` with
    ``splices`` (symbolic, see _edit_splices).  False when the plan would not be exact
    (see _Plan): a splice _render would drop, a nested splice picked by no piece or by
    two, or an empty one at an ordered element's edge."""
    cur = a
    for s in sorted(splices, key=lambda s: s.start):
        if s.start < cur or s.end > b:
            return False
        _copy(ops, cur, s.start)
        if s.layout is None:
            if s.inner:
                return False  # only order splices hold others
            for piece in s.pieces:
                if piece.__class__ is tuple:
                    _copy(ops, *piece)  # type: ignore[misc]
                elif isinstance(piece, _Cond):
                    ok: list[_Op] = []
                    fail: list[_Op] = []
                    for target, items in ((ok, piece.ok), (fail, piece.fail)):
                        for item in items:
                            if item.__class__ is tuple:
                                _copy(target, *item)  # type: ignore[misc]
                            else:
                                target.append(item)
                    ops.append(_Cond(piece.name, piece.closer, ok, fail))
                elif isinstance(piece, _Body):
                    ops.append(piece)
                else:
                    return False  # bytes: not a symbolic splice
        else:
            inner = sorted(s.inner, key=lambda x: x.start)
            if any(x.start == x.end and x.start in (s.start, s.end) for x in inner):
                return False
            starts = [x.start for x in inner]
            picked_ids: set[int] = set()
            n_picked = 0
            parts: list[list[_Op]] = []
            for piece in s.pieces:
                if piece.__class__ is not tuple:
                    return False
                p, q = piece  # type: ignore[misc]
                picked: list[_Splice] = []
                k = bisect.bisect_left(starts, p)
                while k < len(inner) and inner[k].start <= q:
                    if inner[k].end <= q:
                        picked.append(inner[k])
                    k += 1
                n_picked += len(picked)
                picked_ids.update(map(id, picked))
                part: list[_Op] = []
                if not _compile(p, q, picked, part):
                    return False
                parts.append(part)
            if n_picked != len(inner) or len(picked_ids) != len(inner):
                return False
            name, segments = s.layout
            ops.append(_Reorder(name, segments, parts[0::2], parts[1::2]))
        cur = s.end
    _copy(ops, cur, b)
    return True
