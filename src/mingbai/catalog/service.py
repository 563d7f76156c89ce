"""Catalog use cases. Functions take a :class:`~mingbai.db.Ctx` and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from mingbai.audit import service as audit
from mingbai.catalog.models import CatalogStatusChange, Service, Sp, Subscriber
from mingbai.catalog.rules import (
    CatalogDocument,
    ServiceIn,
    SpIn,
    SubscriberIn,
    parse_catalog_document,
    reminder_label,
)
from mingbai.db import Ctx, upsert
from mingbai.errors import InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.msisdn import mask_msisdn, normalize_msisdn


@dataclass(frozen=True)
class ImportReport:
    sps: int
    services: int
    subscribers: int


def import_catalog(ctx: Ctx, raw: object, *, actor: str = "system") -> ImportReport:
    """Import SPs, services and subscribers from one document, all or nothing. Staff imports are
    audited with every price they change (a price moved from 200 to 2000 fen is on record)."""
    doc = parse_catalog_document(raw)
    _check_references(ctx, doc)
    now = ctx.now()
    if audit.staff_role(actor) is not None:
        codes = [s.code for s in doc.services]
        before = (
            {
                code: price
                for code, price in ctx.session.execute(
                    select(Service.code, Service.price_fen).where(Service.code.in_(codes))
                )
            }
            if codes
            else {}
        )
        prices = {
            s.code: [before[s.code], s.price_fen]
            for s in doc.services
            if s.code in before and before[s.code] != s.price_fen
        }
        audit.record_staff(
            ctx,
            actor=actor,
            action="catalog.import",
            subject="catalog",
            detail={"sps": len(doc.sps), "services": len(doc.services), "subscribers": len(doc.subscribers)},
        )
        for code, (old, new) in sorted(prices.items()):
            audit.record_staff(
                ctx,
                actor=actor,
                action="catalog.price",
                subject=f"service:{code}",
                detail={"from_fen": old, "to_fen": new},
            )
    upsert(ctx.session, Sp.__table__, [_sp_row(s, now) for s in doc.sps], ["code"])
    sp_names = _sp_names(ctx, {s.sp for s in doc.services})
    upsert(ctx.session, Service.__table__, [_service_row(s, sp_names[s.sp], now) for s in doc.services], ["code"])
    upsert(ctx.session, Subscriber.__table__, [_subscriber_row(s, now) for s in doc.subscribers], ["msisdn"])
    if doc.sps:
        _refresh_labels(ctx, [s.code for s in doc.sps])
    return ImportReport(len(doc.sps), len(doc.services), len(doc.subscribers))


def _check_references(ctx: Ctx, doc: CatalogDocument) -> None:
    in_doc = {s.code for s in doc.sps}
    wanted = {s.sp for s in doc.services} - in_doc
    known = set(ctx.session.scalars(select(Sp.code).where(Sp.code.in_(wanted)))) if wanted else set()
    for i, service in enumerate(doc.services):
        if service.sp not in in_doc and service.sp not in known:
            raise InvalidInput(f"services[{i}].sp: unknown SP {service.sp!r}", code="bad_record")
    seen: dict[tuple[str, str], int] = {}
    for i, service in enumerate(doc.services):
        if service.mo_keyword:
            key = (service.sp, service.mo_keyword)
            if key in seen:
                raise InvalidInput(
                    f"services[{i}].mo_keyword: {service.mo_keyword!r} already used by services[{seen[key]}]",
                    code="bad_record",
                )
            seen[key] = i


def _sp_names(ctx: Ctx, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(ctx.session.execute(select(Sp.code, Sp.name).where(Sp.code.in_(codes))).all())


def _sp_row(s: SpIn, now: Any) -> dict[str, Any]:
    return s.model_dump() | {"created_at": now, "updated_at": now}


def _service_row(s: ServiceIn, sp_name: str, now: Any) -> dict[str, Any]:
    data = s.model_dump()
    data["sp_code"] = data.pop("sp")
    data["reminder_label"] = reminder_label(sp_name, s.name, s.type, s.billing, s.price_fen)
    return data | {"created_at": now, "updated_at": now}


def _subscriber_row(s: SubscriberIn, now: Any) -> dict[str, Any]:
    return s.model_dump() | {"created_at": now, "updated_at": now}


def _refresh_labels(ctx: Ctx, sp_codes: list[str]) -> None:
    """Keep ``service.reminder_label`` true after an SP is renamed."""
    rows = ctx.session.execute(
        select(Service.code, Sp.name, Service.name, Service.type, Service.billing, Service.price_fen)
        .join(Sp, Sp.code == Service.sp_code)
        .where(Service.sp_code.in_(sp_codes))
    ).all()
    for code, sp_name, name, type_, billing, price in rows:
        ctx.session.execute(
            update(Service)
            .where(Service.code == code)
            .values(reminder_label=reminder_label(sp_name, name, type_, billing, price))
        )


def save_sp(ctx: Ctx, data: SpIn, *, actor: str = "system") -> Sp:
    now = ctx.now()
    audit.record_staff(
        ctx, actor=actor, action="catalog.sp.save", subject=f"sp:{data.code}", detail={"name": data.name}
    )
    upsert(ctx.session, Sp.__table__, [_sp_row(data, now)], ["code"])
    _refresh_labels(ctx, [data.code])
    return get_sp(ctx, data.code)


def save_service(ctx: Ctx, data: ServiceIn, *, actor: str = "system") -> Service:
    sp = get_sp(ctx, data.sp)
    if audit.staff_role(actor) is not None:
        old = ctx.session.scalar(select(Service.price_fen).where(Service.code == data.code))
        audit.record_staff(
            ctx,
            actor=actor,
            action="catalog.price" if old is not None and old != data.price_fen else "catalog.service.save",
            subject=f"service:{data.code}",
            detail={"from_fen": old, "to_fen": data.price_fen},
        )
    if data.mo_keyword:
        clash = ctx.session.scalar(
            select(Service.code).where(
                Service.sp_code == sp.code, Service.mo_keyword == data.mo_keyword, Service.code != data.code
            )
        )
        if clash:
            raise InvalidInput(f"keyword {data.mo_keyword!r} is already used by service {clash}")
    upsert(ctx.session, Service.__table__, [_service_row(data, sp.name, ctx.now())], ["code"])
    return get_service(ctx, data.code)


def save_subscriber(ctx: Ctx, data: SubscriberIn, *, actor: str = "system") -> Subscriber:
    audit.record_staff(
        ctx, actor=actor, action="catalog.subscriber.save", subject_msisdn=data.msisdn, detail={"status": data.status}
    )
    upsert(ctx.session, Subscriber.__table__, [_subscriber_row(data, ctx.now())], ["msisdn"])
    return get_subscriber(ctx, data.msisdn)


def get_sp(ctx: Ctx, code: str) -> Sp:
    sp = ctx.session.get(Sp, code)
    if sp is None:
        raise NotFound(f"no SP with code {code!r}", code="unknown_sp")
    return sp


def get_service(ctx: Ctx, code: str) -> Service:
    service = ctx.session.get(Service, code)
    if service is None:
        raise NotFound(f"no service with code {code!r}", code="unknown_service")
    return service


def get_subscriber(ctx: Ctx, msisdn: str) -> Subscriber:
    msisdn = normalize_msisdn(msisdn)
    sub = ctx.session.get(Subscriber, msisdn)
    if sub is None:
        raise NotFound(f"no subscriber {mask_msisdn(msisdn)}", code="unknown_subscriber")
    return sub


def find_service_by_keyword(ctx: Ctx, access_number: str, keyword: str) -> Service | None:
    return ctx.session.scalar(
        select(Service)
        .join(Sp, Sp.code == Service.sp_code)
        .where(Sp.access_number == access_number, Service.mo_keyword == keyword.upper())
    )


def sp_by_access_number(ctx: Ctx, number: str) -> Sp | None:
    return ctx.session.scalar(select(Sp).where(Sp.access_number == number))


def list_sps(ctx: Ctx) -> list[Sp]:
    return list(ctx.session.scalars(select(Sp).order_by(Sp.code)))


def list_services(ctx: Ctx, sp_code: str | None = None) -> list[Service]:
    stmt = select(Service).order_by(Service.code)
    if sp_code:
        stmt = stmt.where(Service.sp_code == sp_code)
    return list(ctx.session.scalars(stmt))


def list_subscribers(ctx: Ctx, limit: int = 100) -> list[Subscriber]:
    return list(ctx.session.scalars(select(Subscriber).order_by(Subscriber.msisdn).limit(limit)))


def count_subscribers(ctx: Ctx) -> int:
    return int(ctx.session.scalar(select(func.count()).select_from(Subscriber)) or 0)


def _record_status(ctx: Ctx, target: str, code: str, old: str, new: str, *, actor: str, reason: str | None) -> None:
    reason = (reason or "").strip() or None
    if new == "suspended" and old != "suspended" and reason is None:
        raise InvalidInput("say why: a suspension needs a reason", code="reason_required")
    ctx.session.add(
        CatalogStatusChange(
            id=new_id(),
            at=ctx.now(),
            target=target,
            code=code,
            from_status=old,
            to_status=new,
            reason=reason,
            actor=actor,
        )
    )


def _audit_status(ctx: Ctx, target: str, code: str, old: str, new: str, actor: str, reason: str | None) -> None:
    verb = "suspend" if new == "suspended" else "resume"
    audit.record_staff(
        ctx,
        actor=actor,
        action=f"catalog.{target}.{verb}",
        subject=f"{target}:{code}",
        detail={"from": old, "to": new, "reason": reason or ""},
    )


def set_sp_status(ctx: Ctx, code: str, status: str, *, actor: str = "system", reason: str | None = None) -> Sp:
    """Suspend or resume an SP; who did it and why is recorded (a suspension must say why)."""
    if status not in ("active", "suspended"):
        raise InvalidInput("status must be active or suspended")
    sp = get_sp(ctx, code)
    _record_status(ctx, "sp", sp.code, sp.status, status, actor=actor, reason=reason)
    _audit_status(ctx, "sp", sp.code, sp.status, status, actor, reason)
    ctx.session.execute(update(Sp).where(Sp.code == code).values(status=status, updated_at=ctx.now()))
    ctx.session.refresh(sp)
    return sp


def set_service_status(
    ctx: Ctx, code: str, status: str, *, actor: str = "system", reason: str | None = None
) -> Service:
    """Suspend or resume a service; who did it and why is recorded (a suspension must say why)."""
    if status not in ("active", "suspended"):
        raise InvalidInput("status must be active or suspended")
    service = get_service(ctx, code)
    _record_status(ctx, "service", service.code, service.status, status, actor=actor, reason=reason)
    _audit_status(ctx, "service", service.code, service.status, status, actor, reason)
    ctx.session.execute(update(Service).where(Service.code == code).values(status=status, updated_at=ctx.now()))
    ctx.session.refresh(service)
    return service


def status_changes(ctx: Ctx, *, limit: int = 20) -> list[CatalogStatusChange]:
    """The latest suspensions and resumptions, newest first."""
    stmt = select(CatalogStatusChange).order_by(CatalogStatusChange.at.desc(), CatalogStatusChange.id.desc())
    return list(ctx.session.scalars(stmt.limit(limit)))
