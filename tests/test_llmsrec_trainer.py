"""LLMSRecTrainer on tiny models: trains only the small parts, evaluates HR@10 with early stopping, reloads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset
from test_llmsrec_model import NUM_ITEMS, TITLES, make_parts
from transformers import AutoModel

from hf_delrec.models.llmsrec import LLMSRecPromptBuilder
from hf_delrec.trainers.llmsrec_config import LLMSRecTrainingConfig
from hf_delrec.trainers.llmsrec_trainer import (
    LLMSRecCollator,
    LLMSRecTrainer,
    candidate_lists,
    rank_llmsrec,
    rank_popularity,
    rank_teacher,
)


def split(seed=0, users=8, with_empty=False):
    rng = np.random.default_rng(seed)
    rows = {"user_id": [], "history": [], "history_timestamps": [], "target": [], "negatives": []}
    for u in range(users):
        seq = rng.permutation(np.arange(1, NUM_ITEMS + 1))[:5].tolist()
        hist = [] if with_empty and u == 0 else seq[:-1]
        rows["user_id"].append(u + 1)
        rows["history"].append(hist)
        rows["history_timestamps"].append([1_000_000 + 86400 * k for k in range(len(hist))])
        rows["target"].append(seq[-1])
        rows["negatives"].append([i for i in range(1, NUM_ITEMS + 1) if i not in seq][:5])
    return Dataset.from_dict(rows)


def args(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], bf16=False, seed=0,
                per_device_train_batch_size=2, max_steps=4, eval_strategy="steps", eval_steps=2,
                save_strategy="steps", save_steps=2, load_best_model_at_end=True, eval_num_candidates=6,
                eval_max_users=4, logging_steps=1, learning_rate=1e-2, early_stopping_patience=5,
                num_train_negatives=2, disable_tqdm=True)
    base.update(kw)
    return LLMSRecTrainingConfig(**base)


def test_collator_samples_distinct_unseen_negatives_and_is_seeded(tmp_path):
    model, *_ = make_parts(tmp_path)
    prompts = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    rows = list(split())
    b1 = LLMSRecCollator(prompts, num_negatives=3, teacher_max_seq_length=3, seed=1)(rows)
    b2 = LLMSRecCollator(prompts, num_negatives=3, teacher_max_seq_length=3, seed=1)(rows)
    assert torch.equal(b1["item_ids"], b2["item_ids"])
    for row, ids in zip(rows, b1["item_ids"].tolist()):
        assert ids[0] == row["target"] and len(set(ids)) == 4
        assert not set(ids[1:]) & (set(row["history"]) | {row["target"]})
    assert b1["item_input_ids"].shape[0] == 4 * len(rows)
    assert b1["teacher_input_ids"].shape == (len(rows), 3)  # cropped to the most recent 3, left-padded
    assert b1["teacher_input_ids"][0].tolist() == rows[0]["history"][-3:]
    assert b1["user_history_ids"].shape[1] == model.config.max_history_items
    with pytest.raises(ValueError, match="cannot draw"):
        LLMSRecCollator(prompts, num_negatives=NUM_ITEMS, seed=0)(rows[:1])


@pytest.mark.slow
def test_trainer_trains_projectors_only_evaluates_and_reloads(tmp_path):
    model, llm, tok, teacher = make_parts(tmp_path)
    llm_before = {k: v.clone() for k, v in llm.state_dict().items()}
    proj_before = model.item_projector[0].weight.clone()
    prompts = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    train, valid = split(0, with_empty=True), split(1)
    trainer = LLMSRecTrainer(model=model, args=args(tmp_path), prompts=prompts, train_dataset=train,
                             eval_dataset=valid)
    assert trainer.dropped_train_rows == 1 and len(trainer.train_dataset) == len(train) - 1
    result = trainer.train()
    assert result.global_step == 4
    logs = trainer.state.log_history
    assert any("retrieval_loss" in h and "distill_loss" in h and "uniformity_loss" in h for h in logs)
    evals = [h for h in logs if "eval_HR@10" in h]
    assert len(evals) == 2 and all(0.0 <= h["eval_NDCG@10"] <= 1.0 for h in evals)
    assert trainer.state.best_metric is not None
    assert not torch.equal(model.item_projector[0].weight, proj_before)
    for k, v in llm.state_dict().items():
        assert torch.equal(v, llm_before[k]), k
    # evaluate() gives the same metrics twice (deterministic) and on reload through AutoModel
    m1 = trainer.evaluate()
    model.save_pretrained(tmp_path / "final")
    reloaded = AutoModel.from_pretrained(tmp_path / "final")
    r1 = rank_llmsrec(model, prompts, trainer.eval_dataset, num_candidates=6)
    r2 = rank_llmsrec(reloaded, LLMSRecPromptBuilder(reloaded.tokenizer, TITLES, reloaded.config),
                      trainer.eval_dataset, num_candidates=6)
    assert np.array_equal(r1, r2)
    assert m1["eval_HR@10"] == trainer.evaluate()["eval_HR@10"]


@pytest.mark.slow
def test_early_stopping_stops_training(tmp_path):
    model, *_ = make_parts(tmp_path)
    prompts = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    # lr 0: the metric never improves after the first validation -> stop after `patience` more validations.
    trainer = LLMSRecTrainer(model=model, args=args(tmp_path, max_steps=20, eval_steps=1, save_steps=1,
                                                     learning_rate=0.0, early_stopping_patience=2),
                             prompts=prompts, train_dataset=split(0), eval_dataset=split(1))
    result = trainer.train()
    assert result.global_step == 3


def test_baseline_rankers_use_the_same_candidates(tmp_path):
    model, llm, tok, teacher = make_parts(tmp_path)
    valid = split(1)
    cands = candidate_lists(valid, 4)
    assert all(c[0] == t for c, t in zip(cands, valid["target"]))
    with pytest.raises(ValueError, match="prepared negatives"):
        candidate_lists(valid, 10)
    pop = rank_popularity(split(0), valid, 4)
    teach = rank_teacher(teacher, valid, 4)
    assert pop.shape == teach.shape == (len(valid),) and pop.min() >= 1 and teach.max() <= 4


@pytest.mark.slow
def test_time_budget_stops_after_a_final_validation(tmp_path):
    model, *_ = make_parts(tmp_path)
    prompts = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    trainer = LLMSRecTrainer(model=model, args=args(tmp_path, max_steps=50, eval_steps=100, save_steps=100,
                                                     max_train_minutes=1e-6),
                             prompts=prompts, train_dataset=split(0), eval_dataset=split(1))
    result = trainer.train()
    assert result.global_step == 1 and trainer.time_budget.stopped_at_step == 1
    assert [h["step"] for h in trainer.state.log_history if "eval_HR@10" in h] == [1]
    assert trainer.state.best_model_checkpoint is not None
