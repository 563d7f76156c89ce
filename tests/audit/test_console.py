"""The auditor console: search by number, staff member, operation and time; CSV export; the
verify button (htmx) showing ok / entries / first bad; both languages; auditors and security only."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from mingbai.audit import service as audit
from mingbai.platform import Platform
from tests.consoles.conftest import API_KEYS, sign_in
from tests.helpers import ALICE, BOB, owner_uow


def _activity(client: TestClient) -> None:
    agent = {"X-API-Key": API_KEYS["agent"][1]}
    for number in (ALICE, BOB, ALICE):
        assert client.get(f"/api/v1/subscribers/{number}/balance", headers=agent).status_code == 200
    operator = {"X-API-Key": API_KEYS["operator"][1]}
    r = client.post("/api/v1/dispute-policies", json={"category": "*", "policy": "refund_first"}, headers=operator)
    assert r.status_code < 300


def test_search_export_and_verify(app: Any, client: TestClient, platform: Platform) -> None:
    _activity(client)
    auditor = sign_in(app, "auditor")
    page = auditor.get("/security/audit", params={"msisdn": ALICE})
    assert page.status_code == 200
    assert page.text.count("<td>subscriber.view</td>") == 2 and "138****8000" in page.text
    table = page.text.split('id="audit-entries"')[1]
    assert ALICE not in table  # only the form the auditor typed it into shows the number
    by_staff = auditor.get("/security/audit", params={"staff": "test operator", "action": "config."})
    assert "<td>config.dispute_policy</td>" in by_staff.text and "<td>subscriber.view</td>" not in by_staff.text
    later = auditor.get("/security/audit", params={"staff": "test agent", "since": "2030-01-01"})
    assert "<td>subscriber.view</td>" not in later.text
    bad = auditor.get("/security/audit", params={"msisdn": "12"})
    assert bad.status_code == 422
    # the form posts the number and lands on an address that names it by reference only, as
    # does the CSV link; a number typed into the address bar moves to the reference
    posted = auditor.post(
        "/security/audit", data={"msisdn": ALICE, "csrf_token": _csrf(auditor)}, follow_redirects=False
    )
    assert posted.status_code == 303 and "subject=" in posted.headers["location"]
    assert ALICE not in posted.headers["location"]
    found = auditor.get(posted.headers["location"])
    assert found.text.count("<td>subscriber.view</td>") == 2
    link = found.text.split('id="export-csv" href="')[1].split('"')[0]
    assert "subject=" in link and ALICE not in link
    assert auditor.get(link.replace("&amp;", "&")).text.count("subscriber.view") == 2
    typed = auditor.get("/security/audit", params={"msisdn": ALICE}, follow_redirects=False)
    assert typed.status_code == 303 and ALICE not in typed.headers["location"]
    assert auditor.post("/security/audit", data={"msisdn": "12", "csrf_token": _csrf(auditor)}).status_code == 422

    export = auditor.get("/security/audit/export.csv", params={"staff": "test agent"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert rows[0][:5] == ["seq", "at", "actor", "role", "action"] and len(rows) == 4
    assert {r[4] for r in rows[1:]} == {"subscriber.view"} and ALICE not in export.text

    # the auditor's searches and export are on record too
    with platform.uow() as ctx:
        own = audit.search(ctx, staff="auditor:auditor")
    assert {f.action for f in own} == {"staff.sign_in", "audit.search", "audit.export"}

    verify = auditor.post("/security/audit/verify", headers={"HX-Request": "true", "X-CSRF-Token": _csrf(auditor)})
    assert verify.status_code == 200 and 'data-ok="true"' in verify.text
    assert 'id="verify-first-bad">—' in verify.text

    with owner_uow(platform) as ctx:
        if ctx.dialect == "postgresql":
            ctx.conn.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
        else:
            ctx.conn.execute(text("DROP TRIGGER audit_entry_no_update"))
        ctx.conn.execute(text("UPDATE audit_entry SET outcome = 'denied' WHERE seq = 2"))
        if ctx.dialect == "postgresql":
            ctx.conn.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
    verify = auditor.post("/security/audit/verify", headers={"HX-Request": "true", "X-CSRF-Token": _csrf(auditor)})
    assert 'data-ok="false"' in verify.text and 'id="verify-first-bad">2<' in verify.text


def _csrf(c: TestClient) -> str:
    from tests.consoles.conftest import csrf_of

    return csrf_of(c.get("/security/audit").text)


def test_labels_in_both_languages_and_who_may_see(app: Any, client: TestClient) -> None:
    security = sign_in(app, "security")
    zh = security.get("/security/audit")
    assert zh.status_code == 200 and "审计日志" in zh.text and "校验哈希链" in zh.text
    security.cookies.set("mb_lang", "en")
    en = security.get("/security/audit")
    assert "Audit log" in en.text and "Verify the chain" in en.text
    assert sign_in(app, "agent").get("/security/audit", follow_redirects=False).status_code == 403
    assert sign_in(app, "operator").get("/security/audit/export.csv", follow_redirects=False).status_code == 403
