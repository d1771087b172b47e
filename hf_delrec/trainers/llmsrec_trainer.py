"""LLM-SRec trainer: ``transformers.Trainer`` with a prompt-building collator, per-term loss logging, and a
candidate-ranking ``evaluate`` (HR@k/NDCG@k) that drives model selection and early stopping.

Public hooks only: ``compute_loss`` (log the three loss terms), ``log`` (append their running means), ``evaluate``
(rank target + sampled candidates from item vectors computed once per evaluation), ``EarlyStoppingCallback``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Sequence

import numpy as np
import torch
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback

from ..metrics import compute_metrics, ranks_from_scores
from ..models.llmsrec import LLMSRecModel, LLMSRecPromptBuilder
from .llmsrec_config import LLMSRecTrainingConfig

logger = logging.getLogger(__name__)

EVAL_KS = (1, 5, 10, 20)


def _pad_left(seqs: Sequence[Sequence[int]], width: int) -> torch.Tensor:
    out = torch.zeros(len(seqs), width, dtype=torch.long)
    for r, s in enumerate(seqs):
        s = list(s)[-width:]
        if s:
            out[r, width - len(s):] = torch.as_tensor(s, dtype=torch.long)
    return out


class LLMSRecCollator:
    """Rows (``history``, ``history_timestamps``, ``target``) -> user prompts, item prompts of the target + sampled
    negatives, and the teacher's left-padded input. Negatives are uniform over items outside the user's history and
    target, distinct, drawn from a seeded generator."""

    def __init__(self, prompts: LLMSRecPromptBuilder, num_negatives: int = 3, teacher_max_seq_length: int = 50,
                 seed: int = 0):
        self.prompts = prompts
        self.num_items = prompts.config.num_items
        self.num_negatives = num_negatives
        self.teacher_max_seq_length = teacher_max_seq_length
        self.rng = np.random.default_rng(seed)

    def sample_negatives(self, exclude: set[int]) -> list[int]:
        if self.num_items - len(exclude) < self.num_negatives:
            raise ValueError(f"cannot draw {self.num_negatives} negatives: the user has seen {len(exclude)} of "
                             f"{self.num_items} items")
        out: list[int] = []
        while len(out) < self.num_negatives:
            for i in self.rng.integers(1, self.num_items + 1, size=2 * self.num_negatives):
                i = int(i)
                if i not in exclude and i not in out:
                    out.append(i)
                    if len(out) == self.num_negatives:
                        break
        return out

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        histories = [list(r["history"]) for r in rows]
        timestamps = [list(r["history_timestamps"]) if r.get("history_timestamps") is not None else None for r in rows]
        if any(t is None for t in timestamps):
            timestamps = None
        batch = self.prompts.users(histories, timestamps)
        item_ids = []
        for r, hist in zip(rows, histories):
            target = int(r["target"])
            item_ids.append([target] + self.sample_negatives(set(hist) | {target}))
        items = self.prompts.items([i for row in item_ids for i in row])
        items["item_ids"] = torch.tensor(item_ids, dtype=torch.long)
        teacher = _pad_left(histories, self.teacher_max_seq_length)
        return {**batch, **items, "teacher_input_ids": teacher, "teacher_attention_mask": (teacher > 0).long()}


def sample_rows(dataset, max_rows: int | None, seed: int):
    """A seeded sample of ``max_rows`` rows (all rows, in order, when None or larger than the split)."""
    if max_rows is None or max_rows >= len(dataset):
        return dataset
    idx = np.sort(np.random.default_rng(seed).permutation(len(dataset))[:max_rows])
    return dataset.select(idx.tolist())


def drop_empty_histories(dataset, where: str):
    """LLM-SRec needs >= 1 past item per prompt; rows without one are removed and counted (never silently)."""
    keep = [i for i, h in enumerate(dataset["history"]) if len(h) > 0]
    dropped = len(dataset) - len(keep)
    if dropped:
        logger.warning("%s: dropped %d of %d rows with an empty history", where, dropped, len(dataset))
    return (dataset.select(keep) if dropped else dataset), dropped


def candidate_lists(dataset, num_candidates: int) -> list[list[int]]:
    """target + negatives[:num_candidates - 1] per row (target first)."""
    out = []
    for k, (t, negs) in enumerate(zip(dataset["target"], dataset["negatives"])):
        if len(negs) < num_candidates - 1:
            raise ValueError(f"row {k}: {len(negs)} prepared negatives, {num_candidates - 1} needed for "
                             f"{num_candidates} candidates (re-prepare the data with more negatives)")
        out.append([int(t)] + [int(n) for n in negs[: num_candidates - 1]])
    return out


@torch.no_grad()
def rank_llmsrec(model: LLMSRecModel, prompts: LLMSRecPromptBuilder, dataset, num_candidates: int = 100,
                 item_batch_size: int = 64, user_batch_size: int = 16) -> np.ndarray:
    """1-based ranks of the target among target + sampled negatives; item vectors are computed once (union)."""
    was_training = model.training
    model.eval()
    try:
        cands = candidate_lists(dataset, num_candidates)
        table = model.compute_item_vectors(prompts, sorted({i for c in cands for i in c}), batch_size=item_batch_size)
        ts = dataset["history_timestamps"] if "history_timestamps" in dataset.column_names else None
        users = model.compute_user_vectors(prompts, [list(h) for h in dataset["history"]], ts,
                                           batch_size=user_batch_size)
        scores = model.score_candidates(users, table, cands)
        return ranks_from_scores(scores, 0)
    finally:
        model.train(was_training)


@torch.no_grad()
def rank_teacher(teacher, dataset, num_candidates: int = 100, batch_size: int = 256) -> np.ndarray:
    """Ranks of the frozen teacher on the same candidate lists (its own ``score_candidates``)."""
    cands = candidate_lists(dataset, num_candidates)
    width = teacher.config.max_seq_length
    ranks = []
    for s in range(0, len(cands), batch_size):
        hist = _pad_left([list(h) for h in dataset["history"][s:s + batch_size]], width)
        scores = teacher.score_candidates(hist, torch.tensor(cands[s:s + batch_size]), (hist > 0).long())
        ranks.append(ranks_from_scores(scores, 0))
    return np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)


def rank_popularity(train_dataset, dataset, num_candidates: int = 100) -> np.ndarray:
    """Ranks by training popularity (count of each item in the train rows' history + target)."""
    counts: Counter = Counter()
    for h, t in zip(train_dataset["history"], train_dataset["target"]):
        counts.update(int(i) for i in h)
        counts[int(t)] += 1
    cands = candidate_lists(dataset, num_candidates)
    scores = torch.tensor([[float(counts.get(i, 0)) for i in c] for c in cands])
    return ranks_from_scores(scores, 0)


class TimeBudgetCallback(TrainerCallback):
    """Stop training once ``minutes`` of wall time have passed, evaluating and checkpointing the last step first
    (so ``load_best_model_at_end`` still sees it)."""

    def __init__(self, minutes: float):
        self.seconds = 60.0 * minutes
        self.start: float | None = None
        self.stopped_at_step: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        if self.start is not None and time.time() - self.start > self.seconds and not control.should_training_stop:
            control.should_training_stop = True
            self.stopped_at_step = state.global_step
            if args.eval_strategy != "no":
                control.should_evaluate = True
                control.should_save = True
        return control


class LLMSRecTrainer(Trainer):
    """``Trainer`` for ``LLMSRecModel``. ``prompts`` builds the prompts; the eval dataset is a prepared split with
    ``history``, ``target`` and ``negatives`` (validation: a fixed seeded sample of ``eval_max_users`` rows)."""

    loss_is_scaled_for_ga = False  # our loss is a per-batch mean; Trainer divides by the accumulation steps

    def __init__(self, model: LLMSRecModel, args: LLMSRecTrainingConfig, prompts: LLMSRecPromptBuilder,
                 train_dataset=None, eval_dataset=None, data_collator=None, callbacks=None, **kwargs):
        self.prompts = prompts
        if train_dataset is not None:
            train_dataset, self.dropped_train_rows = drop_empty_histories(train_dataset, "train")
        if eval_dataset is not None:
            eval_dataset = sample_rows(eval_dataset, args.eval_max_users, args.seed)
            eval_dataset, self.dropped_eval_rows = drop_empty_histories(eval_dataset, "validation")
        collator = data_collator or LLMSRecCollator(prompts, args.num_train_negatives,
                                                    model.config.teacher_max_seq_length, seed=args.seed)
        callbacks = list(callbacks or [])
        if args.early_stopping_patience is not None and eval_dataset is not None:
            callbacks.append(EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience))
        self.time_budget = TimeBudgetCallback(args.max_train_minutes) if args.max_train_minutes else None
        if self.time_budget is not None:
            callbacks.append(self.time_budget)
        super().__init__(model=model, args=args, data_collator=collator, train_dataset=train_dataset,
                         eval_dataset=eval_dataset, callbacks=callbacks, **kwargs)
        self._loss_parts: dict[str, list[float]] = {}

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        for name in ("retrieval_loss", "distill_loss", "uniformity_loss"):
            value = getattr(outputs, name)
            if value is not None:
                self._loss_parts.setdefault(name, []).append(float(value))
        return (outputs.loss, outputs) if return_outputs else outputs.loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._loss_parts:
            for name, values in self._loss_parts.items():
                logs[name] = round(float(np.mean(values)), 6)
            self._loss_parts = {}
        super().log(logs, start_time)

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if dataset is None:
            raise ValueError("LLMSRecTrainer.evaluate needs an eval_dataset")
        start = time.time()
        # Every process ranks the whole (small, seeded) validation sample: the result is identical everywhere, so
        # early stopping and best-model selection agree across processes without any gathering.
        ranks = rank_llmsrec(self.model, self.prompts, dataset, self.args.eval_num_candidates,
                             self.args.eval_item_batch_size, self.args.eval_user_batch_size)
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in compute_metrics(ranks, EVAL_KS).items()}
        metrics[f"{metric_key_prefix}_runtime"] = round(time.time() - start, 3)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def _timed_ranks(fn, *args, **kwargs):
    start = time.time()
    ranks = fn(*args, **kwargs)
    return ranks, round(time.time() - start, 1)


def train_llmsrec(script_args, training_args: LLMSRecTrainingConfig, llm=None, tokenizer=None,
                  teacher=None) -> dict | None:
    """The whole recipe: load data/teacher/LLM, train, evaluate on test (+ baselines), save the final model.

    Returns the results dict (also written to ``<final_dir>/results.json``); None in the non-main processes of a
    multi-process run, which train their shard and leave the test evaluation and writing to the main process.
    ``training_args.resume_from_checkpoint`` (true or a path) resumes from the last complete checkpoint in
    ``output_dir``. ``llm``/``tokenizer``/``teacher`` may be
    given directly (tests); otherwise they are loaded from ``script_args``.
    """
    from dataclasses import asdict
    from pathlib import Path

    from transformers import AutoModel, set_seed

    from ..data import load_prepared
    from ..models.llmsrec import LLMSRecConfig
    from ..models.llmsrec.modeling_llmsrec import _TORCH_DTYPES, _load_llm
    from ..utils.checkpoints import resolve_resume
    from ..utils.distributed import is_main_process, user_set_digest, wait_for_everyone
    from ..utils.io import atomic_directory, write_json_atomic

    if script_args.num_threads:
        torch.set_num_threads(script_args.num_threads)
    set_seed(training_args.seed)
    final_dir = Path(script_args.final_dir or Path(training_args.output_dir) / "final")
    if final_dir.exists() and not script_args.overwrite:
        raise FileExistsError(f"{final_dir} exists: choose another final_dir or pass overwrite=true")
    data = load_prepared(script_args.data_dir)
    if teacher is None:
        teacher = AutoModel.from_pretrained(script_args.teacher)
    if not all(hasattr(teacher, a) for a in ("encode", "get_item_embeddings", "score_candidates")):
        # LLM-SRec distils a sequential recommender's user representation and item table (SASRec-like teachers).
        raise ValueError(
            f"teacher {script_args.teacher} holds a {type(teacher).__name__} (model_type "
            f"{getattr(teacher.config, 'model_type', None)!r}), not a sequential-recommender teacher with encode() "
            "and an item table (sasrec, gru4rec, caser, bert4rec from `hf-delrec train-teacher`)"
        )
    t_fp = getattr(teacher.config, "catalogue_fingerprint", None)
    if t_fp and t_fp != data.catalogue_fingerprint:
        raise ValueError(f"teacher {script_args.teacher} was trained on another catalogue than {script_args.data_dir}")
    if teacher.config.num_items != data.num_items:
        raise ValueError(f"teacher has {teacher.config.num_items} items, the dataset {data.num_items}")
    if llm is None or tokenizer is None:
        llm, tokenizer = _load_llm(script_args.base_model, _TORCH_DTYPES[script_args.llm_dtype])
    config = LLMSRecConfig(
        base_model_name_or_path=script_args.base_model,
        teacher_name_or_path=str(Path(script_args.teacher).absolute()) if script_args.teacher else None,
        llm_hidden_size=llm.get_input_embeddings().weight.shape[-1],
        teacher_hidden_size=teacher.get_item_embeddings().shape[-1],
        num_items=data.num_items,
        teacher_max_seq_length=teacher.config.max_seq_length,
        catalogue_fingerprint=data.catalogue_fingerprint,
        **{k: getattr(script_args, k) for k in (
            "projection_dim", "head_hidden_size", "cf_hidden_size", "max_history_items", "include_dates",
            "max_title_tokens", "retrieval_loss_weight", "distill_loss_weight", "uniformity_loss_weight", "llm_dtype")},
    )
    model = LLMSRecModel(config).attach(llm=llm, tokenizer=tokenizer, teacher=teacher, init_out_tokens=True)
    prompts = LLMSRecPromptBuilder(tokenizer, data.titles, config)
    train = sample_rows(data.examples["train"], training_args.max_train_users, training_args.seed)
    trainer = LLMSRecTrainer(model=model, args=training_args, prompts=prompts, train_dataset=train,
                             eval_dataset=data.examples["validation"])
    resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    cpu0, wall0 = time.process_time(), time.time()
    train_out = trainer.train(resume_from_checkpoint=resume)
    train_cpu, train_wall = time.process_time() - cpu0, time.time() - wall0
    if not is_main_process(training_args):
        wait_for_everyone()  # multi-process run: the main process evaluates on test and writes final_dir
        return None

    test, dropped_test = drop_empty_histories(
        sample_rows(data.examples["test"], script_args.test_max_users, training_args.seed), "test")
    n = script_args.test_num_candidates
    cpu0 = time.process_time()
    ranks, wall = _timed_ranks(rank_llmsrec, model, prompts, test, n, training_args.eval_item_batch_size,
                               training_args.eval_user_batch_size)
    label = "LLM-SRec" if config.distill_loss_weight > 0 else "LLM-SRec (no distillation)"
    results_test = {label: compute_metrics(ranks, EVAL_KS)}
    test_cpu = time.process_time() - cpu0
    if script_args.evaluate_baselines:
        results_test["SASRec teacher" if teacher.config.model_type == "delrec_sasrec" else
                     f"teacher ({teacher.config.model_type})"] = compute_metrics(rank_teacher(teacher, test, n), EVAL_KS)
        results_test["Popularity"] = compute_metrics(rank_popularity(data.examples["train"], test, n), EVAL_KS)
    evals = [h for h in trainer.state.log_history if "eval_HR@10" in h]
    results = {
        "test": results_test,
        "protocol": f"1 + {n - 1} sampled candidates (the prepared negatives), pessimistic ties",
        "dataset": data.stats.get("dataset"),
        "num_train_users": len(trainer.train_dataset),
        "dropped_train_rows": trainer.dropped_train_rows,
        "num_test_users": len(test),
        "evaluated_users": {"test": user_set_digest(test["user_id"])},
        "world_size": training_args.world_size,
        "resumed_from_checkpoint": Path(resume).name if resume else None,
        "dropped_test_rows": dropped_test,
        "num_validation_users": len(trainer.eval_dataset),
        "global_steps": train_out.global_step,
        "stopped_by_time_budget": bool(trainer.time_budget and trainer.time_budget.stopped_at_step is not None),
        "train_wall_s": round(train_wall, 1),
        "train_cpu_s": round(train_cpu, 1),
        "test_wall_s": wall,
        "test_cpu_s": round(test_cpu, 1),
        "trainable_parameters": model.num_trainable_parameters(),
        "best_validation_HR@10": trainer.state.best_metric,
        "best_checkpoint_step": (int(Path(trainer.state.best_model_checkpoint).name.split("-")[-1])
                                 if trainer.state.best_model_checkpoint else None),
        "validation_curve": [{"step": h["step"], "HR@10": h["eval_HR@10"], "NDCG@10": h["eval_NDCG@10"]}
                             for h in evals],
    }
    settings = {k: v for k, v in asdict(script_args).items() if not k.endswith("_dir")}
    settings.update({k: getattr(training_args, k) for k in (
        "learning_rate", "adam_beta1", "adam_beta2", "per_device_train_batch_size", "gradient_accumulation_steps",
        "max_steps", "num_train_epochs", "num_train_negatives", "eval_num_candidates", "eval_max_users",
        "eval_steps", "early_stopping_patience", "max_train_users", "max_train_minutes", "seed")})
    with atomic_directory(final_dir, overwrite=script_args.overwrite) as tmp:
        model.save_pretrained(tmp)
        write_json_atomic(tmp / "results.json", results)
        write_json_atomic(tmp / "training_config.json", settings)
    wait_for_everyone()
    results["final_dir"] = str(final_dir)
    return results


def format_results_table(results: dict) -> str:
    keys = ("HR@10", "NDCG@10", "HR@20", "NDCG@20")
    lines = ["| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, m in results["test"].items():
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.4f}" for k in keys) + " |")
    return "\n".join(lines)
