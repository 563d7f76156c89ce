"""Prometheus metrics of the SMS path.

Two kinds: counters the gateway process keeps as things happen (submits, answers, receipts,
throttling, reconnects), and gauges read from the outbox when /metrics is scraped (rows per
state over the last day, delivery rate, age of the oldest open MT). The database gauges are
cached for a few seconds so a busy scraper cannot load the outbox.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mingbai.db import Ctx

SUBMITS = Counter("mingbai_sms_submit_total", "submit_sm PDUs written to the SMSC", ["gateway"])
ANSWERS = Counter(
    "mingbai_sms_submit_resp_total",
    "submit_sm answers by class (ok, throttle, transient, permanent)",
    ["gateway", "outcome"],
)
RECEIPTS = Counter("mingbai_sms_receipt_total", "delivery receipts by final state", ["gateway", "state"])
MOS = Counter("mingbai_sms_mo_total", "mobile-originated SMS handed to the router", ["gateway"])
IN_DOUBT = Counter("mingbai_sms_in_doubt_total", "rows whose submit answer was lost (await a receipt)", ["gateway"])
RESUBMITTED = Counter("mingbai_sms_resubmitted_total", "in-doubt rows submitted again after the wait", ["gateway"])
RECONNECTS = Counter("mingbai_smpp_binds_total", "successful binds (the first and every reconnect)", ["gateway"])
BIND_FAILURES = Counter("mingbai_smpp_bind_failures_total", "failed connects or binds", ["gateway"])
BOUND = Gauge("mingbai_smpp_bound", "1 while bound to the SMSC", ["gateway"])
INFLIGHT = Gauge("mingbai_smpp_inflight", "submit_sm PDUs waiting for their answer", ["gateway"])
RATE = Gauge("mingbai_smpp_rate_limit", "current send ceiling in messages/second (lowered by throttling)", ["gateway"])


class OutboxCollector(Collector):
    """Gauges read from the outbox at scrape time (cached ``ttl`` seconds)."""

    def __init__(self, uow: Callable[[], Any], *, ttl: float = 10.0, window: timedelta = timedelta(hours=24)) -> None:
        self._uow = uow
        self._ttl = ttl
        self._window = window
        self._lock = threading.Lock()
        self._cached: tuple[float, list[GaugeMetricFamily]] | None = None

    def _read(self) -> list[GaugeMetricFamily]:
        from mingbai.messaging.outbox import outbox_stats

        with self._uow() as ctx:
            assert isinstance(ctx, Ctx)
            stats = outbox_stats(ctx, since=ctx.now() - self._window)
        states = GaugeMetricFamily(
            "mingbai_sms_outbox_rows", "outbox rows created in the last 24 h, by state", labels=["state"]
        )
        for state, n in stats.counts.items():
            states.add_metric([state], n)
        rate = GaugeMetricFamily("mingbai_sms_delivery_rate", "delivered ÷ final rows, last 24 h")
        rate.add_metric([], stats.delivery_rate if stats.delivery_rate is not None else float("nan"))
        oldest = GaugeMetricFamily("mingbai_sms_oldest_open_seconds", "age of the oldest MT not yet final")
        oldest.add_metric([], stats.oldest_open.age_seconds if stats.oldest_open else 0.0)
        orphans = GaugeMetricFamily("mingbai_sms_orphan_receipts", "receipts that matched no MT, last 24 h")
        orphans.add_metric([], stats.orphan_receipts)
        return [states, rate, oldest, orphans]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self._ttl:
                try:
                    self._cached = (now, self._read())
                except Exception:  # a scrape must not fail because the database blinked
                    return iter(())
            return iter(self._cached[1])


def registry_with_outbox(uow: Callable[[], Any]) -> CollectorRegistry:
    """The process-wide metrics plus the outbox gauges of one platform."""
    from prometheus_client import REGISTRY

    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Forward(REGISTRY))
    reg.register(OutboxCollector(uow))
    return reg


class _Forward(Collector):
    def __init__(self, inner: CollectorRegistry) -> None:
        self._inner = inner

    def collect(self) -> Iterator[Any]:
        return iter(self._inner.collect())
