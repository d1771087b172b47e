"""Ranking metrics for sequential recommendation: HR@k, NDCG@k, MRR (@k), Recall@k from ranks, for both the
sampled-candidate and the full-ranking protocol, with a streaming accumulator.

Everything is computed from the **1-based rank of the target item**. Ranks are obtained from scores batch by batch
(``ranks_from_scores`` for candidate lists, ``ranks_in_catalogue`` for the whole catalogue), so a full-ranking
evaluation only ever holds one ``(batch, num_items + 1)`` score block and a vector of ranks: ``RankingAccumulator``
keeps one integer per example, never a users x items matrix.

Ties (documented choice)
------------------------
The rank of the target is ``1 + #(items scored strictly higher) + tie_term`` where ``tie_term`` depends on ``ties``:

* ``"pessimistic"`` (default): ``tie_term = #(other items with exactly the target's score)``. The target is placed
  *after* every item it ties with. A model that gives every candidate the same score gets the worst possible rank
  (HR@k = 0 whenever k < number of candidates), so a degenerate/collapsed model can never look good. This is the
  only choice under which a constant scorer cannot be rewarded, which is why it is the default.
* ``"optimistic"``: ``tie_term = 0`` (target placed before its ties). Only useful as an upper bound / for debugging.
* ``"average"``: ``tie_term = #ties / 2``, the expected rank under a uniformly random tie-break (may be fractional).

A NaN target score is treated as the worst rank (the number of ranked items); NaN scores of other items never count
as higher than the target. Items excluded from ranking (padding column 0, a user's already-seen items) are neither
counted as higher nor as ties.

Definitions (one relevant item per example, ``r`` = its rank)
-----------------------------------------------------------
``HR@k = mean(r <= k)``; ``NDCG@k = mean(1 / log2(r + 1) if r <= k else 0)`` (ideal DCG is 1);
``MRR@k = mean(1 / r if r <= k else 0)`` and ``MRR = mean(1 / r)`` (no cut-off); ``Recall@k`` equals ``HR@k`` for a
single target per example; with several relevant items per example pass a 2-D rank array (pad with 0 or a negative
value) and Recall@k is the fraction of the relevant items ranked within k.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch

TIE_POLICIES = ("pessimistic", "optimistic", "average")

__all__ = [
    "TIE_POLICIES",
    "ranks_from_scores",
    "ranks_in_catalogue",
    "hit_rate_at_k",
    "ndcg_at_k",
    "mrr_at_k",
    "recall_at_k",
    "RankingAccumulator",
    "compute_metrics",
]


def _check_ties(ties: str) -> None:
    if ties not in TIE_POLICIES:
        raise ValueError(f"ties={ties!r} is not one of {list(TIE_POLICIES)}")


def _as_tensor(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def _count_ranks(scores: torch.Tensor, target_scores: torch.Tensor, valid: torch.Tensor | None, ties: str):
    """``scores`` (B, C), ``target_scores`` (B, 1), ``valid`` (B, C) bool of items that take part (target excluded)."""
    higher = scores > target_scores
    equal = scores == target_scores
    if valid is not None:
        higher &= valid
        equal &= valid
    n_higher = higher.sum(dim=1)
    n_equal = equal.sum(dim=1)
    if ties == "pessimistic":
        ranks = 1 + n_higher + n_equal
    elif ties == "optimistic":
        ranks = 1 + n_higher
    else:
        ranks = 1.0 + n_higher.to(torch.float64) + n_equal.to(torch.float64) / 2.0
    return ranks


def ranks_from_scores(scores, target_index, ties: str = "pessimistic") -> np.ndarray:
    """1-based rank of the target among the candidates of each row.

    ``scores``: (B, C) array/tensor of candidate scores (higher = better). ``target_index``: (B,) column of the target
    in each row, or one int for all rows (e.g. 0 when the target is always the first candidate). Returns an int64
    numpy array (float64 for ``ties="average"``).
    """
    _check_ties(ties)
    scores = _as_tensor(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (batch, candidates), got shape {tuple(scores.shape)}")
    batch, num_cand = scores.shape
    if isinstance(target_index, int):
        target_index = torch.full((batch,), target_index, dtype=torch.long, device=scores.device)
    target_index = _as_tensor(target_index).to(device=scores.device, dtype=torch.long).reshape(-1)
    if target_index.numel() != batch:
        raise ValueError(f"target_index has {target_index.numel()} entries for {batch} rows of scores")
    if batch and (target_index.min() < 0 or target_index.max() >= num_cand):
        bad = target_index[(target_index < 0) | (target_index >= num_cand)][0].item()
        raise ValueError(f"target_index {bad} is outside the {num_cand} candidate columns")
    scores = scores.float() if scores.dtype in (torch.float16, torch.bfloat16) else scores
    target_scores = scores.gather(1, target_index[:, None])
    valid = torch.ones_like(scores, dtype=torch.bool)
    valid.scatter_(1, target_index[:, None], False)
    ranks = _count_ranks(scores, target_scores, valid, ties)
    nan_target = torch.isnan(target_scores[:, 0])
    if nan_target.any():
        ranks = torch.where(nan_target, torch.full_like(ranks, num_cand), ranks)
    return ranks.cpu().numpy()


def ranks_in_catalogue(
    scores,
    target_ids,
    exclude_ids=None,
    ties: str = "pessimistic",
    padding_idx: int | None = 0,
    return_tensor: bool = False,
):
    """1-based rank of each target item among the whole catalogue (full-ranking protocol), one score block at a time.

    ``scores``: (B, num_items + 1) scores indexed by item id; column ``padding_idx`` (0) is not an item and is ignored.
    ``target_ids``: (B,) item ids. ``exclude_ids``: optional (B, S) item ids to leave out of the ranking (e.g. the
    user's already-seen items), padded with ``padding_idx``; the target itself is never excluded.
    ``return_tensor=True`` keeps the ranks as a tensor on the scores' device (for ``preprocess_logits_for_metrics``).
    """
    _check_ties(ties)
    scores = _as_tensor(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (batch, num_items + 1), got shape {tuple(scores.shape)}")
    batch, width = scores.shape
    target_ids = _as_tensor(target_ids).to(device=scores.device, dtype=torch.long).reshape(-1)
    if target_ids.numel() != batch:
        raise ValueError(f"target_ids has {target_ids.numel()} entries for {batch} rows of scores")
    low = 0 if padding_idx is None else 1
    if batch and (target_ids.min() < low or target_ids.max() >= width):
        bad = target_ids[(target_ids < low) | (target_ids >= width)][0].item()
        raise ValueError(f"target id {bad} is outside the catalogue (valid ids {low}..{width - 1})")
    scores = scores.float() if scores.dtype in (torch.float16, torch.bfloat16) else scores
    valid = torch.ones_like(scores, dtype=torch.bool)
    if padding_idx is not None:
        valid[:, padding_idx] = False
    if exclude_ids is not None:
        exclude_ids = _as_tensor(exclude_ids).to(device=scores.device, dtype=torch.long)
        if exclude_ids.ndim != 2 or exclude_ids.shape[0] != batch:
            raise ValueError(f"exclude_ids must be (batch, S) with batch={batch}, got {tuple(exclude_ids.shape)}")
        # Negative ids (e.g. -100 padding from Trainer's concatenation) are mapped to the padding column.
        ex = exclude_ids.clamp(min=0, max=width - 1)
        ex = torch.where(exclude_ids < 0, torch.zeros_like(ex), ex)
        valid.scatter_(1, ex, False)
    valid.scatter_(1, target_ids[:, None], False)
    target_scores = scores.gather(1, target_ids[:, None])
    ranks = _count_ranks(scores, target_scores, valid, ties)
    nan_target = torch.isnan(target_scores[:, 0])
    if nan_target.any():
        worst = valid.sum(dim=1) + 1
        ranks = torch.where(nan_target, worst.to(ranks.dtype), ranks)
    return ranks if return_tensor else ranks.cpu().numpy()


def _ranks_array(ranks) -> np.ndarray:
    if isinstance(ranks, torch.Tensor):
        ranks = ranks.detach().cpu().numpy()
    arr = np.asarray(ranks, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"ranks must be 1-D (one rank per example), got shape {arr.shape}")
    if arr.size and np.nanmin(arr) < 1:
        raise ValueError(f"ranks are 1-based; got a rank of {np.nanmin(arr)}")
    return arr


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def hit_rate_at_k(ranks, k: int) -> float:
    _check_k(k)
    r = _ranks_array(ranks)
    return float(np.mean(r <= k)) if r.size else 0.0


def ndcg_at_k(ranks, k: int) -> float:
    _check_k(k)
    r = _ranks_array(ranks)
    if not r.size:
        return 0.0
    gains = np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)
    return float(np.mean(gains))


def mrr_at_k(ranks, k: int | None = None) -> float:
    """Mean reciprocal rank, counting only ranks <= k when ``k`` is given (``k=None``: no cut-off)."""
    if k is not None:
        _check_k(k)
    r = _ranks_array(ranks)
    if not r.size:
        return 0.0
    rr = 1.0 / r
    if k is not None:
        rr = np.where(r <= k, rr, 0.0)
    return float(np.mean(rr))


def recall_at_k(ranks, k: int) -> float:
    """Fraction of relevant items ranked within k, averaged over examples.

    1-D ``ranks`` (one relevant item per example): identical to HR@k. 2-D ``ranks`` (B, R): ranks of up to R relevant
    items per example, padded with values <= 0 (or NaN); rows without any relevant item are an error.
    """
    _check_k(k)
    if isinstance(ranks, torch.Tensor):
        ranks = ranks.detach().cpu().numpy()
    arr = np.asarray(ranks, dtype=np.float64)
    if arr.ndim == 1:
        return hit_rate_at_k(arr, k)
    if arr.ndim != 2:
        raise ValueError(f"ranks must be 1-D or 2-D, got shape {arr.shape}")
    relevant = np.nan_to_num(arr, nan=0.0) >= 1
    n_rel = relevant.sum(axis=1)
    if (n_rel == 0).any():
        raise ValueError(f"row {int(np.argmax(n_rel == 0))} of ranks has no relevant item")
    hits = (relevant & (arr <= k)).sum(axis=1)
    return float(np.mean(hits / n_rel))


def compute_metrics(ranks, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"HR@k", "NDCG@k" for k in ks, "MRR", "num_examples"}`` from 1-D ranks."""
    r = _ranks_array(ranks)
    out: dict[str, float] = {}
    for k in ks:
        out[f"HR@{k}"] = hit_rate_at_k(r, k)
        out[f"NDCG@{k}"] = ndcg_at_k(r, k)
    out["MRR"] = mrr_at_k(r)
    out["num_examples"] = int(r.size)
    return out


class RankingAccumulator:
    """Streaming metric computation: feed ranks batch by batch, compute at the end.

    Memory is one float per example (the rank), so the full-ranking protocol never materialises a users x items
    matrix. ``update_from_scores`` / ``update_from_catalogue`` turn a score block into ranks on the fly.
    """

    def __init__(self, ties: str = "pessimistic"):
        _check_ties(ties)
        self.ties = ties
        self._chunks: list[np.ndarray] = []

    def __len__(self) -> int:
        return int(sum(c.size for c in self._chunks))

    def reset(self) -> None:
        self._chunks.clear()

    def update(self, ranks) -> None:
        r = _ranks_array(ranks)
        if r.size:
            self._chunks.append(r)

    def update_from_scores(self, scores, target_index) -> None:
        self.update(ranks_from_scores(scores, target_index, ties=self.ties))

    def update_from_catalogue(self, scores, target_ids, exclude_ids=None) -> None:
        self.update(ranks_in_catalogue(scores, target_ids, exclude_ids, ties=self.ties))

    @property
    def ranks(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float64)

    def compute(self, ks: Iterable[int] = (1, 5, 10)) -> dict[str, float]:
        return compute_metrics(self.ranks, ks=tuple(ks))
