"""From raw interactions to per-user chronological sequences and leave-one-out examples (vectorised with numpy).

Order of operations (each drop is counted in the filtering report under its reason):
1. chronological order per user: by timestamp, ties broken by input order (file order, then position in line);
2. items missing from the items table (``unknown_items``), ratings below ``min_rating``;
3. identical (user, item, timestamp) rows (``duplicates``; only sources with timestamps: without them two rows are
   two consumptions), then re-consumptions of the same item (``repeats``);
4. k-core (``user_core`` / ``item_core``) iterated to a fixed point, together with the ``short_users`` rule (a user
   needs 3 interactions for train/validation/test), since dropping a short user can break an item's core;
5. id remapping: users and items that survive get ids 1..U / 1..N (0 = padding) in natural raw-id order (numeric
   when every raw id is an integer, so MovieLens movie 1 stays item 1).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .config import PrepareConfig
from .errors import DataConfigError, DataFormatError
from .raw import RawInteractions, natural_order

MIN_SEQUENCE = 3  # test + validation + train targets


@dataclass
class Sequences:
    """Kept interactions sorted by (user_id, chronological position). ``offsets[u-1]:offsets[u]`` is user u."""

    user_keys: np.ndarray  # raw user id of user_id u at index u-1
    item_keys: np.ndarray  # raw item id of item_id i at index i-1
    item_table_rows: np.ndarray | None  # row in the items table of item_id i at index i-1 (-1: not in table)
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray
    offsets: np.ndarray
    report: dict

    @property
    def num_users(self) -> int:
        return int(self.user_keys.shape[0])

    @property
    def num_items(self) -> int:
        return int(self.item_keys.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def _first_dup_error(
    raw: RawInteractions, src: np.ndarray, a: int, b: int, message: str, field: str
) -> DataFormatError:
    first, second = sorted((int(src[a]), int(src[b])))
    where_first = raw.where(first)
    loc = where_first.get("line", where_first.get("row"))
    return DataFormatError(f"{message} (first seen at {raw.line_kind} {loc})", field=field, **raw.where(second))


def build_sequences(raw: RawInteractions, cfg: PrepareConfig) -> Sequences:
    n = len(raw)
    report: Counter = Counter(raw.load_report)
    if n == 0:
        raise DataFormatError("no interactions", file=raw.files[0] if raw.files else None)
    # 1. chronological order; lexsort is stable, so equal timestamps keep input order.
    perm = _chronological_order(raw.user_codes, raw.timestamps)
    u, i, t, src = raw.user_codes[perm], raw.item_codes[perm], raw.timestamps[perm], perm
    keep = np.ones(n, dtype=bool)

    # 2a. items table membership
    table_row_of_key = None
    if raw.items is not None:
        import pandas as pd

        table_row_of_key = pd.Index(raw.items.raw_ids).get_indexer(raw.item_keys).astype(np.int64)
        unknown = table_row_of_key[i] < 0
        if unknown.any():
            if cfg.unknown_items == "error":
                j = int(np.argmin(np.where(unknown, src, n)))  # earliest line in the input
                raise DataFormatError(
                    f"item {raw.item_keys[i[j]]!r} is not in the items table {raw.items.file} "
                    f"({int(unknown.sum())} interactions with {len(np.unique(i[unknown]))} such items); "
                    "pass --unknown-items drop (counted) or keep (empty title)",
                    field="item id",
                    **raw.where(int(src[j])),
                )
            if cfg.unknown_items == "drop":
                report["item_not_in_items_table"] += int(unknown.sum())
                keep &= ~unknown

    # 2b. ratings
    if cfg.min_rating is not None:
        if raw.ratings is None:
            raise DataConfigError("this source has no ratings", field="min_rating")
        low = keep & ~(raw.ratings[perm] >= cfg.min_rating)
        report["rating_below_min_rating"] += int(low.sum())
        keep &= ~low

    # 3a. identical (user, item, timestamp)
    if raw.has_timestamps and cfg.duplicates != "keep":
        # only rows sharing (user, timestamp) with a neighbour can be duplicates (arrays are sorted by user, time)
        tie = np.zeros(n, dtype=bool)
        same_ut = (u[1:] == u[:-1]) & (t[1:] == t[:-1])
        tie[1:] |= same_ut
        tie[:-1] |= same_ut
        idx = np.flatnonzero(keep & tie)
        order = idx[np.lexsort((idx, i[idx], t[idx], u[idx]))]
        same = (u[order][1:] == u[order][:-1]) & (t[order][1:] == t[order][:-1]) & (i[order][1:] == i[order][:-1])
        if same.any():
            if cfg.duplicates == "error":
                k = int(np.flatnonzero(same)[0])
                a, b = order[k], order[k + 1]
                raise _first_dup_error(
                    raw, src, a, b,
                    f"duplicate interaction: user {raw.user_keys[u[b]]!r}, item {raw.item_keys[i[b]]!r}, "
                    f"timestamp {int(t[b])}; pass --duplicates drop to drop repeats (counted)",
                    "timestamp",
                )  # fmt: skip
            report["duplicate_user_item_timestamp"] += int(same.sum())
            keep[order[1:][same]] = False

    # 3b. re-consumptions
    if cfg.repeats != "keep":
        idx = np.flatnonzero(keep)
        pos = idx if cfg.repeats == "first" else -idx  # chronological position (arrays are sorted)
        order = idx[np.lexsort((pos, i[idx], u[idx]))]
        same = (u[order][1:] == u[order][:-1]) & (i[order][1:] == i[order][:-1])
        report["repeated_user_item"] += int(same.sum())
        keep[order[1:][same]] = False

    # 4. k-core + short users, to a fixed point
    n_users, n_items = raw.user_keys.shape[0], raw.item_keys.shape[0]
    while True:
        while True:
            ucount = np.bincount(u[keep], minlength=n_users)
            icount = np.bincount(i[keep], minlength=n_items)
            drop_u = keep & (ucount[u] < cfg.user_core)
            drop_i = keep & (icount[i] < cfg.item_core) & ~drop_u
            if not drop_u.any() and not drop_i.any():
                break
            report["user_core"] += int(drop_u.sum())
            report["item_core"] += int(drop_i.sum())
            keep &= ~(drop_u | drop_i)
        short = keep & (ucount[u] < MIN_SEQUENCE)
        if not short.any():
            break
        if cfg.short_users == "error":
            j = int(np.argmin(np.where(short, src, n)))
            c = int(ucount[u[j]])
            n_short = int(np.count_nonzero((ucount > 0) & (ucount < MIN_SEQUENCE)))
            raise DataFormatError(
                f"user {raw.user_keys[u[j]]!r} has {c} interaction{'s' if c != 1 else ''} after filtering; "
                f"leave-one-out needs at least {MIN_SEQUENCE} ({n_short} such users); "
                "pass --short-users drop to drop them (counted)",
                field="user id",
                **raw.where(int(src[j])),
            )
        report["short_user"] += int(short.sum())
        keep &= ~short  # then re-check the cores: removing a user can break an item's core

    if not keep.any():
        raise DataConfigError(f"no interactions left after filtering: {dict(report)}", field="filtering")

    # 5. remap ids
    u, i, t = u[keep], i[keep], t[keep]
    present_u = np.flatnonzero(np.bincount(u, minlength=n_users))
    present_i = np.flatnonzero(np.bincount(i, minlength=n_items))
    u_sorted = present_u[natural_order(raw.user_keys[present_u])]
    i_sorted = present_i[natural_order(raw.item_keys[present_i])]
    umap = np.zeros(n_users, dtype=np.int64)
    umap[u_sorted] = np.arange(1, u_sorted.shape[0] + 1)
    imap = np.zeros(n_items, dtype=np.int64)
    imap[i_sorted] = np.arange(1, i_sorted.shape[0] + 1)
    uid, iid = umap[u], imap[i]
    order = np.argsort(uid, kind="stable")  # keeps chronological order inside each user
    uid, iid, t = uid[order], iid[order], t[order]
    counts = np.bincount(uid, minlength=u_sorted.shape[0] + 1)[1:]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    input_total = n + sum(raw.load_report.values())
    kept = int(uid.shape[0])
    assert input_total == kept + sum(report.values()), "filtering report does not add up"
    return Sequences(
        user_keys=raw.user_keys[u_sorted],
        item_keys=raw.item_keys[i_sorted],
        item_table_rows=None if table_row_of_key is None else table_row_of_key[i_sorted],
        user_ids=uid,
        item_ids=iid,
        timestamps=t,
        offsets=offsets,
        report={
            "input_interactions": int(input_total),
            "kept_interactions": kept,
            "dropped": {k: int(v) for k, v in sorted(report.items()) if v},
            "dropped_total": int(sum(report.values())),
        },
    )


def _chronological_order(users: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Permutation sorting by (user, timestamp), ties kept in input order (stable)."""
    n = users.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    t_min, t_max = int(timestamps.min()), int(timestamps.max())
    span = t_max - t_min + 1
    if (int(users.max()) + 1) * span < 2**62:  # one int64 key: a single stable argsort
        return np.argsort(users * span + (timestamps - t_min), kind="stable")
    return np.lexsort((np.arange(n), timestamps, users))


@dataclass
class SplitArrays:
    """One split as flat arrays: histories are ``values[offsets[k]:offsets[k+1]]`` for example k."""

    user_ids: np.ndarray
    history: np.ndarray
    history_timestamps: np.ndarray
    history_offsets: np.ndarray
    target: np.ndarray
    target_timestamp: np.ndarray


SPLIT_POSITION = {"test": 1, "validation": 2, "train": 3}  # target = s[-k]


def build_split(seqs: Sequences, split: str, max_history_length: int | None) -> SplitArrays:
    """Leave-one-out: test = s[:-1] → s[-1], validation = s[:-2] → s[-2], train = s[:-3] → s[-3]."""
    k = SPLIT_POSITION[split]
    starts, ends = seqs.offsets[:-1], seqs.offsets[1:]
    target_pos = ends - k
    hist_len = target_pos - starts
    if max_history_length is not None:
        hist_len = np.minimum(hist_len, max_history_length)
    hist_start = target_pos - hist_len
    offsets = np.concatenate([[0], np.cumsum(hist_len)]).astype(np.int64)
    total = int(offsets[-1])
    # index of every history element: its user's hist_start + its position inside the history
    gather = np.repeat(hist_start - offsets[:-1], hist_len) + np.arange(total, dtype=np.int64)
    return SplitArrays(
        user_ids=np.arange(1, seqs.num_users + 1, dtype=np.int64),
        history=seqs.item_ids[gather],
        history_timestamps=seqs.timestamps[gather],
        history_offsets=offsets,
        target=seqs.item_ids[target_pos],
        target_timestamp=seqs.timestamps[target_pos],
    )
