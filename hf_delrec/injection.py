"""Inject trainable vectors at placeholder positions of a frozen LLM's input embeddings.

DELRec places its soft prompt in the *middle* of a template and LLM-SRec swaps item/user placeholders for projected
recommender embeddings. PEFT prompt tuning only prepends, and TRL's fused LM head calls ``model.base_model`` directly
(a wrapper ``forward`` that builds ``inputs_embeds`` is skipped), so the injection must live *inside* the model's
input-embedding module. Two tools:

``embed_with_injections(embedding_module, input_ids, placeholder_ids, values)``
    Functional form. Embeds ``input_ids`` with ``embedding_module`` except at positions whose id is one of
    ``placeholder_ids``: the k-th such position in row-major order (batch row 0 left to right, then row 1, ...)
    gets ``values[k]``. Placeholder ids may be >= the embedding size (no ``resize_token_embeddings`` needed): they are
    masked to id 0 before the lookup. ``values`` must have exactly as many rows as there are placeholder positions.

``SoftPromptEmbedding(base, prompt, soft_token_ids)``
    An ``nn.Module`` that replaces the LLM's input embedding (``llm.set_input_embeddings(wrapper)``). Every occurrence
    of ``soft_token_ids[j]`` is replaced by row ``j`` of ``prompt.weight`` (K x H), wherever it sits in the sequence
    and however many times it occurs. ``.weight`` forwards to the base embedding, so tied LM heads, ``generate()``,
    PEFT LoRA and TRL's fused LM head keep working. Use ``attach_soft_prompt`` / ``detach_soft_prompt``.

Caveats: placeholder ids must never be used as labels (the LM head has no row for them); attach after any
``resize_token_embeddings``; detach before saving or merging the full LLM (otherwise state-dict keys gain ``.base``).
Embedding modules that scale their output (e.g. Gemma's) scale the base rows only; injected rows are used as given.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = [
    "embed_with_injections",
    "placeholder_mask",
    "SoftPromptEmbedding",
    "attach_soft_prompt",
    "detach_soft_prompt",
    "get_soft_prompt_embedding",
    "add_soft_tokens",
]


def _as_id_tensor(ids: Sequence[int] | torch.Tensor, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(ids, dtype=torch.long, device=device).flatten()
    if t.numel() == 0:
        raise ValueError("placeholder_ids is empty")
    return t


def placeholder_mask(input_ids: torch.Tensor, placeholder_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Boolean mask, same shape as ``input_ids``, True where the id is one of ``placeholder_ids``."""
    return torch.isin(input_ids, _as_id_tensor(placeholder_ids, input_ids.device))


def embed_with_injections(
    embedding_module: nn.Module,
    input_ids: torch.Tensor,
    placeholder_ids: Sequence[int] | torch.Tensor,
    values: torch.Tensor,
) -> torch.Tensor:
    """Embed ``input_ids`` and put ``values[k]`` at the k-th placeholder position (row-major order).

    Args:
        embedding_module: the LLM's input embedding (anything callable on ids returning ``(*ids.shape, H)``).
        input_ids: ``(B, L)`` (or any shape) long tensor.
        placeholder_ids: ids marking injection positions; may lie outside the embedding's vocabulary.
        values: ``(N, H)`` with N = number of placeholder positions in ``input_ids``. Gradients flow into ``values``.

    Returns:
        ``(*input_ids.shape, H)`` embeddings in the base embedding's dtype.

    Raises:
        ValueError: if the number of placeholder positions differs from ``values.shape[0]``.
    """
    mask = placeholder_mask(input_ids, placeholder_ids)
    emb = embedding_module(input_ids.masked_fill(mask, 0))
    n = int(mask.sum())
    if values.dim() != 2 or values.shape[0] != n:
        raise ValueError(
            f"embed_with_injections: input_ids contain {n} placeholder positions but values has shape "
            f"{tuple(values.shape)} (expected ({n}, {emb.shape[-1]}))"
        )
    if values.shape[-1] != emb.shape[-1]:
        raise ValueError(f"values have width {values.shape[-1]} but the embeddings have width {emb.shape[-1]}")
    if n == 0:
        return emb
    # index_put keeps the autograd graph to both the base embedding output and ``values``.
    return emb.index_put(tuple(mask.nonzero(as_tuple=True)), values.to(emb.dtype))


class SoftPromptEmbedding(nn.Module):
    """Input embedding that swaps K placeholder ids for the rows of a trainable soft prompt.

    Args:
        base: the LLM's original input embedding (kept, frozen or not, as ``self.base``).
        prompt: a module whose ``weight`` is the ``(K, H)`` soft prompt (e.g. ``hf_delrec.models.soft_prompt.SoftPrompt``).
        soft_token_ids: the K placeholder ids; ``soft_token_ids[j]`` receives ``prompt.weight[j]``.
    """

    def __init__(self, base: nn.Module, prompt: nn.Module, soft_token_ids: Sequence[int]):
        super().__init__()
        ids = torch.as_tensor(list(soft_token_ids), dtype=torch.long)
        weight = prompt.weight
        if ids.numel() != weight.shape[0]:
            raise ValueError(f"{ids.numel()} soft token ids for a soft prompt with {weight.shape[0]} rows")
        if len(set(ids.tolist())) != ids.numel():
            raise ValueError("soft_token_ids must be distinct")
        base_width = base.weight.shape[-1]
        if weight.shape[-1] != base_width:
            raise ValueError(
                f"soft prompt width {weight.shape[-1]} does not match the LLM embedding width {base_width}"
            )
        self.base = base
        self.prompt = prompt
        # A buffer follows .to(device); not persistent so it never enters the LLM's state dict.
        self.register_buffer("soft_token_ids", ids, persistent=False)

    # Tie/resize helpers and PEFT read these attributes of "the" embedding.
    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    @property
    def num_embeddings(self) -> int:
        return self.base.weight.shape[0]

    @property
    def embedding_dim(self) -> int:
        return self.base.weight.shape[1]

    @property
    def padding_idx(self):
        return getattr(self.base, "padding_idx", None)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        ids = self.soft_token_ids.to(input_ids.device)
        is_soft = torch.isin(input_ids, ids)
        emb = self.base(input_ids.masked_fill(is_soft, 0))
        if not bool(is_soft.any()):
            return emb
        # Row j of the prompt for every occurrence of ids[j] (argmax over the one-hot match).
        row = (input_ids.unsqueeze(-1) == ids).long().argmax(-1)
        soft = self.prompt.weight.to(device=emb.device, dtype=emb.dtype)[row]
        return torch.where(is_soft.unsqueeze(-1), soft, emb)


def get_soft_prompt_embedding(model: nn.Module) -> SoftPromptEmbedding | None:
    """The installed ``SoftPromptEmbedding`` of ``model`` (PEFT-wrapped or not), or None."""
    emb = model.get_input_embeddings()
    return emb if isinstance(emb, SoftPromptEmbedding) else None


def add_soft_tokens(tokenizer, soft_tokens: Sequence[str]) -> list[int]:
    """Register the placeholder strings as special tokens (never split, skipped when decoding); return their ids.

    The ids may be >= the model's vocabulary size: ``SoftPromptEmbedding`` handles them without resizing.
    """
    tokenizer.add_tokens(list(soft_tokens), special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(list(soft_tokens))
    unk = getattr(tokenizer, "unk_token_id", None)
    if any(i is None or (unk is not None and i == unk) for i in ids):
        raise ValueError(f"tokenizer could not register the soft tokens {list(soft_tokens)[:3]}...")
    return list(ids)


def attach_soft_prompt(
    model: nn.Module,
    prompt: nn.Module,
    soft_token_ids: Sequence[int] | None = None,
    tokenizer=None,
    soft_tokens: Sequence[str] | None = None,
) -> SoftPromptEmbedding:
    """Install ``SoftPromptEmbedding`` on ``model`` and return it.

    Give either ``soft_token_ids`` or a ``tokenizer`` (the strings are then ``soft_tokens`` or
    ``prompt.config.soft_tokens`` and are added to it). Re-attaching replaces an existing wrapper but keeps the
    original base embedding. For encoder-decoder models (T5) ``set_input_embeddings`` also updates the encoder's and
    decoder's embedding, so both sides see the soft prompt.
    """
    if soft_token_ids is None:
        if tokenizer is None:
            raise ValueError("attach_soft_prompt needs soft_token_ids or a tokenizer")
        if soft_tokens is None:
            soft_tokens = getattr(getattr(prompt, "config", None), "soft_tokens", None)
        if not soft_tokens:
            raise ValueError("no soft token strings: pass soft_tokens= or a prompt with config.soft_tokens")
        soft_token_ids = add_soft_tokens(tokenizer, soft_tokens)
    current = model.get_input_embeddings()
    base = current.base if isinstance(current, SoftPromptEmbedding) else current
    wrapper = SoftPromptEmbedding(base, prompt, soft_token_ids)
    wrapper.to(base.weight.device)
    model.set_input_embeddings(wrapper)
    return wrapper


def detach_soft_prompt(model: nn.Module) -> nn.Module | None:
    """Restore the original input embedding; return the removed soft prompt module (or None if none was attached)."""
    current = model.get_input_embeddings()
    if not isinstance(current, SoftPromptEmbedding):
        return None
    model.set_input_embeddings(current.base)
    return current.prompt
