"""The demo's inbound path (SPEC §7): ``site_example/send_inbound.py`` sends what an ESP,
a shop and a model would, the next page shows it, and the demo CRM lists activations."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from site_example.app import DEFAULT_SECRET_KEY, DEMO_INBOUND_SECRET, create_app
from site_example.crm_receiver import create_receiver, sign
from site_example.send_inbound import items_for
from smartseg_dsl.answers import sql as answers
from smartseg_dsl.cookie import CookieCodec
from smartseg_dsl.inbound_items import sign_body
from smartseg_dsl.loader import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
# certain of Industry.Legal: one of the LegalHeadline experiment's two headlines
HEADLINES = (
    "Billing built for law firms, trust accounting included",
    "Every billable hour invoiced, every invoice paid",
)


def test_the_esp_script_changes_the_next_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers, "INBOUND_DELAY", 0.0)  # the demo's 5 s, skipped
    app = create_app(rules_path=ROOT / "rules", db_url=str(tmp_path / "a.db"), holdout=False)
    with TestClient(app) as c:
        assert not any(h in c.get("/").text for h in HEADLINES)
        codec = CookieCodec(load_ruleset(ROOT / "rules"), DEFAULT_SECRET_KEY)
        state, reason = codec.loads(c.cookies.get("smartseg"), time.time())
        assert state is not None, reason
        body = json.dumps(items_for({"visitor": state.visitor_id})).encode()
        sent = c.post(
            "/smartseg/inbound",
            content=body,
            headers={"X-Smartseg-Signature": sign_body(body, DEMO_INBOUND_SECRET)},
        )
        assert sent.status_code == 202 and sent.json()["stored"] == 3
        time.sleep(2.2)  # the pending set's polling interval, at most
        home = c.get("/").text
        assert any(h in home for h in HEADLINES)  # the ESP's tag: certain of Industry.Legal
        pricing = c.get("/pricing").text  # the model's lead score, kept in the cookie
        assert 'data-seg-slot="sales_contact"' in pricing


def test_the_demo_crm_lists_audience_events() -> None:
    out = io.StringIO()
    receiver = create_receiver(secret="s", out=out)
    payload = {"type": "audience.entered", "audience": "CartAbandoner", "email": "j@x.example"}
    body = json.dumps(payload).encode()
    with TestClient(receiver) as c:
        headers = {"X-Smartseg-Signature": sign(body, "s"), "Idempotency-Key": "k1"}
        assert c.post("/webhook", content=body, headers=headers).status_code == 200
        listed = c.get("/").json()["activations"]
    assert listed == [
        {"type": "audience.entered", "name": "CartAbandoner", "email": "j@x.example", "at": None}
    ]
    assert "*** audience.entered CartAbandoner: j@x.example" in out.getvalue()
