"""One-time codes exist in clear only on their way to the phone (issue 12).

The acceptance check: an order flow through the CLI, the API and the consoles leaves no code in
the database, the logs, any CLI output or any API answer — except in the demo, whose CLI prints
what the handset received. Codes are sealed while they travel and redacted once spent.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, Text, inspect, select, text, update
from typer.testing import CliRunner

from mingbai.accounts.demo import seed_demo_accounts
from mingbai.auth.service import create_key
from mingbai.cli.main import app as cli_app
from mingbai.messaging.gateways.base import SubmitResult
from mingbai.messaging.models import OutboundSms
from mingbai.platform import Platform
from mingbai.sealing import REDACTED
from mingbai.subscriptions import rules
from mingbai.subscriptions.service import place_order
from mingbai.web.app import create_app
from tests.conftest import TEST_SEALING_KEY
from tests.helpers import ALICE, BOB

CAROL = "13700137000"
runner = CliRunner()


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every code the platform makes (wherever ``new_code`` was imported to)."""
    made: list[str] = []
    real = rules.new_code

    def spy(digits: int = 6) -> str:
        made.append(real(digits))
        return made[-1]

    for module in list(sys.modules.values()):
        if (module.__name__ or "").startswith("mingbai") and getattr(module, "new_code", None) is real:
            monkeypatch.setattr(module, "new_code", spy)
    return made


def _database_texts(platform: Platform) -> Iterator[tuple[str, str, str]]:
    """Every text value of every table: (table, column, value)."""
    with platform.db.engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        for table in tables:
            cols = [c["name"] for c in inspect(conn).get_columns(table) if isinstance(c["type"], String | Text)]
            if not cols:
                continue
            for row in conn.execute(text(f"SELECT {', '.join(cols)} FROM {table}")):
                for col, value in zip(cols, row, strict=True):
                    if value is not None:
                        yield table, col, str(value)


def _leaks(codes: list[str], where: dict[str, str]) -> list[tuple[str, str]]:
    return [(name, code) for name, body in where.items() for code in codes if code in body]


def test_an_order_flow_leaves_no_code_outside_the_demo(platform, db_url, issued, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MINGBAI_SECRET_KEYS", TEST_SEALING_KEY)
    monkeypatch.delenv("MINGBAI_DEMO", raising=False)

    def cli(*args: str) -> str:
        result = runner.invoke(cli_app, ["--db", db_url, "--at", "2026-04-10T10:00:00+08:00", *args])
        assert result.exit_code == 0, result.output
        return result.output

    outputs = {
        "order": cli("order", "--msisdn", ALICE, "--service", "SINA-NEWS", "--channel", "hall"),
        "order --json": cli("order", "--msisdn", BOB, "--service", "QQ-TONES", "--channel", "hall", "--json"),
        "sms send (keyword order)": cli("sms", "send", "--from", CAROL, "--to", "10668888", "XW"),
        "sms send --json": cli("sms", "send", "--from", ALICE, "--to", "10665566", "JJ", "--json"),
        "sms send 0000": cli("sms", "send", "--from", ALICE, "--to", "10086", "0000"),
        "subscriptions": cli("subscriptions", "--msisdn", ALICE, "--json"),
        "tick": cli("tick", "--json"),
    }
    assert len(issued) == 4
    assert REDACTED in outputs["order"] and REDACTED in outputs["sms send (keyword order)"]
    # the API: an SP's order, the SMSC's MO hook (a keyword order answers with the code's SMS)
    with platform.uow() as ctx:
        create_key(ctx, role="sp", label="sina", sp_code="SINA", key="key-sina")
        create_key(ctx, role="smsc", label="smsc", key="key-smsc")
        seed_demo_accounts(ctx)
    with TestClient(create_app(platform)) as api:
        r1 = api.post(
            "/api/v1/orders", json={"msisdn": BOB, "service_code": "SINA-NEWS"}, headers={"X-API-Key": "key-sina"}
        )
        body = {"from": BOB, "to": "10665566", "text": "JJ"}
        r2 = api.post("/api/v1/sms/mo", json=body, headers={"X-API-Key": "key-smsc"})
        login = api.get("/login")
        token = login.text.split('name="csrf_token" value="')[1].split('"')[0]
        r3 = api.post("/login/sms/request", data={"msisdn": CAROL, "csrf_token": token})
    assert r1.status_code == 201 and r2.status_code == 200 and r3.status_code == 200
    assert json.loads(r2.text)["replies"][0]["text"] == REDACTED
    outputs |= {"POST /orders": r1.text, "POST /sms/mo": r2.text, "POST /login/sms/request": r3.text}
    assert len(issued) == 7  # two more order codes and a sign-in code
    codes = list(issued)
    assert _leaks(codes, outputs) == []
    logged = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "") for r in caplog.records
    )
    assert _leaks(codes, {"logs": logged}) == []
    stored = [(t, c, v) for t, c, v in _database_texts(platform) if any(code in v for code in codes)]
    assert stored == []
    # and the phone did get them: the in-process handset received each code in clear
    assert all(any(code in "".join(d.parts) for d in platform.gateway.delivered) for code in issued[4:])


def test_the_demo_cli_prints_what_the_handset_received(db_url, issued, monkeypatch):
    monkeypatch.setenv("MINGBAI_SECRET_KEYS", TEST_SEALING_KEY)
    base = ["--db", db_url, "--at", "2026-04-10T10:00:00+08:00"]
    assert runner.invoke(cli_app, [*base, "seed", "demo"]).exit_code == 0
    out = runner.invoke(
        cli_app, [*base, "--demo", "order", "--msisdn", ALICE, "--service", "SINA-NEWS", "--channel", "hall"]
    )
    assert out.exit_code == 0 and f"验证码{issued[-1]}" in out.output
    monkeypatch.setenv("MINGBAI_DEMO", "1")  # the same as --demo (scripts/demo sets it)
    out = runner.invoke(cli_app, [*base, "sms", "send", "--from", BOB, "--to", "10668888", "XW"])
    assert out.exit_code == 0 and f"验证码{issued[-1]}" in out.output
    reply = runner.invoke(cli_app, [*base, "sms", "send", "--from", BOB, "--to", "10086", issued[-1]])
    assert "定制" in reply.output or "成功" in reply.output, reply.output


@dataclass
class Network:
    """A gateway that reaches the phones later, as an SMSC does: submitted, receipt to come."""

    name: str = "network"
    inline: bool = False
    got: list[str] = field(default_factory=list)

    def submit(self, *, sender: str, recipient: str, parts: list[str], outbox_id: int) -> SubmitResult:
        self.got.append("".join(parts))
        return SubmitResult(ref=f"net-{outbox_id}", delivered=False)


@pytest.fixture
def networked(platform: Platform) -> Platform:
    platform.gateway = Network()
    return platform


def _row(platform: Platform, order_id: int) -> Any:
    with platform.uow() as ctx:
        return ctx.session.scalars(select(OutboundSms).where(OutboundSms.dedupe_key == f"confirm:{order_id}")).one()


def _order(platform: Platform, msisdn: str = ALICE) -> int:
    with platform.uow() as ctx:
        return place_order(ctx, msisdn=msisdn, service_code="SINA-NEWS", channel="hall", actor="test").order_id


def test_a_code_travels_sealed_and_is_redacted_once_delivered(networked, issued):
    order_id = _order(networked)
    row = _row(networked, order_id)
    assert row.status == "queued" and row.text.startswith("sealed:") and issued[-1] not in row.text
    assert issued[-1] in networked.settings.sealer.open(row.text)
    networked.deliver()
    assert issued[-1] in networked.gateway.got[-1]  # clear on its way to the phone
    row = _row(networked, order_id)
    assert row.status == "submitted" and row.text.startswith("sealed:")  # may be submitted again
    networked.tick()
    assert _row(networked, order_id).text.startswith("sealed:")
    with networked.uow() as ctx:  # the receipt: delivered
        ctx.session.execute(update(OutboundSms).where(OutboundSms.id == row.id).values(status="delivered"))
    assert networked.tick().extra["codes_redacted"] == 1
    assert _row(networked, order_id).text == REDACTED


def test_a_code_that_expired_before_it_left_is_not_sent(networked, clock):
    order_id = _order(networked)
    clock.advance(timedelta(minutes=networked.settings.code_ttl_minutes, seconds=1))
    networked.tick()
    row = _row(networked, order_id)
    assert (row.status, row.error, row.text) == ("expired", "code_expired", REDACTED)
    assert networked.gateway.got == []


def test_the_in_process_gateway_keeps_no_code_but_the_demo_keeps_it_sealed_for_its_lifetime(platform, clock, issued):
    order_id = _order(platform)
    assert _row(platform, order_id).text == REDACTED  # delivered as written: nothing left to keep
    platform.settings = __import__("dataclasses").replace(platform.settings, demo=True)
    order_id = _order(platform, BOB)
    assert _row(platform, order_id).text.startswith("sealed:")  # the demo handset shows it
    platform.tick()
    assert _row(platform, order_id).text.startswith("sealed:")
    clock.advance(timedelta(minutes=platform.settings.code_ttl_minutes, seconds=1))
    platform.tick()
    assert _row(platform, order_id).text == REDACTED


def test_the_code_mac_keys_are_not_in_the_database(platform, issued):
    """A MAC beside its key gives the code away in a million tries: the keys come from settings."""
    import dataclasses

    from mingbai.accounts import service as accounts
    from mingbai.subscriptions.models import Order, PlatformKey
    from mingbai.subscriptions.rules import code_mac

    platform.settings = dataclasses.replace(platform.settings, code_secret="")
    order_id = _order(platform)
    with platform.uow() as ctx:
        assert accounts.request_login_code(ctx, msisdn=BOB, address="192.0.2.1") == "sent"
        names = set(ctx.session.scalars(select(PlatformKey.name)))
        mac = ctx.session.scalars(select(Order.code_mac).where(Order.id == order_id)).one()
    assert not names & {"code_mac", "login_mac"}
    assert mac == code_mac(platform.settings.sealer.mac_key("order-code"), ALICE, order_id, issued[0])
    assert platform.receive_sms(ALICE, "10086", issued[0]).handled_as == "code_confirmed"
