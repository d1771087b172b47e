"""The complete DELRec recommender (``model_type = "delrec"``), registered with AutoConfig/AutoModel."""

from transformers import AutoConfig, AutoModel

from .configuration_delrec import SCORING_METHODS, DELRecConfig
from .modeling_delrec import DELRec

AutoConfig.register(DELRecConfig.model_type, DELRecConfig, exist_ok=True)
AutoModel.register(DELRecConfig, DELRec, exist_ok=True)

__all__ = ["DELRecConfig", "DELRec", "SCORING_METHODS"]
