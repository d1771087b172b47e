"""Train LLM-SRec (frozen LLM distilled from a frozen teacher) and evaluate it on the test candidates.

    hf-delrec train-llmsrec recipes/llmsrec_ml100k.yaml [key=value ...]

Keys: ``LLMSRecScriptArguments`` (data_dir, teacher, base_model, model settings) and ``LLMSRecTrainingConfig``
(every ``TrainingArguments`` field plus num_train_negatives, eval_num_candidates, eval_max_users, max_train_users,
early_stopping_patience). Writes the model (trainable parts only), results.json, training_config.json and a model
card to ``final_dir`` (default ``<output_dir>/final``) and prints the test table. With ``push_to_hub: true`` +
``hub_model_id``, ``final_dir`` is pushed (with its card) at the end; the Trainer itself never pushes.
"""

from __future__ import annotations

import json
import sys

from . import finish_with_push


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__.strip())
        return 0
    from .. import hub
    from ..recipe import RecipeError, parse_recipe
    from ..trainers.llmsrec_config import LLMSRecScriptArguments, LLMSRecTrainingConfig
    from ..trainers.llmsrec_trainer import format_results_table, train_llmsrec

    try:
        script_args, training_args = parse_recipe((LLMSRecScriptArguments, LLMSRecTrainingConfig), argv)
        # push_to_hub: checked before training, done by us once final_dir is written (never by the Trainer, which
        # would push its checkpoints and a generic card).
        push = hub.prepare_push(training_args, base_model=script_args.base_model)
    except (RecipeError, hub.HubError) as exc:
        print(f"hf-delrec train-llmsrec: {exc}", file=sys.stderr)
        return 2
    try:
        results = train_llmsrec(script_args, training_args)
    except ValueError as exc:  # bad input found after parsing (teacher/data mismatch, ...): a message, not a traceback
        print(f"hf-delrec train-llmsrec: {exc}", file=sys.stderr)
        return 2
    if results is None:  # a non-main process of a multi-process run: the main process reports and writes the card
        return 0
    try:
        from ..hub import write_model_card

        write_model_card(results["final_dir"], dataset=results.get("dataset"))
    except Exception as exc:  # the card is a convenience; the model and results are already saved
        print(f"hf-delrec train-llmsrec: model card not written: {exc}", file=sys.stderr)
    print(format_results_table(results))
    print(json.dumps({k: v for k, v in results.items() if k not in ("test", "validation_curve")}, indent=2))
    return finish_with_push("train-llmsrec", results["final_dir"], push, dataset=results.get("dataset"))
