"""Catalog (R1): SPs, their services and the operator's subscribers. Small reference
tables except ``subscriber``, which is keyed by MSISDN like every subscriber-scoped table."""
