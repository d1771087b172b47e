"""Configuration of a DELRec soft prompt: K trainable vectors of the LLM's hidden size."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

SOFT_TOKEN_FORMAT = "<|delrec_soft_{}|>"


@strict
class SoftPromptConfig(PreTrainedConfig):
    """A soft prompt distilled for one LLM (``base_model_name_or_path``) from one teacher (provenance fields).

    Args:
        num_soft_tokens: K, the number of soft vectors (the paper uses 100).
        hidden_size: width of the LLM's input embeddings.
        init: "random" (N(0, init_std), the paper's choice) or "text" (rows copied from the LLM's embeddings of
            ``init_text``, tiled to K; done by ``SoftPrompt.init_from_embeddings``, which needs the LLM).
        init_std: standard deviation of the random initialisation. The paper's OpenPrompt embedding is N(0, 1);
            LLM embeddings are much smaller, so the default matches their typical scale instead.
        init_text: the text for init="text".
        soft_tokens: the K placeholder strings registered in the tokenizer (default ``<|delrec_soft_i|>``).
        base_model_name_or_path: the LLM this prompt was trained for.
        teacher_name_or_path / teacher_model_type: provenance of the distilled recommender.
        dataset: provenance (name of the prepared dataset).
    """

    model_type = "delrec_soft_prompt"

    num_soft_tokens: int = 100
    hidden_size: int = 576
    init: str = "random"
    init_std: float = 0.02
    init_text: str | None = None
    soft_tokens: list[str] | None = None
    base_model_name_or_path: str | None = None
    teacher_name_or_path: str | None = None
    teacher_model_type: str | None = None
    dataset: str | None = None

    def __post_init__(self, **kwargs):
        if self.soft_tokens is None:
            self.soft_tokens = [SOFT_TOKEN_FORMAT.format(i) for i in range(self.num_soft_tokens)]
        super().__post_init__(**kwargs)

    def validate_soft_prompt(self):
        if self.num_soft_tokens < 1:
            raise ValueError(f"num_soft_tokens must be >= 1, got {self.num_soft_tokens}")
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {self.hidden_size}")
        if self.init not in ("random", "text"):
            raise ValueError(f"init must be 'random' or 'text', got {self.init!r}")
        if self.init == "text" and not self.init_text:
            raise ValueError("init='text' needs init_text")
        if self.soft_tokens is not None:
            if len(self.soft_tokens) != self.num_soft_tokens:
                raise ValueError(
                    f"soft_tokens has {len(self.soft_tokens)} entries but num_soft_tokens is {self.num_soft_tokens}"
                )
            if len(set(self.soft_tokens)) != len(self.soft_tokens):
                raise ValueError("soft_tokens must be distinct strings")


__all__ = ["SoftPromptConfig", "SOFT_TOKEN_FORMAT"]
