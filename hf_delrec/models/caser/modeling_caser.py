"""Caser model. Training supervises every position of a chunk in one forward pass by cutting the L-item window
ending at each supervised position (``unfold``) and running the convolutions on those windows only."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import initialization as init

from ..sequential_base import SequentialRecommenderPreTrainedModel
from .configuration_caser import CaserConfig


class CaserModel(SequentialRecommenderPreTrainedModel):
    config_class = CaserConfig

    def __init__(self, config: CaserConfig):
        super().__init__(config)
        self._build_item_embeddings()
        window, width = config.max_seq_length, config.hidden_size
        self.heights = list(range(1, min(window, config.max_filter_height) + 1))
        # Horizontal filters of height h over the full embedding width == Conv1d over time with kernel h.
        self.horizontal = nn.ModuleList(nn.Conv1d(width, config.num_horizontal_filters, h) for h in self.heights)
        self.vertical = nn.Conv2d(1, config.num_vertical_filters, (window, 1))
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        concat = config.num_vertical_filters * width + config.num_horizontal_filters * len(self.heights)
        self.fc = nn.Linear(concat, width)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        # Convolutions feed ReLUs: He (Kaiming) normal fan-in init instead of the default N(0, 0.02), biases zero.
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
            init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.xavier_normal_(module.weight)
            init.zeros_(module.bias)

    def training_chunk_shape(self) -> tuple[int, int]:
        # Long chunks with L-1 items of unsupervised context: every pair sees its full L-item window.
        length = max(self.config.train_chunk_length, self.config.max_seq_length)
        return length, self.config.max_seq_length - 1

    def _windows_output(self, windows: torch.Tensor) -> torch.Tensor:
        """``windows`` (P, L) left-padded item ids -> (P, H)."""
        emb = self.item_embeddings(windows)  # (P, L, H)
        vertical = self.vertical(emb[:, None]).flatten(1)  # (P, n_v * H)
        seq = emb.transpose(1, 2)  # (P, H, L)
        horizontal = [F.relu(conv(seq)).amax(dim=2) for conv in self.horizontal]  # each (P, n_h)
        z = self.dropout(torch.cat([vertical, *horizontal], dim=1))
        return F.relu(self.fc(z))

    def encode(self, input_ids, attention_mask=None):
        input_ids, attention_mask = self._prepare_inputs(input_ids, attention_mask)
        window = self.config.max_seq_length
        input_ids = input_ids * attention_mask
        if input_ids.shape[1] < window:
            input_ids = F.pad(input_ids, (window - input_ids.shape[1], 0))
        return self._windows_output(input_ids[:, -window:])

    def position_output(self, input_ids, attention_mask, positions):
        window = self.config.max_seq_length
        padded = F.pad(input_ids * attention_mask, (window - 1, 0))
        windows = padded.unfold(1, window, 1)  # (B, T, L): window ending at each position
        return self._windows_output(windows[positions])

    def sequence_output(self, input_ids, attention_mask):
        positions = torch.ones_like(input_ids, dtype=torch.bool)
        return self.position_output(input_ids, attention_mask, positions).view(*input_ids.shape, -1)
