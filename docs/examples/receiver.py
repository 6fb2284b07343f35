"""A minimal receiver for smartseg's CRM webhook (see docs/answer-bank.md).

It does the three things every receiver must do:

1. verify ``X-Smartseg-Signature`` over the *raw* body before trusting anything in it;
2. de-duplicate by ``Idempotency-Key`` — delivery is at-least-once, so the same event
   can arrive twice (a retry after a timeout, a worker killed after you answered);
3. answer 2xx only once the event is durably processed; anything else is retried.

"Processing" here merges the event into a ``contacts`` table of a SQLite file; in real
life you would call your CRM/ESP. The Idempotency-Key is recorded in the same
transaction as the effect, so a crash between the two can neither lose nor double an
event. Run it with::

    SMARTSEG_WEBHOOK_SECRET=change-me uvicorn receiver:app --port 9000
    SMARTSEG_WEBHOOK_SECRET=change-me smartseg sync --url http://127.0.0.1:9000/smartseg

``SMARTSEG_WEBHOOK_SECRET`` may list several comma-separated secrets while you rotate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_BODY = 1_000_000  # smartseg's payloads are a few KB; refuse anything absurd


def signature_ok(body: bytes, header: str, secrets: list[str]) -> bool:
    """True when ``header`` is ``sha256=<hex HMAC-SHA256(secret, body)>`` for a secret."""
    for secret in secrets:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, header.strip()):  # constant time
            return True
    return False


def _merge(db: sqlite3.Connection, event: dict[str, Any]) -> None:
    row = db.execute("SELECT data FROM contacts WHERE email = ?", (event["email"],)).fetchone()
    contact = json.loads(row[0]) if row else {"visitor_ids": [], "answers": [], "tags": []}
    contact["visitor_ids"] = sorted(set(contact["visitor_ids"]) | set(event["visitor_ids"]))
    for answer in event["answers"]:
        if answer not in contact["answers"]:  # an identify re-sends the whole history
            contact["answers"].append(answer)
    for tag in event["tags"]:
        if tag not in contact["tags"]:
            contact["tags"].append(tag)
    contact.setdefault("groups", {}).update(event["groups"])
    db.execute(
        "INSERT INTO contacts (email, data) VALUES (?, ?) "
        "ON CONFLICT (email) DO UPDATE SET data = excluded.data",
        (event["email"], json.dumps(contact)),
    )


def create_app(secrets: list[str], db_path: str) -> Starlette:
    if not secrets:
        raise SystemExit("set SMARTSEG_WEBHOOK_SECRET (the same secret smartseg sync uses)")
    db = sqlite3.connect(db_path, check_same_thread=False)
    db.execute("CREATE TABLE IF NOT EXISTS processed (key TEXT PRIMARY KEY, at TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS contacts (email TEXT PRIMARY KEY, data TEXT)")
    db.commit()
    lock = threading.Lock()

    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        if not signature_ok(body, request.headers.get("x-smartseg-signature", ""), secrets):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        key = request.headers.get("idempotency-key", "")
        try:
            event = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not key or not isinstance(event, dict) or event.get("id") != key:
            return JSONResponse({"error": "Idempotency-Key must equal the id"}, status_code=400)
        with lock, db:  # one transaction: the effect and the key, or neither
            if db.execute("SELECT 1 FROM processed WHERE key = ?", (key,)).fetchone():
                return JSONResponse({"ok": True, "duplicate": True})
            _merge(db, event)
            db.execute("INSERT INTO processed (key, at) VALUES (?, datetime('now'))", (key,))
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/smartseg", webhook, methods=["POST"])])


def __getattr__(name: str) -> Any:
    # `uvicorn receiver:app` builds the app from the environment on first access, so
    # importing this module (to test create_app) needs no configuration.
    if name == "app":
        secrets = [s.strip() for s in os.environ.get("SMARTSEG_WEBHOOK_SECRET", "").split(",")]
        return create_app([s for s in secrets if s], os.environ.get("RECEIVER_DB", "receiver.db"))
    raise AttributeError(name)
