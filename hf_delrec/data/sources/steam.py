"""Steam as processed by LLaRA (the Steam data DELRec uses): ``id2name.txt`` (``ID::Game title``) and JSONL files of
rows ``{"row": k, "seq": [10 item ids, left-aligned, padded with the padding id], "len_seq": n, "next": item}``.

How rows map to users: LLaRA's files keep no user ids, and its rows are independent samples (a test row is not the
continuation of the val row with the same index), so **each JSONL row is one pseudo-user** whose chronological
sequence is ``seq[:len_seq] + [next]`` and whose raw user id is ``<file stem>:<row>`` (e.g. ``test:914``). There
are no timestamps (-1). With only 10 history items per row, many pseudo-users are short; users with fewer than
3 items follow the ``short_users`` policy like any other source.

Quirk handled: a row whose ``seq`` is all padding although ``len_seq`` > 0 (LLaRA's test row 914) has lost its
history; the row is dropped and its ``next`` item counted under ``steam_row_with_empty_history``. Any other
disagreement between ``seq`` and ``len_seq`` is a format error.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import DataFormatError, DataSourceNotFoundError
from ..raw import ItemsTable, RawInteractions, read_text

GUIDE = (
    "Steam (LLaRA format): pass --source DIR containing id2name.txt and one or more *.jsonl files "
    "(LLaRA's train/val/test frames converted to JSON lines), or --source FILE.jsonl with --items id2name.txt."
)


def load_steam(
    path: str | os.PathLike | None,
    items_path: str | os.PathLike | None = None,
    padding_id: int | None = None,
) -> RawInteractions:
    if path is None:
        raise DataSourceNotFoundError("no --source given. " + GUIDE)
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        folder = path
    elif path.is_file():
        files = [path]
        folder = path.parent
    else:
        raise DataSourceNotFoundError(f"{path} does not exist. " + GUIDE)
    if not files:
        raise DataSourceNotFoundError(f"{path}: no *.jsonl files. " + GUIDE)
    names_file = Path(items_path) if items_path else folder / "id2name.txt"
    if not names_file.is_file():
        raise DataSourceNotFoundError(f"{names_file} not found (game titles). " + GUIDE)
    table = read_id2name(names_file)
    pad = len(table.raw_ids) if padding_id is None else int(padding_id)

    users, items, lines, file_ids = [], [], [], []
    report: Counter = Counter()
    for fid, file in enumerate(files):
        text = read_text(file, "utf-8")
        stem = file.stem
        seen_rows: dict[str, int] = {}
        for i, raw_line in enumerate(text.split("\n")):
            if not raw_line.strip():
                continue
            line = i + 1
            try:
                obj = json.loads(raw_line)
            except json.JSONDecodeError as exc:
                raise DataFormatError(f"not valid JSON: {exc.msg}", file=file, line=line) from None
            if not isinstance(obj, dict):
                raise DataFormatError("expected a JSON object", file=file, line=line)
            for key in ("seq", "len_seq", "next"):
                if key not in obj:
                    raise DataFormatError(f"missing {key!r}", file=file, line=line, field=key)
            seq, n, nxt = obj["seq"], obj["len_seq"], obj["next"]
            if not isinstance(seq, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in seq):
                raise DataFormatError(
                    f"expected a list of integer item ids, got {seq!r}", file=file, line=line, field="seq"
                )
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= len(seq):
                raise DataFormatError(
                    f"expected an integer in 0..{len(seq)}, got {n!r}", file=file, line=line, field="len_seq"
                )
            if not isinstance(nxt, int) or isinstance(nxt, bool) or nxt == pad:
                raise DataFormatError(f"expected an item id, got {nxt!r}", file=file, line=line, field="next")
            real = [x for x in seq if x != pad]
            if n > 0 and not real:
                report["steam_row_with_empty_history"] += 1
                continue
            if seq[:n] != real:
                raise DataFormatError(
                    f"len_seq={n} disagrees with seq {seq} (padding id {pad} must fill exactly the last "
                    f"{len(seq) - n} positions)",
                    file=file,
                    line=line,
                    field="len_seq",
                )
            row_id = str(obj.get("row", i))
            if row_id in seen_rows:
                raise DataFormatError(
                    f"row {row_id} already appears at line {seen_rows[row_id]}", file=file, line=line, field="row"
                )
            seen_rows[row_id] = line
            sequence = real + [nxt]
            users.extend([f"{stem}:{row_id}"] * len(sequence))
            items.extend(str(x) for x in sequence)
            lines.extend([line] * len(sequence))
            file_ids.extend([fid] * len(sequence))
    if not users:
        raise DataFormatError("no usable rows", file=files[0])
    return RawInteractions.from_columns(
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        None,
        np.asarray(lines),
        [str(f) for f in files],
        file_ids=np.asarray(file_ids),
        items_table=table,
        load_report=report,
    )


def read_id2name(path: Path) -> ItemsTable:
    text = read_text(path, "utf-8")
    raw_ids, titles, lines = [], [], []
    for i, line in enumerate(text.rstrip("\r\n").split("\n")):
        line = line.rstrip("\r")
        if "::" not in line:
            raise DataFormatError(f"expected 'ID::Title', got {line[:80]!r}", file=path, line=i + 1)
        rid, title = line.split("::", 1)
        if not rid.strip().isdigit():
            raise DataFormatError(f"expected an integer, got {rid!r}", file=path, line=i + 1, field="ID")
        raw_ids.append(str(int(rid)))
        titles.append(title.strip())
        lines.append(i + 1)
    return ItemsTable(file=str(path), raw_ids=raw_ids, titles=titles, lines=lines)
