"""DELRec stage 1: distil a teacher recommender into a soft prompt of a frozen LLM (Temporal Analysis + RPS).

    hf-delrec distill recipes/delrec_stage1_ml100k.yaml [key=value ...]

Reads a prepared dataset (``data_dir``) and the teacher's top-k for every user's train-row history (from
``teacher_predictions``, default ``DATA_DIR/teacher_predictions/<teacher_name>``, or computed on the fly with the
teacher model at ``teacher_name_or_path``). Users are split once (seeded) into training users and ``num_eval_users``
held-out users. Writes ``output_dir`` (atomically): the soft prompt (``config.json`` + ``model.safetensors``), the
tokenizer with the placeholder tokens, ``distill_results.json`` (held-out TA / RPS accuracy of the trained prompt vs
the same LLM with the untrained prompt, timings, counts) and ``recipe.json``. With ``push_to_hub: true`` +
``hub_model_id`` that directory is pushed (with its model card) at the end; the Trainer itself never pushes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import finish_with_push

logger = logging.getLogger("hf_delrec.distill")


@dataclass
class DistillScriptArguments:
    data_dir: str = field(default="", metadata={"help": "prepared dataset directory (hf-delrec data prepare)"})
    backbone: str = field(default="HuggingFaceTB/SmolLM2-135M-Instruct", metadata={"help": "LLM id or local path"})
    backbone_dtype: str = "float32"
    backbone_kind: str = "auto"
    teacher_name: str = field(default="sasrec", metadata={"help": "folder under DATA_DIR/teacher_predictions/"})
    teacher_display_name: str = field(default="SASRec", metadata={"help": "the {teacher} slot of the templates"})
    teacher_predictions: str | None = field(default=None, metadata={"help": "teacher predictions DatasetDict dir"})
    teacher_name_or_path: str | None = field(default=None, metadata={"help": "teacher model (if no predictions)"})
    templates: str = field(default="movies", metadata={"help": "movies | products | games | path to a JSON/YAML file"})
    normalize_titles: bool = True
    num_soft_tokens: int = 100
    soft_prompt_init: str = "random"
    soft_prompt_init_text: str | None = None
    soft_prompt_init_std: float = 0.02
    tasks: list[str] = field(default_factory=lambda: ["ta", "rps"])
    num_candidates: int = 20
    num_teacher_items: int = 10
    max_history_items: int | None = 10
    demo_length: int = 4
    query_start: int = 3
    max_candidate_tokens: int | None = 32
    max_train_users: int | None = None
    num_eval_users: int = 100
    eval_untrained: bool = True
    overwrite: bool = False

    def __post_init__(self):
        # Checked when the recipe is read, before the data and the LLM are loaded.
        from ..backbones import check_dtype_name

        for name in ("num_soft_tokens", "num_teacher_items", "demo_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_candidates < 2:
            raise ValueError(f"num_candidates must be >= 2 (the answer + at least one other), got {self.num_candidates}")
        if self.num_eval_users < 0:
            raise ValueError(f"num_eval_users must be >= 0, got {self.num_eval_users}")
        check_dtype_name(self.backbone_dtype, "backbone_dtype")


def _load_teacher_topk(script, prepared, k: int) -> tuple[dict[int, list[int]], str]:
    """user_id -> teacher top-k for the user's train-row history; and a description of where it came from."""
    from datasets import load_from_disk

    path = script.teacher_predictions
    default = Path(script.data_dir) / "teacher_predictions" / script.teacher_name
    if path is None and default.is_dir():
        path = str(default)
    if path is not None:
        if not Path(path).is_dir():
            raise FileNotFoundError(
                f"teacher_predictions={path}: no such directory; it is written by `hf-delrec export-teacher "
                f"TEACHER_DIR --data {script.data_dir}` (default location {default})"
            )
        _check_predictions_catalogue(Path(path), prepared)
        dd = load_from_disk(path)
        split = dd["train"] if hasattr(dd, "keys") else dd
        for col in ("user_id", "teacher_topk"):
            if col not in split.column_names:
                raise ValueError(f"{path}: teacher predictions lack the column {col!r}")
        out = {int(u): [int(i) for i in t] for u, t in zip(split["user_id"], split["teacher_topk"])}
        train_users = {int(u) for u in prepared.examples["train"]["user_id"]}
        if set(out) != train_users:
            # Predictions of another dataset (or an older preparation): users would get another user's top-k.
            missing, extra = sorted(train_users - set(out)), sorted(set(out) - train_users)
            raise ValueError(
                f"{path}: teacher predictions cover {len(out)} users but {script.data_dir} has {len(train_users)} "
                f"train users (missing {missing[:5]}, unknown {extra[:5]}); re-run `hf-delrec export-teacher` on "
                "this dataset"
            )
        return out, f"predictions {path}"
    if script.teacher_name_or_path is None:
        raise ValueError(
            f"no teacher predictions at {default} and no teacher_name_or_path: run `hf-delrec export-teacher` "
            "or pass teacher_predictions=DIR / teacher_name_or_path=DIR"
        )
    import torch
    from transformers import AutoModel

    teacher = AutoModel.from_pretrained(script.teacher_name_or_path)
    if not hasattr(teacher, "recommend") or not hasattr(teacher.config, "num_items"):
        raise ValueError(
            f"teacher_name_or_path={script.teacher_name_or_path} holds a {type(teacher).__name__} "
            f"(model_type {teacher.config.model_type!r}), not a teacher recommender (sasrec, gru4rec, caser, bert4rec)"
        )
    if int(teacher.config.num_items) != int(prepared.num_items):
        raise ValueError(
            f"{script.teacher_name_or_path}: the teacher has {teacher.config.num_items} items but {script.data_dir} "
            f"has {prepared.num_items} (trained on another catalogue)"
        )
    fp = getattr(teacher.config, "catalogue_fingerprint", None)
    if fp and fp != prepared.catalogue_fingerprint:
        raise ValueError(
            f"{script.teacher_name_or_path}: teacher catalogue_fingerprint differs from {script.data_dir}'s "
            "(trained on another catalogue)"
        )
    train = prepared.examples["train"]
    users = [int(u) for u in train["user_id"]]
    with torch.no_grad():
        ids, _ = teacher.recommend([list(h) for h in train["history"]], k=k, exclude_seen=True, allow_empty=True)
    return {u: row.tolist() for u, row in zip(users, ids)}, f"model {script.teacher_name_or_path} (top-{k} computed)"


def _check_predictions_catalogue(path: Path, prepared) -> None:
    """``teacher_info.json`` (written by export-teacher) records the teacher's catalogue: it must be this dataset's."""
    info_file = path / "teacher_info.json"
    if not info_file.is_file():
        return
    info = json.loads(info_file.read_text(encoding="utf-8"))
    n, fp = info.get("num_items"), info.get("catalogue_fingerprint")
    if n is not None and int(n) != int(prepared.num_items):
        raise ValueError(
            f"{info_file}: the predictions come from a teacher with {n} items but the dataset has {prepared.num_items}"
            "; export the predictions of a teacher trained on this dataset"
        )
    if fp and prepared.catalogue_fingerprint and fp != prepared.catalogue_fingerprint:
        raise ValueError(
            f"{info_file}: catalogue_fingerprint {fp[:16]}... differs from the dataset's "
            f"{prepared.catalogue_fingerprint[:16]}... (same size, other items); export the predictions of a teacher "
            "trained on this dataset"
        )


def build_examples(script, prepared, topk_by_user, tokenizer, templates, soft_text, placeholder_ids, seed):
    """Paired TA/RPS rows for training users and per-task rows for held-out users; counts of skipped users."""
    from ..prompts import build_rps_example, build_ta_example, render_example
    from ..trainers.distill_trainer import build_distill_row

    train = prepared.examples["train"]
    users = [int(u) for u in train["user_id"]]
    histories = train["history"]
    negatives = train["negatives"]
    skipped: dict[str, int] = {}
    per_user: dict[int, dict[str, dict]] = {}
    for row, (u, h, neg) in enumerate(zip(users, histories, negatives)):
        topk = topk_by_user.get(u)
        if topk is None:
            skipped["no teacher prediction"] = skipped.get("no teacher prediction", 0) + 1
            continue
        rows = {}
        for task in script.tasks:
            try:
                if task == "ta":
                    ex = build_ta_example(
                        h, topk, neg, num_candidates=script.num_candidates, demo_length=script.demo_length,
                        query_start=script.query_start, max_history=script.max_history_items, seed=seed + u, user_id=u,
                    )
                else:
                    ex = build_rps_example(
                        h, topk, neg, num_candidates=script.num_candidates, num_teacher_items=script.num_teacher_items,
                        max_history=script.max_history_items, seed=seed + u, user_id=u,
                    )
                prompt, answers = render_example(
                    ex, templates, prepared.titles, soft_prompt=soft_text, teacher=script.teacher_display_name,
                    normalize=script.normalize_titles,
                )
                rows[task] = build_distill_row(
                    tokenizer, task, prompt, answers, ex.target_index, placeholder_ids=placeholder_ids,
                    max_candidate_tokens=script.max_candidate_tokens, where=f"{script.data_dir} train user {u}",
                )
            except ValueError as exc:
                reason = f"{task}: {str(exc).split(':', 1)[-1].strip().split('(')[0].strip()}"
                skipped[reason] = skipped.get(reason, 0) + 1
        if len(rows) == len(script.tasks):
            per_user[u] = rows
        elif rows:
            skipped["user lacks one task"] = skipped.get("user lacks one task", 0) + 1
    ordered = sorted(per_user)
    random.Random(seed).shuffle(ordered)
    eval_users = ordered[: script.num_eval_users]
    train_users = ordered[script.num_eval_users :]
    if script.max_train_users is not None:
        train_users = train_users[: script.max_train_users]
    if not train_users:
        raise ValueError(f"{script.data_dir}: no training users left after holding out {len(eval_users)}")
    train_rows = [{k: v for t in script.tasks for k, v in per_user[u][t].items()} for u in train_users]
    eval_rows = {t: [dict(per_user[u][t], user_id=u) for u in eval_users] for t in script.tasks}
    counts = {"train_users": len(train_users), "eval_users": len(eval_users), "skipped": skipped,
              "held_out_user_ids": sorted(eval_users)}
    return train_rows, eval_rows, counts


def run(script: DistillScriptArguments, args) -> dict | None:
    import torch
    from datasets import Dataset

    from ..backbones import load_backbone
    from ..data import load_prepared
    from ..injection import attach_soft_prompt
    from ..models.soft_prompt import SoftPrompt
    from ..prompts import load_templates, soft_prompt_text
    from ..recipe import recipe_to_dict
    from ..utils.checkpoints import checkpoint_dir, prepare_checkpoint_dir, resolve_resume
    from ..utils.distributed import is_main_process, user_set_digest, wait_for_everyone
    from ..utils.io import OutputExistsError, atomic_directory, write_json_atomic
    from ..trainers.distill_trainer import make_distill_trainer

    if not script.data_dir:
        raise ValueError("data_dir is required (a directory written by `hf-delrec data prepare`)")
    for t in script.tasks:
        if t not in ("ta", "rps"):
            raise ValueError(f"tasks: unknown task {t!r}; choose from ta, rps")
    out_dir = Path(args.output_dir)
    if out_dir.exists() and not script.overwrite:
        raise OutputExistsError(f"output directory {out_dir.absolute()} already exists; pass overwrite=true")
    torch.manual_seed(args.seed)
    t_start = time.perf_counter()
    prepared = load_prepared(script.data_dir)
    templates = load_templates(script.templates)
    topk_by_user, teacher_source = _load_teacher_topk(script, prepared, script.num_teacher_items)

    model, tokenizer = load_backbone(script.backbone, dtype=script.backbone_dtype, kind=script.backbone_kind)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    prompt = SoftPrompt.for_llm(
        model, tokenizer=tokenizer, num_soft_tokens=script.num_soft_tokens, init=script.soft_prompt_init,
        init_text=script.soft_prompt_init_text, init_std=script.soft_prompt_init_std,
        base_model_name_or_path=script.backbone, teacher_name_or_path=script.teacher_name_or_path or teacher_source,
        teacher_model_type=script.teacher_name, dataset=str(prepared.stats.get("dataset")),
    )
    wrapper = attach_soft_prompt(model, prompt, tokenizer=tokenizer)
    placeholder_ids = wrapper.soft_token_ids.tolist()
    soft_text = soft_prompt_text(prompt.config.soft_tokens)

    train_rows, eval_rows, counts = build_examples(
        script, prepared, topk_by_user, tokenizer, templates, soft_text, placeholder_ids, args.seed
    )
    prompt_lengths = [len(r[f"{t}_prompt_input_ids"]) for r in train_rows for t in script.tasks]
    logger.info("examples: %s; mean prompt length %.0f tokens", counts, sum(prompt_lengths) / len(prompt_lengths))
    train_ds = Dataset.from_list(train_rows)
    eval_ds = {t: Dataset.from_list(rows) for t, rows in eval_rows.items()}

    # The Trainer's scratch space (fixed, the same in every process, so a killed run can resume from it); the
    # artifact is written atomically below, by the main process only.
    work = checkpoint_dir(out_dir)
    resume = resolve_resume(args.resume_from_checkpoint, work)
    main_process = is_main_process(args)
    prepare_checkpoint_dir(work, resume, main_process)
    wait_for_everyone()
    final_output_dir = args.output_dir
    args.output_dir = str(work)
    try:
        trainer = make_distill_trainer(model, args, train_dataset=train_ds, processing_class=tokenizer)
        untrained = {}
        t0 = time.perf_counter()
        if script.eval_untrained:
            for t, ds in eval_ds.items():
                untrained.update(trainer.evaluate(ds, metric_key_prefix=f"eval_{t}"))
        eval_before_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        train_out = trainer.train(resume_from_checkpoint=resume)
        train_s = time.perf_counter() - t0
        trained = {}
        evaluated_users = {}
        t0 = time.perf_counter()
        for t, ds in eval_ds.items():
            trained.update(trainer.evaluate(ds, metric_key_prefix=f"eval_{t}"))
            evaluated_users[t] = user_set_digest(trainer.eval_user_ids.get(t, []))
        eval_after_s = time.perf_counter() - t0
        steps = trainer.state.global_step
        # Every process must end with the same prompt (the gradients are averaged across them): checked, recorded.
        replicas = trainer.accelerator.gather(prompt.weight.detach().float().reshape(1, -1))
        replicas_identical = bool((replicas == replicas[0]).all())
        table = {}
        for t in script.tasks:
            key = f"eval_{t}_{t}_accuracy"
            table[t] = {
                "trained_accuracy": trained.get(key),
                "untrained_accuracy": untrained.get(key),
                "chance": 1.0 / script.num_candidates,
                "trained_loss": trained.get(f"eval_{t}_loss"),
                "untrained_loss": untrained.get(f"eval_{t}_loss"),
                "num_examples": trained.get(f"eval_{t}_{t}_num_examples"),
            }
        results = {
            "stage1_eval": table,
            "what": "held-out users: TA = the most recent real item chosen among candidates given the teacher's "
            "top-1 as the next item; RPS = the teacher's top-1 chosen among teacher top-k + random candidates. "
            "accuracy = strict top-1 (ties count as misses). untrained = same LLM, same prompt before training.",
            "backbone": script.backbone,
            "teacher": teacher_source,
            "num_soft_tokens": script.num_soft_tokens,
            "scoring_method": args.scoring_method,
            "task_weighting": args.task_weighting,
            "counts": counts,
            "evaluated_users": evaluated_users,
            "world_size": args.world_size,
            "soft_prompt_replicas_identical": replicas_identical,
            "resumed_from_checkpoint": Path(resume).name if resume else None,
            "mean_prompt_tokens": sum(prompt_lengths) / len(prompt_lengths),
            "train_steps": steps,
            "train_batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps,
            "train_seconds": train_s,
            "steps_per_second": steps / train_s if train_s > 0 else None,
            "train_examples_per_second": steps * args.per_device_train_batch_size * args.gradient_accumulation_steps
            * len(script.tasks) / train_s if train_s > 0 else None,
            "final_train_loss": train_out.training_loss,
            "eval_untrained_seconds": eval_before_s,
            "eval_trained_seconds": eval_after_s,
            "total_seconds": time.perf_counter() - t_start,
            "torch_threads": torch.get_num_threads(),
            "log_history": trainer.state.log_history,
        }
        if main_process:
            with atomic_directory(out_dir, overwrite=script.overwrite) as tmp:
                prompt.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
                write_json_atomic(tmp / "distill_results.json", results)
                write_json_atomic(tmp / "recipe.json", recipe_to_dict(script, args) | {"output_dir": final_output_dir})
            shutil.rmtree(work, ignore_errors=True)  # checkpoints only serve resumption; the artifact is complete
        wait_for_everyone()
    finally:
        args.output_dir = final_output_dir
    return results if main_process else None


def main(argv: list[str]) -> int:
    from .. import hub
    from ..recipe import RecipeError, parse_recipe
    from ..trainers.distill_config import DistillConfig

    if argv and argv[0] in {"-h", "--help"}:
        print(__doc__)
        print("keys:", ", ".join(f.name for f in dataclasses.fields(DistillScriptArguments)), "+ every DistillConfig field")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        script, args = parse_recipe((DistillScriptArguments, DistillConfig), argv)
        # push_to_hub: checked before training, done by us once the soft prompt is written (never by the Trainer).
        push = hub.prepare_push(args, base_model=script.backbone)
        results = run(script, args)
    except (RecipeError, ValueError, FileNotFoundError, FileExistsError, hub.HubError) as exc:
        print(f"hf-delrec distill: {exc}", file=sys.stderr)
        return 2
    if results is None:  # a non-main process of a multi-process run: the main process reports
        return 0
    print(json.dumps({"stage1_eval": results["stage1_eval"], "train_seconds": results["train_seconds"],
                      "steps_per_second": results["steps_per_second"]}, indent=2))
    return finish_with_push("distill", args.output_dir, push)
