"""Subscriptions (R2–R5): orders that wait for the subscriber's confirmation (二次确认), the free
trial (放心体验), the reminders that announce every change, and "0000" query & unsubscribe."""
