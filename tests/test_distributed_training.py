"""Real 2-process runs (torch.distributed, gloo, CPU) of the training commands on tiny data and models.

Each run is ``python -m torch.distributed.run --standalone --nproc_per_node 2 -m hf_delrec.cli VERB ...``: two
processes, each training its shard of the data (Trainer's DistributedSampler) and keeping their weights in sync
(DDP). (``accelerate launch --cpu --num_processes 2`` starts a single process on one machine: accelerate's multi-CPU
mode needs mpirun; ``accelerate launch --multi_gpu --num_processes 2`` on a CPU-only machine is torchrun, as here.)
Odd user counts and small evaluation batches make the last evaluation batch padded, so a duplicated or lost user
would show. Each test checks: the run finishes, the evaluated users are exactly the split's users, the metrics equal
a single-process evaluation of the saved model, and exactly one artifact directory was written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from teacher_synthetic import write_small_teacher_dataset

import hf_delrec  # noqa: F401
from hf_delrec.utils.distributed import user_set_digest

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error",
       "TOKENIZERS_PARALLELISM": "false"}


def launch(*argv: str, nproc: int = 2) -> str:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "hf_delrec.cli", *argv]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    return proc.stdout


def only_artifact(parent: Path, name: str) -> None:
    """Nothing beside the artifact: no temp sibling, no checkpoint folder, no second copy."""
    assert sorted(p.name for p in parent.iterdir()) == [name]


@pytest.fixture(scope="module")
def teacher_data(tmp_path_factory) -> Path:
    return write_small_teacher_dataset(tmp_path_factory.mktemp("dist") / "data")


@pytest.fixture(scope="module")
def teacher_run(teacher_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("teacher") / "sasrec"
    launch("train-teacher", f"data_dir={teacher_data}", f"output_dir={out}", "hidden_size=16", "max_seq_length=8",
           "num_hidden_layers=1", "num_attention_heads=1", "num_train_epochs=3", "per_device_train_batch_size=16",
           "per_device_eval_batch_size=8", "disable_tqdm=true", "seed=1", "use_cpu=true", "report_to=[]")
    return out


def test_teacher_two_processes(teacher_data, teacher_run):
    from transformers import AutoModel

    from hf_delrec.data import load_prepared
    from hf_delrec.evaluation import evaluate_teacher

    only_artifact(teacher_run.parent, "sasrec")
    res = json.loads((teacher_run / "eval_results.json").read_text())
    prepared = load_prepared(teacher_data)
    assert res["world_size"] == 2
    for split in ("test", "validation"):
        assert res["evaluated_users"][split] == user_set_digest(prepared.examples[split]["user_id"])
    # Trainer's validation passes were sharded (61 users, 2 x 8 per batch: the last batch padded); the gathered
    # ranks count every user once.
    assert res["validation_num_examples_per_eval"] == [61, 61, 61]
    model = AutoModel.from_pretrained(teacher_run)
    assert evaluate_teacher(model, prepared, "test", "both", 512) == res["test"]
    single = evaluate_teacher(model, prepared, "validation", "full", 512)["full"]
    assert single["num_examples"] == 61
    # The best checkpoint's sharded validation NDCG@10 == a single-process evaluation of the restored model.
    assert single["NDCG@10"] == pytest.approx(res["best_validation_metric"]["NDCG@10"], abs=1e-9)


@pytest.fixture(scope="module")
def llm_setup(tmp_path_factory):
    from test_distill_command import _write_prepared
    from tiny_models import make_tiny_causal_lm

    root = tmp_path_factory.mktemp("llm")
    (root / "data").mkdir()
    _write_prepared(root / "data", num_users=21)
    make_tiny_causal_lm(root / "lm", tie_word_embeddings=True)
    return root


def test_distill_two_processes(llm_setup, tmp_path):
    """Stage 1: the held-out TA/RPS evaluation is sharded by Trainer and gathered in prediction_step."""
    from datasets import Dataset

    from hf_delrec.backbones import load_backbone
    from hf_delrec.commands.distill import DistillScriptArguments, _load_teacher_topk, build_examples
    from hf_delrec.data import load_prepared
    from hf_delrec.injection import attach_soft_prompt
    from hf_delrec.models.soft_prompt import SoftPrompt
    from hf_delrec.prompts import load_templates, soft_prompt_text
    from hf_delrec.trainers.distill_config import DistillConfig
    from hf_delrec.trainers.distill_trainer import make_distill_trainer

    root = llm_setup
    out = tmp_path / "runs" / "prompt"
    keys = dict(data_dir=str(root / "data"), backbone=str(root / "lm"), num_soft_tokens=3, num_candidates=5,
                num_teacher_items=3, num_eval_users=7)
    launch("distill", *(f"{k}={v}" for k, v in keys.items()), f"output_dir={out}", "max_steps=3",
           "per_device_train_batch_size=2", "per_device_eval_batch_size=2", "use_cpu=true", "report_to=[]",
           "bf16=false", "disable_tqdm=true", "learning_rate=0.05", "seed=0", "eval_untrained=false")
    only_artifact(out.parent, "prompt")
    res = json.loads((out / "distill_results.json").read_text())
    held_out = res["counts"]["held_out_user_ids"]
    assert res["world_size"] == 2 and len(held_out) == 7
    assert res["soft_prompt_replicas_identical"]  # both processes trained the same prompt
    for task in ("ta", "rps"):
        assert res["evaluated_users"][task] == user_set_digest(held_out)  # 7 users, 2 x 2 per batch: padded
        assert res["stage1_eval"][task]["num_examples"] == 7

    # Single process: the saved prompt on the same held-out rows gives the same accuracies.
    script = DistillScriptArguments(**keys)
    prepared = load_prepared(script.data_dir)
    llm, tokenizer = load_backbone(script.backbone)
    prompt = SoftPrompt.from_pretrained(out)
    wrapper = attach_soft_prompt(llm, prompt, tokenizer=tokenizer)
    topk, _ = _load_teacher_topk(script, prepared, script.num_teacher_items)
    _, eval_rows, counts = build_examples(script, prepared, topk, tokenizer, load_templates(script.templates),
                                          soft_prompt_text(prompt.config.soft_tokens),
                                          wrapper.soft_token_ids.tolist(), 0)
    assert counts["held_out_user_ids"] == held_out
    args = DistillConfig(output_dir=str(tmp_path / "eval"), per_device_eval_batch_size=3, use_cpu=True,
                         report_to=[], bf16=False, disable_tqdm=True)
    # (SFTTrainer insists on a train_dataset; nothing is trained here)
    trainer = make_distill_trainer(llm, args, train_dataset=Dataset.from_list(eval_rows["ta"]),
                                   processing_class=tokenizer)
    for task, rows in eval_rows.items():
        metrics = trainer.evaluate(Dataset.from_list(rows), metric_key_prefix=f"eval_{task}")
        assert metrics[f"eval_{task}_{task}_accuracy"] == res["stage1_eval"][task]["trained_accuracy"]
        assert sorted(trainer.eval_user_ids[task]) == held_out


def test_sft_two_processes(llm_setup, tmp_path):
    """Stage 2: every process ranks the same validation users; one writes; the saved model reproduces the curve."""
    from transformers import AutoModel

    from hf_delrec.data import load_prepared
    from hf_delrec.metrics import compute_metrics
    from hf_delrec.trainers.sft_data import rank_rows, ranking_rows

    root = llm_setup
    out = tmp_path / "runs" / "delrec"
    launch("sft", f"data_dir={root / 'data'}", f"model_name_or_path={root / 'lm'}", f"output_dir={out}",
           "max_steps=2", "examples_per_user=1", "num_candidates=5", "hr_eval_steps=1", "hr_eval_num_users=7",
           "per_device_train_batch_size=2", "lora_r=2", "lora_alpha=4", "use_cpu=true", "report_to=[]",
           "bf16=false", "disable_tqdm=true", "max_history_items=4", "seed=0")
    only_artifact(out.parent, "delrec")
    res = json.loads((out / "sft_results.json").read_text())
    assert res["world_size"] == 2 and res["global_steps"] == 2
    rows = ranking_rows(load_prepared(root / "data").examples["validation"], 7, seed=0)
    assert res["validation_users"] == user_set_digest(r["user_id"] for r in rows)
    curve = json.loads((out / "validation_hr1.json").read_text())
    assert [c["step"] for c in curve] == [0, 1, 2] and all(c["num_examples"] == 7 for c in curve)
    model = AutoModel.from_pretrained(out)
    single = compute_metrics(rank_rows(model, rows), ks=(1, 5))
    assert single["HR@1"] == curve[-1]["HR@1"] and single["NDCG@5"] == pytest.approx(curve[-1]["NDCG@5"], abs=1e-12)


def test_llmsrec_two_processes(teacher_data, teacher_run, llm_setup, tmp_path):
    from transformers import AutoModel

    from hf_delrec.data import load_prepared
    from hf_delrec.metrics import compute_metrics
    from hf_delrec.models.llmsrec import LLMSRecPromptBuilder
    from hf_delrec.trainers.llmsrec_trainer import EVAL_KS, rank_llmsrec

    run = tmp_path / "runs" / "llmsrec"
    launch("train-llmsrec", f"data_dir={teacher_data}", f"teacher={teacher_run}", f"base_model={llm_setup / 'lm'}",
           f"output_dir={run}", "use_cpu=true", "report_to=[]", "seed=0", "max_steps=4",
           "per_device_train_batch_size=4", "eval_strategy=steps", "eval_steps=2", "save_strategy=steps",
           "save_steps=2", "load_best_model_at_end=true", "eval_num_candidates=5", "eval_max_users=9",
           "num_train_negatives=2", "test_num_candidates=9", "head_hidden_size=16", "projection_dim=8",
           "cf_hidden_size=8", "max_history_items=3", "disable_tqdm=true", "num_threads=1")
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith("checkpoint-")) == ["final"]
    assert not [p for p in run.parent.iterdir() if p.name != "llmsrec"]
    final = run / "final"
    res = json.loads((final / "results.json").read_text())
    data = load_prepared(teacher_data)
    assert res["world_size"] == 2 and res["num_test_users"] == 61
    assert res["evaluated_users"]["test"] == user_set_digest(data.examples["test"]["user_id"])
    model = AutoModel.from_pretrained(final)
    prompts = LLMSRecPromptBuilder(model.tokenizer, data.titles, model.config)
    single = compute_metrics(rank_llmsrec(model, prompts, data.examples["test"], num_candidates=9), EVAL_KS)
    assert single == pytest.approx(res["test"]["LLM-SRec"], abs=1e-12)


def test_gpu_recipe_loads():
    """The paper-sized recipe parses with the pipeline's recipe parser, every section checked against its stage's
    argument classes (unknown keys and wrong types are RecipeErrors)."""
    from hf_delrec.pipeline import parse_pipeline_args

    path = Path(__file__).resolve().parents[1] / "recipes" / "delrec_flan_t5_xl_gpu.yaml"
    args = parse_pipeline_args([str(path)])
    assert args.model_name_or_path == "google/flan-t5-xl" and args.num_candidates == 20
    assert args.export["k"] == 10
    assert args.distill["num_soft_tokens"] == 100 and args.distill["num_teacher_items"] == 10
    assert args.distill["learning_rate"] == 5e-3 and args.distill["max_steps"] == 800
    assert args.distill["per_device_train_batch_size"] == 20 and args.distill["bf16"] is True
    sft = args.sft
    assert sft["peft_type"] == "adalora" and sft["adalora_init_r"] == 320 and sft["lora_target_modules"] == ["q", "v"]
    assert sft["max_steps"] == 1400 and sft["per_device_train_batch_size"] == 20 and sft["bf16"] is True
