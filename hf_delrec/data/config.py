"""Options of ``prepare_dataset`` / ``hf-delrec data prepare`` (one dataclass; the CLI flags are built from it)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Literal, Optional

from .errors import DataConfigError

SOURCES = ("ml-100k", "ml-1m", "amazon", "steam", "interactions")


def _opt(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class PrepareConfig:
    # --- naming / output
    name: Optional[str] = _opt(None, "dataset name written to stats.json (default: the source name)")
    overwrite: bool = _opt(False, "replace an existing output directory")
    # --- where the files are (source specific)
    items_path: Optional[str] = _opt(None, "items/titles file overriding the source's default (u.item, *.item, ...)")
    user_column: str = _opt("user_id", "interactions: user id column")
    item_column: str = _opt("item_id", "interactions: item id column")
    timestamp_column: Optional[str] = _opt(
        "timestamp", "interactions: timestamp column (unix seconds or ISO 8601); 'none' = file order, no timestamps"
    )
    rating_column: Optional[str] = _opt(None, "interactions: rating column (only needed with --min-rating)")
    format: Optional[str] = _opt(None, "interactions: csv, tsv, parquet or jsonl (default: from the extension)")
    encoding: str = _opt("utf-8", "interactions: text encoding of CSV/TSV/JSONL files")
    items_id_column: Optional[str] = _opt(
        None, "interactions: item id column of the items table (default: item column)"
    )
    title_column: str = _opt("title", "interactions: title column of the items table")
    steam_padding_id: Optional[int] = _opt(None, "steam: padding id in 'seq' (default: number of games = LLaRA's)")
    # --- filtering
    min_rating: Optional[float] = _opt(None, "drop interactions rated below this (sources with ratings)")
    duplicates: Literal["drop", "error", "keep"] = _opt(
        "drop", "identical (user, item, timestamp) rows: drop the repeats (counted), error, or keep them"
    )
    repeats: Literal["keep", "first", "last"] = _opt(
        "keep", "a user consuming the same item again at another time: keep all, or only the first/last"
    )
    unknown_items: Literal["error", "drop", "keep"] = _opt(
        "error", "interactions whose item is missing from the items table: error, drop (counted), keep (empty title)"
    )
    user_core: int = _opt(0, "k-core: drop users with fewer interactions (iterated with --item-core to a fixed point)")
    item_core: int = _opt(0, "k-core: drop items with fewer interactions")
    short_users: Literal["drop", "error"] = _opt(
        "drop", "users with < 3 interactions cannot be split leave-one-out: drop them (counted) or error"
    )
    # --- examples
    max_history_length: Optional[int] = _opt(None, "keep only the most recent N history items per example")
    num_negatives: int = _opt(99, "sampled negatives per example (99 = LLM-SRec's 1+99 protocol)")
    num_candidates: int = _opt(20, "candidate set size: target + num_candidates-1 negatives (DELRec/LLaRA: 20)")
    negative_sampling: Literal["uniform", "popularity"] = _opt("uniform", "how negatives are drawn")
    seed: int = _opt(42, "seed for negatives and candidate shuffling")

    def __post_init__(self) -> None:
        if self.items_path is not None:
            self.items_path = os.fspath(self.items_path)

    def validate(self) -> None:
        for name in ("user_core", "item_core", "num_negatives"):
            if getattr(self, name) < 0:
                raise DataConfigError(f"must be >= 0, got {getattr(self, name)}", field=name)
        if self.num_candidates < 1:
            raise DataConfigError(f"must be >= 1, got {self.num_candidates}", field="num_candidates")
        if self.num_candidates - 1 > self.num_negatives:
            raise DataConfigError(
                f"{self.num_candidates} candidates need {self.num_candidates - 1} negatives but num_negatives is "
                f"{self.num_negatives}",
                field="num_candidates",
            )
        if self.max_history_length is not None and self.max_history_length < 1:
            raise DataConfigError(f"must be >= 1, got {self.max_history_length}", field="max_history_length")
        for f in dataclasses.fields(self):
            if isinstance(f.type, str) and f.type.startswith("Literal"):
                allowed = [a.strip().strip("\"'") for a in f.type[len("Literal[") : -1].split(",")]
                if getattr(self, f.name) not in allowed:
                    raise DataConfigError(f"{getattr(self, f.name)!r} is not one of {allowed}", field=f.name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
