"""Caser configuration."""

from huggingface_hub.dataclasses import strict

from ..sequential_base import SequentialRecommenderConfig, check_positive


@strict
class CaserConfig(SequentialRecommenderConfig):
    """Caser over the last ``max_seq_length`` items (the paper's window L).

    ``num_horizontal_filters`` filters for each height 1..min(L, ``max_filter_height``) (max-pooled over time),
    ``num_vertical_filters`` filters of height L; concatenated -> dropout -> linear -> ReLU. The paper's user embedding
    is left out on purpose: a teacher must score any history, including users it never saw.
    """

    model_type = "delrec_caser"

    max_seq_length: int = 10
    num_horizontal_filters: int = 16
    num_vertical_filters: int = 4
    max_filter_height: int = 4
    hidden_dropout_prob: float = 0.4
    train_chunk_length: int = 64

    def validate_architecture(self):
        check_positive(self, "num_horizontal_filters", "num_vertical_filters", "max_filter_height")
        if self.train_chunk_length < self.max_seq_length:
            raise ValueError(
                f"train_chunk_length ({self.train_chunk_length}) must be >= max_seq_length ({self.max_seq_length})"
            )
