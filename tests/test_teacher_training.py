"""TeacherTrainer on a synthetic task with a learnable pattern; export leak-freedom and alignment; CLI round trip."""

import json

import numpy as np
import pytest
import torch
from teacher_synthetic import make_prepared, make_sequences, write_prepared_dir

import hf_delrec  # noqa: F401
from hf_delrec.evaluation import (
    CatalogueMismatchError,
    check_compatible,
    evaluate_popularity,
    evaluate_teacher,
    export_teacher_predictions,
)
from hf_delrec.models.gru4rec import GRU4RecConfig, GRU4RecModel
from hf_delrec.models.sasrec import SASRecConfig, SASRecModel
from hf_delrec.trainers.teacher_config import TeacherConfig
from hf_delrec.trainers.teacher_trainer import TeacherTrainer, build_eval_dataset, build_train_dataset


@pytest.fixture(scope="module")
def synthetic():
    sequences, successor = make_sequences(num_users=150, num_items=60, min_len=8, max_len=14, noise=0.1, seed=1)
    return make_prepared(sequences, 60, num_negatives=40, num_candidates=20, seed=1, shuffle_rows=True)


def _args(tmp_path, **kw):
    base = dict(
        output_dir=str(tmp_path / "ckpt"),
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        per_device_train_batch_size=32,
        learning_rate=5e-3,
        num_train_epochs=12,
        early_stopping_patience=3,
        seed=0,
    )
    base.update(kw)
    return TeacherConfig(**base)


@pytest.mark.slow
def test_training_lowers_loss_beats_popularity_and_restores_best(synthetic, tmp_path):
    torch.manual_seed(0)
    model = SASRecModel(
        SASRecConfig(num_items=60, hidden_size=32, max_seq_length=12, intermediate_size=64,
                     catalogue_fingerprint=synthetic.catalogue_fingerprint)
    )
    before = evaluate_teacher(model, synthetic, "validation", "full")["full"]["NDCG@10"]
    train_ds = build_train_dataset(synthetic.examples["train"], model)
    # one epoch supervises every (prefix -> next) pair of history + [target] exactly once
    expected_pairs = sum(len(h) for h in synthetic.examples["train"]["history"])
    assert int((train_ds.columns["labels"] != -100).sum()) == expected_pairs
    trainer = TeacherTrainer(
        model, _args(tmp_path), train_dataset=train_ds,
        eval_dataset=build_eval_dataset(synthetic.examples["validation"], 12),
    )
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert losses[-1] < 0.7 * losses[0]
    evals = [log["eval_NDCG@10"] for log in trainer.state.log_history if "eval_NDCG@10" in log]
    assert trainer.state.best_metric == pytest.approx(max(evals))
    # the restored model is the best checkpoint: its validation NDCG@10 equals the best one seen in training
    restored = evaluate_teacher(trainer.model, synthetic, "validation", "full")["full"]["NDCG@10"]
    assert restored == pytest.approx(trainer.state.best_metric, abs=1e-6)
    test = evaluate_teacher(trainer.model, synthetic, "test", "both")
    pop = evaluate_popularity(synthetic, "test", "both")
    assert test["full"]["NDCG@10"] > before + 0.2
    assert test["full"]["NDCG@10"] > pop["full"]["NDCG@10"] + 0.2
    assert test["sampled_20"]["HR@1"] > pop["sampled_20"]["HR@1"] + 0.2
    assert "sampled_100" not in test  # only 40 negatives were prepared: the protocol is skipped, not faked


def test_bce_and_cloze_training_steps_run(synthetic, tmp_path):
    from hf_delrec.models.bert4rec import BERT4RecConfig, BERT4RecModel

    for model in (
        GRU4RecModel(GRU4RecConfig(num_items=60, hidden_size=16, max_seq_length=10, loss_type="bce", num_negatives=8)),
        BERT4RecModel(BERT4RecConfig(num_items=60, hidden_size=16, max_seq_length=10, intermediate_size=32)),
    ):
        args = _args(tmp_path, max_steps=3, eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
        trainer = TeacherTrainer(model, args, train_dataset=build_train_dataset(synthetic.examples["train"], model))
        out = trainer.train()
        assert np.isfinite(out.training_loss)


def test_teacher_never_sees_validation_or_test_targets():
    # validation/test targets are items 91..100 and 101..110, which appear nowhere else
    rng = np.random.default_rng(0)
    sequences = []
    for u in range(10):
        body = [int(x) for x in rng.choice(np.arange(1, 91), size=8, replace=False)]
        sequences.append(body + [91 + u, 101 + u])
    prepared = make_prepared(sequences, 110, num_negatives=20, num_candidates=5)
    for model in (
        SASRecModel(SASRecConfig(num_items=110, hidden_size=8, max_seq_length=4, num_attention_heads=1)),
        GRU4RecModel(GRU4RecConfig(num_items=110, hidden_size=8, max_seq_length=4)),
    ):
        ds = build_train_dataset(prepared.examples["train"], model)
        seen = set(ds.columns["input_ids"].unique().tolist()) | set(ds.columns["labels"].unique().tolist())
        assert not seen & set(range(91, 111))
        assert set(range(1, 91)) >= (seen - {0, -100})


def test_export_is_aligned_with_users_and_uses_history_only(synthetic, tmp_path):
    import datasets

    torch.manual_seed(0)
    model = GRU4RecModel(
        GRU4RecConfig(num_items=60, hidden_size=16, max_seq_length=10,
                      catalogue_fingerprint=synthetic.catalogue_fingerprint)
    ).eval()
    out = export_teacher_predictions(model, synthetic, tmp_path / "teacher_predictions" / "gru4rec", k=5)
    exported = datasets.load_from_disk(str(out))
    info = json.loads((out / "teacher_info.json").read_text())
    assert info["k"] == 5 and info["splits"]["train"] == 150
    for split in ("train", "validation", "test"):
        rows = synthetic.examples[split]
        by_user = {u: h for u, h in zip(rows["user_id"], rows["history"])}
        target = {u: t for u, t in zip(rows["user_id"], rows["target"])}
        ex = exported[split]
        assert sorted(ex["user_id"]) == sorted(by_user)
        users = ex["user_id"]
        ids, scores = model.recommend([by_user[u] for u in users], k=5)
        assert ex["teacher_topk"] == ids.tolist()
        np.testing.assert_allclose(np.asarray(ex["teacher_scores"]), scores.numpy(), rtol=1e-6)
        # computed from the history only: with the target appended the predictions would differ for some users
        with_target, _ = model.recommend([by_user[u] + [target[u]] for u in users], k=5)
        assert (with_target != ids).any()
    with pytest.raises(FileExistsError):
        export_teacher_predictions(model, synthetic, out, k=5)


def test_catalogue_fingerprint_mismatch_refused(synthetic):
    model = GRU4RecModel(GRU4RecConfig(num_items=60, hidden_size=8, catalogue_fingerprint="0" * 64))
    with pytest.raises(CatalogueMismatchError, match="catalogue_fingerprint"):
        evaluate_teacher(model, synthetic)
    with pytest.raises(CatalogueMismatchError, match="61"):
        check_compatible(GRU4RecConfig(num_items=61), synthetic)


@pytest.mark.slow
def test_cli_train_evaluate_export(synthetic, tmp_path, capsys):
    from hf_delrec.cli import main

    data = write_prepared_dir(synthetic, tmp_path / "data")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "teacher: gru4rec\nhidden_size: 16\nmax_seq_length: 10\nlearning_rate: 0.005\n"
        "per_device_train_batch_size: 64\nnum_train_epochs: 2\nuse_cpu: true\ndisable_tqdm: true\n"
    )
    model_dir = tmp_path / "model"
    assert main(["train-teacher", str(recipe), f"data_dir={data}", f"output_dir={model_dir}"]) == 0
    assert {"config.json", "model.safetensors", "eval_results.json"} <= {p.name for p in model_dir.iterdir()}
    results = json.loads((model_dir / "eval_results.json").read_text())
    assert {"full", "sampled_20"} <= set(results["test"]) and len(results["train_epoch_seconds"]) == 2
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "delrec_gru4rec"
    assert config["catalogue_fingerprint"] == synthetic.catalogue_fingerprint
    # existing output is refused, not overwritten
    assert main(["train-teacher", str(recipe), f"data_dir={data}", f"output_dir={model_dir}"]) == 2
    capsys.readouterr()
    assert main(["evaluate", str(model_dir), "--data", str(data), "--protocol", "full"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["full"]["NDCG@10"] == pytest.approx(results["test"]["full"]["NDCG@10"])
    assert main(["export-teacher", str(model_dir), "--data", str(data), "--k", "7"]) == 0
    assert (data / "teacher_predictions" / "gru4rec" / "dataset_dict.json").is_file()
    # another catalogue (same size, other fingerprint) is refused with a clear error
    other = make_prepared(make_sequences(num_users=20, num_items=60, seed=5)[0], 60, num_negatives=30, raw_prefix="j")
    other_dir = tmp_path / "other"
    write_prepared_dir(other, other_dir)
    assert main(["evaluate", str(model_dir), "--data", str(other_dir)]) == 2
    assert "catalogue_fingerprint mismatch" in capsys.readouterr().err
