"""`hf-delrec distill`: recipe -> soft-prompt directory + distill_results.json, on a tiny synthetic prepared dataset."""

import json
import random

import pytest
from datasets import Dataset, DatasetDict
from tiny_models import make_tiny_causal_lm
from transformers import AutoModel

import hf_delrec  # noqa: F401
from hf_delrec.cli import main
from hf_delrec.data import catalogue_fingerprint
from hf_delrec.models.soft_prompt import SoftPrompt

WORDS = ["toy story", "heat", "casino", "babe", "jumanji", "braveheart", "star wars", "portal", "dota"]


def _write_prepared(path, num_users=14, num_items=30, seq_len=9, seed=0):
    """Prepared-format data (ARCHITECTURE.md) + teacher predictions, users walking the catalogue in +1 steps."""
    rng = random.Random(seed)
    titles = [f"{WORDS[i % len(WORDS)]} {i}, the ({1990 + i % 10})" for i in range(1, num_items + 1)]
    rows, preds = [], []
    for u in range(1, num_users + 1):
        start = rng.randrange(num_items)
        seq = [(start + k) % num_items + 1 for k in range(seq_len)]
        negs = rng.sample([i for i in range(1, num_items + 1) if i not in seq], 15)
        cut = seq_len - 3
        rows.append({"user_id": u, "raw_user_id": str(u), "history": seq[:cut], "history_timestamps": list(range(cut)),
                     "target": seq[cut], "target_timestamp": cut, "negatives": negs,
                     "candidates": [seq[cut]] + negs[:4]})
        top = [seq[cut]] + [i for i in negs[:3]]  # the "teacher" knows the +1 pattern
        preds.append({"user_id": u, "teacher_topk": top, "teacher_scores": [4.0, 3.0, 2.0, 1.0]})
    Dataset.from_dict({"item_id": list(range(1, num_items + 1)), "raw_id": [str(i) for i in range(1, num_items + 1)],
                       "title": titles}).save_to_disk(str(path / "items"))
    DatasetDict({s: Dataset.from_list(rows) for s in ("train", "validation", "test")}).save_to_disk(str(path / "examples"))
    (path / "stats.json").write_text(json.dumps({
        "dataset": "synthetic", "num_users": num_users, "num_items": num_items, "num_interactions": num_users * seq_len,
        "catalogue_fingerprint": catalogue_fingerprint([str(i) for i in range(1, num_items + 1)]), "version": 1}))
    DatasetDict({"train": Dataset.from_list(preds)}).save_to_disk(str(path / "teacher_predictions" / "sasrec"))
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    data = _write_prepared(root / "data")
    make_tiny_causal_lm(root / "lm", tie_word_embeddings=True)
    return root, data


def _argv(root, data, out, *extra):
    return ["distill", f"data_dir={data}", f"backbone={root / 'lm'}", f"output_dir={out}", "num_soft_tokens=3",
            "num_candidates=5", "num_teacher_items=3", "num_eval_users=4", "max_steps=2",
            "per_device_train_batch_size=2", "per_device_eval_batch_size=4", "use_cpu=true", "report_to=[]",
            "bf16=false", "disable_tqdm=true", "learning_rate=0.05", *extra]


@pytest.mark.slow
def test_distill_writes_soft_prompt_and_results(setup, tmp_path):
    root, data = setup
    out = tmp_path / "out"
    assert main(_argv(root, data, out)) == 0
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "distill_results.json", "recipe.json"} <= names
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no scratch directory left behind
    prompt = AutoModel.from_pretrained(out)
    assert isinstance(prompt, SoftPrompt) and prompt.weight.shape == (3, 32)
    assert prompt.config.teacher_model_type == "sasrec" and prompt.config.base_model_name_or_path == str(root / "lm")
    res = json.loads((out / "distill_results.json").read_text())
    assert res["counts"]["train_users"] == 10 and res["counts"]["eval_users"] == 4
    for task in ("ta", "rps"):
        row = res["stage1_eval"][task]
        assert row["num_examples"] == 4 and row["chance"] == pytest.approx(0.2)
        assert 0 <= row["trained_accuracy"] <= 1 and 0 <= row["untrained_accuracy"] <= 1
        assert row["trained_loss"] != row["untrained_loss"]  # the prompt changed between the two evaluations
    assert res["train_steps"] == 2 and res["steps_per_second"] > 0
    # an existing output is not overwritten silently
    assert main(_argv(root, data, out)) == 2


def test_distill_reports_bad_input(setup, tmp_path, capsys):
    root, data = setup
    assert main(_argv(root, data, tmp_path / "o1", "tasks=[ta,xyz]")) == 2
    assert "unknown task 'xyz'" in capsys.readouterr().err
    assert main(_argv(root, data, tmp_path / "o2", "num_soft_tokenz=3")) == 2
    assert "num_soft_tokenz" in capsys.readouterr().err
    assert main(_argv(root, data, tmp_path / "o3", "teacher_name=gru4rec")) == 2
    assert "export-teacher" in capsys.readouterr().err
