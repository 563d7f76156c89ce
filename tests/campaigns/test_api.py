"""Operator API: campaign plan/start/progress, outbox stats, and /metrics."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from mingbai.auth.service import create_key
from mingbai.web.app import create_app
from tests.helpers import ALICE, subscribe


def test_campaign_and_outbox_stats_over_http(platform, clock) -> None:  # type: ignore[no-untyped-def]
    subscribe(platform, ALICE, "SINA-NEWS")
    with platform.uow() as ctx:
        op = create_key(ctx, role="operator", label="ops")
        agent = create_key(ctx, role="agent", label="hotline")
    client = TestClient(create_app(platform))
    h = {"X-API-Key": op}
    body = {
        "name": "存量提醒",
        "starts_at": clock.now().isoformat(),
        "ends_at": (clock.now() + timedelta(days=3)).isoformat(),
        "rate_per_s": 10,
    }
    assert client.post("/api/v1/campaigns", json=body, headers={"X-API-Key": agent}).status_code == 403
    r = client.post("/api/v1/campaigns", json=body, headers=h)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.json()["planned"] == 1 and r.json()["batches"] == {"20": 1}
    assert client.post(f"/api/v1/campaigns/{cid}/start", headers=h).json()["status"] == "running"
    platform.tick()
    p = client.get(f"/api/v1/campaigns/{cid}", headers=h).json()
    assert p["released"] == 1 and p["delivered"] == 1 and p["status"] == "done"
    assert client.get("/api/v1/campaigns/999", headers=h).status_code == 404

    stats = client.get("/api/v1/sms/outbox/stats", headers=h).json()
    assert stats["counts"]["delivered"] >= 3 and stats["delivery_rate"] == 1.0 and stats["oldest_open"] is None
    assert client.get("/api/v1/sms/outbox/stats", headers={"X-API-Key": agent}).status_code == 403

    local = TestClient(client.app, client=("127.0.0.1", 50000))  # /metrics: this machine, or a token
    metrics = local.get("/metrics").text
    assert 'mingbai_sms_outbox_rows{state="delivered"}' in metrics and "mingbai_sms_delivery_rate 1.0" in metrics
