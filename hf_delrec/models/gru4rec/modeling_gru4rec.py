"""GRU4Rec model: the GRU's output at every position predicts the next item (all positions in one pass)."""

from __future__ import annotations

import torch
import torch.nn as nn
from transformers import initialization as init

from ..sequential_base import SequentialRecommenderPreTrainedModel
from .configuration_gru4rec import GRU4RecConfig


class GRU4RecModel(SequentialRecommenderPreTrainedModel):
    config_class = GRU4RecConfig

    def __init__(self, config: GRU4RecConfig):
        super().__init__(config)
        self._build_item_embeddings()
        self.embedding_dropout = nn.Dropout(config.embedding_dropout_prob)
        self.gru = nn.GRU(
            config.hidden_size,
            config.hidden_size,
            num_layers=config.num_hidden_layers,
            batch_first=True,
            dropout=config.hidden_dropout_prob if config.num_hidden_layers > 1 else 0.0,
        )
        self.projection = nn.Linear(config.hidden_size, config.hidden_size)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        # The default initialiser ignores nn.GRU (PyTorch's uniform(+-1/sqrt(H)) would stay): input weights Xavier,
        # recurrent weights orthogonal per gate (keeps the recurrence norm-preserving at init), biases zero.
        if isinstance(module, nn.GRU):
            hidden = module.hidden_size
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    if getattr(param, "_is_hf_initialized", False):  # loaded from a checkpoint: keep it
                        continue
                    for gate in range(3):
                        init.orthogonal_(param[gate * hidden : (gate + 1) * hidden])
                elif name.startswith("bias"):
                    init.zeros_(param)

    def sequence_output(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # Left padding: padded steps come first with zero input embeddings, so the state entering the first real item
        # is the same for every sequence, and the last step is always the most recent item.
        hidden = self.embedding_dropout(self.item_embeddings(input_ids))
        output, _ = self.gru(hidden)
        return self.projection(output)
