"""Training arguments of the teacher recommenders (``TeacherTrainer``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from .validation import check_training_numbers


@dataclass
class TeacherConfig(TrainingArguments):
    """``TrainingArguments`` with defaults for sequential-recommender teachers.

    Every epoch is followed by a full-ranking validation pass; the best epoch by validation ``NDCG@10`` is restored at
    the end (``load_best_model_at_end``), and training stops after ``early_stopping_patience`` evaluations without
    improvement. Only the model weights are checkpointed (``save_only_model``), as safetensors.
    """

    early_stopping_patience: int | None = field(
        default=10, metadata={"help": "Evaluations without improvement of metric_for_best_model before stopping."}
    )
    max_train_seconds: float | None = field(
        default=None,
        metadata={"help": "Wall-time budget: stop at the first epoch end past it (best checkpoint still restored)."},
    )
    eval_exclude_seen: bool = field(
        default=True, metadata={"help": "Leave a user's history items out of the validation ranking."}
    )
    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    per_device_train_batch_size: int = field(default=128, metadata={"help": "Training chunks per batch."})
    per_device_eval_batch_size: int = field(default=512, metadata={"help": "Users per evaluation batch."})
    num_train_epochs: float = field(default=200.0, metadata={"help": "Upper bound; early stopping usually ends first."})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "Learning-rate schedule."})
    eval_strategy: str = field(default="epoch", metadata={"help": "Evaluate on validation after every epoch."})
    save_strategy: str = field(default="epoch", metadata={"help": "Checkpoint after every epoch."})
    logging_strategy: str = field(default="epoch", metadata={"help": "Log once per epoch."})
    save_total_limit: int | None = field(default=1, metadata={"help": "Keep the best (and the latest) checkpoint."})
    save_only_model: bool = field(default=True, metadata={"help": "Checkpoint weights only (no optimizer state)."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Restore the best validation checkpoint."})
    metric_for_best_model: str | None = field(default="NDCG@10", metadata={"help": "Validation metric to select on."})
    greater_is_better: bool | None = field(default=True, metadata={"help": "Higher metric_for_best_model is better."})
    report_to: str | list[str] | None = field(default="none", metadata={"help": "Experiment trackers."})
    dataloader_pin_memory: bool = field(default=False, metadata={"help": "Pinning only helps with a GPU."})
    label_names: list[str] | None = field(
        default=None, metadata={"help": "Defaults to ['labels', 'seen_items'] (target and items to exclude)."}
    )

    def __post_init__(self):
        if self.label_names is None:
            self.label_names = ["labels", "seen_items"]
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError(f"early_stopping_patience must be >= 1 or None, got {self.early_stopping_patience}")
        if self.max_train_seconds is not None and self.max_train_seconds <= 0:
            raise ValueError(f"max_train_seconds must be > 0 or None, got {self.max_train_seconds}")
        check_training_numbers(self)
        super().__post_init__()
