"""The statistics the issue fixes, on the real files (skipped when ../shared/data is absent), and the leak-free split
checked on every real user."""

from __future__ import annotations

import numpy as np
import pytest

from hf_delrec.data import load_prepared, prepare_dataset

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def ml100k(ml100k_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "ml100k"
    stats = prepare_dataset("ml-100k", ml100k_dir, out)
    return stats, load_prepared(out)


@pytest.fixture(scope="module")
def beauty(beauty_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("real") / "beauty"
    stats = prepare_dataset("amazon", beauty_dir, out, num_negatives=19, num_candidates=20)
    return stats, load_prepared(out)


def test_ml100k_statistics(ml100k):
    stats, ds = ml100k
    assert (stats["num_users"], stats["num_items"], stats["num_interactions"]) == (943, 1682, 100_000)
    assert stats["filtering"]["dropped"] == {} and stats["filtering"]["input_interactions"] == 100_000
    assert stats["matches_official_ratings_file"] is True
    assert ds.titles[543] == "Misérables, Les (1995)" and ds.titles[1] == "Toy Story (1995)"
    assert ds.num_items == 1682 and len(ds.examples["test"]) == 943


def test_beauty_statistics(beauty):
    stats, ds = beauty
    assert (stats["num_users"], stats["num_items"], stats["num_interactions"]) == (22_363, 12_101, 198_502)
    assert stats["filtering"]["dropped"] == {}
    assert stats["items_table"]["rows_without_interactions"] == 0
    titles = dict(zip(ds.items["raw_id"], ds.items["title"]))
    assert "\n" in titles["B0001ZYL3Q"] and titles["B0001ZYL3Q"].startswith("TheraNeem Cream")


def _lists(split, column):
    """(flat values, per-row lengths) of a list column, straight from the Arrow table."""
    arr = split.data.column(column).combine_chunks()
    return arr.flatten().to_numpy(), arr.value_lengths().to_numpy().astype(np.int64)


def _contains(rows, items, set_rows, set_items, n_items):
    """For each (row, item) query: is ``item`` in row's set? (vectorised membership via combined keys)."""
    keys = np.sort(set_rows * (n_items + 1) + set_items)
    q = rows * (n_items + 1) + items
    pos = np.minimum(np.searchsorted(keys, q), keys.size - 1)
    return keys[pos] == q


def _check_leak_free(ds):
    """Vectorised over every user: no validation/test target in the train row, rows nest as leave-one-out, train
    ends before the validation target, negatives/candidates never contain the user's items."""
    tr, va, te = (ds.examples[s] for s in ("train", "validation", "test"))
    n = ds.num_items
    col = lambda split, name: split.data.column(name).to_numpy()  # noqa: E731
    assert (col(tr, "user_id") == col(va, "user_id")).all() and (col(va, "user_id") == col(te, "user_id")).all()
    U = len(tr)
    rows = np.arange(U)
    tr_h, tr_len = _lists(tr, "history")
    va_h, va_len = _lists(va, "history")
    te_h, te_len = _lists(te, "history")
    tr_t, va_t, te_t = (col(d, "target") for d in (tr, va, te))
    # train sequence = train history + train target; it must be exactly the validation history ...
    train_rows = np.concatenate([np.repeat(rows, tr_len), rows])
    train_items = np.concatenate([tr_h, tr_t])
    assert (va_len == tr_len + 1).all() and (te_len == tr_len + 2).all()
    te_off = np.concatenate([[0], np.cumsum(te_len)[:-1]])
    va_off = np.concatenate([[0], np.cumsum(va_len)[:-1]])
    pos_in_row = np.arange(tr_h.size) - np.repeat(np.concatenate([[0], np.cumsum(tr_len)[:-1]]), tr_len)
    assert (va_h[np.repeat(va_off, tr_len) + pos_in_row] == tr_h).all()
    assert (va_h[va_off + tr_len] == tr_t).all() and (te_h[te_off + tr_len + 1] == va_t).all()
    # ... and contain neither the validation nor the test target
    assert not _contains(rows, va_t, train_rows, train_items, n).any()
    assert not _contains(rows, te_t, train_rows, train_items, n).any()
    # chronology: train examples end before the validation target
    tr_ts, va_ts, te_ts = (col(d, "target_timestamp") for d in (tr, va, te))
    assert (tr_ts <= va_ts).all() and (va_ts <= te_ts).all()
    # negatives / candidates (minus the target) never contain any item of the user's whole sequence
    all_rows = np.concatenate([np.repeat(rows, te_len), rows])
    all_items = np.concatenate([te_h, te_t])
    for split, target in ((tr, tr_t), (va, va_t), (te, te_t)):
        neg, neg_len = _lists(split, "negatives")
        assert not _contains(np.repeat(rows, neg_len), neg, all_rows, all_items, n).any()
        cand, cand_len = _lists(split, "candidates")
        cand_rows = np.repeat(rows, cand_len)
        is_target = cand == target[cand_rows]
        assert np.bincount(cand_rows[is_target], minlength=U).tolist() == [1] * U
        assert not _contains(cand_rows[~is_target], cand[~is_target], all_rows, all_items, n).any()


def test_ml100k_split_leak_free(ml100k):
    _check_leak_free(ml100k[1])


def test_beauty_split_leak_free(beauty):
    _, ds = beauty
    _check_leak_free(ds)
    assert set(_lists(ds.examples["test"], "candidates")[1].tolist()) == {20}


def test_steam_llara_rows(real_data, tmp_path):
    src = real_data / "steam-llara"
    if not (src / "id2name.txt").is_file():
        pytest.skip(f"{src} not found")
    stats = prepare_dataset("steam", src, tmp_path / "steam")
    # 2 × 1,194 val/test rows + the 1,000-row train sample; test row 914 lost its history (its 1 item counted),
    # one other row is a 2-item sequence (a short user: 2 interactions counted)
    assert stats["filtering"]["dropped"] == {"short_user": 2, "steam_row_with_empty_history": 1}
    assert stats["num_users"] == 1194 * 2 + 1000 - 1 - 1


def test_cli_prints_statistics(ml100k_dir, tmp_path, capsys):
    from hf_delrec.commands.data import main

    assert main(["prepare", "ml-100k", "--source", str(ml100k_dir), "--output", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert "users              943" in out and "items              1,682" in out and "100,000" in out
