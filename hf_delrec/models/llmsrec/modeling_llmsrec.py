"""LLM-SRec (Kim et al., KDD 2025): distil a frozen sequential recommender's user representation into a frozen LLM.

Trainable (and the only thing saved by ``save_pretrained``):
  * ``item_projector`` f_I: teacher item embedding -> LLM embedding space; fills every ``[HistoryEmb]`` placeholder.
  * ``user_out_embedding`` / ``item_out_embedding``: the input vectors of the ``[UserOut]`` / ``[ItemOut]`` tokens.
  * ``user_head`` / ``item_head``: last-layer hidden state at the out token -> scoring space (``projection_dim``).
  * ``cf_user_projector``: the teacher's user representation -> scoring space (distillation target).
Frozen and referenced by path in the config: the LLM (``base_model_name_or_path``) and the teacher
(``teacher_name_or_path``). They are held outside the module tree so they never enter the state dict or the
optimizer, but ``.to()`` still moves them. Gradients flow *through* the frozen LLM into the injected vectors.

Score of (user u, item i) = ``item_head(h_i) . user_head(h_u)``. Losses (weights in the config):
retrieval CE over the target and sampled negatives; MSE between the L2-normalised CF-user and LLM-user vectors;
uniformity ``mean exp(-2 ||x - x'||^2)`` over distinct in-batch pairs of both normalised vector sets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ...injection import add_soft_tokens, embed_with_injections, placeholder_mask
from .configuration_llmsrec import LLMSRecConfig

logger = logging.getLogger(__name__)

_TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LLMSRecOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None  # (B, 1 + negatives): target first
    retrieval_loss: torch.FloatTensor | None = None
    distill_loss: torch.FloatTensor | None = None
    uniformity_loss: torch.FloatTensor | None = None
    user_vectors: torch.FloatTensor | None = None
    cf_user_vectors: torch.FloatTensor | None = None


@dataclass
class FrozenParts:
    llm: nn.Module
    decoder: nn.Module  # the LLM without its LM head (we only need hidden states)
    tokenizer: Any
    teacher: nn.Module
    history_token_id: int
    user_out_token_id: int
    item_out_token_id: int


def _load_llm(name_or_path: str, dtype: torch.dtype):
    """Frozen LLM + tokenizer through ``hf_delrec.backbones.load_backbone`` (with its offline SmolLM2 fallback)."""
    try:
        from ...backbones import load_backbone  # lazy: loading an LLM is heavy
    except ImportError:  # backbones module absent: plain transformers loading, no fallback
        from transformers import AutoModelForCausalLM, AutoTokenizer

        return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype), AutoTokenizer.from_pretrained(name_or_path)
    loaded = load_backbone(name_or_path, dtype=dtype)
    if isinstance(loaded, tuple):
        return loaded[0], loaded[1]
    return loaded.model, loaded.tokenizer


def _mlp(d_in: int, d_hidden: int, d_out: int, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.LayerNorm(d_hidden), act, nn.Linear(d_hidden, d_out))


def uniformity(x: torch.Tensor) -> torch.Tensor:
    """``mean over distinct pairs of exp(-2 ||x_i - x_j||^2)``; 0 for a batch of one."""
    if x.shape[0] < 2:
        return x.new_zeros(())
    return torch.exp(-2 * torch.pdist(x, p=2).pow(2)).mean()


class LLMSRecPreTrainedModel(PreTrainedModel):
    config_class = LLMSRecConfig  # explicit: postponed annotations make `config:` a string
    base_model_prefix = "llmsrec"
    main_input_name = "user_input_ids"
    accepts_loss_kwargs = False  # per-batch mean loss: Trainer handles gradient accumulation

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            init.xavier_normal_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, LLMSRecModel):
            # Re-scaled to the LLM's embedding statistics by ``attach(..., init_out_tokens=True)`` for fresh training.
            init.normal_(module.user_out_embedding, std=0.02)
            init.normal_(module.item_out_embedding, std=0.02)


class LLMSRecModel(LLMSRecPreTrainedModel):
    def __init__(self, config: LLMSRecConfig):
        super().__init__(config)
        d, t, p = config.llm_hidden_size, config.teacher_hidden_size, config.projection_dim
        self.item_projector = _mlp(t, d, d, nn.LeakyReLU())
        self.user_out_embedding = nn.Parameter(torch.empty(d))
        self.item_out_embedding = nn.Parameter(torch.empty(d))
        self.user_head = _mlp(d, config.head_hidden_size, p, nn.LeakyReLU())
        self.item_head = _mlp(d, config.head_hidden_size, p, nn.LeakyReLU())
        self.cf_user_projector = _mlp(t, config.cf_hidden_size, p, nn.GELU())
        # Plain attribute (not a submodule): never saved, never optimised.
        self.__dict__["_frozen"] = None
        self.post_init()

    # ------------------------------------------------------------------ frozen parts
    def attach(self, llm=None, tokenizer=None, teacher=None, init_out_tokens: bool = False) -> "LLMSRecModel":
        """Attach the frozen LLM (+ its tokenizer) and teacher; missing ones are loaded from the config paths.

        ``init_out_tokens=True`` (fresh training only) draws the two out-token vectors from N(mean, std) of the LLM's
        embedding matrix, as the paper does.
        """
        cfg = self.config
        if llm is None or tokenizer is None:
            if not cfg.base_model_name_or_path:
                raise ValueError("LLMSRecConfig.base_model_name_or_path is not set: pass llm= and tokenizer=")
            llm, tokenizer = _load_llm(cfg.base_model_name_or_path, _TORCH_DTYPES[cfg.llm_dtype])
        if teacher is None:
            if not cfg.teacher_name_or_path:
                raise ValueError("LLMSRecConfig.teacher_name_or_path is not set: pass teacher=")
            from transformers import AutoModel

            teacher = AutoModel.from_pretrained(cfg.teacher_name_or_path)
        width = llm.get_input_embeddings().weight.shape[-1]
        if width != cfg.llm_hidden_size:
            raise ValueError(f"LLM embedding width {width} != LLMSRecConfig.llm_hidden_size {cfg.llm_hidden_size}")
        items = teacher.get_item_embeddings()
        if tuple(items.shape) != (cfg.num_items + 1, cfg.teacher_hidden_size):
            raise ValueError(
                f"teacher item table has shape {tuple(items.shape)}, expected (num_items + 1, teacher_hidden_size) = "
                f"({cfg.num_items + 1}, {cfg.teacher_hidden_size})"
            )
        t_fp = getattr(teacher.config, "catalogue_fingerprint", None)
        if cfg.catalogue_fingerprint and t_fp and t_fp != cfg.catalogue_fingerprint:
            raise ValueError("teacher and LLM-SRec were built for different catalogues (catalogue_fingerprint differs)")
        llm.requires_grad_(False).eval()
        teacher.requires_grad_(False).eval()
        tokenizer.padding_side = "right"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        ids = add_soft_tokens(tokenizer, [cfg.history_token, cfg.user_out_token, cfg.item_out_token])
        decoder = llm.get_decoder() if hasattr(llm, "get_decoder") else llm.base_model
        self.__dict__["_frozen"] = FrozenParts(llm, decoder, tokenizer, teacher, *ids)
        if init_out_tokens:
            with torch.no_grad():
                w = llm.get_input_embeddings().weight.float()
                for vec in (self.user_out_embedding, self.item_out_embedding):
                    vec.copy_(torch.randn_like(vec) * w.std() + w.mean())
        return self

    @property
    def frozen(self) -> FrozenParts:
        if self._frozen is None:
            self.attach()
        return self._frozen

    @property
    def tokenizer(self):
        return self.frozen.tokenizer

    def _apply(self, fn, recurse=True):
        # Keep the frozen LLM/teacher on the same device as the trainable parts (Trainer calls model.to(device)).
        super()._apply(fn, recurse)
        fp = self.__dict__.get("_frozen")
        if fp is not None:
            fp.llm._apply(fn, recurse)
            fp.teacher._apply(fn, recurse)
        return self

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ encoders
    def _teacher_item_embeddings(self, item_ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            table = self.frozen.teacher.get_item_embeddings()
        if item_ids.numel() and (int(item_ids.min()) < 1 or int(item_ids.max()) > self.config.num_items):
            bad = item_ids[(item_ids < 1) | (item_ids > self.config.num_items)][0].item()
            raise ValueError(f"item id {bad} is outside the catalogue 1..{self.config.num_items}")
        return table[item_ids.to(table.device)].to(self.item_projector[0].weight.dtype)

    def _out_hidden(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, item_ids: torch.Tensor, out_vector, out_id: int
    ) -> torch.Tensor:
        """Run the frozen LLM on a prompt batch; return the last-layer hidden state at each row's out token."""
        fp = self.frozen
        hist_id = fp.history_token_id
        mask = placeholder_mask(input_ids, [hist_id, out_id])
        kinds = input_ids[mask]  # placeholder ids in row-major order
        is_hist = kinds == hist_id
        if int(is_hist.sum()) != item_ids.numel():
            raise ValueError(f"prompts hold {int(is_hist.sum())} {self.config.history_token} placeholders for "
                             f"{item_ids.numel()} item ids")
        projected = self.item_projector(self._teacher_item_embeddings(item_ids))
        values = out_vector.to(projected.dtype).unsqueeze(0).expand(kinds.shape[0], -1)
        values = values.index_put((is_hist.nonzero(as_tuple=True)[0],), projected)
        embeds = embed_with_injections(fp.llm.get_input_embeddings(), input_ids, [hist_id, out_id], values)
        hidden = fp.decoder(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False).last_hidden_state
        out_pos = input_ids == out_id
        if not bool((out_pos.sum(-1) == 1).all()):
            raise ValueError("every prompt must contain exactly one output placeholder")
        return hidden[out_pos].to(self.user_head[0].weight.dtype)

    def encode_users(self, user_input_ids, user_attention_mask, user_history_ids) -> torch.Tensor:
        """(B, projection_dim) LLM user vectors; ``user_history_ids`` (B, m) are the prompt's items, 0-padded."""
        flat = user_history_ids[user_history_ids > 0]
        h = self._out_hidden(user_input_ids, user_attention_mask, flat, self.user_out_embedding,
                             self.frozen.user_out_token_id)
        return self.user_head(h)

    def encode_items(self, item_input_ids, item_attention_mask, item_ids) -> torch.Tensor:
        """(N, projection_dim) item vectors, one item prompt per row."""
        h = self._out_hidden(item_input_ids, item_attention_mask, item_ids.flatten(), self.item_out_embedding,
                             self.frozen.item_out_token_id)
        return self.item_head(h)

    def encode_cf_users(self, teacher_input_ids, teacher_attention_mask=None) -> torch.Tensor:
        """(B, projection_dim) projected teacher user representations (teacher frozen, projector trained)."""
        with torch.no_grad():
            rep = self.frozen.teacher.encode(teacher_input_ids, teacher_attention_mask)
        return self.cf_user_projector(rep.to(self.cf_user_projector[0].weight.dtype))

    # ------------------------------------------------------------------ training forward
    def forward(
        self,
        user_input_ids: torch.Tensor,
        user_attention_mask: torch.Tensor,
        user_history_ids: torch.Tensor,
        item_input_ids: torch.Tensor,
        item_attention_mask: torch.Tensor,
        item_ids: torch.Tensor,
        teacher_input_ids: torch.Tensor | None = None,
        teacher_attention_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> LLMSRecOutput:
        """``item_ids`` (B, 1 + K): the target first, then K negatives; item prompts are in the same order."""
        cfg = self.config
        batch = user_input_ids.shape[0]
        if item_ids.dim() != 2 or item_ids.shape[0] != batch:
            raise ValueError(f"item_ids must be (batch={batch}, 1 + negatives), got {tuple(item_ids.shape)}")
        users = self.encode_users(user_input_ids, user_attention_mask, user_history_ids)
        items = self.encode_items(item_input_ids, item_attention_mask, item_ids).view(batch, item_ids.shape[1], -1)
        logits = torch.einsum("bd,bkd->bk", users, items)
        retrieval = F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long, device=logits.device))
        loss = cfg.retrieval_loss_weight * retrieval
        distill = unif = cf = None
        if teacher_input_ids is not None:
            cf = self.encode_cf_users(teacher_input_ids, teacher_attention_mask)
            a, b = F.normalize(cf, dim=-1), F.normalize(users, dim=-1)
            distill = F.mse_loss(a, b)
            unif = uniformity(a) + uniformity(b)
            loss = loss + cfg.distill_loss_weight * distill + cfg.uniformity_loss_weight * unif
        return LLMSRecOutput(loss=loss, logits=logits, retrieval_loss=retrieval.detach(),
                             distill_loss=None if distill is None else distill.detach(),
                             uniformity_loss=None if unif is None else unif.detach(),
                             user_vectors=users, cf_user_vectors=cf)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def compute_item_vectors(self, prompts, item_ids: Sequence[int] | None = None, batch_size: int = 64) -> torch.Tensor:
        """Item table ``(num_items + 1, projection_dim)`` computed once; rows not in ``item_ids`` (and row 0) are NaN.

        ``prompts`` is an ``LLMSRecPromptBuilder``. Items are batched by prompt length to limit padding.
        """
        ids = np.arange(1, self.config.num_items + 1) if item_ids is None else np.unique(np.asarray(item_ids))
        ids = ids[ids > 0]
        lengths = np.array([prompts.item_prompt_length(int(i)) for i in ids])
        ids = ids[np.argsort(lengths, kind="stable")]
        device = self.user_head[0].weight.device
        table = torch.full((self.config.num_items + 1, self.config.projection_dim), float("nan"), device=device)
        for start in range(0, len(ids), batch_size):
            chunk = [int(i) for i in ids[start:start + batch_size]]
            enc = {k: v.to(device) for k, v in prompts.items(chunk).items()}
            table[torch.as_tensor(chunk, device=device)] = self.encode_items(**enc).float()
        return table

    @torch.no_grad()
    def compute_user_vectors(self, prompts, histories, timestamps=None, batch_size: int = 16) -> torch.Tensor:
        device = self.user_head[0].weight.device
        out = []
        for start in range(0, len(histories), batch_size):
            ts = None if timestamps is None else timestamps[start:start + batch_size]
            enc = prompts.users(histories[start:start + batch_size], ts)
            out.append(self.encode_users(**{k: v.to(device) for k, v in enc.items()}).float())
        return torch.cat(out) if out else torch.empty(0, self.config.projection_dim, device=device)

    @staticmethod
    def score_candidates(user_vectors: torch.Tensor, item_table: torch.Tensor, candidate_ids) -> torch.Tensor:
        """(B, C) scores of each user's candidates from a precomputed item table."""
        cand = torch.as_tensor(candidate_ids, device=item_table.device)
        vecs = item_table[cand]
        if torch.isnan(vecs).any():
            raise ValueError("some candidate items have no precomputed vector: include them in compute_item_vectors")
        return torch.einsum("bd,bcd->bc", user_vectors.to(item_table.device), vecs)

    @staticmethod
    def score_all(user_vectors: torch.Tensor, item_table: torch.Tensor) -> torch.Tensor:
        """(B, num_items + 1) scores over the whole catalogue (column 0 = padding = -inf)."""
        if torch.isnan(item_table[1:]).any():
            raise ValueError("score_all needs the full item table: call compute_item_vectors(prompts) with no ids")
        scores = user_vectors.to(item_table.device) @ item_table.nan_to_num(0.0).T
        scores[:, 0] = float("-inf")
        return scores
