"""LLM-SRec on tiny local models: frozen LLM/teacher, gradients reach the projectors, losses, save/reload."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import make_tiny_causal_lm
from transformers import AutoConfig, AutoModel

import hf_delrec  # noqa: F401  (Auto registration)
from hf_delrec.models.llmsrec import LLMSRecConfig, LLMSRecModel, LLMSRecPromptBuilder, build_user_prompt
from hf_delrec.models.llmsrec.modeling_llmsrec import uniformity
from hf_delrec.models.sasrec import SASRecConfig, SASRecModel

NUM_ITEMS = 12
TITLES = [""] + [f"movie {i} ( 199{i % 10} )" for i in range(1, NUM_ITEMS + 1)]


def make_parts(tmp_path, tie=False, seed=0):
    llm_dir, teacher_dir = tmp_path / "llm", tmp_path / "teacher"
    llm, tok = make_tiny_causal_lm(llm_dir, tie_word_embeddings=tie, seed=seed)
    torch.manual_seed(seed)
    teacher = SASRecModel(SASRecConfig(num_items=NUM_ITEMS, hidden_size=16, max_seq_length=8, num_attention_heads=2,
                                       intermediate_size=32))
    teacher.save_pretrained(teacher_dir)
    config = LLMSRecConfig(base_model_name_or_path=str(llm_dir), teacher_name_or_path=str(teacher_dir),
                           llm_hidden_size=32, teacher_hidden_size=16, num_items=NUM_ITEMS, projection_dim=8,
                           head_hidden_size=16, cf_hidden_size=8, max_history_items=3, teacher_max_seq_length=8)
    torch.manual_seed(seed)
    model = LLMSRecModel(config).attach(llm=llm, tokenizer=tok, teacher=teacher, init_out_tokens=True)
    return model, llm, tok, teacher


def batch(model, histories, targets, negatives, timestamps=None):
    prompts = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    users = prompts.users(histories, timestamps)
    item_ids = [[t] + n for t, n in zip(targets, negatives)]
    items = prompts.items([i for row in item_ids for i in row])
    items["item_ids"] = torch.tensor(item_ids)
    width = max(len(h) for h in histories)
    teacher_ids = torch.tensor([[0] * (width - len(h)) + list(h) for h in histories])
    return {**users, **items, "teacher_input_ids": teacher_ids, "teacher_attention_mask": (teacher_ids > 0).long()}


def test_prompts_hold_one_placeholder_per_item_and_dates():
    text = build_user_prompt(["a", "b"], [0, 86400 * 365])
    assert text.count("[HistoryEmb]") == 2 and text.endswith("[UserOut]")
    assert "1970-01-01" in text and "1971-01-01" in text
    assert "(" not in build_user_prompt(["a"], [-1])  # unknown timestamp -> no date
    with pytest.raises(ValueError, match="at least one"):
        build_user_prompt([])


@pytest.mark.slow
@pytest.mark.parametrize("tie", [False, True])
def test_llm_and_teacher_frozen_and_gradients_reach_projectors(tmp_path, tie):
    model, llm, tok, teacher = make_parts(tmp_path, tie=tie)
    llm_before = {k: v.clone() for k, v in llm.state_dict().items()}
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    # Only our small modules are trainable; the LLM and teacher are not in the module tree.
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all(n.split(".")[0] in {"item_projector", "user_out_embedding", "item_out_embedding",
                                              "user_head", "item_head", "cf_user_projector"} for n in names)
    assert model.num_trainable_parameters() == sum(p.numel() for p in model.parameters())
    inputs = batch(model, [[1, 2, 3, 4], [5, 6]], [7, 8], [[9, 10], [11, 12]])
    out = model(**inputs)
    assert out.logits.shape == (2, 3)
    out.loss.backward()
    for name in ("item_projector.0.weight", "user_out_embedding", "item_out_embedding", "user_head.0.weight",
                 "item_head.3.weight", "cf_user_projector.0.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert all(p.grad is None for p in llm.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(**inputs).loss.backward()
        opt.step()
    for k, v in llm.state_dict().items():
        assert torch.equal(v, llm_before[k]), k
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k


def test_losses_match_their_definitions_and_weights(tmp_path):
    model, *_ = make_parts(tmp_path)
    inputs = batch(model, [[1, 2], [3, 4, 5], [6]], [7, 8, 9], [[10, 11], [12, 1], [2, 3]])
    out = model(**inputs)
    expected_ret = torch.nn.functional.cross_entropy(out.logits, torch.zeros(3, dtype=torch.long))
    assert torch.allclose(out.retrieval_loss, expected_ret)
    a = torch.nn.functional.normalize(out.cf_user_vectors, dim=-1)
    b = torch.nn.functional.normalize(out.user_vectors, dim=-1)
    assert torch.allclose(out.distill_loss, ((a - b) ** 2).mean())
    pairs = [(i, j) for i in range(3) for j in range(i + 1, 3)]
    unif = sum(math.exp(-2 * float(((x[i] - x[j]) ** 2).sum().detach())) for x in (a, b) for i, j in pairs) / len(pairs)
    assert out.uniformity_loss.item() == pytest.approx(unif, rel=1e-5)
    assert out.loss.item() == pytest.approx((expected_ret + out.distill_loss + out.uniformity_loss).item(), rel=1e-5)
    model.config.distill_loss_weight = 0.0
    model.config.uniformity_loss_weight = 0.5
    out2 = model(**inputs)
    assert out2.loss.item() == pytest.approx((out2.retrieval_loss + 0.5 * out2.uniformity_loss).item(), rel=1e-5)
    assert uniformity(torch.ones(1, 4)).item() == 0.0


def test_injected_embeddings_change_the_user_vector(tmp_path):
    """The [HistoryEmb] slots carry the teacher item: same titles, different item ids -> different vectors."""
    model, *_ = make_parts(tmp_path)
    prompts = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    enc = prompts.users([[1, 2]])
    with torch.no_grad():
        v1 = model.encode_users(**enc)
        enc["user_history_ids"] = torch.tensor([[3, 4]])  # same text, other injected embeddings
        v2 = model.encode_users(**enc)
    assert not torch.allclose(v1, v2)


def test_bad_ids_and_placeholder_mismatch_raise(tmp_path):
    model, *_ = make_parts(tmp_path)
    prompts = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    with pytest.raises(ValueError, match="outside the catalogue"):
        prompts.items([NUM_ITEMS + 1])
    enc = prompts.users([[1, 2]])
    enc["user_history_ids"] = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match="placeholders"):
        model.encode_users(**enc)
    with pytest.raises(ValueError, match="titles"):
        LLMSRecPromptBuilder(model.tokenizer, TITLES[:-1], model.config)


def test_save_only_trainable_parts_and_reload_through_automodel(tmp_path):
    model, *_ = make_parts(tmp_path)
    model.save_pretrained(tmp_path / "ckpt")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "ckpt" / "model.safetensors"), "pt") as fh:
        keys = set(fh.keys())
    assert keys == set(model.state_dict())
    assert not any("llm" in k or "teacher" in k or "embed_tokens" in k for k in keys)
    assert AutoConfig.from_pretrained(tmp_path / "ckpt").model_type == "delrec_llmsrec"
    reloaded = AutoModel.from_pretrained(tmp_path / "ckpt")
    assert isinstance(reloaded, LLMSRecModel)
    reloaded.eval()
    model.eval()
    # Frozen parts come from the paths in the config (loaded lazily on first use).
    p1 = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    p2 = LLMSRecPromptBuilder(reloaded.tokenizer, TITLES, reloaded.config)
    t1, t2 = model.compute_item_vectors(p1, batch_size=5), reloaded.compute_item_vectors(p2, batch_size=7)
    hist = [[1, 2, 3], [4, 5]]
    s1 = model.score_all(model.compute_user_vectors(p1, hist), t1)
    s2 = reloaded.score_all(reloaded.compute_user_vectors(p2, hist), t2)
    assert torch.allclose(s1, s2, atol=1e-5)
    assert torch.isinf(s1[:, 0]).all() and torch.isfinite(s1[:, 1:]).all()
    c = model.score_candidates(model.compute_user_vectors(p1, hist), t1, [[1, 2, 3], [4, 5, 6]])
    assert torch.allclose(c[0], s1[0, [1, 2, 3]], atol=1e-5) and torch.allclose(c[1], s1[1, [4, 5, 6]], atol=1e-5)


def test_item_vectors_do_not_depend_on_batching(tmp_path):
    model, *_ = make_parts(tmp_path)
    model.eval()
    prompts = LLMSRecPromptBuilder(model.tokenizer, TITLES, model.config)
    a = model.compute_item_vectors(prompts, batch_size=1)
    b = model.compute_item_vectors(prompts, batch_size=NUM_ITEMS)
    assert torch.allclose(a[1:], b[1:], atol=1e-5)
    part = model.compute_item_vectors(prompts, item_ids=[3, 5])
    assert torch.isnan(part[1]).all() and torch.allclose(part[3], a[3], atol=1e-5)
    with pytest.raises(ValueError, match="no precomputed vector"):
        model.score_candidates(torch.zeros(1, 8), part, [[3, 4]])


def test_config_validation():
    with pytest.raises(Exception, match="num_items"):
        LLMSRecConfig(num_items=0)
    with pytest.raises(Exception, match="llm_dtype"):
        LLMSRecConfig(llm_dtype="int3")
    with pytest.raises(Exception, match="distill_loss_weight"):
        LLMSRecConfig(distill_loss_weight=-1.0)
