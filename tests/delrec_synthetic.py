"""Tiny synthetic prepared datasets for the DELRec stage-2/pipeline tests (no real data, built in milliseconds).

Users walk through the catalogue in steps of +1 (a sequential pattern a recommender can learn); leave-one-out splits
and negatives follow ARCHITECTURE.md's prepared format.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from types import SimpleNamespace

WORDS = ["toy story", "heat", "casino", "babe", "jumanji", "braveheart", "star wars", "the godfather", "portal",
         "dota", "half life", "twelve monkeys"]


def synthetic_rows(num_users: int = 12, num_items: int = 40, seq_len: int = 8, num_negatives: int = 30,
                   num_candidates: int = 5, seed: int = 0):
    rng = random.Random(seed)
    titles = [""] + [f"{WORDS[i % len(WORDS)]} {i} ({1990 + i % 10})" for i in range(1, num_items + 1)]
    splits = {"train": [], "validation": [], "test": []}
    for u in range(1, num_users + 1):
        start = rng.randrange(1, num_items + 1)
        seq = [((start - 1 + k) % num_items) + 1 for k in range(seq_len)]
        pool = [i for i in range(1, num_items + 1) if i not in set(seq)]
        negs = rng.sample(pool, min(num_negatives, len(pool)))
        for name, cut in (("test", seq_len - 1), ("validation", seq_len - 2), ("train", seq_len - 3)):
            cands = [seq[cut]] + negs[: num_candidates - 1]
            rng.shuffle(cands)
            splits[name].append({
                "user_id": u, "raw_user_id": str(u), "history": seq[:cut],
                "history_timestamps": list(range(cut)), "target": seq[cut], "target_timestamp": cut,
                "negatives": negs, "candidates": cands,
            })
    return titles, splits


def make_prepared(**kwargs) -> SimpleNamespace:
    """An in-memory object with the attributes of ``hf_delrec.data.PreparedDataset`` that stage 2 reads."""
    from datasets import Dataset, DatasetDict

    titles, splits = synthetic_rows(**kwargs)
    examples = DatasetDict({k: Dataset.from_list(v) for k, v in splits.items()})
    fp = hashlib.sha256("\n".join(str(i) for i in range(1, len(titles))).encode()).hexdigest()
    return SimpleNamespace(
        examples=examples, titles=titles, num_items=len(titles) - 1, catalogue_fingerprint=fp,
        stats={"dataset": "synthetic", "num_users": len(splits["train"]), "num_items": len(titles) - 1},
    )


def write_prepared(path: str | Path, **kwargs) -> Path:
    """Write the synthetic data in the on-disk prepared format (items/, examples/, stats.json)."""
    from datasets import Dataset

    path = Path(path)
    prepared = make_prepared(**kwargs)
    items = Dataset.from_dict({
        "item_id": list(range(1, len(prepared.titles))),
        "raw_id": [str(i) for i in range(1, len(prepared.titles))],
        "title": prepared.titles[1:],
    })
    items.save_to_disk(str(path / "items"))
    prepared.examples.save_to_disk(str(path / "examples"))
    stats = dict(prepared.stats, catalogue_fingerprint=prepared.catalogue_fingerprint, version=1)
    (path / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    return path


def write_interactions_csv(directory: str | Path, num_users: int = 16, num_items: int = 40, seq_len: int = 9,
                           seed: int = 0) -> tuple[Path, Path]:
    """Raw files for ``prepare_dataset("interactions", ...)``: interactions.csv (user_id,item_id,timestamp) and
    items.csv (item_id,title); the same +1 walk as ``synthetic_rows``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = ["user_id,item_id,timestamp"]
    for u in range(1, num_users + 1):
        start = rng.randrange(num_items)
        for k in range(seq_len):
            lines.append(f"u{u},i{(start + k) % num_items + 1},{1000 * u + k}")
    (directory / "interactions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = ["item_id,title"] + [f'i{i},"{WORDS[i % len(WORDS)]} {i} ({1990 + i % 10})"'
                                 for i in range(1, num_items + 1)]
    (directory / "items.csv").write_text("\n".join(items) + "\n", encoding="utf-8")
    return directory / "interactions.csv", directory / "items.csv"
