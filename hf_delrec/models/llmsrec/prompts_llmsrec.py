"""LLM-SRec prompt templates (our own wording of the paper's user and item prompts).

Both prompts end with a single output placeholder whose last-layer hidden state becomes the user / item vector.
Every item mentioned in a prompt is followed by one ``[HistoryEmb]`` placeholder that receives the projected teacher
embedding of that item, so the LLM sees both the title text and the collaborative-filtering embedding.
"""

from __future__ import annotations

import datetime as _dt
from typing import Sequence

HISTORY_TOKEN = "[HistoryEmb]"
USER_OUT_TOKEN = "[UserOut]"
ITEM_OUT_TOKEN = "[ItemOut]"

# Kept short on purpose: every token costs a forward+backward pass of the LLM per training user.
USER_PREFIX = "Items a user chose, oldest first: "
USER_SUFFIX = ". The user in one token:"
ITEM_PREFIX = "Item "
ITEM_SUFFIX = ". The item in one token:"
MISSING_TITLE = "Untitled item"


def format_date(timestamp: int | None) -> str | None:
    """Unix seconds -> ``YYYY-MM-DD`` (UTC); ``None``/negative (unknown) -> ``None``."""
    if timestamp is None or timestamp < 0:
        return None
    return _dt.datetime.fromtimestamp(int(timestamp), tz=_dt.timezone.utc).strftime("%Y-%m-%d")


def _quote(title: str) -> str:
    title = (title or "").strip() or MISSING_TITLE
    return f'"{title}"'


def build_user_prompt(
    titles: Sequence[str],
    timestamps: Sequence[int | None] | None = None,
    history_token: str = HISTORY_TOKEN,
    user_out_token: str = USER_OUT_TOKEN,
) -> str:
    """User prompt for the most recent items (already cropped, oldest first); one ``history_token`` per item.

    Items are numbered from 1; with ``timestamps`` each entry carries its interaction date when known.
    """
    if not titles:
        raise ValueError("build_user_prompt needs at least one history item")
    if timestamps is not None and len(timestamps) != len(titles):
        raise ValueError(f"{len(titles)} titles but {len(timestamps)} timestamps")
    parts = []
    for k, title in enumerate(titles):
        date = format_date(timestamps[k]) if timestamps is not None else None
        when = f" ({date})" if date else ""
        parts.append(f"{k + 1}.{when} {_quote(title)}{history_token}")
    return USER_PREFIX + ", ".join(parts) + USER_SUFFIX + user_out_token


def build_item_prompt(title: str, history_token: str = HISTORY_TOKEN, item_out_token: str = ITEM_OUT_TOKEN) -> str:
    """Item prompt: the title, the item's injected embedding, then the output placeholder."""
    return ITEM_PREFIX + _quote(title) + history_token + ITEM_SUFFIX + item_out_token


class LLMSRecPromptBuilder:
    """Turns histories / item ids into tokenized LLM-SRec prompts (right-padded tensors).

    Args:
        tokenizer: the LLM tokenizer *after* ``LLMSRecModel.attach`` registered the placeholder tokens.
        titles: ``titles[item_id]`` (index 0 unused), e.g. ``PreparedDataset.titles``.
        config: an ``LLMSRecConfig`` (history window, dates, title budget, placeholder strings).
    """

    def __init__(self, tokenizer, titles: Sequence[str], config):
        self.tokenizer = tokenizer
        self.titles = list(titles)
        self.config = config
        missing = [t for t in (config.history_token, config.user_out_token, config.item_out_token)
                   if t not in tokenizer.get_vocab()]
        if missing:
            raise ValueError(f"tokenizer lacks the placeholder tokens {missing}: call LLMSRecModel.attach first")
        if len(self.titles) != config.num_items + 1:
            raise ValueError(f"{len(self.titles)} titles (incl. index 0) for a catalogue of {config.num_items} items")
        self._short: dict[int, str] = {}
        self._item_len: dict[int, int] = {}

    def title(self, item_id: int) -> str:
        """Title cut to ``max_title_tokens`` LLM tokens (cached)."""
        if item_id not in self._short:
            if not 1 <= item_id <= self.config.num_items:
                raise ValueError(f"item id {item_id} is outside the catalogue 1..{self.config.num_items}")
            text = (self.titles[item_id] or "").strip()
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(ids) > self.config.max_title_tokens:
                text = self.tokenizer.decode(ids[: self.config.max_title_tokens]).strip() + "..."
            self._short[item_id] = text
        return self._short[item_id]

    def _encode(self, texts: list[str]):
        import torch

        enc = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        return torch.as_tensor(enc["input_ids"]), torch.as_tensor(enc["attention_mask"])

    def user_prompt(self, history: Sequence[int], timestamps: Sequence[int] | None = None) -> tuple[str, list[int]]:
        m = self.config.max_history_items
        items = [int(i) for i in history][-m:]
        ts = None
        if self.config.include_dates and timestamps is not None:
            ts = [int(t) for t in timestamps][-m:]
        text = build_user_prompt([self.title(i) for i in items], ts, self.config.history_token,
                                 self.config.user_out_token)
        return text, items

    def users(self, histories: Sequence[Sequence[int]], timestamps=None) -> dict:
        import torch

        texts, items = [], []
        for k, hist in enumerate(histories):
            if len(hist) == 0:
                raise ValueError(f"history #{k} is empty: LLM-SRec needs at least one past item")
            text, its = self.user_prompt(hist, None if timestamps is None else timestamps[k])
            texts.append(text)
            items.append(its)
        ids, mask = self._encode(texts)
        hist = torch.zeros(len(items), max(len(i) for i in items), dtype=torch.long)
        for r, its in enumerate(items):
            hist[r, : len(its)] = torch.as_tensor(its)
        return {"user_input_ids": ids, "user_attention_mask": mask, "user_history_ids": hist}

    def item_prompt(self, item_id: int) -> str:
        return build_item_prompt(self.title(item_id), self.config.history_token, self.config.item_out_token)

    def item_prompt_length(self, item_id: int) -> int:
        if item_id not in self._item_len:
            self._item_len[item_id] = len(self.tokenizer(self.item_prompt(item_id), add_special_tokens=False)["input_ids"])
        return self._item_len[item_id]

    def items(self, item_ids: Sequence[int]) -> dict:
        import torch

        ids, mask = self._encode([self.item_prompt(int(i)) for i in item_ids])
        return {"item_input_ids": ids, "item_attention_mask": mask,
                "item_ids": torch.as_tensor([int(i) for i in item_ids], dtype=torch.long)}
