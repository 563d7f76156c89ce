"""Helpers for dispute tests: real orders through SMS, and charges written straight into the
table so a test can stand on any billing error."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mingbai.charging.models import Charge, UsageRecord
from mingbai.charging.rules import period_at
from mingbai.cli.main import app
from mingbai.clock import SHANGHAI
from mingbai.ids import new_id
from mingbai.platform import Platform
from mingbai.subscriptions.models import Subscription
from tests.helpers import ALICE, api_client, order


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def subscribed(platform: Platform, msisdn: str = ALICE, service: str = "SINA-NEWS") -> int:
    """Order and confirm by SMS, as a subscriber does; returns the subscription id."""
    _, code = order(platform, msisdn, service)
    result = platform.receive_sms(msisdn, "10086", code)
    assert result.handled_as == "code_confirmed", result
    with platform.uow() as ctx:
        return int(
            ctx.session.scalars(
                select(Subscription.id).where(
                    Subscription.msisdn == msisdn, Subscription.service_code == service, Subscription.status == "active"
                )
            ).one()
        )


def charge(
    platform: Platform,
    *,
    subscription_id: int,
    period: str = "2026-05",
    amount_fen: int | None = None,
    msisdn: str = ALICE,
    kind: str = "monthly",
    usage_ref: str = "",
    quantity: int = 1,
    occurred_at: datetime | None = None,
) -> int:
    """A charge as a billing run or usage import would raise it (or as a faulty one did)."""
    with platform.uow() as ctx:
        sub = ctx.session.get(Subscription, (msisdn, subscription_id))
        assert sub is not None
        start = datetime.strptime(period + "-01", "%Y-%m-%d").replace(tzinfo=SHANGHAI)
        cid = new_id()
        ctx.session.add(
            Charge(
                msisdn=msisdn,
                id=cid,
                subscription_id=subscription_id,
                service_code=sub.service_code,
                sp_code=sub.sp_code,
                kind=kind,
                period=period if occurred_at is None else period_at(occurred_at).label,
                usage_ref=usage_ref,
                amount_fen=sub.price_fen * quantity if amount_fen is None else amount_fen,
                quantity=quantity,
                batch_id=new_id(),
                created_at=ctx.now(),
                occurred_at=occurred_at or start,
            )
        )
    return cid


def usage(
    platform: Platform, *, record_id: str, used_at: datetime, service: str = "QQ-GAME", quantity: int = 1
) -> None:
    with platform.uow() as ctx:
        ctx.session.add(
            UsageRecord(
                msisdn=ALICE,
                record_id=record_id,
                used_at=used_at,
                period=period_at(used_at).label,
                kind="vas",
                service_code=service,
                quantity=quantity,
                roaming="",
                import_id=new_id(),
            )
        )


HOUR = timedelta(hours=1)


@pytest.fixture
def cli(platform, db_url):  # type: ignore[no-untyped-def]
    """``mingbai --db … --at …`` on the test platform's database; asserts the exit code."""
    runner = CliRunner()

    def run(*args: str, at: str = "2026-04-10T10:05:00+08:00", code: int = 0) -> str:
        result = runner.invoke(app, ["--db", db_url, "--at", at, *args])
        assert result.exit_code == code, result.output
        return result.output

    return run


@pytest.fixture
def client(platform):  # type: ignore[no-untyped-def]
    """The REST API with the usual staff and SP keys (``tests.helpers.STAFF_KEYS``)."""
    with api_client(platform) as c:
        yield c
