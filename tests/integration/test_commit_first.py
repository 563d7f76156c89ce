"""A route's unit of work commits before its answer leaves: a 2xx means the write is stored."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from mingbai.auth.service import create_key
from mingbai.subscriptions.models import Order
from mingbai.web.app import create_app
from tests.helpers import ALICE

KEY = {"X-API-Key": "key-sina"}
BODY = {"msisdn": ALICE, "service_code": "SINA-NEWS"}


def _orders(platform: Any) -> int:
    with platform.uow() as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(Order)) or 0)


def test_a_failing_commit_is_the_request_s_error_not_a_201(platform):
    with platform.uow() as ctx:
        create_key(ctx, role="sp", label="sina", sp_code="SINA", key="key-sina")

    def refuse(session: Session) -> None:
        raise RuntimeError("the database refused the commit")

    # server errors become 500 answers, as a real server sends them
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/orders/1", headers=KEY).status_code == 404  # the key is now cached
        event.listen(platform.db.sessionmaker, "before_commit", refuse)
        try:
            r = client.post("/api/v1/orders", json=BODY, headers=KEY)
        finally:
            event.remove(platform.db.sessionmaker, "before_commit", refuse)
    assert r.status_code >= 500, f"the client was told {r.status_code} although the commit failed"
    assert _orders(platform) == 0


def test_the_order_is_stored_when_its_201_starts_to_leave(platform):
    with platform.uow() as ctx:
        create_key(ctx, role="sp", label="sina", sp_code="SINA", key="key-sina")
    app = create_app(platform)
    stored_when_answered: list[tuple[int, int]] = []

    async def watching(scope: Any, receive: Any, send: Any) -> None:
        async def looking_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and scope.get("path") == "/api/v1/orders":
                stored_when_answered.append((message["status"], _orders(platform)))
            await send(message)

        await app(scope, receive, looking_send)

    with TestClient(watching) as client:  # type: ignore[arg-type]
        assert client.post("/api/v1/orders", json=BODY, headers=KEY).status_code == 201
    assert stored_when_answered == [(201, 1)]
