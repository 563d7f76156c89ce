"""Training: the loader repairs the file, thresholds follow the operator's priority, and the
run-time scorer computes exactly the function scikit-learn fitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mingbai.spam.model import load_model, model_from_bytes, shipped_version
from mingbai.spam.train import (
    DEFAULT_DATA,
    Example,
    TrainParams,
    _design,
    auc,
    load_tsv,
    metrics_at,
    parse_tsv_line,
    stratified_subset,
    threshold_for_ham_rate,
    train,
)

DATA = Path(__file__).resolve().parents[2] / DEFAULT_DATA


def test_parse_tsv_line_repairs_and_skips():
    assert parse_tsv_line("1\t中奖了\t中奖 了") == Example(1, "中奖了")
    assert parse_tsv_line("0\n") is None
    assert parse_tsv_line("x\tabc\tabc") is None
    assert parse_tsv_line("0\t  \t") is None
    # an extra tab inside the message: found by where the word split starts
    assert parse_tsv_line("1\t安卓\t智能\t安卓 智能") == Example(1, "安卓\t智能")


@given(st.text(max_size=60))
def test_parse_tsv_line_fuzz(line):
    ex = parse_tsv_line(line)
    assert ex is None or (ex.label in (0, 1) and ex.text.strip())


def test_threshold_for_ham_rate():
    ham = [0.1 * i for i in range(100)]
    t = threshold_for_ham_rate(ham, 0.05)
    assert sum(s >= t for s in ham) == 5
    assert sum(s >= threshold_for_ham_rate(ham, 0.0) for s in ham) == 0


def test_metrics_and_auc():
    labels = [1, 1, 1, 0, 0, 0]
    scores = [0.9, 0.8, 0.4, 0.5, 0.2, 0.1]
    m = metrics_at(labels, scores, block=0.7, review=0.45)
    assert (m["recall_block"], m["precision_block"], m["ham_blocked"]) == (round(2 / 3, 4), 1.0, 0.0)
    assert m["recall_block_or_review"] == round(2 / 3, 4) and m["ham_flagged"] == round(1 / 3, 4)
    assert auc(labels, scores) == round(8 / 9, 4)
    assert auc([1, 0], [0.5, 0.5]) == 0.5


@pytest.fixture(scope="module")
def data():
    if not DATA.is_file():
        pytest.skip(f"training data not at {DATA}")
    return load_tsv(DATA)


def test_loader_reads_the_shared_file(data):
    assert len(data.examples) > 10_000 and data.skipped >= 30 and len(data.sha256) == 64
    assert {e.label for e in data.examples} == {0, 1}


def test_quick_training_scores_held_out_messages(data):
    subset = stratified_subset(data.examples, 1500, seed=3)
    result = train(subset, TrainParams(folds=3, seed=3), data_sha256=data.sha256)
    model = result.model
    held = result.metrics["held_out"]
    assert held["auc"] > 0.95 and held["ham_blocked"] <= 0.01
    assert 0 < model.review_at <= model.block_at < 1
    # a slice the model never saw
    seen = {e.text for e in subset}
    unseen = [e for e in data.examples if e.text not in seen][:600]
    scores = [model.score(e.text) for e in unseen]
    m = metrics_at([e.label for e in unseen], scores, model.block_at, model.review_at)
    # 1,500 examples make a weaker model than the shipped one; what must hold is that the
    # held-out estimate predicts unseen data and the operator's priority is kept
    assert auc([e.label for e in unseen], scores) > 0.97
    assert m["ham_blocked"] <= 0.02 and m["precision_block"] >= 0.98
    assert m["recall_block_or_review"] > 0.9
    assert abs(m["f1_block"] - held["f1_block"]) < 0.12
    # the file round trip keeps the function and the model is reproducible
    again = model_from_bytes(model.to_bytes())
    assert again.version == model.version
    assert again.score(unseen[0].text) == pytest.approx(scores[0], abs=1e-6)
    second = train(subset, TrainParams(folds=3, seed=3), data_sha256=data.sha256).model
    assert second.version == model.version and np.array_equal(second.table, model.table)
    assert (second.block_at, second.review_at) == (model.block_at, model.review_at)


def test_runtime_scorer_is_the_fitted_linear_function(data):
    from sklearn.svm import LinearSVC

    subset = stratified_subset(data.examples, 600, seed=5)
    x, _ = _design([e.text for e in subset], None, 1)
    svm = LinearSVC(C=1.0, random_state=0).fit(x, [e.label for e in subset])
    from mingbai.spam.model import ContentModel

    model = ContentModel("t", float(svm.intercept_[0]), svm.coef_.ravel().astype(np.float64), 0.9, 0.5)
    probe = [e.text for e in data.examples[-50:]]
    expected = svm.decision_function(_design(probe, np.ones(x.shape[1], dtype=bool))[0])
    got = [model.linear(t) for t in probe]
    assert got == pytest.approx(list(expected), abs=1e-9)


def test_shipped_model_meets_the_targets_on_its_held_out_folds():
    model = load_model(shipped_version())
    held = model.metrics["held_out"]
    assert held["f1_block"] >= 0.96 and held["ham_blocked"] <= 0.01
    assert model.training["examples"] > 10_000


def test_shipped_model_on_a_slice_of_the_file(data):
    # not held out (the shipped model saw the whole file): a smoke test of the artifact
    model = load_model(shipped_version())
    sample = data.examples[::20]
    scores = [model.score(e.text) for e in sample]
    m = metrics_at([e.label for e in sample], scores, model.block_at, model.review_at)
    assert m["f1_block"] >= 0.96 and m["ham_blocked"] <= 0.01
