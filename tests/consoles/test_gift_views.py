"""Both sides see a gift (issue 13): the recipient's card says who gives and pays, the
gifter's page and the agent's view of the gifter list what the number pays for."""

from __future__ import annotations

from typer.testing import CliRunner

from tests.consoles.conftest import sign_in, sign_in_subscriber
from tests.helpers import ALICE, BOB, code_from, last_delivered, order


def _gift(platform) -> None:  # type: ignore[no-untyped-def]
    _, alice_code = order(platform, service="SINA-NEWS", gifter=BOB)
    bob_code = code_from(last_delivered(platform, BOB))
    platform.receive_sms(ALICE, "10086", alice_code)
    assert platform.receive_sms(BOB, "10086", bob_code).handled_as == "code_confirmed"


def test_both_sides_see_the_gift(app, platform):
    _gift(platform)
    alice = sign_in_subscriber(app, platform, ALICE).get("/me/subscriptions/" + _sub_id(platform)).text
    assert "赠送自 139****9000" in alice and "由赠送人付费" in alice
    bob = sign_in_subscriber(app, platform, BOB).get("/me").text
    assert "赠送给 138****8000" in bob and "头条新闻" in bob
    agent = sign_in(app, "agent").get(f"/agent/subscribers/{BOB}").text
    assert "赠送给 138****8000" in agent


def _sub_id(platform) -> str:  # type: ignore[no-untyped-def]
    from mingbai.subscriptions.service import list_subscriptions

    with platform.uow() as ctx:
        (sub,) = list_subscriptions(ctx, msisdn=ALICE)
    return str(sub.id)


def test_cli_subscriptions_shows_the_gift_on_both_sides(platform, db_url):
    from mingbai.cli.main import app as cli

    _gift(platform)
    runner = CliRunner()
    env = {"COLUMNS": "250"}
    bob = runner.invoke(cli, ["--db", db_url, "subscriptions", "--msisdn", BOB], env=env)
    assert bob.exit_code == 0, bob.output
    assert "赠送给 138****8000" in bob.output
    alice = runner.invoke(cli, ["--db", db_url, "subscriptions", "--msisdn", ALICE], env=env)
    assert "赠送自 139****9000" in alice.output
