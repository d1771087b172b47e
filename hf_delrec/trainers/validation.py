"""Checks shared by every ``TrainingArguments`` subclass of the package (teacher, distill, SFT, LLM-SRec).

``TrainingArguments`` accepts a negative learning rate, ``max_steps=-5`` (silently read as "use the epochs") or a batch
size of 0 (a crash deep in the data loader); recipes get a ``ValueError`` naming the field instead, which the recipe
parser reports as a ``RecipeError`` with the file.
"""

from __future__ import annotations


def check_training_numbers(args) -> None:
    if args.learning_rate < 0:
        raise ValueError(f"learning_rate must be >= 0, got {args.learning_rate}")
    if args.max_steps == 0 or args.max_steps < -1:
        raise ValueError(f"max_steps must be > 0 (or -1: train for num_train_epochs), got {args.max_steps}")
    if args.max_steps == -1 and args.num_train_epochs <= 0:
        raise ValueError(f"num_train_epochs must be > 0 when max_steps is -1, got {args.num_train_epochs}")
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        value = getattr(args, name)
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


__all__ = ["check_training_numbers"]
