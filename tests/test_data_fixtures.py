"""Small synthetic source files in each supported layout, shared by the test_data_* modules (no tests here; never real
data)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

GENRE_FLAGS = "|0" * 19


def make_ml100k(folder: Path, n_users: int = 6, n_items: int = 8, per_user: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    t = 880000000
    for u in range(1, n_users + 1):
        for k in range(per_user):
            item = (u + 2 * k) % n_items + 1
            t += 17
            lines.append(f"{u}\t{item}\t{1 + (u + k) % 5}\t{t}")
    (folder / "u.data").write_text("\n".join(lines) + "\n", encoding="latin-1")
    items = []
    for i in range(1, n_items + 1):
        title = "Misérables, Les (1995)" if i == 2 else f"Movie {i} (199{i % 10})"
        flags = GENRE_FLAGS[: 2 * (i % 19)] + "|1" + GENRE_FLAGS[2 * (i % 19) + 2 :]
        items.append(f"{i}|{title}|01-Jan-1995||http://example.invalid/{i}{flags}")
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    return folder


def make_ml1m(folder: Path, n_users: int = 5, n_items: int = 7) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{u}::{(u + k) % n_items + 1}::4::{978300000 + 10 * u + k}" for u in range(1, n_users + 1) for k in range(4)
    ]
    (folder / "ratings.dat").write_text("\n".join(lines) + "\n", encoding="latin-1")
    movies = [f"{i}::Film {i} (2000)::Comedy|Drama" for i in range(1, n_items + 1)]
    movies[0] = "1::Amélie (2001)::Comedy|Romance"
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    return folder


RECBOLE_HEADER = (
    "item_id:token\ttitle:token\tsales_type:token\tsales_rank:float\tcategories:token_seq\tprice:float\tbrand:token"
)


def make_amazon_sequences(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "user_sequence.txt").write_text(
        "A1 B001 B002 B003 B004\nA2 B002 B003 B005\nA3 B005 B004 B001 B006\nA4 B006 B001\n", encoding="utf-8"
    )
    rows = [
        RECBOLE_HEADER,
        "B001\tShampoo 1\tBeauty\t10.0\t'Beauty', 'Hair Care'\t5.5\tAcme",
        "B002\t\"Cream - Original 2 oz Cream \nVanilla\"\tBeauty\t\t'Beauty', 'Skin'\t11.28\tOrganix",
        "B003\t\tBeauty\t3.0\t'Beauty'\t\tNoName",
        "B004\tLipstick\tBeauty\t4.0\t'Beauty', 'Makeup'\t2.0\tAcme",
        "B005\tNail polish\tBeauty\t5.0\t'Beauty', 'Nails'\t3.0\tAcme",
        "B006\tComb\tBeauty\t6.0\t'Beauty'\t1.0\tAcme",
        "B999\tNever bought\tBeauty\t7.0\t'Beauty'\t1.0\tAcme",
    ]
    (folder / "Amazon_Test.item").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def make_amazon_raw(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    reviews = []
    for u, items in {"U1": ["X1", "X2", "X3"], "U2": ["X2", "X3", "X4", "X1"], "U3": ["X4", "X1", "X2"]}.items():
        for k, asin in enumerate(items):
            reviews.append({"reviewerID": u, "asin": asin, "overall": 5.0, "unixReviewTime": 1_400_000_000 + 86400 * k,
                            "reviewText": "ok", "reviewTime": "05 13, 2014"})  # fmt: skip
    with gzip.open(folder / "reviews_Test_5.json.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in reviews) + "\n")
    # 2014 metadata is Python-literal style (single quotes), not JSON
    meta = [
        "{'asin': 'X1', 'title': 'Soap', 'price': 3.5, 'salesRank': {'Beauty': 12}, 'categories': [['Beauty', 'Bath']], 'brand': 'Acme'}",
        "{'asin': 'X2', 'title': \"Men's Gel\", 'categories': [['Beauty']]}",
        '{"asin": "X3", "title": "Brush", "price": "$4.00", "category": ["Beauty", "Tools"]}',
        "{'asin': 'X4', 'categories': [['Beauty']]}",
    ]
    with gzip.open(folder / "meta_Test.json.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(meta) + "\n")
    return folder


def make_steam(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "id2name.txt").write_text("\n".join(f"{i}::Game {i}" for i in range(10)) + "\n", encoding="utf-8")
    pad = 10
    rows = [
        {"row": 0, "seq": [1, 2, 3, pad, pad], "len_seq": 3, "next": 4},
        {"row": 1, "seq": [5, 6, pad, pad, pad], "len_seq": 2, "next": 7},
        {"row": 2, "seq": [8, pad, pad, pad, pad], "len_seq": 1, "next": 9},  # 2 items: a short user
        {"row": 3, "seq": [pad] * 5, "len_seq": 1, "next": 2},  # LLaRA quirk: history lost
    ]
    (folder / "val.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    rows2 = [{"row": 0, "seq": [9, 8, 7, 6, 5], "len_seq": 5, "next": 1}]
    (folder / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows2) + "\n", encoding="utf-8")
    return folder


def interactions_rows(n_users: int = 6, per_user: int = 4, n_items: int = 9):
    return [
        (f"user{u}", f"item{(u * 3 + k) % n_items}", 1_600_000_000 + 60 * (u * per_user + k))
        for u in range(n_users)
        for k in range(per_user)
    ]


def write_rows(path: Path, rows, header=("user_id", "item_id", "timestamp"), sep=",") -> Path:
    text = sep.join(header) + "\n" + "".join(sep.join(map(str, r)) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path
