"""Candidate scoring with a (frozen or fine-tuned) LLM: one score per candidate item, shape (B, C).

Two methods, for causal LMs and encoder-decoder LMs alike:

``"full_title"`` (default)
    log p(answer_prefix + title | prompt), summed over the title's tokens (or averaged: ``length_normalization="mean"``).
    The prompt is run **once** per example. For causal LMs the C titles are packed after the prompt in the same
    sequence under a block attention mask (each title sees the prompt and its own earlier tokens), so one forward
    scores all of them and the prompt's keys/values are shared without copying a KV cache C times; for
    encoder-decoders the encoder runs once and its outputs are repeated for the C decoder passes. Different titles get different scores (no first-token ties). Differentiable:
    gradients reach the soft prompt (and LoRA weights) through the cache / encoder outputs.
``"first_subword"`` (the paper's verbaliser, faithful option)
    One forward; the log-probability of each candidate's *first* title token at the answer position. Titles that share
    their first sub-word tie exactly.

Inputs are tensors produced by ``encode_scoring_example`` + ``collate_scoring_features``:
``prompt_input_ids`` / ``prompt_attention_mask`` (B, Lp), left-padded for causal LMs (so the answer position is the
last column); ``candidate_input_ids`` / ``candidate_attention_mask`` (B, C, T), right-padded. A candidate slot with
no tokens (padding when examples have different numbers of candidates) scores ``PAD_SCORE``.
Candidate tokens are the scored targets: soft-prompt placeholder ids are rejected there.
"""

from __future__ import annotations

import inspect
from typing import Sequence

import torch
import torch.nn.functional as F

METHODS = ("full_title", "first_subword")
PAD_SCORE = -1e9


def _is_encoder_decoder(model) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


def encode_scoring_example(
    tokenizer,
    prompt: str,
    candidates: Sequence[str],
    *,
    placeholder_ids: Sequence[int] = (),
    max_candidate_tokens: int | None = None,
    where: str = "example",
    allow_duplicate_candidates: bool = False,
) -> dict:
    """Tokenise one prompt (special tokens as the tokenizer adds them) and its candidate answer texts (none added).

    Raises ValueError if the candidate list is empty, names the same text twice (unless
    ``allow_duplicate_candidates``: distinct items that share a title), or a candidate tokenises to nothing or contains
    a placeholder id (placeholders are never targets).
    """
    if isinstance(candidates, str):
        raise ValueError(f"{where}: candidates must be a list of texts, got one string {candidates!r}")
    candidates = list(candidates)
    if not candidates:
        raise ValueError(f"{where}: the candidate list is empty; give at least one candidate text")
    if not allow_duplicate_candidates:
        seen: dict[str, int] = {}
        for j, text in enumerate(candidates):
            if text in seen:
                raise ValueError(f"{where}: candidate {j} ({text!r}) repeats candidate {seen[text]}; candidates "
                                 "must be distinct (a duplicate ties with itself)")
            seen[text] = j
    prompt_ids = tokenizer(prompt)["input_ids"]
    cand_ids = tokenizer(list(candidates), add_special_tokens=False)["input_ids"]
    bad = set(int(i) for i in placeholder_ids)
    for j, ids in enumerate(cand_ids):
        if not ids:
            raise ValueError(f"{where}: candidate {j} ({candidates[j]!r}) tokenises to no tokens")
        if bad and bad.intersection(ids):
            raise ValueError(f"{where}: candidate {j} ({candidates[j]!r}) contains a soft-prompt placeholder token")
    if max_candidate_tokens is not None:
        cand_ids = [ids[:max_candidate_tokens] for ids in cand_ids]
    return {"prompt_input_ids": list(prompt_ids), "candidate_input_ids": [list(c) for c in cand_ids]}


def collate_scoring_features(
    features: Sequence[dict], pad_token_id: int, prompt_padding_side: str = "left", prefix: str = ""
) -> dict[str, torch.Tensor]:
    """Pad ``prompt_input_ids`` (B, Lp) and ``candidate_input_ids`` (B, C, T) of several examples into tensors.

    ``prefix`` selects prefixed keys (e.g. "ta_") in the features; the output keys are unprefixed.
    """
    prompts = [f[f"{prefix}prompt_input_ids"] for f in features]
    cands = [f[f"{prefix}candidate_input_ids"] for f in features]
    B = len(features)
    Lp = max(len(p) for p in prompts)
    C = max(len(c) for c in cands)
    T = max(len(t) for c in cands for t in c)
    p_ids = torch.full((B, Lp), pad_token_id, dtype=torch.long)
    p_mask = torch.zeros((B, Lp), dtype=torch.long)
    c_ids = torch.full((B, C, T), pad_token_id, dtype=torch.long)
    c_mask = torch.zeros((B, C, T), dtype=torch.long)
    for b, (p, cs) in enumerate(zip(prompts, cands)):
        p = torch.as_tensor(p, dtype=torch.long)
        if prompt_padding_side == "left":
            p_ids[b, Lp - len(p) :] = p
            p_mask[b, Lp - len(p) :] = 1
        else:
            p_ids[b, : len(p)] = p
            p_mask[b, : len(p)] = 1
        for c, t in enumerate(cs):
            c_ids[b, c, : len(t)] = torch.as_tensor(t, dtype=torch.long)
            c_mask[b, c, : len(t)] = 1
    return {
        "prompt_input_ids": p_ids,
        "prompt_attention_mask": p_mask,
        "candidate_input_ids": c_ids,
        "candidate_attention_mask": c_mask,
    }


def _accepts(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[targets] without materialising the full log-softmax twice."""
    logits = logits.float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def _reduce(token_lp: torch.Tensor, mask: torch.Tensor, length_normalization: str) -> torch.Tensor:
    mask = mask.to(token_lp.dtype)
    total = (token_lp * mask).sum(-1)
    if length_normalization == "mean":
        total = total / mask.sum(-1).clamp(min=1)
    elif length_normalization != "sum":
        raise ValueError(f"length_normalization must be 'sum' or 'mean', got {length_normalization!r}")
    return total


def _forward_kwargs(model, name: str) -> bool:
    """Whether the (possibly PEFT-wrapped) causal LM's forward takes ``name``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _accepts(base, name)


def _packed_attention_mask(p_mask: torch.Tensor, C: int, S: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive (B, 1, Lp + C*S, Lp + C*S) mask: prompt tokens attend causally to real prompt tokens; each candidate's
    tokens attend to the real prompt tokens and to their own earlier tokens, never to another candidate."""
    B, Lp = p_mask.shape
    L = Lp + C * S
    dev = p_mask.device
    real = p_mask.bool()
    allowed = torch.zeros(B, L, L, dtype=torch.bool, device=dev)
    causal = torch.ones(Lp, Lp, dtype=torch.bool, device=dev).tril()
    allowed[:, :Lp, :Lp] = causal & real[:, None, :]
    allowed[:, Lp:, :Lp] = real[:, None, :]
    block = torch.block_diag(*[torch.ones(S, S, dtype=torch.bool, device=dev).tril()] * C)
    allowed[:, Lp:, Lp:] = block
    # Left-padding rows see nothing; let them see themselves so softmax stays finite (their outputs are unused).
    allowed |= torch.eye(L, dtype=torch.bool, device=dev)
    mask = torch.zeros(B, 1, L, L, dtype=dtype, device=dev)
    return mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)


def _causal_scores(model, p_ids, p_mask, c_ids, c_mask, method, length_normalization):
    B, C, T = c_ids.shape
    pos = (p_mask.long().cumsum(-1) - 1).clamp(min=0)
    if method == "first_subword" or T == 1:
        kwargs = {"logits_to_keep": 1} if _forward_kwargs(model, "logits_to_keep") else {}
        out = model(input_ids=p_ids, attention_mask=p_mask, position_ids=pos, use_cache=False, **kwargs)
        first = out.logits[:, -1].float().log_softmax(-1).gather(1, c_ids[:, :, 0])  # (B, C)
        return first if method == "first_subword" else _reduce(first.unsqueeze(-1), c_mask, length_normalization)
    # One forward over [prompt | cand_1[:-1] | ... | cand_C[:-1]]: the prompt is computed once and every candidate
    # reads its keys/values, with no per-candidate copy of a KV cache (memory stays ~ one sequence per example).
    S = T - 1
    cand_in = c_ids[:, :, :S].reshape(B, C * S)
    plen = p_mask.long().sum(-1)
    cand_pos = (plen[:, None] + torch.arange(S, device=p_ids.device)[None, :]).repeat(1, C)
    dtype = model.get_input_embeddings().weight.dtype
    if not dtype.is_floating_point:
        dtype = torch.float32
    kwargs = {"logits_to_keep": C * S + 1} if _forward_kwargs(model, "logits_to_keep") else {}
    out = model(
        input_ids=torch.cat([p_ids, cand_in], dim=1),
        attention_mask=_packed_attention_mask(p_mask, C, S, dtype),
        position_ids=torch.cat([pos, cand_pos], dim=1),
        use_cache=False,
        **kwargs,
    )
    logits = out.logits[:, -(C * S + 1) :]  # the prompt's last position, then every candidate input position
    first = _token_logprobs(logits[:, :1].expand(B, C, -1).reshape(B, C, -1), c_ids[:, :, 0])  # (B, C)
    rest = _token_logprobs(logits[:, 1:].reshape(B, C, S, -1), c_ids[:, :, 1:])  # (B, C, S)
    token_lp = torch.cat([first.unsqueeze(-1), rest], dim=-1)
    return _reduce(token_lp, c_mask, length_normalization)


def _decoder_prefix(model, decoder_prefix_ids, device) -> torch.Tensor:
    if decoder_prefix_ids is None:
        start = getattr(model.config, "decoder_start_token_id", None)
        if start is None:
            start = model.config.pad_token_id
        decoder_prefix_ids = [start]
    return torch.as_tensor(list(decoder_prefix_ids), dtype=torch.long, device=device)


def _seq2seq_scores(model, p_ids, p_mask, c_ids, c_mask, method, length_normalization, decoder_prefix_ids):
    B, C, T = c_ids.shape
    prefix = _decoder_prefix(model, decoder_prefix_ids, p_ids.device)
    P = prefix.numel()
    enc = model.get_encoder()(input_ids=p_ids, attention_mask=p_mask)
    hidden = enc.last_hidden_state
    if method == "first_subword":
        out = model(
            encoder_outputs=(hidden,),
            attention_mask=p_mask,
            decoder_input_ids=prefix.expand(B, P),
            use_cache=False,
        )
        return out.logits[:, -1].float().log_softmax(-1).gather(1, c_ids[:, :, 0])
    flat = c_ids.reshape(B * C, T)
    flat_mask = c_mask.reshape(B * C, T)
    dec_in = torch.cat([prefix.expand(B * C, P), flat[:, :-1]], dim=-1)
    dec_mask = torch.cat([torch.ones_like(flat_mask[:, :1]).expand(B * C, P), flat_mask[:, :-1]], dim=-1)
    out = model(
        encoder_outputs=(hidden.repeat_interleave(C, dim=0),),
        attention_mask=p_mask.repeat_interleave(C, dim=0),
        decoder_input_ids=dec_in,
        decoder_attention_mask=dec_mask,
        use_cache=False,
    )
    token_lp = _token_logprobs(out.logits[:, P - 1 :], flat).reshape(B, C, T)
    return _reduce(token_lp, c_mask, length_normalization)


def score_candidates(
    model,
    prompt_input_ids: torch.Tensor,
    prompt_attention_mask: torch.Tensor,
    candidate_input_ids: torch.Tensor,
    candidate_attention_mask: torch.Tensor,
    *,
    method: str = "full_title",
    length_normalization: str = "sum",
    decoder_prefix_ids: Sequence[int] | None = None,
) -> torch.Tensor:
    """Scores (B, C) of each candidate answer given its prompt (higher = more likely). See the module docstring.

    ``decoder_prefix_ids`` (encoder-decoder only): decoder tokens before the answer, default
    ``[decoder_start_token_id]``; the paper's T5 setting is ``[pad, <extra_id_0>]``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if candidate_input_ids.dim() != 3:
        raise ValueError(f"candidate_input_ids must be (B, C, T), got shape {tuple(candidate_input_ids.shape)}")
    if _is_encoder_decoder(model):
        scores = _seq2seq_scores(
            model, prompt_input_ids, prompt_attention_mask, candidate_input_ids, candidate_attention_mask,
            method, length_normalization, decoder_prefix_ids,
        )
    else:
        scores = _causal_scores(
            model, prompt_input_ids, prompt_attention_mask, candidate_input_ids, candidate_attention_mask,
            method, length_normalization,
        )
    empty = candidate_attention_mask.sum(-1) == 0
    return scores.masked_fill(empty, PAD_SCORE)


def candidate_loss(scores: torch.Tensor, target_index: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the candidate set (mean over the batch)."""
    return F.cross_entropy(scores, target_index.to(scores.device))


def strict_top1(scores: torch.Tensor, target_index: torch.Tensor) -> torch.Tensor:
    """1.0 where the target's score is strictly greater than every other candidate's (ties count as misses)."""
    tgt = scores.gather(1, target_index.view(-1, 1).to(scores.device))
    others = scores.masked_fill(
        torch.zeros_like(scores, dtype=torch.bool).scatter(1, target_index.view(-1, 1).to(scores.device), True),
        float("-inf"),
    )
    return (tgt.squeeze(1) > others.max(dim=1).values).float()


__all__ = [
    "METHODS",
    "PAD_SCORE",
    "encode_scoring_example",
    "collate_scoring_features",
    "score_candidates",
    "candidate_loss",
    "strict_top1",
]
