"""The inline filter: content model + port rules + sender behaviour → block / review / pass.

``SpamEngine.check`` is the hot path an SMSC interception hook calls for every message. It
reads one immutable :class:`Snapshot` (strategy, model, port registry, marked senders) that
is replaced as a whole when a new strategy version or a port sanction lands, so a change
takes effect on the next message without a restart and a message never sees half of one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mingbai.spam.behaviour import BehaviourTracker
from mingbai.spam.features import distinct_ids, length_bucket, minhash_bands, ngram_buckets, signature_of
from mingbai.spam.model import ContentModel, to_logit, to_score
from mingbai.spam.rules import PORT_TYPES, Strategy

#: with the content model switched off, rules push up from this floor (score ≈ 0.0025)
_CONTENT_OFF = -6.0


@dataclass(frozen=True, slots=True)
class Message:
    """One SMS in transit. ``port_type``: person (a mobile number), industry (a bulk-SMS
    port such as 106…), international (a number from abroad)."""

    sender: str
    recipient: str
    text: str
    port_type: str = "person"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: str  # block | review | pass
    score: float
    reasons: tuple[str, ...]
    strategy_version: int
    model_version: str

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "score": self.score,
            "reasons": list(self.reasons),
            "strategy_version": self.strategy_version,
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class PortInfo:
    owner: str
    signature: str
    state: str


@dataclass(frozen=True)
class Snapshot:
    strategy: Strategy
    model: ContentModel
    ports: Mapping[str, PortInfo] = field(default_factory=dict)
    #: person senders marked by confirmed reports: msisdn → "watched" | "blocked"
    senders: Mapping[str, str] = field(default_factory=dict)


class SpamEngine:
    def __init__(self, snapshot: Snapshot) -> None:
        self.tracker = BehaviourTracker(snapshot.strategy.burst_window_seconds)
        self.install(snapshot)

    def install(self, snapshot: Snapshot) -> None:
        """Swap in a new strategy/registry; the next message uses it (one attribute store)."""
        block, review = snapshot.strategy.thresholds(snapshot.model.block_at, snapshot.model.review_at)
        self.tracker.burst_window = snapshot.strategy.burst_window_seconds
        self._state = (snapshot, to_logit(block), to_logit(review), frozenset(snapshot.strategy.behaviour_port_types))

    @property
    def snapshot(self) -> Snapshot:
        return self._state[0]

    def check(self, msg: Message, now: float) -> Decision:
        """Decide one message; ``now`` is seconds since the epoch (for the behaviour windows)."""
        snap, block_z, review_z, tracked = self._state
        strategy = snap.strategy
        text = msg.text
        port_type = msg.port_type
        if port_type not in PORT_TYPES:
            raise ValueError(f"port_type must be one of {', '.join(PORT_TYPES)}")
        reasons: list[str] = []
        hard = False
        boost = 0.0

        if strategy.port_rules:
            if port_type == "industry":
                port = snap.ports.get(msg.sender)
                if port is None:
                    if strategy.block_unregistered_ports:
                        reasons.append("port_unregistered")
                        hard = True
                elif port.state == "closed":
                    reasons.append("port_closed")
                    hard = True
                else:
                    sig = signature_of(text)
                    if sig is None:
                        reasons.append("port_unsigned")
                        hard = True
                    elif sig != port.signature:
                        reasons.append("port_signature_mismatch")
                        hard = True
                    elif port.state == "warned":
                        reasons.append("port_warned")
                        boost += strategy.warned_port_boost
                    elif port.state == "penalised":
                        reasons.append("port_penalised")
                        boost += strategy.penalised_port_boost
            elif port_type == "international":
                boost += strategy.international_boost
            mark = snap.senders.get(msg.sender) if snap.senders else None
            if mark == "blocked":
                reasons.append("sender_blocked")
                hard = True
            elif mark == "watched":
                reasons.append("sender_reported")
                boost += strategy.watched_sender_boost

        grams = ngram_buckets(text)
        if strategy.content:
            content_z = snap.model.linear_ids(distinct_ids(grams), length_bucket(len(text)))
        else:
            content_z = _CONTENT_OFF

        if strategy.behaviour and port_type in tracked:
            bands = minhash_bands(grams) if strategy.near_duplicates else None
            per_minute, per_hour, burst = self.tracker.observe(msg.sender, msg.recipient, bands, now)
            if per_minute > strategy.max_per_minute:
                reasons.append("sender_rate")
                boost += strategy.rate_boost
            if per_hour > strategy.max_recipients_per_hour:
                reasons.append("sender_fanout")
                boost += strategy.fanout_boost
            if burst > strategy.burst_recipients:
                reasons.append("near_duplicate_burst")
                boost += strategy.burst_boost

        z = content_z + boost
        if content_z >= review_z:
            reasons.append("content")
        if hard or z >= block_z:
            verdict = "block"
        elif z >= review_z:
            verdict = "review"
        else:
            verdict = "pass"
        return Decision(verdict, round(to_score(z), 4), tuple(reasons), strategy.version, snap.model.version)
