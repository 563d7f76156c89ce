"""The vault (金库模式, R13) end to end through its service, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from mingbai.audit.models import AuditEntry
from mingbai.auth.service import Principal, Role
from mingbai.clock import SHANGHAI, FixedClock
from mingbai.errors import MingbaiError
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.models import OutboundSms
from mingbai.platform import Platform
from mingbai.sealing import REDACTED
from mingbai.vault import service
from mingbai.vault.models import VaultAccess
from tests.helpers import ALICE, BOB, owner_uow
from tests.vault.conftest import PHONES, TODAY, staff

REQUESTERS = ("agent", "hall", "supervisor", "operator")
#: every staff role that could try to approve
DECIDERS = ("agent", "hall", "supervisor", "operator", "security", "auditor")
#: one user of each role (demo accounts)
USER_OF = {"agent": "agent", "hall": "hall", "supervisor": "supervisor", "operator": "operator"}
USER_OF |= {"security": "security", "auditor": "auditor"}


def ask(platform: Platform, who: service.Staff, op: str = "cdr", msisdn: str | None = ALICE, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {"reason": "客户来电核对上月话费", **kw}
    if op in ("cdr", "location"):
        args.setdefault("date_from", TODAY - timedelta(days=6))
        args.setdefault("date_to", TODAY)
    with platform.uow() as ctx:
        return service.request_access(ctx, who, operation=op, msisdn=msisdn, **args)  # type: ignore[arg-type]


def code_of(err: pytest.ExceptionInfo[MingbaiError]) -> str:
    return err.value.code


def delivered(platform: Platform, msisdn: str) -> list[str]:
    return ["".join(d.parts) for d in platform.gateway.delivered if d.recipient == msisdn]  # type: ignore[attr-defined]


# -- no self-approval, in any combination ------------------------------------------------------------


def test_no_self_approval_in_any_combination(staffed: Platform) -> None:
    p = staffed
    outcomes: dict[tuple[str, str, str], str] = {}
    for req_role in REQUESTERS:
        requester = staff(p, USER_OF[req_role])
        for dec_role in DECIDERS:
            variants = {
                # the requester themself, in a role they might hold later or in another session
                "same identity": dataclasses.replace(requester, role=dec_role, via="session"),
                # an API key labelled for the requester, whatever role it carries
                "key for them": dataclasses.replace(requester, role=dec_role, via="key", phone=None),
                # another account of the same person: tied by the phone
                "same phone": service.Staff("staff:someone-else", dec_role, "session", "x", requester.phone),
                # somebody else of that role
                "other person": staff(p, "security2" if dec_role == "security" else USER_OF[dec_role])
                if dec_role != "auditor"
                else service.Staff("staff:auditor", "auditor", "session", "审计部"),
            }
            for variant, decider in variants.items():
                if variant == "other person" and decider.identity == requester.identity:
                    decider = dataclasses.replace(decider, identity="staff:colleague", phone=None)
                req = ask(p, requester)
                try:
                    with p.uow() as ctx:
                        view = service.approve(ctx, decider, req.id)
                    outcomes[(req_role, dec_role, variant)] = view.status
                except MingbaiError as exc:
                    outcomes[(req_role, dec_role, variant)] = exc.code
    for (req_role, dec_role, variant), got in outcomes.items():
        if dec_role != "security":
            assert got == "not_approver", (req_role, dec_role, variant, got)
        elif variant == "other person":
            assert got == "approved", (req_role, dec_role, variant, got)
        else:
            assert got == "self_approval", (req_role, dec_role, variant, got)
    assert len(outcomes) == len(REQUESTERS) * len(DECIDERS) * 4


def test_a_key_labelled_for_a_person_is_that_person(staffed: Platform) -> None:
    p = staffed
    with p.uow() as ctx:
        by_key = service.staff_from_principal(ctx, Principal(7, Role.AGENT, " Agent "), via="key")
        by_session = service.staff_from_principal(ctx, Principal(1, Role.AGENT, "agent"), via="session")
    assert by_key.identity == by_session.identity == "staff:agent"
    assert by_key.phone == PHONES["agent"]  # the account lends its phone: same person by phone too
    req = ask(p, by_key)
    with p.uow() as ctx:
        assert [v.id for v in service.my_requests(ctx, by_session)] == [req.id]
    security = staff(p, "security")
    with p.uow() as ctx:
        service.approve(ctx, security, req.id)
    with p.uow() as ctx:  # the session uses what the key asked for: one person
        assert service.use(ctx, by_session, req.id).rows


def test_a_requester_cannot_see_pending_of_their_own_nor_decide_twice(staffed: Platform) -> None:
    p = staffed
    sec = staff(p, "security")
    req = ask(p, staff(p, "agent"))
    with p.uow() as ctx:
        assert [v.id for v in service.pending_for(ctx, sec)] == [req.id]
        # the same person (same phone) sees nothing to approve
        twin = dataclasses.replace(sec, identity="staff:sec-twin", phone=PHONES["agent"])
        assert service.pending_for(ctx, twin) == []


# -- one approval, one use ---------------------------------------------------------------------------


def test_an_approval_serves_exactly_one_use_by_its_requester(staffed: Platform) -> None:
    p = staffed
    agent, other = staff(p, "agent"), staff(p, "hall")
    req = ask(p, agent)
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.use(ctx, agent, req.id)
    assert code_of(err) == "not_approved"
    with p.uow() as ctx:
        service.approve(ctx, staff(p, "security"), req.id)
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.use(ctx, other, req.id)
    assert code_of(err) == "not_requester"
    with p.uow() as ctx:
        result = service.use(ctx, agent, req.id)
    assert result.msisdn == ALICE and len(result.rows) > 5
    assert all(TODAY - timedelta(days=6) <= r["started_at"].astimezone(SHANGHAI).date() <= TODAY for r in result.rows)
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.use(ctx, agent, req.id)
    assert code_of(err) == "used"
    with p.uow() as ctx:
        assert service.get_request(ctx, req.id).status == "used"
        assert len(list(ctx.session.scalars(select(VaultAccess).where(VaultAccess.msisdn == ALICE)))) == 1


def test_expiry_at_the_boundary_instant(staffed: Platform, clock: FixedClock) -> None:
    p = staffed
    agent, sec = staff(p, "agent"), staff(p, "security")
    window = timedelta(minutes=p.settings.vault_approval_minutes)
    first, second = ask(p, agent), ask(p, agent)
    with p.uow() as ctx:
        service.approve(ctx, sec, first.id)
        approved = service.approve(ctx, sec, second.id)
    assert approved.usable_until == clock.now() + window
    clock.set(approved.usable_until - timedelta(microseconds=1))  # the last instant inside
    with p.uow() as ctx:
        service.use(ctx, agent, first.id)
    clock.set(approved.usable_until)  # the boundary itself is outside
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.use(ctx, agent, second.id)
    assert code_of(err) == "expired"
    # a pending request: decidable until its wait is over, not at that instant
    pending = ask(p, agent)
    clock.set(pending.expires_at)
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.approve(ctx, sec, pending.id)
    assert code_of(err) == "expired"
    with p.uow() as ctx:
        assert service.expire_due(ctx) == 2  # the unused approval and the unanswered request
        assert service.expire_due(ctx) == 0
        expired = ctx.session.scalars(select(AuditEntry).where(AuditEntry.action == "vault.expire")).all()
    assert len(expired) == 2


# -- two approvers for bulk exports ------------------------------------------------------------------


def test_a_bulk_export_needs_two_distinct_approvers(staffed: Platform) -> None:
    p = staffed
    op, sec, sec2 = staff(p, "operator"), staff(p, "security"), staff(p, "security2")
    req = ask(p, op, "export", None, export={"of": "subscribers", "status": "active"})
    assert req.approvals_needed == 2 and req.subject.startswith("导出定义")
    with p.uow() as ctx:
        assert service.approve(ctx, sec, req.id).status == "pending"
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.approve(ctx, sec, req.id)
    assert code_of(err) == "already_decided"
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.use(ctx, op, req.id)
    assert code_of(err) == "not_approved"
    with p.uow() as ctx:
        assert service.approve(ctx, sec2, req.id).status == "approved"
    with p.uow() as ctx:
        result = service.use(ctx, op, req.id)
    assert result.csv is not None and result.csv.splitlines()[0].startswith("msisdn,")
    assert ALICE in result.csv and result.notice_id is None


def test_one_approver_suffices_when_configured(staffed: Platform) -> None:
    p = staffed
    p.settings = dataclasses.replace(p.settings, vault_export_approvers=1)
    req = ask(p, staff(p, "operator"), "export", None, export={"of": "subscriptions"})
    sec = staff(p, "security")
    with p.uow() as ctx:
        assert service.approve(ctx, sec, req.id).status == "approved"


def test_a_denial_carries_its_reason_and_ends_the_request(staffed: Platform) -> None:
    p = staffed
    agent, sec = staff(p, "agent"), staff(p, "security")
    req = ask(p, agent, "identity")
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.deny(ctx, sec, req.id, reason="  ")
    assert code_of(err) == "bad_reason"
    with p.uow() as ctx:
        view = service.deny(ctx, sec, req.id, reason="事由不足以查看证件号")
    assert view.status == "denied" and view.denial_reason == "事由不足以查看证件号"
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.use(ctx, agent, req.id)
    assert code_of(err) == "denied"


def test_identity_is_unmasked_only_through_an_approval_and_a_change_is_applied_once(staffed: Platform) -> None:
    p = staffed
    hall, sec = staff(p, "hall"), staff(p, "security")
    req = ask(
        p, hall, "identity_change", identity={"name": "张三丰", "id_type": "id_card", "id_number": "43010219900101123x"}
    )
    assert req.params["name"] == "张**" and "1123X" not in req.params["id_number"]
    with p.uow() as ctx:
        service.approve(ctx, sec, req.id)
    with p.uow() as ctx:
        service.use(ctx, hall, req.id)
    look = ask(p, hall, "identity")
    with p.uow() as ctx:
        service.approve(ctx, sec, look.id)
    with p.uow() as ctx:
        row = service.use(ctx, hall, look.id).rows[0]
    assert (row["name"], row["id_number"]) == ("张三丰", "43010219900101123X")


# -- SMS approval ------------------------------------------------------------------------------------


def _code_for(platform: Platform, phone: str, request_id: int) -> str:
    texts = [t for t in delivered(platform, phone) if f"申请编号{request_id}" in t]
    m = re.search(r"验证码(\d{6})", texts[-1])
    assert m
    return m.group(1)


def test_approval_by_sms_from_the_approvers_phone_only(staffed: Platform) -> None:
    p = staffed
    agent = staff(p, "agent")
    req = ask(p, agent)
    sec_phone, sec2_phone = PHONES["security"], PHONES["security2"]
    code = _code_for(p, sec_phone, req.id)
    assert "138****8000" in delivered(p, sec_phone)[-1] and ALICE not in delivered(p, sec_phone)[-1]
    with p.uow() as ctx:  # the outbox never holds the code in clear
        stored = ctx.session.scalars(select(OutboundSms.text).where(OutboundSms.msisdn == sec_phone)).all()
    assert stored and all(code not in t for t in stored) and all(t == REDACTED for t in stored)
    number = p.settings.vault_number
    # the right code from the wrong phone: another approver's, a requester's
    for phone in (sec2_phone, PHONES["agent"]):
        p.receive_sms(phone, number, code)
        assert "无效" in delivered(p, phone)[-1]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    p.receive_sms(sec_phone, number, wrong)
    assert "无效" in delivered(p, sec_phone)[-1]
    with p.uow() as ctx:
        assert service.get_request(ctx, req.id).status == "pending"
    p.receive_sms(sec_phone, number, f"Y{code}")
    assert "已批准" in delivered(p, sec_phone)[-1]
    with p.uow() as ctx:
        view = service.get_request(ctx, req.id)
    assert view.status == "approved" and [(d.approver, d.via) for d in view.decisions] == [("staff:security", "sms")]
    p.receive_sms(sec_phone, number, code)  # spent
    assert "无效" in delivered(p, sec_phone)[-1]


def test_sms_codes_stop_after_too_many_wrong_guesses(staffed: Platform) -> None:
    p = staffed
    req = ask(p, staff(p, "agent"))
    code = _code_for(p, PHONES["security"], req.id)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(service.CODE_ATTEMPTS):
        p.receive_sms(PHONES["security"], p.settings.vault_number, wrong)
    p.receive_sms(PHONES["security"], p.settings.vault_number, code)
    with p.uow() as ctx:
        assert service.get_request(ctx, req.id).status == "pending"


# -- the subscriber's notice ------------------------------------------------------------------------


def test_the_subscriber_is_told_who_when_why_without_a_name_even_in_quiet_hours(
    staffed: Platform, clock: FixedClock
) -> None:
    p = staffed
    clock.set(datetime(2026, 4, 10, 23, 30, tzinfo=SHANGHAI))  # quiet hours
    agent = staff(p, "agent")
    req = ask(p, agent, "location")
    sec = staff(p, "security")
    with p.uow() as ctx:
        service.approve(ctx, sec, req.id)
    with p.uow() as ctx:
        result = service.use(ctx, agent, req.id)
        row = ctx.session.scalar(
            select(OutboundSms).where(OutboundSms.msisdn == ALICE, OutboundSms.id == result.notice_id)
        )
    assert row is not None and row.kind == MessageKind.VAULT_NOTICE and not row.bulk
    assert row.status == "delivered" and row.sent_at == clock.now()  # at once, quiet hours or not
    text = delivered(p, ALICE)[-1]
    assert text == row.text
    assert "位置信息" in text and "2026年04月10日23:30" in text and "客户来电核对上月话费" in text
    assert "长沙10086客服中心客服坐席" in text
    assert "王坐席" not in text and "agent" not in text  # the unit and role, never the person
    with p.uow() as ctx:
        history = service.access_history(ctx, ALICE)
    assert [(h.operation, h.unit, h.role) for h in history] == [("location", "长沙10086客服中心", "客服坐席")]


def test_identity_reads_are_not_texted_but_are_in_the_history(staffed: Platform) -> None:
    p = staffed
    agent = staff(p, "agent")
    before = len(delivered(p, BOB))
    req = ask(p, agent, "identity", BOB)
    sec = staff(p, "security")
    with p.uow() as ctx:
        service.approve(ctx, sec, req.id)
    with p.uow() as ctx:
        assert service.use(ctx, agent, req.id).notice_id is None
        assert [h.operation for h in service.access_history(ctx, BOB)] == ["identity"]
    assert len(delivered(p, BOB)) == before


# -- break-glass -------------------------------------------------------------------------------------


def test_break_glass_is_flagged_alerted_and_reviewed(staffed: Platform) -> None:
    p = staffed
    sup, agent, sec = staff(p, "supervisor"), staff(p, "agent"), staff(p, "security")
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.break_glass(ctx, agent, operation="cdr", msisdn=ALICE, reason="紧急", date_from=TODAY, date_to=TODAY)
    assert code_of(err) == "not_break_glass_role"
    with p.uow() as ctx:
        result = service.break_glass(
            ctx, sup, operation="cdr", msisdn=ALICE, reason="客户报警称手机被盗", date_from=TODAY, date_to=TODAY
        )
    assert result.rows and result.notice_id is not None
    alert = delivered(p, PHONES["security"])[-1]
    assert "紧急访问" in alert and "138****8000" in alert and "赵班长" not in alert
    with p.uow() as ctx:
        [waiting] = service.reviews_pending(ctx)
        assert waiting.break_glass and waiting.status == "used" and waiting.review_status == "pending"
        assert service.access_history(ctx, ALICE)[0].break_glass
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.review(ctx, sup, result.request_id, outcome="accepted", note="我自己看过了")
    assert code_of(err) == "not_approver"
    with p.uow() as ctx:
        view = service.review(ctx, sec, result.request_id, outcome="escalated", note="无报警回执,转调查")
    assert view.review_status == "escalated" and view.reviewed_by == "staff:security"
    sec2 = staff(p, "security2")
    with p.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.review(ctx, sec2, result.request_id, outcome="accepted", note="再看一次")
    assert code_of(err) == "reviewed"
    with p.uow() as ctx:
        assert service.reviews_pending(ctx) == []
        actions = ctx.session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
    assert "vault.break_glass" in actions and "vault.review" in actions


# -- hostile text -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["核对\x00话费", "核对话费\ud83d", "\ud800\udc00\ud800"])
def test_unstorable_reasons_are_refused(staffed: Platform, reason: str) -> None:
    with pytest.raises(MingbaiError) as err:
        ask(staffed, staff(staffed, "agent"), reason=reason)
    assert code_of(err) == "bad_reason"


def test_disguising_characters_are_dropped_from_reasons(staffed: Platform) -> None:
    req = ask(staffed, staff(staffed, "agent"), reason="核对\u202e话费\u200b\r\n\t 来电")
    assert req.reason == "核对话费 来电"


# -- every action is audited ------------------------------------------------------------------------


def test_every_vault_action_is_in_the_audit_log(staffed: Platform) -> None:
    p = staffed
    agent = staff(p, "agent")
    a, b = ask(p, agent), ask(p, agent, "identity")
    sec = staff(p, "security")
    with p.uow() as ctx:
        service.approve(ctx, sec, a.id)
        service.deny(ctx, sec, b.id, reason="理由不充分")
    with p.uow() as ctx:
        service.use(ctx, agent, a.id)
    with p.uow() as ctx:
        rows = ctx.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    got = [(r.action, r.actor, r.outcome) for r in rows]
    assert got == [
        ("vault.request", "agent:agent", "ok"),
        ("vault.request", "agent:agent", "ok"),
        ("vault.approve", "security:security", "ok"),
        ("vault.deny", "security:security", "ok"),
        ("vault.use", "agent:agent", "ok"),
    ]
    assert all(r.subject == "138****8000" and ALICE not in r.detail for r in rows)


def test_requests_check_their_subject_and_range(staffed: Platform) -> None:
    p = staffed
    agent = staff(p, "agent")
    cases = [
        ({"op": "cdr", "date_from": TODAY, "date_to": TODAY + timedelta(days=1)}, "bad_range"),
        ({"op": "cdr", "date_from": TODAY - timedelta(days=100), "date_to": TODAY}, "bad_range"),
        ({"op": "cdr", "msisdn": "13700000000"}, "unknown_subscriber"),
        ({"op": "export", "msisdn": None, "export": {"of": "subscribers", "name": "x"}}, "bad_export"),
        ({"op": "teleport"}, "bad_operation"),
    ]
    for kw, code in cases:
        with pytest.raises(MingbaiError) as err:
            ask(p, agent, **kw)  # type: ignore[arg-type]
        assert code_of(err) == code, kw
    with pytest.raises(MingbaiError) as err:
        ask(p, staff(p, "security"))
    assert code_of(err) == "not_requester_role"


def test_records_load_all_or_nothing_with_the_line_named(staffed: Platform) -> None:
    good = {"msisdn": BOB, "started_at": "2026-04-09T08:00:00+08:00", "kind": "voice", "direction": "out"}
    good |= {"other_party": "10086", "duration_s": "60", "volume_kb": "0", "cell_id": "460-00-1-2"}
    with staffed.uow() as ctx, pytest.raises(MingbaiError) as err:
        service.load_cdrs(ctx, [good, {**good, "kind": "fax"}], first_line=2)
    assert err.value.message.startswith("record 3:")
    with staffed.uow() as ctx:
        assert service.load_cdrs(ctx, [good]) == 1
        day = service.cdrs(ctx, BOB, date(2026, 4, 9), date(2026, 4, 9))
    assert [r["duration_s"] for r in day if r["other_party"] == "10086"] == [60]


# -- append-only stores, the scheduler ----------------------------------------------------------------


@pytest.mark.parametrize("table", ["vault_decision", "vault_access", "cdr_record", "location_record"])
def test_the_vaults_records_are_append_only(staffed: Platform, table: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    p = staffed
    agent = staff(p, "agent")
    req = ask(p, agent)
    sec = staff(p, "security")
    with p.uow() as ctx:
        service.approve(ctx, sec, req.id)
    with p.uow() as ctx:
        service.use(ctx, agent, req.id)
    # the platform's own role may not (PostgreSQL: no privilege), nor the owner's (the trigger)
    own_role = f"append-only|permission denied for table {table}"
    for stmt in (f"UPDATE {table} SET msisdn = msisdn", f"DELETE FROM {table}"):
        if table == "vault_decision":
            stmt = stmt.replace("SET msisdn = msisdn", "SET reason = reason")
        for uow, refused in ((p.uow, own_role), (lambda: owner_uow(p), "append-only")):
            with pytest.raises(DBAPIError, match=refused), uow() as ctx:
                ctx.session.execute(text(stmt))


def test_the_tick_writes_expiries(staffed: Platform, clock: FixedClock) -> None:
    p = staffed
    ask(p, staff(p, "agent"))
    clock.advance(timedelta(minutes=p.settings.vault_pending_minutes))
    assert p.tick().extra["vault_expired"] == 1
    assert p.tick().extra["vault_expired"] == 0
