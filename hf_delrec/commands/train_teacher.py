"""Train a teacher recommender (SASRec, GRU4Rec, Caser, BERT4Rec) from a recipe: hf-delrec train-teacher RECIPE.yaml [key=value ...]

    hf-delrec train-teacher recipes/sasrec_ml100k.yaml data_dir=data/ml-100k output_dir=runs/sasrec-ml100k

Writes OUTPUT_DIR/{config.json, model.safetensors, eval_results.json, teacher_recipe.json} atomically; eval_results
holds the test metrics of both protocols (full ranking; 20/100 sampled candidates) and the epoch times.
With ``push_to_hub: true`` + ``hub_model_id`` the finished directory is pushed (with its model card) at the end;
the Trainer itself never pushes (no checkpoints on the Hub).
"""

from __future__ import annotations

import json
import logging
import sys


def main(argv: list[str]) -> int:
    if argv and argv[0] in {"-h", "--help"}:
        print(__doc__)
        from ..trainers.teacher_recipe import TeacherModelArguments, TeacherScriptArguments

        import dataclasses

        for cls in (TeacherScriptArguments, TeacherModelArguments):
            print(f"{cls.__name__}: " + ", ".join(f.name for f in dataclasses.fields(cls)))
        print("plus every transformers.TrainingArguments field (TeacherConfig), e.g. learning_rate, num_train_epochs")
        return 0
    from .. import hub
    from ..recipe import RecipeError, parse_recipe
    from ..trainers.teacher_config import TeacherConfig
    from ..trainers.teacher_recipe import TeacherModelArguments, TeacherScriptArguments, run_teacher_training

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        script_args, model_args, training_args = parse_recipe(
            (TeacherScriptArguments, TeacherModelArguments, TeacherConfig), argv
        )
        # push_to_hub: checked now (not after a training run) and done by us at the end, never by the Trainer.
        push = hub.prepare_push(training_args)
        results = run_teacher_training(script_args, model_args, training_args)
    except (RecipeError, ValueError, FileExistsError, FileNotFoundError, hub.HubError) as exc:
        print(f"hf-delrec train-teacher: error: {exc}", file=sys.stderr)
        return 2
    if results is None:  # a non-main process of a multi-process run: the main process reports
        return 0
    summary = {
        "output_dir": training_args.output_dir,
        "test": results["test"],
        "popularity_test_full": results["popularity_test"].get("full"),
        "mean_epoch_seconds": results["mean_epoch_seconds"],
        "epochs_trained": results["epochs_trained"],
    }
    try:
        url = hub.push_after_training(training_args.output_dir, push, dataset=results.get("dataset"))
    except hub.HubError as exc:
        print(json.dumps(summary, indent=2))
        print(f"hf-delrec train-teacher: push_to_hub: {exc}", file=sys.stderr)
        return 1
    if url:
        summary["pushed_to"] = url
    print(json.dumps(summary, indent=2))
    return 0
