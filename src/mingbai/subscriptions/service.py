"""The subscription use cases, in one namespace for their many callers (edges, consoles, charging).

Each lives in the module of its idea: :mod:`.orders` (place an order), :mod:`.codes` (decide a
code reply), :mod:`.unsubscribe` (end subscriptions, the "0000" menu), :mod:`.queries` (reads),
and :mod:`.shared` (the event writer, subscriber locks, catalog facts, waves). Every function runs
inside the caller's unit of work (never commits), locks the subscriber's row first when it
changes anything of theirs, and appends an event for every state change.
"""

from __future__ import annotations

from mingbai.subscriptions.codes import CODE_LOOKBACK, CodeOutcome, CodeReply, reply_code, reply_codes
from mingbai.subscriptions.orders import OrderRequest, PlacedOrder, get_order, place_order, place_orders
from mingbai.subscriptions.queries import (
    EventView,
    SubscriptionView,
    gift_label,
    gifts_given,
    history,
    list_orders,
    list_sp_subscriptions,
    list_subscriptions,
    subscriptions_with_history,
)
from mingbai.subscriptions.shared import (
    CatalogEntry,
    catalog_entries,
    catalog_entry,
    code_key,
    event_row,
    lock_subscriber,
    lock_subscribers,
    record_event,
    record_events,
    waves,
)
from mingbai.subscriptions.unsubscribe import Unsubscribed, choose_from_menu, query, unsubscribe

__all__ = [
    "CODE_LOOKBACK",
    "CatalogEntry",
    "CodeOutcome",
    "CodeReply",
    "EventView",
    "OrderRequest",
    "PlacedOrder",
    "SubscriptionView",
    "Unsubscribed",
    "catalog_entries",
    "catalog_entry",
    "choose_from_menu",
    "code_key",
    "event_row",
    "get_order",
    "gift_label",
    "gifts_given",
    "history",
    "list_orders",
    "list_sp_subscriptions",
    "list_subscriptions",
    "lock_subscriber",
    "lock_subscribers",
    "place_order",
    "place_orders",
    "query",
    "record_event",
    "record_events",
    "reply_code",
    "reply_codes",
    "subscriptions_with_history",
    "unsubscribe",
    "waves",
]
