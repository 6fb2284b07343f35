"""The response headers after personalization (SPEC §3.1), against the rules written
out plainly: the app's headers in order minus those replaced, the length, then (for a
private page) vary and cache-control, the cookie last."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smartseg_dsl.middleware import _headers_out, _private_cache_control

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


def reference(
    raw: list[tuple[bytes, bytes]],
    length: int | None,
    drop: bool,
    private: bool,
    no_store: bool,
    cookie: bytes | None,
) -> list[tuple[bytes, bytes]]:
    """SPEC §3.1 written out plainly, without a memo: the app's headers in order minus
    what is replaced, then the length, then (private) vary and cache-control, then
    the cookie."""
    out = []
    for name, value in raw:
        lower = name.lower()
        if length is not None and lower == b"content-length":
            continue
        if drop and lower in (b"etag", b"last-modified"):
            continue
        if private and lower in (b"vary", b"cache-control"):
            continue
        out.append((name, value))
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    if private:
        tokens = [
            t.strip()
            for name, value in raw
            if name.lower() == b"vary"
            for t in value.split(b",")
            if t.strip()
        ]
        if not any(t in (b"*",) or t.lower() == b"cookie" for t in tokens):
            tokens.append(b"Cookie")
        out.append((b"vary", b", ".join(tokens)))
        values = tuple(v for name, v in raw if name.lower() == b"cache-control")
        out.append((b"cache-control", _private_cache_control(values, no_store)))
    if cookie is not None:
        out.append((b"set-cookie", cookie))
    return out


@given(
    raw=_HEADERS,
    length=st.none() | st.integers(0, 10**6),
    other_length=st.integers(0, 10**6),
    drop=st.booleans(),
    private=st.booleans(),
    no_store=st.booleans(),
    cookie=st.none() | st.sampled_from([b"ss=1; Path=/", b"ss=2; Path=/"]),
)
def test_headers_are_the_reference_result(
    raw: list[tuple[bytes, bytes]],
    length: int | None,
    other_length: int,
    drop: bool,
    private: bool,
    no_store: bool,
    cookie: bytes | None,
) -> None:
    args = {"drop_validators": drop, "private": private, "no_store": no_store}
    fresh = reference(raw, length, drop, private, no_store, cookie)
    first = _headers_out(raw, set_cookie=cookie, length=length, **args)
    second = _headers_out(raw, set_cookie=cookie, length=length, **args)  # cached tail
    assert first == second == fresh
    first.append((b"x", b"y"))  # the caller's list is its own: nothing cached is touched
    assert _headers_out(raw, set_cookie=cookie, length=length, **args) == fresh
    if length is not None:  # another visitor's page: another length
        again = _headers_out(raw, set_cookie=b"ss=3", length=other_length, **args)
        assert again == reference(raw, other_length, drop, private, no_store, b"ss=3")


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


def test_headers_as_lists_are_handled() -> None:
    raw = [[b"content-type", b"text/html"]]
    out = _headers_out(raw, private=True)  # type: ignore[arg-type]
    assert [list(h) for h in out[:1]] == [[b"content-type", b"text/html"]]
