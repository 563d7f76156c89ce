"""Whole-class edge tests (issue 12): text no store can hold, in every field of every JSON operation.

The OpenAPI is iterated, so a new operation is covered the day it is added: a lone surrogate (half
of an emoji) or a NUL in any text field, with every role's key, is a clear 4xx, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mingbai.web.app import create_app
from tests.fuzz_probe import KEYS, create_keys

HOSTILE = ["\ud800", "a\udfffb", "x\x00y"]


def _with_text(value: Any, path: tuple[Any, ...], bad: str) -> Any:
    if not path:
        return bad
    head, *rest = path
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[head] = _with_text(value[head], tuple(rest), bad)
    return copy


def _text_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [prefix]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _text_paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _text_paths(v, (*prefix, i))]
    return []


def test_lone_surrogates_and_nul_in_every_text_field_are_4xx(platform):
    create_keys(platform)
    app = create_app(platform)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [
        r.ok() for r in schema.get_all_operations() if r.ok().body and any("json" in b.media_type for b in r.ok().body)
    ]
    assert len(operations) >= 10
    client = TestClient(app, raise_server_exceptions=False)
    fields: list[tuple[str, str, tuple[Any, ...]]] = []
    failures: list[tuple[Any, ...]] = []

    def fuzz(operation: Any) -> None:
        @settings(
            max_examples=3,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.generate],
        )
        @given(st.data())
        def run(data: st.DataObject) -> None:
            case = data.draw(operation.as_strategy())
            for path in _text_paths(case.body):
                fields.append((case.method, case.path, path))
                for bad in HOSTILE:
                    body = json.dumps(_with_text(case.body, path, bad))  # ensure_ascii: "\ud800" as sent on the wire
                    for _, key in KEYS.values():
                        r = client.request(
                            case.method,
                            case.formatted_path,
                            params=case.query,
                            content=body,
                            headers={"X-API-Key": key, "Content-Type": "application/json"},
                        )
                        if r.status_code >= 500:
                            failures.append((case.method, case.path, path, bad, r.status_code, r.text[:200]))

        run()

    for operation in operations:
        fuzz(operation)
    assert not failures, "\n".join(map(repr, sorted(set(failures), key=repr)))
    assert len({(m, p) for m, p, _ in fields}) >= 10


@pytest.mark.parametrize("bad", HOSTILE)
def test_a_bad_mo_in_a_batch_is_answered_alone(platform, bad):
    create_keys(platform)
    client = TestClient(create_app(platform))
    body = {
        "messages": [
            {"from": "13800138000", "to": "10086", "text": "0000"},
            {"from": "13900139000", "to": "10086", "text": f"00{bad}00"},
            {"from": "13700137000", "to": "10086", "text": "0000"},
        ]
    }
    headers = {"X-API-Key": "fz-smsc", "Content-Type": "application/json"}
    r = client.post("/api/v1/sms/mo/batch", content=json.dumps(body), headers=headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert "mo_id" in results[0] and "mo_id" in results[2]
    if bad == "x\x00y":  # a control character is dropped from SMS text, as before
        assert "mo_id" in results[1]
    else:
        assert results[1]["error"] == "invalid_text"


PERIOD_ROUTES = [
    ("GET", "/api/v1/charges?msisdn=13800138000&period={p}", "fz-sp"),
    ("GET", "/api/v1/subscribers/13800138000/charges?period={p}", "fz-agent"),
    ("GET", "/api/v1/subscribers/13800138000/bill?period={p}", "fz-agent"),
    ("GET", "/api/v1/subscribers/13800138000/bill.html?period={p}", "fz-agent"),
    ("GET", "/api/v1/billing/runs?period={p}", "fz-op"),
]


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "0000-01", "2026-1x"])
def test_a_month_that_does_not_exist_is_a_422_everywhere_a_period_is_accepted(platform, period):
    create_keys(platform)
    client = TestClient(create_app(platform), raise_server_exceptions=False)
    schema = client.get("/openapi.json").json()
    # every operation that takes a period is listed here
    taking = {
        (m.upper(), path)
        for path, item in schema["paths"].items()
        for m, op in item.items()
        if any(p["name"] == "period" for p in op.get("parameters", []))
    }
    assert taking == {(m, u.split("?")[0].replace("13800138000", "{msisdn}")) for m, u, _ in PERIOD_ROUTES}
    for method, url, key in PERIOD_ROUTES:
        r = client.request(method, url.format(p=period), headers={"X-API-Key": key})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", (url, r.status_code, r.text)
    r = client.post("/api/v1/billing/runs", json={"period": period}, headers={"X-API-Key": "fz-op"})
    assert r.status_code == 422, r.text
