"""Play the e-mail tool, the shop and the scoring model: send inbound items (SPEC §7) to
the demo site's ``POST /smartseg/inbound``, as an ESP's webhook would.

    python -m site_example.send_inbound --email jane@example.com          # all three
    python -m site_example.send_inbound --visitor <id> --only score

Three items, each what a real sender would post:

* **the ESP**, after Jane clicked the legal newsletter: the tag ``lawyer`` (an explicit
  signal: she becomes CERTAIN of Industry.Legal, the home page headline changes);
* **the shop**, after an order paid outside the site: the event ``purchase`` at the time
  it happened (``Lapsed`` and the ``CartAbandoner`` sync audience see it);
* **the scoring model**: ``lead_score`` 85 (``attribute("lead_score")``: the pricing page
  shows the sales contact), kept in her cookie until a new score arrives.

Each item is signed with the inbound secret (``SMARTSEG_INBOUND_SECRET``, the demo's
default otherwise) and has a stable ``id``, so sending twice stores once. An item for an
e-mail applies to every browser that identified with it (sign up to the newsletter
first), on the next page more than 5 seconds after it was sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from smartseg_dsl.inbound_items import SIGNATURE_HEADER, sign_body

DEMO_INBOUND_SECRET = "ledgerly-demo-inbound-secret"
KINDS = ("tag", "purchase", "score")


def items_for(
    who: dict[str, str], only: str | None = None, *, stamp: str = ""
) -> list[dict[str, Any]]:
    """The items an ESP, a shop and a model would send about ``who`` (``{"email": …}``
    or ``{"visitor": …}``). ``stamp`` makes the ids unique per run (empty: stable)."""
    ordered = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    items = {
        "tag": {"id": f"esp-click-legal{stamp}", **who, "tags": ["lawyer"]},
        "purchase": {"id": f"shop-order-1001{stamp}", **who, "events": ["purchase"], "at": ordered},
        "score": {"id": f"model-score{stamp}", **who, "attributes": {"lead_score": 85}},
    }
    return [items[only]] if only else list(items.values())


def send(url: str, items: list[dict[str, Any]], secret: str) -> tuple[int, Any]:
    import httpx

    body = json.dumps(items).encode()
    response = httpx.post(
        url.rstrip("/") + "/smartseg/inbound",
        content=body,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(body, secret)},
        timeout=10,
    )
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m site_example.send_inbound")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the address the visitor identified with")
    who.add_argument("--visitor", help="a visitor id (the debug overlay shows it)")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--only", choices=KINDS, help="send one of the three items")
    parser.add_argument("--again", action="store_true", help="new ids: send as new items")
    args = parser.parse_args(argv)
    secret = os.environ.get("SMARTSEG_INBOUND_SECRET", DEMO_INBOUND_SECRET)
    target = {"email": args.email} if args.email else {"visitor": args.visitor}
    stamp = f"-{int(time.time())}" if args.again else ""
    status, answer = send(args.url, items_for(target, args.only, stamp=stamp), secret)
    print(f"{status} {answer}")
    if status == 202:
        print("Stored. Reload a page in 5 seconds: the change shows there.")
    return 0 if status == 202 else 1


if __name__ == "__main__":
    sys.exit(main())
