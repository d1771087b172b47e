"""Soft-prompt injection (hf_delrec.injection) and the SoftPrompt config/model pair."""

import pytest
import torch
from tiny_models import make_tiny_causal_lm, make_tiny_t5
from transformers import AutoConfig, AutoModel

import hf_delrec  # noqa: F401  (Auto registration)
from hf_delrec.injection import (
    SoftPromptEmbedding,
    attach_soft_prompt,
    detach_soft_prompt,
    embed_with_injections,
    get_soft_prompt_embedding,
)
from hf_delrec.models.soft_prompt import SoftPrompt, SoftPromptConfig


def test_embed_with_injections_row_major_and_out_of_vocab_ids():
    emb = torch.nn.Embedding(10, 4)
    ph = [50, 51]  # >= vocabulary size: no resize needed
    ids = torch.tensor([[1, 50, 2, 51], [51, 3, 4, 5]])
    values = torch.arange(12, dtype=torch.float).view(3, 4).requires_grad_(True)
    out = embed_with_injections(emb, ids, ph, values)
    assert out.shape == (2, 4, 4)
    # k-th placeholder occurrence in row-major order gets values[k]
    assert torch.equal(out[0, 1], values[0].detach())
    assert torch.equal(out[0, 3], values[1].detach())
    assert torch.equal(out[1, 0], values[2].detach())
    assert torch.equal(out[0, 0], emb.weight[1].detach())
    assert torch.equal(out[1, 3], emb.weight[5].detach())
    out.sum().backward()
    assert torch.equal(values.grad, torch.ones_like(values))


def test_embed_with_injections_count_mismatch_is_an_error():
    emb = torch.nn.Embedding(10, 4)
    with pytest.raises(ValueError, match="2 placeholder positions"):
        embed_with_injections(emb, torch.tensor([[1, 9, 9]]), [9], torch.zeros(3, 4))
    with pytest.raises(ValueError, match="width"):
        embed_with_injections(emb, torch.tensor([[1, 9]]), [9], torch.zeros(1, 5))


def _soft_ids(tok, prompt):
    return tok.convert_tokens_to_ids(prompt.config.soft_tokens)


def test_wrapper_mid_template_tied_embeddings_generate_and_detach():
    model, tok = make_tiny_causal_lm(tie_word_embeddings=True)
    base = model.get_input_embeddings()
    prompt = SoftPrompt.for_llm(model, num_soft_tokens=3)
    wrapper = attach_soft_prompt(model, prompt, tokenizer=tok)
    assert isinstance(wrapper, SoftPromptEmbedding) and get_soft_prompt_embedding(model) is wrapper
    assert model.get_input_embeddings().weight is base.weight  # tie/resize helpers see the real matrix
    assert model.lm_head.weight is base.weight
    soft = "".join(prompt.config.soft_tokens)
    ids = tok(f"the user watched heat . {soft} next the user will watch", return_tensors="pt").input_ids
    pos = torch.isin(ids[0], torch.tensor(_soft_ids(tok, prompt))).nonzero().flatten()
    assert len(pos) == 3 and pos[0] > 0 and pos[-1] < ids.shape[1] - 1  # placed inside the text
    # the injected rows are exactly the soft prompt rows, the others the base embeddings
    e = wrapper(ids)
    assert torch.equal(e[0, pos], prompt.weight.detach())
    assert torch.equal(e[0, 0], base.weight[ids[0, 0]].detach())
    out = model(ids).logits
    out.sum().backward()
    assert prompt.weight.grad is not None and prompt.weight.grad.abs().sum() > 0
    gen = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert gen.shape[1] == ids.shape[1] + 3
    assert not torch.isin(gen[0, ids.shape[1]:], torch.tensor(_soft_ids(tok, prompt))).any()
    # changing the prompt changes the output (it is really used)
    with torch.no_grad():
        l1 = model(ids).logits
        prompt.weight.add_(1.0)
        l2 = model(ids).logits
    assert not torch.allclose(l1, l2)
    assert detach_soft_prompt(model) is prompt
    assert model.get_input_embeddings() is base
    assert "base" not in "".join(model.state_dict().keys())


def test_wrapper_on_t5_reaches_encoder_and_decoder():
    model, tok = make_tiny_t5()
    prompt = SoftPrompt.for_llm(model, num_soft_tokens=2)
    attach_soft_prompt(model, prompt, tokenizer=tok)
    assert isinstance(model.get_encoder().embed_tokens, SoftPromptEmbedding)
    ids = tok("history " + "".join(prompt.config.soft_tokens) + " heat", return_tensors="pt").input_ids
    loss = model(input_ids=ids, labels=tok("casino", return_tensors="pt").input_ids).loss
    loss.backward()
    assert prompt.weight.grad.abs().sum() > 0


def test_wrapper_rejects_mismatched_prompt():
    model, tok = make_tiny_causal_lm()
    bad = SoftPrompt(SoftPromptConfig(num_soft_tokens=2, hidden_size=7))
    with pytest.raises(ValueError, match="width"):
        attach_soft_prompt(model, bad, soft_token_ids=[500, 501])
    ok = SoftPrompt.for_llm(model, num_soft_tokens=2)
    with pytest.raises(ValueError, match="2 rows"):
        attach_soft_prompt(model, ok, soft_token_ids=[500, 501, 502])


def test_soft_prompt_save_load_auto_and_text_init(tmp_path):
    model, tok = make_tiny_causal_lm()
    prompt = SoftPrompt.for_llm(model, tokenizer=tok, num_soft_tokens=5, init="text", init_text="the user",
                                teacher_model_type="sasrec")
    text_ids = tok("the user", add_special_tokens=False)["input_ids"]
    emb = model.get_input_embeddings().weight
    assert torch.equal(prompt.weight[0], emb[text_ids[0]])
    assert torch.equal(prompt.weight[len(text_ids)], emb[text_ids[0]])  # tiled to K rows
    prompt.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    cfg = AutoConfig.from_pretrained(tmp_path)
    assert cfg.model_type == "delrec_soft_prompt" and cfg.num_soft_tokens == 5 and cfg.teacher_model_type == "sasrec"
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, SoftPrompt) and torch.equal(loaded.weight, prompt.weight)


def test_soft_prompt_config_validation():
    assert SoftPromptConfig(num_soft_tokens=3).soft_tokens == ["<|delrec_soft_0|>", "<|delrec_soft_1|>",
                                                                "<|delrec_soft_2|>"]
    with pytest.raises(Exception, match="init"):
        SoftPromptConfig(init="vocab")
    with pytest.raises(Exception, match="init_text"):
        SoftPromptConfig(init="text")
    with pytest.raises(Exception, match="soft_tokens"):
        SoftPromptConfig(num_soft_tokens=2, soft_tokens=["a"])
    with pytest.raises(Exception, match="num_soft_tokens"):
        SoftPromptConfig(num_soft_tokens=0, soft_tokens=[])
