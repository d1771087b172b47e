"""Train LLM-SRec (frozen LLM distilled from a frozen teacher) and evaluate it on the test candidates.

    hf-delrec train-llmsrec recipes/llmsrec_ml100k.yaml [key=value ...]

Keys: ``LLMSRecScriptArguments`` (data_dir, teacher, base_model, model settings) and ``LLMSRecTrainingConfig``
(every ``TrainingArguments`` field plus num_train_negatives, eval_num_candidates, eval_max_users, max_train_users,
early_stopping_patience). Writes the model (trainable parts only), results.json, training_config.json and a model
card to ``final_dir`` (default ``<output_dir>/final``) and prints the test table.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__.strip())
        return 0
    from ..recipe import RecipeError, parse_recipe
    from ..trainers.llmsrec_config import LLMSRecScriptArguments, LLMSRecTrainingConfig
    from ..trainers.llmsrec_trainer import format_results_table, train_llmsrec

    try:
        script_args, training_args = parse_recipe((LLMSRecScriptArguments, LLMSRecTrainingConfig), argv)
    except RecipeError as exc:
        print(f"hf-delrec train-llmsrec: {exc}", file=sys.stderr)
        return 2
    results = train_llmsrec(script_args, training_args)
    try:
        from ..hub import write_model_card

        write_model_card(results["final_dir"], dataset=results.get("dataset"))
    except Exception as exc:  # the card is a convenience; the model and results are already saved
        print(f"hf-delrec train-llmsrec: model card not written: {exc}", file=sys.stderr)
    print(format_results_table(results))
    print(json.dumps({k: v for k, v in results.items() if k not in ("test", "validation_curve")}, indent=2))
    return 0
