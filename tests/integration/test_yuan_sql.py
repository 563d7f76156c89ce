"""The deduction reminders' SQL says an amount exactly as :func:`catalog.rules.yuan` does."""

from __future__ import annotations

import sqlite3

from mingbai.catalog.rules import yuan, yuan_sql


def test_yuan_sql_says_what_yuan_says() -> None:
    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE TABLE c (amount_fen INTEGER)")
        conn.executemany("INSERT INTO c VALUES (?)", [(f,) for f in range(0, 2001)])
        rows = conn.execute(f"SELECT c.amount_fen, {yuan_sql('c.amount_fen')} FROM c").fetchall()
    assert len(rows) == 2001
    for fen, text in rows:
        assert text == yuan(fen)
