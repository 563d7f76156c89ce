"""The acceptance interfaces: the CLI (typer's CliRunner) and the REST API with its roles."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mingbai.auth.service import create_key
from mingbai.cli.main import app as cli
from mingbai.clock import SHANGHAI
from mingbai.web.app import create_app
from tests.charging.conftest import add_subscription
from tests.helpers import ALICE

KEYS = {"operator": "k-op", "agent": "k-agent", "hall": "k-hall", "sina": "k-sina", "tencent": "k-tencent"}


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def api(platform):
    with platform.uow() as ctx:
        create_key(ctx, role="operator", label="op", key=KEYS["operator"])
        create_key(ctx, role="agent", label="agent", key=KEYS["agent"])
        create_key(ctx, role="hall", label="hall", key=KEYS["hall"])
        create_key(ctx, role="sp", label="sina", sp_code="SINA", key=KEYS["sina"])
        create_key(ctx, role="sp", label="tencent", sp_code="TENCENT", key=KEYS["tencent"])
    with TestClient(create_app(platform)) as client:
        yield client


def h(who: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[who]}


def two_services(platform) -> None:
    add_subscription(
        platform, msisdn=ALICE, service="SINA-NEWS", confirmed_at=sh(2026, 2, 2), first_charge_on=date(2026, 2, 2)
    )
    add_subscription(
        platform, msisdn=ALICE, service="QQ-TONES", confirmed_at=sh(2026, 2, 2), first_charge_on=date(2026, 2, 2)
    )


def test_rest_run_charges_bill_and_roles(platform, clock, api):
    two_services(platform)
    run = api.post("/api/v1/billing/runs", json={"period": "2026-04"}, headers=h("operator"))
    assert run.status_code == 200, run.text
    assert (run.json()["charged"], run.json()["amount_fen"]) == (2, 800)
    assert api.post("/api/v1/billing/runs", json={"period": "2026-04"}, headers=h("agent")).status_code == 403
    assert api.post("/api/v1/billing/runs", json={"period": "2026-04"}).status_code == 401
    assert api.post("/api/v1/billing/runs", json={"period": "2026-13"}, headers=h("operator")).status_code == 422
    assert api.post("/api/v1/billing/runs", json={"period": "2026-09"}, headers=h("operator")).status_code == 422
    assert api.post("/api/v1/billing/runs", json={"period": "2026-04"}, headers=h("operator")).json()["charged"] == 0
    staff = api.get(f"/api/v1/subscribers/{ALICE}/charges", headers=h("agent")).json()
    assert sorted((c["service_code"], c["period"], c["amount_fen"], c["kind"]) for c in staff) == [
        ("QQ-TONES", "2026-04", 300, "monthly"),
        ("SINA-NEWS", "2026-04", 500, "monthly"),
    ]
    assert all(c["created_at"] for c in staff)
    # an SP sees its own charges only, and has no door to other subscribers' staff views
    sina = api.get("/api/v1/charges", params={"msisdn": ALICE}, headers=h("sina")).json()
    assert [c["service_code"] for c in sina] == ["SINA-NEWS"]
    assert [
        c["service_code"] for c in api.get("/api/v1/charges", params={"msisdn": ALICE}, headers=h("tencent")).json()
    ] == ["QQ-TONES"]
    assert api.get(f"/api/v1/subscribers/{ALICE}/charges", headers=h("sina")).status_code == 403
    assert api.get("/api/v1/charges", params={"msisdn": ALICE}, headers=h("agent")).status_code == 403
    bill = api.get(f"/api/v1/subscribers/{ALICE}/bill", params={"period": "2026-04"}, headers=h("hall"))
    assert bill.status_code == 200, bill.text
    assert bill.json()["third_party_total_fen"] == 800
    page = api.get(f"/api/v1/subscribers/{ALICE}/bill.html", params={"period": "2026-04"}, headers=h("agent"))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for heading in (
        "充值及交费记录",
        "赠送及返还金额",
        "套餐通信量使用状况",
        "积分余额及变更信息",
        "代收费业务消费明细",
    ):
        assert heading in page.text
    assert "头条新闻(SINA-NEWS)" in page.text and "138****8000" in page.text
    assert (
        api.get(f"/api/v1/subscribers/{ALICE}/bill.html", params={"period": "2026-04"}, headers=h("sina")).status_code
        == 403
    )
    runs = api.get("/api/v1/billing/runs", headers=h("operator")).json()
    assert [r["charged"] for r in runs] == [0, 2]


def test_rest_objection_balance_usage_and_activation(platform, clock, api):
    two_services(platform)
    api.post("/api/v1/billing/runs", json={"period": "2026-04"}, headers=h("operator"))
    charge = api.get(f"/api/v1/subscribers/{ALICE}/charges", headers=h("agent")).json()[0]
    got = api.post(f"/api/v1/subscribers/{ALICE}/objections", json={"charge_id": charge["id"]}, headers=h("agent"))
    assert got.json()["verdict"] == "accepted", got.text
    assert (
        api.post(f"/api/v1/subscribers/{ALICE}/objections", json={"charge_id": 1}, headers=h("hall")).status_code == 404
    )
    assert (
        api.post(
            f"/api/v1/subscribers/{ALICE}/objections", json={"charge_id": charge["id"]}, headers=h("operator")
        ).status_code
        == 403
    )
    (o,) = api.get("/api/v1/objections", params={"status": "disputed"}, headers=h("agent")).json()
    assert (o["charge_id"], o["channel"]) == (charge["id"], "hotline")
    paid = api.post(f"/api/v1/subscribers/{ALICE}/payments", json={"amount_fen": 500, "ref": "H1"}, headers=h("hall"))
    assert paid.status_code == 201
    assert (
        api.post(
            f"/api/v1/subscribers/{ALICE}/payments", json={"amount_fen": 500, "ref": "H1"}, headers=h("hall")
        ).json()["created"]
        is False
    )
    assert (
        api.post(
            f"/api/v1/subscribers/{ALICE}/payments", json={"amount_fen": 500, "ref": "H2"}, headers=h("agent")
        ).status_code
        == 403
    )
    balance = api.get(f"/api/v1/subscribers/{ALICE}/balance", headers=h("agent")).json()
    # the objection opened a dispute: these subscriptions have no order and no confirming SMS on
    # record, so the 5 yuan came back with an equal return (R8): 500 paid + 1000 − 800 charged
    assert (balance["balance_fen"], balance["owed_fen"]) == (700, 0)
    cards = api.post(
        "/api/v1/recharge-cards",
        json={"card_numbers": ["3000000000000001"], "face_value_fen": 1000, "issued_on": "2026-01-01"},
        headers=h("operator"),
    )
    assert cards.json()[0]["expires_on"] == "2030-12-31"
    assert (
        api.post(
            f"/api/v1/subscribers/{ALICE}/recharges", json={"card_no": "3000000000000001"}, headers=h("agent")
        ).status_code
        == 201
    )
    assert (
        api.get(f"/api/v1/subscribers/{ALICE}/balance", headers=h("hall")).json()["balance_fen"] == 1700
    )  # 700 + the card
    csv = (
        b"record_id,msisdn,used_at,kind,service_code,quantity,roaming\n"
        b"D1,13800138000,2026-04-09T10:00:00+08:00,data,,100,\n"
    )
    imp = api.post("/api/v1/usage/imports", content=csv, headers=h("operator") | {"Content-Type": "text/csv"})
    assert imp.status_code == 201, imp.text
    assert imp.json()["alerts"] == 1
    bad = api.post(
        "/api/v1/usage/imports",
        content=csv.replace(b"data,,100", b"data,,x"),
        headers=h("operator") | {"Content-Type": "text/csv"},
    )
    assert bad.status_code == 422 and "line 2" in bad.json()["detail"]
    assert api.post("/api/v1/usage/imports", content=csv, headers=h("hall")).status_code == 403
    made = api.post(
        "/api/v1/subscribers",
        json={"msisdn": "15900159000", "brand": "mzone", "province": "湖南", "package_code": "MZ18"},
        headers=h("hall"),
    )
    assert made.status_code == 201 and made.json()["package_code"] == "MZ18"
    assert (
        api.post(
            "/api/v1/subscribers",
            json={"msisdn": "15900159001", "brand": "mzone", "province": "湖南"},
            headers=h("agent"),
        ).status_code
        == 403
    )
    assert len(api.get("/api/v1/packages", headers=h("agent")).json()) >= 4
    assert api.get(f"/api/v1/subscribers/{ALICE}/advice", headers=h("agent")).status_code == 404  # no history yet


def run_cli(platform, *args: str, at: str = "2026-04-10T10:00") -> tuple[int, str]:
    url = platform.settings.database_url
    result = CliRunner().invoke(cli, ["--db", url, "--at", at, *args])
    return result.exit_code, result.output


def test_cli_acceptance_commands(platform, clock, tmp_path):
    two_services(platform)
    code, out = run_cli(platform, "billing", "run", "--period", "2026-04", "--chunk-size", "1")
    assert code == 0, out
    assert "2 charged" in out and "8 yuan" in out
    code, out = run_cli(platform, "billing", "run", "--period", "2026-04", "--json")
    assert code == 0 and json.loads(out)["skipped"]["already_charged"] == 2
    code, out = run_cli(platform, "charges", "--msisdn", ALICE, "--json")
    rows = json.loads(out)
    assert sorted((r["service_code"], r["period"], r["amount_fen"], r["kind"]) for r in rows) == [
        ("QQ-TONES", "2026-04", 300, "monthly"),
        ("SINA-NEWS", "2026-04", 500, "monthly"),
    ]
    assert all(r["created_at"].endswith("Z") for r in rows)
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "record_id,msisdn,used_at,kind,service_code,quantity,roaming\n"
        "V1,13800138000,2026-03-03T10:00:00+08:00,voice,,600,\n",
        encoding="utf-8",
    )
    code, out = run_cli(platform, "usage", "import", str(usage))
    assert code == 0 and "1 records (1 new)" in out, out
    code, out = run_cli(platform, "usage", "import", str(usage))
    assert code == 0 and "imported before" in out
    usage.write_text("record_id,msisdn,used_at,kind,quantity\nX,1,2,3,4\n", encoding="utf-8")
    code, out = run_cli(platform, "usage", "import", str(usage))
    assert code == 1 and "line 2" in out
    page = tmp_path / "bill.html"
    code, out = run_cli(platform, "bill", "--msisdn", ALICE, "--period", "2026-04", "--html", str(page))
    assert code == 0 and "代收费业务消费明细" in out and "代收费业务消费明细" in page.read_text(encoding="utf-8")
    code, out = run_cli(platform, "bill", "--msisdn", ALICE, "--period", "2026-04", "--json")
    assert json.loads(out)["third_party_total_fen"] == 800
    code, out = run_cli(platform, "advise", "--msisdn", ALICE, "--json")
    assert code == 0 and json.loads(out)["advice"]["best_code"] == "BASIC"
    code, out = run_cli(platform, "bill", "--msisdn", ALICE, "--period", "2026-4")
    assert code == 1 and "YYYY-MM" in out
    code, out = run_cli(platform, "billing", "run", "--period", "2027-01")
    assert code == 1 and "has not begun" in out
    code, out = run_cli(
        platform,
        "activate",
        "--msisdn",
        "15900159000",
        "--brand",
        "easyown",
        "--province",
        "湖南",
        "--package",
        "BASIC",
    )
    assert code == 0 and "入网提醒" in out
    code, out = run_cli(
        platform, "balance", "credit", "--msisdn", ALICE, "--kind", "gift", "--amount-fen", "900", "--ref", "G1"
    )
    assert code == 0
    code, out = run_cli(platform, "balance", "show", "--msisdn", ALICE, "--json")
    assert (json.loads(out)["balance_fen"], json.loads(out)["owed_fen"]) == (100, 0)


def test_bill_page_says_channels_and_references_in_full_and_fits_its_csp(platform, tmp_path):
    from mingbai.charging.ledger import credit

    with platform.uow() as ctx:
        credit(ctx, msisdn=ALICE, kind="payment", amount_fen=5000, channel="hall", actor="t", ref="PAY-1")
    api = TestClient(create_app(platform))
    with platform.uow() as ctx:
        create_key(ctx, role="agent", label="t", key="bill-agent")
    period = platform.clock.now().astimezone(SHANGHAI).strftime("%Y-%m")
    page = api.get(
        f"/api/v1/subscribers/{ALICE}/bill.html", params={"period": period}, headers={"X-API-Key": "bill-agent"}
    )
    assert page.status_code == 200, page.text
    row = page.text.split("充值及交费记录")[1].split("</table>")[0]
    assert "<td>PAY-1</td>" in row and "<td>营业厅</td>" in row and ">hall<" not in row
    # the page is served under the CSP (no inline style): its style is a file of our origin
    assert "<style" not in page.text and 'href="/static/bill.css"' in page.text
    assert api.get("/static/bill.css").status_code == 200
    code, _ = run_cli(platform, "bill", "--msisdn", ALICE, "--period", period, "--html", str(tmp_path / "b.html"))
    standalone = (tmp_path / "b.html").read_text(encoding="utf-8")
    assert code == 0 and "<style>" in standalone and ".flag" in standalone and "&#34;" not in standalone
