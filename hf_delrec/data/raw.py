"""What every source loader returns: raw interactions (column arrays) + an optional items table, plus the readers
they share (text decoding with line-accurate errors, delimited files through pyarrow with a precise fallback).

Loaders keep, for each interaction, the file and line it came from so that any later error (duplicate, user with
one interaction, item missing from the items table) can point at the input line.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import DataFormatError

NO_TIMESTAMP = -1


@dataclass
class ItemsTable:
    """Items known to the source: raw id, title and metadata columns (each a list aligned with ``raw_ids``).

    ``metadata_features`` maps a column name to its ``datasets`` feature (``Value("string")``,
    ``Value("float64")``, ``List(Value("string"))``...). ``lines`` gives each row's line for error messages.
    """

    file: str
    raw_ids: list[str]
    titles: list[str]
    metadata: dict[str, list[Any]] = field(default_factory=dict)
    metadata_features: dict[str, Any] = field(default_factory=dict)
    lines: list[int] | None = None

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for i, rid in enumerate(self.raw_ids):
            if rid in seen:
                line = self.lines[i] if self.lines else None
                first = self.lines[seen[rid]] if self.lines else seen[rid]
                raise DataFormatError(
                    f"item id {rid!r} appears twice in the items table (first at line {first})",
                    file=self.file,
                    line=line,
                    field="item id",
                )
            seen[rid] = i
        for name, values in self.metadata.items():
            if len(values) != len(self.raw_ids):
                raise ValueError(f"metadata column {name!r} has {len(values)} values for {len(self.raw_ids)} items")


@dataclass
class RawInteractions:
    """Interactions as factorized columns (``*_codes`` index into ``*_keys``), in input order.

    ``timestamps`` are unix seconds or ``NO_TIMESTAMP``; ``ratings`` is optional (NaN when absent). ``lines[i]`` is
    the 1-based line (or 0-based row for columnar files) of interaction i in ``files[file_ids[i]]``.
    ``load_report`` counts input interactions the loader itself had to drop, by reason.
    """

    user_codes: np.ndarray
    user_keys: np.ndarray
    item_codes: np.ndarray
    item_keys: np.ndarray
    timestamps: np.ndarray
    lines: np.ndarray
    file_ids: np.ndarray
    files: list[str]
    has_timestamps: bool
    ratings: np.ndarray | None = None
    items: ItemsTable | None = None
    load_report: Counter = field(default_factory=Counter)
    line_kind: str = "line"  # "line" (text) or "row" (Parquet)

    def __len__(self) -> int:
        return int(self.user_codes.shape[0])

    def where(self, i: int) -> dict[str, Any]:
        """Keyword arguments for ``DataFormatError`` pointing at interaction ``i``."""
        loc = int(self.lines[i])
        return {"file": self.files[int(self.file_ids[i])], self.line_kind: loc}

    @classmethod
    def from_columns(
        cls,
        users: Any,
        items: Any,
        timestamps: np.ndarray | None,
        lines: np.ndarray,
        files: Sequence[str],
        file_ids: np.ndarray | None = None,
        ratings: np.ndarray | None = None,
        items_table: ItemsTable | None = None,
        load_report: Counter | None = None,
        line_kind: str = "line",
    ) -> "RawInteractions":
        user_codes, user_keys = factorize(users)
        item_codes, item_keys = factorize(items)
        n = user_codes.shape[0]
        has_ts = timestamps is not None
        ts = np.asarray(timestamps, dtype=np.int64) if has_ts else np.full(n, NO_TIMESTAMP, dtype=np.int64)
        return cls(
            user_codes=user_codes,
            user_keys=user_keys,
            item_codes=item_codes,
            item_keys=item_keys,
            timestamps=ts,
            lines=np.asarray(lines, dtype=np.int64),
            file_ids=np.zeros(n, dtype=np.int16) if file_ids is None else np.asarray(file_ids, dtype=np.int16),
            files=[str(f) for f in files],
            has_timestamps=has_ts,
            ratings=None if ratings is None else np.asarray(ratings, dtype=np.float64),
            items=items_table,
            load_report=Counter(load_report or {}),
            line_kind=line_kind,
        )


def factorize(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int64, input order) and unique keys (object array of str) of a string column."""
    if isinstance(values, (pa.ChunkedArray, pa.Array)):
        encoded = pc.dictionary_encode(values)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.unify_dictionaries() if hasattr(encoded, "unify_dictionaries") else encoded
            chunks = encoded.chunks
            if len(chunks) == 1:
                encoded = chunks[0]
        if isinstance(encoded, pa.DictionaryArray):
            codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            return codes, np.asarray(encoded.dictionary.to_pylist(), dtype=object)
        values = values.to_numpy(zero_copy_only=False)
    import pandas as pd  # local: pandas is only needed while loading

    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":  # integer ids: factorize, then stringify
        codes, uniques = pd.factorize(values, sort=False)
        return codes.astype(np.int64, copy=False), np.asarray([str(v) for v in uniques.tolist()], dtype=object)
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), sort=False)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)


def natural_order(keys: np.ndarray) -> np.ndarray:
    """Permutation sorting raw ids numerically when they are all integers (so MovieLens item 1 → item_id 1), else
    as strings. Deterministic and independent of the input order."""
    if keys.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    arr = pa.array(keys.tolist(), type=pa.string())
    if pc.all(pc.match_substring_regex(arr, r"^[0-9]{1,18}$")).as_py():
        ints = np.asarray(pc.cast(arr, pa.int64()))
        return np.lexsort((keys.astype(str), ints))
    return np.argsort(keys.astype(str), kind="stable")


# ----------------------------------------------------------------------------------------------------------- reading


def read_bytes(path: str | os.PathLike) -> bytes:
    path = Path(path)
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataFormatError(f"not a valid gzip file ({exc})", file=path) from None
    return data


def decode(data: bytes, path: str | os.PathLike, encoding: str) -> str:
    """Decode ``data``; a decoding error names the line and the offending byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise DataFormatError(
            f"not valid {encoding} text: byte 0x{bad} at column {col} ({exc.reason}); "
            f"convert the file to {encoding} or pass the right encoding",
            file=path,
            line=line,
        ) from None


def read_text(path: str | os.PathLike, encoding: str = "utf-8", *, allow_empty: bool = False) -> str:
    path = Path(path)
    if not path.is_file():
        raise DataFormatError("file not found", file=path)
    text = decode(read_bytes(path), path, encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    if not allow_empty and not text.strip():
        raise DataFormatError("file is empty", file=path)
    return text


def read_delimited_text(
    text: str,
    path: str | os.PathLike,
    sep: str,
    names: Sequence[str],
    *,
    header_lines: int = 0,
) -> pa.Table:
    """Parse ``text`` (no quoting) split on ``sep`` into a table of string columns ``names``.

    Fast path: pyarrow's CSV reader. On any parse error the lines are re-scanned in Python to report the exact line
    and what is wrong with it (too few / too many fields, empty line).
    """
    import pyarrow.csv as pacsv

    # Trailing blank lines are harmless; blank lines inside the data are reported.
    text = text.rstrip("\r\n\t ")
    if "\n\n" in text or "\n\r\n" in text or text.startswith(("\n", "\r\n")):
        _rescan_delimited(text, path, sep, len(names), header_lines)  # names the empty line
    if len(sep) > 1:
        if "\x1f" in text:
            raise DataFormatError("contains the control character 0x1f", file=path)
        text = text.replace(sep, "\x1f")
        sep = "\x1f"
    body = text.encode("utf-8")
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(
                column_names=list(names), skip_rows=header_lines, block_size=1 << 24, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(delimiter=sep, quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        _rescan_delimited(text, path, sep, len(names), header_lines)
        raise DataFormatError(f"could not parse: {exc}", file=path) from None
    return table


def _rescan_delimited(text: str, path, sep: str, ncols: int, header_lines: int) -> None:
    shown_sep = {"\t": "TAB", "\x1f": "'::'"}.get(sep, repr(sep))
    for i, line in enumerate(text.split("\n")):
        if i < header_lines:
            continue
        line = line.rstrip("\r")
        if not line.strip():
            raise DataFormatError("empty line inside the data", file=path, line=i + 1)
        n = len(line.split(sep))
        if n != ncols:
            kind = "too few" if n < ncols else "too many"
            raise DataFormatError(
                f"{kind} fields: expected {ncols} separated by {shown_sep}, got {n}: {line[:120]!r}",
                file=path,
                line=i + 1,
            )


def check_pattern(
    column: pa.ChunkedArray | pa.Array,
    pattern: str,
    what: str,
    path,
    field: str,
    line_of: Any,
) -> None:
    """Raise for the first value of ``column`` not matching ``pattern``; ``line_of(i)`` gives its location kwargs."""
    ok = pc.match_substring_regex(column, pattern)
    ok = pc.fill_null(ok, False)
    if not pc.all(ok).as_py():
        idx = int(np.flatnonzero(~np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool))[0])
        value = column[idx].as_py()
        raise DataFormatError(f"expected {what}, got {value!r}", file=path, field=field, **line_of(idx))


INT_PATTERN = r"^\s*[+-]?[0-9]+\s*$"


def to_int64(column, path, field: str, line_of) -> np.ndarray:
    check_pattern(column, INT_PATTERN, "an integer", path, field, line_of)
    return np.asarray(pc.cast(pc.utf8_trim_whitespace(column), pa.int64()).to_numpy(zero_copy_only=False))


def csv_rows(text: str, path, delimiter: str):
    """``csv.reader`` over ``text`` yielding (line_number_of_row_start, row): quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=True)
    prev_end = 0
    while True:
        start = prev_end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataFormatError(f"CSV syntax error: {exc}", file=path, line=reader.line_num) from None
        prev_end = reader.line_num
        yield start, row
