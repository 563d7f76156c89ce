"""Pure feature extraction for the content model and the near-duplicate rule.

No word segmentation: character n-grams (1–4) of a normalised text carry the signal (jieba
would cost ~50× the whole scoring path and does not help here). Each n-gram is hashed into
one of 2**20 buckets by a stable polynomial hash over its code points, computed for all
n-grams of a message at once with numpy — a handful of array operations per message, so the
cost barely grows with the length of the text. Training calls the very same
:func:`feature_ids`, so the run-time score is exactly the trained linear function.

Normalisation folds what a spammer varies for free: full-width forms (ＡＢＣ１２３！) to
ASCII, Latin letters to lower case, control characters and the ideographic space to spaces.
Features never need the normalised string: the hashing path folds code points through a
lookup table built from the same mapping.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

#: bumped whenever normalisation or hashing change meaning; a model file records the scheme
#: it was trained with and is refused by a different one.
FEATURE_SCHEME = "char-ngram-hash-v3"

#: bits of the hashed feature space (2**20 buckets, as sklearn's HashingVectorizer)
BITS = 20
N_BUCKETS = 1 << BITS
ORDERS = 4

#: longest text looked at; a concatenated SMS stays far below, the cap bounds hostile input
MAX_CHARS = 1000

IdArray = npt.NDArray[np.int64]


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(32):
        table[code] = " "
    for code in range(0xFF01, 0xFF5F):  # full-width ASCII block → ASCII
        table[code] = chr(code - 0xFF01 + 0x21)
    for code in range(ord("A"), ord("Z") + 1):
        table[code] = chr(code + 32)
    for code in range(0xFF21, 0xFF3B):  # full-width capitals → lower-case ASCII
        table[code] = chr(code - 0xFF21 + ord("a"))
    table[0x3000] = " "
    return table


NORMALIZE_TABLE = _build_table()


def normalize(text: str) -> str:
    """Fold full-width forms, case and control characters; cut hostile lengths."""
    return text[:MAX_CHARS].translate(NORMALIZE_TABLE)


def _build_lut() -> npt.NDArray[np.uint64]:
    """:data:`NORMALIZE_TABLE` as a code point → code point array, for the numpy path."""
    lut = np.arange(0x110000, dtype=np.uint64)
    for code, folded in NORMALIZE_TABLE.items():
        lut[code] = ord(folded)
    return lut


_LUT = _build_lut()
_P = 0x100000001B3  # FNV prime: the polynomial's base


def _powers() -> npt.NDArray[np.uint64]:
    """Column k of this upper-triangular matrix turns a window of 4 code points into the
    polynomial hash of its first k+1 (mod 2**64), so one matmul hashes every order."""
    m = np.zeros((ORDERS, ORDERS), dtype=np.uint64)
    for j in range(ORDERS):
        for k in range(j, ORDERS):
            m[j, k] = pow(_P, k - j, 1 << 64)
    return m


_POWERS = _powers()
_MULT = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of h × φ·2**64
_SHIFT = np.uint64(64 - BITS)
_S31 = np.uint64(31)
#: one offset per n-gram order, so "a" and "a\0" never share a hash by construction
_ORDER_OFFSETS = np.array([0x9E3779B1, 0x7F4A7C15, 0x85EBCA77, 0xC2B2AE3D], dtype=np.uint64)
#: salts of four MinHash rows over the 20-bit trigram buckets (xor permutes the bucket space)
_MINHASH_SALTS = np.array([0x00000, 0x5BD1E, 0xA3C59, 0x3A8F7], dtype=np.int64)


def _length_bucket(klass: int) -> int:
    h = (0xC0FFEE + klass) * int(_MULT) % (1 << 64)
    return h >> (64 - BITS)


#: a pseudo-feature per 10 characters of length (capped at 20): spam fills an SMS
LENGTH_BUCKETS = tuple(_length_bucket(k) for k in range(21))


class _Scratch(threading.local):
    """Per-thread work arrays, allocated once (the hot path allocates little)."""

    def __init__(self) -> None:
        self.codes = np.zeros(MAX_CHARS + ORDERS - 1, dtype=np.uint64)
        self.mark = np.zeros(N_BUCKETS, dtype=np.int16)
        self.positions = np.arange(ORDERS * MAX_CHARS, dtype=np.int16)


_scratch = _Scratch()


def ngram_buckets(text: str) -> IdArray:
    """Bucket of every n-gram of the normalised text: row i, column k is the n-gram of
    order k+1 starting at character i (shape (n, 4); empty text gives shape (0, 4)).

    N-grams running past the end are padded with NUL, which normalised text never holds, so
    they act as end-of-text features. Normalisation happens here, on code points, through
    a lookup table equal to :func:`normalize`.
    """
    c32 = np.frombuffer(text[:MAX_CHARS].encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = c32.size
    buf = _scratch.codes
    buf[n : n + ORDERS - 1] = 0
    _LUT.take(c32, out=buf[:n])
    windows = np.ndarray((n, ORDERS), dtype=np.uint64, buffer=buf, strides=(8, 8))
    grams = windows @ _POWERS
    grams += _ORDER_OFFSETS
    grams ^= grams >> _S31  # let the high bits of the polynomial reach the bucket bits
    grams *= _MULT
    grams >>= _SHIFT
    return grams.view(np.int64)  # < 2**20: the same numbers, the index type numpy wants


def distinct_ids(grams: IdArray) -> IdArray:
    """The distinct buckets among :func:`ngram_buckets`' output (a new array, any order).

    No sort: every occurrence writes its position into a per-thread mark array; the one
    position that stuck identifies exactly one occurrence of each bucket.
    """
    ids = grams.ravel()
    positions = _scratch.positions[: ids.size]
    mark = _scratch.mark
    mark[ids] = positions
    distinct: IdArray = ids[mark[ids] == positions]
    return distinct


def length_bucket(n_chars: int) -> int:
    return LENGTH_BUCKETS[min(min(n_chars, MAX_CHARS) // 10, 20)]


def feature_ids(text: str) -> tuple[IdArray, int]:
    """The distinct n-gram buckets of a text and its length bucket: the features of
    training and scoring alike. The model's linear score is
    ``bias + (Σ w[ids] + w[length]) / √(len(ids) + 1)``."""
    return distinct_ids(ngram_buckets(text)), length_bucket(len(text))


Bands = tuple[tuple[int, int], tuple[int, int]]


def minhash_bands(grams: IdArray) -> Bands | None:
    """Two locality-sensitive keys of a text from its :func:`ngram_buckets` (bands of two
    MinHash rows over the trigram buckets): near-duplicates share at least one with high
    probability, unrelated texts almost never. None for texts too short to tell."""
    n = grams.shape[0]
    if n < 8:
        return None
    rows = (grams[: n - 2, 2:3] ^ _MINHASH_SALTS).min(axis=0).tolist()
    return (rows[0], rows[1]), (rows[2], rows[3])


def signature_of(text: str) -> str | None:
    """The 【…】 signature at the start or the end of a message, without brackets.

    Industry ports must sign every message with the name they registered; a signature in
    the middle of the text does not count (it can be quoted to fake a sender).
    """
    stripped = text.strip()
    if stripped.startswith("【"):
        end = stripped.find("】", 1)
        if end > 1:
            return stripped[1:end].strip() or None
    if stripped.endswith("】"):
        start = stripped.rfind("【", 0, len(stripped) - 1)
        if 0 <= start < len(stripped) - 2:
            return stripped[start + 1 : -1].strip() or None
    return None
