"""Spam use cases: strategies, the port registry, decisions and the review queue.

Every function takes a :class:`Ctx` and never commits. Changes a running filter must see
(strategy, ports, marked senders) bump the generation counter so every filter reloads.
Reports to 10086999 are in :mod:`mingbai.spam.reports`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from mingbai.audit import service as audit
from mingbai.db import Ctx
from mingbai.errors import Conflict, InvalidInput, NotFound
from mingbai.ids import new_id
from mingbai.msisdn import mask_msisdn
from mingbai.spam.engine import Decision, Message, PortInfo, Snapshot
from mingbai.spam.model import load_model, shipped_version
from mingbai.spam.models import (
    SpamDecision,
    SpamGeneration,
    SpamPort,
    SpamPortEvent,
    SpamReview,
    SpamSenderMark,
    SpamStrategy,
    SpamStrategyActivation,
)
from mingbai.spam.rules import PORT_STATES, Strategy, strategy_from_config, validate_port, validate_signature

#: set on a session whose transaction changed what filters see; see runtime.py
CHANGED_FLAG = "mingbai_spam_changed"


def bump_generation(ctx: Ctx) -> None:
    result = ctx.session.execute(
        update(SpamGeneration).where(SpamGeneration.name == "spam").values(value=SpamGeneration.value + 1)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        ctx.session.execute(insert(SpamGeneration), {"name": "spam", "value": 1})
    ctx.session.info[CHANGED_FLAG] = True


def generation(ctx: Ctx) -> int:
    value = ctx.session.scalar(select(SpamGeneration.value).where(SpamGeneration.name == "spam"))
    return int(value or 0)


# -- strategies --------------------------------------------------------------------------------


def _strategy(row: SpamStrategy) -> Strategy:
    return strategy_from_config(row.version, row.config)


def ensure_default_strategy(ctx: Ctx) -> None:
    """Version 1 is the built-in defaults with the shipped model, in force until replaced."""
    if ctx.session.scalar(select(func.count()).select_from(SpamStrategy)):
        return
    default = Strategy(version=1, model_version=shipped_version())
    now = ctx.now()
    ctx.session.execute(
        insert(SpamStrategy),
        {
            "version": 1,
            "config": default.config(),
            "note": "built-in defaults",
            "created_at": now,
            "created_by": "system",
        },
    )
    ctx.session.execute(
        insert(SpamStrategyActivation), {"id": new_id(), "version": 1, "activated_at": now, "actor": "system"}
    )
    bump_generation(ctx)


def active_strategy(ctx: Ctx) -> Strategy:
    ensure_default_strategy(ctx)
    version = ctx.session.scalar(
        select(SpamStrategyActivation.version)
        .order_by(SpamStrategyActivation.activated_at.desc(), SpamStrategyActivation.id.desc())
        .limit(1)
    )
    return get_strategy(ctx, int(version or 1))


def get_strategy(ctx: Ctx, version: int) -> Strategy:
    row = ctx.session.get(SpamStrategy, version)
    if row is None:
        raise NotFound(f"no strategy version {version}")
    return _strategy(row)


@dataclass(frozen=True)
class StrategyRow:
    version: int
    active: bool
    note: str | None
    created_at: datetime
    created_by: str
    config: dict[str, Any]


def list_strategies(ctx: Ctx) -> list[StrategyRow]:
    active = active_strategy(ctx).version
    rows = ctx.session.scalars(select(SpamStrategy).order_by(SpamStrategy.version))
    return [StrategyRow(r.version, r.version == active, r.note, r.created_at, r.created_by, r.config) for r in rows]


def create_strategy(
    ctx: Ctx, *, changes: dict[str, Any], actor: str, base_version: int | None = None, note: str | None = None
) -> Strategy:
    """A new version: ``base_version`` (default: the active one) with ``changes`` laid over it.
    Not in force until activated."""
    base = get_strategy(ctx, base_version) if base_version is not None else active_strategy(ctx)
    latest = int(ctx.session.scalar(select(func.max(SpamStrategy.version))) or 0)
    strategy = strategy_from_config(latest + 1, changes, base)
    load_model(strategy.model_version)  # refuse a model version that cannot be loaded
    ctx.session.execute(
        insert(SpamStrategy),
        {
            "version": strategy.version,
            "config": strategy.config(),
            "note": (note or "")[:500] or None,
            "created_at": ctx.now(),
            "created_by": actor[:64],
        },
    )
    audit.record_staff(
        ctx, actor=actor, action="config.spam_strategy.create", subject=f"strategy:{strategy.version}", detail=changes
    )
    return strategy


def activate_strategy(ctx: Ctx, version: int, *, actor: str) -> Strategy:
    strategy = get_strategy(ctx, version)
    load_model(strategy.model_version)
    ctx.session.execute(
        insert(SpamStrategyActivation),
        {"id": new_id(), "version": version, "activated_at": ctx.now(), "actor": actor[:64]},
    )
    audit.record_staff(ctx, actor=actor, action="config.spam_strategy.activate", subject=f"strategy:{version}")
    bump_generation(ctx)
    return strategy


# -- the snapshot a filter runs on ---------------------------------------------------------------------


def load_snapshot(ctx: Ctx) -> tuple[int, Snapshot]:
    strategy = active_strategy(ctx)
    ports = {
        r.port: PortInfo(r.owner, r.signature, r.state)
        for r in ctx.session.execute(select(SpamPort.port, SpamPort.owner, SpamPort.signature, SpamPort.state))
    }
    senders = {
        r.msisdn: r.state
        for r in ctx.session.execute(
            select(SpamSenderMark.msisdn, SpamSenderMark.state).where(SpamSenderMark.state.in_(("watched", "blocked")))
        )
    }
    return generation(ctx), Snapshot(strategy, load_model(strategy.model_version), ports, senders)


# -- ports --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortView:
    port: str
    owner: str
    signature: str
    province: str | None
    state: str
    updated_at: datetime


def _port_view(row: SpamPort) -> PortView:
    return PortView(row.port, row.owner, row.signature, row.province, row.state, row.updated_at)


def _port_event(ctx: Ctx, port: str, from_state: str | None, to_state: str, reason: str, actor: str) -> None:
    ctx.session.execute(
        insert(SpamPortEvent),
        {
            "port": port,
            "id": new_id(),
            "at": ctx.now(),
            "from_state": from_state,
            "to_state": to_state,
            "reason": reason[:200],
            "actor": actor[:64],
        },
    )


def register_port(
    ctx: Ctx, *, port: str, owner: str, signature: str, actor: str, province: str | None = None
) -> PortView:
    port = validate_port(port)
    signature = validate_signature(signature)
    owner = owner.strip()
    if not 1 <= len(owner) <= 64:
        raise InvalidInput("owner must be 1–64 characters")
    if province is not None and not 1 <= len(province.strip()) <= 16:
        raise InvalidInput("province must be 1–16 characters")
    if ctx.session.get(SpamPort, port) is not None:
        raise Conflict(f"port {port} is already registered")
    now = ctx.now()
    ctx.session.execute(
        insert(SpamPort),
        {
            "port": port,
            "owner": owner,
            "signature": signature,
            "province": province.strip() if province else None,
            "state": "active",
            "created_at": now,
            "updated_at": now,
        },
    )
    _port_event(ctx, port, None, "active", f"registered for {owner} with signature 【{signature}】", actor)
    audit.record_staff(
        ctx,
        actor=actor,
        action="spam.port.register",
        subject=f"port:{port}",
        detail={"owner": owner, "signature": signature},
    )
    bump_generation(ctx)
    return get_port(ctx, port)


def get_port(ctx: Ctx, port: str) -> PortView:
    row = ctx.session.get(SpamPort, port.strip())
    if row is None:
        raise NotFound(f"no registered port {port}")
    return _port_view(row)


def list_ports(ctx: Ctx, *, state: str | None = None) -> list[PortView]:
    stmt = select(SpamPort).order_by(SpamPort.port)
    if state:
        stmt = stmt.where(SpamPort.state == state)
    return [_port_view(r) for r in ctx.session.scalars(stmt)]


def set_port_state(ctx: Ctx, *, port: str, state: str, reason: str, actor: str) -> PortView:
    if state not in PORT_STATES:
        raise InvalidInput(f"state must be one of {', '.join(PORT_STATES)}")
    if not reason.strip():
        raise InvalidInput("say why the port's state changes")
    row = ctx.session.get(SpamPort, port.strip(), with_for_update=True)
    if row is None:
        raise NotFound(f"no registered port {port}")
    if row.state != state:
        _port_event(ctx, row.port, row.state, state, reason.strip(), actor)
        audit.record_staff(
            ctx,
            actor=actor,
            action=f"spam.port.{state}",
            subject=f"port:{row.port}",
            detail={"from": row.state, "to": state, "reason": reason.strip()},
        )
        row.state = state
        row.updated_at = ctx.now()
        ctx.session.flush()
        bump_generation(ctx)
    return _port_view(row)


@dataclass(frozen=True)
class PortEventView:
    at: datetime
    from_state: str | None
    to_state: str
    reason: str
    actor: str


def port_history(ctx: Ctx, port: str) -> list[PortEventView]:
    get_port(ctx, port)
    rows = ctx.session.scalars(
        select(SpamPortEvent).where(SpamPortEvent.port == port.strip()).order_by(SpamPortEvent.id)
    )
    return [PortEventView(r.at, r.from_state, r.to_state, r.reason, r.actor) for r in rows]


# -- decisions and the review queue ----------------------------------------------------------------


def record_decision(ctx: Ctx, msg: Message, decision: Decision) -> int | None:
    """Keep what must be kept: a blocked message in the decision log, a grey one in the
    review queue. A pass is not stored (it was delivered; its verdict went to the caller)."""
    if decision.verdict == "pass":
        return None
    row_id = new_id()
    common = {
        "msisdn": msg.recipient,
        "id": row_id,
        "sender": msg.sender,
        "port_type": msg.port_type,
        "score": decision.score,
        "reasons": list(decision.reasons),
        "strategy_version": decision.strategy_version,
        "model_version": decision.model_version,
        "text": msg.text,
    }
    if decision.verdict == "block":
        ctx.session.execute(insert(SpamDecision), {**common, "at": ctx.now(), "verdict": "block"})
    else:
        ctx.session.execute(insert(SpamReview), {**common, "created_at": ctx.now(), "status": "open"})
    return row_id


@dataclass(frozen=True)
class ReviewItem:
    """What a reviewer sees: everything masked except the text."""

    id: int
    sender: str
    recipient: str
    port_type: str
    text: str
    score: float
    reasons: list[str]
    strategy_version: int
    created_at: datetime
    status: str
    label: str | None


def _review_item(row: SpamReview) -> ReviewItem:
    return ReviewItem(
        row.id,
        # a reviewer never sees full numbers (an industry port's too): the text is what they judge
        mask_msisdn(row.sender),
        mask_msisdn(row.msisdn),
        row.port_type,
        row.text,
        row.score,
        list(row.reasons),
        row.strategy_version,
        row.created_at,
        row.status,
        row.label,
    )


def list_reviews(ctx: Ctx, *, status: str = "open", limit: int = 50) -> list[ReviewItem]:
    if status not in ("open", "decided", "all"):
        raise InvalidInput("status must be open, decided or all")
    stmt = select(SpamReview).order_by(SpamReview.created_at, SpamReview.id).limit(max(1, min(limit, 500)))
    if status != "all":
        stmt = stmt.where(SpamReview.status == status)
    return [_review_item(r) for r in ctx.session.scalars(stmt)]


def decide_review(ctx: Ctx, *, review_id: int, label: str, reviewer: str) -> ReviewItem:
    if label not in ("spam", "ham"):
        raise InvalidInput("label must be spam or ham")
    row = ctx.session.scalars(select(SpamReview).where(SpamReview.id == review_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no review item {review_id}")
    if row.status != "open":
        raise Conflict(f"review item {review_id} was already decided ({row.label}) by {row.decided_by}")
    row.status = "decided"
    row.label = label
    row.decided_by = reviewer[:64]
    row.decided_at = ctx.now()
    ctx.session.flush()
    audit.record_staff(
        ctx, actor=reviewer, action="spam.review.decide", subject=f"review:{review_id}", detail={"label": label}
    )
    return _review_item(row)


@dataclass(frozen=True)
class LabeledText:
    label: int
    text: str
    source: str


def labeled_examples(ctx: Ctx) -> list[LabeledText]:
    """People's decisions as training data: review labels and verified reports."""
    from mingbai.spam.models import SpamReport

    out = [
        LabeledText(1 if r.label == "spam" else 0, r.text, f"review:{r.id}")
        for r in ctx.session.scalars(select(SpamReview).where(SpamReview.status == "decided").order_by(SpamReview.id))
    ]
    out += [
        LabeledText(1 if r.status == "confirmed" else 0, r.content, f"report:{r.id}")
        for r in ctx.session.scalars(
            select(SpamReport).where(SpamReport.status.in_(("confirmed", "rejected"))).order_by(SpamReport.id)
        )
        if r.content.strip()
    ]
    return out


def blocked_count(ctx: Ctx, *, since: datetime, until: datetime) -> int:
    return int(
        ctx.session.scalar(
            select(func.count()).select_from(SpamDecision).where(SpamDecision.at >= since, SpamDecision.at < until)
        )
        or 0
    )
