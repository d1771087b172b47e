"""Model/dataset cards and artifact detection for the Hub (in-process, no network: nothing here uploads)."""

from __future__ import annotations

import json

import pytest
from hub_artifacts import write_prepared_dataset

import hf_delrec  # noqa: F401  (Auto registration)
from hf_delrec import hub
from hf_delrec.commands import push as push_cmd


def _sasrec_dir(path, with_results=True):
    from hf_delrec.models.sasrec import SASRecConfig, SASRecModel

    SASRecModel(SASRecConfig(num_items=20, hidden_size=16, max_seq_length=8, num_attention_heads=2,
                             intermediate_size=32)).save_pretrained(path)
    if with_results:
        (path / "eval_results.json").write_text(json.dumps(
            {"eval_HR@10": 0.4321, "eval_NDCG@10": 0.2345, "eval_MRR": 0.1111,
             "test": {"HR@10": 0.3999, "NDCG@10": 0.2001}, "epoch": 3.0}))
        (path / "training_args.json").write_text(json.dumps(
            {"learning_rate": 0.001, "num_train_epochs": 3, "hub_token": "secret-token", "output_dir": "/home/x/run"}))
    return path


def _soft_prompt_dir(path):
    from hf_delrec.models.soft_prompt import SoftPrompt, SoftPromptConfig

    SoftPrompt(SoftPromptConfig(num_soft_tokens=4, hidden_size=32, base_model_name_or_path="tester/tiny-llama",
                                teacher_name_or_path="tester/sasrec")).save_pretrained(path)
    return path


def _delrec_dir(path):
    from hf_delrec.models.delrec import DELRecConfig

    DELRecConfig(base_model_name_or_path="tester/tiny-llama", teacher_name_or_path="tester/sasrec",
                 dataset="tester/toy-seqrec", num_items=20).save_pretrained(path)
    (path / "lora").mkdir()
    (path / "lora" / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}))
    (path / "sft_results.json").write_text(json.dumps(
        {"stage": "delrec_stage2_sft", "learning_rate": 0.0002, "global_steps": 40, "test": {"HR@1": 0.25}}))
    return path


def _llmsrec_dir(path):
    from hf_delrec.models.llmsrec import LLMSRecConfig

    LLMSRecConfig(base_model_name_or_path="tester/tiny-llama", teacher_name_or_path="tester/sasrec",
                  num_items=20).save_pretrained(path)
    return path


BUILDERS = {"teacher": _sasrec_dir, "soft_prompt": _soft_prompt_dir, "delrec": _delrec_dir, "llmsrec": _llmsrec_dir}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_model_cards_render_complete_from_the_artifact_files(tmp_path, kind):
    path = BUILDERS[kind](tmp_path / kind)
    assert hub.detect_artifact(path).kind == kind
    text = hub.render_model_card(path, f"tester/{kind}")
    assert hub.validate_model_card(text, kind) == []
    from huggingface_hub import ModelCard

    data = ModelCard(text).data.to_dict()
    assert data["library_name"] == "hf_delrec"
    assert {"recommendation", "sequential-recommendation"} <= set(data["tags"])
    if kind != "teacher":
        assert data["base_model"] == "tester/tiny-llama"
        assert "tester/sasrec" in text  # the teacher is named
    citation = {"teacher": "Self-Attentive", "soft_prompt": "2406.11156", "delrec": "2406.11156",
                "llmsrec": "2502.13909"}[kind]
    assert citation in text


def test_teacher_card_reports_the_runs_own_metrics_and_settings_without_secrets(tmp_path):
    text = hub.render_model_card(_sasrec_dir(tmp_path / "t"), "tester/sasrec")
    results = text.split("## Results")[1].split("## ")[0]
    assert "0.4321" in results and "0.2345" in results and "0.3999" in results and "0.1111" in results
    assert "validation" in results and "test" in results
    assert "learning_rate" in text and "0.001" in text
    assert "secret-token" not in text and "/home/x/run" not in text  # tokens and local paths never published


def test_delrec_card_lists_lora_settings_and_results_from_sft_results(tmp_path):
    text = hub.render_model_card(_delrec_dir(tmp_path / "d"), "tester/delrec")
    assert "lora.r" in text and "q_proj, v_proj" in text and "0.0002" in text
    assert "0.2500" in text.split("## Results")[1]
    assert "subfolder=\"lora\"" in text


def test_card_without_results_says_not_evaluated_and_still_has_a_table(tmp_path):
    path = _sasrec_dir(tmp_path / "t", with_results=False)
    text = hub.render_model_card(path, "tester/sasrec")
    assert "not evaluated" in text
    assert hub.validate_model_card(text, "teacher") == []


@pytest.mark.parametrize(
    "mutation, expected",
    [
        (lambda t: t.replace("library_name: hf_delrec", "library_name: transformers"), "library_name"),
        (lambda t: t.replace("- sequential-recommendation\n", ""), "sequential-recommendation"),
        (lambda t: t.replace("## Limitations", "## Notes"), "Limitations"),
        (lambda t: t.replace("## Intended use", "## Usage"), "Intended use"),
        (lambda t: t.replace("2406.11156", "0000.00000"), "2406.11156"),
        (lambda t: t.replace("base_model: tester/tiny-llama\n", ""), "base_model"),
        (lambda t: t.split("## Results")[0] + "## Results\n\nGood.\n\n## Training settings" + t.split("## Training settings")[1],
         "metrics table"),
    ],
)
def test_validation_names_each_missing_field(tmp_path, mutation, expected):
    text = hub.render_model_card(_delrec_dir(tmp_path / "d"), "tester/delrec")
    assert hub.validate_model_card(text, "delrec") == []
    problems = hub.validate_model_card(mutation(text), "delrec")
    assert problems and any(expected in p for p in problems), problems


def test_push_refuses_a_hand_written_card_missing_fields_before_any_upload(tmp_path):
    path = _sasrec_dir(tmp_path / "t")
    (path / "README.md").write_text("---\nlibrary_name: hf_delrec\nlicense: mit\n---\n# My SASRec\n\nIt works.\n")
    # HF_HUB_OFFLINE=1 in the test process: reaching the network would raise OfflineModeIsEnabled instead.
    with pytest.raises(hub.CardValidationError) as err:
        hub.push_to_hub(path, "tester/sasrec")
    text = str(err.value)
    for missing in ("recommendation", "Training data", "Results", "Limitations", "Citation"):
        assert missing in text
    assert "It works." in (path / "README.md").read_text()  # a hand-written card is never overwritten


def test_cli_push_reports_card_problems_and_exit_code(tmp_path, capsys):
    path = _soft_prompt_dir(tmp_path / "sp")
    (path / "README.md").write_text("# nothing\n")
    assert push_cmd.main([str(path), "--repo-id", "tester/sp"]) == 1
    assert "missing required fields" in capsys.readouterr().err
    (path / "README.md").unlink()
    assert push_cmd.main([str(path), "--repo-id", "tester/sp", "--card-only"]) == 0
    assert hub.validate_model_card((path / "README.md").read_text(), "soft_prompt") == []
    with pytest.raises(SystemExit):
        push_cmd.main([str(path)])  # --repo-id is required


def test_generated_card_is_refreshed_on_each_push(tmp_path):
    path = _sasrec_dir(tmp_path / "t")
    hub.write_model_card(path, "tester/sasrec")
    (path / "eval_results.json").write_text(json.dumps({"eval_HR@10": 0.9876}))
    hub.write_model_card(path, "tester/sasrec")
    assert "0.9876" in (path / "README.md").read_text()


def test_detect_artifact_refuses_root_adapter_and_foreign_models(tmp_path):
    path = _delrec_dir(tmp_path / "d")
    (path / "adapter_config.json").write_text("{}")
    with pytest.raises(hub.HubError, match="lora/ sub-folder"):
        hub.detect_artifact(path)
    other = tmp_path / "llama"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(hub.HubError, match="'llama' is not an hf_delrec model"):
        hub.detect_artifact(other)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "delrec_sasrec",\n oops}')
    with pytest.raises(hub.HubError, match=r"config.json: invalid JSON at line 2"):
        hub.detect_artifact(broken)
    with pytest.raises(hub.HubError, match="not an hf_delrec artifact"):
        hub.detect_artifact(tmp_path)


def test_dataset_card_is_complete_and_refuses_an_unknown_source_licence(tmp_path):
    path = write_prepared_dataset(tmp_path / "ds")
    assert hub.detect_artifact(path).kind == "prepared_dataset"
    body = hub.render_dataset_body(path, "tester/toy")
    for needle in ("## Source", "## Statistics", "## Filtering report", "## Split protocol", "## Licence",
                   "does not redistribute the raw", "MovieLens", "`duplicate_interactions` | 3",
                   "teacher_predictions_sasrec", 'load_dataset("tester/toy", "examples")'):
        assert needle in body, needle
    yaml_ok = ("---\nlicense: other\nlicense_name: x\ntags: [recommendation]\nconfigs:\n- config_name: examples\n"
               "- config_name: items\n---\n")
    assert hub.validate_dataset_card(yaml_ok + body, ["examples", "items"]) == []
    # the configs YAML that push_to_hub writes must survive the card edit
    problems = hub.validate_dataset_card(yaml_ok.replace("- config_name: items\n", "") + body, ["examples", "items"])
    assert any("'items'" in p for p in problems)
    no_licence = body.replace("does not redistribute the raw", "ships the raw")
    assert any("not redistributed" in p for p in hub.validate_dataset_card(yaml_ok + no_licence))
    # an unknown source: the card could not name the licence, so the push refuses before uploading
    stats = json.loads((path / "stats.json").read_text())
    stats["source"] = stats["dataset"] = "my-shop-logs"
    (path / "stats.json").write_text(json.dumps(stats))
    with pytest.raises(hub.CardValidationError, match="licence of the source data is unknown"):
        hub.push_to_hub(path, "tester/toy")


def test_public_stats_drop_local_paths_and_timings():
    stats = {"source_path": "/home/me/data/u.data", "timings_s": {"load": 1.0},
             "source_files": [{"path": "/home/me/data/u.data", "sha256": "ab"}], "num_users": 3}
    assert hub.public_stats(stats) == {"source_path": "u.data", "source_files": [{"path": "u.data", "sha256": "ab"}],
                                       "num_users": 3}


def test_collect_metrics_reads_flat_and_nested_results(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(
        {"delrec": {"test": {"HR@1": 0.5, "NDCG@5": 0.25}}, "eval_loss": 1.2, "test_MRR": 0.3}))
    rows = hub.collect_metrics(tmp_path)
    by_key = {(r["setting"], r["split"]): r["metrics"] for r in rows}
    assert by_key[("delrec", "test")] == {"HR@1": 0.5, "NDCG@5": 0.25}
    assert by_key[("", "test")] == {"MRR": 0.3}  # eval_loss is not a ranking metric


def test_push_after_training_follows_the_recipe_flags(tmp_path):
    path = _sasrec_dir(tmp_path / "t")
    assert hub.push_after_training(path, {"push_to_hub": False}) is None
    with pytest.raises(hub.HubError, match="hub_model_id is not set"):
        hub.push_after_training(path, {"push_to_hub": True})


def test_public_push_of_data_whose_licence_forbids_redistribution_is_refused(tmp_path):
    path = write_prepared_dataset(tmp_path / "ds", with_predictions=False)  # stats say: source movielens
    with pytest.raises(hub.HubError, match=r"forbids redistribution.*--private"):
        hub.push_to_hub(path, "tester/ml")
    body = hub.render_dataset_body(path, "tester/ml")
    assert "harper2015movielens" in body.split("## Citation")[1]  # the source data set is cited


def test_card_fields_given_once_survive_the_refresh_at_push_time(tmp_path):
    path = _sasrec_dir(tmp_path / "t")
    hub.write_model_card(path, protocol="943 test users of ml-100k, 20 candidates each")  # e.g. the pipeline
    hub.write_model_card(path, "tester/sasrec", dataset="tester/ml")  # what push does later
    text = (path / "README.md").read_text()
    assert "943 test users of ml-100k" in text and "tester/ml" in text and 'from_pretrained("tester/sasrec")' in text
    assert json.loads((path / "card_fields.json").read_text()) == {
        "protocol": "943 test users of ml-100k, 20 candidates each", "dataset": "tester/ml"}


def test_delrec_ablation_without_soft_prompt_is_described_as_such(tmp_path):
    path = _delrec_dir(tmp_path / "d")  # config without a soft prompt, LoRA in lora/
    text = hub.render_model_card(path, "tester/lora-only")
    assert "no soft prompt" in text and "LoRA adapter" in text
    assert hub.validate_model_card(text, "delrec") == []
