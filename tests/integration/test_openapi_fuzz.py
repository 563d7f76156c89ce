"""Schemathesis against our own OpenAPI: whatever a client sends, never a 500, and every answer
is one the OpenAPI documents (status code, content type, body schema).

Every operation is fuzzed with each role's key, positive and negative data, so both the refusals
and the accepted paths see generated input. ``python -m tests.fuzz_probe N`` gives the figures.
"""

from __future__ import annotations

from tests.fuzz_probe import KEYS, probe


def test_every_operation_with_every_role_no_server_error_no_schema_violation(platform, db_url):
    figures = probe(platform, examples=4 if db_url.startswith("sqlite") else 2, seed=12)
    assert figures.operations >= 50 and figures.roles == len(KEYS)
    assert not figures.server_errors, "\n".join(figures.server_errors[:20])
    assert not figures.violations, "\n".join(figures.violations[:20])
    # the accepted paths were reached too, not only refusals
    assert sum(n for status, n in figures.statuses.items() if status < 300) >= 30
