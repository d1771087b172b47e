"""DELRec stage 2: training data, SFTTrainer + LoRA/AdaLoRA on a tiny LLM, the sft command."""

import json

import pytest
import torch
import yaml

import hf_delrec  # noqa: F401
from delrec_synthetic import make_prepared, write_prepared
from hf_delrec.models.soft_prompt import SoftPrompt
from hf_delrec.trainers.sft_config import DELRecSFTConfig, DELRecSFTScriptArguments
from hf_delrec.trainers.sft_data import SFTDataReport, ranking_rows, training_pairs
from tiny_models import make_tiny_causal_lm

TRAIN_KW = dict(use_cpu=True, report_to=[], bf16=False, activation_checkpointing=False, save_strategy="no",
                logging_steps=1, per_device_train_batch_size=4, num_candidates=5, learning_rate=5e-3, seed=0,
                lora_target_modules=["q_proj", "v_proj"])


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage2")
    make_tiny_causal_lm(root / "lm", tie_word_embeddings=True)
    from transformers import AutoModelForCausalLM

    llm = AutoModelForCausalLM.from_pretrained(str(root / "lm"))
    torch.manual_seed(0)
    prompt = SoftPrompt.for_llm(llm, num_soft_tokens=4, teacher_model_type="delrec_gru4rec", init_std=0.3)
    prompt.save_pretrained(root / "prompt")
    return root


def test_training_pairs_use_training_sequence_only():
    prep = make_prepared(num_users=10, seq_len=8)
    report = SFTDataReport()
    pairs = training_pairs(prep.examples["train"], num_candidates=5, examples_per_user=None, report=report, seed=3)
    val = {r["user_id"]: r["target"] for r in prep.examples["validation"]}
    test = {r["user_id"]: r["target"] for r in prep.examples["test"]}
    train = {r["user_id"]: list(r["history"]) + [r["target"]] for r in prep.examples["train"]}
    assert len(pairs) == 10 * 5 and report.num_examples == 50  # 6-item training sequence -> 5 prefixes
    for p in pairs:
        seq = train[p["user_id"]]
        assert p["target"] != val[p["user_id"]] and p["target"] != test[p["user_id"]]
        assert seq[: len(p["history"]) + 1] == p["history"] + [p["target"]]
        assert p["candidates"].count(p["target"]) == 1 and len(set(p["candidates"])) == 5
        assert not set(p["candidates"]) & set(seq) - {p["target"]}


def test_training_pairs_budget_round_robin_and_report():
    prep = make_prepared(num_users=10, seq_len=8)
    report = SFTDataReport()
    pairs = training_pairs(prep.examples["train"], num_candidates=5, examples_per_user=3, max_train_examples=15,
                           report=report)
    assert len(pairs) == 15
    assert len({p["user_id"] for p in pairs}) == 10  # the budget spreads over users: every most recent prefix first
    assert report.examples_per_position == {0: 10, 1: 5}
    assert report.skipped == {"over the max_train_examples budget": 30 - 15}
    report = SFTDataReport()
    assert training_pairs(prep.examples["train"], num_candidates=40, report=report) == []
    assert report.skipped == {"fewer than 39 negatives": 10}


def test_ranking_rows_checks_targets():
    prep = make_prepared(num_users=6)
    rows = ranking_rows(prep.examples["test"], num_users=4, seed=1)
    assert len(rows) == 4 and rows == ranking_rows(prep.examples["test"], num_users=4, seed=1)
    bad = [dict(r, candidates=[x for x in r["candidates"] if x != r["target"]]) for r in prep.examples["test"]]
    with pytest.raises(ValueError, match="occurs 0 times"):
        ranking_rows(bad)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_stage2_lora_trains_only_the_adapter(parts, tmp_path):
    from transformers import AutoModel

    from hf_delrec.trainers.sft_trainer import build_delrec_model, train_stage2

    prep = make_prepared(num_users=12)
    script = DELRecSFTScriptArguments(model_name_or_path=str(parts / "lm"), soft_prompt_path=str(parts / "prompt"),
                                      max_history_items=4)
    model = build_delrec_model(script, prep, num_candidates=5)
    base_before = _snapshot(model.llm.get_input_embeddings().base) | {
        k: v.clone() for k, v in model.llm.named_parameters() if "layers.0" in k}
    prompt_before = model.soft_prompt.weight.detach().clone()
    args = DELRecSFTConfig(output_dir=str(tmp_path / "out"), max_steps=4, hr_eval_steps=2, hr_eval_num_users=6,
                           examples_per_user=2, **TRAIN_KW)
    res = train_stage2(script, args, prepared=prep, llm=model.llm, tokenizer=model.tokenizer)

    out = tmp_path / "out"
    assert res["global_steps"] == 4 and res["num_train_examples"] == 24
    assert 0 < res["trainable_parameters"] < res["total_parameters"] / 10
    # Base weights and the soft prompt are untouched; only LoRA moved.
    assert torch.equal(model.soft_prompt.weight, prompt_before)
    for k, v in model.llm.named_parameters():
        if "lora_" not in k and "layers.0" in k:
            assert torch.equal(v, base_before[k.replace("base_model.model.", "").replace(".base_layer", "")]), k
    assert torch.equal(model.llm.get_input_embeddings().base.weight, base_before["weight"])
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in model.llm.named_parameters())
    # The validation curve: evaluated before training and every 2 steps, saved as JSON and PNG.
    curve = json.loads((out / "validation_hr1.json").read_text())
    assert [c["step"] for c in curve] == [0, 2, 4] and all(c["num_examples"] == 6 for c in curve)
    assert (out / "validation_hr1.png").stat().st_size > 1000
    assert not (out / "trainer").exists() and not (out / "adapter_config.json").exists()
    assert json.loads((out / "config.json").read_text())["teacher_name"] == "GRU4Rec"  # from the prompt's provenance
    reloaded = AutoModel.from_pretrained(str(out))
    assert reloaded.has_lora and torch.equal(reloaded.soft_prompt.weight, prompt_before)


def test_stage2_adalora_allocates_and_keeps_regulariser(parts, tmp_path):
    from hf_delrec.trainers.sft_trainer import AdaLoraRankCallback, DELRecSFTTrainer, build_delrec_model
    from hf_delrec.trainers.sft_data import to_prompt_completion

    prep = make_prepared(num_users=8)
    script = DELRecSFTScriptArguments(model_name_or_path=str(parts / "lm"), soft_prompt_path=str(parts / "prompt"))
    model = build_delrec_model(script, prep, num_candidates=5)
    pairs = training_pairs(prep.examples["train"], num_candidates=5, examples_per_user=2)
    ds = to_prompt_completion(pairs, prep.titles, model.format_prompt, model.format_completion)
    args = DELRecSFTConfig(output_dir=str(tmp_path / "t"), max_steps=3, peft_type="adalora", adalora_init_r=4,
                           adalora_target_r=2, adalora_orth_reg_weight=0.5, **TRAIN_KW)
    trainer = DELRecSFTTrainer(model=model.llm, args=args, train_dataset=ds, processing_class=model.tokenizer)
    cb = next(c for c in trainer.callback_handler.callbacks if isinstance(c, AdaLoraRankCallback))
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    trainer.model.train()
    with_reg = trainer.compute_loss(trainer.model, dict(batch))
    nll = super(DELRecSFTTrainer, trainer).compute_loss(trainer.model, dict(batch))
    assert with_reg.item() > nll.item() + 1e-3  # the orthogonal regulariser is in the optimised loss
    trainer.train()
    assert cb.num_calls == 3
    assert "orth_regulariser" in trainer.state.log_history[0]


def test_sft_command(parts, tmp_path, capsys):
    from hf_delrec.commands import sft

    data = write_prepared(tmp_path / "data", num_users=8)
    recipe = {"data_dir": str(data), "model_name_or_path": str(parts / "lm"), "soft_prompt_path": None,
              "output_dir": str(tmp_path / "lora_only"), "max_steps": 2, "examples_per_user": 1,
              **{k: v for k, v in TRAIN_KW.items() if k != "lora_target_modules"}}
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert sft.main([str(path), "lora_target_modules=q_proj,v_proj"]) == 0
    assert "stage 2 done: 2 steps on 8 examples" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "lora_only" / "config.json").read_text())
    assert cfg["soft_prompt"] is None and cfg["lora_subfolder"] == "lora"
    # Existing output is never overwritten silently; a bad key names itself.
    assert sft.main([str(path), "lora_target_modules=q_proj,v_proj"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert sft.main([str(path), "no_such_key=1"]) == 2
    assert "no_such_key" in capsys.readouterr().err


@pytest.mark.parametrize("num_items_in_batch", [None, 37])
def test_completion_only_logits_equal_trl_loss_and_gradient(parts, tmp_path, num_items_in_batch):
    """The memory-saving loss (LM head on the answer positions only) is TRL's fused loss, value and gradient."""
    from hf_delrec.trainers.sft_data import to_prompt_completion
    from hf_delrec.trainers.sft_trainer import DELRecSFTTrainer, build_delrec_model

    prep = make_prepared(num_users=8)
    script = DELRecSFTScriptArguments(model_name_or_path=str(parts / "lm"), soft_prompt_path=str(parts / "prompt"))
    model = build_delrec_model(script, prep, num_candidates=5)
    pairs = training_pairs(prep.examples["train"], num_candidates=5, examples_per_user=2)
    ds = to_prompt_completion(pairs, prep.titles, model.format_prompt, model.format_completion)
    args = DELRecSFTConfig(output_dir=str(tmp_path / "t"), max_steps=1, **TRAIN_KW)
    trainer = DELRecSFTTrainer(model=model.llm, args=args, train_dataset=ds, processing_class=model.tokenizer)
    assert args.completion_only_logits
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    lengths = batch["attention_mask"].sum(-1)
    assert lengths.min() < lengths.max()  # right padding of rows of different lengths is exercised
    trainer.model.eval()  # no dropout: both losses see the same network
    lora = [p for n, p in trainer.model.named_parameters() if p.requires_grad]

    def loss_and_grads(fn):
        trainer.model.zero_grad()
        loss = fn(trainer.model, dict(batch), num_items_in_batch=num_items_in_batch)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in lora]

    ours, g_ours = loss_and_grads(trainer.compute_loss)
    trl_loss, g_trl = loss_and_grads(super(DELRecSFTTrainer, trainer).compute_loss)
    torch.testing.assert_close(ours, trl_loss, rtol=1e-5, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in g_ours)
    for a, b in zip(g_ours, g_trl):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    trainer._metrics["eval"].clear()
    trainer.compute_loss(trainer.model, dict(batch))
    acc = trainer._metrics["eval"]["mean_token_accuracy"]
    assert len(acc) == 1 and 0.0 <= acc[0] <= 1.0 and trainer._metrics["eval"]["entropy"][0] > 0
