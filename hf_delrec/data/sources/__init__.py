"""Source loaders: each returns a ``RawInteractions`` (see ``hf_delrec.data.raw``)."""

from .amazon import load_amazon
from .movielens import MOVIELENS, load_ml1m, load_ml100k
from .steam import load_steam
from .table import load_interactions_table

__all__ = ["MOVIELENS", "load_amazon", "load_interactions_table", "load_ml100k", "load_ml1m", "load_steam"]
