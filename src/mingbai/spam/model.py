"""The content model at run time: a precomputed hashed-weight table.

Training (``mingbai spam train``, scikit-learn) fits a linear model on the presence of
hashed character n-grams (:func:`mingbai.spam.features.feature_ids`), scaled by
1/√(count). Scoring here evaluates the same linear function with numpy: one gather from a
2**20-entry weight table and a sum. No sklearn, no per-call pipeline.

A model file is a NumPy ``.npz`` (no pickles) holding ``ids`` (uint32 buckets with a
weight), ``weights`` (float32) and ``meta`` (a JSON string: format, version, feature
scheme, bias, thresholds, held-out metrics, training parameters); see docs/spam.md.
Thresholds are scores in [0, 1] (the logistic of the linear score) chosen on held-out folds
at training time; a strategy may override them.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mingbai.errors import InvalidInput, NotFound
from mingbai.spam.features import FEATURE_SCHEME, N_BUCKETS, IdArray, feature_ids

MODEL_FORMAT = "mingbai-spam-model/2"
#: models shipped in the package; a fresh install scores with the newest before any training
SHIPPED_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL_DIR = Path("var") / "spam-models"
SUFFIX = ".npz"

#: scores are logistic(linear score); keep exp() away from overflow
_CLAMP = 40.0


def to_logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def to_score(z: float) -> float:
    z = min(max(z, -_CLAMP), _CLAMP)
    return 1.0 / (1.0 + math.exp(-z))


#: 1/√(k+1) for every possible feature count, so the hot path divides by nothing
_INV_SQRT = tuple(1.0 / math.sqrt(k + 1) for k in range(4 * 1000 + 1))


@dataclass(frozen=True)
class ContentModel:
    version: str
    bias: float
    table: npt.NDArray[np.float64]
    block_at: float
    review_at: float
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def linear_ids(self, ids: IdArray, length: int) -> float:
        """The linear score from feature ids (hot path)."""
        table = self.table
        return self.bias + (float(table.take(ids).sum()) + float(table[length])) * _INV_SQRT[ids.size]

    def linear(self, text: str) -> float:
        """The linear score of a text."""
        ids, length = feature_ids(text)
        return self.linear_ids(ids, length)

    def score(self, text: str) -> float:
        """Spam score in [0, 1] of a text."""
        return to_score(self.linear(text))

    def meta(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "version": self.version,
            "scheme": FEATURE_SCHEME,
            "buckets": N_BUCKETS,
            "bias": self.bias,
            "thresholds": {"block": self.block_at, "review": self.review_at},
            "metrics": self.metrics,
            "training": self.training,
        }

    def to_bytes(self) -> bytes:
        ids = np.flatnonzero(self.table).astype(np.uint32)
        buf = io.BytesIO()
        np.savez_compressed(
            buf, ids=ids, weights=self.table[ids].astype(np.float32), meta=np.array(json.dumps(self.meta()))
        )
        return buf.getvalue()


def model_from_bytes(data: bytes) -> ContentModel:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            ids = npz["ids"].astype(np.int64)
            weights = npz["weights"].astype(np.float64)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(f"not a spam model file: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise InvalidInput(f"not a spam model file (format {MODEL_FORMAT} expected)")
    if meta.get("scheme") != FEATURE_SCHEME or meta.get("buckets") != N_BUCKETS:
        raise InvalidInput(f"model uses feature scheme {meta.get('scheme')!r}; this build reads {FEATURE_SCHEME!r}")
    try:
        if ids.shape != weights.shape or (ids.size and (ids.min() < 0 or ids.max() >= N_BUCKETS)):
            raise ValueError("weights do not fit the feature space")
        table = np.zeros(N_BUCKETS, dtype=np.float64)
        table[ids] = weights
        thresholds = meta["thresholds"]
        block_at, review_at = float(thresholds["block"]), float(thresholds["review"])
        if not 0 < review_at <= block_at < 1:
            raise ValueError("thresholds must satisfy 0 < review ≤ block < 1")
        return ContentModel(
            version=str(meta["version"]),
            bias=float(meta["bias"]),
            table=table,
            block_at=block_at,
            review_at=review_at,
            metrics=dict(meta.get("metrics") or {}),
            training=dict(meta.get("training") or {}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"bad spam model file: {exc}") from None


def model_dirs() -> list[Path]:
    """Where model versions are looked for: $MINGBAI_SPAM_MODEL_DIR (default var/spam-models),
    then the models shipped in the package."""
    own = Path(os.environ.get("MINGBAI_SPAM_MODEL_DIR") or DEFAULT_MODEL_DIR)
    return [own, SHIPPED_DIR]


def model_path(version: str) -> Path:
    if not version or any(c in version for c in "/\\") or version.startswith("."):
        raise InvalidInput(f"bad model version {version!r}")
    for folder in model_dirs():
        path = folder / f"{version}{SUFFIX}"
        if path.is_file():
            return path
    raise NotFound(f"no spam model {version!r} in {', '.join(str(d) for d in model_dirs())}")


def shipped_version() -> str:
    """The newest model shipped in the package (the default strategy's model)."""
    names = sorted(p.stem for p in SHIPPED_DIR.glob(f"*{SUFFIX}"))
    if not names:
        raise NotFound("no spam model shipped in the package; run `mingbai spam train`")
    return names[-1]


_CACHE: dict[str, ContentModel] = {}


def load_model(version: str) -> ContentModel:
    """Load (once per process) a model version by name."""
    cached = _CACHE.get(version)
    if cached is not None:
        return cached
    path = model_path(version)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read spam model {path}: {exc}") from None
    model = model_from_bytes(data)
    if model.version != version:
        raise InvalidInput(f"{path} holds model {model.version!r}, not {version!r}")
    _CACHE[version] = model
    return model


def list_models() -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for folder in model_dirs():
        for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
            if path.stem not in seen:
                seen[path.stem] = {"version": path.stem, "path": str(path), "shipped": folder == SHIPPED_DIR}
    return list(seen.values())


def write_model(model: ContentModel, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model.version}{SUFFIX}"
    tmp = folder / f".{model.version}{SUFFIX}.tmp"
    tmp.write_bytes(model.to_bytes())
    tmp.replace(path)
    _CACHE.pop(model.version, None)
    return path
