"""Client side of tests/test_hub_push_after_training.py: real commands with ``push_to_hub=true`` against the loopback
Hub, run in a subprocess (``python hub_push_client.py WORKDIR``, environment from ``HubServer.client_env``).

``build_inputs(workdir)`` runs in pytest (offline): tiny LLM, synthetic prepared datasets, raw files for the pipeline.
The client pushes the tiny LLM (so the LLM-side models name their base by Hub id, as their cards require), runs
``train-teacher`` and ``sft`` with ``push_to_hub=true``, pulls both back with ``AutoModel.from_pretrained(repo)``
and compares their outputs with the local directories, then runs ``hf-delrec run`` three times (first run, resumed
finished run, resumed run with a new ``hub_model_id``). Prints ``RESULT=<json>``; the server's side (commits, paths)
is checked by the test itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BASE = "tester/push-tiny-llama"
REPOS = {
    "teacher": "tester/pushed-gru4rec",
    "sft": "tester/pushed-delrec",
    "pipeline": "tester/pipeline-delrec",
    "pipeline_v2": "tester/pipeline-delrec-v2",
    "pipeline_teacher": "tester/pipeline-sasrec",
    "pipeline_data": "tester/pipeline-data",
}
CPU = {"use_cpu": True, "bf16": False, "report_to": [], "disable_tqdm": True}


def build_inputs(workdir: Path) -> None:
    """Everything the commands read, written locally (no network)."""
    import yaml
    from delrec_synthetic import write_interactions_csv, write_prepared
    from teacher_synthetic import make_prepared, make_sequences, write_prepared_dir
    from tiny_models import make_tiny_causal_lm

    make_tiny_causal_lm(workdir / "lm", tie_word_embeddings=True)
    sequences, _ = make_sequences(num_users=40, num_items=30, min_len=6, max_len=10, seed=1)
    write_prepared_dir(make_prepared(sequences, 30, num_negatives=20, num_candidates=10, seed=1),
                       workdir / "teacher_data")
    (workdir / "teacher.yaml").write_text(
        "teacher: gru4rec\nhidden_size: 16\nmax_seq_length: 10\nlearning_rate: 0.005\n"
        "per_device_train_batch_size: 64\nnum_train_epochs: 2\nuse_cpu: true\ndisable_tqdm: true\n")
    write_prepared(workdir / "sft_data", num_users=8)
    (workdir / "sft.yaml").write_text(yaml.safe_dump({
        "data_dir": str(workdir / "sft_data"), "model_name_or_path": BASE, "soft_prompt_path": str(workdir / "prompt"),
        "max_steps": 2, "examples_per_user": 1, "num_candidates": 5, "per_device_train_batch_size": 4,
        "learning_rate": 5e-3, "seed": 0, "logging_steps": 1, "activation_checkpointing": False,
        "lora_target_modules": ["q_proj", "v_proj"],
        # a checkpoint every step on purpose: none may reach the Hub (the Trainer's own push is off)
        "save_strategy": "steps", "save_steps": 1, **CPU}))
    inter, items = write_interactions_csv(workdir / "raw", num_users=16)
    (workdir / "pipeline.yaml").write_text(yaml.safe_dump({
        "output_dir": str(workdir / "run"), "dataset": "interactions", "data_source": str(inter),
        "model_name_or_path": BASE, "num_candidates": 5, "eval_num_users": 4, "seed": 0,
        "rows": ["popularity", "delrec"],
        "data": {"items_path": str(items), "num_negatives": 20},
        "teacher_args": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 1, "max_seq_length": 8,
                         "num_train_epochs": 1, "per_device_train_batch_size": 16, "early_stopping_patience": None,
                         **CPU},
        "distill": {"num_soft_tokens": 4, "num_teacher_items": 3, "num_eval_users": 4, "max_steps": 1,
                    "per_device_train_batch_size": 2, "max_history_items": 4, "logging_steps": 1,
                    "eval_untrained": False, **CPU},
        "sft": {"max_steps": 1, "per_device_train_batch_size": 4, "examples_per_user": 1, "max_history_items": 4,
                "save_strategy": "no", "activation_checkpointing": False, **CPU},
        "push_to_hub": True, "hub_model_id": REPOS["pipeline"], "hub_teacher_id": REPOS["pipeline_teacher"],
        "hub_dataset_id": REPOS["pipeline_data"], "hub_dataset_private": True,
        "hub_dataset_licence": "synthetic rows written by the test (no restrictions)",
    }))


def _card_problems(repo_id: str, kind: str) -> list[str]:
    from huggingface_hub import ModelCard

    from hf_delrec import hub

    return hub.validate_model_card(str(ModelCard.load(repo_id)), kind)


def _pull_teacher(workdir: Path) -> dict:
    from hub_roundtrip_client import max_diff, teacher_probe
    from transformers import AutoModel

    local = AutoModel.from_pretrained(str(workdir / "teacher")).eval()
    remote = AutoModel.from_pretrained(REPOS["teacher"]).eval()
    return {"class": type(remote).__name__, "diff": max_diff(teacher_probe(remote), teacher_probe(local)),
            "card_problems": _card_problems(REPOS["teacher"], "teacher")}


def _pull_delrec(local_dir: Path, repo_id: str) -> dict:
    from hub_roundtrip_client import delrec_probe, max_diff
    from transformers import AutoModel

    local = AutoModel.from_pretrained(str(local_dir)).eval()
    remote = AutoModel.from_pretrained(repo_id).eval()
    return {"class": type(remote).__name__, "has_lora": bool(getattr(remote, "has_lora", False)),
            "has_soft_prompt": getattr(remote, "soft_prompt", None) is not None,
            "diff": max_diff(delrec_probe(remote), delrec_probe(local)),
            "card_problems": _card_problems(repo_id, "delrec")}


def _run_cli(argv: list[str]) -> tuple[int, str]:
    import io
    from contextlib import redirect_stdout

    from hf_delrec import cli

    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = cli.main(argv)
    sys.stdout.write(buf.getvalue())
    return rc, buf.getvalue()


def main(workdir: Path) -> dict:
    import traceback

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import hf_delrec  # noqa: F401  (Auto registration)
    from hf_delrec.models.soft_prompt import SoftPrompt

    torch.set_num_threads(1)
    out: dict = {}

    def step(name, fn):
        # one failing step is reported under its name; the others still run (and the test says which failed)
        try:
            out[name] = fn()
        except Exception:  # noqa: BLE001
            out[name] = {"error": traceback.format_exc()[-3000:]}

    llm = AutoModelForCausalLM.from_pretrained(str(workdir / "lm"))
    llm.push_to_hub(BASE)
    AutoTokenizer.from_pretrained(str(workdir / "lm")).push_to_hub(BASE)
    torch.manual_seed(0)
    SoftPrompt.for_llm(llm, num_soft_tokens=4, teacher_model_type="delrec_gru4rec", init_std=0.3,
                       base_model_name_or_path=BASE).save_pretrained(workdir / "prompt")

    def train_teacher():
        # train-teacher with push_to_hub: the finished directory is pushed, with its card.
        rc, text = _run_cli(["train-teacher", str(workdir / "teacher.yaml"), f"data_dir={workdir / 'teacher_data'}",
                             f"output_dir={workdir / 'teacher'}", "push_to_hub=true",
                             f"hub_model_id={REPOS['teacher']}"])
        lines = text.splitlines()  # the summary is the last top-level JSON object printed
        summary = json.loads("\n".join(lines[max(i for i, line in enumerate(lines) if line == "{"):]))
        return {"rc": rc, "summary": summary}

    step("teacher_run", train_teacher)
    step("teacher", lambda: _pull_teacher(workdir))
    # sft (DELRec stage 2) with push_to_hub; its Trainer saves a checkpoint every step.
    step("sft_run", lambda: {"rc": _run_cli(["sft", str(workdir / "sft.yaml"), f"output_dir={workdir / 'delrec'}",
                                             "push_to_hub=true", f"hub_model_id={REPOS['sft']}"])[0]})
    step("sft", lambda: _pull_delrec(workdir / "delrec", REPOS["sft"]))

    # the pipeline: first run pushes; a resumed finished run pushes nothing; a new hub_model_id pushes that only.
    recipe = str(workdir / "pipeline.yaml")
    runs = []
    for argv in ([recipe], [recipe], [recipe, f"hub_model_id={REPOS['pipeline_v2']}"]):
        def pipeline_run(argv=argv):
            rc, text = _run_cli(["run", *argv])
            return {"rc": rc, "push_lines": [line for line in text.splitlines() if "] push " in line]}

        step("_run", pipeline_run)
        runs.append(out.pop("_run"))
    out["pipeline_runs"] = runs
    step("pipeline_record", lambda: json.loads((workdir / "run" / "hub_pushes.json").read_text()))

    def pull_pipeline():
        from huggingface_hub import DatasetCard, ModelCard

        from hf_delrec import hub

        got = _pull_delrec(workdir / "run" / "delrec", REPOS["pipeline"])
        got["teacher_card_problems"] = _card_problems(REPOS["pipeline_teacher"], "teacher")
        got["card_links"] = ModelCard.load(REPOS["pipeline"]).data.to_dict().get("datasets")
        got["dataset_card_problems"] = hub.validate_dataset_card(
            str(DatasetCard.load(REPOS["pipeline_data"], repo_type="dataset")), ["examples", "items"])
        return got

    step("pipeline", pull_pipeline)
    return out


if __name__ == "__main__":
    print("RESULT=" + json.dumps(main(Path(sys.argv[1]))))
