"""BERT4Rec (Sun et al., CIKM 2019): bidirectional Transformer trained with masked-item prediction."""

from transformers import AutoConfig, AutoModel

from .configuration_bert4rec import BERT4RecConfig
from .modeling_bert4rec import BERT4RecModel

AutoConfig.register(BERT4RecConfig.model_type, BERT4RecConfig, exist_ok=True)
AutoModel.register(BERT4RecConfig, BERT4RecModel, exist_ok=True)

__all__ = ["BERT4RecConfig", "BERT4RecModel"]
