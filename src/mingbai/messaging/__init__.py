"""Messaging: SMS in (MO) and out (MT). Every MT is first written to the outbox in the same
transaction as the change it announces, then a dispatcher hands it to a gateway."""
