"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention sequential recommender."""

from transformers import AutoConfig, AutoModel

from .configuration_sasrec import SASRecConfig
from .modeling_sasrec import SASRecModel

AutoConfig.register(SASRecConfig.model_type, SASRecConfig, exist_ok=True)
AutoModel.register(SASRecConfig, SASRecModel, exist_ok=True)

__all__ = ["SASRecConfig", "SASRecModel"]
