"""CSRF tokens for the survey and privacy endpoints (SPEC §3.5, §3.6).

A token is the visitor id, timestamped and signed with HMAC-SHA256 under a salt of
its own (so a token can never be replayed as a cookie or a link, and vice versa).
It is valid only for the visitor whose cookie carries that id and only for
``max_age`` seconds. Together with the ``SameSite=Lax`` cookie this means a
cross-site form can neither read a token nor use someone else's.

Signing is a bare ``TimestampSigner`` (no JSON, no compression): ~10 µs, and it is
only paid on pages that render a form.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.encoding import int_to_bytes

from .signing import HmacSha256, base64_encode

__all__ = ["CSRF_SALT", "CsrfError", "CsrfTokens"]

CSRF_SALT = "smartseg.csrf.v1"


class CsrfError(Exception):
    """The token is missing, malformed, expired or belongs to another visitor.

    The message is safe to show to the visitor (it never echoes the token)."""


class CsrfTokens:
    """Issue and verify tokens bound to a visitor id.

    ``secret_key`` may be a list, oldest first: the last key signs, every key
    verifies (the same rotation rule as the cookie).
    """

    __slots__ = ("_mac", "_signer", "max_age")

    def __init__(
        self, secret_key: str | bytes | Sequence[str | bytes], *, max_age: int = 2 * 86400
    ) -> None:
        keys = [secret_key] if isinstance(secret_key, str | bytes) else list(secret_key)
        if not keys or not all(keys):
            raise ValueError("secret_key must be a non-empty string or list of strings")
        self._signer = TimestampSigner(keys, salt=CSRF_SALT, digest_method=hashlib.sha256)
        # itsdangerous derives the signing key from the secret on every `sign` (≈ 35 µs
        # inside a request); derived once here, a token is one HMAC
        self._mac = HmacSha256(
            TimestampSigner(keys[-1], salt=CSRF_SALT, digest_method=hashlib.sha256).derive_key()
        )
        self.max_age = max_age

    def issue(self, visitor_id: str) -> str:
        """Exactly `TimestampSigner.sign` (the newest key, now), with the key derived once."""
        now = self._signer.get_timestamp()
        value = visitor_id.encode("ascii") + b"." + base64_encode(int_to_bytes(now))
        return (value + b"." + base64_encode(self._mac(value))).decode("ascii")

    def verify(self, token: str | None, visitor_id: str | None) -> None:
        """Return quietly when ``token`` was issued to ``visitor_id`` less than
        ``max_age`` seconds ago; raise :class:`CsrfError` otherwise."""
        if visitor_id is None:
            raise CsrfError(
                "no visitor cookie came with this form (cookies blocked, or the page is "
                "too old): reload the page and try again"
            )
        if not token:
            raise CsrfError("the form has no CSRF token: reload the page and try again")
        if len(token) > 512 or not token.isascii():
            raise CsrfError("the CSRF token is malformed: reload the page and try again")
        try:
            value = self._signer.unsign(token.encode("ascii"), max_age=self.max_age)
        except SignatureExpired:
            raise CsrfError("the form has expired: reload the page and try again") from None
        except BadSignature:
            raise CsrfError("the CSRF token is invalid: reload the page and try again") from None
        # The signature already proves we issued it; compare the id in constant time
        # anyway so the check costs the same for every visitor.
        if not hmac.compare_digest(value, visitor_id.encode("ascii", "replace")):
            raise CsrfError(
                "this form was issued to another visitor: reload the page and try again"
            )
