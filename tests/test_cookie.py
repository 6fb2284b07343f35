"""The cookie codec: signing, rotation, expiry, hostile input, size budget."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import zlib

import pytest
from engine_helpers import KEY, T0, Visitor, demo_rules, rules_from
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes

from smartseg_dsl.budget import COOKIE_LIMIT, attributes, worst_case_cookie_bytes
from smartseg_dsl.cookie import DEFAULT_SALT, CookieCodec, delete_cookie_header, set_cookie_header
from smartseg_dsl.engine import Answer, Engine, RequestInfo
from smartseg_dsl.state import SCHEMA_VERSION, encode_state

YEAR = 365 * 86400

RULES = """
group Industry {
    decay 30d
    segment Legal { explicit tag "lawyer" implicit category "law" weight 3 max 12 }
    segment Estate { implicit category "estate" weight 2 }
}
audience Hot = count(page "/product/**" within 48h) > 3
when Hot show slot offer
when tagged("vip") show slot vip
when confidence(Industry.Legal) > 0.3 show survey "Lawyer?"
"""


@pytest.fixture
def rules():
    return rules_from(RULES)


@pytest.fixture
def state(rules):
    v = Visitor(rules)
    v.page("/a", categories=["law"], referrer="https://x.org/")
    for i in range(5):
        v.wait(60).page(f"/product/{i}")
    v.wait(60).request(tags=("vip", "lawyer"), answers=(Answer("Industry.Estate", "no"),))
    v.wait(60).dismiss("Industry.Legal")
    assert v.state is not None
    return v.state


def codec(rules, key=KEY, **kw) -> CookieCodec:
    return CookieCodec(rules, key, **kw)


def sign_doc(doc: object, key: str = KEY, timestamp: int = T0) -> str:
    """Sign an arbitrary payload the way itsdangerous does (to forge bad states)."""
    serializer = URLSafeTimedSerializer(
        key, salt=DEFAULT_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    signer = serializer.make_signer()
    payload = base64_encode(json.dumps(doc, separators=(",", ":")).encode())
    value = payload + b"." + base64_encode(int_to_bytes(timestamp))
    sig = signer.get_signature(value)
    return (value + b"." + sig).decode()


def test_round_trip(rules, state) -> None:
    c = codec(rules)
    value = c.dumps(state)
    back, reason = c.loads(value, state.updated + 10)
    assert reason is None and back == state
    assert back.facts and back.windows and back.tags and back.dismissed


def test_missing_cookie_is_a_new_visitor(rules) -> None:
    assert codec(rules).loads(None, T0) == (None, "no cookie")
    assert codec(rules).loads("", T0) == (None, "no cookie")


def test_tampered_cookie(rules, state) -> None:
    value = codec(rules).dumps(state)
    i = len(value) // 3
    tampered = value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]
    back, reason = codec(rules).loads(tampered, state.updated)
    assert back is None and reason == "bad signature"


@pytest.mark.parametrize("cut", [1, 10, 44, 60])
def test_truncated_cookie(rules, state, cut: int) -> None:
    value = codec(rules).dumps(state)
    back, reason = codec(rules).loads(value[:-cut], state.updated)
    assert back is None and reason


def test_cookie_signed_with_another_key(rules, state) -> None:
    value = codec(rules, "someone-elses-key").dumps(state)
    back, reason = codec(rules).loads(value, state.updated)
    assert back is None and reason == "bad signature"


def test_cookie_with_another_salt(rules, state) -> None:
    value = codec(rules, salt="another.app").dumps(state)
    assert codec(rules).loads(value, state.updated) == (None, "bad signature")


def test_expired_cookie(rules, state) -> None:
    c = codec(rules, max_age=3600)
    value = c.dumps(state)
    assert c.loads(value, state.updated + 3600)[0] == state
    back, reason = c.loads(value, state.updated + 3601)
    assert back is None and reason is not None and reason.startswith("expired")


def test_a_timestamp_from_the_future_is_refused(rules, state) -> None:
    value = codec(rules).dumps(state, now=state.updated + 3600)
    back, reason = codec(rules).loads(value, state.updated)
    assert back is None and reason == "timestamp in the future"
    # small clock skew between servers is fine
    value = codec(rules).dumps(state, now=state.updated + 60)
    assert codec(rules).loads(value, state.updated)[0] == state


def test_rotation_old_key_still_loads_new_key_signs(rules, state) -> None:
    old = codec(rules, "old-key").dumps(state)
    rotating = codec(rules, ["old-key", "new-key"])
    assert rotating.loads(old, state.updated) == (state, None)
    fresh = rotating.dumps(state)
    assert codec(rules, "new-key").loads(fresh, state.updated) == (state, None)
    assert codec(rules, "old-key").loads(fresh, state.updated)[0] is None


def test_compatible_with_itsdangerous_both_ways(rules, state) -> None:
    serializer = URLSafeTimedSerializer(
        KEY, salt=DEFAULT_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    ours = codec(rules).dumps(state)
    assert serializer.loads(ours) == encode_state(state, rules.layout)
    theirs = serializer.dumps(encode_state(state, rules.layout))  # signed at the wall clock
    back, reason = codec(rules).loads(theirs, time.time())
    assert reason is None and back == state


def test_wrong_schema_version(rules, state) -> None:
    doc = encode_state(state, rules.layout)
    doc["v"] = SCHEMA_VERSION + 1
    back, reason = codec(rules).loads(sign_doc(doc), T0)
    assert back is None and reason is not None and "schema version" in reason


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("t", "2026-01-01"),
        ("t", 12),
        ("i", 42),
        ("i", ""),
        ("i", "x" * 65),
        ("i", "bad id with spaces"),
        ("u", -5),
        ("u", True),
        ("s", [1, 2]),
        ("s", [1, 2, "3"]),
        ("p", 1.5),
        ("x", 9),
        ("f", ["k", 1, "x"]),
        ("f", [1, 1]),
        ("e", {"abc": [1, 2, 3]}),
        ("e", {"abc": -1}),
        ("e", {"abc": 1.5}),
        ("e", {"abc": 10**12}),
        ("n", {"abc": -1}),
        ("l", {"abc": "1"}),
        ("w", {"abc": [1, -2]}),
        ("w", {"abc": "1,2"}),
        ("g", "vip"),
        ("g", [1]),
        ("d", []),
        ("zz", 1),
    ],
)
def test_values_of_the_wrong_type_give_a_new_visitor(rules, state, field, value) -> None:
    doc = encode_state(state, rules.layout)
    doc[field] = value
    back, reason = codec(rules).loads(sign_doc(doc, timestamp=state.updated), state.updated)
    assert back is None and reason is not None and reason.startswith("bad state")


def test_absurd_sizes_are_refused(rules, state) -> None:
    doc = encode_state(state, rules.layout)
    doc["w"] = {"abc": [1] * 20_001}
    back, reason = codec(rules).loads(sign_doc(doc, timestamp=state.updated), state.updated)
    assert back is None and reason  # oversized cookie, refused before decoding
    assert codec(rules).loads("x" * 10_000, T0)[1] == "cookie too long (10000 characters)"


def test_a_zip_bomb_is_refused(rules) -> None:
    bomb = zlib.compress(b"[" + b" " * 1_000_000 + b"]", 9)
    payload = b"." + base64_encode(bomb)
    signer = URLSafeTimedSerializer(
        KEY, salt=DEFAULT_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    ).make_signer()
    value = payload + b"." + base64_encode(int_to_bytes(T0))
    cookie = (value + b"." + signer.get_signature(value)).decode()
    assert len(cookie) < 4096
    back, reason = codec(rules).loads(cookie, T0)
    assert back is None and reason == "bad or oversized compressed payload"


def test_bad_base64_and_bad_json_behind_a_valid_signature(rules) -> None:
    key = URLSafeTimedSerializer(
        KEY, salt=DEFAULT_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    ).make_signer()

    def signed(payload: bytes) -> str:
        value = payload + b"." + base64_encode(int_to_bytes(T0))
        return (value + b"." + key.get_signature(value)).decode()

    assert codec(rules).loads(signed(b"!!!not-base64!!!"), T0) == (None, "bad base64")
    assert codec(rules).loads(signed(base64_encode(b"{nope")), T0) == (None, "bad JSON")
    assert codec(rules).loads(signed(b"." + base64_encode(b"nozlib")), T0) == (
        None,
        "bad compression",
    )


@given(st.text(max_size=300))
def test_loads_never_raises(text: str) -> None:
    back, reason = codec(rules_from(RULES)).loads(text, T0)
    assert back is None and reason


@given(st.binary(min_size=1, max_size=200))
def test_loads_never_raises_on_signed_garbage(data: bytes) -> None:
    serializer = URLSafeTimedSerializer(
        KEY, salt=DEFAULT_SALT, signer_kwargs={"digest_method": hashlib.sha256}
    )
    signer = serializer.make_signer()
    for payload in (base64_encode(data), b"." + base64_encode(zlib.compress(data))):
        value = payload + b"." + base64_encode(int_to_bytes(T0))
        cookie = (value + b"." + signer.get_signature(value)).decode()
        back, reason = codec(rules_from(RULES)).loads(cookie, T0)
        assert back is None and reason


def test_compression_only_when_shorter(rules) -> None:
    engine = Engine(rules)
    small = engine.new_state(T0)
    value = codec(rules).dumps(small)
    assert not value.startswith(".")  # a tiny state does not compress
    v = Visitor(rules)
    for i in range(30):
        v.wait(1).page(f"/product/{i}", categories=["law", "estate"])
    big = codec(rules).dumps(v.state)
    assert big.startswith(".")
    raw = base64.urlsafe_b64encode(json.dumps(encode_state(v.state, rules.layout)).encode())
    assert len(big.split(".")[1]) < len(raw)


def test_set_cookie_header_attributes() -> None:
    header = set_cookie_header("smartseg", "VALUE", max_age=YEAR, secure=False)
    assert header == "smartseg=VALUE; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
    header = set_cookie_header("s", "V", max_age=60, secure=True, path="/app")
    assert header == "s=V; Path=/app; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
    assert header.endswith(attributes(max_age=60, secure=True, path="/app"))
    gone = delete_cookie_header("s", secure=True)
    assert "Max-Age=0" in gone and "Secure" in gone and gone.startswith("s=;")


def test_the_budget_counts_the_whole_header(rules, state) -> None:
    c = codec(rules)
    header = set_cookie_header("smartseg", c.dumps(state), max_age=YEAR, secure=True)
    assert len(header) <= worst_case_cookie_bytes(rules.ruleset)


BIG = (
    """
group G { segment S { implicit event "e0" weight 1 } }
"""
    + "\n".join(f'audience A{i} = count(event "e{i}" within 30d) > 50' for i in range(12))
    + "\nwhen "
    + " or ".join(f"A{i}" for i in range(12))
    + " show slot s\n"
)


def test_a_state_too_big_for_the_cookie_is_trimmed_never_its_facts() -> None:
    from smartseg_dsl import ast
    from smartseg_dsl.compiler import compile_ruleset
    from smartseg_dsl.parser import parse_source

    # 12 windows of 51 timestamps cannot fit: compiled without the checker (SEG501)
    parsed = parse_source(BIG + 'group H { segment X { explicit tag "x" } segment Y {} }')
    rules = compile_ruleset(ast.RuleSet((parsed.file,)))
    assert worst_case_cookie_bytes(rules.ruleset) > COOKIE_LIMIT
    engine = Engine(rules)
    state = engine.step(None, RequestInfo(T0, tags=("x",), answers=(Answer("H.Y", "no"),))).state
    t = T0
    rnd = random.Random(7)  # irregular gaps and subsets: regular ones compress too well
    for _ in range(300):
        t += rnd.randrange(60, 3600)
        events = tuple(f"e{k}" for k in range(12) if rnd.random() < 0.5)
        state = engine.step(state, RequestInfo(t, events=events)).state
    # a long cookie name leaves ~1.5 KB for the value: the state must shrink
    name = "n" * 2500
    c = CookieCodec(rules, KEY, cookie_name=name)
    value = c.dumps(state)
    header = set_cookie_header(name, value, max_age=YEAR, secure=True)
    assert len(header) <= COOKIE_LIMIT
    back, reason = c.loads(value, t)
    assert reason is None and back is not None
    assert back.facts == state.facts  # facts are never dropped
    assert back.tags == state.tags
    kept = sum(map(len, back.windows.values()))
    assert 0 < kept < sum(map(len, state.windows.values()))
    # the oldest timestamps went first: what is left is the newest of all of them
    kept_oldest = min(x for times in back.windows.values() for x in times)
    dropped = [
        x for key, times in state.windows.items() for x in times[len(back.windows.get(key, ())) :]
    ]
    assert dropped and max(dropped) <= kept_oldest
    # trimming is not needed with the default name: nothing is lost then
    assert CookieCodec(rules, KEY).loads(CookieCodec(rules, KEY).dumps(state), t)[0] == state


def test_worst_case_of_the_demo_rules_fits() -> None:
    assert worst_case_cookie_bytes(demo_rules().ruleset) <= COOKIE_LIMIT


def test_the_checker_reports_seg501_with_the_same_size_model(tmp_path) -> None:
    from smartseg_dsl.loader import check_paths

    (tmp_path / "big.seg").write_text(BIG, encoding="utf-8")
    result = check_paths([tmp_path / "big.seg"])
    seg501 = [d for d in result.diagnostics if d.code == "SEG501"]
    assert seg501 and seg501[0].severity == "error"
    assert str(worst_case_cookie_bytes(result.ruleset)) in seg501[0].message
    # one window fewer than the limit allows is fine
    small = BIG.replace(
        "\n".join(f'audience A{i} = count(event "e{i}" within 30d) > 50' for i in range(12)),
        "\n".join(f'audience A{i} = count(event "e{i}" within 30d) > 5' for i in range(12)),
    )
    (tmp_path / "small.seg").write_text(small, encoding="utf-8")
    result = check_paths([tmp_path / "small.seg"])
    assert not [d for d in result.diagnostics if d.code == "SEG501"]
    assert worst_case_cookie_bytes(result.ruleset) <= COOKIE_LIMIT


# ------------------------------------------------------------- decoded-state cache


_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("page"), st.sampled_from(["/a", "/product/1", "/product/2", "/b"])),
        st.tuples(st.just("tag"), st.sampled_from(["vip", "lawyer", "other"])),
        st.tuples(st.just("wait"), st.integers(0, 40 * 86400)),
        st.tuples(st.just("dismiss"), st.just("Industry.Legal")),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(_STEPS)
def test_a_cache_hit_is_exactly_a_fresh_decode(steps: list[tuple[str, object]]) -> None:
    rules = rules_from(RULES)
    v = Visitor(rules)  # its codec serves its own cookies from the cache
    for kind, arg in steps:
        if kind == "page":
            v.page(str(arg), categories=["law"])
        elif kind == "tag":
            v.request(tags=(str(arg),))
        elif kind == "wait":
            v.wait(float(arg))  # type: ignore[arg-type]
        else:
            v.dismiss(str(arg))
        if v.cookie is None:
            continue
        assert v.cookie in v.codec._recent
        for later in (v.now, v.now + 86400, v.now + 400 * 86400, v.now - 3600):
            fresh = CookieCodec(rules, KEY).loads(v.cookie, later)
            assert v.codec.loads(v.cookie, later) == fresh


def test_the_cache_is_bounded_and_can_be_off(rules, state) -> None:
    c = codec(rules)
    c.recent_limit = 3
    values = [c.dumps(state, now=state.updated + i) for i in range(5)]
    assert list(c._recent) == values[2:]
    off = codec(rules)
    off.recent_limit = 0
    value = off.dumps(state)
    assert off._recent == {} and off.loads(value, state.updated) == (state, None)


def test_a_cached_value_still_expires(rules, state) -> None:
    c = codec(rules, max_age=3600)
    value = c.dumps(state)
    assert c.loads(value, state.updated + 3601)[0] is None
    assert c.loads(value, state.updated + 3601) == codec(rules, max_age=3600).loads(
        value, state.updated + 3601
    )


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(doc=_JSON)
def test_the_cookie_json_is_what_json_dumps_writes(doc: object) -> None:
    """The codec's prebuilt C encoder writes exactly what ``json.dumps`` with the same
    options writes (ASCII, compact): the cookie bytes do not depend on the shortcut."""
    from smartseg_dsl.cookie import _encode_json

    assert _encode_json(doc) == json.dumps(doc, separators=(",", ":"), check_circular=False)


def test_the_cookie_json_refuses_what_json_refuses() -> None:
    from smartseg_dsl.cookie import _encode_json

    with pytest.raises(TypeError):
        _encode_json({"x": object()})
    assert _encode_json({"x": float("nan")}) == '{"x":NaN}'
