"""Stock-wide reminder campaigns (R4, seed 004): every existing subscription reminded once,
in the seed's batches (brand × service kind × recency, sensitive subscribers first), paced at a
set rate inside a date window and never in the quiet hours."""
