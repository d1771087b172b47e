"""A complete DELRec recommender as a ``PreTrainedModel``: LLM + frozen soft prompt + stage-2 LoRA.

    import hf_delrec
    from transformers import AutoModel
    model = AutoModel.from_pretrained("runs/ml100k/delrec")          # or a Hub repo id
    ids, scores = model.rank([[1, 50, 181]], [[12, 7, 98, ...]])     # candidates ranked by the LLM
    model.recommend(["Toy Story (1995)", "Heat (1995)"], k=10)       # over the whole catalogue

On disk (and on the Hub) only the small parts are stored; the LLM is named by ``config.base_model_name_or_path``::

    config.json              DELRecConfig (model_type "delrec")
    model.safetensors        the K x H soft prompt (key "soft_prompt.weight"); absent without a soft prompt
    tokenizer*.json          the LLM's tokenizer with the K placeholder tokens
    items.json               the catalogue titles (index = item_id), so recommend() needs no dataset
    lora/                    the stage-2 PEFT adapter (never at the root: transformers would treat the folder as a
                             PEFT checkpoint of the base LLM)
"""

from __future__ import annotations

import difflib
from collections import Counter
import json
import logging
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from transformers import PreTrainedModel

from ...utils.errors import ModelInputError, UnknownItemError
from .configuration_delrec import DELRecConfig

logger = logging.getLogger(__name__)

ITEMS_FILE = "items.json"
WEIGHTS_FILE = "model.safetensors"
SOFT_PROMPT_KEY = "soft_prompt.weight"


class DELRec(PreTrainedModel):
    """LLM-based next-item ranker. Build it from a config (loads the base LLM), from parts (``from_parts``) or from a
    saved directory/repo (``from_pretrained``)."""

    config_class = DELRecConfig  # explicit: this module uses postponed annotations
    base_model_prefix = "delrec"
    main_input_name = "input_ids"
    _no_split_modules: list[str] = []

    def __init__(self, config: DELRecConfig, llm=None, tokenizer=None, soft_prompt=None, item_titles=None):
        super().__init__(config)
        # post_init runs before the LLM is attached so that it can never re-initialise pretrained weights.
        self.post_init()
        if llm is None:
            if not config.base_model_name_or_path:
                raise ValueError("DELRecConfig.base_model_name_or_path is not set: no LLM to load")
            from ...backbones import load_backbone

            llm, tokenizer = load_backbone(config.base_model_name_or_path, dtype=config.backbone_dtype)
        if tokenizer is None:
            raise ValueError("DELRec needs the LLM's tokenizer")
        self.tokenizer = tokenizer
        if config.template is not None:
            # A stored template is used as is at every call: check its slots once, here (e.g. no {soft_prompt}).
            from ...prompts.templates import validate_template

            validate_template(config.template, "rec", "DELRecConfig.template")
        self.soft_tokens: list[str] = []
        if config.soft_prompt is not None:
            from ...injection import attach_soft_prompt
            from ..soft_prompt import SoftPrompt, SoftPromptConfig

            if soft_prompt is None:
                soft_prompt = SoftPrompt(SoftPromptConfig(**_soft_prompt_kwargs(config.soft_prompt)))
            soft_prompt.requires_grad_(False)  # stage 2 and inference never change it
            _check_soft_prompt_fits(soft_prompt, llm, config)
            attach_soft_prompt(llm, soft_prompt, tokenizer=tokenizer)
            self.soft_tokens = list(soft_prompt.config.soft_tokens)
        self.llm = llm
        self.item_titles: list[str] | None = list(item_titles) if item_titles is not None else None
        self._title_index: dict[str, int] | None = None
        self._template = None

    @torch.no_grad()
    def _init_weights(self, module):
        # Everything is either pretrained (the LLM), loaded (soft prompt, LoRA) or built by its own class.
        pass

    # ------------------------------------------------------------------ construction helpers

    @classmethod
    def from_parts(cls, config: DELRecConfig, llm, tokenizer, soft_prompt=None, item_titles=None) -> "DELRec":
        """Wrap an LLM already in memory (``soft_prompt`` is the stage-1 ``SoftPrompt``; None for no prompt)."""
        if soft_prompt is not None:
            config.soft_prompt = soft_prompt.config.to_dict()
        else:
            config.soft_prompt = None
        return cls(config, llm=llm, tokenizer=tokenizer, soft_prompt=soft_prompt, item_titles=item_titles)

    @property
    def soft_prompt(self):
        from ...injection import get_soft_prompt_embedding

        emb = get_soft_prompt_embedding(self.llm)
        return None if emb is None else emb.prompt

    @property
    def has_lora(self) -> bool:
        from peft import PeftModel

        return isinstance(self.llm, PeftModel)

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        """Language-model forward of the wrapped LLM (soft prompt and adapter included)."""
        return self.llm(input_ids=input_ids, attention_mask=attention_mask, labels=labels, **kwargs)

    # ------------------------------------------------------------------ prompts

    @property
    def templates(self):
        if self._template is None:
            from ...prompts.templates import load_templates

            self._template = load_templates(self.config.domain).rec if self.config.template is None else (
                self.config.template
            )
        return self._template

    def format_prompt(self, history_titles: Sequence[str], candidate_titles: Sequence[str]) -> str:
        """The stage-2 recommendation prompt: most recent ``max_history_items`` titles, the candidate list and the
        soft prompt's placeholder tokens (an empty slot for models without a soft prompt)."""
        from ...prompts.templates import render, soft_prompt_text
        from ...prompts.titles import normalize_title

        sep = self.config.item_separator
        history = [normalize_title(t) for t in history_titles][-self.config.max_history_items :]
        return render(
            self.templates,
            teacher=self.config.teacher_name,
            soft_prompt=soft_prompt_text(self.soft_tokens) if self.soft_tokens else "",
            history=sep.join(history),
            candidates=sep.join(normalize_title(t) for t in candidate_titles),
        )

    def format_completion(self, title: str) -> str:
        """The text the model is trained to produce (and scored on) for an item title."""
        from ...prompts.titles import normalize_title

        return self.config.answer_prefix + normalize_title(title)

    # ------------------------------------------------------------------ scoring and ranking

    def _check_titles(self) -> list[str]:
        if self.item_titles is None:
            raise ValueError(
                "this DELRec model has no catalogue (items.json): pass titles, or set model.item_titles = "
                "prepared.titles"
            )
        return self.item_titles

    def _to_titles(self, items: Sequence[int | str], what: str) -> list[str]:
        if isinstance(items, (str, int)):
            raise ModelInputError(f"{what} must be a list of item ids or titles, got {items!r}")
        out = []
        for it in items:
            if isinstance(it, str):
                # With a catalogue, a title must be one of its items (a typo would otherwise be scored as free text).
                out.append(it if self.item_titles is None else self.item_titles[self.title_to_id(it, what)])
                continue
            titles = self._check_titles()
            try:
                i = int(it)
            except (TypeError, ValueError):
                raise ModelInputError(f"{what}: {it!r} is neither an item id nor a title") from None
            if not 1 <= i < len(titles):
                raise UnknownItemError(f"{what}: item id {i} is outside the catalogue 1..{len(titles) - 1}")
            out.append(titles[i])
        return out

    @torch.no_grad()
    def score_prompts(
        self, prompts: Sequence[str], candidate_titles: Sequence[Sequence[str]], batch_size: int = 4
    ) -> torch.Tensor:
        """(B, C) scores of each prompt's candidates with ``config.scoring`` (higher is better).

        Full-title scoring runs each prompt once and scores all C titles against it in the same forward (``hf_delrec.scoring``).
        """
        from ...scoring import collate_scoring_features, encode_scoring_example, score_candidates

        if len(prompts) != len(candidate_titles):
            raise ValueError(f"{len(prompts)} prompts but {len(candidate_titles)} candidate lists")
        placeholder_ids = self.tokenizer.convert_tokens_to_ids(self.soft_tokens) if self.soft_tokens else []
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id
        was_training = self.llm.training
        self.llm.eval()
        rows = []
        try:
            for start in range(0, len(prompts), batch_size):
                feats = [
                    encode_scoring_example(
                        self.tokenizer, p, [self.format_completion(t) for t in cands],
                        placeholder_ids=placeholder_ids, where=f"prompt {start + j}",
                        # Distinct items may share a title; duplicate items are refused by score_candidates.
                        allow_duplicate_candidates=True,
                    )
                    for j, (p, cands) in enumerate(
                        zip(prompts[start : start + batch_size], candidate_titles[start : start + batch_size])
                    )
                ]
                batch = collate_scoring_features(feats, pad_id, prompt_padding_side="left")
                device = next(self.llm.parameters()).device
                batch = {k: v.to(device) for k, v in batch.items()}
                scores = score_candidates(self.llm, **batch, method=self.config.scoring)
                rows.extend(scores.float().cpu().unbind(0))
        finally:
            if was_training:
                self.llm.train()
        widths = {r.shape[0] for r in rows}
        if len(widths) > 1:  # chunks of different candidate counts: pad to the widest
            from ...scoring import PAD_SCORE

            width = max(widths)
            rows = [torch.cat([r, r.new_full((width - r.shape[0],), PAD_SCORE)]) for r in rows]
        return torch.stack(rows)

    @torch.no_grad()
    def score_candidates(
        self, histories: Sequence[Sequence[int | str]], candidates: Sequence[Sequence[int | str]]
    ) -> torch.Tensor:
        """(B, C) scores aligned with ``candidates`` (item ids or titles); the prompt lists them in the given order."""
        if len(histories) != len(candidates):
            raise ModelInputError(f"{len(histories)} histories but {len(candidates)} candidate lists")
        prompts, cand_titles = [], []
        for b, (h, c) in enumerate(zip(histories, candidates)):
            h_titles = self._to_titles(h, f"history {b}")
            if not h_titles:
                raise ModelInputError(f"history {b} is empty: the prompt needs at least one past item")
            c_titles = self._to_titles(c, f"candidates {b}")
            if not c_titles:
                raise ModelInputError(f"candidate list {b} is empty: give at least one candidate")
            keys = [("title", x) if isinstance(x, str) else ("id", int(x)) for x in c]
            if self.item_titles is not None:  # an id and its own title are the same item
                keys = [("id", self.title_to_id(x)) if isinstance(x, str) else k for x, k in zip(c, keys)]
            if len(set(keys)) != len(keys):
                dup = next(x for j, x in enumerate(c) if keys[j] in keys[:j])
                raise ModelInputError(f"candidate list {b} names {dup!r} more than once; candidates must be distinct")
            prompts.append(self.format_prompt(h_titles, c_titles))
            cand_titles.append(c_titles)
        return self.score_prompts(prompts, cand_titles)

    @torch.no_grad()
    def rank(
        self, histories: Sequence[Sequence[int | str]], candidates: Sequence[Sequence[int | str]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rank each user's candidates: returns (candidate ids or positions sorted best first, their scores).

        Candidates given as item ids come back as item ids; given as titles, as positions into the list.
        """
        as_ids = all(not isinstance(x, str) for c in candidates for x in c)
        if as_ids and len({len(c) for c in candidates}) > 1:  # checked before the (costly) scoring
            raise ModelInputError(
                f"candidate lists have different lengths {sorted({len(c) for c in candidates})}; rank() returns "
                "one (batch, C) tensor: rank lists of different lengths in separate calls"
            )
        scores = self.score_candidates(histories, candidates)
        order = torch.argsort(scores, dim=-1, descending=True, stable=True)
        if as_ids:
            ids = torch.as_tensor([list(map(int, c)) for c in candidates], dtype=torch.long)
            return ids.gather(1, order), scores.gather(1, order)
        return order, scores.gather(1, order)

    def title_to_id(self, title: str, what: str = "title") -> int:
        """Catalogue id of a title (exact, or after normalisation/case folding); a clear error with suggestions."""
        from ...prompts.titles import normalize_title

        titles = self._check_titles()
        if self._title_index is None:
            index: dict[str, int] = {}
            for i, t in enumerate(titles[1:], start=1):
                for key in (t, normalize_title(t), t.casefold(), normalize_title(t).casefold()):
                    index.setdefault(key, i)
            self._title_index = index
        for key in (title, normalize_title(title), title.casefold(), normalize_title(title).casefold()):
            if key in self._title_index:
                return self._title_index[key]
        close = difflib.get_close_matches(title, titles[1:], n=3)
        hint = f"; did you mean {close}?" if close else ""
        raise UnknownItemError(f"{what}: title {title!r} is not in the catalogue ({len(titles) - 1} items){hint}")

    @torch.no_grad()
    def recommend(
        self,
        history: Sequence[int | str],
        k: int = 10,
        candidates: Sequence[int] | None = None,
        exclude_seen: bool = True,
    ) -> list[tuple[int, str, float]]:
        """Top-``k`` items for one history (ids or titles) as (item_id, title, score), best first.

        Without ``candidates`` the whole catalogue is ranked. The prompt shows ``num_candidates`` titles at a time,
        so the catalogue is scored in chunks of that size (a first round) and the best ``num_candidates`` are
        re-scored together in one prompt (a final round) — the same setting the model was trained for. Scores of
        items outside the final round come from their chunk's prompt and are only comparable within that round.
        """
        titles = self._check_titles()
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(titles) - 1:
            raise ModelInputError(f"k must be an integer in 1..{len(titles) - 1} (the catalogue size), got {k!r}")
        if isinstance(history, (str, int)):
            raise ModelInputError(f"history must be a list of item ids or titles, got {history!r}")
        hist_ids = [self.title_to_id(h, "history") if isinstance(h, str) else int(h) for h in history]
        if not hist_ids:
            raise ModelInputError("history is empty: give at least one past item (id or title)")
        for i in hist_ids:
            if not 1 <= i < len(titles):
                raise UnknownItemError(f"history: item id {i} is outside the catalogue 1..{len(titles) - 1}")
        if candidates is None:
            seen = set(hist_ids) if exclude_seen else set()
            pool = [i for i in range(1, len(titles)) if i not in seen]
        else:
            pool = [self.title_to_id(c, "candidates") if isinstance(c, str) else int(c) for c in candidates]
            outside = [i for i in pool if not 1 <= i < len(titles)]
            if outside:
                raise UnknownItemError(f"candidates: item id {outside[0]} is outside the catalogue 1..{len(titles) - 1}")
            dup = sorted(i for i, n in Counter(pool).items() if n > 1)
            if dup:
                raise ModelInputError(f"candidates name item(s) {dup} more than once; candidates must be distinct")
        if not pool:
            return []
        n = self.config.num_candidates
        chunks = [pool[i : i + n] for i in range(0, len(pool), n)]
        first: dict[int, float] = {}
        for start in range(0, len(chunks), 8):
            batch = chunks[start : start + 8]
            s = self.score_candidates([hist_ids] * len(batch), batch)
            for chunk, row in zip(batch, s):
                for i, v in zip(chunk, row[: len(chunk)].tolist()):
                    first[i] = v
        ranked = sorted(pool, key=lambda i: -first[i])
        if len(chunks) > 1:
            finalists = ranked[:n]
            final_scores = self.score_candidates([hist_ids], [finalists])[0].tolist()
            order = sorted(range(len(finalists)), key=lambda j: -final_scores[j])
            head = [(finalists[j], final_scores[j]) for j in order]
            rest = [(i, first[i]) for i in ranked[n:]]
            ranked_scored = head + rest
        else:
            ranked_scored = [(i, first[i]) for i in ranked]
        return [(i, titles[i], float(s)) for i, s in ranked_scored[:k]]

    # ------------------------------------------------------------------ save / load

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """Write the small parts only (config, soft prompt, tokenizer, items.json, lora/); ``push_to_hub`` uses it."""
        from safetensors.torch import save_file

        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        if (out / "adapter_config.json").exists():
            raise ValueError(f"{out} has an adapter_config.json at its root; refusing to write a DELRec model there")
        config = self.config
        config.architectures = [type(self).__name__]
        prompt = self.soft_prompt
        if prompt is not None:
            config.soft_prompt = prompt.config.to_dict()
            save_file({SOFT_PROMPT_KEY: prompt.weight.detach().to("cpu").contiguous()}, str(out / WEIGHTS_FILE),
                      metadata={"format": "pt"})
        if self.has_lora:
            config.lora_subfolder = config.lora_subfolder or "lora"
            # PEFT records the path the LLM was loaded from (for SmolLM2 offline: the local converted copy); the
            # adapter must name the base the config names (a Hub id) so it resolves on another machine.
            for peft_cfg in self.llm.peft_config.values():
                peft_cfg.base_model_name_or_path = config.base_model_name_or_path
            self.llm.save_pretrained(str(out / config.lora_subfolder))
        else:
            config.lora_subfolder = None
        config.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))
        if self.item_titles is not None:
            (out / ITEMS_FILE).write_text(
                json.dumps({"titles": self.item_titles}, ensure_ascii=False), encoding="utf-8"
            )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs) -> "DELRec":
        """Load from a directory or a Hub repo written by ``save_pretrained`` (also what ``AutoModel`` calls)."""
        from transformers import AutoTokenizer

        config = kwargs.pop("config", None)
        dtype = kwargs.pop("dtype", None)
        revision = kwargs.pop("revision", None)
        token = kwargs.pop("token", None)
        cache_dir = kwargs.pop("cache_dir", None)
        path = Path(str(pretrained_model_name_or_path))
        if not path.is_dir():
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(str(pretrained_model_name_or_path), revision=revision, token=token,
                                          cache_dir=cache_dir))
        if not isinstance(config, DELRecConfig):
            config_file = path / "config.json"
            if not config_file.is_file():
                raise FileNotFoundError(f"{config_file} is missing: {path} is not a DELRec model directory")
            try:
                model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
            except (json.JSONDecodeError, AttributeError) as exc:
                raise ModelInputError(f"{config_file}: not a valid JSON config ({exc})") from None
            if model_type != DELRecConfig.model_type:
                raise ModelInputError(
                    f"{config_file}: model_type is {model_type!r}, expected 'delrec'; load this directory with "
                    "transformers.AutoModel.from_pretrained (it is not a DELRec model)"
                )
            config = DELRecConfig.from_pretrained(str(path))
        if dtype is not None:
            config.backbone_dtype = str(dtype).replace("torch.", "")
        from ...backbones import load_backbone

        llm, _ = load_backbone(config.base_model_name_or_path, dtype=config.backbone_dtype)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        soft_prompt = None
        if config.soft_prompt is not None:
            from safetensors.torch import load_file

            from ..soft_prompt import SoftPrompt, SoftPromptConfig

            weights_path = path / WEIGHTS_FILE
            if not weights_path.is_file():
                raise FileNotFoundError(f"{weights_path}: the config names a soft prompt but its weights are missing")
            soft_prompt = SoftPrompt(SoftPromptConfig(**_soft_prompt_kwargs(config.soft_prompt)))
            try:
                state = load_file(str(weights_path))
            except Exception as exc:  # safetensors raises its own error types for truncated/garbled files
                raise ModelInputError(f"{weights_path}: not a readable safetensors file ({exc})") from None
            if SOFT_PROMPT_KEY not in state:
                raise ModelInputError(f"{weights_path}: no tensor {SOFT_PROMPT_KEY!r} (found {sorted(state)})")
            expected = tuple(soft_prompt.weight.shape)
            if tuple(state[SOFT_PROMPT_KEY].shape) != expected:
                raise ModelInputError(
                    f"{weights_path}: tensor {SOFT_PROMPT_KEY!r} has shape {tuple(state[SOFT_PROMPT_KEY].shape)} but "
                    f"config.json's soft_prompt says (num_soft_tokens, hidden_size) = {expected}"
                )
            with torch.no_grad():
                soft_prompt.weight.copy_(state[SOFT_PROMPT_KEY].to(soft_prompt.weight.dtype))
        titles = None
        if (path / ITEMS_FILE).is_file():
            try:
                titles = json.loads((path / ITEMS_FILE).read_text(encoding="utf-8"))["titles"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ModelInputError(f"{path / ITEMS_FILE}: expected JSON {{\"titles\": [...]}} ({exc!r})") from None
        model = cls(config, llm=llm, tokenizer=tokenizer, soft_prompt=soft_prompt, item_titles=titles)
        if config.lora_subfolder:
            from peft import PeftModel

            if not (path / config.lora_subfolder / "adapter_config.json").is_file():
                raise FileNotFoundError(f"{path / config.lora_subfolder}: the config names a LoRA adapter but it is missing")
            adapter_dir = path / config.lora_subfolder
            try:
                adapter_base = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8")).get(
                    "base_model_name_or_path")
            except (json.JSONDecodeError, AttributeError) as exc:
                raise ModelInputError(f"{adapter_dir / 'adapter_config.json'}: not valid JSON ({exc})") from None
            try:
                model.llm = PeftModel.from_pretrained(model.llm, str(path), subfolder=config.lora_subfolder)
            except (RuntimeError, ValueError, KeyError) as exc:
                # PEFT reports a foreign adapter as a size mismatch deep in load_state_dict, or missing target modules.
                lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [repr(exc)]
                detail = next((ln for ln in lines if "size mismatch" in ln or "not found" in ln), lines[0])
                raise ModelInputError(
                    f"{adapter_dir}: the LoRA adapter does not fit the base model {config.base_model_name_or_path!r} "
                    f"(adapter_config.json names base {adapter_base!r}); it was trained for another LLM: "
                    f"{detail[:400]}"
                ) from exc
            if adapter_base and adapter_base != config.base_model_name_or_path:
                # Same shapes, different name: often the same LLM under another path (a Hub id vs. its cached copy).
                logger.warning("%s: adapter_config.json names base %r, the DELRec config %r; shapes match, loaded",
                               adapter_dir, adapter_base, config.base_model_name_or_path)
        model.eval()
        return model


def _check_soft_prompt_fits(soft_prompt, llm, config: DELRecConfig) -> None:
    """A soft prompt is K vectors of its LLM's embedding width: refuse one distilled for an LLM of another width."""
    emb = llm.get_input_embeddings()
    width = int(getattr(emb, "base", emb).weight.shape[-1])
    size = int(soft_prompt.weight.shape[-1])
    if size != width:
        raise ModelInputError(
            f"soft prompt hidden size {size} does not match the LLM {config.base_model_name_or_path!r} (input "
            f"embedding width {width}): the prompt was distilled for "
            f"{getattr(soft_prompt.config, 'base_model_name_or_path', None) or 'another LLM'!r}; run `hf-delrec "
            "distill` with this LLM or load the LLM the prompt was made for"
        )


def _soft_prompt_kwargs(d: dict) -> dict:
    """SoftPromptConfig kwargs from a saved config dict (drops the bookkeeping keys PreTrainedConfig adds)."""
    from ..soft_prompt import SoftPromptConfig

    drop = {"model_type", "transformers_version", "architectures", "dtype", "_name_or_path", "output_attentions",
            "output_hidden_states", "return_dict", "id2label", "label2id", "problem_type", "chunk_size_feed_forward",
            "is_encoder_decoder", "tie_word_embeddings"}
    fields = set(SoftPromptConfig.__dataclass_fields__)
    return {k: v for k, v in d.items() if k not in drop and k in fields}


__all__ = ["DELRec"]
