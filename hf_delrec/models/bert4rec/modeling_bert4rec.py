"""BERT4Rec model (masked-item training; see ``mask_items`` for the collator side)."""

from __future__ import annotations

import torch

from ..sequential_base import IGNORE_INDEX, SequentialRecommenderPreTrainedModel, TransformerSequenceMixin
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


class BERT4RecModel(TransformerSequenceMixin, SequentialRecommenderPreTrainedModel):
    config_class = BERT4RecConfig
    causal_attention = False
    num_special_items = 1  # [MASK]
    training_objective = "cloze"

    def __init__(self, config: BERT4RecConfig):
        super().__init__(config)
        self._build_item_embeddings()
        self._build_transformer(config)
        self.post_init()

    def encode(self, input_ids, attention_mask=None):
        input_ids, attention_mask = self._prepare_inputs(input_ids, attention_mask)
        # Keep the last max_seq_length - 1 items and append [MASK]: its output is the next-item representation.
        keep = self.config.max_seq_length - 1
        input_ids, attention_mask = input_ids[:, -keep:], attention_mask[:, -keep:]
        mask_col = torch.full_like(input_ids[:, :1], self.config.mask_token_id)
        input_ids = torch.cat([input_ids * attention_mask, mask_col], dim=1)
        attention_mask = torch.cat([attention_mask, torch.ones_like(attention_mask[:, :1])], dim=1)
        return self.sequence_output(input_ids, attention_mask)[:, -1]
