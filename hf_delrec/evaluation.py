"""Protocol evaluation and export of the teacher recommenders on a prepared dataset.

* ``evaluate_teacher``: full ranking (target vs. every catalogue item, the user's history items left out) and the
  sampled protocols (target + ``negatives[:n-1]`` of the prepared data, n = 20 and 100), batch by batch through
  ``metrics.RankingAccumulator``: memory is one score block plus one rank per user.
* ``evaluate_popularity``: the same protocols for the most-popular baseline (counts over the training sequences), so
  every number has a floor.
* ``export_teacher_predictions``: for each row of the prepared splits, the teacher's top-k items and scores computed
  from that row's ``history`` only (strictly before its target), aligned by ``user_id``.
* ``check_compatible``: a teacher is only used on the catalogue it was trained on (size and fingerprint).

``prepared`` arguments are ``hf_delrec.data.PreparedDataset`` objects (anything with ``.examples`` (DatasetDict),
``.num_items`` and ``.catalogue_fingerprint``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .metrics import RankingAccumulator
from .models.sequential_base import SequentialRecommenderConfig, pad_left
from .utils.io import atomic_directory, write_json_atomic

logger = logging.getLogger(__name__)

DEFAULT_KS = (1, 5, 10)
DEFAULT_CANDIDATE_SIZES = (20, 100)
PROTOCOLS = ("full", "sampled", "both")


class CatalogueMismatchError(ValueError):
    pass


def check_compatible(config, prepared) -> None:
    """Refuse a dataset whose catalogue differs from the one the teacher was trained on."""
    if not isinstance(config, SequentialRecommenderConfig):
        where = getattr(config, "_name_or_path", "") or "the model"
        raise ValueError(
            f"{where}: model_type {getattr(config, 'model_type', None)!r} is not a teacher recommender "
            "(delrec_sasrec, delrec_gru4rec, delrec_caser, delrec_bert4rec written by `hf-delrec train-teacher`)"
        )
    if int(config.num_items) != int(prepared.num_items):
        raise CatalogueMismatchError(
            f"the teacher was trained on a catalogue of {config.num_items} items but the dataset has "
            f"{prepared.num_items}; evaluate/export it only on the dataset it was trained on"
        )
    ours = getattr(config, "catalogue_fingerprint", None)
    theirs = getattr(prepared, "catalogue_fingerprint", None)
    if ours and theirs and ours != theirs:
        raise CatalogueMismatchError(
            f"catalogue_fingerprint mismatch: the teacher was trained on {ours[:16]}..., the dataset has "
            f"{theirs[:16]}... (same size, different items/order); item ids would not mean the same items"
        )


def _batches(n: int, batch_size: int):
    for start in range(0, n, batch_size):
        yield start, min(n, start + batch_size)


def _evaluate(
    score_all: Callable[[torch.Tensor], torch.Tensor],
    score_candidates: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    examples,
    max_seq_length: int,
    protocol: str,
    batch_size: int,
    ks: Sequence[int],
    candidate_sizes: Sequence[int],
    exclude_seen: bool,
) -> dict[str, dict[str, float]]:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
    histories = examples["history"]
    targets = torch.as_tensor(np.asarray(examples["target"], dtype=np.int64))
    results: dict[str, dict[str, float]] = {}
    if protocol in ("full", "both"):
        acc = RankingAccumulator()
        for lo, hi in _batches(len(targets), batch_size):
            batch_hist = histories[lo:hi]
            scores = score_all(pad_left(batch_hist, max_seq_length))
            seen = pad_left(batch_hist, max(1, max(len(h) for h in batch_hist))) if exclude_seen else None
            acc.update_from_catalogue(scores, targets[lo:hi], seen)
        results["full"] = acc.compute(ks)
    if protocol in ("sampled", "both"):
        if "negatives" not in examples.column_names:
            raise ValueError("the examples have no 'negatives' column: the sampled protocol needs prepared negatives")
        negatives = examples["negatives"]
        available = min((len(n) for n in negatives), default=0)
        for size in candidate_sizes:
            if size - 1 > available:
                logger.warning(
                    "sampled protocol with %d candidates skipped: only %d negatives per row", size, available
                )
                continue
            acc = RankingAccumulator()
            for lo, hi in _batches(len(targets), batch_size):
                neg = torch.as_tensor(np.asarray([n[: size - 1] for n in negatives[lo:hi]], dtype=np.int64))
                candidates = torch.cat([targets[lo:hi, None], neg], dim=1)  # target in column 0
                acc.update_from_scores(score_candidates(pad_left(histories[lo:hi], max_seq_length), candidates), 0)
            results[f"sampled_{size}"] = acc.compute(ks)
    return results


@torch.no_grad()
def evaluate_teacher(
    model,
    prepared,
    split: str = "test",
    protocol: str = "both",
    batch_size: int = 512,
    ks: Sequence[int] = DEFAULT_KS,
    candidate_sizes: Sequence[int] = DEFAULT_CANDIDATE_SIZES,
    exclude_seen: bool = True,
) -> dict[str, dict[str, float]]:
    """``{"full": {...}, "sampled_20": {...}, "sampled_100": {...}}`` metrics on ``prepared.examples[split]``."""
    check_compatible(model.config, prepared)
    was_training = model.training
    model.eval()
    device = model.get_item_embeddings().device
    try:
        return _evaluate(
            lambda x: model.score_all(x.to(device)),
            lambda x, c: model.score_candidates(x.to(device), c.to(device)),
            prepared.examples[split],
            model.config.max_seq_length,
            protocol,
            batch_size,
            ks,
            candidate_sizes,
            exclude_seen,
        )
    finally:
        model.train(was_training)


def popularity_counts(train_examples, num_items: int) -> torch.Tensor:
    """Interaction counts per item id over the training sequences (history + target of the train rows)."""
    counts = np.zeros(num_items + 1, dtype=np.float64)
    flat = [i for h in train_examples["history"] for i in h]
    np.add.at(counts, np.asarray(flat, dtype=np.int64), 1.0)
    np.add.at(counts, np.asarray(train_examples["target"], dtype=np.int64), 1.0)
    counts[0] = -np.inf
    return torch.as_tensor(counts)


def evaluate_popularity(
    prepared,
    split: str = "test",
    protocol: str = "both",
    batch_size: int = 2048,
    ks: Sequence[int] = DEFAULT_KS,
    candidate_sizes: Sequence[int] = DEFAULT_CANDIDATE_SIZES,
    exclude_seen: bool = True,
) -> dict[str, dict[str, float]]:
    counts = popularity_counts(prepared.examples["train"], prepared.num_items)
    return _evaluate(
        lambda x: counts.expand(x.shape[0], -1).clone(),
        lambda x, c: counts[c],
        prepared.examples[split],
        1,
        protocol,
        batch_size,
        ks,
        candidate_sizes,
        exclude_seen,
    )


@torch.no_grad()
def export_teacher_predictions(
    model,
    prepared,
    output_dir: str | Path,
    k: int = 10,
    splits: Sequence[str] = ("train", "validation", "test"),
    exclude_seen: bool = True,
    batch_size: int = 1024,
    overwrite: bool = False,
    name: str | None = None,
) -> Path:
    """Write ``output_dir`` (a DatasetDict: user_id, teacher_topk, teacher_scores per split) atomically.

    Each row's predictions come from that row's ``history`` (which ends strictly before its target), so train-split
    predictions never see the train target, let alone the validation/test targets.
    """
    import datasets

    check_compatible(model.config, prepared)
    features = datasets.Features(
        {
            "user_id": datasets.Value("int64"),
            "teacher_topk": datasets.List(datasets.Value("int64")),
            "teacher_scores": datasets.List(datasets.Value("float32")),
        }
    )
    out = {}
    for split in splits:
        examples = prepared.examples[split]
        # allow_empty: a 3-item user's train row has no past item; every row gets predictions, as documented.
        ids, scores = model.recommend(examples["history"], k=k, exclude_seen=exclude_seen, batch_size=batch_size,
                                      allow_empty=True)
        out[split] = datasets.Dataset.from_dict(
            {
                "user_id": np.asarray(examples["user_id"], dtype=np.int64),
                "teacher_topk": ids.cpu().numpy().astype(np.int64),
                "teacher_scores": scores.float().cpu().numpy(),
            },
            features=features,
        )
    output_dir = Path(output_dir)
    with atomic_directory(output_dir, overwrite=overwrite) as tmp:
        datasets.DatasetDict(out).save_to_disk(str(tmp))
        write_json_atomic(
            tmp / "teacher_info.json",
            {
                "name": name or output_dir.name,
                "model_type": model.config.model_type,
                "k": k,
                "exclude_seen": exclude_seen,
                "catalogue_fingerprint": getattr(model.config, "catalogue_fingerprint", None),
                "num_items": model.config.num_items,
                "splits": {s: len(d) for s, d in out.items()},
                "computed_from": "each row's history (strictly before its target)",
            },
        )
    return output_dir
