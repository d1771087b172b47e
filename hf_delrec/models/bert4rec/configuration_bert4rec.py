"""BERT4Rec configuration."""

from huggingface_hub.dataclasses import strict

from ..sasrec.configuration_sasrec import HIDDEN_ACTS
from ..sequential_base import SequentialRecommenderConfig, check_positive


@strict
class BERT4RecConfig(SequentialRecommenderConfig):
    """BERT4Rec: bidirectional pre-LN Transformer; item id ``num_items + 1`` is ``[MASK]``.

    Training masks a ``mask_prob`` fraction of the items of each chunk (at least one) and predicts them; inference
    appends ``[MASK]`` after the last ``max_seq_length - 1`` history items and scores that position.
    """

    model_type = "delrec_bert4rec"

    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 256
    hidden_act: str = "gelu"
    attention_dropout_prob: float = 0.2
    layer_norm_eps: float = 1e-8
    mask_prob: float = 0.2

    def validate_architecture(self):
        check_positive(self, "num_hidden_layers", "num_attention_heads", "intermediate_size")
        if self.max_seq_length < 2:
            raise ValueError(f"max_seq_length must be >= 2 for BERT4Rec (history + [MASK]), got {self.max_seq_length}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.hidden_act not in HIDDEN_ACTS:
            raise ValueError(f"hidden_act must be one of {list(HIDDEN_ACTS)}, got {self.hidden_act!r}")
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {self.mask_prob}")
        if not 0.0 <= self.attention_dropout_prob < 1.0:
            raise ValueError(f"attention_dropout_prob must be in [0, 1), got {self.attention_dropout_prob}")

    @property
    def mask_token_id(self) -> int:
        return self.num_items + 1
