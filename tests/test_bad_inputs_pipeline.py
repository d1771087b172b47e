"""Bad input on the command and pipeline surface (issue #8): recipes of every verb (nested `run` sections included),
mismatching catalogues, teacher predictions, stage-2 settings, output paths.

Each test feeds one distinct bad input and checks that the error names the key/file, the offending value and what
was expected. Every case fails before any training starts; tiny local models and synthetic data only.
"""

import json

import pytest
import torch
import yaml
from datasets import Dataset, DatasetDict

import hf_delrec  # noqa: F401
from delrec_synthetic import make_prepared, write_prepared
from hf_delrec.cli import main as cli
from hf_delrec.models.sasrec import SASRecConfig, SASRecModel
from hf_delrec.pipeline import Pipeline, PipelineArguments, parse_pipeline_args
from hf_delrec.recipe import RecipeError, parse_recipe
from tiny_models import make_tiny_causal_lm

NUM_ITEMS = 40


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """data/ (40 items, 12 users, 5 candidates), lm/ (tiny Llama), teacher30/ (a SASRec for a 30-item catalogue)."""
    root = tmp_path_factory.mktemp("bad_pipeline")
    write_prepared(root / "data", num_items=NUM_ITEMS)
    stats = json.loads((root / "data" / "stats.json").read_text())
    (root / "data" / "stats.json").write_text(json.dumps(dict(stats, num_candidates=5)))
    make_tiny_causal_lm(root / "lm", tie_word_embeddings=True)
    torch.manual_seed(0)
    SASRecModel(SASRecConfig(num_items=30, hidden_size=16, max_seq_length=8, num_attention_heads=2,
                             intermediate_size=32)).save_pretrained(root / "teacher30")
    return root


def _err(capsys) -> str:
    return capsys.readouterr().err


# ------------------------------------------------------------------------------------------- recipes of each verb


def test_train_teacher_unknown_key(capsys):
    assert cli(["train-teacher", "data_dir=x", "output_dir=y", "learning_rat=0.01"]) == 2
    err = _err(capsys)
    assert "command line: unknown key(s) ['learning_rat']" in err and "learning_rate" in err


def test_train_teacher_wrong_type(capsys):
    assert cli(["train-teacher", "data_dir=x", "output_dir=y", "num_train_epochs=many"]) == 2
    assert "key 'num_train_epochs': expected a number, got 'many'" in _err(capsys)


def test_train_teacher_negative_max_steps(capsys):
    assert cli(["train-teacher", "data_dir=x", "output_dir=y", "max_steps=-5"]) == 2
    assert "max_steps must be > 0 (or -1: train for num_train_epochs), got -5" in _err(capsys)


def test_distill_wrong_type(capsys):
    assert cli(["distill", "data_dir=x", "output_dir=y", "num_soft_tokens=three"]) == 2
    assert "key 'num_soft_tokens': expected an integer, got 'three'" in _err(capsys)


def test_distill_zero_soft_tokens(capsys):
    assert cli(["distill", "data_dir=x", "output_dir=y", "num_soft_tokens=0"]) == 2
    assert "num_soft_tokens must be >= 1, got 0" in _err(capsys)


def test_distill_unknown_dtype(capsys):
    assert cli(["distill", "data_dir=x", "output_dir=y", "backbone_dtype=float33"]) == 2
    err = _err(capsys)
    assert "backbone_dtype: unknown dtype 'float33'" in err and "float32, bfloat16, float16" in err


def test_sft_wrong_type_in_yaml_names_the_file(tmp_path, capsys):
    recipe = tmp_path / "stage2.yaml"
    recipe.write_text("data_dir: x\noutput_dir: y\nlora_r: eight\n")
    assert cli(["sft", str(recipe)]) == 2
    assert f"{recipe}: key 'lora_r': expected an integer, got 'eight'" in _err(capsys)


def test_sft_unknown_key(capsys):
    assert cli(["sft", "data_dir=x", "output_dir=y", "lora_rank=8"]) == 2
    assert "unknown key(s) ['lora_rank']" in _err(capsys)


def test_sft_negative_learning_rate():
    from hf_delrec.trainers.sft_config import DELRecSFTConfig, DELRecSFTScriptArguments

    with pytest.raises(RecipeError, match=r"DELRecSFTConfig: learning_rate must be >= 0, got -0.1"):
        parse_recipe((DELRecSFTScriptArguments, DELRecSFTConfig), ["output_dir=y", "use_cpu=true", "bf16=false", "learning_rate=-0.1"])


def test_sft_integer_dtype():
    from hf_delrec.trainers.sft_config import DELRecSFTConfig, DELRecSFTScriptArguments

    with pytest.raises(RecipeError, match=r"backbone_dtype: unknown dtype 'int8'"):
        parse_recipe((DELRecSFTScriptArguments, DELRecSFTConfig), ["output_dir=y", "backbone_dtype=int8"])


def test_train_llmsrec_wrong_type(capsys):
    assert cli(["train-llmsrec", "data_dir=x", "teacher=y", "output_dir=z", "projection_dim=big"]) == 2
    assert "key 'projection_dim': expected an integer, got 'big'" in _err(capsys)


# ------------------------------------------------------------------------------------------- `run` recipe sections


@pytest.fixture
def run_recipe(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"data_source": "raw", "sft": {"max_steps": 2}}))
    return path


def test_run_unknown_key_in_distill_section(run_recipe):
    with pytest.raises(RecipeError, match=r"command line: unknown key 'distill.foo'"):
        parse_pipeline_args([str(run_recipe), "distill.foo=1"])


def test_run_wrong_type_in_sft_section_of_the_file(tmp_path):
    recipe = tmp_path / "pipe.yaml"
    recipe.write_text(yaml.safe_dump({"data_source": "raw", "sft": {"lora_r": "eight"}}))
    with pytest.raises(RecipeError, match=rf"{recipe}: key 'sft.lora_r': expected an integer, got 'eight'"):
        parse_pipeline_args([str(recipe)])


def test_run_teacher_section_typo_suggests(run_recipe):
    with pytest.raises(RecipeError, match=r"unknown key 'teacher_args.hidden_sise'; did you mean \['hidden_size'\]"):
        parse_pipeline_args([str(run_recipe), "teacher.hidden_sise=8"])


def test_run_unknown_data_option(run_recipe):
    with pytest.raises(RecipeError, match=r"unknown key 'data.user_cores'.*\['user_core'"):
        parse_pipeline_args([str(run_recipe), "data.user_cores=5"])


def test_run_unknown_export_flag(run_recipe):
    with pytest.raises(RecipeError, match=r"unknown key 'export.top_k'"):
        parse_pipeline_args([str(run_recipe), "export.top_k=5"])


def test_run_section_that_is_not_a_mapping(tmp_path):
    recipe = tmp_path / "pipe.yaml"
    recipe.write_text("data_source: raw\nsft: 5\n")
    with pytest.raises(RecipeError, match=rf"{recipe}: key 'sft': expected a mapping, got 5"):
        parse_pipeline_args([str(recipe)])


def test_run_single_candidate(run_recipe):
    with pytest.raises(RecipeError, match=r"num_candidates must be >= 2 .*got 1"):
        parse_pipeline_args([str(run_recipe), "num_candidates=1"])


def test_run_unknown_teacher(run_recipe):
    with pytest.raises(RecipeError, match=r"teacher: 'transformer' is not one of \['bert4rec', 'caser'"):
        parse_pipeline_args([str(run_recipe), "teacher=transformer"])


def test_run_command_reports_section_error(run_recipe, capsys):
    from hf_delrec.commands import run

    assert run.main([str(run_recipe), "sft.lora_r=eight"]) == 2
    assert "command line: key 'sft.lora_r': expected an integer, got 'eight'" in _err(capsys)


def test_run_data_with_fewer_candidates_than_num_candidates(root, tmp_path):
    args = PipelineArguments(data_dir=str(root / "data"), output_dir=str(tmp_path / "run"), rows=["popularity"],
                             num_candidates=20)
    with pytest.raises(RecipeError, match=r"num_candidates=20 but .*data was prepared with 5 candidates"):
        Pipeline(args).run()


def test_run_reused_teacher_of_another_catalogue(root, tmp_path):
    import shutil

    shutil.copytree(root / "teacher30", tmp_path / "run" / "teacher")
    args = PipelineArguments(data_dir=str(root / "data"), output_dir=str(tmp_path / "run"), rows=["teacher"],
                             num_candidates=5)
    with pytest.raises(ValueError, match=r"catalogue of 30 items but the dataset has 40"):
        Pipeline(args).run()


def test_run_reused_delrec_of_another_catalogue(root, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_delrec.models.delrec import DELRec, DELRecConfig

    llm, tok = AutoModelForCausalLM.from_pretrained(str(root / "lm")), AutoTokenizer.from_pretrained(str(root / "lm"))
    titles = make_prepared(num_items=30).titles
    config = DELRecConfig(base_model_name_or_path=str(root / "lm"), num_candidates=5, num_items=30)
    DELRec.from_parts(config, llm, tok, item_titles=titles).save_pretrained(tmp_path / "run" / "lora_only")
    args = PipelineArguments(data_dir=str(root / "data"), output_dir=str(tmp_path / "run"), rows=["lora_only"],
                             num_candidates=5)
    with pytest.raises(ValueError, match=r"lora_only was trained on another catalogue \(30 items.*\(40 items"):
        Pipeline(args).run()


# ------------------------------------------------------------------------------------------- teacher / data mismatch


def test_export_teacher_on_another_catalogue(root, capsys):
    assert cli(["export-teacher", str(root / "teacher30"), "--data", str(root / "data")]) == 2
    assert "catalogue of 30 items but the dataset has 40" in _err(capsys)


def test_evaluate_a_model_that_is_not_a_teacher(root, capsys):
    assert cli(["evaluate", str(root / "lm"), "--data", str(root / "data")]) == 2
    assert "model_type 'llama' is not a teacher recommender" in _err(capsys)


def test_train_llmsrec_with_a_model_that_is_not_a_teacher(root, tmp_path, capsys):
    argv = ["train-llmsrec", f"data_dir={root / 'data'}", f"teacher={root / 'lm'}", f"output_dir={tmp_path / 'o'}",
            f"base_model={root / 'lm'}", "num_threads=1", "use_cpu=true", "report_to=[]"]
    assert cli(argv) == 2
    assert "holds a LlamaModel (model_type 'llama'), not a sequential-recommender teacher" in _err(capsys)


def test_recommend_command_k_beyond_catalogue(root, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_delrec.models.delrec import DELRec, DELRecConfig

    llm, tok = AutoModelForCausalLM.from_pretrained(str(root / "lm")), AutoTokenizer.from_pretrained(str(root / "lm"))
    DELRec.from_parts(DELRecConfig(base_model_name_or_path=str(root / "lm"), num_candidates=5), llm, tok,
                      item_titles=make_prepared(num_items=30).titles).save_pretrained(tmp_path / "m")
    assert cli(["recommend", str(tmp_path / "m"), "--history", "3", "--k", "999"]) == 2
    assert "k must be an integer in 1..30 (the catalogue size), got 999" in _err(capsys)


# ------------------------------------------------------------------------------------------- distill inputs


def _distill(root, out, *extra):
    return ["distill", f"data_dir={root / 'data'}", f"backbone={root / 'lm'}", f"output_dir={out}",
            "num_soft_tokens=2", "num_candidates=5", "num_teacher_items=3", "num_eval_users=2", "max_steps=1",
            "use_cpu=true", "report_to=[]", *extra]


def _predictions(path, users, info=None):
    rows = [{"user_id": u, "teacher_topk": [1, 2, 3], "teacher_scores": [3.0, 2.0, 1.0]} for u in users]
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(path))
    if info is not None:
        (path / "teacher_info.json").write_text(json.dumps(info))
    return path


def test_distill_missing_teacher_predictions_dir(root, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert cli(_distill(root, tmp_path / "o", f"teacher_predictions={missing}")) == 2
    err = _err(capsys)
    assert f"teacher_predictions={missing}: no such directory" in err and "hf-delrec export-teacher" in err


def test_distill_predictions_from_another_catalogue(root, tmp_path, capsys):
    preds = _predictions(tmp_path / "p", range(1, 13), {"num_items": NUM_ITEMS, "catalogue_fingerprint": "f" * 64})
    assert cli(_distill(root, tmp_path / "o", f"teacher_predictions={preds}")) == 2
    err = _err(capsys)
    assert "teacher_info.json: catalogue_fingerprint ffffffffffffffff... differs from the dataset's" in err


def test_distill_predictions_for_other_users(root, tmp_path, capsys):
    preds = _predictions(tmp_path / "p", range(1, 9))
    assert cli(_distill(root, tmp_path / "o", f"teacher_predictions={preds}")) == 2
    err = _err(capsys)
    assert "cover 8 users but" in err and "has 12 train users (missing [9, 10, 11, 12]" in err


def test_distill_teacher_model_that_is_not_a_teacher(root, tmp_path, capsys):
    argv = _distill(root, tmp_path / "o", "teacher_name=none", f"teacher_name_or_path={root / 'lm'}")
    assert cli(argv) == 2
    assert "holds a LlamaModel (model_type 'llama'), not a teacher recommender" in _err(capsys)


# ------------------------------------------------------------------------------------------- stage 2 inputs


def _stage2(root, tmp_path, **config):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_delrec.trainers.sft_config import DELRecSFTConfig, DELRecSFTScriptArguments
    from hf_delrec.trainers.sft_trainer import train_stage2

    llm, tok = AutoModelForCausalLM.from_pretrained(str(root / "lm")), AutoTokenizer.from_pretrained(str(root / "lm"))
    script = DELRecSFTScriptArguments(data_dir="synthetic", model_name_or_path=str(root / "lm"))
    args = DELRecSFTConfig(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], max_steps=1, **config)
    train_stage2(script, args, prepared=make_prepared(num_items=NUM_ITEMS), llm=llm, tokenizer=tok)


def test_sft_more_candidates_than_negatives(root, tmp_path):
    with pytest.raises(ValueError, match=r"num_candidates=40 needs 39 negatives per user but .* at most 30"):
        _stage2(root, tmp_path, num_candidates=40)
    assert not (tmp_path / "out").exists()


def test_sft_lora_targets_the_llm_does_not_have(root, tmp_path):
    # T5 names ("q", "v") on a Llama: PEFT would fail deep inside the trainer set-up.
    with pytest.raises(ValueError, match=r"lora_target_modules: \['q', 'v'\] not found in the LLM .*'q_proj'"):
        _stage2(root, tmp_path, num_candidates=5, lora_target_modules=["q", "v"])


# ------------------------------------------------------------------------------------------- output paths


def test_output_dir_that_is_an_existing_file(tmp_path):
    from hf_delrec.utils.io import OutputExistsError, atomic_directory

    target = tmp_path / "results.txt"
    target.write_text("keep me")
    with pytest.raises(OutputExistsError, match=r"results.txt is an existing file, not a directory"):
        with atomic_directory(target, overwrite=True):
            pass
    assert target.read_text() == "keep me"  # overwrite=True used to replace the file by a directory


def test_output_dir_below_a_file(tmp_path):
    from hf_delrec.utils.io import OutputExistsError, atomic_directory

    (tmp_path / "notes").write_text("x")
    with pytest.raises(OutputExistsError, match=r"cannot create output directory .*notes is a file"):
        with atomic_directory(tmp_path / "notes" / "model"):
            pass


def test_run_refuses_a_multi_process_launcher(tmp_path, monkeypatch, capsys):
    # Under torchrun/accelerate every process would run every stage into the same directories.
    monkeypatch.setenv("WORLD_SIZE", "2")
    recipe = tmp_path / "run.yaml"
    recipe.write_text(f"output_dir: {tmp_path / 'out'}\ndata_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    assert cli(["run", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "WORLD_SIZE=2" in err and "launch the stage commands" in err
    assert not (tmp_path / "out").exists()
