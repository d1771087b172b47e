"""The prepared-dataset format (see ARCHITECTURE.md): ``DIR/stats.json``, ``DIR/items/`` (datasets.Dataset) and
``DIR/examples/`` (datasets.DatasetDict train/validation/test), written atomically; ``load_prepared`` reads it."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa

from .errors import DataFormatError

FORMAT_VERSION = 1
SPLITS = ("train", "validation", "test")


def example_features():
    from datasets import Features, List, Value

    return Features(
        {
            "user_id": Value("int64"),
            "raw_user_id": Value("string"),
            "history": List(Value("int64")),
            "history_timestamps": List(Value("int64")),
            "target": Value("int64"),
            "target_timestamp": Value("int64"),
            "negatives": List(Value("int64")),
            "candidates": List(Value("int64")),
        }
    )


def item_features(metadata_features: dict[str, Any] | None = None):
    from datasets import Features, Value

    feats = {"item_id": Value("int64"), "raw_id": Value("string"), "title": Value("string")}
    feats.update(metadata_features or {})
    return Features(feats)


def catalogue_fingerprint(raw_ids: Iterable[str]) -> str:
    """sha256 of the raw item ids in item_id order, joined by newlines: two artifacts agree on what item k is iff
    their fingerprints match."""
    h = hashlib.sha256()
    for k, rid in enumerate(raw_ids):
        h.update(("\n" if k else "").encode() + str(rid).encode("utf-8"))
    return h.hexdigest()


def list_array(values: np.ndarray, offsets: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32 if offsets[-1] < 2**31 else np.int64)),
                                    pa.array(values, type=pa.int64()))  # fmt: skip


def dataset_from_arrow(table: pa.Table, features):
    """A ``datasets.Dataset`` over an in-memory Arrow table with exactly ``features``."""
    from datasets import Dataset, DatasetInfo
    from datasets.fingerprint import generate_random_fingerprint
    from datasets.table import InMemoryTable

    table = table.select(list(features.keys())).cast(features.arrow_schema)
    # An explicit fingerprint: otherwise datasets hashes the whole in-memory table (seconds for 1M rows).
    return Dataset(InMemoryTable(table), info=DatasetInfo(features=features), fingerprint=generate_random_fingerprint())


@dataclass
class PreparedDataset:
    """A prepared dataset read back from disk (Arrow files are memory-mapped)."""

    path: Path
    items: Any  # datasets.Dataset
    examples: Any  # datasets.DatasetDict
    stats: dict = field(default_factory=dict)

    @property
    def num_items(self) -> int:
        return int(self.stats["num_items"])

    @property
    def num_users(self) -> int:
        return int(self.stats["num_users"])

    @property
    def catalogue_fingerprint(self) -> str:
        return str(self.stats["catalogue_fingerprint"])

    @property
    def titles(self) -> list[str]:
        """Index = item_id; ``titles[0] == ""`` (padding)."""
        if not hasattr(self, "_titles"):
            self._titles = [""] + list(self.items["title"])
        return self._titles

    @property
    def raw_item_ids(self) -> list[str]:
        return [""] + list(self.items["raw_id"])

    def item_counts(self, split: str = "train") -> np.ndarray:
        """Interactions per item id (length num_items + 1) inside ``split``'s histories + targets; for popularity
        negatives or popularity baselines. With ``train`` only training-sequence interactions are counted."""
        ds = self.examples[split].with_format("arrow")
        table = ds[:]
        hist = table["history"].combine_chunks().flatten().to_numpy()
        tgt = table["target"].to_numpy()
        return np.bincount(np.concatenate([hist, tgt]), minlength=self.num_items + 1)[: self.num_items + 1]

    def __repr__(self) -> str:
        return (
            f"PreparedDataset({self.stats.get('dataset')!r}, users={self.stats.get('num_users')}, "
            f"items={self.stats.get('num_items')}, interactions={self.stats.get('num_interactions')}, path={self.path})"
        )


def load_prepared(path: str | os.PathLike) -> PreparedDataset:
    """Read a directory written by ``prepare_dataset`` / ``hf-delrec data prepare`` and check its consistency."""
    from datasets import load_from_disk

    path = Path(path)
    stats_file = path / "stats.json"
    if not stats_file.is_file():
        raise DataFormatError(
            "not a prepared dataset (stats.json missing); create one with `hf-delrec data prepare`", file=path
        )
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    if stats.get("version") != FORMAT_VERSION:
        raise DataFormatError(
            f"prepared-format version {stats.get('version')!r}, this hf_delrec reads {FORMAT_VERSION}",
            file=stats_file,
            field="version",
        )
    items = load_from_disk(str(path / "items"))
    examples = load_from_disk(str(path / "examples"))
    if sorted(examples.keys()) != sorted(SPLITS):
        raise DataFormatError(f"expected splits {list(SPLITS)}, got {list(examples.keys())}", file=path / "examples")
    if len(items) != stats["num_items"]:
        raise DataFormatError(
            f"{len(items)} item rows but stats.json says num_items={stats['num_items']}", file=path / "items"
        )
    fp = catalogue_fingerprint(items["raw_id"])
    if fp != stats["catalogue_fingerprint"]:
        raise DataFormatError("items do not match stats.json's catalogue_fingerprint", file=path / "items")
    return PreparedDataset(path=path, items=items, examples=examples, stats=stats)


def format_stats(stats: dict) -> str:
    """Human-readable summary printed by the CLI."""
    f = stats.get("filtering", {})
    lines = [
        f"dataset            {stats.get('dataset')} (source: {stats.get('source')})",
        f"users              {stats['num_users']:,}",
        f"items              {stats['num_items']:,}",
        f"interactions       {stats['num_interactions']:,}",
        f"density            {stats.get('density', 0):.6f}",
    ]
    sl = stats.get("sequence_length", {})
    if sl:
        lines.append(
            f"sequence length    min {sl['min']}, median {sl['median']:g}, mean {sl['mean']:.2f}, max {sl['max']}"
        )
    lines.append(f"timestamps         {'yes' if stats.get('has_timestamps') else 'no (file order; -1 in the data)'}")
    lines.append(
        f"input rows         {f.get('input_interactions', 0):,}, kept {f.get('kept_interactions', 0):,}, "
        f"dropped {f.get('dropped_total', 0):,}"
    )
    for reason, count in (f.get("dropped") or {}).items():
        lines.append(f"  dropped: {reason:<32} {count:,}")
    it = stats.get("items_table") or {}
    if it:
        lines.append(
            f"items table        {it.get('rows', 0):,} rows, {it.get('rows_without_interactions', 0):,} without "
            f"interactions, {it.get('empty_titles', 0):,} kept items with an empty title"
        )
    lines.append(
        f"split              leave-one-out; train/validation/test rows: {stats['num_users']:,} each"
        f" (max history: {stats.get('max_history_length') or 'all'})"
    )
    lines.append(
        f"candidates         1 target + {stats['num_candidates'] - 1} of {stats['num_negatives']} "
        f"{stats['negative_sampling']} negatives (seed {stats['seed']})"
    )
    lines.append(f"catalogue          sha256 {stats['catalogue_fingerprint']}")
    return "\n".join(lines)
