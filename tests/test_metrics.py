"""Ranking metrics against hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from hf_delrec.metrics import (
    RankingAccumulator,
    compute_metrics,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    ranks_from_scores,
    ranks_in_catalogue,
    recall_at_k,
)


def test_ranks_from_scores_hand_computed():
    scores = np.array([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    # target always column 0: ranks 1, 3, 4
    assert ranks_from_scores(scores, 0).tolist() == [1, 3, 4]
    # per-row target columns
    assert ranks_from_scores(torch.tensor(scores), [2, 1, 3]).tolist() == [2, 1, 1]


def test_ties_default_does_not_reward_constant_scores():
    constant = np.zeros((5, 20))
    ranks = ranks_from_scores(constant, 0)
    assert ranks.tolist() == [20] * 5
    assert hit_rate_at_k(ranks, 10) == 0.0
    assert ndcg_at_k(ranks, 10) == 0.0
    assert ranks_from_scores(constant, 0, ties="optimistic").tolist() == [1] * 5
    assert ranks_from_scores(constant, 0, ties="average").tolist() == [10.5] * 5
    # partial tie: target 0.5 ties with one item, one item is higher
    s = np.array([[0.5, 0.9, 0.5, 0.1]])
    assert ranks_from_scores(s, 0).tolist() == [3]
    assert ranks_from_scores(s, 0, ties="optimistic").tolist() == [2]
    assert ranks_from_scores(s, 0, ties="average").tolist() == [2.5]


def test_nan_target_is_worst():
    s = np.array([[np.nan, 0.1, 0.2]])
    assert ranks_from_scores(s, 0).tolist() == [3]


def test_metric_values_hand_computed():
    ranks = [1, 2, 3, 11]
    assert hit_rate_at_k(ranks, 1) == pytest.approx(0.25)
    assert hit_rate_at_k(ranks, 10) == pytest.approx(0.75)
    expected_ndcg10 = (1.0 + 1 / math.log2(3) + 1 / math.log2(4) + 0.0) / 4
    assert ndcg_at_k(ranks, 10) == pytest.approx(expected_ndcg10)
    assert ndcg_at_k(ranks, 2) == pytest.approx((1.0 + 1 / math.log2(3)) / 4)
    assert mrr_at_k(ranks) == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 11) / 4)
    assert mrr_at_k(ranks, 2) == pytest.approx((1 + 1 / 2) / 4)
    assert recall_at_k(ranks, 2) == pytest.approx(0.5)
    # two relevant items per row, padded with 0
    assert recall_at_k(np.array([[1, 30], [5, 0]]), 10) == pytest.approx((0.5 + 1.0) / 2)
    m = compute_metrics(ranks, ks=(1, 10))
    assert set(m) == {"HR@1", "NDCG@1", "HR@10", "NDCG@10", "MRR", "num_examples"}
    assert m["num_examples"] == 4 and m["NDCG@1"] == pytest.approx(0.25)


def test_bad_inputs():
    with pytest.raises(ValueError, match="1-based"):
        hit_rate_at_k([0, 1], 1)
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k([1], 0)
    with pytest.raises(ValueError, match="ties="):
        ranks_from_scores(np.zeros((1, 2)), 0, ties="random")
    with pytest.raises(ValueError, match="outside"):
        ranks_from_scores(np.zeros((1, 2)), 2)
    with pytest.raises(ValueError, match="outside the catalogue"):
        ranks_in_catalogue(np.zeros((1, 4)), [0])


def test_catalogue_ranks_ignore_padding_and_excluded():
    # items 1..5; column 0 is padding with a huge score that must not count
    scores = torch.tensor([[100.0, 0.5, 0.9, 0.8, 0.1, 0.5]])
    assert ranks_in_catalogue(scores, [1]).tolist() == [4]  # higher: 2, 3; tie: 5 (pessimistic)
    assert ranks_in_catalogue(scores, [1], exclude_ids=[[2, 0, 0]]).tolist() == [3]
    # the target is never excluded, negative padding (-100) is ignored
    assert ranks_in_catalogue(scores, [1], exclude_ids=[[1, 3, -100]]).tolist() == [3]
    constant = torch.zeros(3, 11)
    assert ranks_in_catalogue(constant, [1, 5, 10]).tolist() == [10, 10, 10]


def test_accumulator_streams_equal_to_one_shot():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 31))
    targets = rng.integers(1, 31, size=50)
    acc = RankingAccumulator()
    for start in range(0, 50, 7):
        acc.update_from_catalogue(scores[start : start + 7], targets[start : start + 7])
    one_shot = compute_metrics(ranks_in_catalogue(scores, targets), ks=(5, 10))
    assert len(acc) == 50
    assert acc.compute(ks=(5, 10)) == one_shot
    # brute force check of the ranks
    brute = [1 + int((scores[i, 1:] > scores[i, targets[i]]).sum()) for i in range(50)]
    assert acc.ranks.tolist() == brute
