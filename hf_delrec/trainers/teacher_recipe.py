"""Recipe arguments and the end-to-end run behind ``hf-delrec train-teacher``: load the prepared data, build the
teacher from a config, train with ``TeacherTrainer`` (early stopping on validation NDCG@10), evaluate the restored best
model under both protocols and write the model directory atomically."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..models.bert4rec import BERT4RecConfig, BERT4RecModel
from ..models.caser import CaserConfig, CaserModel
from ..models.gru4rec import GRU4RecConfig, GRU4RecModel
from ..models.sasrec import SASRecConfig, SASRecModel
from ..utils.checkpoints import checkpoint_dir, prepare_checkpoint_dir, resolve_resume
from ..utils.distributed import is_main_process, user_set_digest, wait_for_everyone
from ..utils.io import atomic_directory, write_json_atomic
from .teacher_config import TeacherConfig

logger = logging.getLogger(__name__)

TEACHERS = {
    "sasrec": (SASRecConfig, SASRecModel),
    "gru4rec": (GRU4RecConfig, GRU4RecModel),
    "caser": (CaserConfig, CaserModel),
    "bert4rec": (BERT4RecConfig, BERT4RecModel),
}


@dataclass
class TeacherScriptArguments:
    data_dir: str = field(default="", metadata={"help": "Prepared dataset (hf-delrec data prepare ... --output DIR)."})
    teacher: str = field(default="sasrec", metadata={"help": f"One of {sorted(TEACHERS)}."})
    overwrite: bool = field(default=False, metadata={"help": "Replace an existing output directory."})

    def __post_init__(self):
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {sorted(TEACHERS)}, got {self.teacher!r}")


@dataclass
class TeacherModelArguments:
    """Architecture fields; ``None`` keeps the teacher config's default. Fields a teacher does not have must stay
    ``None`` (a clear error otherwise)."""

    hidden_size: int | None = None
    max_seq_length: int | None = None
    loss_type: str | None = None
    num_negatives: int | None = None
    hidden_dropout_prob: float | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    attention_dropout_prob: float | None = None
    embedding_dropout_prob: float | None = None
    num_horizontal_filters: int | None = None
    num_vertical_filters: int | None = None
    max_filter_height: int | None = None
    train_chunk_length: int | None = None
    mask_prob: float | None = None


def build_teacher_config(teacher: str, model_args: TeacherModelArguments, prepared):
    config_class = TEACHERS[teacher][0]
    known = {f.name for f in dataclasses.fields(config_class)}
    kwargs = {k: v for k, v in dataclasses.asdict(model_args).items() if v is not None}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"{teacher} has no field(s) {unknown}; remove them from the recipe")
    return config_class(
        num_items=prepared.num_items, catalogue_fingerprint=prepared.catalogue_fingerprint, **kwargs
    )


def run_teacher_training(
    script_args: TeacherScriptArguments, model_args: TeacherModelArguments, training_args: TeacherConfig
) -> dict | None:
    """Train, evaluate and save; returns the ``eval_results.json`` content (None in the non-main processes of a
    multi-process run: they train their data shard, then wait while the main process evaluates and writes).

    ``training_args.resume_from_checkpoint`` (true or a checkpoint path) resumes a killed run from the last complete
    checkpoint in ``.<output_dir name>.checkpoints`` (see ``utils.checkpoints``)."""
    from transformers import set_seed

    from ..data import load_prepared
    from ..evaluation import evaluate_popularity, evaluate_teacher
    from .teacher_trainer import TeacherTrainer, build_eval_dataset, build_train_dataset

    if not script_args.data_dir:
        raise ValueError("data_dir is required (a directory written by `hf-delrec data prepare`)")
    output_dir = Path(training_args.output_dir)
    if output_dir.exists() and not script_args.overwrite:
        raise FileExistsError(f"output directory {output_dir} already exists; pass overwrite=true to replace it")
    prepared = load_prepared(script_args.data_dir)
    set_seed(training_args.seed)
    config = build_teacher_config(script_args.teacher, model_args, prepared)
    model = TEACHERS[script_args.teacher][1](config)
    train_ds = build_train_dataset(prepared.examples["train"], model)
    eval_ds = build_eval_dataset(
        prepared.examples["validation"], config.max_seq_length, training_args.eval_exclude_seen
    )
    supervised = int((train_ds.columns["labels"] != -100).sum()) if "labels" in train_ds.columns else None
    logger.info("%s: %d training chunks, %s supervised pairs", script_args.teacher, len(train_ds), supervised)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    # A fixed checkpoint folder (the same in every process and every attempt) so that a killed run can resume.
    scratch = checkpoint_dir(output_dir)
    resume = resolve_resume(training_args.resume_from_checkpoint, scratch)
    main_process = is_main_process(training_args)
    prepare_checkpoint_dir(scratch, resume, main_process)
    wait_for_everyone()
    args = dataclasses.replace(training_args, output_dir=str(scratch))
    trainer = TeacherTrainer(model, args, train_dataset=train_ds, eval_dataset=eval_ds)
    start = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=resume)
    train_seconds = time.perf_counter() - start
    model = trainer.model
    results = None
    if main_process:  # test evaluation and writing: main process only, the others wait below
        results = {
            "teacher": script_args.teacher,
            "dataset": prepared.stats.get("dataset"),
            "catalogue_fingerprint": prepared.catalogue_fingerprint,
            "test": evaluate_teacher(model, prepared, "test", "both", args.per_device_eval_batch_size),
            "validation": evaluate_teacher(model, prepared, "validation", "full", args.per_device_eval_batch_size),
            "popularity_test": evaluate_popularity(prepared, "test", "both"),
            "evaluated_users": {
                split: user_set_digest(prepared.examples[split]["user_id"]) for split in ("test", "validation")
            },
            "best_validation_metric": {args.metric_for_best_model: trainer.state.best_metric},
            "best_checkpoint_step": trainer.state.best_global_step,
            "epochs_trained": trainer.state.epoch,
            "global_step": trainer.state.global_step,
            "resumed_from_checkpoint": Path(resume).name if resume else None,
            "world_size": args.world_size,
            "train_chunks": len(train_ds),
            "supervised_pairs": supervised,
            "train_epoch_seconds": trainer.epoch_timer.epoch_seconds,
            "mean_epoch_seconds": (
                sum(trainer.epoch_timer.epoch_seconds) / len(trainer.epoch_timer.epoch_seconds)
                if trainer.epoch_timer.epoch_seconds
                else None
            ),
            "train_seconds_total": train_seconds,
            "eval_wall_seconds": trainer.epoch_timer.eval_wall_seconds,
            "validation_ndcg10_per_eval": [
                log["eval_NDCG@10"] for log in trainer.state.log_history if "eval_NDCG@10" in log
            ],
            "validation_num_examples_per_eval": [
                log["eval_num_examples"] for log in trainer.state.log_history if "eval_num_examples" in log
            ],
            "train_loss": train_output.training_loss,
            "log_history": trainer.state.log_history,
        }
        with atomic_directory(output_dir, overwrite=script_args.overwrite) as tmp:
            model.save_pretrained(tmp)
            write_json_atomic(tmp / "eval_results.json", results)
            write_json_atomic(
                tmp / "teacher_recipe.json",
                {
                    "script": dataclasses.asdict(script_args),
                    "model": {k: v for k, v in dataclasses.asdict(model_args).items() if v is not None},
                    "training": training_args.to_dict(),
                },
            )
        # The checkpoints are only kept for resumption: the artifact is complete now.
        shutil.rmtree(scratch, ignore_errors=True)
    wait_for_everyone()
    return results
