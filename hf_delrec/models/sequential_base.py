"""Shared base of the teacher recommenders (SASRec, GRU4Rec, Caser, BERT4Rec).

* ``SequentialRecommenderConfig``: the fields every teacher shares (``num_items``, ``hidden_size``,
  ``max_seq_length``, ``loss_type``, ``num_negatives``, ``catalogue_fingerprint``, ...), validated under ``@strict``.
* ``SequentialRecommenderPreTrainedModel``: item embedding table (row 0 = padding), the losses (full-softmax CE via
  one matmul, or BCE with sampled negatives), id validation and the common inference surface ``encode``,
  ``score_all``, ``score_candidates``, ``recommend``, ``get_item_embeddings``. A subclass implements
  ``sequence_output`` (per-position hidden states) and may override ``encode`` / ``position_output``.
* Collation helpers: ``pad_left`` (histories padded on the left with 0, most recent item last) and
  ``build_training_chunks`` (every (prefix -> next) pair of a training sequence supervised exactly once).

Labels given to ``forward``:
  * 2-D ``(B, L)`` aligned with ``input_ids``: ``labels[b, t]`` is the item that follows position ``t`` (causal
    teachers) or the original item at a masked position (BERT4Rec); ``-100`` = not supervised. Training mode: the
    loss covers all supervised positions of the batch in one forward pass and ``logits`` is not computed.
  * 1-D ``(B,)``: the next item after the last position; ``logits`` are the ``(B, num_items + 1)`` scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from ..utils.errors import ModelInputError, UnknownItemError

IGNORE_INDEX = -100
LOSS_TYPES = ("ce", "bce")


@strict
class SequentialRecommenderConfig(PreTrainedConfig):
    """Fields shared by every teacher; subclasses add their architecture and set ``model_type``."""

    num_items: int = 1000
    hidden_size: int = 64
    max_seq_length: int = 50
    loss_type: str = "ce"
    num_negatives: int = 1
    hidden_dropout_prob: float = 0.2
    initializer_range: float = 0.02
    catalogue_fingerprint: str | None = None
    pad_token_id: int = 0

    def validate_shared_fields(self):
        for name in ("num_items", "hidden_size", "max_seq_length", "num_negatives"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {list(LOSS_TYPES)}, got {self.loss_type!r}")
        if not 0.0 <= self.hidden_dropout_prob < 1.0:
            raise ValueError(f"hidden_dropout_prob must be in [0, 1), got {self.hidden_dropout_prob}")
        if self.initializer_range <= 0:
            raise ValueError(f"initializer_range must be > 0, got {self.initializer_range}")
        if self.pad_token_id != 0:
            raise ValueError(f"pad_token_id must be 0 (item id 0 is padding), got {self.pad_token_id}")


def check_positive(config, *names: str, allow_zero: bool = False) -> None:
    """Raise a ValueError naming the first field that is negative (or zero unless ``allow_zero``)."""
    for name in names:
        value = getattr(config, name)
        if value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else ">= 1"
            raise ValueError(f"{name} must be {bound}, got {value}")


def check_distinct_candidates(candidate_ids: torch.Tensor, what: str = "candidate_ids") -> None:
    """A candidate list names each item once: a duplicate would be ranked twice (and tie with itself)."""
    ids = candidate_ids.reshape(-1, candidate_ids.shape[-1]) if candidate_ids.dim() else candidate_ids
    if ids.numel() == 0 or ids.shape[-1] < 2:
        return
    ordered = ids.sort(dim=-1).values
    same = ordered[:, 1:] == ordered[:, :-1]
    if bool(same.any()):
        row, col = (int(x) for x in same.nonzero()[0])
        raise ModelInputError(
            f"{what} row {row} lists item {int(ordered[row, col])} more than once; candidates must be distinct"
        )


@dataclass
class SeqRecOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


# ----------------------------------------------------------------------------------------------------------------
# Collation helpers
# ----------------------------------------------------------------------------------------------------------------


def pad_left(sequences: Sequence[Sequence[int]], max_length: int, pad_value: int = 0) -> torch.Tensor:
    """Left-pad (and crop to the last ``max_length`` items) a batch of id lists into a ``(B, max_length)`` tensor."""
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    lengths = np.fromiter((min(len(s), max_length) for s in sequences), dtype=np.int64, count=len(sequences))
    out = np.full((len(sequences), max_length), pad_value, dtype=np.int64)
    total = int(lengths.sum())
    if total:
        flat = np.fromiter(
            (x for s, n in zip(sequences, lengths) if n for x in s[len(s) - n :]), dtype=np.int64, count=total
        )
        rows = np.repeat(np.arange(len(sequences)), lengths)
        # column of each element: the row's first filled column + offset inside the row
        starts = np.cumsum(lengths) - lengths
        cols = (max_length - lengths)[rows] + (np.arange(total) - starts[rows])
        out[rows, cols] = flat
    return torch.from_numpy(out)


def build_training_chunks(
    sequences: Sequence[Sequence[int]], chunk_length: int, context: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut training sequences into left-padded ``(M, chunk_length)`` inputs and aligned next-item labels.

    A sequence ``s`` yields the pairs ``(s[:i] -> s[i])`` for ``i = 1..len(s)-1``; each is supervised in exactly one
    chunk (label at the position of ``s[i-1]``, ``-100`` elsewhere). Chunks are cut from the most recent end, so the
    latest pairs see the longest context. ``context`` extra items of history are prepended to each chunk without
    supervision (0 = non-overlapping chunks), so every supervised position sees at least ``context`` previous items.
    """
    if chunk_length < 1:
        raise ValueError(f"chunk_length must be >= 1, got {chunk_length}")
    if not 0 <= context < chunk_length:
        raise ValueError(f"context must be in [0, chunk_length), got {context} for chunk_length {chunk_length}")
    step = chunk_length - context
    inputs, labels = [], []
    for seq in sequences:
        s = np.asarray(seq, dtype=np.int64)
        n = len(s)
        end = n - 1  # number of supervised pairs; inputs s[:end], labels s[1:]
        while end > 0:
            start_sup = max(0, end - step)
            start_in = max(0, start_sup - context)
            x = s[start_in:end]
            y = np.full(end - start_in, IGNORE_INDEX, dtype=np.int64)
            y[start_sup - start_in :] = s[start_sup + 1 : end + 1]
            inputs.append(x)
            labels.append(y)
            end = start_sup
    if not inputs:
        return torch.zeros((0, chunk_length), dtype=torch.long), torch.zeros((0, chunk_length), dtype=torch.long)
    x = pad_left(inputs, chunk_length, 0)
    y = pad_left(labels, chunk_length, IGNORE_INDEX)
    return x, y


def build_cloze_chunks(sequences: Sequence[Sequence[int]], chunk_length: int) -> torch.Tensor:
    """Non-overlapping, left-padded ``(M, chunk_length)`` windows covering every item once, cut from the most recent
    end (masked-item training: the collator chooses what to predict)."""
    if chunk_length < 1:
        raise ValueError(f"chunk_length must be >= 1, got {chunk_length}")
    windows = []
    for seq in sequences:
        end = len(seq)
        while end > 0:
            windows.append(list(seq[max(0, end - chunk_length) : end]))
            end -= chunk_length
    return pad_left(windows, chunk_length) if windows else torch.zeros((0, chunk_length), dtype=torch.long)


# ----------------------------------------------------------------------------------------------------------------
# Model base
# ----------------------------------------------------------------------------------------------------------------


class SequentialRecommenderPreTrainedModel(PreTrainedModel):
    """Common machinery for the teachers. Subclasses create ``self.item_embeddings`` via ``_build_item_embeddings``
    and implement ``sequence_output(input_ids, attention_mask) -> (B, L, H)``."""

    config_class = SequentialRecommenderConfig
    base_model_prefix = "recommender"
    main_input_name = "input_ids"
    # Our loss is a per-batch mean: let Trainer scale it for gradient accumulation.
    accepts_loss_kwargs = False
    # Extra rows of the embedding table after the catalogue (BERT4Rec's [MASK]).
    num_special_items = 0
    # "next_item": causal, chunks from build_training_chunks; "cloze": masked items, chunks from build_cloze_chunks.
    training_objective = "next_item"

    def _build_item_embeddings(self) -> None:
        self.item_embeddings = nn.Embedding(
            self.config.num_items + 1 + self.num_special_items, self.config.hidden_size, padding_idx=0
        )

    # -- id validation -------------------------------------------------------------------------------------------
    def check_item_ids(self, ids: torch.Tensor, what: str = "input_ids", allow_special: bool = False) -> None:
        if ids.numel() == 0:
            return
        upper = self.config.num_items + (self.num_special_items if allow_special else 0)
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high > upper:
            bad = low if low < 0 else high
            raise ValueError(
                f"item id {bad} in {what} is outside the catalogue of this model ({self.config.num_items} items: "
                f"valid ids are 1..{self.config.num_items}, 0 is padding)"
            )

    def check_histories(self, histories: Sequence[Sequence[int]], allow_empty: bool = False) -> None:
        """Every history is a list of catalogue ids 1..num_items (0 is padding, never an item), non-empty unless
        ``allow_empty``; the error names the history's index and the offending id."""
        if isinstance(histories, torch.Tensor) or (len(histories) and isinstance(histories[0], (int, np.integer))):
            raise ModelInputError("histories must be a list of item-id lists (one per user), e.g. [[1, 5, 7]]")
        lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
        if not allow_empty and (lengths == 0).any():
            raise ModelInputError(
                f"history {int(np.argmax(lengths == 0))} is empty: a recommendation needs at least one past item"
            )
        if not lengths.sum():
            return
        flat = np.fromiter((int(x) for h in histories for x in h), dtype=np.int64, count=int(lengths.sum()))
        bad = (flat < 1) | (flat > self.config.num_items)
        if bad.any():
            pos = int(np.argmax(bad))
            row = int(np.searchsorted(np.cumsum(lengths), pos, side="right"))
            raise UnknownItemError(
                f"history {row} contains item id {int(flat[pos])}, which is outside the catalogue of this model "
                f"({self.config.num_items} items: valid ids are 1..{self.config.num_items}; 0 is padding)"
            )

    # -- to implement --------------------------------------------------------------------------------------------
    def sequence_output(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def position_output(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor
    ) -> torch.Tensor:
        """Hidden states ``(P, H)`` at the ``positions`` mask ``(B, L)``; subclasses may compute only those."""
        return self.sequence_output(input_ids, attention_mask)[positions]

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """User/sequence representation ``(B, H)`` after the last (most recent) position."""
        input_ids, attention_mask = self._prepare_inputs(input_ids, attention_mask)
        return self.sequence_output(input_ids, attention_mask)[:, -1]

    def training_chunk_shape(self) -> tuple[int, int]:
        """``(chunk_length, context)`` for ``build_training_chunks``."""
        return self.config.max_seq_length, 0

    # -- helpers -------------------------------------------------------------------------------------------------
    def _prepare_inputs(self, input_ids, attention_mask, allow_special: bool = False):
        if input_ids.ndim != 2:
            raise ValueError(f"input_ids must be (batch, length), got shape {tuple(input_ids.shape)}")
        input_ids = input_ids.to(self.item_embeddings.weight.device)
        self.check_item_ids(input_ids, "input_ids", allow_special=allow_special)
        if attention_mask is None:
            attention_mask = input_ids != 0
        else:
            attention_mask = attention_mask.to(input_ids.device).bool() & (input_ids != 0)
        return input_ids, attention_mask

    def get_item_embeddings(self) -> torch.Tensor:
        """``(num_items + 1, H)`` item embedding table (row 0 = padding), used as the output layer too."""
        return self.item_embeddings.weight[: self.config.num_items + 1]

    def _full_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = hidden @ self.get_item_embeddings().T
        logits[:, 0] = float("-inf")
        return logits

    def _loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss over ``P`` supervised positions: ``hidden`` (P, H), ``targets`` (P,)."""
        if self.config.loss_type == "ce":
            # Full softmax over the catalogue in one matmul; padding column excluded.
            return F.cross_entropy(self._full_logits(hidden), targets)
        table = self.get_item_embeddings()
        negatives = torch.randint(
            1, self.config.num_items + 1, (targets.shape[0], self.config.num_negatives), device=targets.device
        )
        pos = (hidden * table[targets]).sum(-1)
        neg = torch.einsum("ph,pnh->pn", hidden, table[negatives])
        keep = (negatives != targets[:, None]).float()  # a sampled "negative" equal to the target is not negative
        pos_loss = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
        neg_loss = F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg), reduction="none")
        return pos_loss + (neg_loss * keep).sum() / keep.sum().clamp(min=1.0)

    # -- forward -------------------------------------------------------------------------------------------------
    def forward(self, input_ids, attention_mask=None, labels=None, **kwargs) -> SeqRecOutput:
        if labels is not None and labels.ndim == 2:
            input_ids, attention_mask = self._prepare_inputs(input_ids, attention_mask, allow_special=True)
            labels = labels.to(input_ids.device)
            if labels.shape != input_ids.shape:
                raise ValueError(f"labels {tuple(labels.shape)} must match input_ids {tuple(input_ids.shape)}")
            positions = labels != IGNORE_INDEX
            targets = labels[positions]
            self.check_item_ids(targets, "labels")
            if targets.numel() == 0:
                raise ValueError("no supervised position in this batch (all labels are -100)")
            hidden = self.position_output(input_ids, attention_mask, positions)
            return SeqRecOutput(loss=self._loss(hidden, targets), logits=None, last_hidden_state=None)
        hidden = self.encode(input_ids, attention_mask)
        logits = self._full_logits(hidden)
        loss = None
        if labels is not None:
            labels = labels.to(hidden.device).reshape(-1)
            self.check_item_ids(labels, "labels")
            loss = self._loss(hidden, labels)
        return SeqRecOutput(loss=loss, logits=logits, last_hidden_state=hidden)

    # -- inference surface ---------------------------------------------------------------------------------------
    def score_all(self, input_ids, attention_mask=None) -> torch.Tensor:
        """``(B, num_items + 1)`` scores of every item after each history; column 0 (padding) is ``-inf``."""
        return self._full_logits(self.encode(input_ids, attention_mask))

    def score_candidates(self, input_ids, candidate_ids, attention_mask=None) -> torch.Tensor:
        """``(B, C)`` scores of the given candidate ids for each history."""
        candidate_ids = torch.as_tensor(candidate_ids, device=self.item_embeddings.weight.device)
        if candidate_ids.ndim != 2 or candidate_ids.shape[0] != input_ids.shape[0]:
            raise ValueError(f"candidate_ids must be (batch, C), got shape {tuple(candidate_ids.shape)}")
        self.check_item_ids(candidate_ids, "candidate_ids")
        check_distinct_candidates(candidate_ids)
        hidden = self.encode(input_ids, attention_mask)
        return torch.einsum("bh,bch->bc", hidden, self.get_item_embeddings()[candidate_ids])

    @torch.no_grad()
    def recommend(
        self,
        histories: Sequence[Sequence[int]],
        k: int = 10,
        exclude_seen: bool = True,
        batch_size: int = 1024,
        allow_empty: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` item ids and scores ``(B, k)`` for each history (lists of item ids, most recent last).

        An empty history is an error unless ``allow_empty`` (bulk exports of prepared rows: a user's train row may
        have no past item; its scores then come from the model's prior alone)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or k > self.config.num_items:
            raise ModelInputError(f"k must be an integer in 1..{self.config.num_items}, got {k!r}")
        self.check_histories(histories, allow_empty=allow_empty)
        was_training = self.training
        self.eval()
        ids_out, scores_out = [], []
        device = self.item_embeddings.weight.device
        for start in range(0, len(histories), batch_size):
            chunk = histories[start : start + batch_size]
            input_ids = pad_left(chunk, self.config.max_seq_length).to(device)
            scores = self.score_all(input_ids)
            if exclude_seen:
                seen = pad_left(chunk, max(1, max((len(h) for h in chunk), default=1))).to(device)
                self.check_item_ids(seen, "histories")
                scores.scatter_(1, seen, float("-inf"))
            top = scores.topk(k, dim=1)
            ids_out.append(top.indices)
            scores_out.append(top.values)
        self.train(was_training)
        if not ids_out:
            return torch.zeros((0, k), dtype=torch.long), torch.zeros((0, k))
        return torch.cat(ids_out), torch.cat(scores_out)


class TransformerBlock(nn.Module):
    """Pre-LN Transformer encoder block with ``F.scaled_dot_product_attention`` (shared by SASRec and BERT4Rec)."""

    def __init__(self, hidden_size, num_heads, intermediate_size, hidden_act, dropout, attention_dropout, eps):
        super().__init__()
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.attn_norm = nn.LayerNorm(hidden_size, eps=eps)
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size)
        self.attn_out = nn.Linear(hidden_size, hidden_size)
        self.ffn_norm = nn.LayerNorm(hidden_size, eps=eps)
        self.ffn_in = nn.Linear(hidden_size, intermediate_size)
        self.ffn_out = nn.Linear(intermediate_size, hidden_size)
        self.act = F.gelu if hidden_act == "gelu" else F.relu
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        batch, length, width = hidden.shape
        q, k, v = self.qkv(self.attn_norm(hidden)).view(batch, length, 3, self.num_heads, -1).unbind(2)
        attn = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=attn_mask,
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        hidden = hidden + self.dropout(self.attn_out(attn.transpose(1, 2).reshape(batch, length, width)))
        hidden = hidden + self.dropout(self.ffn_out(self.dropout(self.act(self.ffn_in(self.ffn_norm(hidden))))))
        return hidden


def attention_mask_4d(attention_mask: torch.Tensor, causal: bool) -> torch.Tensor:
    """``(B, 1, L, L)`` boolean mask (True = may attend): valid keys (causal: only earlier ones); every position may
    attend to itself so that fully padded rows never produce NaN."""
    length = attention_mask.shape[1]
    eye = torch.eye(length, dtype=torch.bool, device=attention_mask.device)
    mask = attention_mask[:, None, None, :].expand(-1, 1, length, -1)
    if causal:
        mask = mask & torch.ones(length, length, dtype=torch.bool, device=attention_mask.device).tril()
    return mask | eye


class TransformerSequenceMixin:
    """Shared by SASRec (causal attention) and BERT4Rec (bidirectional): learned positions + pre-built blocks."""

    causal_attention: bool = True

    def _build_transformer(self, config) -> None:
        self.position_embeddings = nn.Embedding(config.max_seq_length, config.hidden_size)
        self.embedding_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layers = nn.ModuleList(
            TransformerBlock(
                config.hidden_size,
                config.num_attention_heads,
                config.intermediate_size,
                config.hidden_act,
                config.hidden_dropout_prob,
                config.attention_dropout_prob,
                config.layer_norm_eps,
            )
            for _ in range(config.num_hidden_layers)
        )
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def sequence_output(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        if length > self.config.max_seq_length:
            raise ValueError(
                f"input length {length} exceeds max_seq_length={self.config.max_seq_length}; crop histories first"
            )
        # Positions count from the first real item (as in causal LMs), so a prefix inside a training chunk gets exactly
        # the positions it gets when scored on its own at inference time, whatever the padding.
        positions = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)
        hidden = self.item_embeddings(input_ids) + self.position_embeddings(positions)
        hidden = self.embedding_dropout(hidden) * attention_mask[..., None]
        mask = attention_mask_4d(attention_mask, causal=self.causal_attention)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return self.final_norm(hidden)
