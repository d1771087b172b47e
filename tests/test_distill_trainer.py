"""Stage-1 distillation trainer: only the soft prompt learns, the LLM stays bit-identical, task weighting rules."""

import pytest
import torch
from datasets import Dataset
from tiny_models import make_tiny_causal_lm, make_tiny_t5

from hf_delrec.injection import attach_soft_prompt
from hf_delrec.models.soft_prompt import SoftPrompt
from hf_delrec.prompts import build_rps_example, build_ta_example, load_templates, render_example, soft_prompt_text
from hf_delrec.trainers.distill_config import DistillConfig
from hf_delrec.trainers.distill_trainer import (
    DistillDataCollator,
    DistillTrainer,
    Seq2SeqDistillTrainer,
    build_distill_row,
    make_distill_trainer,
)

TITLES = [""] + ("toy story|heat|casino|babe|jumanji|star wars|the godfather|twelve monkeys|braveheart|"
                 "dead man walking|portal|dota|half life|face cream").split("|")


def _rows(tok, prompt, n_users=8, tasks=("ta", "rps")):
    tpl = load_templates("movies")
    soft = soft_prompt_text(prompt.config.soft_tokens)
    ids = tok.convert_tokens_to_ids(prompt.config.soft_tokens)
    rows = []
    for u in range(n_users):
        h = [(u + i) % 6 + 1 for i in range(6)]
        topk = [7 + u % 3, 10, 11]
        neg = [i for i in range(1, len(TITLES)) if i not in h and i not in topk]
        row = {}
        for task in tasks:
            builder = build_ta_example if task == "ta" else build_rps_example
            ex = builder(h, topk, neg, num_candidates=4, seed=u)
            text, answers = render_example(ex, tpl, TITLES, soft_prompt=soft)
            row |= build_distill_row(tok, task, text, answers, ex.target_index, placeholder_ids=ids)
        rows.append(row)
    return Dataset.from_list(rows)


def _args(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[], bf16=False, max_steps=3,
                per_device_train_batch_size=4, logging_steps=1, learning_rate=0.05, disable_tqdm=True, seed=0)
    return DistillConfig(**(base | kw))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["causal_tied", "t5"])
def test_only_the_soft_prompt_changes(kind, tmp_path):
    model, tok = make_tiny_causal_lm(tie_word_embeddings=True) if kind == "causal_tied" else make_tiny_t5()
    prompt = SoftPrompt.for_llm(model, num_soft_tokens=4)
    attach_soft_prompt(model, prompt, tokenizer=tok)
    ds = _rows(tok, prompt)
    llm_before = {k: v.clone() for k, v in model.state_dict().items() if ".prompt." not in k}
    p0 = prompt.weight.detach().clone()
    trainer = make_distill_trainer(model, _args(tmp_path), train_dataset=ds, processing_class=tok)
    assert isinstance(trainer, DistillTrainer if kind == "causal_tied" else Seq2SeqDistillTrainer)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".prompt." in n for n in trainable)
    trainer.train()
    llm_after = {k: v for k, v in model.state_dict().items() if ".prompt." not in k}
    assert llm_before.keys() == llm_after.keys()
    assert all(torch.equal(llm_before[k], llm_after[k]) for k in llm_before)  # bit-identical
    assert not torch.equal(p0, prompt.weight.detach())
    logs = [h for h in trainer.state.log_history if "ta_weight" in h]
    assert logs and all(abs(h["ta_weight"] + h["rps_weight"] - 1) < 1e-6 for h in logs)
    # save_model writes the soft prompt, not the LLM
    trainer.save_model(str(tmp_path / "saved"))
    saved = SoftPrompt.from_pretrained(tmp_path / "saved")
    assert torch.equal(saved.weight, prompt.weight.detach())


def test_gradnorm_step_gradient_is_the_weighted_sum_of_task_gradients(tmp_path):
    model, tok = make_tiny_causal_lm()
    prompt = SoftPrompt.for_llm(model, num_soft_tokens=3)
    attach_soft_prompt(model, prompt, tokenizer=tok)
    ds = _rows(tok, prompt, n_users=4)
    trainer = DistillTrainer(model, _args(tmp_path, gradnorm_alpha=0.5), train_dataset=ds, processing_class=tok)
    batch = DistillDataCollator(tok.pad_token_id)([ds[i] for i in range(4)])
    model.train()
    grads, losses = {}, {}
    for t in ("ta", "rps"):
        prompt.weight.grad = None
        loss = trainer.compute_loss(model, {t: batch[t]})  # one task: plain CE
        loss.backward()
        grads[t], losses[t] = prompt.weight.grad.clone(), loss.item()
    n = {t: grads[t].norm().item() for t in grads}
    w = {t: n[t] ** -0.5 / (n["ta"] ** -0.5 + n["rps"] ** -0.5) for t in n}
    prompt.weight.grad = None
    loss = trainer.compute_loss(model, batch)
    assert loss.item() == pytest.approx(w["ta"] * losses["ta"] + w["rps"] * losses["rps"], rel=1e-5)
    loss.backward()
    expected = w["ta"] * grads["ta"] + w["rps"] * grads["rps"]
    assert torch.allclose(prompt.weight.grad, expected, atol=1e-6, rtol=1e-4)


def test_fixed_weights(tmp_path):
    model, tok = make_tiny_causal_lm()
    prompt = SoftPrompt.for_llm(model, num_soft_tokens=3)
    attach_soft_prompt(model, prompt, tokenizer=tok)
    ds = _rows(tok, prompt, n_users=4)
    batch = DistillDataCollator(tok.pad_token_id)([ds[i] for i in range(4)])
    plain = DistillTrainer(model, _args(tmp_path, task_weighting="fixed"), train_dataset=ds, processing_class=tok)
    l_ta = plain.compute_loss(model, {"ta": batch["ta"]}).item()
    l_rps = plain.compute_loss(model, {"rps": batch["rps"]}).item()
    args = _args(tmp_path, task_weighting="fixed", ta_weight=2.0, rps_weight=0.5)
    trainer = DistillTrainer(model, args, train_dataset=ds, processing_class=tok)
    assert trainer.compute_loss(model, batch).item() == pytest.approx(2.0 * l_ta + 0.5 * l_rps, rel=1e-5)


@pytest.mark.slow
def test_training_lowers_the_loss_and_evaluate_reports_accuracy(tmp_path):
    model, tok = make_tiny_causal_lm(seed=1)
    prompt = SoftPrompt.for_llm(model, num_soft_tokens=4)
    attach_soft_prompt(model, prompt, tokenizer=tok)
    ds = _rows(tok, prompt, n_users=4, tasks=("rps",))
    trainer = DistillTrainer(model, _args(tmp_path, max_steps=12, learning_rate=0.1), train_dataset=ds,
                             processing_class=tok)
    before = trainer.evaluate(ds)
    trainer.train()
    after = trainer.evaluate(ds)
    assert after["eval_loss"] < before["eval_loss"]
    assert after["eval_rps_num_examples"] == 4 and 0.0 <= after["eval_rps_accuracy"] <= 1.0


def test_config_and_trainer_errors(tmp_path):
    with pytest.raises(ValueError, match="scoring_method"):
        _args(tmp_path, scoring_method="verbalizer")
    with pytest.raises(ValueError, match="task_weighting"):
        _args(tmp_path, task_weighting="hydalearn")
    with pytest.raises(ValueError, match="gradient_checkpointing"):
        _args(tmp_path, activation_checkpointing=True)
    model, tok = make_tiny_causal_lm()
    with pytest.raises(ValueError, match="no soft prompt"):
        DistillTrainer(model, _args(tmp_path), processing_class=tok)
    with pytest.raises(ValueError, match="target_index"):
        build_distill_row(tok, "ta", "x :", [" heat"], 3)
