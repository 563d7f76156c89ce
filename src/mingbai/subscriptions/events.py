"""Every kind of ``subscription_event``: one vocabulary for its writers (``record_event``,
set-based inserts, charging's objections) and for the consoles' labels (``event.<value>``).

Pure: no database, no clock. ``tests/unit/test_kinds.py`` asks each kind for its two labels.
"""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    ORDER_PLACED = "order_placed"
    ORDER_CONFIRMED = "order_confirmed"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    #: a code reply after the order had expired
    LATE_CODE = "late_code"
    CODE_REJECTED = "code_rejected"
    #: too many wrong codes: the order is failed
    CODE_LOCKED = "code_locked"
    #: a right code, but the order could not be honoured (SP or service closed, …)
    ORDER_REFUSED = "order_refused"
    #: no reply within the code's lifetime
    ORDER_EXPIRED = "order_expired"
    #: R6: the subscriber objected to a charge (the subscription is ended with it)
    CHARGE_OBJECTED = "charge_objected"
    #: R8: a dispute about the subscription's charges was opened (and decided by rule, or not yet)
    DISPUTE_OPENED = "dispute_opened"
    #: R8: the verification step (or the 72-hour deadline) decided it
    DISPUTE_DECIDED = "dispute_decided"
    #: R8: an agent refunded a verified charge at discretion (plain, flagged)
    DISPUTE_DISCRETIONARY = "dispute_discretionary"
