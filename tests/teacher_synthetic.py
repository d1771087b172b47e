"""Small synthetic prepared datasets (ARCHITECTURE.md format) for the teacher tests.

Users walk the catalogue with a learnable rule: the next item is ``successor(current)`` (a fixed random permutation
cycle) with probability ``1 - noise``, else a uniformly random item. Item popularity is flat, so a most-popular
baseline stays near chance while a sequential model can learn the rule.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def make_sequences(num_users=200, num_items=120, min_len=8, max_len=16, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(num_items) + 1
    successor = np.zeros(num_items + 1, dtype=np.int64)
    successor[perm] = np.roll(perm, -1)
    sequences = []
    for _ in range(num_users):
        n = int(rng.integers(min_len, max_len + 1))
        seq = [int(rng.integers(1, num_items + 1))]
        while len(seq) < n:
            nxt = int(successor[seq[-1]]) if rng.random() > noise else int(rng.integers(1, num_items + 1))
            if nxt in seq:  # no repeats, like the real datasets
                nxt = int(rng.choice(np.setdiff1d(np.arange(1, num_items + 1), seq)))
            seq.append(nxt)
        sequences.append(seq)
    return sequences, successor


def make_prepared(
    sequences, num_items, num_negatives=99, num_candidates=20, seed=0, shuffle_rows=False, raw_prefix="i"
):
    """An in-memory prepared dataset: ``.examples`` (DatasetDict), ``.items``, ``.num_items``, ``.stats``..."""
    import datasets

    rng = np.random.default_rng(seed)
    rows = {"train": [], "validation": [], "test": []}
    for uid, seq in enumerate(sequences, start=1):
        pool = np.setdiff1d(np.arange(1, num_items + 1), seq)
        negatives = [int(x) for x in rng.choice(pool, size=min(num_negatives, len(pool)), replace=False)]
        for split, cut in (("train", len(seq) - 3), ("validation", len(seq) - 2), ("test", len(seq) - 1)):
            candidates = [seq[cut]] + negatives[: num_candidates - 1]
            rng.shuffle(candidates)
            rows[split].append(
                {
                    "user_id": uid,
                    "raw_user_id": f"u{uid}",
                    "history": [int(x) for x in seq[:cut]],
                    "history_timestamps": list(range(cut)),
                    "target": int(seq[cut]),
                    "target_timestamp": cut,
                    "negatives": negatives,
                    "candidates": [int(c) for c in candidates],
                }
            )
    features = datasets.Features(
        {
            "user_id": datasets.Value("int64"),
            "raw_user_id": datasets.Value("string"),
            "history": datasets.List(datasets.Value("int64")),
            "history_timestamps": datasets.List(datasets.Value("int64")),
            "target": datasets.Value("int64"),
            "target_timestamp": datasets.Value("int64"),
            "negatives": datasets.List(datasets.Value("int64")),
            "candidates": datasets.List(datasets.Value("int64")),
        }
    )
    splits = {}
    for split, split_rows in rows.items():
        if shuffle_rows:
            order = rng.permutation(len(split_rows))
            split_rows = [split_rows[i] for i in order]
        splits[split] = datasets.Dataset.from_list(split_rows, features=features)
    from hf_delrec.data import FORMAT_VERSION, catalogue_fingerprint

    raw_ids = [f"{raw_prefix}{i}" for i in range(1, num_items + 1)]
    fingerprint = catalogue_fingerprint(raw_ids)
    items = datasets.Dataset.from_dict(
        {"item_id": list(range(1, num_items + 1)), "raw_id": raw_ids, "title": [f"item {i}" for i in raw_ids]}
    )
    stats = {
        "dataset": "synthetic",
        "num_users": len(sequences),
        "num_items": num_items,
        "num_interactions": sum(len(s) for s in sequences),
        "catalogue_fingerprint": fingerprint,
        "num_negatives": num_negatives,
        "num_candidates": num_candidates,
        "seed": seed,
        "version": FORMAT_VERSION,
    }
    return SimpleNamespace(
        examples=datasets.DatasetDict(splits),
        items=items,
        stats=stats,
        num_items=num_items,
        titles=[""] + [f"item {i}" for i in raw_ids],
        catalogue_fingerprint=fingerprint,
    )


def write_prepared_dir(prepared, path: Path) -> Path:
    """Write the prepared dataset to disk in the ARCHITECTURE.md layout."""
    path = Path(path)
    path.mkdir(parents=True)
    (path / "stats.json").write_text(json.dumps(prepared.stats))
    prepared.items.save_to_disk(str(path / "items"))
    prepared.examples.save_to_disk(str(path / "examples"))
    return path


def write_small_teacher_dataset(path: Path) -> Path:
    """61 users / 40 items: an odd user count, so a 2-process evaluation pads its last batch (multi-process and
    resume tests share it)."""
    sequences, _ = make_sequences(num_users=61, num_items=40, min_len=6, max_len=10, noise=0.1, seed=3)
    return write_prepared_dir(make_prepared(sequences, 40, num_negatives=25, num_candidates=20, seed=3), path)
