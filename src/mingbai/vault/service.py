"""The vault's use cases (金库模式, R13): ask, approve or deny (on a console or by SMS), use once,
break the glass, review, expire; the subscriber's access history; the CDR and location stores.

Every function takes a :class:`~mingbai.db.Ctx`, never commits, and appends an audit entry
(``vault.*``) in the same transaction: if the audit log cannot be written, the action fails with
it. Who acts is a :class:`Staff`, made by :func:`staff_from_principal` (a console session or an
API key) or :func:`staff_by_username` (the CLI); its ``identity`` is defined in
:mod:`mingbai.vault.rules`.

Results (:class:`AccessResult`) carry the data unmasked and are made only by :func:`use` and
:func:`break_glass`; every other view (:class:`RequestView`) shows the subject masked.
"""

from __future__ import annotations

import csv
import io
import json
import random
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from mingbai.accounts.models import StaffUser
from mingbai.accounts.rules import mask_id_number, mask_name
from mingbai.accounts.service import open_profile, save_profile
from mingbai.audit import service as audit
from mingbai.auth.service import Principal
from mingbai.catalog.models import Subscriber
from mingbai.catalog.service import get_subscriber
from mingbai.clock import local_date, local_midnight
from mingbai.db import Ctx, insert_rows, table_of
from mingbai.errors import Conflict, Forbidden, InvalidInput, MingbaiError, NotFound, TooLarge
from mingbai.ids import new_id
from mingbai.messaging.kinds import MessageKind
from mingbai.messaging.service import enqueue
from mingbai.msisdn import mask_msisdn, normalize_msisdn
from mingbai.subscriptions.models import Subscription
from mingbai.subscriptions.rules import code_mac, new_code
from mingbai.vault import rules, texts
from mingbai.vault.models import CdrRecord, LocationRecord, VaultAccess, VaultCode, VaultDecision, VaultRequest
from mingbai.vault.rules import Operation, Review, Status

#: the unit a staff member works in when their account names none
DEFAULT_UNITS = {
    "agent": "10086客服中心",
    "hall": "营业厅",
    "supervisor": "10086客服中心",
    "operator": "业务运营中心",
    "security": "信息安全管理部",
}
#: wrong code replies one approver's phone may send before its codes stop working
CODE_ATTEMPTS = 5
#: the most rows one export may hold
MAX_EXPORT_ROWS = 200_000
#: audit actor of the expiry pass
SYSTEM_ACTOR = "system:vault"


# -- who acts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    """A member of staff as the vault sees them."""

    #: ``staff:<username>`` (rules.identity)
    identity: str
    role: str
    #: session | key | cli | sms
    via: str
    unit: str
    #: their own phone, when their account has one
    phone: str | None = None
    #: where the action came from (client address, ``cli``, the phone for SMS)
    address: str = ""

    @property
    def actor(self) -> str:
        """The audit log's actor: ``role:username`` as :attr:`Principal.actor` writes it."""
        return f"{self.role}:{self.identity.removeprefix('staff:')}"


def _user(ctx: Ctx, name: str) -> StaffUser | None:
    username = rules.identity(name).removeprefix("staff:")
    return ctx.session.scalar(select(StaffUser).where(StaffUser.username == username))


def staff_from_principal(ctx: Ctx, principal: Principal, *, via: str, address: str = "") -> Staff:
    """The staff behind a console session (``via="session"``: the label is the username) or an
    API key (``via="key"``: the label names the person it was issued to, whose account, if any,
    lends its phone and unit)."""
    if principal.role.value not in rules.REQUESTER_ROLES | rules.APPROVER_ROLES:
        raise Forbidden(f"role {principal.role.value} has no part in the vault", code="not_staff")
    user = _user(ctx, principal.label)
    if via == "session" and (user is None or user.status != "active"):
        raise Forbidden("the session's user is not active", code="not_staff")
    unit = (user.unit if user is not None else None) or DEFAULT_UNITS.get(principal.role.value, "中国移动")
    return Staff(
        identity=rules.identity(principal.label),
        role=principal.role.value,
        via=via,
        unit=unit,
        phone=user.phone if user is not None else None,
        address=address,
    )


def staff_by_username(ctx: Ctx, username: str, *, via: str = "cli", address: str = "cli") -> Staff:
    """An active staff user acting through the CLI (``--as``) or by SMS."""
    user = _user(ctx, username)
    if user is None or user.status != "active":
        raise NotFound(f"no active staff user {username!r}", code="unknown_staff")
    if user.role not in rules.REQUESTER_ROLES | rules.APPROVER_ROLES:
        raise Forbidden(f"role {user.role} has no part in the vault", code="not_staff")
    return Staff(
        identity=rules.identity(user.username),
        role=user.role,
        via=via,
        unit=user.unit or DEFAULT_UNITS.get(user.role, "中国移动"),
        phone=user.phone,
        address=address,
    )


# -- views ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionView:
    approver: str
    role: str
    decision: str
    reason: str
    via: str
    at: datetime


@dataclass(frozen=True)
class RequestView:
    """A request as consoles, the API and the CLI show it: the subject masked."""

    id: int
    operation: str
    #: 138****5678, or the export's definition
    subject: str
    #: what exactly is asked (the range, the filters, the new identity data masked)
    params: dict[str, str]
    reason: str
    requester: str
    requester_role: str
    requester_unit: str
    via: str
    #: as of now: a pending request past its wait, or an approval past its window, reads expired
    status: str
    break_glass: bool
    approvals_needed: int
    approvals: int
    created_at: datetime
    expires_at: datetime
    approved_at: datetime | None
    usable_until: datetime | None
    used_at: datetime | None
    denial_reason: str | None
    review_status: str | None
    reviewed_by: str | None
    review_note: str | None
    decisions: list[DecisionView] = field(default_factory=list)


@dataclass(frozen=True)
class AccessResult:
    """What an approved (or break-glass) use returns: the data unmasked. Never cached, never logged."""

    request_id: int
    operation: str
    msisdn: str
    rows: list[dict[str, Any]]
    #: the export's file (CSV, UTF-8), for ``export``
    csv: str | None = None
    #: the outbox id of the subscriber's notice, for ``cdr`` and ``location``
    notice_id: int | None = None


@dataclass(frozen=True)
class AccessView:
    """One access to a subscriber's data, as the subscriber sees it (no staff name)."""

    at: datetime
    operation: str
    unit: str
    role: str
    reason: str
    break_glass: bool


def _facts(r: VaultRequest) -> rules.RequestFacts:
    return rules.RequestFacts(r.status, r.requester, r.requester_phone, r.break_glass, r.expires_at, r.usable_until)


def _masked_params(r: VaultRequest) -> dict[str, str]:
    params = json.loads(r.params) if r.params else {}
    if r.operation == Operation.IDENTITY_CHANGE:
        params = {
            "name": mask_name(params.get("name", "")),
            "id_type": params.get("id_type", ""),
            "id_number": mask_id_number(params.get("id_number", "")),
        }
    return {str(k): str(v) for k, v in params.items()}


def _view(ctx: Ctx, r: VaultRequest, decisions: Sequence[VaultDecision] | None = None) -> RequestView:
    if decisions is None:
        decisions = list(
            ctx.session.scalars(
                select(VaultDecision).where(VaultDecision.request_id == r.id).order_by(VaultDecision.at)
            )
        )
    op = Operation(r.operation)
    return RequestView(
        id=r.id,
        operation=r.operation,
        subject=texts.subject_words(op, r.msisdn, r.params) if op is Operation.EXPORT else mask_msisdn(r.msisdn),
        params=_masked_params(r),
        reason=r.reason,
        requester=r.requester,
        requester_role=r.requester_role,
        requester_unit=r.requester_unit,
        via=r.via,
        status=rules.current_status(_facts(r), ctx.now()).value,
        break_glass=r.break_glass,
        approvals_needed=r.approvals_needed,
        approvals=r.approvals,
        created_at=r.created_at,
        expires_at=r.expires_at,
        approved_at=r.approved_at,
        usable_until=r.usable_until,
        used_at=r.used_at,
        denial_reason=r.denial_reason,
        review_status=r.review_status,
        reviewed_by=r.reviewed_by,
        review_note=r.review_note,
        decisions=[DecisionView(d.approver, d.role, d.decision, d.reason, d.via, d.at) for d in decisions],
    )


def _audit(ctx: Ctx, who: Staff, action: str, r: VaultRequest | None, *, outcome: str = "ok", **detail: Any) -> None:
    audit.record(
        ctx,
        actor=who.actor,
        role=who.role,
        action=f"vault.{action}",
        subject_msisdn=r.msisdn if r is not None and r.msisdn else None,
        subject=f"vault:{r.id}" if r is not None and not r.msisdn else None,
        outcome=outcome,
        address=who.address or who.via,
        detail={
            **({"request": r.id, "operation": r.operation} if r is not None else {}),
            "via": who.via,
            **detail,
        },
    )


def record_refusal(ctx: Ctx, who: Staff, action: str, request_id: int | None, error: MingbaiError) -> None:
    """Write down a refused vault action (self-approval, a second use, …). The action's own
    transaction rolled back with its error, so the edges call this in a unit of work of its own."""
    r = ctx.session.get(VaultRequest, request_id) if request_id is not None else None
    _audit(ctx, who, action, r, outcome="denied", error=error.code, **({"id": request_id} if r is None else {}))


# -- ask ---------------------------------------------------------------------------------------------


def _subject(
    ctx: Ctx,
    op: Operation,
    *,
    msisdn: str | None,
    date_from: date | None,
    date_to: date | None,
    export: Mapping[str, Any] | None,
    identity: Mapping[str, Any] | None,
) -> tuple[str, dict[str, Any]]:
    if op is Operation.EXPORT:
        if msisdn:
            raise InvalidInput(
                "an export is about many subscribers: give its definition, not a number", code="bad_export"
            )
        return "", rules.export_definition(export)
    if not msisdn:
        raise InvalidInput(f"{op.value} is about one subscriber: give their number", code="bad_msisdn")
    number = get_subscriber(ctx, msisdn).msisdn
    if op in rules.RANGED_OPERATIONS:
        start, end = rules.date_range(date_from, date_to, local_date(ctx.now()))
        return number, {"from": start.isoformat(), "to": end.isoformat()}
    if op is Operation.IDENTITY_CHANGE:
        data = identity or {}
        return number, rules.new_identity(data.get("name"), data.get("id_type"), data.get("id_number"))
    return number, {}


def _approvers(ctx: Ctx) -> list[StaffUser]:
    return list(
        ctx.session.scalars(
            select(StaffUser)
            .where(StaffUser.role.in_(sorted(rules.APPROVER_ROLES)), StaffUser.status == "active")
            .order_by(StaffUser.id)
        )
    )


def code_key(ctx: Ctx) -> bytes:
    """The MAC key for approvers' codes, derived from the sealing keys (never in the database)."""
    return ctx.settings.sealer.mac_key("vault-code")


def request_access(
    ctx: Ctx,
    who: Staff,
    *,
    operation: str,
    reason: str,
    msisdn: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    export: Mapping[str, Any] | None = None,
    identity: Mapping[str, Any] | None = None,
) -> RequestView:
    """Ask for ONE operation on ONE subscriber (or one export definition) with a reason. Every
    active approver who is not the same person as the requester gets an SMS with a one-time code
    at once, and the request shows in :func:`pending_for` (the consoles poll it)."""
    op = rules.parse_operation(operation)
    if who.role not in rules.REQUESTER_ROLES:
        raise Forbidden(f"role {who.role} does not ask for vault operations", code="not_requester_role")
    why = rules.clean_reason(reason)
    number, params = _subject(
        ctx, op, msisdn=msisdn, date_from=date_from, date_to=date_to, export=export, identity=identity
    )
    now = ctx.now()
    req = _add_request(
        ctx,
        who,
        op,
        number,
        params,
        why,
        break_glass=False,
        approvals_needed=rules.approvals_needed(op, ctx.settings.vault_export_approvers),
        status=Status.PENDING.value,
        expires_at=now + timedelta(minutes=ctx.settings.vault_pending_minutes),
    )
    notified = _send_codes(ctx, req)
    _audit(ctx, who, "request", req, reason=why, approvers_notified=notified)
    return _view(ctx, req, [])


def _add_request(
    ctx: Ctx, who: Staff, op: Operation, number: str, params: Mapping[str, Any], why: str, **state: Any
) -> VaultRequest:
    """A new request row by ``who`` for ``op`` on ``number``, created now; ``state`` says how it
    starts (pending and waiting for approvers, or, for break-glass, already used)."""
    req = VaultRequest(
        id=new_id(),
        operation=op.value,
        msisdn=number,
        params=rules.canonical(params) if params else "",
        reason=why,
        requester=who.identity,
        requester_role=who.role,
        requester_unit=who.unit,
        requester_phone=who.phone,
        via=who.via,
        approvals=0,
        created_at=ctx.now(),
        **state,
    )
    ctx.session.add(req)
    ctx.session.flush()
    return req


def _send_codes(ctx: Ctx, req: VaultRequest) -> int:
    key = code_key(ctx)
    subject = texts.subject_words(Operation(req.operation), req.msisdn, req.params)
    sent = 0
    for user in _approvers(ctx):
        ident = rules.identity(user.username)
        if not user.phone or rules.same_person(req.requester, req.requester_phone, ident, user.phone):
            continue
        code_id = new_id()
        code = new_code(6)
        ctx.session.add(
            VaultCode(
                phone=user.phone,
                id=code_id,
                request_id=req.id,
                approver=ident,
                code_mac=code_mac(key, user.phone, code_id, code),
                created_at=req.created_at,
                expires_at=req.expires_at,
                attempts=0,
                used_at=None,
            )
        )
        enqueue(
            ctx,
            msisdn=user.phone,
            kind=MessageKind.VAULT_CODE,
            dedupe_key=f"vault:{req.id}:{code_id}",
            sender=ctx.settings.vault_number,
            text=texts.approval_request(
                request_id=req.id,
                operation=Operation(req.operation),
                subject=subject,
                unit=req.requester_unit,
                role=req.requester_role,
                reason=req.reason,
                code=code,
                minutes=ctx.settings.vault_pending_minutes,
            ),
        )
        sent += 1
    return sent


# -- decide ------------------------------------------------------------------------------------------


def _locked(ctx: Ctx, request_id: int) -> VaultRequest:
    """The request, its row locked until commit (PostgreSQL; SQLite writers hold the database
    lock), so decisions and uses of one request take turns."""
    row = ctx.session.scalar(
        select(VaultRequest)
        .where(VaultRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(f"no vault request {request_id}", code="unknown_request")
    return row


def _decide(ctx: Ctx, who: Staff, request_id: int, decision: str, reason: str) -> VaultRequest:
    req = _locked(ctx, request_id)
    rules.check_decider(_facts(req), who=who.identity, role=who.role, phone=who.phone, now=ctx.now())
    earlier = ctx.session.get(VaultDecision, (req.id, who.identity))
    if earlier is not None:
        raise Conflict("you have already decided this request", code="already_decided")
    now = ctx.now()
    ctx.session.add(
        VaultDecision(
            request_id=req.id,
            approver=who.identity,
            role=who.role,
            decision=decision,
            reason=reason,
            via=who.via,
            at=now,
        )
    )
    # the approver's codes for this request are spent either way
    ctx.session.execute(
        update(VaultCode)
        .where(VaultCode.request_id == req.id, VaultCode.approver == who.identity, VaultCode.used_at.is_(None))
        .values(used_at=now)
    )
    return req


def approve(ctx: Ctx, who: Staff, request_id: int) -> RequestView:
    """One approver's approval. When the request has as many distinct approvers as it needs
    (two for a bulk export when so configured), it becomes usable for
    ``MINGBAI_VAULT_APPROVAL_MINUTES`` by its requester alone."""
    req = _decide(ctx, who, request_id, "approve", "")
    now = ctx.now()
    req.approvals += 1
    if req.approvals >= req.approvals_needed:
        req.status = Status.APPROVED.value
        req.approved_at = now
        req.usable_until = rules.usable_until(now, ctx.settings.vault_approval_minutes)
    ctx.session.flush()
    _audit(ctx, who, "approve", req, approvals=req.approvals, needed=req.approvals_needed, status=req.status)
    return _view(ctx, req)


def deny(ctx: Ctx, who: Staff, request_id: int, *, reason: str) -> RequestView:
    """One approver's denial, with its reason: the request is denied for good."""
    why = rules.clean_reason(reason)
    req = _decide(ctx, who, request_id, "deny", why)
    req.status = Status.DENIED.value
    req.denied_at = ctx.now()
    req.denial_reason = why
    ctx.session.flush()
    _audit(ctx, who, "deny", req, reason=why)
    return _view(ctx, req)


def approve_by_sms(ctx: Ctx, *, phone: str, text: str) -> str:
    """An approver's reply to the vault number: the code approves the request it was sent for,
    if it came from the phone it was sent to. Returns the reply to send."""
    code = rules.parse_reply(text)
    if code is None:
        return texts.REPLY_HELP
    now = ctx.now()
    c = VaultCode
    live = (c.phone == phone, c.used_at.is_(None), c.expires_at > now, c.attempts < CODE_ATTEMPTS)
    key = code_key(ctx)
    match = None
    for row in ctx.session.scalars(select(c).where(*live).order_by(c.id)):
        if secrets.compare_digest(row.code_mac, code_mac(key, phone, row.id, code)):
            match = row
            break
    if match is None:
        # every live code of this phone counts the wrong guess
        ctx.session.execute(update(c).where(*live).values(attempts=c.attempts + 1))
        sender = ctx.session.scalar(select(StaffUser).where(StaffUser.phone == phone, StaffUser.status == "active"))
        who = (
            Staff(rules.identity(sender.username), sender.role, "sms", sender.unit or "", sender.phone, "sms")
            if sender is not None
            else Staff("sms:" + mask_msisdn(phone), "unknown", "sms", "", phone, "sms")
        )
        _audit(ctx, who, "approve", None, outcome="denied", error="bad_code")
        return texts.REPLY_UNKNOWN if sender is not None else texts.REPLY_NOT_APPROVER
    user = _user(ctx, match.approver.removeprefix("staff:"))
    if user is None or user.status != "active" or user.phone != phone:
        return texts.REPLY_NOT_APPROVER
    who = staff_by_username(ctx, user.username, via="sms", address="sms")
    try:
        view = approve(ctx, who, match.request_id)
    except MingbaiError as exc:
        match.used_at = now
        record_refusal(ctx, who, "approve", match.request_id, exc)
        return texts.REPLY_REFUSED.format(request_id=match.request_id, why=exc.message)
    done = texts.REPLY_APPROVED if view.status == Status.APPROVED else texts.REPLY_WAITING
    return done.format(request_id=view.id)


# -- use ---------------------------------------------------------------------------------------------


def use(ctx: Ctx, who: Staff, request_id: int) -> AccessResult:
    """The requester uses an approval: once, within its window. Returns the data unmasked; for CDRs
    and location the subscriber is sent a notice at once (quiet hours or not: it is a security
    notice) naming the unit and role, when and why."""
    req = _locked(ctx, request_id)
    rules.check_use(_facts(req), who=who.identity, now=ctx.now())
    now = ctx.now()
    taken = ctx.session.execute(
        update(VaultRequest)
        .where(VaultRequest.id == req.id, VaultRequest.status == Status.APPROVED.value, VaultRequest.used_at.is_(None))
        .values(status=Status.USED.value, used_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]  # pragma: no cover - the row lock makes this unreachable
        raise Conflict("this approval has been used; ask again", code="used")
    ctx.session.refresh(req)
    result = _perform(ctx, req)
    _audit(ctx, who, "use", req, rows=len(result.rows))
    return result


def break_glass(
    ctx: Ctx,
    who: Staff,
    *,
    operation: str,
    reason: str,
    msisdn: str,
    date_from: date | None = None,
    date_to: date | None = None,
) -> AccessResult:
    """An emergency read without prior approval, for the roles in
    ``MINGBAI_VAULT_BREAK_GLASS_ROLES``: CDRs, location or identity of one subscriber (never an
    export or a change). It is flagged, security is told at once by SMS and in the review list,
    and it waits for a review (:func:`review`)."""
    op = rules.parse_operation(operation)
    if who.role not in rules.break_glass_roles(ctx.settings.vault_break_glass_roles):
        raise Forbidden(f"role {who.role} may not break the glass", code="not_break_glass_role")
    if op not in (Operation.CDR, Operation.LOCATION, Operation.IDENTITY):
        raise InvalidInput("break-glass reads CDRs, location or identity only", code="bad_operation")
    why = rules.clean_reason(reason)
    number, params = _subject(ctx, op, msisdn=msisdn, date_from=date_from, date_to=date_to, export=None, identity=None)
    now = ctx.now()
    req = _add_request(
        ctx,
        who,
        op,
        number,
        params,
        why,
        break_glass=True,
        approvals_needed=0,
        status=Status.USED.value,
        expires_at=now,
        approved_at=None,
        usable_until=None,
        used_at=now,
        review_status=Review.PENDING.value,
    )
    result = _perform(ctx, req)
    alerted = 0
    subject = texts.subject_words(op, number, req.params)
    for user in _approvers(ctx):
        if not user.phone or rules.same_person(
            req.requester, req.requester_phone, rules.identity(user.username), user.phone
        ):
            continue
        enqueue(
            ctx,
            msisdn=user.phone,
            kind=MessageKind.VAULT_ALERT,
            dedupe_key=f"vault-alert:{req.id}",
            sender=ctx.settings.vault_number,
            text=texts.break_glass_alert(
                request_id=req.id,
                operation=op,
                subject=subject,
                unit=req.requester_unit,
                role=req.requester_role,
                reason=why,
            ),
        )
        alerted += 1
    _audit(ctx, who, "break_glass", req, reason=why, rows=len(result.rows), security_alerted=alerted)
    return result


def _perform(ctx: Ctx, req: VaultRequest) -> AccessResult:
    op = Operation(req.operation)
    params = json.loads(req.params) if req.params else {}
    out_csv: str | None = None
    if op is Operation.CDR:
        rows = cdrs(ctx, req.msisdn, date.fromisoformat(params["from"]), date.fromisoformat(params["to"]))
    elif op is Operation.LOCATION:
        rows = locations(ctx, req.msisdn, date.fromisoformat(params["from"]), date.fromisoformat(params["to"]))
    elif op is Operation.IDENTITY:
        profile = open_profile(ctx, req.msisdn)
        if profile is None:
            raise NotFound(f"{mask_msisdn(req.msisdn)} has no real-name registration", code="no_profile")
        rows = [
            {"msisdn": req.msisdn, "name": profile.name, "id_type": profile.id_type, "id_number": profile.id_number}
        ]
    elif op is Operation.IDENTITY_CHANGE:
        save_profile(
            ctx, msisdn=req.msisdn, name=params["name"], id_type=params["id_type"], id_number=params["id_number"]
        )
        rows = [{"msisdn": req.msisdn, **params}]
    else:
        rows = export_rows(ctx, params)
        out_csv = to_csv(rows)
    notice = None
    if req.msisdn:
        ctx.session.add(
            VaultAccess(
                msisdn=req.msisdn,
                id=new_id(),
                request_id=req.id,
                operation=op.value,
                unit=req.requester_unit,
                role=req.requester_role,
                reason=req.reason,
                break_glass=req.break_glass,
                at=ctx.now(),
            )
        )
    if op in rules.NOTIFIED_OPERATIONS:
        notice = enqueue(
            ctx,
            msisdn=req.msisdn,
            kind=MessageKind.VAULT_NOTICE,
            dedupe_key=f"vault:{req.id}",
            text=texts.subscriber_notice(
                operation=op, unit=req.requester_unit, role=req.requester_role, reason=req.reason, at=ctx.now()
            ),
        )
    return AccessResult(req.id, op.value, req.msisdn, rows, out_csv, notice)


# -- review and expire -------------------------------------------------------------------------------


def review(ctx: Ctx, who: Staff, request_id: int, *, outcome: str, note: str) -> RequestView:
    """Security reviews a break-glass access: ``accepted`` or ``escalated``, with a note."""
    if outcome not in (Review.ACCEPTED, Review.ESCALATED):
        raise InvalidInput("a review is accepted or escalated", code="bad_review")
    why = rules.clean_reason(note, name="note")
    req = _locked(ctx, request_id)
    rules.check_reviewer(_facts(req), review=req.review_status, who=who.identity, role=who.role, phone=who.phone)
    req.review_status = outcome
    req.reviewed_by = who.identity
    req.reviewed_at = ctx.now()
    req.review_note = why
    ctx.session.flush()
    _audit(ctx, who, "review", req, outcome_of_review=outcome, note=why)
    return _view(ctx, req)


def expire_due(ctx: Ctx) -> int:
    """Write down the requests whose wait or window is over (``Platform.tick``). Reading never
    needs it — :func:`rules.current_status` already says expired — but the list and the log do."""
    now = ctx.now()
    t = VaultRequest
    due = or_(
        and_(t.status == Status.PENDING.value, t.expires_at <= now),
        and_(t.status == Status.APPROVED.value, t.usable_until <= now),
    )
    rows = ctx.session.execute(
        update(t).where(due).values(status=Status.EXPIRED.value).returning(t.id, t.msisdn, t.operation)
    ).all()
    if rows:
        audit.record_many(
            ctx,
            [
                audit.Action(
                    SYSTEM_ACTOR,
                    "system",
                    "vault.expire",
                    subject_msisdn=r.msisdn or None,
                    subject=None if r.msisdn else f"vault:{r.id}",
                    address="scheduler",
                    detail={"request": r.id, "operation": r.operation},
                )
                for r in rows
            ],
        )
    return len(rows)


# -- lists -------------------------------------------------------------------------------------------


def _views(ctx: Ctx, rows: Sequence[VaultRequest]) -> list[RequestView]:
    ids = [r.id for r in rows]
    by: dict[int, list[VaultDecision]] = {i: [] for i in ids}
    if ids:
        for d in ctx.session.scalars(
            select(VaultDecision).where(VaultDecision.request_id.in_(ids)).order_by(VaultDecision.at)
        ):
            by[d.request_id].append(d)
    return [_view(ctx, r, by[r.id]) for r in rows]


def get_request(ctx: Ctx, request_id: int) -> RequestView:
    row = ctx.session.get(VaultRequest, request_id)
    if row is None:
        raise NotFound(f"no vault request {request_id}", code="unknown_request")
    return _view(ctx, row)


def my_requests(ctx: Ctx, who: Staff, *, limit: int = 100) -> list[RequestView]:
    """The requester's own requests, newest first."""
    rows = ctx.session.scalars(
        select(VaultRequest).where(VaultRequest.requester == who.identity).order_by(VaultRequest.id.desc()).limit(limit)
    )
    return _views(ctx, list(rows))


def pending_for(ctx: Ctx, who: Staff, *, limit: int = 100) -> list[RequestView]:
    """What waits for this approver: pending, in time, not theirs (nor the same person's), not
    yet decided by them. Oldest first; the console polls it."""
    now = ctx.now()
    decided = select(VaultDecision.request_id).where(VaultDecision.approver == who.identity)
    q = (
        select(VaultRequest)
        .where(
            VaultRequest.status == Status.PENDING.value,
            VaultRequest.expires_at > now,
            VaultRequest.requester != who.identity,
            VaultRequest.id.not_in(decided),
        )
        .order_by(VaultRequest.id)
        .limit(limit)
    )
    if who.phone:
        q = q.where(or_(VaultRequest.requester_phone.is_(None), VaultRequest.requester_phone != who.phone))
    return _views(ctx, list(ctx.session.scalars(q)))


def reviews_pending(ctx: Ctx, *, limit: int = 100) -> list[RequestView]:
    """Break-glass accesses waiting for security's review, oldest first."""
    rows = ctx.session.scalars(
        select(VaultRequest)
        .where(VaultRequest.review_status == Review.PENDING.value)
        .order_by(VaultRequest.id)
        .limit(limit)
    )
    return _views(ctx, list(rows))


def access_history(ctx: Ctx, msisdn: str, *, limit: int = 100) -> list[AccessView]:
    """The subscriber's own history (portal): every access to their data, newest first; the
    unit and role of who looked, never a name."""
    number = normalize_msisdn(msisdn)
    rows = ctx.session.scalars(
        select(VaultAccess).where(VaultAccess.msisdn == number).order_by(VaultAccess.at.desc()).limit(limit)
    )
    return [AccessView(r.at, r.operation, r.unit, texts.role_words(r.role), r.reason, r.break_glass) for r in rows]


# -- the guarded stores -----------------------------------------------------------------------------


def _span(start: date, end: date) -> tuple[datetime, datetime]:
    return local_midnight(start), local_midnight(end + timedelta(days=1))


def cdrs(ctx: Ctx, msisdn: str, start: date, end: date) -> list[dict[str, Any]]:
    """A subscriber's CDRs of Shanghai days ``start``..``end``. Only the vault calls it."""
    lo, hi = _span(start, end)
    c = CdrRecord
    rows = ctx.session.scalars(
        select(c).where(c.msisdn == msisdn, c.started_at >= lo, c.started_at < hi).order_by(c.started_at, c.id)
    )
    return [
        {
            "started_at": r.started_at,
            "kind": r.kind,
            "direction": r.direction,
            "other_party": r.other_party,
            "duration_s": r.duration_s,
            "volume_kb": r.volume_kb,
            "cell_id": r.cell_id,
        }
        for r in rows
    ]


def locations(ctx: Ctx, msisdn: str, start: date, end: date) -> list[dict[str, Any]]:
    """A subscriber's location records of Shanghai days ``start``..``end``. Only the vault calls it."""
    lo, hi = _span(start, end)
    t = LocationRecord
    rows = ctx.session.scalars(select(t).where(t.msisdn == msisdn, t.at >= lo, t.at < hi).order_by(t.at, t.id))
    return [
        {"at": r.at, "cell_id": r.cell_id, "area": r.area, "lat": r.lat_e6 / 1e6, "lon": r.lon_e6 / 1e6} for r in rows
    ]


def export_rows(ctx: Ctx, definition: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rows of one export definition (rules.export_definition)."""
    q: Any
    if definition["of"] == "subscribers":
        s = Subscriber
        q = select(s.msisdn, s.brand, s.province, s.city, s.package, s.status).order_by(s.msisdn)
        if "status" in definition:
            q = q.where(s.status == definition["status"])
        if "msisdn_prefix" in definition:
            q = q.where(s.msisdn.startswith(definition["msisdn_prefix"], autoescape=True))
    else:
        t = Subscription
        q = select(
            t.msisdn, t.service_code, t.sp_code, t.status, t.price_fen, t.ordered_at, t.unsubscribed_at
        ).order_by(t.msisdn, t.id)
        for key, col in (("status", t.status), ("service_code", t.service_code), ("sp_code", t.sp_code)):
            if key in definition:
                q = q.where(col == definition[key])
    rows = [dict(r._mapping) for r in ctx.session.execute(q.limit(MAX_EXPORT_ROWS + 1))]
    if len(rows) > MAX_EXPORT_ROWS:
        raise TooLarge(f"an export holds at most {MAX_EXPORT_ROWS} rows; narrow its filters", code="export_too_large")
    return rows


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()})
    return buf.getvalue()


def _checked(records: Iterable[Mapping[str, Any]], check: Any, first_line: int) -> list[dict[str, Any]]:
    rows = []
    for i, raw in enumerate(records):
        try:
            rows.append({"id": new_id(), **check(raw)})
        except InvalidInput as exc:
            raise InvalidInput(f"record {first_line + i}: {exc.message}", code=exc.code) from None
    return rows


def load_cdrs(ctx: Ctx, records: Iterable[Mapping[str, Any]], *, first_line: int = 1) -> int:
    """Append CDRs (a mediation feed, ``mingbai vault load``), all or nothing: every record is
    checked first (rules.cdr_record; an error names the record by ``first_line`` + its index)."""
    rows = _checked(records, rules.cdr_record, first_line)
    for i in range(0, len(rows), 5_000):
        insert_rows(ctx.conn, table_of(CdrRecord), rows[i : i + 5_000])
    return len(rows)


def load_locations(ctx: Ctx, records: Iterable[Mapping[str, Any]], *, first_line: int = 1) -> int:
    """Append location records (cell, time), all or nothing, as :func:`load_cdrs`."""
    rows = _checked(records, rules.location_record, first_line)
    for i in range(0, len(rows), 5_000):
        insert_rows(ctx.conn, table_of(LocationRecord), rows[i : i + 5_000])
    return len(rows)


#: the demo's cells: (cell id, area, lat, lon)
DEMO_CELLS = [
    ("460-00-7311-10231", "长沙市岳麓区麓山南路", 28.1789, 112.9388),
    ("460-00-7311-10455", "长沙市芙蓉区五一大道", 28.1960, 112.9823),
    ("460-00-7311-20117", "长沙市雨花区韶山中路", 28.1359, 113.0006),
    ("460-00-7312-30019", "株洲市天元区长江北路", 27.8361, 113.0836),
    ("460-00-7310-40888", "湘潭市岳塘区建设南路", 27.8575, 112.9460),
]


def demo_records(
    msisdns: Sequence[str], *, start: date, days: int, seed: int = 16
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Plausible CDRs and location records for the demo: a few calls, SMS and data sessions a
    day per subscriber, each with the cell it used, and the cells seen through the day.
    Deterministic for a seed."""
    rnd = random.Random(seed)
    cdr_rows: list[dict[str, Any]] = []
    loc_rows: list[dict[str, Any]] = []
    for msisdn in msisdns:
        home = rnd.randrange(len(DEMO_CELLS))
        for d in range(days):
            midnight = local_midnight(start + timedelta(days=d))
            for _ in range(rnd.randint(2, 6)):
                at = midnight + timedelta(seconds=rnd.randint(7 * 3600, 23 * 3600))
                cell = DEMO_CELLS[home if rnd.random() < 0.7 else rnd.randrange(len(DEMO_CELLS))]
                kind = rnd.choice(("voice", "voice", "sms", "data"))
                cdr_rows.append(
                    {
                        "msisdn": msisdn,
                        "started_at": at,
                        "kind": kind,
                        "direction": rnd.choice(("out", "in")) if kind != "data" else "out",
                        "other_party": "" if kind == "data" else f"1{rnd.choice('3589')}{rnd.randrange(10**9):09d}",
                        "duration_s": rnd.randint(5, 900) if kind == "voice" else 0,
                        "volume_kb": rnd.randint(100, 50_000) if kind == "data" else 0,
                        "cell_id": cell[0],
                    }
                )
                loc_rows.append(
                    {
                        "msisdn": msisdn,
                        "at": at,
                        "cell_id": cell[0],
                        "area": cell[1],
                        "lat_e6": round(cell[2] * 1e6),
                        "lon_e6": round(cell[3] * 1e6),
                    }
                )
    return cdr_rows, loc_rows


def seed_demo_records(ctx: Ctx, *, days: int = 14) -> tuple[int, int]:
    """The demo's CDRs and locations for every subscriber, the last ``days`` Shanghai days; run
    once (does nothing when CDRs exist)."""
    if ctx.session.scalar(select(func.count()).select_from(CdrRecord)):
        return 0, 0
    msisdns = list(ctx.session.scalars(select(Subscriber.msisdn).order_by(Subscriber.msisdn)))
    today = local_date(ctx.now())
    cdr_rows, loc_rows = demo_records(msisdns, start=today - timedelta(days=days - 1), days=days)
    cdr_rows = [r for r in cdr_rows if r["started_at"] <= ctx.now()]
    loc_rows = [r for r in loc_rows if r["at"] <= ctx.now()]
    return load_cdrs(ctx, cdr_rows), load_locations(ctx, loc_rows)
