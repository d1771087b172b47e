"""SASRec configuration."""

from huggingface_hub.dataclasses import strict

from ..sequential_base import SequentialRecommenderConfig, check_positive

HIDDEN_ACTS = ("gelu", "relu")


@strict
class SASRecConfig(SequentialRecommenderConfig):
    """SASRec: item + learned position embeddings, ``num_hidden_layers`` pre-LN causal Transformer blocks.

    Defaults follow the common RecBole/SASRec+ setting (hidden 64, 2 layers, max length 50, full-softmax CE).
    """

    model_type = "delrec_sasrec"

    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 256
    hidden_act: str = "gelu"
    attention_dropout_prob: float = 0.2
    layer_norm_eps: float = 1e-8

    def validate_architecture(self):
        check_positive(self, "num_hidden_layers", "num_attention_heads", "intermediate_size")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.hidden_act not in HIDDEN_ACTS:
            raise ValueError(f"hidden_act must be one of {list(HIDDEN_ACTS)}, got {self.hidden_act!r}")
        if not 0.0 <= self.attention_dropout_prob < 1.0:
            raise ValueError(f"attention_dropout_prob must be in [0, 1), got {self.attention_dropout_prob}")
