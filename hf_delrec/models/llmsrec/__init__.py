"""LLM-SRec: a frozen LLM whose user representation is distilled from a frozen sequential recommender."""

from transformers import AutoConfig, AutoModel

from .configuration_llmsrec import LLMSRecConfig
from .modeling_llmsrec import LLMSRecModel, LLMSRecOutput
from .prompts_llmsrec import LLMSRecPromptBuilder, build_item_prompt, build_user_prompt

AutoConfig.register(LLMSRecConfig.model_type, LLMSRecConfig, exist_ok=True)
AutoModel.register(LLMSRecConfig, LLMSRecModel, exist_ok=True)

__all__ = ["LLMSRecConfig", "LLMSRecModel", "LLMSRecOutput", "LLMSRecPromptBuilder", "build_item_prompt",
           "build_user_prompt"]
