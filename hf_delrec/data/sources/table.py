"""A generic interactions table: CSV / TSV / Parquet / JSON lines, with user, item and (optional) timestamp columns
named by the user, plus an optional items table (same formats) with an id column and a title column.

Ids are kept as strings. Timestamps must be numeric (unix seconds; fractions are floored) or, for a whole column,
ISO 8601 date-times. Text files must be UTF-8 (``encoding`` to change). Line numbers in errors count the header as
line 1 (a quoted field spanning lines shifts them); Parquet errors give the 0-based row.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataFormatError, DataSourceNotFoundError
from ..raw import ItemsTable, RawInteractions, decode, read_bytes

FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "tsv", ".parquet": "parquet", ".pq": "parquet",
           ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}  # fmt: skip


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in {"csv", "tsv", "parquet", "jsonl"}:
            raise DataFormatError(
                f"unknown format {fmt!r}; choose csv, tsv, parquet or jsonl", file=path, field="format"
            )
        return fmt
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise DataFormatError(
            f"cannot tell the format from the extension {suffix!r}; use .csv/.tsv/.parquet/.jsonl or pass --format",
            file=path,
            field="format",
        )
    return FORMATS[suffix]


def read_table(path: Path, fmt: str | None = None, encoding: str = "utf-8") -> tuple[pa.Table, str]:
    """The file as a pyarrow table (text formats: every column a string) and the location kind ('line'/'row')."""
    if not path.is_file():
        raise DataSourceNotFoundError(f"{path} does not exist")
    fmt = detect_format(path, fmt)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataFormatError(f"not a readable Parquet file ({exc})", file=path) from None
        if table.num_rows == 0:
            raise DataFormatError("file has no rows", file=path)
        return table, "row"
    data = read_bytes(path)
    if encoding.lower().replace("_", "-") in {"utf-8", "utf8"}:
        # pyarrow reads UTF-8 itself; decode in Python only on a parse error (to name the line)
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        text = None
    else:
        text = decode(data, path, encoding)
        body = text.encode("utf-8")
    if not body.strip():
        raise DataFormatError("file is empty", file=path)

    def as_text() -> str:
        out = text if text is not None else decode(body, path, encoding)
        return out[1:] if out.startswith("\ufeff") else out

    if fmt == "jsonl":
        import pyarrow.json as pajson

        try:
            table = pajson.read_json(io.BytesIO(body))
        except pa.ArrowInvalid as exc:
            _rescan_jsonl(as_text(), path)
            raise DataFormatError(f"could not parse JSON lines: {exc}", file=path) from None
        return table, "line"
    import pyarrow.csv as pacsv

    delimiter = "," if fmt == "csv" else "\t"
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(block_size=1 << 24, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=_all_strings(body, delimiter, path),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        _rescan_csv(as_text(), path, delimiter)
        raise DataFormatError(f"could not parse: {exc}", file=path) from None
    if table.num_rows == 0:
        raise DataFormatError("file has a header but no rows", file=path, line=2)
    return table, "line"


def _all_strings(body: bytes, delimiter: str, path: Path) -> dict:
    end = body.find(b"\n")
    first = decode(body[: end if end >= 0 else len(body)], path, "utf-8").rstrip("\r")
    return {name: pa.string() for name in next(csv.reader([first], delimiter=delimiter))}


def _rescan_csv(text: str, path: Path, delimiter: str) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        for row in reader:
            if not row:
                raise DataFormatError("empty line inside the data", file=path, line=reader.line_num)
            if len(row) != len(header):
                kind = "too few" if len(row) < len(header) else "too many"
                raise DataFormatError(
                    f"{kind} fields: expected {len(header)} like the header, got {len(row)}: {row[:8]}",
                    file=path,
                    line=reader.line_num,
                )
    except csv.Error as exc:
        raise DataFormatError(f"CSV syntax error: {exc}", file=path, line=reader.line_num) from None


def _rescan_jsonl(text: str, path: Path) -> None:
    for i, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"not valid JSON: {exc.msg}", file=path, line=i + 1) from None
        if not isinstance(obj, dict):
            raise DataFormatError("expected a JSON object per line", file=path, line=i + 1)


def _locator(table: pa.Table, kind: str, text_header: bool):
    if kind == "row":
        return lambda i: {"row": int(i)}
    offset = 2 if text_header else 1  # CSV: header is line 1; JSON lines: the first object is line 1
    return lambda i: {"line": int(i) + offset}


def _string_column(table: pa.Table, name: str, path: Path, role: str, loc) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise DataFormatError(
            f"{role} column {name!r} not found; columns are {table.column_names}", file=path, field=name
        )
    col = table[name]
    if pa.types.is_floating(col.type):
        finite = pc.fill_null(pc.is_finite(col), False)
        whole = pc.fill_null(pc.equal(col, pc.floor(col)), False)
        ok = np.asarray(pc.and_(finite, whole).to_numpy(zero_copy_only=False), dtype=bool)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise DataFormatError(f"expected an id, got {col[i].as_py()!r}", file=path, field=name, **loc(i))
        col = pc.cast(col, pa.int64())
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        if not (pa.types.is_integer(col.type)):
            raise DataFormatError(f"expected string or integer ids, got type {col.type}", file=path, field=name)
        col = pc.cast(col, pa.string())
    col = pc.utf8_trim_whitespace(col)
    empty = np.asarray(pc.fill_null(pc.equal(col, ""), True).to_numpy(zero_copy_only=False), dtype=bool)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise DataFormatError(f"empty {role} id", file=path, field=name, **loc(i))
    return col


def _timestamps(table: pa.Table, name: str, path: Path, loc) -> np.ndarray:
    if name not in table.column_names:
        raise DataFormatError(
            f"timestamp column {name!r} not found; columns are {table.column_names}", file=path, field=name
        )
    col = table[name]
    if pa.types.is_timestamp(col.type):
        return np.asarray(pc.cast(pc.cast(col, pa.timestamp("s")), pa.int64()).to_numpy(zero_copy_only=False))
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        values = col.to_numpy(zero_copy_only=False).astype(np.float64)
    else:
        col = pc.utf8_trim_whitespace(pc.cast(col, pa.string()))
        try:  # fast path: integer strings
            return np.asarray(pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        import pandas as pd

        values = pd.to_numeric(col.to_numpy(zero_copy_only=False), errors="coerce").astype(np.float64)
        bad = ~np.isfinite(values)
        if bad.all():  # a whole column of date-times
            try:
                parsed = pd.to_datetime(col.to_numpy(zero_copy_only=False), format="ISO8601", utc=True)
                return np.asarray(parsed.as_unit("s").asi8, dtype=np.int64)
            except (ValueError, TypeError) as exc:
                raise DataFormatError(
                    f"timestamps are neither numbers nor ISO 8601 date-times ({exc})", file=path, field=name
                ) from None
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"expected a numeric timestamp, got {col[i].as_py()!r}", file=path, field=name, **loc(i))
    return np.floor(values).astype(np.int64)


def load_interactions_table(
    path: str | os.PathLike | None,
    *,
    user_column: str = "user_id",
    item_column: str = "item_id",
    timestamp_column: str | None = "timestamp",
    rating_column: str | None = None,
    format: str | None = None,
    encoding: str = "utf-8",
    items_path: str | os.PathLike | None = None,
    items_id_column: str | None = None,
    title_column: str = "title",
) -> RawInteractions:
    if path is None:
        raise DataSourceNotFoundError("the interactions source needs --source PATH (a CSV/TSV/Parquet/JSONL file)")
    path = Path(path)
    table, kind = read_table(path, format, encoding)
    loc = _locator(table, kind, detect_format(path, format) in {"csv", "tsv"})
    users = _string_column(table, user_column, path, "user", loc)
    items = _string_column(table, item_column, path, "item", loc)
    ts = _timestamps(table, timestamp_column, path, loc) if timestamp_column else None
    ratings = None
    if rating_column:
        if rating_column not in table.column_names:
            raise DataFormatError(f"rating column {rating_column!r} not found", file=path, field=rating_column)
        import pandas as pd

        rc = table[rating_column]
        ratings = pd.to_numeric(rc.to_numpy(zero_copy_only=False), errors="coerce").astype(np.float64)
        if np.isnan(ratings).any():
            i = int(np.flatnonzero(np.isnan(ratings))[0])
            raise DataFormatError(f"expected a number, got {rc[i].as_py()!r}", file=path, field=rating_column, **loc(i))
    n = table.num_rows
    offset = 0 if kind == "row" else (2 if loc(0)["line"] == 2 else 1)
    items_table = None
    if items_path is not None:
        items_table = read_items_table(Path(items_path), items_id_column or item_column, title_column, format=None,
                                       encoding=encoding)  # fmt: skip
    return RawInteractions.from_columns(
        users,
        items,
        ts,
        np.arange(offset, offset + n, dtype=np.int64),
        [str(path)],
        ratings=ratings,
        items_table=items_table,
        line_kind=kind,
    )


def read_items_table(
    path: Path, id_column: str, title_column: str, format: str | None = None, encoding: str = "utf-8"
) -> ItemsTable:
    """Items table: ``id_column``, ``title_column`` and any other columns (kept as string metadata)."""
    from datasets import Value

    table, kind = read_table(path, format, encoding)
    loc = _locator(table, kind, detect_format(path, format) in {"csv", "tsv"})
    ids = _string_column(table, id_column, path, "item", loc)
    if title_column not in table.column_names:
        raise DataFormatError(
            f"title column {title_column!r} not found; columns are {table.column_names} (pass --title-column)",
            file=path,
            field=title_column,
        )
    titles = pc.fill_null(pc.cast(table[title_column], pa.string()), "")
    metadata, features = {}, {}
    for name in table.column_names:
        if name in (id_column, title_column):
            continue
        col = table[name]
        metadata[name] = [None if v is None else str(v) for v in col.to_pylist()]
        features[name] = Value("string")
    n = table.num_rows
    lines = [loc(i).get("line", loc(i).get("row")) for i in range(n)]
    return ItemsTable(
        file=str(path),
        raw_ids=ids.to_pylist(),
        titles=[t.strip() for t in titles.to_pylist()],
        metadata=metadata,
        metadata_features=features,
        lines=lines,
    )
