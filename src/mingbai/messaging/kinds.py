"""Every kind of MT the outbox holds: one vocabulary for its writers, for set-based SQL (as a
bound parameter), for the dashboard and for the consoles' labels (``kind.<value>``).

Pure: no database, no clock. A new kind of MT is added here first; ``tests/unit/test_kinds.py``
then asks for its two labels and for a writer.
"""

from __future__ import annotations

from enum import StrEnum


class MessageKind(StrEnum):
    #: the answer to an MO (help, refusals, "send Y", …)
    REPLY = "reply"
    #: the answer to a "查询"/"0000" query: the subscriber's services
    QUERY_REPLY = "query_reply"
    #: R2: the order's confirmation request with its code
    CONFIRMATION_REQUEST = "confirmation_request"
    #: R4: "you have ordered …", after a confirmed order
    ORDER_REMINDER = "order_reminder"
    #: R4: "you have unsubscribed …"
    UNSUBSCRIBE_CONFIRMATION = "unsubscribe_confirmation"
    #: R4: the 21st–25th "(1/2)…(2/2)" reminder
    MONTHLY_REMINDER = "monthly_reminder"
    #: a stock-wide reminder campaign's SMS
    CAMPAIGN = "campaign"
    #: R6: the deduction reminder of one charge (its outbox id is the charge's id)
    CHARGE_REMINDER = "charge_reminder"
    #: an objection to a charge was accepted
    OBJECTION_ACK = "objection_ack"
    #: the services reminder when a subscriber is activated (入网提醒)
    ENTRY_REMINDER = "entry_reminder"
    #: data usage alerts (first use, package used up, roaming)
    TRAFFIC_ALERT = "traffic_alert"
    #: a spam report's outcome, told to the reporter
    NOTICE = "notice"
    #: a sign-in code for the subscriber portal
    LOGIN_CODE = "login_code"
    #: R8: a dispute's result or progress, with the amounts and the rule
    DISPUTE = "dispute"
    #: R13: a vault request, with the one-time code an approver replies with (sealed)
    VAULT_CODE = "vault_code"
    #: R13: the subscriber is told their CDRs or location were queried (who, when, why)
    VAULT_NOTICE = "vault_notice"
    #: R13: security is told of a break-glass access at once
    VAULT_ALERT = "vault_alert"


#: kinds the subscriber is owed as reminders (R4, R6), in the order the dashboard stacks them
REMINDER_KINDS: tuple[MessageKind, ...] = (
    MessageKind.CONFIRMATION_REQUEST,
    MessageKind.ORDER_REMINDER,
    MessageKind.UNSUBSCRIBE_CONFIRMATION,
    MessageKind.MONTHLY_REMINDER,
    MessageKind.CHARGE_REMINDER,
)
