"""Training the content model (``mingbai spam train``): reproducible, with recorded metrics.

scikit-learn fits a linear model on exactly the features the run-time scorer computes
(:func:`mingbai.spam.features.ngrams_of`, presence scaled by 1/√count); its coefficients are
written as an n-gram → weight table that :mod:`mingbai.spam.model` scores without sklearn.

Thresholds come from out-of-fold scores (stratified k-fold, fixed seed) and follow the
operator's priority: wrongly blocking a person's message is worse than letting spam through,
so ``block`` is the lowest score at which at most ``max_ham_blocked`` of held-out ham would be
blocked, and ``review`` is the lowest score at which at most ``max_ham_flagged`` of ham would
be blocked or queued for a person (the reviewers' workload bound).

scikit-learn and numpy are needed only here: ``pip install mingbai[train]``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mingbai.errors import InvalidInput
from mingbai.spam.features import FEATURE_SCHEME, N_BUCKETS, feature_ids
from mingbai.spam.model import ContentModel, to_score

#: the training file as the project receives it (relative to the repository root)
DEFAULT_DATA = Path("..") / "shared" / "data" / "sms_spam_zh" / "train.tsv"
#: changes with the training procedure, so a model name never means two different things
TRAINER = "linearsvc-platt-1"


@dataclass(frozen=True)
class TrainParams:
    #: inverse regularisation of the linear SVM
    c: float = 10.0
    #: an n-gram must occur in this many training messages to get a weight
    min_df: int = 2
    folds: int = 5
    seed: int = 7
    max_ham_blocked: float = 0.006
    max_ham_flagged: float = 0.03
    #: weights smaller than this are dropped from the shipped table (size, not accuracy)
    prune_below: float = 1e-3


@dataclass(frozen=True)
class Example:
    label: int  # 1 spam, 0 ham
    text: str


@dataclass
class LoadReport:
    examples: list[Example]
    skipped: int = 0
    repaired: int = 0
    sha256: str = ""
    problems: list[str] = field(default_factory=list)


def parse_tsv_line(line: str) -> Example | None:
    """``label<TAB>raw<TAB>jieba split``. Lines with a single field or no text are skipped;
    lines with extra tabs are repaired by finding where the word split starts."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) < 2 or fields[0].strip() not in ("0", "1"):
        return None
    label = int(fields[0].strip())
    if len(fields) <= 3:
        text = fields[1]
    else:
        text = fields[1]
        for k in range(2, len(fields)):
            raw = "\t".join(fields[1:k])
            split = "".join(fields[k:]).replace(" ", "")
            if split and split == raw.replace(" ", "").replace("\t", ""):
                text = raw
                break
        else:
            text = "\t".join(fields[1:-1])
    text = text.strip()
    if not text:
        return None
    return Example(label, text)


def load_tsv(path: Path) -> LoadReport:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read training data {path}: {exc}") from None
    report = LoadReport(examples=[], sha256=hashlib.sha256(data).hexdigest())
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        ex = parse_tsv_line(line)
        if ex is None:
            report.skipped += 1
            if len(report.problems) < 20:
                report.problems.append(f"line {number}: skipped (no label or no text)")
            continue
        if line.count("\t") > 2:
            report.repaired += 1
        report.examples.append(ex)
    if not report.examples:
        raise InvalidInput(f"{path} holds no labeled messages")
    return report


def stratified_subset(examples: Sequence[Example], limit: int, seed: int) -> list[Example]:
    """At most ``limit`` examples, the same spam share, chosen reproducibly."""
    import random

    if limit >= len(examples):
        return list(examples)
    rng = random.Random(seed)
    spam = [e for e in examples if e.label == 1]
    ham = [e for e in examples if e.label == 0]
    k_spam = round(limit * len(spam) / len(examples))
    return rng.sample(spam, k_spam) + rng.sample(ham, limit - k_spam)


# -- fitting ------------------------------------------------------------------------------------


def _design(texts: Sequence[str], keep: Any | None, min_df: int = 1) -> tuple[Any, Any]:
    """Sparse presence matrix over the hashed buckets, scaled by 1/√(count + 1): the
    scorer's exact features (:func:`feature_ids`, the length bucket included).

    ``keep`` is a boolean mask of buckets allowed a weight; None computes it from these
    texts (a bucket must occur in ``min_df`` messages). The scale counts every bucket of
    the message, also those without a weight, as the scorer does.
    """
    import numpy as np
    from scipy import sparse

    rows = []
    for text in texts:
        ids, length = feature_ids(text)
        rows.append((np.append(ids, length), 1.0 / math.sqrt(ids.size + 1)))
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([r[0].size for r in rows])
    indices = np.concatenate([r[0] for r in rows]) if rows else np.empty(0, dtype=np.int64)
    values = np.concatenate([np.full(r[0].size, r[1]) for r in rows]) if rows else np.empty(0)
    matrix = sparse.csr_matrix((values, indices, indptr), shape=(len(rows), N_BUCKETS))
    matrix.sum_duplicates()
    if keep is None:
        df = np.bincount(matrix.indices, minlength=N_BUCKETS)
        keep = df >= min_df
    matrix.data *= keep[matrix.indices]
    matrix.eliminate_zeros()
    return matrix, keep


def _fit(matrix: Any, labels: Any, params: TrainParams) -> Any:
    from sklearn.svm import LinearSVC

    model = LinearSVC(C=params.c, max_iter=20_000, random_state=params.seed)
    model.fit(matrix, labels)
    return model


def _platt(margins: Sequence[float], labels: Sequence[int], seed: int) -> tuple[float, float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e4, random_state=seed).fit(np.asarray(margins).reshape(-1, 1), np.asarray(labels))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def out_of_fold(examples: Sequence[Example], params: TrainParams) -> list[float]:
    """Held-out linear scores: each message scored by a model that never saw it."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    texts = [e.text for e in examples]
    labels = np.asarray([e.label for e in examples])
    scores = np.zeros(len(examples))
    folds = StratifiedKFold(n_splits=params.folds, shuffle=True, random_state=params.seed)
    for train_idx, test_idx in folds.split(np.zeros(len(labels)), labels):
        x_train, keep = _design([texts[i] for i in train_idx], None, params.min_df)
        x_test, _ = _design([texts[i] for i in test_idx], keep)
        scores[test_idx] = _fit(x_train, labels[train_idx], params).decision_function(x_test)
    return [float(s) for s in scores]


# -- thresholds and metrics ------------------------------------------------------------------------


def threshold_for_ham_rate(ham_scores: Iterable[float], max_rate: float) -> float:
    """The lowest threshold (score ≥ t flags) at which at most ``max_rate`` of ham is flagged."""
    ordered = sorted(ham_scores, reverse=True)
    allowed = math.floor(max_rate * len(ordered))
    if allowed >= len(ordered):
        return min(ordered) if ordered else 0.0
    # flag strictly above the (allowed+1)-th highest ham score
    return math.nextafter(ordered[allowed], math.inf)


def metrics_at(labels: Sequence[int], scores: Sequence[float], block: float, review: float) -> dict[str, float]:
    tp = fp = fn = flagged_spam = flagged_ham = 0
    n_spam = sum(labels)
    n_ham = len(labels) - n_spam
    for y, s in zip(labels, scores, strict=True):
        blocked = s >= block
        flagged = s >= review
        if y == 1:
            tp += blocked
            fn += not blocked
            flagged_spam += flagged
        else:
            fp += blocked
            flagged_ham += flagged
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / n_spam if n_spam else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "f1_block": round(f1, 4),
        "precision_block": round(precision, 4),
        "recall_block": round(recall, 4),
        "ham_blocked": round(fp / n_ham, 4) if n_ham else 0.0,
        "recall_block_or_review": round(flagged_spam / n_spam, 4) if n_spam else 0.0,
        "ham_flagged": round(flagged_ham / n_ham, 4) if n_ham else 0.0,
        "n_spam": n_spam,
        "n_ham": n_ham,
    }


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve by rank sums (ties get half credit)."""
    pairs = sorted(zip(scores, labels, strict=True))
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # average 1-based rank of the tie group
        rank_sum += mid * sum(1 for k in range(i, j) if pairs[k][1] == 1)
        i = j
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return 0.0
    return round((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg), 4)


@dataclass(frozen=True)
class TrainResult:
    model: ContentModel
    metrics: dict[str, Any]


def train(
    examples: Sequence[Example], params: TrainParams = TrainParams(), *, data_sha256: str = "", trained_at: str = ""
) -> TrainResult:
    """Cross-validate, choose thresholds, fit on everything, and build the run-time model."""
    import numpy as np
    import sklearn

    if len({e.label for e in examples}) < 2 or len(examples) < params.folds * 4:
        raise InvalidInput("training needs both spam and ham, at least a few per fold")
    labels = [e.label for e in examples]
    oof = out_of_fold(examples, params)
    # Platt scaling on the held-out margins, so a score reads as a probability of spam; it is
    # folded into the weights below (a·(bias + w·x) + b), costing nothing at run time
    a, b = _platt(oof, labels, params.seed)
    oof_scores = [to_score(a * z + b) for z in oof]
    ham_scores = [s for s, y in zip(oof_scores, labels, strict=True) if y == 0]
    block = threshold_for_ham_rate(ham_scores, params.max_ham_blocked)
    review = min(threshold_for_ham_rate(ham_scores, params.max_ham_flagged), block)
    block = min(max(block, 1e-6), 1 - 1e-9)
    review = min(max(review, 1e-6), block)
    held_out = metrics_at(labels, oof_scores, block, review)
    held_out["auc"] = auc(labels, oof_scores)

    x_all, keep = _design([e.text for e in examples], None, params.min_df)
    final = _fit(x_all, np.asarray(labels), params)
    table = np.asarray(final.coef_, dtype=np.float64).ravel() * a
    table[np.abs(table) < params.prune_below] = 0.0
    table = table.astype(np.float32).astype(np.float64)  # what the file keeps
    key = f"{data_sha256}|{FEATURE_SCHEME}|{TRAINER}|{params}|{len(examples)}"
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:10]
    version = f"cng-{fingerprint}"
    metrics: dict[str, Any] = {"held_out": held_out, "folds": params.folds}
    model = ContentModel(
        version=version,
        bias=float(a * final.intercept_[0] + b),
        table=table,
        block_at=block,
        review_at=review,
        metrics=metrics,
        training={
            "data_sha256": data_sha256,
            "examples": len(examples),
            "spam": sum(labels),
            "ham": len(labels) - sum(labels),
            "seed": params.seed,
            "algorithm": f"LinearSVC(C={params.c}) on hashed char 1–4-gram presence, min_df {params.min_df}, "
            "Platt-scaled on held-out margins",
            "platt": [a, b],
            "max_ham_blocked": params.max_ham_blocked,
            "max_ham_flagged": params.max_ham_flagged,
            "buckets_seen": int(keep.sum()),
            "weights": int(np.count_nonzero(table)),
            "sklearn": sklearn.__version__,
            "trained_at": trained_at,
        },
    )
    return TrainResult(model, metrics)
