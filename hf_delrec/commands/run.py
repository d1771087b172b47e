"""Run the whole DELRec pipeline (data, teacher, stage 1, stage 2, evaluation, card), resuming finished stages.

    hf-delrec run RECIPE.yaml [key=value ...] [section.key=value ...]

Top-level keys: ``PipelineArguments`` (output_dir, dataset, data_source or data_dir, model_name_or_path, teacher,
domain, num_candidates, eval_split, eval_num_users, rows, seed, card; push_to_hub, hub_model_id, hub_private_repo,
hub_teacher_id, hub_soft_prompt_id, hub_dataset_id, hub_dataset_private, hub_dataset_licence, hub_force_push: push
the finished artifacts at the end, at most once per content, see OUTPUT_DIR/hub_pushes.json). Sections hold each
stage's own recipe keys:
``data`` (data prepare options), ``teacher_args`` (train-teacher), ``export`` (export-teacher), ``distill``, ``sft``,
``sft_ablation`` (overrides for the LoRA-only ablation); override one with e.g. ``sft.max_steps=10``.
A stage whose output directory exists is skipped; delete the directory to redo it. Prints the results table
(also in OUTPUT_DIR/evaluation/results.md and results.json).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__.strip())
        return 0 if argv else 2
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Every process would prepare data and write the same stage directories: refuse instead of racing.
        print("hf-delrec run: the pipeline runs its stages one after another in a single process and cannot run "
              f"under a multi-process launcher (WORLD_SIZE={os.environ['WORLD_SIZE']}); launch the stage commands "
              "instead (e.g. `accelerate launch -m hf_delrec.cli sft RECIPE.yaml`, see README \"Scale out\"), then "
              "`hf-delrec run` in one process reuses the finished stage directories", file=sys.stderr)
        return 2
    from ..pipeline import Pipeline, parse_pipeline_args
    from ..recipe import RecipeError

    try:
        args = parse_pipeline_args(argv)
    except RecipeError as exc:
        print(f"hf-delrec run: {exc}", file=sys.stderr)
        return 2
    recipe_text = None
    if argv and "=" not in argv[0] and Path(argv[0]).is_file():
        overrides = " ".join(argv[1:])
        recipe_text = Path(argv[0]).read_text(encoding="utf-8") + (f"\n# command-line overrides: {overrides}\n"
                                                                   if overrides else "")
    try:
        results = Pipeline(args, recipe_text=recipe_text).run()
    except (RecipeError, RuntimeError, FileNotFoundError, ValueError) as exc:
        print(f"hf-delrec run: {exc}", file=sys.stderr)
        return 1
    print(f"results: {Path(args.output_dir) / 'evaluation' / 'results.md'}")
    if results.get("model_card"):
        print(f"model card: {results['model_card']}")
    return 0
