"""Configuration of LLM-SRec: a frozen LLM distilled towards a frozen sequential-recommender teacher.

Only the small trainable parts (item projector, two output-token vectors, user/item heads, CF-user projector) are
stored in the checkpoint; the LLM and the teacher are referenced by id/path and loaded when first needed.
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .prompts_llmsrec import HISTORY_TOKEN, ITEM_OUT_TOKEN, USER_OUT_TOKEN

_DTYPES = ("float32", "bfloat16", "float16")


@strict
class LLMSRecConfig(PreTrainedConfig):
    r"""
    Args:
        base_model_name_or_path: the frozen LLM (hub id or local dir; loaded with ``hf_delrec.backbones.load_backbone``).
        teacher_name_or_path: the frozen teacher (a ``delrec_*`` sequential model saved with ``save_pretrained``).
        llm_hidden_size: width of the LLM's input embeddings / hidden states.
        teacher_hidden_size: width of the teacher's item embeddings and user representation.
        num_items: catalogue size (ids 1..num_items; 0 is padding).
        projection_dim: width of the shared user/item scoring space (d' in the paper).
        head_hidden_size: hidden width of the user and item heads.
        cf_hidden_size: hidden width of the CF-user projector.
        max_history_items: how many of the most recent history items the user prompt shows.
        teacher_max_seq_length: how many history items the teacher sees (its own ``max_seq_length`` by default).
        include_dates: show interaction dates in the user prompt (costs ~10 tokens per item on digit tokenizers).
        max_title_tokens: titles are cut to this many LLM tokens before they enter a prompt.
        retrieval_loss_weight / distill_loss_weight / uniformity_loss_weight: weights of the three loss terms.
        llm_dtype: dtype the LLM is loaded in.
        catalogue_fingerprint: fingerprint of the prepared dataset's catalogue (checked by the trainer).
        history_token / user_out_token / item_out_token: placeholder strings added to the tokenizer.
    """

    model_type = "delrec_llmsrec"

    base_model_name_or_path: str | None = None
    teacher_name_or_path: str | None = None
    llm_hidden_size: int = 576
    teacher_hidden_size: int = 64
    num_items: int = 1
    projection_dim: int = 128
    head_hidden_size: int = 2048
    cf_hidden_size: int = 128
    max_history_items: int = 10
    teacher_max_seq_length: int = 50
    include_dates: bool = True
    max_title_tokens: int = 24
    retrieval_loss_weight: float = 1.0
    distill_loss_weight: float = 1.0
    uniformity_loss_weight: float = 1.0
    llm_dtype: str = "float32"
    catalogue_fingerprint: str | None = None
    history_token: str = HISTORY_TOKEN
    user_out_token: str = USER_OUT_TOKEN
    item_out_token: str = ITEM_OUT_TOKEN

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        for name in (
            "llm_hidden_size",
            "teacher_hidden_size",
            "num_items",
            "projection_dim",
            "head_hidden_size",
            "cf_hidden_size",
            "max_history_items",
            "teacher_max_seq_length",
            "max_title_tokens",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"LLMSRecConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("retrieval_loss_weight", "distill_loss_weight", "uniformity_loss_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"LLMSRecConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.llm_dtype not in _DTYPES:
            raise ValueError(f"LLMSRecConfig.llm_dtype={self.llm_dtype!r} is not one of {list(_DTYPES)}")
        tokens = [self.history_token, self.user_out_token, self.item_out_token]
        if len(set(tokens)) != 3 or not all(tokens):
            raise ValueError(f"LLMSRecConfig placeholder tokens must be distinct and non-empty, got {tokens}")
