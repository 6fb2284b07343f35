"""`signing.HmacSha256` is HMAC-SHA256 (RFC 2104), byte for byte."""

from __future__ import annotations

import hmac

from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import encoding

from smartseg_dsl.signing import HmacSha256, base64_encode


@given(key=st.binary(min_size=1, max_size=200), msgs=st.lists(st.binary(max_size=600), max_size=4))
def test_equals_the_standard_library(key: bytes, msgs: list[bytes]) -> None:
    mac = HmacSha256(key)
    for msg in msgs:  # the precomputed states are copied, never consumed
        assert mac(msg) == hmac.digest(key, msg, "sha256")


def test_rfc_4231_case_2() -> None:
    mac = HmacSha256(b"Jefe")
    digest = mac(b"what do ya want for nothing?")
    assert digest.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@given(data=st.binary(max_size=300))
def test_base64_as_itsdangerous_writes_it(data: bytes) -> None:
    assert base64_encode(data) == encoding.base64_encode(data)
    assert encoding.base64_decode(base64_encode(data)) == data
