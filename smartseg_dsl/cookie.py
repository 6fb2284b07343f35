"""The visitor cookie (SPEC §2.2): signed, timestamped, compact, never raising on input.

Format: exactly itsdangerous' `URLSafeTimedSerializer` with HMAC-SHA256, the
default "django-concat" key derivation and a salt of our own
(`smartseg.visitor.v1`). A cookie this codec writes loads with

    URLSafeTimedSerializer(keys, salt="smartseg.visitor.v1",
                           signer_kwargs={"digest_method": hashlib.sha256})

and vice versa (the test suite checks both ways). The hot path is our own,
built on itsdangerous' key derivation and encoding helpers, because the
library's generic path rebuilds signer objects on every call and compresses
with zlib's default 256 KB window — about 40 µs of the 150 µs a request may
spend; a 1 KB window and `memLevel=4` compress a cookie-sized payload to the
same size in ~6 µs, and the standard `zlib.decompress` reads it.

* Key rotation: `secret_key` may be a list, oldest first; the last key signs,
  every key verifies.
* The signature's timestamp is the engine's `now` (the state's last update),
  not the wall clock, so simulated journeys age cookies too; `max_age` is
  checked against the `now` given to `loads`. A timestamp more than five
  minutes in the future is refused (tolerating clock skew between servers).
* The payload is compressed only when that makes it shorter (prefix `.`).
* `loads` returns `(None, reason)` on ANY problem: missing, oversized,
  malformed, bad base64, bad signature, expired, bad compression, bad JSON,
  wrong schema version, values of the wrong type or absurd sizes.
* `dumps` keeps the whole `Set-Cookie` header value within 4,096 bytes for the
  codec's cookie name and max-age, dropping the least valuable data first
  (`budget.trim`), never facts.
* Decoded-state cache: the states behind the last `RECENT` cookie values this codec
  wrote are kept, so the visitor's next request (to this process) skips the HMAC, the
  zlib, the JSON and the validation (≈ 60 µs inside a request). A hit is exact: the
  value is compared whole (only a value this process signed can match), the state is
  the one `encode_state` wrote losslessly (engine states are canonical; a trimmed
  state is cached as trimmed), and the expiry and clock-skew checks run as for a
  decoded cookie. `tests/test_cookie.py` compares hits with fresh decodes.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import math
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import TYPE_CHECKING

from itsdangerous import TimestampSigner
from itsdangerous.encoding import base64_decode, bytes_to_int, int_to_bytes
from itsdangerous.signer import _make_keys_list

from . import budget
from .signing import HmacSha256, base64_encode
from .state import Layout, StateError, VisitorState, decode_state, encode_state

if TYPE_CHECKING:
    from .compiler import CompiledRuleSet

__all__ = ["DEFAULT_SALT", "CookieCodec", "delete_cookie_header", "set_cookie_header"]

DEFAULT_SALT = "smartseg.visitor.v1"
#: Longer than any cookie we write; anything longer is refused before any work.
MAX_COOKIE_CHARS = 8192
#: Decompressed payloads beyond this are refused (a zip bomb is not a visitor).
MAX_PAYLOAD_BYTES = 64 * 1024
#: Tolerated clock skew for a timestamp in the future (seconds).
FUTURE_SKEW = 300
#: How many recently written cookie values keep their decoded state (≈ 1 KB each).
RECENT = 4096
#: Below this size compression never wins; do not even try.
_COMPRESS_FROM = 64

_SEP = b"."
#: One encoder for every cookie (json.dumps would build a new one per call).
_encode_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
if c_make_encoder is not None:
    # JSONEncoder.encode also builds its C encoder on every call; built once here, with
    # the arguments encode() passes for these options (ASCII output, NaN allowed).
    def _no_default(o: object) -> object:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    _c_encoder = c_make_encoder(
        None, _no_default, encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def _encode_json(doc: object) -> str:  # type: ignore[misc]
        return "".join(_c_encoder(doc, 0))


def set_cookie_header(name: str, value: str, *, max_age: int, secure: bool, path: str = "/") -> str:
    """The whole `Set-Cookie` header value: `name=value; Path=/; Max-Age=…; HttpOnly;
    SameSite=Lax[; Secure]` (the format `budget` measures)."""
    return f"{name}={value}" + budget.attributes(max_age=max_age, secure=secure, path=path)


def delete_cookie_header(name: str, *, secure: bool, path: str = "/") -> str:
    """A header value that removes the cookie (for "forget me")."""
    text = f"{name}=; Path={path}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
    return text + "; SameSite=Lax" + ("; Secure" if secure else "")


class CookieCodec:
    """Encode/decode a rule set's visitor state as a signed cookie value."""

    def __init__(
        self,
        rules: CompiledRuleSet | Layout,
        secret_key: str | bytes | Sequence[str | bytes],
        *,
        max_age: int = budget.DEFAULT_MAX_AGE,
        salt: str = DEFAULT_SALT,
        cookie_name: str = budget.DEFAULT_COOKIE_NAME,
    ) -> None:
        self.layout: Layout = rules if isinstance(rules, Layout) else rules.layout
        keys = _make_keys_list(secret_key)
        if not keys or not all(keys):
            raise ValueError("CookieCodec needs a non-empty secret key (or list of keys)")
        self.max_age = int(max_age)
        self.salt = salt
        self.cookie_name = cookie_name
        # Derive each key once (itsdangerous would on every call); newest first, so
        # current cookies verify at the first try.
        signers = [TimestampSigner(k, salt=salt, digest_method=hashlib.sha256) for k in keys]
        self._sign_mac = HmacSha256(signers[-1].derive_key())
        self._verify_macs = tuple(HmacSha256(s.derive_key()) for s in reversed(signers))
        #: the longest cookie VALUE that keeps the header within the limit (Secure counted)
        self.max_value_chars = budget.COOKIE_LIMIT - budget.header_bytes(
            0, name=cookie_name, max_age=self.max_age, secure=True
        )
        #: cookie value → (state, signed timestamp), oldest first; 0 entries: off
        self.recent_limit = RECENT
        # an OrderedDict: dropping the oldest of a plain dict scans the deleted slots
        # before it on every insert (1.2 µs against 0.3 at 4,096 entries)
        self._recent: OrderedDict[str, tuple[VisitorState, int]] = OrderedDict()

    def _remember(self, value: str, state: VisitorState, timestamp: int) -> None:
        recent = self._recent
        if self.recent_limit <= 0:
            return
        if len(recent) >= self.recent_limit:
            recent.popitem(last=False)  # the oldest
        recent[value] = (state, timestamp)

    # ------------------------------------------------------------------ writing

    def _sign(self, payload: bytes, timestamp: int) -> str:
        value = payload + _SEP + base64_encode(int_to_bytes(max(0, timestamp)))
        sig = self._sign_mac(value)
        return (value + _SEP + base64_encode(sig)).decode("ascii")

    @staticmethod
    def _payload(doc: object) -> bytes:
        raw = _encode_json(doc).encode("ascii")
        if len(raw) >= _COMPRESS_FROM:
            c = zlib.compressobj(6, zlib.DEFLATED, 10, 4)
            packed = c.compress(raw) + c.flush()
            # itsdangerous' rule: compressed only when it saves more than the "." marker
            if len(packed) < len(raw) - 1:
                return b"." + base64_encode(packed)
        return base64_encode(raw)

    def dumps(self, state: VisitorState, now: float | None = None) -> str:
        """The cookie value. Signed at `now` (default: the state's last update)."""
        timestamp = state.updated if now is None else math.floor(now)
        value = self._sign(self._payload(encode_state(state, self.layout)), timestamp)
        if len(value) <= self.max_value_chars:
            self._remember(value, state, timestamp)
            return value

        def excess(candidate: VisitorState) -> int:
            body = self._payload(encode_state(candidate, self.layout))
            return (
                len(body)
                + 2
                + budget.TIMESTAMP_CHARS
                + budget.SIGNATURE_CHARS
                - (self.max_value_chars)
            )

        trimmed = budget.trim(state, self.layout, excess)
        value = self._sign(self._payload(encode_state(trimmed, self.layout)), timestamp)
        self._remember(value, trimmed, timestamp)
        return value

    #: The module function, also reachable from a codec: `codec.set_cookie_header(name, …)`.
    set_cookie_header = staticmethod(set_cookie_header)

    # ------------------------------------------------------------------ reading

    def loads(self, value: str | None, now: float) -> tuple[VisitorState | None, str | None]:
        """`(state, None)`, or `(None, reason)` for anything but a valid current cookie."""
        try:
            return self._loads(value, now)
        except Exception as exc:  # never raise on visitor input
            return None, f"unreadable cookie ({type(exc).__name__})"

    def _loads(self, value: str | None, now: float) -> tuple[VisitorState | None, str | None]:
        if not value:
            return None, "no cookie"
        hit = self._recent.get(value)
        if hit is not None:
            state, timestamp = hit
            age = math.floor(now) - timestamp
            if age > self.max_age:
                return None, f"expired ({age} s old, max_age {self.max_age} s)"
            if age < -FUTURE_SKEW:
                return None, "timestamp in the future"
            return state, None
        if len(value) > MAX_COOKIE_CHARS:
            return None, f"cookie too long ({len(value)} characters)"
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError:
            return None, "cookie is not ASCII"
        signed, sep, sig_b64 = raw.rpartition(_SEP)
        if not sep or not signed:
            return None, "malformed cookie (no signature)"
        # Compare in base64 (canonical, unpadded): no need to decode the signature.
        for mac in self._verify_macs:
            if hmac.compare_digest(base64_encode(mac(signed)), sig_b64):
                break
        else:
            return None, "bad signature"
        payload, sep, ts_b64 = signed.rpartition(_SEP)
        if not sep:
            return None, "malformed cookie (no timestamp)"
        try:
            timestamp = bytes_to_int(base64_decode(ts_b64))
        except Exception:
            return None, "malformed timestamp"
        age = math.floor(now) - timestamp
        if age > self.max_age:
            return None, f"expired ({age} s old, max_age {self.max_age} s)"
        if age < -FUTURE_SKEW:
            return None, "timestamp in the future"
        compressed = payload.startswith(_SEP)
        try:
            data = base64_decode(payload[1:] if compressed else payload)
        except Exception:
            return None, "bad base64"
        if compressed:
            try:
                d = zlib.decompressobj()
                data = d.decompress(data, MAX_PAYLOAD_BYTES)
                if d.unconsumed_tail or not d.eof:
                    return None, "bad or oversized compressed payload"
            except zlib.error:
                return None, "bad compression"
        if len(data) > MAX_PAYLOAD_BYTES:
            return None, "payload too large"
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return None, "bad JSON"
        try:
            return decode_state(doc, self.layout), None
        except StateError as exc:
            return None, f"bad state: {exc}"
        except (TypeError, binascii.Error, OverflowError) as exc:
            return None, f"bad state ({type(exc).__name__})"
