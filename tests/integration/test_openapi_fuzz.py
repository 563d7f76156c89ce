"""Schemathesis against our own OpenAPI: whatever a client sends, never a 500.

Every operation is fuzzed with each role's key, so both the refusals and the accepted paths
see generated input.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mingbai.auth.service import create_key
from mingbai.web.app import create_app

KEYS = {
    "sp": ("SINA", "fz-sp"),
    "agent": (None, "fz-agent"),
    "operator": (None, "fz-op"),
    "smsc": (None, "fz-smsc"),
    "reviewer": (None, "fz-rev"),
}


def test_no_server_errors(platform, db_url):
    with platform.uow() as ctx:
        for role, (sp, key) in KEYS.items():
            create_key(ctx, role=role, label=key, sp_code=sp, key=key)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    seen: set[str] = set()

    @settings(
        max_examples=40 if db_url.startswith("sqlite") else 15, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        case = data.draw(operation.as_strategy())
        for _, key in KEYS.values():
            response = case.call(headers={"X-API-Key": key})
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
        seen.add(f"{case.method} {case.path}")

    fuzz()
    assert len(seen) >= 5
