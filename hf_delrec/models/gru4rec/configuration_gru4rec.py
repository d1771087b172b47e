"""GRU4Rec configuration."""

from huggingface_hub.dataclasses import strict

from ..sequential_base import SequentialRecommenderConfig, check_positive


@strict
class GRU4RecConfig(SequentialRecommenderConfig):
    """GRU4Rec: item embedding -> dropout -> ``num_hidden_layers``-layer GRU -> projection to the item space."""

    model_type = "delrec_gru4rec"

    num_hidden_layers: int = 1
    embedding_dropout_prob: float = 0.3

    def validate_architecture(self):
        check_positive(self, "num_hidden_layers")
        if not 0.0 <= self.embedding_dropout_prob < 1.0:
            raise ValueError(f"embedding_dropout_prob must be in [0, 1), got {self.embedding_dropout_prob}")
