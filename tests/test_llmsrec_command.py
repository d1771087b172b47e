"""`hf-delrec train-llmsrec` end to end on a tiny prepared dataset, tiny LLM and tiny SASRec teacher."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_models import make_tiny_causal_lm
from transformers import AutoModel

from hf_delrec.cli import main as cli_main
from hf_delrec.data import load_prepared, prepare_dataset
from hf_delrec.models.llmsrec import LLMSRecModel, LLMSRecPromptBuilder
from hf_delrec.models.sasrec import SASRecConfig, SASRecModel
from hf_delrec.trainers.llmsrec_trainer import rank_llmsrec


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("llmsrec_cmd")
    rng = np.random.default_rng(0)
    lines = ["user_id,item_id,timestamp"]
    for u in range(12):
        for k, i in enumerate(rng.permutation(15)[:6]):
            lines.append(f"u{u},i{i},{1_000_000 + 3600 * k}")
    (root / "inter.csv").write_text("\n".join(lines) + "\n")
    (root / "items.csv").write_text("item_id,title\n" + "".join(f"i{i},movie {i}\n" for i in range(15)))
    prepare_dataset("interactions", root / "inter.csv", root / "data", items_path=str(root / "items.csv"),
                    num_negatives=8, num_candidates=5)
    data = load_prepared(root / "data")
    torch.manual_seed(0)
    SASRecModel(SASRecConfig(num_items=data.num_items, hidden_size=16, max_seq_length=8, num_attention_heads=2,
                             intermediate_size=32, catalogue_fingerprint=data.catalogue_fingerprint)
                ).save_pretrained(root / "teacher")
    make_tiny_causal_lm(root / "llm")
    return root


@pytest.mark.slow
def test_train_llmsrec_command_writes_a_reloadable_model_and_results(setup, capsys):
    root = setup
    recipe = root / "recipe.yaml"
    recipe.write_text(
        f"data_dir: {root / 'data'}\nteacher: {root / 'teacher'}\nbase_model: {root / 'llm'}\n"
        f"output_dir: {root / 'run'}\nuse_cpu: true\nreport_to: []\nseed: 0\nmax_steps: 3\n"
        "per_device_train_batch_size: 4\neval_strategy: steps\neval_steps: 2\nsave_strategy: steps\nsave_steps: 2\n"
        "load_best_model_at_end: true\neval_num_candidates: 5\neval_max_users: 6\nnum_train_negatives: 2\n"
        "test_num_candidates: 9\nhead_hidden_size: 16\nprojection_dim: 8\ncf_hidden_size: 8\nmax_history_items: 3\n"
        "disable_tqdm: true\n"
    )
    assert cli_main(["train-llmsrec", str(recipe), "learning_rate=0.01"]) == 0
    out = capsys.readouterr().out
    assert "| LLM-SRec |" in out and "| SASRec teacher |" in out and "| Popularity |" in out
    final = root / "run" / "final"
    results = json.loads((final / "results.json").read_text())
    assert results["global_steps"] == 3 and results["num_test_users"] == 12
    assert results["trainable_parameters"] > 0 and results["train_cpu_s"] > 0
    for row in results["test"].values():
        assert 0.0 <= row["NDCG@10"] <= row["HR@10"] <= 1.0
    assert (final / "README.md").is_file() and "LLM-SRec" in (final / "README.md").read_text()
    # Reload through AutoModel (LLM + teacher from the paths in the config): identical test ranks/metrics.
    model = AutoModel.from_pretrained(final)
    assert isinstance(model, LLMSRecModel)
    data = load_prepared(root / "data")
    prompts = LLMSRecPromptBuilder(model.tokenizer, data.titles, model.config)
    ranks = rank_llmsrec(model, prompts, data.examples["test"], num_candidates=9)
    from hf_delrec.metrics import compute_metrics

    again = compute_metrics(ranks, (10,))
    assert again["HR@10"] == pytest.approx(results["test"]["LLM-SRec"]["HR@10"])
    assert again["NDCG@10"] == pytest.approx(results["test"]["LLM-SRec"]["NDCG@10"])
    # Existing output is refused unless overwrite=true
    with pytest.raises(FileExistsError):
        cli_main(["train-llmsrec", str(recipe)])


def test_train_llmsrec_bad_recipe_key(setup, capsys):
    assert cli_main(["train-llmsrec", "data_dir=x", "teacher=y", "output_dir=z", "no_such_key=1"]) == 2
    assert "no_such_key" in capsys.readouterr().err
