"""Stage-2 data: prompt-completion examples from each user's *training* sequence, and validation/test ranking rows.

A prepared train row holds ``history`` + ``target`` = the user's training sequence s[:-2] (ARCHITECTURE.md), so every
(prefix -> next item) pair inside it is a legal training example; validation/test targets are never used. Negatives
come from the row's ``negatives`` column (items outside the user's whole sequence, drawn by the data layer), shuffled
per example with the seed so that different prefixes of one user see different candidate lists.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..prompts.builders import build_rec_example


@dataclass
class SFTDataReport:
    """What was built and what was left out (nothing is dropped silently)."""

    num_users: int = 0
    num_examples: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples_per_position: dict[int, int] = field(default_factory=dict)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def to_dict(self) -> dict:
        return {"num_users": self.num_users, "num_examples": self.num_examples, "skipped": dict(self.skipped),
                "examples_per_recency": {str(k): v for k, v in sorted(self.examples_per_position.items())}}


def training_pairs(
    train_rows,
    *,
    num_candidates: int,
    max_train_examples: int | None = None,
    examples_per_user: int | None = 1,
    min_history_items: int = 1,
    seed: int = 0,
    report: SFTDataReport | None = None,
) -> list[dict]:
    """(history ids, target id, candidate ids) for stage 2, most recent prefixes first, round-robin over users.

    Round r takes every user's r-th most recent prefix (users in a seeded order), so a budget
    (``max_train_examples``) spreads over users instead of exhausting the first ones.
    """
    report = report if report is not None else SFTDataReport()
    per_user: list[list[dict]] = []
    for row in train_rows:
        seq = [int(i) for i in row["history"]] + [int(row["target"])]
        negatives = [int(n) for n in row["negatives"]]
        uid = int(row["user_id"])
        if len(negatives) < num_candidates - 1:
            report.skip(f"fewer than {num_candidates - 1} negatives")
            continue
        positions = list(range(len(seq) - 1, min_history_items - 1, -1))
        if not positions:
            report.skip(f"training sequence shorter than {min_history_items + 1} items")
            continue
        if examples_per_user is not None:
            positions = positions[:examples_per_user]
        pairs = []
        for recency, t in enumerate(positions):
            rng = random.Random(f"{seed}-{uid}-{t}")
            negs = negatives[:]
            rng.shuffle(negs)
            try:
                ex = build_rec_example(
                    seq[:t], seq[t], negs, num_candidates=num_candidates, seed=rng.randrange(2**31), user_id=uid
                )
            except ValueError as exc:  # e.g. not enough negatives outside this prefix
                report.skip(str(exc).split(":")[0] + ": " + str(exc).split(": ", 1)[-1][:60])
                continue
            pairs.append({"user_id": uid, "history": seq[:t], "target": seq[t], "candidates": ex.candidates,
                          "recency": recency})
        if pairs:
            per_user.append(pairs)
    report.num_users = len(per_user)
    random.Random(seed).shuffle(per_user)
    out: list[dict] = []
    depth = max((len(p) for p in per_user), default=0)
    for r in range(depth):
        for pairs in per_user:
            if r < len(pairs):
                out.append(pairs[r])
                if max_train_examples is not None and len(out) >= max_train_examples:
                    break
        if max_train_examples is not None and len(out) >= max_train_examples:
            break
    total_available = sum(len(p) for p in per_user)
    if len(out) < total_available:
        report.skip("over the max_train_examples budget", total_available - len(out))
    for p in out:
        report.examples_per_position[p["recency"]] = report.examples_per_position.get(p["recency"], 0) + 1
    report.num_examples = len(out)
    return out


def to_prompt_completion(
    pairs: Sequence[dict],
    titles: Sequence[str],
    format_prompt: Callable[[list[str], list[str]], str],
    format_completion: Callable[[str], str],
):
    """A ``datasets.Dataset`` with TRL's prompt-completion columns (+ ids for provenance)."""
    from datasets import Dataset

    rows = {"prompt": [], "completion": [], "user_id": [], "target": []}
    for p in pairs:
        rows["prompt"].append(format_prompt([titles[i] for i in p["history"]], [titles[i] for i in p["candidates"]]))
        rows["completion"].append(format_completion(titles[p["target"]]))
        rows["user_id"].append(p["user_id"])
        rows["target"].append(p["target"])
    return Dataset.from_dict(rows)


def ranking_rows(split_rows, num_users: int | None = None, seed: int = 0) -> list[dict]:
    """Validation/test rows as (user_id, history, candidates, target) using the prepared ``candidates`` column;
    a seeded subset of ``num_users`` rows when given (the same users for every model that is compared)."""
    rows = [
        {"user_id": int(r["user_id"]), "history": [int(i) for i in r["history"]],
         "candidates": [int(i) for i in r["candidates"]], "target": int(r["target"])}
        for r in split_rows
    ]
    for r in rows:
        if r["candidates"].count(r["target"]) != 1:
            raise ValueError(f"user {r['user_id']}: the target occurs {r['candidates'].count(r['target'])} times "
                             "in the prepared candidates")
    if num_users is not None and num_users < len(rows):
        idx = sorted(random.Random(seed).sample(range(len(rows)), num_users))
        rows = [rows[i] for i in idx]
    return rows


def rank_of_target(scores, candidates: Sequence[int], target: int) -> int:
    """1-based rank of the target among the candidates, pessimistic on ties (a tie never helps)."""
    from ..metrics import ranks_from_scores

    return int(ranks_from_scores(scores[None, :], [candidates.index(target)], ties="pessimistic")[0])



def rank_rows(model, rows: Sequence[dict], batch_size: int = 4):
    """1-based ranks (pessimistic ties) of each row's target among its candidates, scored by a ``DELRec`` model."""
    import numpy as np

    from ..metrics import ranks_from_scores

    ranks = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        scores = model.score_candidates([r["history"] for r in chunk], [r["candidates"] for r in chunk])
        target_idx = [r["candidates"].index(r["target"]) for r in chunk]
        ranks.append(ranks_from_scores(scores, target_idx, ties="pessimistic"))
    return np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)

__all__ = ["SFTDataReport", "training_pairs", "to_prompt_completion", "ranking_rows", "rank_of_target", "rank_rows"]
