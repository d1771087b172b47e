"""Configuration of a complete DELRec recommender: base LLM + frozen soft prompt + stage-2 LoRA in ``lora/``."""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

SCORING_METHODS = ("full_title", "first_subword")


@strict
class DELRecConfig(PreTrainedConfig):
    """What ``DELRec.from_pretrained`` needs to rebuild the recommender; the LLM itself is never copied.

    Args:
        base_model_name_or_path: Hub id or local path of the LLM (loaded through ``hf_delrec.backbones``).
        backbone_dtype: dtype the LLM is loaded in ("float32", "bfloat16", "float16").
        soft_prompt: the ``SoftPromptConfig`` of the frozen stage-1 prompt as a dict (its K x H weight is this
            model's ``model.safetensors``); None for the ablation without a soft prompt.
        lora_subfolder: folder of the stage-2 PEFT adapter inside the model directory/repo; None when the LLM is
            used as is (zero-shot or stage-1-only rows).
        domain: prompt domain ("movies", "products", "games").
        template: the recommendation ("rec") template text when it is not the domain's built-in one; stored in
            full so that a saved model renders the same prompt anywhere.
        item_separator / answer_prefix: joiner of titles in the prompt, text put before a scored title.
        teacher_name: recommender name written in the prompt ("SASRec"); only text, the teacher is not needed.
        scoring: "full_title" (log-likelihood of every candidate title, shared prompt, no ties) or
            "first_subword" (the paper's one-step verbaliser).
        num_candidates: candidates shown in the prompt (1 positive + negatives in training).
        max_history_items: most recent history items written in the prompt.
        teacher_name_or_path / soft_prompt_name_or_path / dataset / catalogue_fingerprint: provenance.
        num_items: catalogue size (titles are stored in ``items.json`` beside the weights).
    """

    model_type = "delrec"

    base_model_name_or_path: str | None = None
    backbone_dtype: str = "float32"
    soft_prompt: dict[str, Any] | None = None
    lora_subfolder: str | None = "lora"
    domain: str = "movies"
    template: str | None = None
    item_separator: str = ", "
    answer_prefix: str = " "
    teacher_name: str = "SASRec"
    scoring: str = "full_title"
    num_candidates: int = 20
    max_history_items: int = 10
    teacher_name_or_path: str | None = None
    soft_prompt_name_or_path: str | None = None
    dataset: str | None = None
    catalogue_fingerprint: str | None = None
    num_items: int = 0

    def validate_delrec(self):
        if self.scoring not in SCORING_METHODS:
            raise ValueError(f"scoring must be one of {SCORING_METHODS}, got {self.scoring!r}")
        if self.backbone_dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"backbone_dtype must be float32, bfloat16 or float16, got {self.backbone_dtype!r}")
        if self.num_candidates < 2:
            raise ValueError(f"num_candidates must be >= 2, got {self.num_candidates}")
        if self.max_history_items < 1:
            raise ValueError(f"max_history_items must be >= 1, got {self.max_history_items}")
        if self.lora_subfolder is not None and (self.lora_subfolder in ("", ".") or "/" in self.lora_subfolder):
            # A root-level adapter_config.json would make transformers try to load the folder as a PEFT model.
            raise ValueError(f"lora_subfolder must be a plain sub-folder name such as 'lora', got {self.lora_subfolder!r}")


__all__ = ["DELRecConfig", "SCORING_METHODS"]
