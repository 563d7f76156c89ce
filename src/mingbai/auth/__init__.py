"""Who is calling: API keys for SPs and staff, and the roles every route declares."""
