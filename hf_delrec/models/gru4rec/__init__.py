"""GRU4Rec (Hidasi et al., ICLR 2016; CE-trained as in Hidasi & Czapp 2023): recurrent sequential recommender."""

from transformers import AutoConfig, AutoModel

from .configuration_gru4rec import GRU4RecConfig
from .modeling_gru4rec import GRU4RecModel

AutoConfig.register(GRU4RecConfig.model_type, GRU4RecConfig, exist_ok=True)
AutoModel.register(GRU4RecConfig, GRU4RecModel, exist_ok=True)

__all__ = ["GRU4RecConfig", "GRU4RecModel"]
