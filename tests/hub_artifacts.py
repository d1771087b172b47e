"""Small artifacts for the Hub tests, written in the formats of ARCHITECTURE.md (no dependency on the data layer)."""

from __future__ import annotations

import json
from pathlib import Path


def write_prepared_dataset(path: str | Path, num_users: int = 12, num_items: int = 30, seed: int = 0,
                           with_predictions: bool = True) -> Path:
    """A tiny prepared dataset: stats.json, items/ (Dataset), examples/ (train/validation/test), teacher_predictions/."""
    import random

    from datasets import Dataset, DatasetDict, Features, List, Value

    rng = random.Random(seed)
    path = Path(path)
    path.mkdir(parents=True)
    items = Dataset.from_dict(
        {"item_id": list(range(1, num_items + 1)), "raw_id": [f"m{i:04d}" for i in range(1, num_items + 1)],
         "title": [f"Movie {i} ({1980 + i})" for i in range(1, num_items + 1)],
         "genres": [["Drama"] if i % 2 else ["Comedy", "Romance"] for i in range(1, num_items + 1)]},
        features=Features({"item_id": Value("int64"), "raw_id": Value("string"), "title": Value("string"),
                           "genres": List(Value("string"))}),
    )
    items.save_to_disk(str(path / "items"))
    features = Features({
        "user_id": Value("int64"), "raw_user_id": Value("string"), "history": List(Value("int64")),
        "history_timestamps": List(Value("int64")), "target": Value("int64"), "target_timestamp": Value("int64"),
        "negatives": List(Value("int64")), "candidates": List(Value("int64")),
    })
    splits = {"train": [], "validation": [], "test": []}
    for user in range(1, num_users + 1):
        seq = rng.sample(range(1, num_items + 1), rng.randint(4, 9))
        times = sorted(rng.sample(range(10**9, 10**9 + 10**6), len(seq)))
        rest = [i for i in range(1, num_items + 1) if i not in seq]
        for split, cut in (("test", 1), ("validation", 2), ("train", 3)):
            negatives = rng.sample(rest, 6)
            target = seq[-cut]
            candidates = [target] + negatives[:4]
            rng.shuffle(candidates)
            splits[split].append({
                "user_id": user, "raw_user_id": f"u{user}", "history": seq[:-cut], "history_timestamps": times[:-cut],
                "target": target, "target_timestamp": times[-cut], "negatives": negatives, "candidates": candidates,
            })
    DatasetDict({s: Dataset.from_list(rows, features=features) for s, rows in splits.items()}).save_to_disk(
        str(path / "examples"))
    if with_predictions:
        preds = Dataset.from_dict(
            {"user_id": list(range(1, num_users + 1)),
             "teacher_topk": [rng.sample(range(1, num_items + 1), 5) for _ in range(num_users)],
             "teacher_scores": [[round(rng.random(), 3) for _ in range(5)] for _ in range(num_users)]},
            features=Features({"user_id": Value("int64"), "teacher_topk": List(Value("int64")),
                               "teacher_scores": List(Value("float32"))}),
        )
        DatasetDict({"train": preds}).save_to_disk(str(path / "teacher_predictions" / "sasrec"))
    stats = {
        "dataset": "toy-ml", "source": "movielens (synthetic test rows)", "num_users": num_users,
        "num_items": num_items, "num_interactions": sum(len(r["history"]) + 1 for r in splits["test"]),
        "filtering": {"duplicate_interactions": 3, "users_with_fewer_than_3_interactions": 2},
        "split_protocol": {"name": "leave-one-out", "order": "timestamp"}, "seed": seed, "num_negatives": 6,
        "num_candidates": 5, "negative_sampling": "uniform", "max_history_length": 50,
        "catalogue_fingerprint": "0" * 64, "version": 1,
    }
    (path / "stats.json").write_text(json.dumps(stats, indent=2))
    return path
