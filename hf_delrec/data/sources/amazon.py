"""Amazon reviews (McAuley 2014/2018), in two layouts.

1. The standard 5-core *sequence* layout (P5 / S3-Rec / RecBole): ``user_sequence.txt`` with one line per user,
   ``USER ASIN1 ASIN2 ...`` in chronological order (no timestamps), plus a RecBole atomic item file
   ``<Name>.item`` (TAB separated, header ``item_id:token title:token ...``). The item file is parsed with the
   csv module because a quoted title may contain a newline.
2. The raw dumps: ``reviews_<Cat>[_5].json[.gz]`` (one JSON object per line: ``reviewerID``, ``asin``,
   ``unixReviewTime``, ``overall``) and optionally ``meta_<Cat>.json[.gz]`` (one object per line, JSON or the
   2014 Python-literal style: ``asin``, ``title``, ``brand``, ``price``, ``categories``/``category``,
   ``salesRank``).

``path`` may be the folder or the reviews/sequence file itself; ``items_path`` overrides the item/meta file.
"""

from __future__ import annotations

import ast
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataFormatError, DataSourceNotFoundError
from ..raw import ItemsTable, RawInteractions, csv_rows, read_bytes, decode, read_text

GUIDE = (
    "Amazon data: pass --source DIR containing either user_sequence.txt (+ a RecBole <Name>.item file) or the raw "
    "reviews_<Category>_5.json.gz (+ meta_<Category>.json.gz) from the UCSD Amazon review data page "
    "(https://cseweb.ucsd.edu/~jmcauley/datasets/amazon/links.html)."
)


def load_amazon(path: str | os.PathLike | None, items_path: str | os.PathLike | None = None) -> RawInteractions:
    if path is None:
        raise DataSourceNotFoundError("no --source given. " + GUIDE)
    path = Path(path)
    if path.is_file():
        folder, main = path.parent, path
    elif path.is_dir():
        folder = path
        main = None
        if (path / "user_sequence.txt").is_file():
            main = path / "user_sequence.txt"
        else:
            reviews = sorted(p for p in path.iterdir() if p.name.startswith("reviews") and ".json" in p.name)
            if len(reviews) > 1:
                raise DataSourceNotFoundError(
                    f"{path} holds several reviews files ({', '.join(p.name for p in reviews)}): pass one as --source"
                )
            main = reviews[0] if reviews else None
        if main is None:
            raise DataSourceNotFoundError(f"{path}: neither user_sequence.txt nor reviews*.json[.gz] found. " + GUIDE)
    else:
        raise DataSourceNotFoundError(f"{path} does not exist. " + GUIDE)

    if ".json" in main.name:
        meta = (
            Path(items_path)
            if items_path
            else _find_one(folder, lambda p: p.name.startswith("meta") and ".json" in p.name)
        )
        return load_reviews_json(main, meta)
    items_file = Path(items_path) if items_path else _find_one(folder, lambda p: p.suffix == ".item")
    return load_sequences(main, items_file)


def _find_one(folder: Path, pred) -> Path | None:
    found = sorted(p for p in folder.iterdir() if p.is_file() and pred(p))
    if len(found) > 1:
        raise DataSourceNotFoundError(
            f"{folder} holds several candidate item files ({', '.join(p.name for p in found)}): pass one with --items"
        )
    return found[0] if found else None


def load_sequences(seq_file: Path, items_file: Path | None) -> RawInteractions:
    text = read_text(seq_file, "utf-8")
    users: list[str] = []
    items: list[str] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for i, line in enumerate(text.rstrip("\r\n").split("\n")):
        parts = line.split()
        if not parts:
            raise DataFormatError("empty line", file=seq_file, line=i + 1)
        if len(parts) < 2:
            raise DataFormatError(
                f"user {parts[0]!r} has no items (expected 'USER ITEM1 ITEM2 ...')", file=seq_file, line=i + 1
            )
        if parts[0] in seen:
            raise DataFormatError(
                f"user {parts[0]!r} already has a line (line {seen[parts[0]]})",
                file=seq_file,
                line=i + 1,
                field="user id",
            )
        seen[parts[0]] = i + 1
        users.extend([parts[0]] * (len(parts) - 1))
        items.extend(parts[1:])
        lines.extend([i + 1] * (len(parts) - 1))
    table = read_recbole_items(items_file) if items_file is not None else None
    return RawInteractions.from_columns(
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        None,
        np.asarray(lines),
        [str(seq_file)],
        items_table=table,
    )


def _literal_list(value: str) -> list[str]:
    try:
        parsed = ast.literal_eval("[" + value + "]")
        if all(isinstance(v, str) for v in parsed):
            return parsed
    except (ValueError, SyntaxError):
        pass
    return value.split()


def read_recbole_items(path: Path) -> ItemsTable:
    """RecBole atomic ``.item`` file: TAB separated, quoted fields may contain newlines."""
    from datasets import List, Value

    text = read_text(path, "utf-8")
    rows = csv_rows(text, path, "\t")
    try:
        _, header = next(rows)
    except StopIteration:
        raise DataFormatError("file is empty", file=path) from None
    names = [h.split(":")[0] for h in header]
    types = [h.split(":")[1] if ":" in h else "token" for h in header]
    if "item_id" not in names:
        raise DataFormatError(f"no item_id column in the header {header}", file=path, line=1, field="item_id")
    if "title" not in names:
        raise DataFormatError(f"no title column in the header {header}", file=path, line=1, field="title")
    id_col, title_col = names.index("item_id"), names.index("title")
    meta_cols = [j for j in range(len(names)) if j not in (id_col, title_col)]
    raw_ids, titles, lines = [], [], []
    metadata: dict[str, list[Any]] = {names[j]: [] for j in meta_cols}
    for line, row in rows:
        if not row or row == [""]:
            continue
        if len(row) != len(names):
            kind = "too few" if len(row) < len(names) else "too many"
            raise DataFormatError(
                f"{kind} fields: expected {len(names)} (TAB separated), got {len(row)}", file=path, line=line
            )
        if not row[id_col].strip():
            raise DataFormatError("empty item id", file=path, line=line, field="item_id")
        raw_ids.append(row[id_col].strip())
        titles.append(row[title_col].strip())
        lines.append(line)
        for j in meta_cols:
            value = row[j]
            if types[j] == "float":
                try:
                    value = float(value) if value.strip() else None
                except ValueError:
                    raise DataFormatError(
                        f"expected a number, got {value!r}", file=path, line=line, field=names[j]
                    ) from None
            elif types[j] == "token_seq":
                value = _literal_list(value) if value.strip() else []
            metadata[names[j]].append(value)
    if not raw_ids:
        raise DataFormatError("no item rows after the header", file=path)
    features = {
        names[j]: Value("float64") if types[j] == "float" else List(Value("string")) if types[j] == "token_seq"
        else Value("string")
        for j in meta_cols
    }  # fmt: skip
    return ItemsTable(
        file=str(path), raw_ids=raw_ids, titles=titles, metadata=metadata, metadata_features=features, lines=lines
    )


def _json_lines(path: Path):
    """(line number, object) for each non-blank line; JSON first, then Python literals (2014 metadata style)."""
    text = decode(read_bytes(path), path, "utf-8")
    if not text.strip():
        raise DataFormatError("file is empty", file=path)
    for i, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            try:
                obj = ast.literal_eval(line)
            except (ValueError, SyntaxError):
                raise DataFormatError(f"not a JSON object: {exc.msg}", file=path, line=i + 1) from None
        if not isinstance(obj, dict):
            raise DataFormatError(f"expected a JSON object, got {type(obj).__name__}", file=path, line=i + 1)
        yield i + 1, obj


def _required(obj: dict, key: str, path: Path, line: int) -> Any:
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataFormatError(f"missing {key!r}", file=path, line=line, field=key)
    return value


def load_reviews_json(reviews: Path, meta: Path | None) -> RawInteractions:
    users, items, ts, ratings, lines = [], [], [], [], []
    for line, obj in _json_lines(reviews):
        users.append(str(_required(obj, "reviewerID", reviews, line)))
        items.append(str(_required(obj, "asin", reviews, line)))
        t = _required(obj, "unixReviewTime", reviews, line)
        if isinstance(t, bool) or not isinstance(t, (int, float, str)) or not str(t).strip().lstrip("-").isdigit():
            raise DataFormatError(f"expected unix seconds, got {t!r}", file=reviews, line=line, field="unixReviewTime")
        ts.append(int(t))
        r = obj.get("overall")
        try:
            ratings.append(float(r) if r is not None else np.nan)
        except (TypeError, ValueError):
            raise DataFormatError(f"expected a number, got {r!r}", file=reviews, line=line, field="overall") from None
        lines.append(line)
    table = read_meta_json(meta) if meta is not None else None
    return RawInteractions.from_columns(
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        np.asarray(ts, dtype=np.int64),
        np.asarray(lines),
        [str(reviews)],
        ratings=np.asarray(ratings),
        items_table=table,
        load_report=Counter(),
    )


def read_meta_json(path: Path) -> ItemsTable:
    from datasets import List, Value

    raw_ids, titles, lines = [], [], []
    brand, price, categories, sales_rank = [], [], [], []
    for line, obj in _json_lines(path):
        raw_ids.append(str(_required(obj, "asin", path, line)))
        title = obj.get("title")
        titles.append(str(title).strip() if title is not None else "")
        brand.append(str(obj.get("brand") or ""))
        p = obj.get("price")
        try:
            price.append(float(str(p).lstrip("$").replace(",", "")) if p not in (None, "") else None)
        except ValueError:
            price.append(None)  # 2018 metadata has free-text prices such as "$3.99 - $10.99"
        cats = obj.get("categories", obj.get("category")) or []
        if cats and isinstance(cats[0], list):  # 2014: list of category paths; keep the first path
            cats = cats[0]
        categories.append([str(c) for c in cats])
        rank = obj.get("salesRank")
        sales_rank.append(float(next(iter(rank.values()))) if isinstance(rank, dict) and rank else None)
        lines.append(line)
    return ItemsTable(
        file=str(path),
        raw_ids=raw_ids,
        titles=titles,
        metadata={"brand": brand, "price": price, "categories": categories, "sales_rank": sales_rank},
        metadata_features={
            "brand": Value("string"),
            "price": Value("float64"),
            "categories": List(Value("string")),
            "sales_rank": Value("float64"),
        },  # fmt: skip
        lines=lines,
    )
