"""Every artifact type pushed to and pulled from a Hub over real HTTP (the loopback test Hub), then reloaded
offline from the cache.

The artifacts are built here (tiny, local, seeded) together with the outputs they must reproduce; one client
process pushes all of them with the real libraries and pulls them back (``online``), a second one with
HF_HUB_OFFLINE=1 and the same HF_HOME only pulls (``offline``). Each test below checks one artifact type in both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_roundtrip_client import REPOS, TEACHERS, build_artifacts
from hub_server import last_json, run_client, shared_server

pytestmark = [pytest.mark.hub, pytest.mark.slow]
CLIENT = str(Path(__file__).resolve().parent / "hub_roundtrip_client.py")
TOL = 1e-5


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory):
    server = shared_server()
    start = len(server.unknown_requests)
    workdir = tmp_path_factory.mktemp("hub-roundtrip")
    build_artifacts(workdir)
    home = workdir / "hf-home"
    online = last_json(run_client(f"import runpy, sys; sys.argv = ['client', 'online', {str(workdir)!r}]; "
                                  f"runpy.run_path({CLIENT!r}, run_name='__main__')", server.client_env(home)))
    seen = len(server.requests)
    offline = last_json(run_client(f"import runpy, sys; sys.argv = ['client', 'offline', {str(workdir)!r}]; "
                                   f"runpy.run_path({CLIENT!r}, run_name='__main__')",
                                   server.client_env(home, offline=True)))
    result = {"online": online, "offline": offline, "offline_requests": server.requests[seen:],
              "unknown": server.unknown_requests[start:], "server": server}
    yield result
    assert not server.unknown_requests[start:], server.unknown_requests[start:]


@pytest.fixture(params=["online", "offline"])
def phase(request, roundtrip):
    assert not roundtrip["unknown"], f"clients called endpoints the test Hub does not implement: {roundtrip['unknown']}"
    if request.param == "offline":
        assert roundtrip["offline"]["offline"] is True
        assert roundtrip["offline_requests"] == [], "HF_HUB_OFFLINE=1 client reached the server"
    return roundtrip[request.param]


def test_prepared_dataset_roundtrip(phase, roundtrip):
    assert phase["load_dataset_equal"] == {"items": True, "examples": True, "teacher_predictions_sasrec": True}
    assert phase["prepared_equal"] == {"items": True, "examples": True, "stats": True, "fingerprint": True,
                                       "titles": True, "teacher_info": True}
    assert phase["dataset_card_problems"] == []
    repo = roundtrip["server"].state.get("dataset", REPOS["dataset"])
    assert repo.private  # pushed with private=True
    files = repo.files_at(repo.refs["main"])
    assert {"README.md", "stats.json", "teacher_info/sasrec.json"} <= set(files)
    assert all(files[p]["lfs"] for p in files if p.endswith(".parquet"))  # data went through the LFS batch API
    assert {p.split("/")[0] for p in files if p.endswith(".parquet")} == {"examples", "items", "teacher_predictions_sasrec"}


@pytest.mark.parametrize("teacher", TEACHERS)
def test_teacher_roundtrip(phase, teacher):
    got = phase["teachers"][teacher]
    assert got["class"].lower() == f"{teacher}model", got["class"]  # AutoModel resolved our registered class
    assert got["diff"] <= TOL, f"{teacher}: outputs differ by {got['diff']}"
    assert got["card_problems"] == []


def test_soft_prompt_roundtrip(phase):
    got = phase["soft_prompt"]
    assert got["class"] == "SoftPrompt" and got["diff"] == 0.0 and got["card_problems"] == []


def test_delrec_roundtrip(phase):
    got = phase["delrec"]
    assert got["class"] == "DELRec" and got["has_lora"]
    assert got["diff"] <= TOL, f"DELRec scores differ by {got['diff']}"
    assert got["diff_to_no_lora"] > 1e-3  # the pulled LoRA really is applied (without it the scores differ)
    assert got["card_problems"] == []
    if "files" in got:
        files = got["files"]
        assert "lora/adapter_config.json" in files and "adapter_config.json" not in files
        assert "model.safetensors" in files and "config.json" in files and "README.md" in files
        assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)


def test_llmsrec_roundtrip(phase):
    got = phase["llmsrec"]
    assert got["class"] == "LLMSRecModel"
    assert got["diff"] <= TOL, f"LLM-SRec logits differ by {got['diff']}"
    assert got["card_problems"] == []


def test_cli_push_and_model_cards_on_the_hub(roundtrip):
    server = roundtrip["server"]
    repo = server.state.get("model", REPOS["sasrec"])
    assert [c["title"] for c in repo.commits][-1] == "teacher via CLI"
    readme = server.state.blob(repo.files_at(repo.refs["main"])["README.md"]["sha256"]).decode()
    assert "tester/toy-seqrec" in readme and "0.5600" in readme  # dataset named, the run's own HR@10 reported
    assert not repo.private
    # every card went through the Hub's YAML validation endpoint
    assert len(server.validated_yaml) >= 8


def test_offline_with_nothing_cached_names_the_repo_and_what_to_do(roundtrip):
    offline = roundtrip["offline"]
    assert roundtrip["offline_requests"] == []  # offline means offline: the server saw nothing
    for name, repo in (("dataset", "tester/never-pushed-data"), ("model", "tester/never-pushed-model")):
        message = offline[f"uncached_{name}"]
        assert repo in message and "HF_HUB_OFFLINE" in message, message
        assert "Run once with network access" in message and "not in the local Hugging Face cache" in message
