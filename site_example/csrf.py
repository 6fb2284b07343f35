"""CSRF protection for the example site's own forms: a signed double-submit token.

Starlette has no built-in CSRF protection, so the site carries a tiny one:

* ``CSRFMiddleware`` makes sure every visitor has a random nonce in the ``ledgerly_csrf``
  cookie (``HttpOnly``, ``SameSite=Lax``), setting it on the first response that needs it.
* ``csrf_token(request)`` gives the value for the hidden form field: that nonce, signed
  with itsdangerous (HMAC, timestamped, salted) under the site's secret key.
* ``is_valid(request, submitted)`` accepts a POST only when the submitted token's
  signature is good, it is not older than ``MAX_AGE`` and it signs exactly the nonce in
  the request's cookie. A cross-site attacker can neither read the cookie nor forge a
  signature for a nonce they planted.

The smartseg survey form has its own token (SPEC §3.5); this one is only for the site.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Sequence
from http.cookies import SimpleCookie

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE_NAME = "ledgerly_csrf"
FIELD_NAME = "csrf_token"
SALT = "ledgerly.site.csrf"
MAX_AGE = 24 * 3600  # seconds a rendered form stays valid
_STATE_KEY = "ledgerly_csrf_nonce"
_NONCE = re.compile(r"\A[A-Za-z0-9_-]{32,64}\Z")


def make_serializer(secret_key: str | Sequence[str]) -> URLSafeTimedSerializer:
    """The token signer; a list of keys rotates (the last signs, all verify)."""
    keys = [secret_key] if isinstance(secret_key, str) else list(secret_key)
    return URLSafeTimedSerializer(keys, salt=SALT)


def _cookie_nonce(scope: Scope) -> str | None:
    """The well-formed nonce from the request's CSRF cookie, if any."""
    for name, value in scope.get("headers", []):
        if name != b"cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except Exception:
            continue
        morsel = jar.get(COOKIE_NAME)
        if morsel is not None and _NONCE.match(morsel.value):
            return morsel.value
    return None


class CSRFMiddleware:
    """Pure ASGI middleware giving each visitor a CSRF nonce cookie."""

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str | Sequence[str],
        *,
        https_only: bool = False,
    ) -> None:
        self.app = app
        self.serializer = make_serializer(secret_key)
        self.https_only = https_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = _cookie_nonce(scope)
        is_new = nonce is None
        if nonce is None:
            nonce = secrets.token_urlsafe(32)
        state = scope.setdefault("state", {})
        state[_STATE_KEY] = nonce
        state["ledgerly_csrf_serializer"] = self.serializer

        if not is_new:
            await self.app(scope, receive, send)
            return

        cookie = f"{COOKIE_NAME}={nonce}; Path=/; HttpOnly; SameSite=Lax"
        if self.https_only:
            cookie += "; Secure"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append("set-cookie", cookie)
                # A shared cache must never hand this visitor's nonce to another one,
                # whatever the response (static files included) said about caching.
                kept = [
                    d.strip()
                    for d in headers.get("cache-control", "").split(",")
                    if d.strip()
                    and d.partition("=")[0].strip().lower() not in ("public", "s-maxage", "private")
                ]
                headers["cache-control"] = ", ".join(["private", *kept])
                if "cookie" not in headers.get("vary", "").lower():
                    headers.add_vary_header("Cookie")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def csrf_token(request: Request) -> str:
    """The signed token to put in a form's hidden ``csrf_token`` field."""
    state = request.scope.get("state", {})
    serializer: URLSafeTimedSerializer | None = state.get("ledgerly_csrf_serializer")
    nonce: str | None = state.get(_STATE_KEY)
    if serializer is None or nonce is None:
        raise RuntimeError("CSRFMiddleware is not installed")
    return serializer.dumps(nonce)


def is_valid(request: Request, submitted: object) -> bool:
    """True when ``submitted`` is a fresh token signing this visitor's cookie nonce."""
    if not isinstance(submitted, str) or not submitted:
        return False
    state = request.scope.get("state", {})
    serializer: URLSafeTimedSerializer | None = state.get("ledgerly_csrf_serializer")
    cookie_nonce = _cookie_nonce(request.scope)
    if serializer is None or cookie_nonce is None:
        return False
    try:
        signed_nonce = serializer.loads(submitted, max_age=MAX_AGE)
    except BadData:  # bad signature, expired, or a malformed payload
        return False
    if not isinstance(signed_nonce, str):
        return False
    return hmac.compare_digest(signed_nonce.encode(), cookie_nonce.encode())
