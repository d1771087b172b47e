"""DELRec soft prompt (``model_type = "delrec_soft_prompt"``), registered with AutoConfig/AutoModel."""

from transformers import AutoConfig, AutoModel

from .configuration_soft_prompt import SOFT_TOKEN_FORMAT, SoftPromptConfig
from .modeling_soft_prompt import SoftPrompt

AutoConfig.register(SoftPromptConfig.model_type, SoftPromptConfig, exist_ok=True)
AutoModel.register(SoftPromptConfig, SoftPrompt, exist_ok=True)

__all__ = ["SoftPromptConfig", "SoftPrompt", "SOFT_TOKEN_FORMAT"]
