"""The vault's pure rules: identities, who may decide, code replies, reasons (hypothesis)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.errors import MingbaiError
from mingbai.vault import rules

NOW = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)
names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
phones = st.none() | st.sampled_from(["13600000001", "13600000002", "13800138000"])


def pending(requester: str, phone: str | None) -> rules.RequestFacts:
    return rules.RequestFacts("pending", requester, phone, False, NOW + timedelta(minutes=30), None)


@given(names)
def test_an_identity_ignores_case_and_surrounding_space(name: str) -> None:
    assert rules.identity(f"  {name}\t") == rules.identity(name)
    assert rules.identity(name).startswith("staff:")


@given(names, phones, names, phones)
def test_a_security_decider_is_refused_exactly_when_the_same_person(
    a: str, pa: str | None, b: str, pb: str | None
) -> None:
    req = pending(rules.identity(a), pa)
    same = rules.identity(a) == rules.identity(b) or (pa is not None and pa == pb)
    try:
        rules.check_decider(req, who=rules.identity(b), role="security", phone=pb, now=NOW)
        refused = None
    except MingbaiError as exc:
        refused = exc.code
    assert refused == ("self_approval" if same else None)


@given(st.sampled_from(sorted(rules.REQUESTER_ROLES | {"auditor", "sp", "subscriber", "smsc"})), names)
def test_no_other_role_decides(role: str, name: str) -> None:
    with pytest.raises(MingbaiError) as err:
        rules.check_decider(pending("staff:x", None), who=rules.identity(name), role=role, phone=None, now=NOW)
    assert err.value.code == "not_approver"


@given(st.integers(0, 999_999), st.sampled_from(["", "Y", "y", "同意", "Ｙ"]), st.sampled_from(["", " ", "  \n"]))
def test_a_reply_is_its_code(n: int, prefix: str, pad: str) -> None:
    code = f"{n:06d}"
    assert rules.parse_reply(f"{pad}{prefix}{code}{pad}") == code
    wide = "".join(chr(ord(c) - ord("0") + ord("０")) for c in code)  # full-width digits from a phone IME
    assert rules.parse_reply(wide) == code


@given(st.text(max_size=30))
def test_anything_else_is_not_a_reply(text: str) -> None:
    got = rules.parse_reply(text)
    assert got is None or (len(got) == 6 and got.isdigit())


@given(st.text(max_size=260))
def test_a_reason_is_refused_or_clean(text: str) -> None:
    try:
        out = rules.clean_reason(text)
    except MingbaiError as exc:
        assert exc.code == "bad_reason"
        return
    assert rules.REASON_MIN <= len(out) <= rules.REASON_MAX
    assert "\x00" not in out and out == out.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in out)
    out.encode("utf-8")


def test_the_boundary_instant_is_outside() -> None:
    until = NOW + timedelta(minutes=15)
    req = rules.RequestFacts("approved", "staff:a", None, False, NOW, until)
    rules.check_use(req, who="staff:a", now=until - timedelta(microseconds=1))
    with pytest.raises(MingbaiError) as err:
        rules.check_use(req, who="staff:a", now=until)
    assert err.value.code == "expired"
