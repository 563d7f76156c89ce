"""Pure SMS rules: how long a text is on the air and how it is cut into parts.

An SMS holds 140 octets. Chinese text travels as UCS-2 (UTF-16 code units, two octets
each): 70 units in a single SMS, 67 per part once a 6-octet concatenation header (UDH) is
added. A character outside the BMP (most emoji) takes two units and must not be cut in half.
"""

from __future__ import annotations

SINGLE_UCS2 = 70
CONCAT_UCS2 = 67


def ucs2_units(text: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _take(text: str, start: int, budget: int) -> int:
    """Index after the longest run of ``text[start:]`` that fits in ``budget`` UTF-16 units."""
    used = 0
    i = start
    while i < len(text):
        cost = 2 if ord(text[i]) > 0xFFFF else 1
        if used + cost > budget:
            break
        used += cost
        i += 1
    return i


def split_concatenated(text: str) -> list[str]:
    """Parts of a concatenated SMS; the handset shows them joined as one message."""
    if ucs2_units(text) <= SINGLE_UCS2:
        return [text]
    parts: list[str] = []
    i = 0
    while i < len(text):
        j = _take(text, i, CONCAT_UCS2)
        parts.append(text[i:j])
        i = j
    return parts


_BREAKS = "；;。，,、\n "


def _chunks(text: str, budget: int) -> list[str]:
    chunks: list[str] = []
    i = 0
    while i < len(text):
        j = _take(text, i, budget)
        if j < len(text):
            # Prefer to end a part after a list item or sentence, as the seed's (1/2)… does,
            # if that keeps at least half of the part's room in use.
            cut = max(text.rfind(b, i, j) for b in _BREAKS)
            if cut >= 0 and ucs2_units(text[i : cut + 1]) >= budget // 2:
                j = cut + 1
        chunks.append(text[i:j])
        i = j
    return chunks


def numbered_parts(text: str, limit: int = SINGLE_UCS2) -> list[str]:
    """Separate SMS each prefixed "(i/n)", each within one SMS (the seed's monthly reminder).

    Each part stands alone on any handset, which is why the seed numbers them instead of
    relying on concatenation headers that older phones ignored.
    """
    if ucs2_units(text) <= limit:
        return [text]
    n = 2
    while True:
        budget = limit - len(f"({n}/{n})")
        chunks = _chunks(text, budget)
        if len(chunks) <= n:
            total = len(chunks)
            return [f"({k}/{total}){c}" for k, c in enumerate(chunks, start=1)]
        n = len(chunks)


def parts_for(text: str, segmentation: str) -> list[str]:
    """What goes on the air for an outbox row."""
    if segmentation == "numbered":
        return numbered_parts(text)
    return split_concatenated(text)
