"""The whole DELRec pipeline on tiny local models and synthetic data: stages, resumption, results, commands."""

import json

import pytest
import yaml

import hf_delrec  # noqa: F401
from delrec_synthetic import write_interactions_csv
from hf_delrec.pipeline import ALL_ROWS, Pipeline, PipelineArguments, parse_pipeline_args, results_markdown
from hf_delrec.recipe import RecipeError
from tiny_models import make_tiny_causal_lm

CPU = {"use_cpu": True, "bf16": False, "report_to": [], "disable_tqdm": True}


def test_parse_pipeline_args_sections(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"data_source": "x", "sft": {"max_steps": 5, "lora_r": 4}}))
    args = parse_pipeline_args([str(recipe), "sft.max_steps=7", "teacher.num_train_epochs=3", "eval_num_users=10"])
    assert args.sft == {"max_steps": 7, "lora_r": 4} and args.teacher_args == {"num_train_epochs": 3}
    assert args.eval_num_users == 10 and args.rows == list(ALL_ROWS)
    with pytest.raises(RecipeError, match="not a section"):
        parse_pipeline_args([str(recipe), "seed.x=1"])
    with pytest.raises(RecipeError, match="unknown row"):
        parse_pipeline_args([str(recipe), "rows=delrec,best_model"])
    with pytest.raises(RecipeError, match="data_source"):
        PipelineArguments()


def test_stage_selection_and_incomplete_dirs(tmp_path):
    from delrec_synthetic import write_prepared

    args = PipelineArguments(data_dir=str(tmp_path / "d"), output_dir=str(tmp_path / "run"),
                             rows=["popularity", "zero_shot"])
    assert [s.name for s in Pipeline(args).stages()] == ["evaluation"]  # a prepared data_dir is used as is
    with pytest.raises(FileNotFoundError, match="not a prepared dataset"):
        Pipeline(args).run()
    args = PipelineArguments(data_source="x", output_dir=str(tmp_path / "run"), rows=["lora_only"])
    assert [s.name for s in Pipeline(args).stages()] == ["data", "sft_ablation", "evaluation"]
    args = PipelineArguments(data_source="x", output_dir=str(tmp_path / "run"))
    assert [s.name for s in Pipeline(args).stages()] == [
        "data", "teacher", "export", "distill", "sft", "sft_ablation", "evaluation"]

    write_prepared(tmp_path / "d")
    (tmp_path / "run" / "lora_only").mkdir(parents=True)  # exists but has no config.json: never built upon
    args = PipelineArguments(data_dir=str(tmp_path / "d"), output_dir=str(tmp_path / "run"), rows=["lora_only"])
    with pytest.raises(RuntimeError, match="incomplete"):
        Pipeline(args).run()


def test_popularity_only_run_and_partial_rows(tmp_path, capsys):
    from delrec_synthetic import write_prepared

    write_prepared(tmp_path / "d", num_users=10)
    args = PipelineArguments(data_dir=str(tmp_path / "d"), output_dir=str(tmp_path / "run"), rows=["popularity"],
                             eval_num_users=None, num_candidates=5)
    results = Pipeline(args).run()
    assert results["num_users"] == 10 and results["rows"][0]["name"] == "popularity"
    assert (tmp_path / "run" / "evaluation" / "popularity.json").is_file()
    assert not (tmp_path / "run" / "evaluation.partial").exists()
    Pipeline(args).run()
    assert "evaluation: already done" in capsys.readouterr().out


def test_results_markdown_table():
    results = {"dataset": "ml-100k", "split": "test", "num_users": 3, "num_candidates": 20, "llm": "m",
               "rows": [{"label": "DELRec", "metrics": {"HR@1": 0.5, "HR@5": 1.0, "NDCG@5": 0.75}}],
               "training": {"stage 2": {"steps": 4, "cpu_seconds": 1.0}}, "notes": ["n"]}
    md = results_markdown(results)
    assert "| DELRec | 0.5000 | 1.0000 | 0.7500 |" in md and "| *random ranking (expected)* | 0.0500 | 0.2500 |" in md
    assert "| stage 2 | 4 |" in md


@pytest.mark.slow
def test_pipeline_end_to_end_tiny(tmp_path, capsys):
    from transformers import AutoModel

    make_tiny_causal_lm(tmp_path / "lm", tie_word_embeddings=True)
    inter, items = write_interactions_csv(tmp_path / "raw", num_users=16)
    recipe = {
        "output_dir": str(tmp_path / "run"), "dataset": "interactions", "data_source": str(inter),
        "model_name_or_path": str(tmp_path / "lm"), "num_candidates": 5, "eval_num_users": 6, "seed": 0,
        "data": {"items_path": str(items), "num_negatives": 20},
        "teacher_args": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 1, "max_seq_length": 8,
                         "num_train_epochs": 2, "per_device_train_batch_size": 16, "early_stopping_patience": None,
                         **CPU},
        "distill": {"num_soft_tokens": 4, "num_teacher_items": 3, "num_eval_users": 4, "max_steps": 2,
                    "per_device_train_batch_size": 2, "max_history_items": 4, "logging_steps": 1, **CPU},
        "sft": {"max_steps": 2, "per_device_train_batch_size": 4, "examples_per_user": 1, "hr_eval_steps": 1,
                "hr_eval_num_users": 4, "max_history_items": 4, "save_strategy": "no",
                "activation_checkpointing": False, **CPU},
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(recipe))
    from hf_delrec.commands import run

    assert run.main([str(path)]) == 0
    out = capsys.readouterr().out
    run_dir = tmp_path / "run"
    results = json.loads((run_dir / "evaluation" / "results.json").read_text())
    assert [r["name"] for r in results["rows"]] == list(ALL_ROWS)
    assert results["num_users"] == 6 and results["num_candidates"] == 5
    for r in results["rows"]:
        assert 0 <= r["metrics"]["HR@1"] <= r["metrics"]["HR@5"] <= 1
    assert "| DELRec (stage 1 + stage 2) |" in out and (run_dir / "evaluation" / "results.md").is_file()
    assert (run_dir / "evaluation" / "validation_hr1.png").is_file()
    for name in ("teacher", "distill", "sft", "sft_ablation"):
        assert (run_dir / "recipes" / f"{name}.yaml").is_file()
    model = AutoModel.from_pretrained(str(run_dir / "delrec"))
    assert model.has_lora and model.soft_prompt is not None and len(model.recommend([1, 2], k=3)) == 3

    # Resumption: every finished stage is skipped; nothing is recomputed.
    mtime = (run_dir / "delrec" / "config.json").stat().st_mtime
    assert run.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("already done") == 7 and "running" not in out
    assert (run_dir / "delrec" / "config.json").stat().st_mtime == mtime


def test_demo_without_data_says_where_to_get_it(tmp_path, capsys):
    from hf_delrec.commands import demo

    assert demo.main(["--data", str(tmp_path), "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "https://files.grouplens.org/datasets/movielens/ml-100k.zip" in err
    assert str(tmp_path / "ml-100k" / "u.data") in err
