"""Numbers beyond what the columns hold are refused with a 422, never a database error."""

from __future__ import annotations

from tests.spam.test_edges import client, h  # noqa: F401


def test_huge_ids_are_422(client):  # noqa: F811
    big = 10**30
    assert (
        client.post(f"/api/v1/spam/reviews/{big}/decision", json={"label": "spam"}, headers=h("reviewer")).status_code
        == 422
    )
    assert (
        client.post(f"/api/v1/spam/reports/{big}/decision", json={"confirm": True}, headers=h("reviewer")).status_code
        == 422
    )
    assert client.post(f"/api/v1/spam/strategies/{2**40}/activate", headers=h("operator")).status_code == 422
    assert (
        client.post("/api/v1/spam/strategies", json={"base_version": 2**40}, headers=h("operator")).status_code == 422
    )
    # within range but absent: 404
    assert client.post("/api/v1/spam/strategies/2147483647/activate", headers=h("operator")).status_code == 404
