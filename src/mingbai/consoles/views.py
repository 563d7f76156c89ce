"""Read models the console pages share: a subscriber's subscriptions with their own history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from mingbai.db import Ctx
from mingbai.subscriptions import service as subs
from mingbai.subscriptions.service import EventView, SubscriptionView


@dataclass(frozen=True)
class SubscriptionCard:
    """One subscription with the 15 fields of R5 (the view has them) and its change history."""

    sub: SubscriptionView
    events: list[EventView]

    @property
    def free_until(self) -> date | None:
        """The last free day of a trial: the day before the first monthly fee."""
        if self.sub.trial and self.sub.first_charge_on:
            return self.sub.first_charge_on - timedelta(days=1)
        return None


def subscription_cards(ctx: Ctx, msisdn: str, *, active_only: bool = False) -> list[SubscriptionCard]:
    """Every subscription (oldest first) with the events of its order and of itself, one year back."""
    return [
        SubscriptionCard(view, events)
        for view, events in subs.subscriptions_with_history(ctx, msisdn=msisdn, active_only=active_only)
    ]
