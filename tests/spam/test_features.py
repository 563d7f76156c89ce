"""Feature extraction: normalisation, hashed n-grams, near-duplicate bands, signatures."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mingbai.spam.features import (
    _LUT,
    MAX_CHARS,
    N_BUCKETS,
    distinct_ids,
    feature_ids,
    length_bucket,
    minhash_bands,
    ngram_buckets,
    normalize,
    signature_of,
)


def test_normalize_folds_width_and_case():
    assert normalize("ＡＢＣ１２３！Hello\u3000world\t") == "abc123!hello world "


@given(st.text(max_size=40))
def test_lookup_table_is_normalize(text):
    # the numpy path folds code points through a table; it must equal the string function
    folded = "".join(chr(int(_LUT[ord(c)])) for c in text)
    assert folded == normalize(text)


def test_ngram_buckets_shape_and_range():
    grams = ngram_buckets("免费领取话费")
    assert grams.shape == (6, 4)
    assert grams.min() >= 0 and grams.max() < N_BUCKETS
    # the same n-gram hashes alike wherever it stands: "话费" at 4 and in "话费话费"
    assert ngram_buckets("话费话费")[0, 1] == ngram_buckets("话费话费")[2, 1] == grams[4, 1]
    # case and width do not matter
    assert np.array_equal(ngram_buckets("ＷＷＷ"), ngram_buckets("www"))


def test_distinct_ids_are_distinct_and_complete():
    grams = ngram_buckets("哈哈哈哈哈哈哈哈")
    ids = distinct_ids(grams)
    assert sorted(ids.tolist()) == sorted(set(grams.ravel().tolist()))


@given(st.text(max_size=60))
def test_feature_ids_never_fail_and_are_deterministic(text):
    ids, length = feature_ids(text)
    again, length2 = feature_ids(text)
    assert sorted(ids.tolist()) == sorted(again.tolist()) and length == length2
    assert len(set(ids.tolist())) == ids.size
    assert ids.size <= 4 * len(text)


def test_hostile_input_is_cut_and_surrogates_survive():
    ids, _ = feature_ids("垃" * (MAX_CHARS * 5))
    assert ids.size == 10  # 1+2+3+4: each order, whole or running past the end
    assert feature_ids("\ud800abc")[0].size > 0
    assert length_bucket(10**6) == length_bucket(MAX_CHARS)
    assert feature_ids("")[0].size == 0


def test_near_duplicates_share_a_band_unrelated_texts_do_not():
    base = "【优惠】尊敬的客户您好，本店新到一批高仿名表，价格实惠，欢迎来电咨询，地址北京路88号"
    variants = [base.replace("88", str(n)) for n in range(10, 40)]
    bands = [minhash_bands(ngram_buckets(v)) for v in variants]
    first = bands[0]
    assert first is not None
    shared = sum(1 for b in bands if b is not None and (b[0] == first[0] or b[1] == first[1]))
    assert shared >= 25  # small edits keep the signature almost always
    other = minhash_bands(ngram_buckets("今天下午三点开会，请各部门负责人准时参加，带上季度报表"))
    assert other is not None and other[0] != first[0] and other[1] != first[1]
    assert minhash_bands(ngram_buckets("短信")) is None


def test_signature_at_start_or_end_only():
    assert signature_of("【工商银行】您的账户支出100元") == "工商银行"
    assert signature_of("您的账户支出100元【工商银行】") == "工商银行"
    assert signature_of("  您的账户支出100元 【 工商银行 】 ") == "工商银行"
    assert signature_of("转发【工商银行】的通知给你") is None
    assert signature_of("没有签名") is None
    assert signature_of("【】空签名") is None
    assert signature_of("") is None
