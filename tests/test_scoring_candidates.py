"""Candidate scoring: shared-prompt KV-cache scoring equals naive per-candidate scoring (causal and T5)."""

import pytest
import torch
from tiny_models import make_tiny_causal_lm, make_tiny_t5

from hf_delrec.injection import attach_soft_prompt
from hf_delrec.models.soft_prompt import SoftPrompt
from hf_delrec.scoring import (
    PAD_SCORE,
    collate_scoring_features,
    encode_scoring_example,
    score_candidates,
    strict_top1,
)

PROMPTS = ["the user watched toy story , heat . next :", "candidates : babe"]
CANDS = [[" casino", " star wars", " the godfather"], [" heat", " jumanji twelve monkeys"]]


def _naive_causal(model, p, cands):
    out = []
    for c in cands:
        lp = model(torch.tensor([p + c])).logits[0].float().log_softmax(-1)
        out.append(sum(lp[len(p) - 1 + t, c[t]].item() for t in range(len(c))))
    return out


def _naive_t5(model, p, cands):
    start = model.config.decoder_start_token_id
    out = []
    for c in cands:
        lp = model(input_ids=torch.tensor([p]), decoder_input_ids=torch.tensor([[start] + c[:-1]])).logits[0]
        lp = lp.float().log_softmax(-1)
        out.append(sum(lp[t, c[t]].item() for t in range(len(c))))
    return out


@pytest.mark.parametrize("kind", ["causal", "t5"])
def test_full_title_matches_naive_and_pads_missing_candidates(kind):
    model, tok = make_tiny_causal_lm(tie_word_embeddings=True) if kind == "causal" else make_tiny_t5()
    model.eval()
    feats = [encode_scoring_example(tok, p, c) for p, c in zip(PROMPTS, CANDS)]
    batch = collate_scoring_features(feats, tok.pad_token_id, "left" if kind == "causal" else "right")
    assert batch["candidate_input_ids"].shape[:2] == (2, 3)
    with torch.no_grad():
        scores = score_candidates(model, **batch)
    naive = _naive_causal if kind == "causal" else _naive_t5
    for b, f in enumerate(feats):
        ref = naive(model, f["prompt_input_ids"], f["candidate_input_ids"])
        assert scores[b, : len(ref)].tolist() == pytest.approx(ref, abs=1e-4)
    assert scores[1, 2] == PAD_SCORE  # example 2 has only two candidates
    with torch.no_grad():
        mean = score_candidates(model, **batch, length_normalization="mean")
    n_tok = batch["candidate_attention_mask"].sum(-1)
    assert mean[0].tolist() == pytest.approx((scores[0] / n_tok[0]).tolist(), abs=1e-4)


@pytest.mark.parametrize("kind", ["causal", "t5"])
def test_first_subword_uses_only_the_first_token(kind):
    model, tok = make_tiny_causal_lm() if kind == "causal" else make_tiny_t5()
    model.eval()
    # two titles sharing their first sub-word tie exactly under the paper's verbaliser, not under full-title scoring
    cands = [" the godfather", " the usual suspects", " heat"]
    enc = encode_scoring_example(tok, PROMPTS[0], cands)
    assert enc["candidate_input_ids"][0][0] == enc["candidate_input_ids"][1][0]
    batch = collate_scoring_features([enc], tok.pad_token_id, "left" if kind == "causal" else "right")
    with torch.no_grad():
        first = score_candidates(model, **batch, method="first_subword")
        full = score_candidates(model, **batch)
    assert first[0, 0] == first[0, 1]
    assert full[0, 0] != full[0, 1]
    assert strict_top1(first, torch.tensor([0])).item() == 0.0  # a tie is a miss


@pytest.mark.parametrize("kind", ["causal", "t5"])
def test_gradients_reach_the_soft_prompt_through_the_shared_prompt(kind):
    model, tok = make_tiny_causal_lm(tie_word_embeddings=True) if kind == "causal" else make_tiny_t5()
    prompt = SoftPrompt.for_llm(model, num_soft_tokens=3)
    attach_soft_prompt(model, prompt, tokenizer=tok)
    soft = "".join(prompt.config.soft_tokens)
    ids = tok.convert_tokens_to_ids(prompt.config.soft_tokens)
    feats = [encode_scoring_example(tok, f"history heat . {soft} next :", [" casino", " babe"], placeholder_ids=ids)]
    assert not set(ids) & {t for c in feats[0]["candidate_input_ids"] for t in c}
    batch = collate_scoring_features(feats, tok.pad_token_id, "left" if kind == "causal" else "right")
    scores = score_candidates(model, **batch)
    torch.nn.functional.cross_entropy(scores, torch.tensor([1])).backward()
    assert prompt.weight.grad is not None and prompt.weight.grad.abs().sum() > 0


def test_placeholders_are_never_scored_targets():
    model, tok = make_tiny_causal_lm()
    prompt = SoftPrompt.for_llm(model, num_soft_tokens=2)
    attach_soft_prompt(model, prompt, tokenizer=tok)
    ids = tok.convert_tokens_to_ids(prompt.config.soft_tokens)
    with pytest.raises(ValueError, match="placeholder"):
        encode_scoring_example(tok, "x :", [" heat", " " + prompt.config.soft_tokens[0]], placeholder_ids=ids)
    with pytest.raises(ValueError, match="no tokens"):
        encode_scoring_example(tok, "x :", [" heat", ""])
