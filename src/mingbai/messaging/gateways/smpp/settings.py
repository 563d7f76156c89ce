"""How to reach the SMSC: :class:`SmppConfig`, read from ``MINGBAI_SMSC_*`` (docs/SMS.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class SmppConfig:
    """How to reach the SMSC; ``from_env`` reads ``MINGBAI_SMSC_*`` (docs/SMS.md)."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = "10086"
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 0
    dest_npi: int = 1
    #: submit_sm PDUs per second (every part counts); throttling lowers it for a while
    rate: float = 100.0
    #: submit_sm awaiting their answer at most
    window: int = 50
    enquire_link_s: float = 30.0
    response_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    reconnect_max_s: float = 60.0
    #: how long an in-doubt MT waits for a receipt before it is submitted again
    doubt_wait_s: float = 600.0
    lease_ttl_s: float = 15.0

    def __post_init__(self) -> None:
        problems = []
        if not self.host:
            problems.append("host is empty")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is not a TCP port")
        if not self.system_id or len(self.system_id) > 15:
            problems.append("system_id must be 1–15 characters (SMPP 3.4 §5.2.1)")
        if len(self.password) > 8:
            problems.append("password may be at most 8 characters (SMPP 3.4 §5.2.2)")
        if len(self.system_type) > 12:
            problems.append("system_type may be at most 12 characters")
        if not self.source_addr or len(self.source_addr) > 20:
            problems.append("source address must be 1–20 characters")
        if self.rate <= 0:
            problems.append("rate must be a positive number of messages per second")
        if not 1 <= self.window <= 10_000:
            problems.append("window must be 1–10000")
        if problems:
            raise ValueError("SMSC configuration: " + "; ".join(problems))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> SmppConfig | None:
        """None when no SMSC is configured (``MINGBAI_SMSC_HOST`` unset): the loopback stays."""
        e = dict(os.environ if env is None else env)
        host = e.get("MINGBAI_SMSC_HOST", "").strip()
        if not host:
            return None

        def num(name: str, default: float) -> float:
            raw = e.get(name, "").strip()
            try:
                return float(raw) if raw else default
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None

        return cls(
            host=host,
            port=int(num("MINGBAI_SMSC_PORT", 2775)),
            system_id=e.get("MINGBAI_SMSC_SYSTEM_ID", ""),
            password=e.get("MINGBAI_SMSC_PASSWORD", ""),
            system_type=e.get("MINGBAI_SMSC_SYSTEM_TYPE", ""),
            source_addr=e.get("MINGBAI_SMSC_SOURCE_ADDR", "10086"),
            rate=num("MINGBAI_SMSC_RATE", 100.0),
            window=int(num("MINGBAI_SMSC_WINDOW", 50)),
            enquire_link_s=num("MINGBAI_SMSC_ENQUIRE_LINK_S", 30.0),
            doubt_wait_s=num("MINGBAI_SMSC_DOUBT_WAIT_S", 600.0),
            lease_ttl_s=num("MINGBAI_SMSC_LEASE_TTL_S", 15.0),
        )

    def describe(self) -> str:
        return (
            f"{self.system_id}@{self.host}:{self.port} "
            f"(source {self.source_addr}, {self.rate:g} msg/s, window {self.window})"
        )
