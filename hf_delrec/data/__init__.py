"""Data layer: source loaders (MovieLens, Amazon, Steam, generic tables), filtering, leave-one-out split, negative
sampling, and the prepared-dataset format read by every other part of hf_delrec.

    from hf_delrec.data import prepare_dataset, load_prepared
    prepare_dataset("ml-100k", "path/to/ml-100k", "data/ml-100k", num_candidates=20)
    ds = load_prepared("data/ml-100k")   # .items, .examples, .stats, .num_items, .titles, .catalogue_fingerprint
"""

from .config import SOURCES, PrepareConfig
from .errors import DataConfigError, DataError, DataFormatError, DataSourceNotFoundError
from .negatives import NegativeSampler
from .prepare import load_source, prepare_dataset
from .prepared import (
    FORMAT_VERSION,
    PreparedDataset,
    catalogue_fingerprint,
    example_features,
    format_stats,
    item_features,
    load_prepared,
)

__all__ = [
    "FORMAT_VERSION",
    "SOURCES",
    "DataConfigError",
    "DataError",
    "DataFormatError",
    "DataSourceNotFoundError",
    "NegativeSampler",
    "PrepareConfig",
    "PreparedDataset",
    "catalogue_fingerprint",
    "example_features",
    "format_stats",
    "item_features",
    "load_prepared",
    "load_source",
    "prepare_dataset",
]
