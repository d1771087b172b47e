"""SASRec model: all positions supervised in one causal forward pass."""

from __future__ import annotations

import torch
import torch.nn as nn

from ..sequential_base import (
    SequentialRecommenderPreTrainedModel,
    TransformerBlock,
    attention_mask_4d,
)
from .configuration_sasrec import SASRecConfig


class SASRecModel(SequentialRecommenderPreTrainedModel):
    config_class = SASRecConfig

    def __init__(self, config: SASRecConfig):
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
        mask = attention_mask_4d(attention_mask, causal=True)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return self.final_norm(hidden)
