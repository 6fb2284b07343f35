"""A tiny local CRM: receives smartseg's webhook deliveries and prints them.

smartseg's outbox (SPEC §4) POSTs JSON to the configured CRM URL with an
``Idempotency-Key`` header and ``X-Smartseg-Signature: sha256=<hex HMAC-SHA256 of the raw
body>``. This receiver checks the signature with the shared secret, prints each payload and
acknowledges it; a redelivery with an ``Idempotency-Key`` it has already seen is
acknowledged again without being printed twice (delivery is at-least-once).

Run it with ``python -m site_example.crm_receiver`` (``smartseg demo`` starts it for you);
the shared secret comes from ``SMARTSEG_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
from collections import OrderedDict
from typing import Any, TextIO

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SIGNATURE_HEADER = "x-smartseg-signature"
IDEMPOTENCY_HEADER = "idempotency-key"
DEFAULT_SECRET = "ledgerly-demo-webhook-secret"
MAX_BODY = 1_000_000
_REMEMBERED_KEYS = 10_000
ACTIVATION_TYPES = ("audience.entered", "audience.left", "segment.certain")


def sign(body: bytes, secret: str | bytes) -> str:
    """The header value smartseg sends for ``body``: ``sha256=<hex digest>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secret: str | bytes) -> bool:
    """True when ``header`` is the valid signature of ``body`` (constant-time compare)."""
    if not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(header.strip().lower(), sign(body, secret))


def create_receiver(secret: str | bytes | None = None, *, out: TextIO | None = None) -> Starlette:
    """The receiver app; ``out`` is where payloads are printed (default: stdout)."""
    key = (
        secret if secret is not None else os.environ.get("SMARTSEG_WEBHOOK_SECRET", DEFAULT_SECRET)
    )
    seen: OrderedDict[str, None] = OrderedDict()
    received: list[dict[str, Any]] = []
    activations: list[dict[str, Any]] = []

    async def webhook(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        if not verify(body, request.headers.get(SIGNATURE_HEADER), key):
            return JSONResponse({"error": "bad or missing signature"}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        idempotency_key = request.headers.get(IDEMPOTENCY_HEADER)
        if idempotency_key is not None and idempotency_key in seen:
            return JSONResponse({"status": "duplicate", "idempotency_key": idempotency_key})
        if idempotency_key is not None:
            seen[idempotency_key] = None
            if len(seen) > _REMEMBERED_KEYS:
                seen.popitem(last=False)
        received.append(payload)
        stream = out if out is not None else sys.stdout
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind in ACTIVATION_TYPES:
            # what an ESP acts on: start or stop a flow, move a contact to a list
            what = payload.get("audience") or payload.get("segment")
            print(f"*** {kind} {what}: {payload.get('email')}", file=stream)
            activations.append(
                {
                    "type": kind,
                    "name": what,
                    "email": payload.get("email"),
                    "at": payload.get("occurred_at"),
                }
            )
        print(f"--- CRM webhook (Idempotency-Key: {idempotency_key})", file=stream)
        print(json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False), file=stream)
        stream.flush()
        return JSONResponse({"status": "received"})

    async def index(request: Request) -> Response:
        return JSONResponse(
            {
                "service": "ledgerly demo CRM",
                "received": len(received),
                # audience.entered / audience.left / segment.certain, newest last
                "activations": activations[-50:],
            }
        )

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/webhook", webhook, methods=["POST"]),
        ]
    )
    app.state.received = received
    app.state.activations = activations
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the receiver on 127.0.0.1 (default port 8001)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m site_example.crm_receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    print(f"Demo CRM listening on http://{args.host}:{args.port}/webhook")
    uvicorn.run(create_receiver(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
