"""``TeacherTrainer``: a ``transformers.Trainer`` for the sequential-recommender teachers.

Public hooks only:
* the collator stacks pre-built tensors (chunks are built once, vectorised, before training) and, for BERT4Rec, draws
  the cloze masks for the whole batch at once;
* ``compute_loss`` drops the evaluation-only ``seen_items`` field and returns the model's loss;
* ``preprocess_logits_for_metrics`` turns each ``(batch, num_items + 1)`` score block into the target's exact rank
  (pessimistic ties, seen items excluded) on the spot, so evaluation keeps one number per user, never a users x items
  matrix (even less than a top-k list, and exact: a top-k cut breaks ties arbitrarily, which would reward constant
  scores);
* ``EarlyStoppingCallback`` on validation NDCG@10 and ``load_best_model_at_end`` restore the best epoch;
  ``EpochTimerCallback`` records the wall time of each training epoch (evaluation excluded).
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback

from ..metrics import compute_metrics as metrics_from_ranks
from ..metrics import ranks_in_catalogue
from ..models.sequential_base import (
    SequentialRecommenderPreTrainedModel,
    build_cloze_chunks,
    build_training_chunks,
    pad_left,
)
from .teacher_config import TeacherConfig


class TensorRowsDataset(torch.utils.data.Dataset):
    """Rows of equally long tensors, one example per index (a ``dict`` of row tensors)."""

    def __init__(self, **columns: torch.Tensor):
        lengths = {name: len(col) for name, col in columns.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"columns have different lengths: {lengths}")
        self.columns = columns
        self._len = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {name: col[index] for name, col in self.columns.items()}


def training_sequences(examples) -> list[list[int]]:
    """The training sequence of each train row: ``history + [target]`` (= the user's s[:-2])."""
    return [list(h) + [int(t)] for h, t in zip(examples["history"], examples["target"])]


def build_train_dataset(examples, model: SequentialRecommenderPreTrainedModel) -> TensorRowsDataset:
    """Chunks of the train rows such that one epoch supervises every (prefix -> next) pair once (causal teachers),
    or sees every item once as a maskable position (BERT4Rec)."""
    sequences = training_sequences(examples)
    if model.training_objective == "cloze":
        return TensorRowsDataset(input_ids=build_cloze_chunks(sequences, model.config.max_seq_length))
    length, context = model.training_chunk_shape()
    inputs, labels = build_training_chunks(sequences, length, context)
    return TensorRowsDataset(input_ids=inputs, labels=labels)


def build_eval_dataset(examples, max_seq_length: int, exclude_seen: bool = True) -> TensorRowsDataset:
    """One row per user: cropped history, target, and (for exclusion) the full history."""
    histories = examples["history"]
    columns = {
        "input_ids": pad_left(histories, max_seq_length),
        "labels": torch.as_tensor(np.asarray(examples["target"], dtype=np.int64)),
    }
    if exclude_seen:
        longest = max((len(h) for h in histories), default=1)
        columns["seen_items"] = pad_left(histories, max(1, longest))
    else:  # nothing to exclude (a padding column keeps the label fields identical for Trainer)
        columns["seen_items"] = torch.zeros((len(histories), 1), dtype=torch.long)
    return TensorRowsDataset(**columns)


class TeacherDataCollator:
    """Stacks rows; for cloze (BERT4Rec) training batches (no ``labels``) draws the masks, seeded."""

    def __init__(self, mask_token_id: int | None = None, mask_prob: float = 0.2, seed: int = 0):
        self.mask_token_id = mask_token_id
        self.mask_prob = mask_prob
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, features: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        batch = {name: torch.stack([f[name] for f in features]) for name in features[0]}
        if self.mask_token_id is not None and "labels" not in batch:
            from ..models.bert4rec.modeling_bert4rec import mask_items

            batch["input_ids"], batch["labels"] = mask_items(
                batch["input_ids"], self.mask_token_id, self.mask_prob, self.generator
            )
        return batch


def ranks_for_metrics(logits, labels) -> torch.Tensor:
    """``preprocess_logits_for_metrics``: the target's rank among all items (seen items excluded)."""
    scores = logits[0] if isinstance(logits, (tuple, list)) else logits
    if isinstance(labels, (tuple, list)):
        targets, seen = labels[0], (labels[1] if len(labels) > 1 else None)
    else:
        targets, seen = labels, None
    return ranks_in_catalogue(scores, targets, exclude_ids=seen, return_tensor=True).float()


def metrics_for_trainer(eval_pred) -> dict[str, float]:
    # Trainer gathers the ranks with accelerate's gather_for_metrics, which drops the samples repeated to pad the
    # last batch of a sharded evaluation: num_examples (logged as eval_num_examples) is the exact number of users.
    ranks = np.asarray(eval_pred.predictions, dtype=np.float64).reshape(-1)
    return metrics_from_ranks(ranks, ks=(1, 5, 10))


class EpochTimerCallback(TrainerCallback):
    """Wall time of every training epoch (evaluation and checkpointing excluded), the wall time at which each
    evaluation happened, and the optional ``max_train_seconds`` budget (checked at epoch ends)."""

    def __init__(self, max_train_seconds: float | None = None):
        self.max_train_seconds = max_train_seconds
        self.epoch_seconds: list[float] = []
        self.eval_wall_seconds: list[float] = []
        self._start = None
        self._train_start = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._train_start = time.perf_counter()

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        if self._start is not None:
            self.epoch_seconds.append(time.perf_counter() - self._start)
            self._start = None
        if self.max_train_seconds is not None and time.perf_counter() - self._train_start > self.max_train_seconds:
            control.should_training_stop = True

    def on_evaluate(self, args, state, control, **kwargs):
        if self._train_start is not None:
            self.eval_wall_seconds.append(time.perf_counter() - self._train_start)


class TeacherTrainer(Trainer):
    """Trainer for ``SequentialRecommenderPreTrainedModel`` teachers (see module docstring)."""

    def __init__(
        self,
        model: SequentialRecommenderPreTrainedModel,
        args: TeacherConfig,
        train_dataset=None,
        eval_dataset=None,
        data_collator=None,
        callbacks: list[TrainerCallback] | None = None,
        **kwargs,
    ):
        if data_collator is None:
            cloze = model.training_objective == "cloze"
            data_collator = TeacherDataCollator(
                mask_token_id=model.config.num_items + 1 if cloze else None,
                mask_prob=getattr(model.config, "mask_prob", 0.2),
                seed=args.seed,
            )
        callbacks = list(callbacks or [])
        self.epoch_timer = EpochTimerCallback(args.max_train_seconds)
        callbacks.append(self.epoch_timer)
        if eval_dataset is not None and args.load_best_model_at_end and args.early_stopping_patience:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience))
        kwargs.setdefault("compute_metrics", metrics_for_trainer)
        kwargs.setdefault("preprocess_logits_for_metrics", ranks_for_metrics)
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            callbacks=callbacks,
            **kwargs,
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {name: value for name, value in inputs.items() if name != "seen_items"}
        outputs = model(**inputs)
        return (outputs.loss, outputs) if return_outputs else outputs.loss
