"""CSRF tokens: issued with a pre-derived key, yet exactly itsdangerous' format."""

from __future__ import annotations

import hashlib
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import TimestampSigner

from smartseg_dsl.csrf import CSRF_SALT, CsrfError, CsrfTokens

IDS = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=64,
)


@given(IDS, st.integers(1_000_000_000, 4_000_000_000))
def test_a_token_is_exactly_what_itsdangerous_signs(visitor: str, now: int) -> None:
    tokens = CsrfTokens(["old-key", "new-key"])
    signer = TimestampSigner("new-key", salt=CSRF_SALT, digest_method=hashlib.sha256)
    with mock.patch("time.time", return_value=now + 0.5):
        assert tokens.issue(visitor) == signer.sign(visitor.encode()).decode()


def test_tokens_verify_across_a_key_rotation() -> None:
    before = CsrfTokens("old-key").issue("visitor-1")
    after = CsrfTokens(["old-key", "new-key"])
    after.verify(before, "visitor-1")  # signed by the old key, still valid
    after.verify(after.issue("visitor-1"), "visitor-1")
    with pytest.raises(CsrfError):
        CsrfTokens("new-key").verify(before, "visitor-1")
    with pytest.raises(CsrfError):
        after.verify(after.issue("visitor-1"), "visitor-2")
