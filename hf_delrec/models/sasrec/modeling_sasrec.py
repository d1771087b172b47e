"""SASRec model: all positions supervised in one causal forward pass."""

from __future__ import annotations

from ..sequential_base import SequentialRecommenderPreTrainedModel, TransformerSequenceMixin
from .configuration_sasrec import SASRecConfig


class SASRecModel(TransformerSequenceMixin, SequentialRecommenderPreTrainedModel):
    config_class = SASRecConfig
    causal_attention = True

    def __init__(self, config: SASRecConfig):
        super().__init__(config)
        self._build_item_embeddings()
        self._build_transformer(config)
        self.post_init()
