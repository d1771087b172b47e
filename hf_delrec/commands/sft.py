"""DELRec stage 2: LoRA/AdaLoRA fine-tuning of the LLM with the frozen soft prompt -> a loadable DELRec model.

    hf-delrec sft RECIPE.yaml [key=value ...]

Keys: ``DELRecSFTScriptArguments`` (data_dir, model_name_or_path, soft_prompt_path — omit it for the no-soft-prompt
ablation —, domain, template_path, teacher_name, scoring, max_history_items, overwrite) and ``DELRecSFTConfig`` (every
``trl.SFTConfig`` field plus peft_type, lora_*, adalora_*, num_candidates, max_train_examples, examples_per_user,
hr_eval_steps, hr_eval_num_users). ``output_dir`` becomes the model directory: config.json, model.safetensors (soft
prompt), tokenizer, items.json, lora/, sft_results.json and, with hr_eval_steps, validation_hr1.png. With
``push_to_hub: true`` + ``hub_model_id`` that directory is pushed (with its model card) at the end.
"""

from __future__ import annotations

import sys

from . import finish_with_push


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__.strip())
        return 0 if argv else 2
    from .. import hub
    from ..recipe import RecipeError, parse_recipe
    from ..trainers.sft_config import DELRecSFTConfig, DELRecSFTScriptArguments
    from ..trainers.sft_trainer import train_stage2
    from ..utils.io import OutputExistsError

    try:
        script_args, config = parse_recipe((DELRecSFTScriptArguments, DELRecSFTConfig), argv)
        if config.output_dir in (None, "trainer_output"):  # TrainingArguments' default: never a DELRec model dir
            raise RecipeError("output_dir is not set: give the directory the DELRec model is written to")
        # push_to_hub: checked before training, done by us once the model is written (never by the Trainer, which
        # would push its checkpoints and a generic card).
        push = hub.prepare_push(config, base_model=script_args.model_name_or_path)
        results = train_stage2(script_args, config)
    except (RecipeError, OutputExistsError, ValueError, FileNotFoundError, hub.HubError) as exc:
        print(f"hf-delrec sft: {exc}", file=sys.stderr)
        return 2
    from ..utils.distributed import is_main_process

    if not is_main_process(config):  # multi-process run: the main process reports
        return 0
    curve = results.get("validation_curve") or []
    print(f"stage 2 done: {results['global_steps']} steps on {results['num_train_examples']} examples, "
          f"{results['train_cpu_seconds']} CPU s, loss {results['first_logged_loss']} -> {results['last_logged_loss']}")
    if curve:
        print("validation HR@1 by step: " + ", ".join(f"{h['step']}:{h['HR@1']:.3f}" for h in curve))
    print(f"model written to {config.output_dir} (load with: import hf_delrec; AutoModel.from_pretrained(...))")
    return finish_with_push("sft", config.output_dir, push)
