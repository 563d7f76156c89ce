"""In-process gateway: the embedded default and the test twin of the SMSC.

It "delivers" at once; the handset page reads delivered rows from the outbox, so nothing is
lost when the process restarts.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from mingbai.messaging.gateways.base import SubmitResult


@dataclass
class DeliveredSms:
    sender: str
    recipient: str
    parts: list[str]
    outbox_id: int


@dataclass
class LoopbackGateway:
    name: str = "loopback"
    inline: bool = True
    #: the most recent deliveries, for tests; bounded so a long-running demo does not grow
    delivered: deque[DeliveredSms] = field(default_factory=lambda: deque(maxlen=10_000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, *, sender: str, recipient: str, parts: list[str], outbox_id: int) -> SubmitResult:
        with self._lock:
            self.delivered.append(DeliveredSms(sender, recipient, parts, outbox_id))
        return SubmitResult(ref=f"loop-{outbox_id}", delivered=True)
