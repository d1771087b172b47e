"""Recipes with ``push_to_hub: true``: the final artifact (never a checkpoint) is pushed with its card at the end of
the run, over real HTTP to the loopback test Hub; bad push settings fail before any training starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hub_push_client import BASE, REPOS, build_inputs
from hub_server import last_json, run_client, shared_server

import hf_delrec  # noqa: F401
from hf_delrec import hub

pytestmark = pytest.mark.hub
CLIENT = str(Path(__file__).resolve().parent / "hub_push_client.py")
TOL = 1e-5


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    server = shared_server()
    start_unknown = len(server.unknown_requests)
    workdir = tmp_path_factory.mktemp("hub-push")
    build_inputs(workdir)
    start = len(server.requests)
    result = last_json(run_client(f"import runpy, sys; sys.argv = ['client', {str(workdir)!r}]; "
                                  f"runpy.run_path({CLIENT!r}, run_name='__main__')",
                                  server.client_env(workdir / "hf-home"), timeout=300))
    yield {"result": result, "server": server, "requests": server.requests[start:], "workdir": workdir}
    assert not server.unknown_requests[start_unknown:], server.unknown_requests[start_unknown:]


def _repo(server, repo_id, repo_type="model"):
    repo = server.state.get(repo_type, repo_id)
    return repo, repo.files_at(repo.refs["main"])


def _our_commits(repo) -> list[str]:
    return [c["title"] for c in repo.commits[1:]]  # [0] is the server's "initial commit" (.gitattributes)


def test_train_teacher_pushes_the_final_teacher_with_its_card(pushed):
    result, server = pushed["result"], pushed["server"]
    assert result["teacher_run"].get("rc") == 0, result["teacher_run"]
    assert result["teacher_run"]["summary"]["pushed_to"].endswith(REPOS["teacher"])
    repo, files = _repo(server, REPOS["teacher"])
    assert {"config.json", "model.safetensors", "eval_results.json", "README.md"} <= set(files)
    assert _our_commits(repo) == ["Upload teacher (delrec_gru4rec)"]  # one commit: no Trainer checkpoint pushes
    got = result["teacher"]
    assert "error" not in got, got["error"]
    assert got["class"] == "GRU4RecModel" and got["card_problems"] == []
    assert got["diff"] <= TOL, f"teacher scores differ by {got['diff']}"


def test_sft_pushes_the_delrec_model_and_no_checkpoint(pushed):
    result, server = pushed["result"], pushed["server"]
    assert result["sft_run"].get("rc") == 0, result["sft_run"]
    # The recipe saves a checkpoint every step: had the Trainer kept push_to_hub, each save would be a commit.
    repo, files = _repo(server, REPOS["sft"])
    assert {"config.json", "model.safetensors", "lora/adapter_config.json", "README.md"} <= set(files)
    assert not any("checkpoint-" in f or f.startswith("trainer/") for f in files), sorted(files)
    assert _our_commits(repo) == ["Upload delrec (delrec)"]
    got = result["sft"]
    assert "error" not in got, got["error"]
    assert got["class"] == "DELRec" and got["has_lora"] and got["has_soft_prompt"] and got["card_problems"] == []
    assert got["diff"] <= TOL, f"DELRec scores differ by {got['diff']}"


def test_no_request_or_commit_ever_held_a_checkpoint(pushed):
    assert not [p for _, p in pushed["requests"] if "checkpoint-" in p]
    for (repo_type, repo_id), repo in pushed["server"].state.repos.items():
        for commit in repo.commits:  # every commit, not only the last: nothing intermediate was ever uploaded
            files = repo.files_at(commit["oid"])
            assert not [f for f in files if "checkpoint-" in f or f.startswith(("trainer/", "runs/"))], repo_id
    # the base LLM, two command pushes, the pipeline's dataset/teacher/DELRec (+ one new id): nothing else
    assert set(pushed["server"].state.repos) == {("model", BASE), ("dataset", REPOS["pipeline_data"])} | {
        ("model", REPOS[k]) for k in ("teacher", "sft", "pipeline", "pipeline_v2", "pipeline_teacher")}


def test_pipeline_pushes_once_and_not_again_on_resume(pushed):
    result, server = pushed["result"], pushed["server"]
    first, resumed, renamed = result["pipeline_runs"]
    assert [r.get("rc") for r in result["pipeline_runs"]] == [0, 0, 0], result["pipeline_runs"]
    assert [line.split("] push ")[1].split(":")[0] for line in first["push_lines"] if "->" in line] == [
        "dataset", "teacher", "delrec"]
    assert resumed["push_lines"] and all("skipped" in line for line in resumed["push_lines"])
    pushed_on_rename = [line for line in renamed["push_lines"] if "->" in line]
    assert len(pushed_on_rename) == 1 and REPOS["pipeline_v2"] in pushed_on_rename[0]
    for key in ("pipeline", "pipeline_v2", "pipeline_teacher"):
        repo, files = _repo(server, REPOS[key])
        assert len(_our_commits(repo)) == 1, (key, _our_commits(repo))  # a resumed run re-pushed nothing
        assert {"config.json", "README.md"} <= set(files)
    data_repo, data_files = _repo(server, REPOS["pipeline_data"], "dataset")
    assert data_repo.private and "stats.json" in data_files  # hub_dataset_private: true
    record = result["pipeline_record"]
    assert {k: v["repo_id"] for k, v in record.items()} == {
        "dataset": REPOS["pipeline_data"], "teacher": REPOS["pipeline_teacher"], "delrec": REPOS["pipeline_v2"]}
    got = result["pipeline"]
    assert "error" not in got, got["error"]
    assert got["diff"] <= TOL and got["card_problems"] == [] and got["teacher_card_problems"] == []
    assert got["dataset_card_problems"] == [] and got["card_links"] == [REPOS["pipeline_data"]]


# ------------------------------------------------------------------------------------------ before training (offline)
def _fail_if_called(*args, **kwargs):
    raise AssertionError("training started although the push settings are invalid")


COMMANDS = {
    "train-teacher": ("hf_delrec.trainers.teacher_recipe", "run_teacher_training",
                      ["teacher=sasrec", "data_dir=data"]),
    "distill": ("hf_delrec.commands.distill", "run", ["data_dir=data", "backbone=org/some-llm"]),
    "sft": ("hf_delrec.trainers.sft_trainer", "train_stage2", ["data_dir=data", "model_name_or_path=org/some-llm"]),
    "train-llmsrec": ("hf_delrec.trainers.llmsrec_trainer", "train_llmsrec",
                      ["data_dir=data", "teacher=teacher", "base_model=org/some-llm"]),
}


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_push_without_hub_model_id_fails_before_training(verb, tmp_path, monkeypatch, capsys):
    import importlib

    from hf_delrec import cli

    module, name, argv = COMMANDS[verb]
    monkeypatch.setattr(importlib.import_module(module), name, _fail_if_called)
    rc = cli.main([verb, *argv, f"output_dir={tmp_path / 'out'}", "use_cpu=true", "report_to=[]",
                   "push_to_hub=true"])
    err = capsys.readouterr().err
    assert rc == 2 and "hub_model_id" in err and "push_to_hub" in err, err
    assert not (tmp_path / "out").exists()


def test_llm_side_push_needs_the_base_llm_hub_id_before_training(tmp_path, monkeypatch, capsys):
    from hf_delrec import cli
    from hf_delrec.commands import distill

    monkeypatch.setattr(distill, "run", _fail_if_called)
    local_llm = tmp_path / "my-llm"
    local_llm.mkdir()
    rc = cli.main(["distill", "data_dir=data", f"backbone={local_llm}", f"output_dir={tmp_path / 'out'}",
                   "use_cpu=true", "report_to=[]", "push_to_hub=true", "hub_model_id=me/prompt"])
    err = capsys.readouterr().err
    assert rc == 2 and str(local_llm) in err and "Hub id" in err, err


def _pipeline_recipe(tmp_path, **top) -> str:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "run"), "data_source": str(tmp_path / "raw"),
                                    **top}))
    return str(path)


@pytest.mark.parametrize("top, expected", [
    ({"push_to_hub": True}, "hub_model_id"),
    ({"push_to_hub": True, "hub_model_id": "me/delrec", "model_name_or_path": "/local/llm"}, "/local/llm"),
    ({"push_to_hub": True, "hub_model_id": "me/delrec", "rows": ["popularity"]}, "rows must include 'delrec'"),
    # MovieLens forbids redistribution: a public dataset push is refused up front
    ({"push_to_hub": True, "hub_model_id": "me/delrec", "dataset": "ml-100k", "hub_dataset_id": "me/ml100k"},
     "hub_dataset_private"),
    ({"push_to_hub": True, "hub_model_id": "me/delrec", "dataset": "interactions", "hub_dataset_id": "me/data",
      "hub_dataset_private": True}, "hub_dataset_licence"),
])
def test_run_push_settings_fail_before_any_stage(top, expected, tmp_path, monkeypatch, capsys):
    from hf_delrec.commands import run
    from hf_delrec.pipeline import Pipeline

    monkeypatch.setattr(Pipeline, "stages", _fail_if_called)
    assert run.main([_pipeline_recipe(tmp_path, **top)]) == 1
    err = capsys.readouterr().err
    assert expected in err, err
    assert not (tmp_path / "run").exists()


def test_only_the_main_process_pushes(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "push_to_hub", _fail_if_called)
    monkeypatch.setattr(hub, "is_main_process", lambda: False)
    settings = {"push_to_hub": True, "hub_model_id": "me/model"}
    assert hub.push_after_training(tmp_path, settings) is None


def test_prepare_push_turns_the_trainer_push_off_and_keeps_the_settings():
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir="unused", push_to_hub=True, hub_model_id="me/model", hub_private_repo=True,
                             report_to=[], use_cpu=True)
    settings = hub.prepare_push(args)
    assert args.push_to_hub is False  # the Trainer will neither create the repo nor push checkpoints
    assert settings == {"push_to_hub": True, "hub_model_id": "me/model", "hub_private_repo": True,
                        "hub_token": None}
    assert hub.prepare_push(args) is None  # already taken over: nothing more to do
    with pytest.raises(hub.HubError, match="not a valid repo id"):
        hub.prepare_push({"push_to_hub": True, "hub_model_id": "a/b/c"})


def test_provenance_files_never_hold_the_hub_token():
    from hf_delrec.commands.distill import DistillScriptArguments
    from hf_delrec.recipe import recipe_to_dict
    from hf_delrec.trainers.distill_config import DistillConfig

    args = DistillConfig(output_dir="unused", hub_token="hf_secret", report_to=[], use_cpu=True)
    text = json.dumps(recipe_to_dict(DistillScriptArguments(), args))
    assert "hf_secret" not in text and "<HUB_TOKEN>" in text
