"""Signed links (SPEC §4 and §3.7).

* E-mail links: ``make_link(url, tags, secret_key, expires_in)`` appends a signed query
  parameter ``smartseg_t``; a visitor arriving with it is given those tags (explicit
  signals). The middleware reads it with :func:`read_link_tags`.
* Preview links: ``make_preview_link(url, "Industry.Legal", …)`` appends
  ``smartseg_preview``, which lets a page be rendered as a visitor certain of that
  segment without ``dev=True``; read with :func:`read_preview`.

Tokens are itsdangerous ``URLSafeTimedSerializer`` payloads, HMAC-SHA256, each kind with
its own salt (an e-mail link is never a valid preview link, nor a cookie). ``secret_key``
may be a list, oldest first, as in SPEC §2.2: the last key signs, every key verifies.
The expiry is inside the signed payload, so it cannot be stretched; the readers never
raise and log one clear line for a bad or expired token.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from itsdangerous import BadData, BadSignature, URLSafeTimedSerializer

log = logging.getLogger("smartseg.links")

LINK_PARAM = "smartseg_t"
PREVIEW_PARAM = "smartseg_preview"
LINK_SALT = "smartseg.email-link.v1"
PREVIEW_SALT = "smartseg.preview-link.v1"
MAX_TAGS = 20
MAX_TAG_BYTES = 100
MAX_TOKEN_LENGTH = 4096  # longer than any token we make; refuse before decoding

# Reasons the readers return (None means the token was good).
MISSING = "missing"
MALFORMED = "malformed"
BAD_SIGNATURE = "bad-signature"
EXPIRED = "expired"
INVALID = "invalid-payload"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_SEGMENT_RE = re.compile(rf"{_NAME}\.{_NAME}\Z")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

SecretKey = str | bytes | Sequence[str | bytes]


class LinkError(ValueError):
    """A link cannot be made from these arguments (the message says why)."""


def _keys(secret_key: SecretKey) -> list[str | bytes]:
    keys = [secret_key] if isinstance(secret_key, str | bytes) else list(secret_key)
    if not keys or any(not key for key in keys):
        raise LinkError("a non-empty secret key is required to sign or verify links")
    return keys


def _serializer(secret_key: SecretKey, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        _keys(secret_key), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def check_tag(tag: object) -> str:
    """A tag as links (and the answer bank) accept it, or :class:`LinkError`."""
    if not isinstance(tag, str) or not tag.strip():
        raise LinkError("tags must be non-empty strings")
    if len(tag.encode("utf-8", "surrogatepass")) > MAX_TAG_BYTES:
        raise LinkError(f"tag {tag[:40]!r}… is longer than {MAX_TAG_BYTES} bytes")
    if _CONTROL_RE.search(tag):
        raise LinkError(f"tag {tag[:40]!r} contains control characters")
    return tag


def _check_tags(tags: Sequence[str]) -> list[str]:
    if isinstance(tags, str):
        raise LinkError("tags must be a list of strings, not one string")
    unique = list(dict.fromkeys(check_tag(tag) for tag in tags))
    if not unique:
        raise LinkError("at least one tag is required")
    if len(unique) > MAX_TAGS:
        raise LinkError(f"at most {MAX_TAGS} tags fit in one link")
    return unique


def _check_expiry(expires_in: float) -> float:
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        raise LinkError("expires_in must be a number of seconds")
    if not (0 < expires_in < 10 * 366 * 86400):
        raise LinkError("expires_in must be more than 0 seconds and less than 10 years")
    return float(expires_in)


def with_param(url: str, name: str, value: str) -> str:
    """``url`` with query parameter ``name`` set to ``value`` (an existing one replaced),
    every other byte of the URL — other parameters, their encoding, the fragment — kept."""
    if not isinstance(url, str) or not url or _CONTROL_RE.search(url) or " " in url:
        raise LinkError("URL must be a non-empty URL without spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("", "http", "https") or (not parts.scheme and parts.netloc):
        raise LinkError("URL must be an http(s) URL or a path starting with '/'")
    if not parts.scheme and not url.startswith("/"):
        raise LinkError("URL must be an http(s) URL or a path starting with '/'")
    if parts.scheme and not parts.netloc:
        raise LinkError("URL must include a host (https://example.com/…)")
    kept = [piece for piece in parts.query.split("&") if piece and piece.split("=", 1)[0] != name]
    kept.append(f"{name}={value}")  # tokens are URL-safe base64 and '.': no escaping
    return urlunsplit(parts._replace(query="&".join(kept)))


def strip_params(url: str, names: Sequence[str] = (LINK_PARAM, PREVIEW_PARAM)) -> str:
    """``url`` (or a path with query) without the given parameters — e.g. to redirect a
    visitor to a clean address after a link was applied, so it is not shared on."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0] not in names]
    return urlunsplit(parts._replace(query="&".join(kept)))


def make_link(
    url: str,
    tags: Sequence[str],
    secret_key: SecretKey,
    expires_in: float,
    *,
    now: float | None = None,
) -> str:
    """An e-mail link: ``url`` plus ``smartseg_t=<signed token>`` that gives ``tags``
    until ``expires_in`` seconds from now. Raises :class:`LinkError` on bad input."""
    unique = _check_tags(tags)
    lifetime = _check_expiry(expires_in)
    moment = time.time() if now is None else now
    token = _serializer(secret_key, LINK_SALT).dumps(
        {"v": 1, "t": unique, "e": int(moment + lifetime)}
    )
    return with_param(url, LINK_PARAM, token)


def make_preview_link(
    url: str,
    segment: str,
    secret_key: SecretKey,
    expires_in: float,
    *,
    now: float | None = None,
) -> str:
    """A preview link: ``url`` plus ``smartseg_preview=<signed token>`` rendering the page
    as a visitor certain of ``segment`` (``Group.Segment``) until it expires."""
    if not isinstance(segment, str) or not _SEGMENT_RE.match(segment):
        raise LinkError("preview segment must be Group.Segment, e.g. Industry.Legal")
    lifetime = _check_expiry(expires_in)
    moment = time.time() if now is None else now
    token = _serializer(secret_key, PREVIEW_SALT).dumps(
        {"v": 1, "s": segment, "e": int(moment + lifetime)}
    )
    return with_param(url, PREVIEW_PARAM, token)


def check_segment(segment: str, known: Sequence[str]) -> None:
    """Raise `LinkError` unless ``segment`` is one of ``known`` (``Group.Segment``
    names), suggesting the closest one as the checker does (SEG201)."""
    if segment in known:
        return
    group, _, name = segment.partition(".")
    mine = {k.partition(".")[2]: k for k in known if k.partition(".")[0] == group}
    if mine:  # a known group: the closest of its segments, or the list of them
        best = _closest(name, list(mine))
        hint = (
            f"did you mean `{mine[best]}`?"
            if best
            else f"the segments of {group} are " + ", ".join(f"`{k}`" for k in mine.values())
        )
    else:
        best = _closest(segment, list(known))
        hint = f"did you mean `{best}`?" if best else ""
    raise LinkError(f"unknown segment `{segment}`" + (f"; {hint}" if hint else ""))


def _closest(name: str, pool: list[str]) -> str | None:
    """A case-insensitive match, else difflib's best (as the checker's suggestions)."""
    import difflib

    by_lower = {p.lower(): p for p in pool}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


def _load(
    what: str,
    value: str | None,
    secret_key: SecretKey,
    salt: str,
    max_age: float | None,
    now: float | None,
    log_problems: bool,
) -> tuple[dict[str, Any] | None, str | None]:
    if not value:
        return None, MISSING

    def bad(reason: str, detail: str) -> tuple[None, str]:
        if log_problems:
            log.warning("smartseg: ignored %s: %s", what, detail)
        return None, reason

    if not isinstance(value, str) or len(value) > MAX_TOKEN_LENGTH:
        return bad(MALFORMED, "token is not a string or is too long")
    try:
        serializer = _serializer(secret_key, salt)
    except LinkError as exc:
        return bad(BAD_SIGNATURE, str(exc))
    try:
        payload, signed_at = serializer.loads(value, return_timestamp=True)
    except BadSignature as exc:
        # BadTimeSignature/BadSignature both land here; a token that does not even
        # split into payload.timestamp.signature is malformed rather than forged.
        if value.count(".") < 2:
            return bad(MALFORMED, "token is not a signed smartseg token (truncated link?)")
        del exc
        return bad(
            BAD_SIGNATURE,
            "signature does not match any configured secret key (tampered, truncated, "
            "or signed with a key that was rotated out)",
        )
    except (BadData, ValueError, TypeError, UnicodeError):
        return bad(MALFORMED, "token could not be decoded (truncated or mangled link?)")
    moment = time.time() if now is None else now
    if not isinstance(payload, dict) or payload.get("v") != 1:
        return bad(INVALID, "token payload has an unknown format")
    expires = payload.get("e")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return bad(INVALID, "token has no expiry")
    if moment >= expires:
        return bad(EXPIRED, f"link expired {_ago(moment - expires)} ago")
    if max_age is not None and moment - signed_at.timestamp() > max_age:
        return bad(
            EXPIRED,
            f"link is {_ago(moment - signed_at.timestamp())} old, older than the "
            f"{_ago(max_age)} this site accepts",
        )
    return payload, None


def read_link_tags(
    value: str | None,
    secret_key: SecretKey,
    max_age: float | None = None,
    *,
    now: float | None = None,
    log_problems: bool = True,
) -> tuple[list[str], str | None]:
    """Tags carried by an e-mail link's ``smartseg_t`` value, and None; or ``[]`` and
    the reason it was refused (``missing``, ``malformed``, ``bad-signature``,
    ``expired``, ``invalid-payload``). Never raises. ``max_age`` (seconds) is an extra
    site-wide ceiling on link age, on top of each link's own expiry."""
    payload, reason = _load("e-mail link", value, secret_key, LINK_SALT, max_age, now, log_problems)
    if payload is None:
        return [], reason
    tags = payload.get("t")
    try:
        return _check_tags(tags), None  # type: ignore[arg-type]
    except (LinkError, TypeError):
        if log_problems:
            log.warning("smartseg: ignored e-mail link: token carries no valid tags")
        return [], INVALID


def read_preview(
    value: str | None,
    secret_key: SecretKey,
    max_age: float | None = None,
    *,
    now: float | None = None,
    log_problems: bool = True,
) -> tuple[str | None, str | None]:
    """The ``Group.Segment`` a preview link's ``smartseg_preview`` value grants, and
    None; or None and the reason it was refused. Never raises. (Whether the segment
    exists in the loaded rule set is the caller's check.)"""
    payload, reason = _load(
        "preview link", value, secret_key, PREVIEW_SALT, max_age, now, log_problems
    )
    if payload is None:
        return None, reason
    segment = payload.get("s")
    if not isinstance(segment, str) or not _SEGMENT_RE.match(segment):
        if log_problems:
            log.warning("smartseg: ignored preview link: token carries no valid segment")
        return None, INVALID
    return segment, None


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def parse_duration(text: str) -> float:
    """``30s 15m 24h 7d 2w`` (the rule language's durations) → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text or "")
    if not match:
        raise LinkError(f"bad duration {text!r}: use e.g. 30m, 24h, 30d or 2w")
    number, unit = match.groups()
    return float(number) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
