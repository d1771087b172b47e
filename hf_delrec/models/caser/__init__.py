"""Caser (Tang & Wang, WSDM 2018): convolutional sequence embedding recommender."""

from transformers import AutoConfig, AutoModel

from .configuration_caser import CaserConfig
from .modeling_caser import CaserModel

AutoConfig.register(CaserConfig.model_type, CaserConfig, exist_ok=True)
AutoModel.register(CaserConfig, CaserModel, exist_ok=True)

__all__ = ["CaserConfig", "CaserModel"]
