"""Processing of the data layer on small synthetic tables: split protocol, leak-freeness, negatives/candidates,
filters (k-core, duplicates, repeats, short users), determinism, the prepared format and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hf_delrec.data import (
    DataConfigError,
    NegativeSampler,
    catalogue_fingerprint,
    example_features,
    load_prepared,
    prepare_dataset,
)


def write_csv(path: Path, rows, header="user_id,item_id,timestamp") -> Path:
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def random_log(n_users=60, n_items=80, seed=0, min_len=3, max_len=15):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        k = int(rng.integers(min_len, max_len + 1))
        items = rng.choice(n_items, size=k, replace=False)
        times = np.sort(rng.integers(1_000, 100_000, size=k))
        rows += [(f"user{u}", f"it{i}", int(t)) for i, t in zip(items, times)]
    rng.shuffle(rows)  # file order must not matter (except for ties)
    return rows


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    rows = random_log()
    src = write_csv(tmp / "log.csv", rows)
    out = tmp / "prepared"
    prepare_dataset("interactions", src, out, num_negatives=30, num_candidates=10, seed=7)
    return rows, load_prepared(out), src


def _user_sequences(rows):
    """Ground truth: chronological item sequence per raw user (distinct timestamps in random_log per user? ties
    resolved by file order)."""
    by_user: dict[str, list] = {}
    for k, (u, i, t) in enumerate(rows):
        by_user.setdefault(u, []).append((t, k, i))
    return {u: [i for _, _, i in sorted(v)] for u, v in by_user.items()}


def test_split_matches_leave_one_out(small):
    rows, ds, _ = small
    truth = _user_sequences(rows)
    raw_item = ds.raw_item_ids
    assert ds.num_users == len(truth)
    for split, k in (("test", 1), ("validation", 2), ("train", 3)):
        for ex in ds.examples[split]:
            seq = truth[ex["raw_user_id"]]
            assert [raw_item[i] for i in ex["history"]] == seq[:-k]
            assert raw_item[ex["target"]] == seq[-k]


def test_split_is_leak_free(small):
    _, ds, _ = small
    ex = {s: {r["user_id"]: r for r in ds.examples[s]} for s in ("train", "validation", "test")}
    for uid, tr in ex["train"].items():
        va, te = ex["validation"][uid], ex["test"][uid]
        train_items = tr["history"] + [tr["target"]]
        # no validation/test target inside the train row ... (positions, not values: repeats are allowed in general,
        # here the synthetic users have distinct items so values must be absent too)
        assert va["target"] not in train_items and te["target"] not in train_items
        # ... train examples end before the validation target, which ends before the test target
        assert tr["target_timestamp"] <= va["target_timestamp"] <= te["target_timestamp"]
        assert all(t <= va["target_timestamp"] for t in tr["history_timestamps"])
        assert va["history"] == train_items and te["history"] == train_items + [va["target"]]
        whole = set(te["history"] + [te["target"]])
        for split_row in (tr, va, te):
            assert not whole & set(split_row["negatives"]), "a negative is one of the user's items"
            cands = split_row["candidates"]
            assert len(set(cands)) == len(cands) == 10
            assert split_row["target"] in cands and not (set(cands) - {split_row["target"]}) & whole
            assert set(cands) - {split_row["target"]} == set(split_row["negatives"][:9])


def test_negatives_are_distinct_valid_and_shuffled(small):
    _, ds, _ = small
    test = ds.examples["test"]
    positions = []
    for ex in test:
        neg = ex["negatives"]
        assert len(neg) == 30 and len(set(neg)) == 30
        assert all(1 <= i <= ds.num_items for i in neg)
        positions.append(ex["candidates"].index(ex["target"]))
    # the target is not always in the same slot (candidates are shuffled)
    assert len(set(positions)) > 3


def test_prepared_format(small):
    _, ds, src = small
    assert ds.examples["train"].features == example_features()
    assert ds.items["item_id"] == list(range(1, ds.num_items + 1))
    assert ds.titles[0] == "" and len(ds.titles) == ds.num_items + 1
    assert ds.catalogue_fingerprint == catalogue_fingerprint(ds.items["raw_id"])
    stats = json.loads((ds.path / "stats.json").read_text())
    for key in ("num_users", "num_items", "num_interactions", "filtering", "seed", "num_negatives", "num_candidates",
                "negative_sampling", "max_history_length", "catalogue_fingerprint", "version", "split"):  # fmt: skip
        assert key in stats
    f = stats["filtering"]
    assert f["input_interactions"] == f["kept_interactions"] + f["dropped_total"] == stats["num_interactions"]
    assert stats["source_files"][0]["path"] == str(src)
    # user ids follow the natural order of raw ids, item ids too
    users = ds.examples["test"]["raw_user_id"]
    assert users == sorted(users)


def test_deterministic_for_seed_and_changes_with_seed(small, tmp_path):
    _, ds, src = small
    prepare_dataset("interactions", src, tmp_path / "again", num_negatives=30, num_candidates=10, seed=7)
    prepare_dataset("interactions", src, tmp_path / "other", num_negatives=30, num_candidates=10, seed=8)
    again, other = load_prepared(tmp_path / "again"), load_prepared(tmp_path / "other")
    for split in ("train", "validation", "test"):
        assert again.examples[split]["negatives"] == ds.examples[split]["negatives"]
        assert again.examples[split]["candidates"] == ds.examples[split]["candidates"]
    assert other.examples["test"]["negatives"] != ds.examples["test"]["negatives"]
    assert other.examples["test"]["history"] == ds.examples["test"]["history"]


def test_max_history_length_crops_oldest(tmp_path, small):
    rows, full, src = small
    prepare_dataset("interactions", src, tmp_path / "crop", num_negatives=30, num_candidates=10, max_history_length=4)
    crop = load_prepared(tmp_path / "crop")
    for a, b in zip(full.examples["test"], crop.examples["test"]):
        assert b["history"] == a["history"][-4:] and b["target"] == a["target"]
        assert b["history_timestamps"] == a["history_timestamps"][-4:]


def test_ties_keep_file_order_and_no_timestamps(tmp_path):
    rows = [("u", "c", 5), ("u", "a", 5), ("u", "b", 1), ("u", "d", 5)]
    prepare_dataset("interactions", write_csv(tmp_path / "t.csv", rows), tmp_path / "o", num_negatives=0,
                    num_candidates=1)  # fmt: skip
    ds = load_prepared(tmp_path / "o")
    test = ds.examples["test"][0]
    assert [ds.raw_item_ids[i] for i in test["history"]] + [ds.raw_item_ids[test["target"]]] == ["b", "c", "a", "d"]
    # without a timestamp column, file order is the order and timestamps are -1
    prepare_dataset("interactions", write_csv(tmp_path / "t.csv", rows), tmp_path / "o2", num_negatives=0,
                    num_candidates=1, timestamp_column=None)  # fmt: skip
    ds2 = load_prepared(tmp_path / "o2")
    t2 = ds2.examples["test"][0]
    assert [ds2.raw_item_ids[i] for i in t2["history"] + [t2["target"]]] == ["c", "a", "b", "d"]
    assert set(t2["history_timestamps"]) == {-1} and t2["target_timestamp"] == -1
    assert ds2.stats["has_timestamps"] is False


def test_kcore_reaches_fixed_point_and_counts_drops(tmp_path):
    rng = np.random.default_rng(3)
    p = 1.0 / np.arange(1, 61)
    rows = []
    for u in range(150):  # skewed item popularity: the tail items fall under the item core
        k = int(rng.integers(2, 12))
        rows += [(f"u{u}", f"i{i}", t) for t, i in enumerate(rng.choice(60, size=k, replace=False, p=p / p.sum()))]
    src = write_csv(tmp_path / "log.csv", rows)
    stats = prepare_dataset("interactions", src, tmp_path / "o", user_core=5, item_core=5, num_negatives=5,
                            num_candidates=3)  # fmt: skip
    ds = load_prepared(tmp_path / "o")
    seqs = {ex["user_id"]: ex["history"] + [ex["target"]] for ex in ds.examples["test"]}
    counts = np.bincount(np.concatenate([np.array(s) for s in seqs.values()]), minlength=ds.num_items + 1)[1:]
    assert min(len(s) for s in seqs.values()) >= 5 and counts.min() >= 5  # both cores hold at the same time
    f = stats["filtering"]
    assert f["dropped"]["user_core"] > 0 and f["dropped"]["item_core"] > 0
    assert f["input_interactions"] == len(rows) == f["kept_interactions"] + sum(f["dropped"].values())


def test_duplicates_repeats_and_short_users_are_counted(tmp_path):
    rows = [
        ("a", "x", 1), ("a", "y", 2), ("a", "y", 2), ("a", "z", 3), ("a", "x", 4),  # dup (a,y,2); repeat of x
        ("b", "x", 1), ("b", "y", 2), ("b", "z", 3),
        ("c", "x", 1),  # short user
    ]  # fmt: skip
    src = write_csv(tmp_path / "d.csv", rows)
    s1 = prepare_dataset("interactions", src, tmp_path / "o1", num_negatives=0, num_candidates=1)
    assert s1["filtering"]["dropped"] == {"duplicate_user_item_timestamp": 1, "short_user": 1}
    assert s1["num_interactions"] == 7
    s2 = prepare_dataset("interactions", src, tmp_path / "o2", num_negatives=0, num_candidates=1, repeats="first")
    assert s2["filtering"]["dropped"] == {"duplicate_user_item_timestamp": 1, "repeated_user_item": 1, "short_user": 1}
    ds2 = load_prepared(tmp_path / "o2")
    a = ds2.examples["test"][0]
    assert [ds2.raw_item_ids[i] for i in a["history"] + [a["target"]]] == ["x", "y", "z"]
    s3 = prepare_dataset("interactions", src, tmp_path / "o3", num_negatives=0, num_candidates=1, duplicates="keep")
    assert "duplicate_user_item_timestamp" not in s3["filtering"]["dropped"] and s3["num_interactions"] == 8


def test_min_rating_filter(tmp_path):
    rows = [(u, i, t, r) for u in ("a", "b") for t, (i, r) in enumerate([("x", 5), ("y", 1), ("z", 4), ("w", 4)])]
    src = write_csv(tmp_path / "r.csv", rows, header="user_id,item_id,timestamp,rating")
    s = prepare_dataset("interactions", src, tmp_path / "o", rating_column="rating", min_rating=4, num_negatives=0,
                        num_candidates=1)  # fmt: skip
    assert s["filtering"]["dropped"] == {"rating_below_min_rating": 2} and s["num_items"] == 3


def test_popularity_sampling_prefers_popular_items(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for u in range(300):
        # item "hot" is in nobody's... no: popularity comes from interactions; make i0..i4 very popular
        items = list(rng.choice(5, size=2, replace=False)) + list(5 + rng.choice(195, size=2, replace=False))
        rows += [(f"u{u}", f"i{i}", t) for t, i in enumerate(items)]
    src = write_csv(tmp_path / "p.csv", rows)
    prepare_dataset("interactions", src, tmp_path / "uni", num_negatives=10, num_candidates=5)
    prepare_dataset("interactions", src, tmp_path / "pop", num_negatives=10, num_candidates=5,
                    negative_sampling="popularity")  # fmt: skip

    def share_popular(path):
        ds = load_prepared(path)
        popular = {i for i, rid in enumerate(ds.raw_item_ids) if rid in {f"i{k}" for k in range(5)}}
        neg = np.array(ds.examples["test"]["negatives"]).ravel()
        return np.isin(neg, list(popular)).mean()

    assert share_popular(tmp_path / "pop") > 3 * share_popular(tmp_path / "uni")


def test_negative_sampler_api():
    s = NegativeSampler(50, seed=1)
    neg = s.sample({1, 2, 3, 4, 5}, 40)
    assert len(set(neg.tolist())) == 40 and not set(neg.tolist()) & {1, 2, 3, 4, 5}
    assert np.array_equal(NegativeSampler(50, seed=1).sample({1, 2, 3, 4, 5}, 40), neg)
    # rows with almost everything excluded fall back to exact sampling
    values = np.concatenate([np.arange(1, 48), np.arange(1, 3)])
    out = NegativeSampler(50, seed=0).sample_batch(values, np.array([0, 47, 49]), 3)
    assert sorted(out[0].tolist()) == [48, 49, 50] and not set(out[1].tolist()) & {1, 2}
    with pytest.raises(DataConfigError, match="num_negatives"):
        NegativeSampler(50, seed=0).sample(range(1, 49), 3)
    pop = np.zeros(51)
    pop[[3, 4, 5]] = 1.0
    got = NegativeSampler(50, popularity=pop, seed=0).sample({3}, 2)
    assert sorted(got.tolist()) == [4, 5]


def test_failed_prepare_leaves_no_output(tmp_path):
    src = write_csv(tmp_path / "x.csv", [("a", "x", 1), ("a", "y", 2), ("a", "z", 3)])
    with pytest.raises(DataConfigError):
        prepare_dataset("interactions", src, tmp_path / "out", num_negatives=5, num_candidates=3)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_cli_prepare_and_stats(tmp_path, capsys):
    from hf_delrec.commands.data import main

    src = write_csv(tmp_path / "log.csv", random_log(n_users=20, seed=5))
    out = tmp_path / "o"
    assert main(["prepare", "interactions", "--source", str(src), "--output", str(out), "--num-negatives", "19",
                 "--max-history-length", "none"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "users              20" in printed and "catalogue" in printed
    assert main(["stats", str(out)]) == 0
    assert "interactions" in capsys.readouterr().out
    # the error path: exit code 2 and a message naming the directory
    assert main(["prepare", "interactions", "--source", str(src), "--output", str(out)]) == 2
    assert str(out) in capsys.readouterr().err
    # reachable through the dispatcher as `hf-delrec data`
    from hf_delrec.cli import main as cli_main

    assert cli_main(["data", "stats", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_users"] == 20
