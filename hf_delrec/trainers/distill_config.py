"""Configuration of DELRec stage 1: distilling a sequential recommender into a soft prompt (LLM frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig

from .validation import check_training_numbers


@dataclass
class DistillConfig(SFTConfig):
    r"""Every ``trl.SFTConfig``/``TrainingArguments`` field plus the stage-1 settings below.

    Scoring (``hf_delrec.scoring``):
        scoring_method: "full_title" (log-likelihood of each candidate's whole title, default, no first-token ties)
            or "first_subword" (the paper's verbaliser: logit of the title's first sub-word).
        length_normalization: "sum" (true log-likelihood) or "mean" (per-token average) for "full_title".
        decoder_prefix_ids: encoder-decoder only: decoder tokens before the answer (default: the start token).

    Task weighting (Temporal Analysis + Recommendation Pattern Simulating):
        task_weighting: "gradnorm" (the rule the official code runs: w_t ∝ ||dL_t/dP||^-alpha, normalised to sum 1,
            weights detached) or "fixed" (loss = ta_weight * L_TA + rps_weight * L_RPS).
        gradnorm_alpha: alpha of the gradient-norm rule (paper code: 0.5).
        ta_weight, rps_weight: the fixed weights.
    """

    scoring_method: str = field(default="full_title", metadata={"help": "full_title | first_subword"})
    length_normalization: str = field(default="sum", metadata={"help": "sum | mean"})
    decoder_prefix_ids: list[int] | None = None
    task_weighting: str = field(default="gradnorm", metadata={"help": "gradnorm | fixed"})
    gradnorm_alpha: float = 0.5
    ta_weight: float = 1.0
    rps_weight: float = 1.0

    # Stage-1 defaults: only a soft prompt is trained (paper: lr 5e-3), on pre-tokenised rows with our own collator.
    learning_rate: float = 5e-3
    weight_decay: float = 1e-5
    # Candidate scoring (one packed forward per example) has not been validated with activation checkpointing.
    activation_checkpointing: bool | None = None  # resolved to False by TrainingArguments
    gradient_checkpointing: bool | None = None  # deprecated alias, resolved by TrainingArguments
    remove_unused_columns: bool = False
    dataset_kwargs: dict | None = field(default_factory=lambda: {"skip_prepare_dataset": True})
    max_length: int | None = None
    save_strategy: str = "no"

    def __post_init__(self):
        super().__post_init__()
        check_training_numbers(self)
        if self.scoring_method not in ("full_title", "first_subword"):
            raise ValueError(f"scoring_method must be 'full_title' or 'first_subword', got {self.scoring_method!r}")
        if self.length_normalization not in ("sum", "mean"):
            raise ValueError(f"length_normalization must be 'sum' or 'mean', got {self.length_normalization!r}")
        if self.task_weighting not in ("gradnorm", "fixed"):
            raise ValueError(f"task_weighting must be 'gradnorm' or 'fixed', got {self.task_weighting!r}")
        if self.activation_checkpointing:
            raise ValueError("gradient_checkpointing is not supported by candidate scoring (see hf_delrec.scoring)")
        if self.ta_weight < 0 or self.rps_weight < 0:
            raise ValueError("ta_weight and rps_weight must be >= 0")


__all__ = ["DistillConfig"]
