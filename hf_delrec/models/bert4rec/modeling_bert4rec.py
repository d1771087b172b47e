"""BERT4Rec model (masked-item training; see ``mask_items`` for the collator side)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..sequential_base import (
    IGNORE_INDEX,
    SequentialRecommenderPreTrainedModel,
    TransformerBlock,
    attention_mask_4d,
)
from .configuration_bert4rec import BERT4RecConfig


def mask_items(
    input_ids: torch.Tensor, mask_token_id: int, mask_prob: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cloze masking for a batch ``(B, L)`` (0 = padding): returns masked inputs and labels (-100 = unmasked).

    Each real item is replaced by ``[MASK]`` with probability ``mask_prob``; a row where nothing was drawn gets its
    last item masked, so every row contributes to the loss.
    """
    real = input_ids != 0
    draw = torch.rand(input_ids.shape, generator=generator) < mask_prob
    masked = draw & real
    empty = ~masked.any(dim=1) & real.any(dim=1)
    masked[empty, -1] = True  # left padding: the last column is the most recent item
    labels = torch.where(masked, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    inputs = torch.where(masked, torch.full_like(input_ids, mask_token_id), input_ids)
    return inputs, labels


class BERT4RecModel(SequentialRecommenderPreTrainedModel):
    config_class = BERT4RecConfig
    num_special_items = 1  # [MASK]
    training_objective = "cloze"

    def __init__(self, config: BERT4RecConfig):
        super().__init__(config)
        self._build_item_embeddings()
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
        self.post_init()

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
        mask = attention_mask_4d(attention_mask, causal=False)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return self.final_norm(hidden)

    def encode(self, input_ids, attention_mask=None):
        input_ids, attention_mask = self._prepare_inputs(input_ids, attention_mask)
        # Keep the last max_seq_length - 1 items and append [MASK]: its output is the next-item representation.
        keep = self.config.max_seq_length - 1
        input_ids, attention_mask = input_ids[:, -keep:], attention_mask[:, -keep:]
        mask_col = torch.full_like(input_ids[:, :1], self.config.mask_token_id)
        input_ids = torch.cat([input_ids * attention_mask, mask_col], dim=1)
        attention_mask = torch.cat([attention_mask, torch.ones_like(attention_mask[:, :1])], dim=1)
        return self.sequence_output(input_ids, attention_mask)[:, -1]
