"""Every source loader on small synthetic files in its real layout, plus the MovieLens download path (mocked: the
tests never touch the network)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from test_data_fixtures import (
    interactions_rows,
    make_amazon_raw,
    make_amazon_sequences,
    make_ml1m,
    make_ml100k,
    make_steam,
    write_rows,
)
from hf_delrec.data import DataSourceNotFoundError, load_prepared, prepare_dataset
from hf_delrec.data.sources import movielens


def _seq(ds, row):
    raw = ds.raw_item_ids
    return [raw[i] for i in row["history"]] + [raw[row["target"]]]


def test_ml100k_layout(tmp_path):
    src = make_ml100k(tmp_path / "ml")
    stats = prepare_dataset("ml-100k", src, tmp_path / "o", num_negatives=2, num_candidates=3)
    ds = load_prepared(tmp_path / "o")
    assert (stats["num_users"], stats["num_items"], stats["num_interactions"]) == (6, 8, 30)
    assert ds.titles[2] == "Misérables, Les (1995)"  # latin-1 decoded
    assert ds.items["raw_id"] == [str(i) for i in range(1, 9)]  # item_id == movie id
    assert ds.items["genres"][0] and ds.items["imdb_url"][0].startswith("http")
    assert stats["has_timestamps"] and stats["matches_official_ratings_file"] is False


def test_ml1m_layout(tmp_path):
    src = make_ml1m(tmp_path / "m")
    stats = prepare_dataset("ml-1m", src, tmp_path / "o", num_negatives=2, num_candidates=2)
    ds = load_prepared(tmp_path / "o")
    assert (stats["num_users"], stats["num_interactions"]) == (5, 20)
    assert ds.titles[1] == "Amélie (2001)" and ds.items["genres"][0] == ["Comedy", "Romance"]


def test_amazon_sequences_and_recbole_items(tmp_path):
    src = make_amazon_sequences(tmp_path / "a")
    stats = prepare_dataset("amazon", src, tmp_path / "o", num_negatives=1, num_candidates=2)
    ds = load_prepared(tmp_path / "o")
    # A4 has 2 items: dropped and counted; B999 is in the item file only
    assert stats["filtering"]["dropped"] == {"short_user": 2}
    assert (stats["num_users"], stats["num_items"], stats["num_interactions"]) == (3, 6, 11)
    assert stats["items_table"]["rows_without_interactions"] == 1 and stats["items_table"]["empty_titles"] == 1
    titles = dict(zip(ds.items["raw_id"], ds.items["title"]))
    assert titles["B002"] == "Cream - Original 2 oz Cream \nVanilla"  # quoted newline kept inside the title
    assert titles["B003"] == ""
    meta = {r["raw_id"]: r for r in ds.items}
    assert meta["B001"]["categories"] == ["Beauty", "Hair Care"] and meta["B002"]["sales_rank"] is None
    test = {r["raw_user_id"]: _seq(ds, r) for r in ds.examples["test"]}
    assert test["A1"] == ["B001", "B002", "B003", "B004"] and set(ds.examples["test"]["target_timestamp"]) == {-1}


def test_amazon_raw_json_gz(tmp_path):
    src = make_amazon_raw(tmp_path / "raw")
    stats = prepare_dataset("amazon", src, tmp_path / "o", num_negatives=0, num_candidates=1)
    ds = load_prepared(tmp_path / "o")
    assert (stats["num_users"], stats["num_items"], stats["num_interactions"]) == (3, 4, 10)
    meta = {r["raw_id"]: r for r in ds.items}
    assert meta["X1"]["title"] == "Soap" and meta["X1"]["categories"] == ["Beauty", "Bath"]
    assert meta["X1"]["sales_rank"] == 12.0 and meta["X3"]["price"] == 4.0
    assert meta["X2"]["title"] == "Men's Gel" and meta["X4"]["title"] == ""
    test = {r["raw_user_id"]: _seq(ds, r) for r in ds.examples["test"]}
    assert test["U2"] == ["X2", "X3", "X4", "X1"]
    assert ds.examples["test"][0]["target_timestamp"] > 1_400_000_000


def test_steam_rows_are_pseudo_users(tmp_path):
    src = make_steam(tmp_path / "s")
    stats = prepare_dataset("steam", src, tmp_path / "o", num_negatives=2, num_candidates=2)
    ds = load_prepared(tmp_path / "o")
    assert stats["filtering"]["dropped"] == {"short_user": 2, "steam_row_with_empty_history": 1}
    test = {r["raw_user_id"]: _seq(ds, r) for r in ds.examples["test"]}
    assert test == {"test:0": ["9", "8", "7", "6", "5", "1"], "val:0": ["1", "2", "3", "4"], "val:1": ["5", "6", "7"]}
    assert ds.titles[ds.raw_item_ids.index("9")] == "Game 9"


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "jsonl"])
def test_interactions_table_formats_with_items(tmp_path, fmt):
    rows = interactions_rows()
    header = ("uid", "sku", "when")
    path = tmp_path / f"log.{fmt}"
    if fmt in ("csv", "tsv"):
        write_rows(path, rows, header, "," if fmt == "csv" else "\t")
    elif fmt == "parquet":
        pq.write_table(pa.table({h: [r[k] for r in rows] for k, h in enumerate(header)}), path)
    else:
        path.write_text("".join(json.dumps(dict(zip(header, r))) + "\n" for r in rows), encoding="utf-8")
    items = write_rows(tmp_path / "items.csv", [(f"item{i}", f"Thing {i}", "red") for i in range(9)],
                       ("sku", "name", "colour"))  # fmt: skip
    stats = prepare_dataset("interactions", path, tmp_path / "o", user_column="uid", item_column="sku",
                            timestamp_column="when", items_path=items, title_column="name", num_negatives=3,
                            num_candidates=2)  # fmt: skip
    ds = load_prepared(tmp_path / "o")
    assert (stats["num_users"], stats["num_items"], stats["num_interactions"]) == (6, 9, 24)
    assert ds.titles[1] == "Thing 0" and ds.items["colour"][0] == "red"
    assert ds.examples["test"][0]["target_timestamp"] == rows[3][2]


def test_interactions_iso_timestamps(tmp_path):
    rows = [("a", "x", "2024-01-03T00:00:00Z"), ("a", "y", "2024-01-01T00:00:00Z"), ("a", "z", "2024-01-02T00:00:00Z")]
    prepare_dataset("interactions", write_rows(tmp_path / "t.csv", rows), tmp_path / "o", num_negatives=0,
                    num_candidates=1)  # fmt: skip
    ds = load_prepared(tmp_path / "o")
    assert _seq(ds, ds.examples["test"][0]) == ["y", "z", "x"]
    assert ds.examples["test"][0]["target_timestamp"] == 1704240000


# --------------------------------------------------------------------------------------------- MovieLens download
def test_movielens_offline_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DELREC_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DELREC_OFFLINE", "1")
    monkeypatch.setattr(movielens, "_fetch", lambda url, timeout=30: pytest.fail("must not download offline"))
    with pytest.raises(DataSourceNotFoundError) as err:
        prepare_dataset("ml-100k", None, tmp_path / "o")
    msg = str(err.value)
    assert "https://files.grouplens.org/datasets/movielens/ml-100k.zip" in msg and "--source" in msg
    assert str(tmp_path / "cache" / "ml-100k") in msg


def test_movielens_download_failure_and_checksum(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DELREC_DATA_CACHE", str(tmp_path / "cache"))
    for var in ("HF_DELREC_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)

    def unreachable(url, timeout=30):
        raise OSError("network unreachable")

    monkeypatch.setattr(movielens, "_fetch", unreachable)
    with pytest.raises(DataSourceNotFoundError, match="download failed .*network unreachable"):
        prepare_dataset("ml-100k", None, tmp_path / "o")
    # a corrupted archive is refused
    monkeypatch.setattr(movielens, "_fetch", lambda url, timeout=30: b"not a zip")
    with pytest.raises(DataSourceNotFoundError, match="MD5"):
        prepare_dataset("ml-100k", None, tmp_path / "o")
    assert not (tmp_path / "cache" / "ml-100k").exists()


def test_movielens_download_verified_then_cached(monkeypatch, tmp_path):
    """The whole download path on a synthetic archive whose checksums are patched in."""
    src = make_ml100k(tmp_path / "files")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("u.data", "u.item"):
            zf.write(src / name, f"ml-100k/{name}")
    blob = buf.getvalue()
    spec = dict(movielens.MOVIELENS["ml-100k"], zip_md5=hashlib.md5(blob).hexdigest(),
                ratings_sha256=hashlib.sha256((src / "u.data").read_bytes()).hexdigest())  # fmt: skip
    monkeypatch.setitem(movielens.MOVIELENS, "ml-100k", spec)
    monkeypatch.setenv("HF_DELREC_DATA_CACHE", str(tmp_path / "cache"))
    for var in ("HF_DELREC_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    calls = []
    monkeypatch.setattr(movielens, "_fetch", lambda url, timeout=30: calls.append(url) or blob)
    stats = prepare_dataset("ml-100k", None, tmp_path / "o1", num_negatives=2, num_candidates=2)
    assert calls == [spec["url"]] and stats["num_interactions"] == 30 and stats["matches_official_ratings_file"]
    prepare_dataset("ml-100k", None, tmp_path / "o2", num_negatives=2, num_candidates=2)
    assert len(calls) == 1  # second time from the cache


def test_source_path_missing_files(tmp_path):
    with pytest.raises(DataSourceNotFoundError, match="u.data"):
        prepare_dataset("ml-100k", tmp_path, tmp_path / "o")
    with pytest.raises(DataSourceNotFoundError, match="user_sequence.txt"):
        prepare_dataset("amazon", tmp_path, tmp_path / "o")
    with pytest.raises(DataSourceNotFoundError, match="jsonl"):
        prepare_dataset("steam", tmp_path, tmp_path / "o")
