"""Side-by-side: our SASRec teacher vs RecBole 1.2.1's SASRec on the same leave-one-out split.

    python benchmarks/teacher_vs_recbole.py --data /tmp/teacher/ml100k --recbole-python /tmp/recbole-venv/bin/python \
        --recbole-epochs 2 [--ours-dir /tmp/teacher/runs/sasrec-ml100k] [--work-dir /tmp/teacher/bench]

RecBole runs in its own virtual environment (it needs setuptools<70, numpy<2, pandas<2.3 and imports ray), in a
subprocess, from a driver script generated at run time (nothing of RecBole is part of this repository). Our split is
exported to RecBole atomic files: each user's full sequence with its position as the timestamp, so RecBole's
leave-one-out ('LS': valid_and_test, order TO) reproduces exactly our train/validation/test split. Both sides use
hidden 64, 2 layers, 2 heads, inner size 256, max length 50, CE loss over the full catalogue, full-ranking evaluation
with the user's history items excluded; each side keeps its own optimiser defaults (stated in the output).
RecBole gets a fixed epoch budget (``--recbole-epochs``; ~210 s per epoch on ML-100K on a 2-core machine), so its
"best" is the best within that budget.

Prints
  P1: one-epoch wall time ours / RecBole, and wall time to reach RecBole's best validation NDCG@10, ours / RecBole;
  P2: test NDCG@10 and HR@10 (full ranking), ours - RecBole; plus a most-popular baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

RECBOLE_DRIVER = textwrap.dedent(
    """
    import copy, json, sys, time, logging
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed, init_logger

    spec = json.loads(sys.argv[1])
    config = Config(model="SASRec", dataset=spec["dataset"], config_dict=spec["config"])
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    model = SASRec(config, train_data.dataset).to(config["device"])
    trainer = Trainer(config, model)
    epochs = []
    start = time.perf_counter()
    best = -1.0
    for epoch in range(config["epochs"]):
        t0 = time.perf_counter()
        loss = trainer._train_epoch(train_data, epoch, show_progress=False)
        t1 = time.perf_counter()
        score, result = trainer._valid_epoch(valid_data, show_progress=False)
        t2 = time.perf_counter()
        if score > best:  # keep the best weights in memory (RecBole's own checkpoint reload fails on torch>=2.6)
            best = score
            best_state = copy.deepcopy(model.state_dict())
        epochs.append({"epoch": epoch, "train_seconds": t1 - t0, "valid_seconds": t2 - t1,
                       "wall_seconds": t2 - start, "valid_ndcg10": float(score),
                       "loss": float(loss if not isinstance(loss, tuple) else sum(loss))})
        print("EPOCH", json.dumps(epochs[-1]), flush=True)
    model.load_state_dict(best_state)
    test = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    print("RESULT", json.dumps({"epochs": epochs, "test": {k: float(v) for k, v in test.items()}}), flush=True)
    """
)


def export_atomic(prepared, out_dir: Path, name: str) -> Path:
    """Write ``name.inter`` (user_id, item_id, timestamp = position in our chronological order)."""
    out_dir = out_dir / name
    out_dir.mkdir(parents=True, exist_ok=True)
    test = prepared.examples["test"]
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for uid, hist, target in zip(test["user_id"], test["history"], test["target"]):
        for pos, item in enumerate(list(hist) + [target]):
            lines.append(f"{uid}\t{item}\t{pos}")
    (out_dir / f"{name}.inter").write_text("\n".join(lines) + "\n")
    return out_dir


def run_recbole(python: str, work_dir: Path, name: str, epochs: int, seed: int, log_path: Path) -> dict:
    driver = work_dir / "recbole_driver.py"
    driver.write_text(RECBOLE_DRIVER)
    config = {
        "data_path": str(work_dir),
        "checkpoint_dir": str(work_dir / "recbole_saved"),
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "MAX_ITEM_LIST_LENGTH": 50,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Hit", "NDCG", "MRR"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "train_neg_sample_args": None,
        "loss_type": "CE",
        "hidden_size": 64,
        "inner_size": 256,
        "n_layers": 2,
        "n_heads": 2,
        "hidden_dropout_prob": 0.2,
        "attn_dropout_prob": 0.2,
        "epochs": epochs,
        "train_batch_size": 2048,
        "eval_batch_size": 4096,
        "learning_rate": 0.001,
        "seed": seed,
        "reproducibility": True,
        "device": "cpu",
        "use_gpu": False,
        "worker": 0,
        "show_progress": False,
        "state": "INFO",
    }
    spec = json.dumps({"dataset": name, "config": config})
    with open(log_path, "w") as log:
        proc = subprocess.run(
            [python, str(driver), spec], stdout=subprocess.PIPE, stderr=log, text=True, cwd=work_dir, check=False
        )
    (log_path.with_suffix(".stdout")).write_text(proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError(f"RecBole failed (exit {proc.returncode}); see {log_path}")
    result = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(result[len("RESULT ") :])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared dataset directory")
    parser.add_argument("--recbole-python", default="/tmp/recbole-venv/bin/python")
    parser.add_argument("--recbole-epochs", type=int, default=2)
    parser.add_argument("--recbole-results", help="reuse a RecBole RESULT json (skip the RecBole run)")
    parser.add_argument("--ours-dir", help="an existing `hf-delrec train-teacher` output (else trained here)")
    parser.add_argument("--ours-seconds", type=float, default=600.0, help="training budget for ours when trained here")
    parser.add_argument("--work-dir", default="/tmp/teacher/bench")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    import hf_delrec  # noqa: F401
    from hf_delrec.data import load_prepared
    from hf_delrec.evaluation import evaluate_popularity

    prepared = load_prepared(args.data)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    name = "delrec_" + re.sub(r"[^A-Za-z0-9]", "", str(prepared.stats.get("dataset", "data")))

    if args.ours_dir:
        ours = json.loads((Path(args.ours_dir) / "eval_results.json").read_text())
    else:
        from hf_delrec.trainers.teacher_config import TeacherConfig
        from hf_delrec.trainers.teacher_recipe import (
            TeacherModelArguments,
            TeacherScriptArguments,
            run_teacher_training,
        )

        out = work / "ours-sasrec"
        ours = run_teacher_training(
            TeacherScriptArguments(data_dir=args.data, teacher="sasrec", overwrite=True),
            TeacherModelArguments(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256,
                                  max_seq_length=50, loss_type="ce"),
            TeacherConfig(output_dir=str(out), use_cpu=True, disable_tqdm=True, seed=args.seed,
                          learning_rate=2e-3, per_device_train_batch_size=64, max_train_seconds=args.ours_seconds),
        )

    if args.recbole_results:
        rb = json.loads(Path(args.recbole_results).read_text())
    else:
        export_atomic(prepared, work, name)
        t0 = time.perf_counter()
        rb = run_recbole(args.recbole_python, work, name, args.recbole_epochs, args.seed, work / "recbole.log")
        (work / "recbole_result.json").write_text(json.dumps(rb, indent=2))
        print(f"RecBole run: {time.perf_counter() - t0:.0f} s wall", file=sys.stderr)

    pop = evaluate_popularity(prepared, "test", "full")["full"]
    rb_epoch = sum(e["train_seconds"] for e in rb["epochs"]) / len(rb["epochs"])
    best = max(rb["epochs"], key=lambda e: e["valid_ndcg10"])
    ours_epoch = ours["mean_epoch_seconds"]
    reach = next(
        (t for t, v in zip(ours["eval_wall_seconds"], ours["validation_ndcg10_per_eval"]) if v >= best["valid_ndcg10"]),
        None,
    )
    rb_test = {k.lower(): v for k, v in rb["test"].items()}
    ours_test = ours["test"]["full"]
    print(f"dataset: {prepared.stats.get('dataset')}  users={prepared.stats.get('num_users')}  "
          f"items={prepared.num_items}")
    print(f"RecBole budget: {len(rb['epochs'])} epochs (batch 2048, lr 1e-3: RecBole defaults); ours: "
          f"{len(ours['train_epoch_seconds'])} epochs")
    print(f"P1 epoch time: ours {ours_epoch:.1f} s / RecBole {rb_epoch:.1f} s = {ours_epoch / rb_epoch:.3f}")
    if reach is None:
        print(f"P1 time to RecBole's best valid NDCG@10 ({best['valid_ndcg10']:.4f} at {best['wall_seconds']:.0f} s): "
              "not reached by ours")
    else:
        print(f"P1 time to RecBole's best valid NDCG@10 ({best['valid_ndcg10']:.4f}): ours {reach:.1f} s / RecBole "
              f"{best['wall_seconds']:.1f} s = {reach / best['wall_seconds']:.3f}")
    print(f"P2 test NDCG@10: ours {ours_test['NDCG@10']:.4f} - RecBole {rb_test['ndcg@10']:.4f} = "
          f"{ours_test['NDCG@10'] - rb_test['ndcg@10']:+.4f}")
    print(f"P2 test HR@10:   ours {ours_test['HR@10']:.4f} - RecBole {rb_test['hit@10']:.4f} = "
          f"{ours_test['HR@10'] - rb_test['hit@10']:+.4f}")
    print(f"popularity test: NDCG@10 {pop['NDCG@10']:.4f}  HR@10 {pop['HR@10']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
