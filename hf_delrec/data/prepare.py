"""``prepare_dataset``: load a source, filter, split leave-one-out, sample negatives/candidates, write atomically."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..utils.io import OutputExistsError, atomic_directory, write_json_atomic
from .config import SOURCES, PrepareConfig
from .errors import DataConfigError
from .negatives import NegativeSampler
from .prepared import (
    FORMAT_VERSION,
    SPLITS,
    catalogue_fingerprint,
    dataset_from_arrow,
    example_features,
    item_features,
    list_array,
)
from .processing import Sequences, build_sequences, build_split
from .raw import RawInteractions

logger = logging.getLogger(__name__)


def load_source(source: str, path: str | os.PathLike | None, cfg: PrepareConfig) -> RawInteractions:
    """Dispatch to the loader of ``source`` (one of ``SOURCES``)."""
    from .sources import amazon, movielens, steam, table

    if source == "ml-100k":
        return movielens.load_ml100k(path, cfg.items_path)
    if source == "ml-1m":
        return movielens.load_ml1m(path, cfg.items_path)
    if source == "amazon":
        return amazon.load_amazon(path, cfg.items_path)
    if source == "steam":
        return steam.load_steam(path, cfg.items_path, cfg.steam_padding_id)
    if source == "interactions":
        return table.load_interactions_table(
            path,
            user_column=cfg.user_column,
            item_column=cfg.item_column,
            timestamp_column=cfg.timestamp_column,
            rating_column=cfg.rating_column,
            format=cfg.format,
            encoding=cfg.encoding,
            items_path=cfg.items_path,
            items_id_column=cfg.items_id_column,
            title_column=cfg.title_column,
        )
    raise DataConfigError(f"unknown source {source!r}; choose one of {list(SOURCES)}", field="source")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def prepare_dataset(
    source: str,
    path: str | os.PathLike | None,
    output_dir: str | os.PathLike,
    config: PrepareConfig | None = None,
    **options: Any,
) -> dict:
    """Prepare ``source`` read from ``path`` into ``output_dir``; returns the statistics (also in stats.json).

    ``options`` are ``PrepareConfig`` fields (e.g. ``num_candidates=20, user_core=5``).
    """
    names = {f.name for f in dataclasses.fields(PrepareConfig)}
    unknown = sorted(set(options) - names)
    if unknown:
        raise DataConfigError(f"unknown option(s) {unknown}; valid: {sorted(names)}", field=unknown[0])
    config = PrepareConfig(**options) if config is None else dataclasses.replace(config, **options)
    cfg = config
    cfg.validate()
    if source not in SOURCES:
        raise DataConfigError(f"unknown source {source!r}; choose one of {list(SOURCES)}", field="source")
    output_dir = Path(output_dir)
    if output_dir.exists() and not cfg.overwrite:
        raise OutputExistsError(
            f"output directory {output_dir.absolute()} already exists; choose another --output or pass --overwrite"
        )
    t0 = time.perf_counter()
    raw = load_source(source, path, cfg)
    t_load = time.perf_counter()
    seqs = build_sequences(raw, cfg)
    t_filter = time.perf_counter()

    n_items = seqs.num_items
    if cfg.num_candidates > n_items:
        raise DataConfigError(
            f"{cfg.num_candidates} candidates requested but the catalogue has only {n_items} items after filtering",
            field="num_candidates",
        )
    longest = int(seqs.lengths.max())
    popularity = None
    if cfg.negative_sampling == "popularity":
        popularity = np.bincount(seqs.item_ids, minlength=n_items + 1).astype(np.float64)
    sampler = NegativeSampler(n_items, popularity=popularity, seed=cfg.seed)
    # Exclusion set of every user = its whole sequence (targets of all splits included).
    distinct = _distinct_per_user(seqs)
    if cfg.num_negatives > n_items - int(distinct.max()):
        u = int(np.argmax(distinct))
        raise DataConfigError(
            f"user {seqs.user_keys[u]!r} has {int(distinct[u])} distinct items of {n_items}, leaving "
            f"{n_items - int(distinct[u])} possible negatives < num_negatives={cfg.num_negatives}",
            field="num_negatives",
        )

    # Negatives are drawn once per user and shared by its three rows: they exclude the whole sequence, so they are
    # valid for every split, and drawing once keeps 100k users × 99 negatives cheap. Candidates differ per split
    # (different target, own shuffle).
    negatives = sampler.sample_batch(seqs.item_ids, seqs.offsets, cfg.num_negatives)
    splits = {}
    for split in ("test", "validation", "train"):  # fixed order: the generator's stream is reproducible
        arrays = build_split(seqs, split, cfg.max_history_length)
        cands = np.concatenate([arrays.target[:, None], negatives[:, : cfg.num_candidates - 1]], axis=1)
        shuffle = np.argsort(sampler.rng.random(cands.shape), axis=1)
        cands = np.take_along_axis(cands, shuffle, axis=1)
        splits[split] = (arrays, negatives, cands)
    t_split = time.perf_counter()

    feats = example_features()
    raw_users = pa.array(seqs.user_keys.astype(str).tolist(), type=pa.string())
    datasets_by_split = {}
    for split in SPLITS:
        arrays, negatives, cands = splits[split]
        U = arrays.user_ids.shape[0]
        table = pa.table(
            {
                "user_id": pa.array(arrays.user_ids),
                "raw_user_id": raw_users,
                "history": list_array(arrays.history, arrays.history_offsets),
                "history_timestamps": list_array(arrays.history_timestamps, arrays.history_offsets),
                "target": pa.array(arrays.target),
                "target_timestamp": pa.array(arrays.target_timestamp),
                "negatives": list_array(
                    negatives.ravel(),
                    np.arange(0, U * cfg.num_negatives + 1, max(cfg.num_negatives, 1))
                    if cfg.num_negatives
                    else np.zeros(U + 1, dtype=np.int64),
                ),  # fmt: skip
                "candidates": list_array(cands.ravel(), np.arange(0, U * cfg.num_candidates + 1, cfg.num_candidates)),
            }
        )
        datasets_by_split[split] = dataset_from_arrow(table, feats)

    items_ds, items_report = _items_dataset(raw, seqs)
    fingerprint = catalogue_fingerprint(seqs.item_keys.astype(str).tolist())
    lengths = seqs.lengths
    stats = {
        "version": FORMAT_VERSION,
        "dataset": cfg.name or source,
        "source": source,
        "source_path": str(Path(path).absolute()) if path is not None else None,
        "source_files": [
            {"path": f, "sha256": _sha256(f)} for f in raw.files + ([raw.items.file] if raw.items is not None else [])
        ],
        "num_users": seqs.num_users,
        "num_items": n_items,
        "num_interactions": int(seqs.item_ids.shape[0]),
        "density": float(seqs.item_ids.shape[0] / (seqs.num_users * n_items)),
        "has_timestamps": bool(raw.has_timestamps),
        "sequence_length": {
            "min": int(lengths.min()),
            "max": longest,
            "mean": float(lengths.mean()),
            "median": float(np.median(lengths)),
        },
        "filtering": seqs.report,
        "items_table": items_report,
        "split": {
            "protocol": "leave-one-out",
            "test": "s[:-1] -> s[-1]",
            "validation": "s[:-2] -> s[-2]",
            "train": "s[:-3] -> s[-3]",
            "rows_per_split": seqs.num_users,
            "chronological_tie_break": "input order (file order, then position in the line)",
        },
        "seed": cfg.seed,
        "num_negatives": cfg.num_negatives,
        "num_candidates": cfg.num_candidates,
        "negative_sampling": cfg.negative_sampling,
        **(
            {"popularity": "interaction counts of each item over all kept interactions"}
            if cfg.negative_sampling == "popularity"
            else {}
        ),
        "negatives_exclude": "the user's whole sequence; drawn once per user, shared by its train/validation/test rows",
        "max_history_length": cfg.max_history_length,
        "catalogue_fingerprint": fingerprint,
        "options": cfg.to_dict(),
    }
    if source in ("ml-100k", "ml-1m") and raw.files:
        from .sources.movielens import verify_ratings_file

        stats["matches_official_ratings_file"] = verify_ratings_file(source, Path(raw.files[0]).parent)

    import datasets
    from datasets import DatasetDict

    bars_were_off = datasets.utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # three tiny "Saving the dataset" bars per run are noise
    try:
        with atomic_directory(output_dir, overwrite=cfg.overwrite) as tmp:
            items_ds.save_to_disk(str(tmp / "items"))
            DatasetDict(datasets_by_split).save_to_disk(str(tmp / "examples"))
            write_json_atomic(tmp / "stats.json", stats)  # deterministic: no timings in the file
    finally:
        if not bars_were_off:
            datasets.enable_progress_bars()
    t_write = time.perf_counter()
    logger.info("prepared %s in %.1fs → %s", source, t_write - t0, output_dir)
    # returned only (not written): where the time went
    timings = [("load", t0, t_load), ("filter", t_load, t_filter), ("split_and_negatives", t_filter, t_split),
               ("write", t_split, t_write)]  # fmt: skip
    return {**stats, "timings_s": {name: round(b - a, 3) for name, a, b in timings}}


def _distinct_per_user(seqs: Sequences) -> np.ndarray:
    keys = np.sort(seqs.user_ids * (seqs.num_items + 1) + seqs.item_ids)
    uniq = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    return np.bincount(uniq // (seqs.num_items + 1), minlength=seqs.num_users + 1)[1:]


def _items_dataset(raw: RawInteractions, seqs: Sequences):
    table = raw.items
    N = seqs.num_items
    ids = np.arange(1, N + 1, dtype=np.int64)
    raw_ids = seqs.item_keys.astype(str).tolist()
    if table is None:
        feats = item_features({})
        titles = [""] * N
        columns: dict[str, Any] = {}
        report = {"file": None, "rows": 0, "rows_without_interactions": 0, "empty_titles": N,
                  "items_not_in_table": N}  # fmt: skip
    else:
        feats = item_features(table.metadata_features)
        rows = seqs.item_table_rows
        titles = [table.titles[r] if r >= 0 else "" for r in rows]
        columns = {}
        for name, values in table.metadata.items():
            empty = [] if type(table.metadata_features[name]).__name__ in ("List", "Sequence", "LargeList") else None
            columns[name] = [values[r] if r >= 0 else empty for r in rows]
        report = {
            "file": table.file,
            "rows": len(table.raw_ids),
            "rows_without_interactions": int(len(table.raw_ids) - np.count_nonzero(rows >= 0)),
            "empty_titles": int(sum(1 for t in titles if not t)),
            "items_not_in_table": int(np.count_nonzero(rows < 0)),
        }
    data = {"item_id": ids, "raw_id": raw_ids, "title": titles, **columns}
    arrow = pa.table({k: pa.array(v) for k, v in data.items()})  # cast to the explicit features below
    return dataset_from_arrow(arrow, feats), report
