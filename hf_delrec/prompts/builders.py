"""Pure example builders for DELRec: lists of item ids in, a ``PromptExample`` out (no model, no tokenizer).

Definitions (``research/delrec.md`` §2.3, §2.4, §3.5 "recommended definition"), with H the history the teacher saw
(chronological, most recent last) and R = the teacher's top-k for H:

* Temporal Analysis (``build_ta_example``): the teacher's top-1 ``R[0]`` is shown as the item the user will consume
  *next*; the target is the most recent real item ``H[-1]``. An in-context demonstration comes from the start of H:
  ``demo_history = H[:a-2]``, ``demo_last = H[a-2]``, ``demo_next = H[a-1]`` (a = ``demo_length``, paper 4); the query
  history is ``H[b:-1]`` (b = ``query_start``, paper 3), cropped to its last ``max_history`` items.
  Candidates: the target + negatives that are neither in H nor ``R[0]``.
* Recommendation Pattern Simulating (``build_rps_example``): target = ``R[0]``; ``R[1:k]`` are shown as the
  teacher's other suggestions; candidates = ``R[:k]`` + negatives outside H and R.
* Recommendation (``build_rec_example``, stage 2): target = the real next item; candidates given (the prepared
  ``candidates`` column) or target + negatives.

Every builder returns candidates that contain the target exactly once, no duplicate, and (apart from the TA
target, which *is* the most recent history item) no history item, shuffled with ``seed``. Invalid input raises
``ValueError`` with the reason, so callers can count skipped users by reason.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Callable, Mapping, Sequence

from .templates import PromptTemplates, render
from .titles import normalize_title


@dataclasses.dataclass(frozen=True)
class PromptExample:
    """One prompt, as item ids. ``slots`` maps slot names to an item id or a list of item ids."""

    task: str
    slots: dict
    candidates: list[int]
    target: int
    user_id: int | None = None

    @property
    def target_index(self) -> int:
        return self.candidates.index(self.target)


def _fill_candidates(
    fixed: Sequence[int], negatives: Sequence[int], exclude: set[int], num_candidates: int, seed: int, what: str
) -> list[int]:
    cands = list(fixed)
    seen = set(cands) | exclude
    for n in negatives:
        if len(cands) >= num_candidates:
            break
        n = int(n)
        if n not in seen:
            cands.append(n)
            seen.add(n)
    if len(cands) < num_candidates:
        raise ValueError(
            f"{what}: only {len(cands)} candidates available (need {num_candidates}); pass more negatives"
        )
    random.Random(seed).shuffle(cands)
    return cands


def _crop(items: Sequence[int], max_history: int | None) -> list[int]:
    items = [int(i) for i in items]
    return items if max_history is None or len(items) <= max_history else items[-max_history:]


def build_ta_example(
    history: Sequence[int],
    teacher_topk: Sequence[int],
    negatives: Sequence[int],
    *,
    num_candidates: int = 20,
    demo_length: int = 4,
    query_start: int = 3,
    max_history: int | None = None,
    seed: int = 0,
    user_id: int | None = None,
) -> PromptExample:
    history = [int(i) for i in history]
    if not teacher_topk:
        raise ValueError("ta: empty teacher_topk")
    if demo_length < 2:
        raise ValueError(f"ta: demo_length must be >= 2, got {demo_length}")
    min_len = max(demo_length, query_start + 2)
    if len(history) < min_len:
        raise ValueError(f"ta: history too short ({len(history)} < {min_len} items)")
    nxt = int(teacher_topk[0])
    target = history[-1]
    if nxt == target:
        raise ValueError("ta: the teacher's top-1 equals the most recent history item")
    slots = {
        "demo_history": history[: demo_length - 2],
        "demo_last": history[demo_length - 2],
        "demo_next": history[demo_length - 1],
        "history": _crop(history[query_start:-1], max_history),
        "next": nxt,
    }
    cands = _fill_candidates([target], negatives, set(history) | {nxt}, num_candidates, seed, "ta")
    return PromptExample("ta", slots, cands, target, user_id)


def build_rps_example(
    history: Sequence[int],
    teacher_topk: Sequence[int],
    negatives: Sequence[int],
    *,
    num_candidates: int = 20,
    num_teacher_items: int = 10,
    max_history: int | None = None,
    seed: int = 0,
    user_id: int | None = None,
) -> PromptExample:
    history = [int(i) for i in history]
    topk = [int(i) for i in teacher_topk][:num_teacher_items]
    if not topk:
        raise ValueError("rps: empty teacher_topk")
    if len(set(topk)) != len(topk):
        raise ValueError("rps: duplicate items in teacher_topk")
    seen = set(history) & set(topk)
    if seen:
        raise ValueError(f"rps: teacher_topk contains history items {sorted(seen)[:5]} (teacher must exclude seen)")
    if num_candidates < len(topk):
        raise ValueError(f"rps: num_candidates ({num_candidates}) < number of teacher items ({len(topk)})")
    slots = {"history": _crop(history, max_history), "teacher_rest": topk[1:]}
    cands = _fill_candidates(topk, negatives, set(history), num_candidates, seed, "rps")
    return PromptExample("rps", slots, cands, topk[0], user_id)


def build_rec_example(
    history: Sequence[int],
    target: int,
    negatives: Sequence[int] = (),
    *,
    candidates: Sequence[int] | None = None,
    num_candidates: int = 20,
    max_history: int | None = None,
    seed: int = 0,
    user_id: int | None = None,
) -> PromptExample:
    history = [int(i) for i in history]
    target = int(target)
    if candidates is not None:
        cands = [int(c) for c in candidates]
        if cands.count(target) != 1:
            raise ValueError(f"rec: the target {target} occurs {cands.count(target)} times in the candidates")
        if len(set(cands)) != len(cands):
            raise ValueError("rec: duplicate candidates")
        cands = list(cands)  # given order kept: the prepared data already shuffled them with its seed
    else:
        cands = _fill_candidates([target], negatives, set(history), num_candidates, seed, "rec")
    return PromptExample("rec", {"history": _crop(history, max_history)}, cands, target, user_id)


TitleLookup = Sequence[str] | Mapping[int, str] | Callable[[int], str]


def _title_fn(titles: TitleLookup, normalize: bool) -> Callable[[int], str]:
    def get(i: int) -> str:
        try:
            t = titles(i) if callable(titles) else titles[i]
        except (IndexError, KeyError):
            raise ValueError(f"no title for item id {i}") from None
        if not t:
            raise ValueError(f"empty title for item id {i}")
        return normalize_title(t) if normalize else t

    return get


def render_example(
    example: PromptExample,
    templates: PromptTemplates,
    titles: TitleLookup,
    *,
    soft_prompt: str,
    teacher: str = "SASRec",
    normalize: bool = True,
) -> tuple[str, list[str]]:
    """Text of the prompt (soft-prompt marker inside) and the answer text of every candidate (in candidate order).

    ``soft_prompt`` is the placeholder text (``soft_prompt_text(config.soft_tokens)``).
    """
    title = _title_fn(titles, normalize)
    sep = templates.item_separator
    values = {"soft_prompt": soft_prompt, "teacher": teacher}
    for key, val in example.slots.items():
        values[key] = sep.join(title(i) for i in val) if isinstance(val, list) else title(val)
    values["candidates"] = sep.join(title(i) for i in example.candidates)
    prompt = render(templates.get(example.task), **values)
    answers = [templates.answer_prefix + title(i) for i in example.candidates]
    return prompt, answers


__all__ = ["PromptExample", "build_ta_example", "build_rps_example", "build_rec_example", "render_example"]
