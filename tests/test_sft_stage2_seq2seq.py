"""DELRec stage 2 on an encoder-decoder LLM (the paper's Flan-T5): LoRA/AdaLoRA through Seq2SeqDELRecSFTTrainer."""

import json

import pytest
import torch

import hf_delrec  # noqa: F401
from delrec_synthetic import make_prepared
from hf_delrec.models.soft_prompt import SoftPrompt
from hf_delrec.trainers.sft_config import DELRecSFTConfig, DELRecSFTScriptArguments
from hf_delrec.trainers.sft_data import to_prompt_completion, training_pairs
from tiny_models import make_tiny_t5

from test_sft_stage2 import TRAIN_KW as CAUSAL_TRAIN_KW

TRAIN_KW = {**CAUSAL_TRAIN_KW, "lora_target_modules": ["q", "v"]}  # T5's attention projections


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("stage2_t5")
    llm, _ = make_tiny_t5(root / "t5")
    torch.manual_seed(0)
    SoftPrompt.for_llm(llm, num_soft_tokens=4, init_std=0.3).save_pretrained(root / "prompt")
    return root


def _script(parts, **kw):
    return DELRecSFTScriptArguments(model_name_or_path=str(parts / "t5"), soft_prompt_path=str(parts / "prompt"),
                                    max_history_items=4, **kw)


def test_seq2seq_stage2_trains_only_lora_and_reloads_with_the_same_scores(parts, tmp_path):
    from transformers import AutoModel

    from hf_delrec.trainers.sft_trainer import build_delrec_model, train_stage2

    prep = make_prepared(num_users=12)
    script = _script(parts)
    model = build_delrec_model(script, prep, num_candidates=5)
    assert model.llm.config.is_encoder_decoder
    frozen_before = {k: v.detach().clone() for k, v in model.llm.named_parameters()}
    prompt_before = model.soft_prompt.weight.detach().clone()
    args = DELRecSFTConfig(output_dir=str(tmp_path / "out"), max_steps=4, hr_eval_steps=2, hr_eval_num_users=6,
                           examples_per_user=2, **TRAIN_KW)
    res = train_stage2(script, args, prepared=prep, llm=model.llm, tokenizer=model.tokenizer)

    assert res["global_steps"] == 4 and res["num_train_examples"] == 24
    assert 0 < res["trainable_parameters"] < res["total_parameters"] / 5
    assert torch.equal(model.soft_prompt.weight, prompt_before)
    after = dict(model.llm.named_parameters())
    base_after = {k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in after.items()
                  if "lora_" not in k}
    assert set(base_after) == set(frozen_before)
    for k, v in frozen_before.items():  # every base weight (encoder, decoder, shared embedding) is untouched
        assert torch.equal(base_after[k], v) and not base_after[k].requires_grad, k
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in after.items())
    out = tmp_path / "out"
    curve = json.loads((out / "validation_hr1.json").read_text())
    assert [c["step"] for c in curve] == [0, 2, 4]
    assert not (out / "adapter_config.json").exists()
    adapter = json.loads((out / "lora" / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_2_SEQ_LM" and adapter["target_modules"] and set(adapter["target_modules"]) == {
        "q", "v"}

    reloaded = AutoModel.from_pretrained(str(out))
    assert reloaded.has_lora and reloaded.llm.config.is_encoder_decoder
    hist, cands = [[1, 2, 3]], [[4, 5, 6, 7, 8]]
    torch.testing.assert_close(reloaded.score_candidates(hist, cands), model.score_candidates(hist, cands))
    # ... and the adapter matters: without LoRA the same model scores differently.
    no_lora = build_delrec_model(script, prep, num_candidates=5)
    assert not torch.allclose(no_lora.score_candidates(hist, cands), reloaded.score_candidates(hist, cands))


def test_seq2seq_training_loss_is_the_scorers_target_likelihood(parts, tmp_path):
    """The label tokens the trainer fits are the tokens full-title ranking scores: mean NLL x tokens == -score."""
    from hf_delrec.trainers.sft_trainer import Seq2SeqDELRecSFTTrainer, build_delrec_model, make_sft_trainer

    prep = make_prepared(num_users=6)
    model = build_delrec_model(_script(parts), prep, num_candidates=5)
    pairs = training_pairs(prep.examples["train"], num_candidates=5, examples_per_user=1)
    ds = to_prompt_completion(pairs, prep.titles, model.format_prompt, model.format_completion)
    args = DELRecSFTConfig(output_dir=str(tmp_path / "t"), max_steps=1, **TRAIN_KW)
    trainer = make_sft_trainer(model.llm, args, train_dataset=ds, processing_class=model.tokenizer)
    assert isinstance(trainer, Seq2SeqDELRecSFTTrainer)
    model.llm = trainer.model
    model.llm.eval()
    row = trainer.train_dataset[0]
    batch = trainer.data_collator([row])
    with torch.no_grad():
        loss = trainer.compute_loss(model.llm, dict(batch))
    p = pairs[0]
    scores = model.score_prompts([ds[0]["prompt"]], [[prep.titles[c] for c in p["candidates"]]])
    target = p["candidates"].index(p["target"])
    n_tokens = int((batch["labels"] != -100).sum())
    assert n_tokens == len(model.tokenizer(ds[0]["completion"], add_special_tokens=False)["input_ids"])
    torch.testing.assert_close(-loss * n_tokens, scores[0, target], rtol=1e-4, atol=1e-4)


def test_seq2seq_adalora_keeps_regulariser_and_reallocates(parts, tmp_path):
    from hf_delrec.trainers.sft_trainer import AdaLoraRankCallback, build_delrec_model, make_sft_trainer

    prep = make_prepared(num_users=8)
    model = build_delrec_model(_script(parts), prep, num_candidates=5)
    pairs = training_pairs(prep.examples["train"], num_candidates=5, examples_per_user=2)
    ds = to_prompt_completion(pairs, prep.titles, model.format_prompt, model.format_completion)
    args = DELRecSFTConfig(output_dir=str(tmp_path / "t"), max_steps=3, peft_type="adalora", adalora_init_r=4,
                           adalora_target_r=2, adalora_orth_reg_weight=0.5, **TRAIN_KW)
    trainer = make_sft_trainer(model.llm, args, train_dataset=ds, processing_class=model.tokenizer)
    cb = next(c for c in trainer.callback_handler.callbacks if isinstance(c, AdaLoraRankCallback))
    batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(4)]))
    trainer.model.train()
    torch.manual_seed(0)
    with_reg = trainer.compute_loss(trainer.model, dict(batch))
    trainer.model.base_model.peft_config["default"].orth_reg_weight = 0.0
    torch.manual_seed(0)
    without = trainer.compute_loss(trainer.model, dict(batch))
    trainer.model.base_model.peft_config["default"].orth_reg_weight = 0.5
    assert with_reg.item() > without.item() + 1e-4
    trainer.train()
    assert cb.num_calls == 3


def test_seq2seq_rows_without_prompt_completion_are_refused(parts, tmp_path):
    from datasets import Dataset

    from hf_delrec.trainers.sft_trainer import Seq2SeqDELRecSFTTrainer, build_delrec_model

    prep = make_prepared(num_users=4)
    model = build_delrec_model(_script(parts), prep, num_candidates=5)
    args = DELRecSFTConfig(output_dir=str(tmp_path / "t"), max_steps=1, **TRAIN_KW)
    with pytest.raises(ValueError, match=r"train dataset: needs 'prompt' and 'completion'.*\['completion'\]"):
        Seq2SeqDELRecSFTTrainer(model.llm, args, train_dataset=Dataset.from_dict({"prompt": ["a"]}),
                                processing_class=model.tokenizer)


def test_seq2seq_long_prompts_are_truncated_and_counted(parts, tmp_path, caplog):
    from hf_delrec.trainers.sft_trainer import build_delrec_model, make_sft_trainer

    prep = make_prepared(num_users=4)
    model = build_delrec_model(_script(parts), prep, num_candidates=5)
    pairs = training_pairs(prep.examples["train"], num_candidates=5, examples_per_user=1)
    ds = to_prompt_completion(pairs, prep.titles, model.format_prompt, model.format_completion)
    lengths = [len(model.tokenizer(p)["input_ids"]) for p in ds["prompt"]]
    cut = min(lengths) - 1  # every row is longer
    args = DELRecSFTConfig(output_dir=str(tmp_path / "t"), max_steps=1, **{**TRAIN_KW, "max_length": cut})
    with caplog.at_level("WARNING"):
        trainer = make_sft_trainer(model.llm, args, train_dataset=ds, processing_class=model.tokenizer)
    longer = sum(n > cut for n in lengths)
    assert longer >= 2 and trainer.num_truncated_prompts == longer
    assert max(len(r) for r in trainer.train_dataset["input_ids"]) == cut
    assert len(trainer.train_dataset) == len(ds)  # truncated, never dropped
    assert f"{longer} train prompts longer than max_length={cut} were truncated" in caplog.text
