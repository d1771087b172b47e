"""DELRec stage 1: train a soft prompt (LLM frozen) on Temporal Analysis + Recommendation Pattern Simulating.

``DistillTrainer`` subclasses TRL's ``SFTTrainer`` (causal LMs); ``Seq2SeqDistillTrainer`` subclasses
``transformers.Trainer`` (encoder-decoder LMs such as the paper's Flan-T5); ``make_distill_trainer`` picks one.
Both share ``_DistillMixin``, which overrides only public hooks: ``compute_loss``, ``prediction_step``, ``evaluate``
(adds candidate accuracies), ``log`` and ``save_model`` (writes the soft prompt, not the frozen LLM).

Data: pre-tokenised rows (``skip_prepare_dataset``) with, per task ``t`` in {"ta", "rps"}, the columns
``t_prompt_input_ids`` (list[int]), ``t_candidate_input_ids`` (list[list[int]]) and ``t_target_index`` (int); a row
may hold one task or both (paired rows: every batch then has a TA and an RPS part, as the paper zips the two loaders).
``build_distill_row`` makes such columns from rendered prompts.

Loss per task: cross-entropy over the candidate scores of ``hf_delrec.scoring.score_candidates``. Combined with
``task_weighting="gradnorm"``: g_t = ||dL_t/dP|| (P = soft prompt), w_t = g_t^-a / sum_s g_s^-a (detached), or
``"fixed"``: w_TA * L_TA + w_RPS * L_RPS. For gradnorm the per-task gradients are computed once with
``torch.autograd.grad`` and the step's gradient is their weighted sum, carried by a surrogate loss whose value equals
the weighted loss (two backward passes per step, not three).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import torch
from transformers import Trainer
from trl import SFTTrainer

from ..injection import get_soft_prompt_embedding
from ..scoring import (
    candidate_loss,
    collate_scoring_features,
    encode_scoring_example,
    score_candidates,
    strict_top1,
)
from .distill_config import DistillConfig

logger = logging.getLogger(__name__)

DISTILL_TASKS = ("ta", "rps")


def build_distill_row(
    tokenizer,
    task: str,
    prompt: str,
    candidates: Sequence[str],
    target_index: int,
    placeholder_ids: Sequence[int] = (),
    max_candidate_tokens: int | None = None,
    where: str = "example",
) -> dict:
    """Columns ``{task}_prompt_input_ids``, ``{task}_candidate_input_ids``, ``{task}_target_index`` for one example."""
    if task not in DISTILL_TASKS:
        raise ValueError(f"task must be one of {DISTILL_TASKS}, got {task!r}")
    if not 0 <= target_index < len(candidates):
        raise ValueError(f"{where}: target_index {target_index} outside the {len(candidates)} candidates")
    enc = encode_scoring_example(
        tokenizer, prompt, candidates, placeholder_ids=placeholder_ids,
        max_candidate_tokens=max_candidate_tokens, where=where,
        # The builders draw distinct item ids; two of them may still share a title (ML-100K has a few).
        allow_duplicate_candidates=True,
    )
    return {f"{task}_{k}": v for k, v in enc.items()} | {f"{task}_target_index": int(target_index)}


@dataclass
class DistillDataCollator:
    """Pads each task's prompts (left for causal LMs) and candidates; output ``{task: {tensors, target_index}}``."""

    pad_token_id: int
    prompt_padding_side: str = "left"

    def __call__(self, features: list[dict]) -> dict:
        out = {}
        for task in DISTILL_TASKS:
            if f"{task}_prompt_input_ids" not in features[0]:
                continue
            batch = collate_scoring_features(features, self.pad_token_id, self.prompt_padding_side, prefix=f"{task}_")
            batch["target_index"] = torch.tensor([int(f[f"{task}_target_index"]) for f in features])
            out[task] = batch
        if "user_id" in features[0]:  # evaluation rows carry it, to count exactly which users were evaluated
            out["user_id"] = torch.tensor([int(f["user_id"]) for f in features])
        if not out:
            raise ValueError(f"distillation batch has none of the columns {[t + '_prompt_input_ids' for t in DISTILL_TASKS]}")
        return out


def freeze_for_distillation(model) -> list[torch.nn.Parameter]:
    """Freeze every LLM weight; leave only the attached soft prompt trainable. Returns the trainable parameters."""
    wrapper = get_soft_prompt_embedding(model)
    if wrapper is None:
        raise ValueError("no soft prompt attached: call hf_delrec.injection.attach_soft_prompt(model, prompt, ...) first")
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(wrapper.prompt.parameters())
    for p in params:
        p.requires_grad_(True)
    return params


class _DistillMixin:
    """Shared by the causal (SFTTrainer) and encoder-decoder (Trainer) stage-1 trainers."""

    # compute_loss returns a per-micro-batch mean: let Trainer divide it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def _distill_setup(self):
        self._distill_logs = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._eval_hits: dict[str, list[float]] = defaultdict(list)
        self.eval_user_ids: dict[str, list[int]] = {}  # users behind the last evaluation's accuracies, per task
        self._eval_users: dict[str, list[int]] = defaultdict(list)
        wrapper = get_soft_prompt_embedding(self.model)
        if wrapper is None:
            raise ValueError("the model has no soft prompt attached (hf_delrec.injection.attach_soft_prompt)")
        self.soft_prompt = wrapper.prompt

    # ---- scoring ---------------------------------------------------------------------------------------------
    def _task_scores(self, model, batch: dict) -> torch.Tensor:
        a = self.args
        return score_candidates(
            model,
            batch["prompt_input_ids"],
            batch["prompt_attention_mask"],
            batch["candidate_input_ids"],
            batch["candidate_attention_mask"],
            method=a.scoring_method,
            length_normalization=a.length_normalization,
            decoder_prefix_ids=a.decoder_prefix_ids,
        )

    def _task_weights(self, losses: dict[str, torch.Tensor], trainable: list[torch.nn.Parameter]):
        """Detached weights and, for gradnorm, the per-task gradients (reused to form the step's gradient)."""
        a = self.args
        tasks = list(losses)
        if a.task_weighting == "fixed" or not torch.is_grad_enabled():
            # (evaluation of a gradnorm run also uses these; they default to 1)
            fixed = {"ta": a.ta_weight, "rps": a.rps_weight}
            return {t: float(fixed[t]) for t in tasks}, None
        if len(tasks) == 1:
            return {tasks[0]: 1.0}, None
        grads = {}
        for i, t in enumerate(tasks):
            grads[t] = torch.autograd.grad(
                losses[t], trainable, retain_graph=i < len(tasks) - 1, allow_unused=True
            )
        prompt_ids = {id(p) for p in self.soft_prompt.parameters()}
        norms = {}
        for t in tasks:
            sq = sum(
                (g.float() ** 2).sum() for g, p in zip(grads[t], trainable) if g is not None and id(p) in prompt_ids
            )
            norms[t] = float(torch.as_tensor(sq).sqrt().clamp(min=1e-12))
        inv = {t: norms[t] ** (-a.gradnorm_alpha) for t in tasks}
        total = sum(inv.values())
        weights = {t: inv[t] / total for t in tasks}
        for t in tasks:
            self._distill_logs["train"][f"{t}_grad_norm"].append(norms[t])
        return weights, grads

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # Candidate scoring reads the LLM's config/embeddings and runs it several times per step, which a
        # DistributedDataParallel wrapper does not allow: score with the bare model; training_step below averages
        # the (soft-prompt) gradients across processes instead of DDP.
        model = self.accelerator.unwrap_model(model)
        mode = "train" if model.training else "eval"
        losses, scores = {}, {}
        for task in DISTILL_TASKS:
            if task in inputs:
                scores[task] = self._task_scores(model, inputs[task])
                losses[task] = candidate_loss(scores[task], inputs[task]["target_index"])
                self._distill_logs[mode][f"{task}_loss"].append(float(losses[task].detach()))
                acc = strict_top1(scores[task].detach(), inputs[task]["target_index"]).mean()
                self._distill_logs[mode][f"{task}_accuracy"].append(float(acc))
        trainable = [p for p in model.parameters() if p.requires_grad]
        weights, grads = self._task_weights(losses, trainable) if trainable else ({t: 1.0 for t in losses}, None)
        value = sum(weights[t] * losses[t] for t in losses)
        if grads is not None:
            # Surrogate with the same value whose gradient is sum_t w_t * dL_t/dtheta (already computed above).
            surrogate = value.detach()
            for j, p in enumerate(trainable):
                g = sum(weights[t] * grads[t][j] for t in grads if grads[t][j] is not None)
                if isinstance(g, torch.Tensor):
                    surrogate = surrogate + (p * g.detach().to(p.dtype)).sum() - (p.detach() * g.detach().to(p.dtype)).sum()
            loss = surrogate
        else:
            loss = value
        for t, w in weights.items():
            self._distill_logs[mode][f"{t}_weight"].append(float(w))
        return (loss, scores) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.accelerator.num_processes > 1:
            # What DDP would do (compute_loss bypasses its wrapper): average the trainable parameters' gradients
            # over the processes, before Trainer clips them and steps. Only the soft prompt trains: a small tensor.
            for p in self.model.parameters():
                if p.requires_grad and p.grad is not None:
                    p.grad.copy_(self.accelerator.reduce(p.grad, reduction="mean"))
        return loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss, scores = self.compute_loss(model, inputs, return_outputs=True)
        users = inputs.get("user_id")
        for task, s in scores.items():
            hits = strict_top1(s, inputs[task]["target_index"]).float()
            # Under multi-process evaluation each process scores its shard, the last batch padded with repeated
            # rows; gather_for_metrics collects all shards and drops those repeats, so every user counts once.
            hits = self.accelerator.gather_for_metrics(hits)
            self._eval_hits[task].extend(hits.tolist())
            if users is not None:
                self._eval_users[task].extend(self.accelerator.gather_for_metrics(users).tolist())
        return loss.detach(), None, None

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        if isinstance(eval_dataset, dict):
            return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        self._eval_hits = defaultdict(list)
        self._eval_users = defaultdict(list)
        metrics = super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        self.eval_user_ids = dict(self._eval_users)
        extra = {}
        for task, hits in self._eval_hits.items():
            extra[f"{metric_key_prefix}_{task}_accuracy"] = sum(hits) / max(len(hits), 1)
            extra[f"{metric_key_prefix}_{task}_num_examples"] = len(hits)
        metrics.update(extra)
        self._distill_logs["eval"].clear()
        if extra:
            self.log(dict(extra))
        return metrics

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        if mode == "train" and "loss" in logs:
            for key, vals in self._distill_logs["train"].items():
                if vals:
                    logs[key] = sum(vals) / len(vals)
            self._distill_logs["train"].clear()
        super().log(logs, start_time)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        """Save the soft prompt (config.json + model.safetensors) and the tokenizer: never the frozen LLM."""
        output_dir = output_dir or self.args.output_dir
        if self.args.should_save:
            self.soft_prompt.save_pretrained(output_dir)
            if self.processing_class is not None:
                self.processing_class.save_pretrained(output_dir)


class DistillTrainer(_DistillMixin, SFTTrainer):
    """Stage-1 trainer for causal LMs (TRL ``SFTTrainer`` with a candidate-scoring loss)."""

    def __init__(self, model, args: DistillConfig, train_dataset=None, eval_dataset=None, processing_class=None,
                 data_collator=None, **kwargs):
        if not isinstance(model, torch.nn.Module):
            raise TypeError("DistillTrainer needs an instantiated LLM with a soft prompt attached")
        if getattr(model.config, "is_encoder_decoder", False):
            raise ValueError("DistillTrainer is for causal LMs; use Seq2SeqDistillTrainer (or make_distill_trainer)")
        freeze_for_distillation(model)
        if data_collator is None:
            data_collator = DistillDataCollator(_pad_id(processing_class), "left")
        super().__init__(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                         processing_class=processing_class, data_collator=data_collator, **kwargs)
        self._distill_setup()


class Seq2SeqDistillTrainer(_DistillMixin, Trainer):
    """Stage-1 trainer for encoder-decoder LMs (``transformers.Trainer``; TRL's SFTTrainer is causal-only)."""

    def __init__(self, model, args: DistillConfig, train_dataset=None, eval_dataset=None, processing_class=None,
                 data_collator=None, **kwargs):
        freeze_for_distillation(model)
        if data_collator is None:
            data_collator = DistillDataCollator(_pad_id(processing_class), "right")
        super().__init__(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                         processing_class=processing_class, data_collator=data_collator, **kwargs)
        self._distill_setup()


def _pad_id(tokenizer) -> int:
    if tokenizer is None:
        raise ValueError("pass processing_class (the tokenizer) or a data_collator")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("the tokenizer has neither a pad nor an eos token")
    return int(pad)


def make_distill_trainer(model, args: DistillConfig, **kwargs):
    """``DistillTrainer`` for causal LMs, ``Seq2SeqDistillTrainer`` for encoder-decoder LMs."""
    cls = Seq2SeqDistillTrainer if getattr(model.config, "is_encoder_decoder", False) else DistillTrainer
    return cls(model, args, **kwargs)


__all__ = [
    "DistillTrainer",
    "Seq2SeqDistillTrainer",
    "DistillDataCollator",
    "build_distill_row",
    "freeze_for_distillation",
    "make_distill_trainer",
    "DISTILL_TASKS",
]
