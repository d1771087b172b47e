"""DELRec stage 2 on TRL's ``SFTTrainer``: LoRA (or AdaLoRA) on the LLM that carries the frozen soft prompt.

The soft prompt lives inside the LLM's input embedding (``hf_delrec.injection.SoftPromptEmbedding``), so the stock
``SFTTrainer(peft_config=...)`` path trains it unchanged: PEFT freezes every non-adapter parameter (the soft prompt and
the base weights), the prompt-completion data gives a completion-only loss on the target title, and TRL's fused LM
head works because nothing overrides ``forward``. What this subclass adds:

* AdaLoRA: ``update_and_allocate`` after every optimizer step (``AdaLoraRankCallback``; neither TRL nor Trainer calls
  it) and a ``compute_loss`` that keeps AdaLoRA's orthogonal regulariser, which ``SFTTrainer`` drops because it builds
  its loss from the fused log-probs rather than ``outputs.loss``.
* ``RankingEvalCallback``: candidate-ranking HR@1 on a validation subset every N steps, saved as JSON and a PNG curve.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Sequence

import torch
from transformers import Trainer, TrainerCallback
from trl import SFTTrainer

from .sft_config import DELRecSFTConfig

logger = logging.getLogger(__name__)


class AdaLoraRankCallback(TrainerCallback):
    """Calls AdaLoRA's rank re-allocation after each optimizer step (gradients are still present there)."""

    def __init__(self):
        self.num_calls = 0

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        tuner = getattr(model, "base_model", None)
        if tuner is None or not hasattr(tuner, "update_and_allocate"):
            raise TypeError("AdaLoraRankCallback needs a PEFT AdaLoRA model (model.base_model.update_and_allocate)")
        # Trainer increments global_step after this event; AdaLoRA's schedule counts steps from 0.
        tuner.update_and_allocate(state.global_step)
        self.num_calls += 1


def _adalora_callbacks(peft_config, callbacks) -> tuple[bool, list]:
    """(is AdaLoRA, the callbacks with one ``AdaLoraRankCallback`` added for AdaLoRA): neither Trainer calls it."""
    callbacks = list(callbacks or [])
    is_adalora = type(peft_config).__name__ == "AdaLoraConfig"
    if is_adalora and not any(isinstance(c, AdaLoraRankCallback) for c in callbacks):
        callbacks.append(AdaLoraRankCallback())
    return is_adalora, callbacks


class RankingEvalCallback(TrainerCallback):
    """Every ``eval_steps`` optimizer steps (and before the first), rank a fixed validation subset and log HR@1.

    Args:
        rank_fn: ``rank_fn(model) -> sequence of 1-based ranks`` of the true item among the candidates, computed with
            the model being trained (put in eval mode and back around the call).
        eval_steps: period in optimizer steps (> 0).
        output_dir: where ``validation_hr1.json`` and ``validation_hr1.png`` are written at the end of training.
    """

    def __init__(self, rank_fn: Callable[[torch.nn.Module], Sequence[int]], eval_steps: int, output_dir: str | Path):
        if eval_steps <= 0:
            raise ValueError(f"eval_steps must be > 0, got {eval_steps}")
        self.rank_fn = rank_fn
        self.eval_steps = eval_steps
        self.output_dir = Path(output_dir)
        self.history: list[dict] = []

    # history row field -> key of the row logged into Trainer's state (saved with every checkpoint)
    _LOGGED = {"HR@1": "eval_val_HR@1", "HR@5": "eval_val_HR@5", "NDCG@5": "eval_val_NDCG@5",
               "num_examples": "eval_val_num_examples"}

    def _evaluate(self, state, model):
        from ..metrics import compute_metrics

        was_training = model.training
        model.eval()
        with torch.no_grad():
            ranks = list(self.rank_fn(model))
        if was_training:
            model.train()
        metrics = compute_metrics(ranks, ks=(1, 5))
        row = {"step": int(state.global_step), "HR@1": metrics["HR@1"], "HR@5": metrics["HR@5"],
               "NDCG@5": metrics["NDCG@5"], "num_examples": int(metrics["num_examples"])}
        self.history.append(row)
        state.log_history.append({"step": row["step"], **{key: row[name] for name, key in self._LOGGED.items()}})
        logger.info("validation ranking at step %d: HR@1=%.4f NDCG@5=%.4f", row["step"], row["HR@1"], row["NDCG@5"])

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not self.history:
            # Resumed from a checkpoint: the rows logged before it come back with Trainer's restored state.
            self.history = [{"step": h["step"], **{name: h[key] for name, key in self._LOGGED.items()}}
                            for h in state.log_history if all(key in h for key in self._LOGGED.values())]
        if not self.history or self.history[-1]["step"] != state.global_step:
            self._evaluate(state, model)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.eval_steps == 0:
            self._evaluate(state, model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if not self.history or self.history[-1]["step"] != state.global_step:
            self._evaluate(state, model)
        if not state.is_world_process_zero:  # every process evaluates the same users; one writes
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        from ..utils.io import write_json_atomic

        write_json_atomic(self.output_dir / "validation_hr1.json", self.history)
        plot_validation_curve(self.history, self.output_dir / "validation_hr1.png")


def plot_validation_curve(history: list[dict], path: str | Path, title: str = "DELRec stage 2: validation HR@1") -> bool:
    """Write a PNG of HR@1 (and NDCG@5) over optimizer steps; returns False (and logs) if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plotting is an extra (pip install hf-delrec[plots])
        logger.warning("matplotlib is not installed: %s not written", path)
        return False
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    ax.plot(steps, [h["HR@1"] for h in history], marker="o", label="HR@1")
    if all("NDCG@5" in h for h in history):
        ax.plot(steps, [h["NDCG@5"] for h in history], marker=".", linestyle="--", label="NDCG@5")
    n = history[-1].get("num_examples") if history else None
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("metric (validation users" + (f", n={n})" if n else ")"))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


class DELRecSFTTrainer(SFTTrainer):
    """``SFTTrainer`` for stage 2. ``model`` is the LLM with the soft prompt attached (not yet PEFT-wrapped);
    ``peft_config`` defaults to ``args.build_peft_config()``."""

    def __init__(self, model, args: DELRecSFTConfig, *, peft_config=None, callbacks=None, **kwargs):
        if not isinstance(args, DELRecSFTConfig):
            raise TypeError(f"args must be a DELRecSFTConfig, got {type(args).__name__}")
        if peft_config is None:
            peft_config = args.build_peft_config()
        self.is_adalora, callbacks = _adalora_callbacks(peft_config, callbacks)
        super().__init__(model=model, args=args, peft_config=peft_config, callbacks=callbacks, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.is_adalora and model.training:
            return self._adalora_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.args.completion_only_logits and "labels" in inputs:
            return self._completion_only_loss(model, inputs, return_outputs, num_items_in_batch)
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)

    def _completion_only_loss(self, model, inputs, return_outputs, num_items_in_batch):
        """Token NLL of the completion, projecting only the completion positions through the LM head.

        Stage-2 rows are a ~350-token prompt and a ~15-token answer; on CPU TRL's fused head projects every position
        ((batch x length) x vocab logits, ~0.5 GB at batch 8 for SmolLM2's 49k vocabulary, plus its softmax
        temporaries). Here the LLM returns its last hidden states and only the positions whose next token is a label
        are projected. Same value and gradient as ``SFTTrainer``'s loss (tested); the same metrics are logged.
        """
        labels = inputs["labels"]
        model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
        # logits_to_keep=1: the model's own head runs on one position only; output_hidden_states[-1] is the normed
        # last hidden state the head reads.
        outputs = model(**model_inputs, use_cache=False, output_hidden_states=True, logits_to_keep=1)
        target = labels[:, 1:]
        mask = target != -100
        head = self.accelerator.unwrap_model(model).get_output_embeddings()
        hidden = outputs.hidden_states[-1][:, :-1][mask].to(head.weight.device)
        logits = head(hidden).float()
        log_probs = logits.log_softmax(-1)
        token_log_probs = log_probs.gather(-1, target[mask].to(logits.device)[:, None]).squeeze(-1)
        num_tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
        loss = -token_log_probs.sum() / torch.as_tensor(num_tokens, device=logits.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # As Trainer/SFTTrainer: num_items_in_batch counts every rank's tokens and DDP averages the gradients.
            loss = loss * self.accelerator.num_processes
        with torch.no_grad():
            mode = "train" if model.training else "eval"
            num_valid = self.accelerator.gather_for_metrics(mask.sum()).sum()
            entropy = -(log_probs.exp() * log_probs).sum(-1).sum()
            correct = (logits.argmax(-1) == target[mask].to(logits.device)).sum()
            entropy = self.accelerator.gather_for_metrics(entropy).sum()
            correct = self.accelerator.gather_for_metrics(correct).sum()
            if num_valid > 0:
                self._metrics[mode]["entropy"].append((entropy / num_valid).item())
                self._metrics[mode]["mean_token_accuracy"].append((correct / num_valid).item())
        return (loss, outputs) if return_outputs else loss

    def _adalora_loss(self, model, inputs, return_outputs, num_items_in_batch):
        # AdaLoraModel.forward adds orth_reg_weight * regulariser to ``outputs.loss``; SFTTrainer would only use the
        # log-probs. Keep the token NLL scaled exactly as SFTTrainer scales it and add the regulariser once per
        # optimizer step (it is a per-forward quantity, so divide it across gradient-accumulation micro-batches).
        inputs = {**inputs, "use_cache": False}
        outputs = model(**inputs, fused_lm_head=True)
        per_token = -outputs.log_probs
        nll_mean = per_token.sum() / outputs.label_mask.sum().clamp(min=1)
        regulariser = outputs.loss - nll_mean
        if num_items_in_batch is None:
            loss = outputs.loss
        else:
            loss = per_token.sum() / torch.as_tensor(num_items_in_batch).clamp(min=1)
            loss = loss + regulariser / self.current_gradient_accumulation_steps
        mode = "train" if model.training else "eval"
        self._metrics[mode]["orth_regulariser"].append(float(regulariser.detach()))
        return (loss, outputs) if return_outputs else loss


class Seq2SeqDELRecSFTTrainer(Trainer):
    """Stage 2 for encoder-decoder LLMs (Flan-T5, the paper's backbone): TRL's ``SFTTrainer`` is causal-only.

    Takes the same prompt-completion rows as ``DELRecSFTTrainer``: the prompt (soft-prompt placeholders included)
    becomes the encoder input, the completion the decoder labels, tokenised exactly as the candidate scorer tokenises
    an answer (no special tokens), so training and ranking see the same target tokens. The loss is the model's own
    (for AdaLoRA it already holds the orthogonal regulariser); LoRA/AdaLoRA come from ``args.build_peft_config``.
    """

    def __init__(self, model, args: DELRecSFTConfig, *, peft_config=None, callbacks=None, train_dataset=None,
                 eval_dataset=None, processing_class=None, data_collator=None, **kwargs):
        from peft import get_peft_model
        from transformers import DataCollatorForSeq2Seq

        if not isinstance(args, DELRecSFTConfig):
            raise TypeError(f"args must be a DELRecSFTConfig, got {type(args).__name__}")
        if not getattr(model.config, "is_encoder_decoder", False):
            raise ValueError("Seq2SeqDELRecSFTTrainer is for encoder-decoder LLMs; use DELRecSFTTrainer")
        if processing_class is None:
            raise ValueError("pass processing_class (the tokenizer): the prompt-completion rows are tokenised here")
        if peft_config is None:
            peft_config = args.build_peft_config(task_type="SEQ_2_SEQ_LM")
        self.is_adalora, callbacks = _adalora_callbacks(peft_config, callbacks)
        # PEFT freezes every non-adapter parameter, the soft prompt inside the input embedding included.
        model = get_peft_model(model, peft_config)
        self.num_truncated_prompts = 0
        train_dataset = self._tokenize(train_dataset, processing_class, args.max_length, "train")
        eval_dataset = self._tokenize(eval_dataset, processing_class, args.max_length, "eval")
        if data_collator is None:
            data_collator = DataCollatorForSeq2Seq(processing_class, label_pad_token_id=-100)
        super().__init__(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                         processing_class=processing_class, data_collator=data_collator, callbacks=callbacks,
                         **kwargs)

    def _tokenize(self, dataset, tokenizer, max_length: int | None, split: str):
        if dataset is None or "input_ids" in dataset.column_names:
            return dataset
        missing = {"prompt", "completion"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"{split} dataset: needs 'prompt' and 'completion' columns (missing {sorted(missing)}) "
                             "or tokenised 'input_ids'/'labels'")
        rows = {"input_ids": [], "attention_mask": [], "labels": []}
        truncated = 0
        for k, (prompt, completion) in enumerate(zip(dataset["prompt"], dataset["completion"])):
            ids = tokenizer(prompt)["input_ids"]
            if max_length is not None and len(ids) > max_length:
                # Like SFTTrainer: keep the start (instruction, soft prompt, history), cut the end; counted, not hidden.
                ids = ids[:max_length]
                truncated += 1
            labels = tokenizer(completion, add_special_tokens=False)["input_ids"]
            if not labels:
                raise ValueError(f"{split} dataset row {k}: the completion {completion!r} tokenises to no tokens")
            rows["input_ids"].append(ids)
            rows["attention_mask"].append([1] * len(ids))
            rows["labels"].append(labels)
        if truncated:
            self.num_truncated_prompts += truncated
            logger.warning("stage 2 (seq2seq): %d %s prompts longer than max_length=%s were truncated",
                           truncated, split, max_length)
        from datasets import Dataset

        return Dataset.from_dict(rows)


def make_sft_trainer(model, args: DELRecSFTConfig, **kwargs):
    """``DELRecSFTTrainer`` (TRL) for causal LLMs, ``Seq2SeqDELRecSFTTrainer`` for encoder-decoder LLMs."""
    cls = Seq2SeqDELRecSFTTrainer if getattr(model.config, "is_encoder_decoder", False) else DELRecSFTTrainer
    return cls(model, args, **kwargs)


TEACHER_DISPLAY_NAMES = {"sasrec": "SASRec", "gru4rec": "GRU4Rec", "caser": "Caser", "bert4rec": "BERT4Rec"}


def teacher_display_name(model_type: str | None, default: str = "SASRec") -> str:
    """"delrec_sasrec" -> "SASRec" (the name the prompts write)."""
    if not model_type:
        return default
    key = str(model_type).lower().removeprefix("delrec_")
    return TEACHER_DISPLAY_NAMES.get(key, default)


def build_delrec_model(script_args, prepared, num_candidates: int, llm=None, tokenizer=None):
    """A ``DELRec`` (no LoRA yet) for the given LLM, soft prompt (or none) and catalogue."""
    from ..backbones import load_backbone
    from ..models.delrec import DELRec, DELRecConfig

    if llm is None:
        llm, tokenizer = load_backbone(script_args.model_name_or_path, dtype=script_args.backbone_dtype)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    soft_prompt = None
    teacher_type = teacher_path = None
    if script_args.soft_prompt_path:
        from ..models.soft_prompt import SoftPrompt

        soft_prompt = SoftPrompt.from_pretrained(script_args.soft_prompt_path)
        soft_prompt.to(dtype=next(llm.parameters()).dtype)
        teacher_type = soft_prompt.config.teacher_model_type
        teacher_path = soft_prompt.config.teacher_name_or_path
    template = None
    domain = script_args.domain
    if script_args.template_path:
        from ..prompts.templates import load_templates

        templates = load_templates(script_args.template_path)
        template, domain = templates.rec, templates.domain
    stats = getattr(prepared, "stats", {}) or {}
    config = DELRecConfig(
        base_model_name_or_path=script_args.model_name_or_path,
        backbone_dtype=script_args.backbone_dtype,
        domain=domain,
        template=template,
        teacher_name=script_args.teacher_name or teacher_display_name(teacher_type),
        scoring=script_args.scoring,
        num_candidates=num_candidates,
        max_history_items=script_args.max_history_items,
        teacher_name_or_path=teacher_path,
        soft_prompt_name_or_path=script_args.soft_prompt_path,
        dataset=stats.get("dataset"),
        catalogue_fingerprint=getattr(prepared, "catalogue_fingerprint", None),
        num_items=int(getattr(prepared, "num_items", len(prepared.titles) - 1)),
    )
    return DELRec.from_parts(config, llm, tokenizer, soft_prompt=soft_prompt, item_titles=list(prepared.titles))


def check_target_modules(llm, targets, llm_name: str | None = None) -> None:
    """Every LoRA target must name modules of this LLM (PEFT matches a module name or its dotted suffix); checked
    before training so that a Llama name on a T5 ("q_proj" vs "q") is reported with the names that exist."""
    if isinstance(targets, str):
        targets = [targets]
    names = [n for n, _ in llm.named_modules() if n]
    missing = [t for t in targets if t != "all-linear" and not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in llm.named_modules() if isinstance(m, torch.nn.Linear)})
        raise ValueError(
            f"lora_target_modules: {missing} not found in the LLM {llm_name or type(llm).__name__}; its linear layers "
            f"are named {linear}"
        )


SETTINGS_KEPT = (
    "peft_type", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "adalora_init_r", "adalora_target_r",
    "adalora_tinit", "adalora_tfinal", "adalora_delta_t", "adalora_orth_reg_weight", "num_candidates",
    "max_train_examples", "examples_per_user", "min_history_items", "hr_eval_steps", "hr_eval_num_users",
    "learning_rate", "lr_scheduler_type", "warmup_steps", "weight_decay", "max_steps", "num_train_epochs",
    "per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "seed",
)


def training_config_dict(script_args, args: DELRecSFTConfig) -> dict:
    """The settings that define a stage-2 run (for provenance and the model card)."""
    import dataclasses

    out = {f.name: getattr(script_args, f.name) for f in dataclasses.fields(script_args) if f.name != "overwrite"}
    for key in SETTINGS_KEPT:
        value = getattr(args, key, None)
        out[key] = list(value) if isinstance(value, (tuple, set)) else value
    return out


def train_stage2(script_args, args: DELRecSFTConfig, prepared=None, llm=None, tokenizer=None) -> dict:
    """Stage 2 end to end: data -> SFTTrainer(LoRA) -> ``args.output_dir`` holding a loadable DELRec model.

    Writes (atomically, main process only) the model files, ``sft_results.json`` (steps, CPU/wall time, data report,
    losses) and, with ``hr_eval_steps``, ``validation_hr1.json``/``.png``. Returns the results dict (in every process).
    ``args.resume_from_checkpoint`` (true or a path) resumes from ``.<output name>.checkpoints``.
    """
    import shutil
    import time

    from ..data import load_prepared
    from ..utils.checkpoints import checkpoint_dir, prepare_checkpoint_dir, resolve_resume
    from ..utils.distributed import is_main_process, user_set_digest, wait_for_everyone
    from ..utils.io import OutputExistsError, atomic_directory, write_json_atomic
    from .sft_data import SFTDataReport, rank_rows, ranking_rows, to_prompt_completion, training_pairs

    if prepared is None:
        if not script_args.data_dir:
            raise ValueError("data_dir is not set: give the prepared dataset directory (hf-delrec data prepare)")
        prepared = load_prepared(script_args.data_dir)
    negatives = prepared.examples["train"]["negatives"]
    available = max((len(n) for n in negatives), default=0)
    if args.num_candidates - 1 > available:
        raise ValueError(
            f"num_candidates={args.num_candidates} needs {args.num_candidates - 1} negatives per user but "
            f"{script_args.data_dir or 'the dataset'} has at most {available}; lower num_candidates or prepare the "
            "data with more --num-negatives"
        )
    model = build_delrec_model(script_args, prepared, args.num_candidates, llm=llm, tokenizer=tokenizer)
    check_target_modules(model.llm, args.lora_target_modules, script_args.model_name_or_path)
    report = SFTDataReport()
    pairs = training_pairs(
        prepared.examples["train"], num_candidates=args.num_candidates, max_train_examples=args.max_train_examples,
        examples_per_user=args.examples_per_user, min_history_items=args.min_history_items, seed=args.seed,
        report=report,
    )
    if not pairs:
        raise ValueError(f"{script_args.data_dir}: no stage-2 training example could be built ({report.skipped})")
    train_ds = to_prompt_completion(pairs, prepared.titles, model.format_prompt, model.format_completion)
    logger.info("stage 2: %d training examples from %d users (skipped: %s)", len(pairs), report.num_users,
                report.skipped)

    out = Path(args.output_dir)
    if out.exists() and not script_args.overwrite:
        raise OutputExistsError(f"output directory {out.absolute()} already exists; pass overwrite=true")
    # Trainer checkpoints go to a fixed sibling (the same in every process; kept after a kill for
    # resume_from_checkpoint=true); the model directory is written atomically at the end by the main process.
    scratch = checkpoint_dir(out)
    resume = resolve_resume(args.resume_from_checkpoint, scratch)
    main_process = is_main_process(args)
    prepare_checkpoint_dir(scratch, resume, main_process)
    wait_for_everyone()
    args.output_dir = str(scratch)
    try:
        callbacks = []
        hr_cb = None
        if args.hr_eval_steps:
            # Every process ranks the same validation users (deterministic, so they all log the same HR@1).
            val_rows = ranking_rows(prepared.examples["validation"], args.hr_eval_num_users, seed=args.seed)
            hr_cb = RankingEvalCallback(lambda _m: rank_rows(model, val_rows), args.hr_eval_steps, scratch)
            callbacks.append(hr_cb)
        trainer = make_sft_trainer(
            model.llm, args, train_dataset=train_ds, processing_class=model.tokenizer, callbacks=callbacks
        )
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in trainer.model.parameters())
        cpu0, wall0 = time.process_time(), time.perf_counter()
        train_out = trainer.train(resume_from_checkpoint=resume)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        model.llm = trainer.model
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        results = {
            "stage": "delrec_stage2_sft",
            "peft_type": args.peft_type,
            "global_steps": int(trainer.state.global_step),
            "num_train_examples": len(pairs),
            "per_device_train_batch_size": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "world_size": args.world_size,
            "resumed_from_checkpoint": Path(resume).name if resume else None,
            "learning_rate": args.learning_rate,
            "trainable_parameters": int(trainable),
            "total_parameters": int(total),
            "train_cpu_seconds": round(cpu, 1),
            "train_wall_seconds": round(wall, 1),
            "train_loss": float(train_out.training_loss),
            "first_logged_loss": losses[0] if losses else None,
            "last_logged_loss": losses[-1] if losses else None,
            "data": report.to_dict(),
            "soft_prompt": script_args.soft_prompt_path,
            "validation_curve": hr_cb.history if hr_cb else None,
            "validation_users": (user_set_digest(r["user_id"] for r in val_rows) if hr_cb else None),
        }
        if main_process:
            with atomic_directory(out, overwrite=script_args.overwrite) as tmp:
                model.save_pretrained(tmp)
                write_json_atomic(tmp / "sft_results.json", results)
                write_json_atomic(tmp / "training_log.json", trainer.state.log_history)
                write_json_atomic(tmp / "training_config.json", training_config_dict(script_args, args))
                for name in ("validation_hr1.json", "validation_hr1.png"):
                    if (scratch / name).is_file():
                        shutil.copy2(scratch / name, tmp / name)
            shutil.rmtree(scratch, ignore_errors=True)  # checkpoints only serve resumption
        wait_for_everyone()
    finally:
        args.output_dir = str(out)
    if hr_cb is not None:
        hr_cb.output_dir = out
    return results


__all__ = [
    "DELRecSFTTrainer",
    "Seq2SeqDELRecSFTTrainer",
    "make_sft_trainer",
    "AdaLoraRankCallback",
    "RankingEvalCallback",
    "plot_validation_curve",
    "build_delrec_model",
    "train_stage2",
    "teacher_display_name",
]
