"""The response headers after personalization (SPEC §3.1), and their memo: a hit
returns exactly what a fresh computation returns, the cookie appended last."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl import middleware
from smartseg_dsl.middleware import _headers_out, _headers_without_cookie

_NAMES = st.sampled_from(
    [
        *(b"content-type", b"Content-Length", b"etag", b"Last-Modified", b"vary", b"Vary"),
        *(b"cache-control", b"Cache-Control", b"x-app", b"set-cookie"),
    ]
)
_VALUES = st.sampled_from(
    [
        *(b"text/html", b"123", b'"abc"', b"Accept-Encoding", b"*", b"cookie"),
        *(b"public, max-age=60", b"private", b"s-maxage=10, no-cache", b"", b"a=b"),
    ]
)
_HEADERS = st.lists(st.tuples(_NAMES, _VALUES), max_size=8)


@given(
    raw=_HEADERS,
    length=st.none() | st.integers(0, 10**6),
    drop=st.booleans(),
    private=st.booleans(),
    no_store=st.booleans(),
    cookie=st.none() | st.sampled_from([b"ss=1; Path=/", b"ss=2; Path=/"]),
)
def test_a_memo_hit_is_the_fresh_result(
    raw: list[tuple[bytes, bytes]],
    length: int | None,
    drop: bool,
    private: bool,
    no_store: bool,
    cookie: bytes | None,
) -> None:
    args = {"length": length, "drop_validators": drop, "private": private, "no_store": no_store}
    fresh = list(_headers_without_cookie(raw, length, drop, private, no_store))
    if cookie is not None:
        fresh.append((b"set-cookie", cookie))
    middleware._HEADERS_MEMO.clear()
    first = _headers_out(raw, set_cookie=cookie, **args)
    second = _headers_out(raw, set_cookie=cookie, **args)  # from the memo
    assert first == second == fresh
    first.append((b"x", b"y"))  # the caller's list is its own: the memo is not touched
    assert _headers_out(raw, set_cookie=cookie, **args) == fresh


def test_what_the_spec_asks_of_a_personalized_page() -> None:
    raw = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", b"10"),
        (b"etag", b'"x"'),
        (b"vary", b"Accept-Encoding"),
        (b"cache-control", b"public, max-age=60, s-maxage=600"),
    ]
    out = _headers_out(
        raw, length=12, drop_validators=True, private=True, set_cookie=b"ss=v; Path=/"
    )
    assert out == [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", b"12"),
        (b"vary", b"Accept-Encoding, Cookie"),
        (b"cache-control", b"private, max-age=60"),
        (b"set-cookie", b"ss=v; Path=/"),
    ]


def test_headers_as_lists_are_not_memoized_but_handled() -> None:
    raw = [[b"content-type", b"text/html"]]
    middleware._HEADERS_MEMO.clear()
    out = _headers_out(raw, private=True)  # type: ignore[arg-type]
    assert [list(h) for h in out[:1]] == [[b"content-type", b"text/html"]]
    assert middleware._HEADERS_MEMO == {}
