"""Malformed inputs: each case must raise a data-layer error that names the file and line (or the field/option)."""

from __future__ import annotations

import json

import pytest

from test_data_fixtures import (
    make_amazon_raw,
    make_amazon_sequences,
    make_ml1m,
    make_ml100k,
    make_steam,
    write_rows,
)
from hf_delrec.data import DataConfigError, DataError, DataFormatError, prepare_dataset
from hf_delrec.utils.io import OutputExistsError


def _replace_line(path, lineno, new, encoding="latin-1"):
    lines = path.read_bytes().decode(encoding).split("\n")
    lines[lineno - 1] = new
    path.write_bytes("\n".join(lines).encode(encoding))


def _ml(tmp_path, lineno, new, file="u.data"):
    src = make_ml100k(tmp_path / "ml")
    _replace_line(src / file, lineno, new)
    return ("ml-100k", src, {}), src / file


def case_short_row(tmp_path):
    return (*_ml(tmp_path, 7, "2\t5\t3"), 7, None, "too few fields")


def case_long_row(tmp_path):
    return (*_ml(tmp_path, 3, "1\t5\t3\t880000051\t9"), 3, None, "too many fields")


def case_non_numeric_user(tmp_path):
    return (*_ml(tmp_path, 4, "bob\t5\t3\t880000068"), 4, "user id", "expected an integer")


def case_non_numeric_timestamp(tmp_path):
    return (*_ml(tmp_path, 5, "1\t5\t3\tyesterday"), 5, "timestamp", "'yesterday'")


def case_empty_line_inside(tmp_path):
    return (*_ml(tmp_path, 6, ""), 6, None, "empty line")


def case_item_file_wrong_field_count(tmp_path):
    return (*_ml(tmp_path, 2, "2|Short|x", file="u.item"), 2, None, "too few fields")


def case_empty_ratings_file(tmp_path):
    src = make_ml100k(tmp_path / "ml")
    (src / "u.data").write_text("")
    return ("ml-100k", src, {}), src / "u.data", None, None, "empty"


def case_ml1m_wrong_separator(tmp_path):
    src = make_ml1m(tmp_path / "m")
    _replace_line(src / "ratings.dat", 3, "1,3,4,978300012")
    return ("ml-1m", src, {}), src / "ratings.dat", 3, None, "too few fields"


def case_bad_utf8_encoding(tmp_path):
    path = tmp_path / "log.csv"
    write_rows(path, [("a", "x", 1), ("a", "y", 2), ("a", "z", 3)])
    path.write_bytes(path.read_bytes().replace(b"a,y", b"\xe9,y"))  # latin-1 byte in a UTF-8 file
    return ("interactions", path, {}), path, 3, None, "not valid utf-8"


def case_csv_short_row(tmp_path):
    path = write_rows(tmp_path / "log.csv", [("a", "x", 1), ("a", "y"), ("a", "z", 3)])
    return ("interactions", path, {}), path, 3, None, "too few fields"


def case_csv_non_numeric_timestamp(tmp_path):
    path = write_rows(tmp_path / "log.csv", [("a", "x", 1), ("a", "y", 2), ("a", "z", "soon"), ("b", "x", 4)])
    return ("interactions", path, {}), path, 4, "timestamp", "'soon'"


def case_missing_user_column(tmp_path):
    path = write_rows(tmp_path / "log.csv", [("a", "x", 1)], header=("customer", "item_id", "timestamp"))
    return ("interactions", path, {}), path, None, "user_id", "not found"


def case_missing_title_column(tmp_path):
    path = write_rows(tmp_path / "log.csv", [("a", "x", 1), ("a", "y", 2), ("a", "z", 3)])
    items = write_rows(tmp_path / "items.csv", [("x", "X"), ("y", "Y"), ("z", "Z")], header=("item_id", "name"))
    return ("interactions", path, {"items_path": items}), items, None, "title", "title column"


def case_unknown_item_in_items_table(tmp_path):
    path = write_rows(tmp_path / "log.csv", [("a", "x", 1), ("a", "y", 2), ("a", "q", 3)])
    items = write_rows(tmp_path / "items.csv", [("x", "X"), ("y", "Y")], header=("item_id", "title"))
    return ("interactions", path, {"items_path": items}), path, 4, "item id", "'q' is not in the items table"


def case_user_with_one_interaction(tmp_path):
    rows = [("a", "x", 1), ("a", "y", 2), ("a", "z", 3), ("solo", "x", 4)]
    path = write_rows(tmp_path / "log.csv", rows)
    return ("interactions", path, {"short_users": "error"}), path, 5, "user id", "'solo' has 1 interaction"


def case_duplicate_user_item_time(tmp_path):
    rows = [("a", "x", 1), ("a", "y", 2), ("b", "x", 1), ("a", "y", 2), ("a", "z", 3)]
    path = write_rows(tmp_path / "log.csv", rows)
    return ("interactions", path, {"duplicates": "error"}), path, 5, "timestamp", "first seen at line 3"


def case_amazon_user_without_items(tmp_path):
    src = make_amazon_sequences(tmp_path / "a")
    (src / "user_sequence.txt").write_text("A1 B001 B002 B003\nA2\n")
    return ("amazon", src, {}), src / "user_sequence.txt", 2, None, "has no items"


def case_recbole_bad_float(tmp_path):
    src = make_amazon_sequences(tmp_path / "a")
    item = src / "Amazon_Test.item"
    # header = line 1, the quoted title of B002 spans lines 3-4, so B004 is on physical line 6
    text = item.read_text().replace("B004\tLipstick\tBeauty\t4.0", "B004\tLipstick\tBeauty\tlots")
    item.write_text(text)
    return ("amazon", src, {}), item, 6, "sales_rank", "expected a number"


def case_amazon_review_missing_asin(tmp_path):
    import gzip

    src = make_amazon_raw(tmp_path / "raw")
    path = src / "reviews_Test_5.json.gz"
    lines = gzip.decompress(path.read_bytes()).decode().split("\n")
    obj = json.loads(lines[1])
    del obj["asin"]
    lines[1] = json.dumps(obj)
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    return ("amazon", src, {}), path, 2, "asin", "missing 'asin'"


def case_steam_len_seq_mismatch(tmp_path):
    src = make_steam(tmp_path / "s")
    (src / "test.jsonl").write_text('{"row": 0, "seq": [1, 2, 10, 10], "len_seq": 3, "next": 3}\n')
    return ("steam", src, {}), src / "test.jsonl", 1, "len_seq", "disagrees"


CASES = [
    case_short_row,
    case_long_row,
    case_non_numeric_user,
    case_non_numeric_timestamp,
    case_empty_line_inside,
    case_item_file_wrong_field_count,
    case_empty_ratings_file,
    case_ml1m_wrong_separator,
    case_bad_utf8_encoding,
    case_csv_short_row,
    case_csv_non_numeric_timestamp,
    case_missing_user_column,
    case_missing_title_column,
    case_unknown_item_in_items_table,
    case_user_with_one_interaction,
    case_duplicate_user_item_time,
    case_amazon_user_without_items,
    case_recbole_bad_float,
    case_amazon_review_missing_asin,
    case_steam_len_seq_mismatch,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_malformed_input_names_file_and_line(case, tmp_path):
    (source, path, options), bad_file, line, field, text = case(tmp_path)
    with pytest.raises(DataFormatError) as err:
        prepare_dataset(source, path, tmp_path / "out", **options)
    exc = err.value
    assert exc.file == str(bad_file), str(exc)
    assert exc.line == line, str(exc)
    assert exc.field == field, str(exc)
    message = str(exc)
    assert str(bad_file) in message
    if line is not None:
        assert f"line {line}" in message
    if field is not None:
        assert repr(field) in message
    if text is not None:
        assert text in message
    assert not (tmp_path / "out").exists()


def test_steam_invalid_json_line(tmp_path):
    src = make_steam(tmp_path / "s")
    (src / "val.jsonl").write_text('{"row": 0, "seq": [1, 2, 10], "len_seq": 2, "next": 3}\n{"row": 1, "seq": [1\n')
    with pytest.raises(DataFormatError, match=r"val\.jsonl, line 2: not valid JSON"):
        prepare_dataset("steam", src, tmp_path / "out")


def test_parquet_errors_name_the_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "log.parquet"
    pq.write_table(pa.table({"user_id": ["a", "a", ""], "item_id": ["x", "y", "z"], "timestamp": [1, 2, 3]}), path)
    with pytest.raises(DataFormatError) as err:
        prepare_dataset("interactions", path, tmp_path / "out")
    assert err.value.row == 2 and err.value.field == "user_id" and "row 2" in str(err.value)


@pytest.mark.parametrize(
    "options, field, text",
    [
        ({"num_candidates": 8, "num_negatives": 10}, "num_candidates", "only 5 items"),
        ({"num_candidates": 20, "num_negatives": 10}, "num_candidates", "need 19 negatives"),
        ({"num_negatives": 3, "num_candidates": 2}, "num_negatives", "possible negatives"),
        ({"user_core": -1}, "user_core", ">= 0"),
        ({"short_users": "ignore"}, "short_users", "not one of"),
        ({"min_rating": 4.0}, "min_rating", "no ratings"),
        ({"colour": "red"}, "colour", "unknown option"),
    ],
)
def test_bad_options_name_the_option(tmp_path, options, field, text):
    rows = [("a", "x", 1), ("a", "y", 2), ("a", "z", 3), ("b", "v", 1), ("b", "w", 2), ("b", "x", 3)]
    path = write_rows(tmp_path / "log.csv", rows)
    with pytest.raises(DataConfigError) as err:
        prepare_dataset("interactions", path, tmp_path / "out", **options)
    assert err.value.field == field and repr(field) in str(err.value) and text in str(err.value)


def test_existing_output_directory(tmp_path):
    src = make_ml100k(tmp_path / "ml")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=str(out)):
        prepare_dataset("ml-100k", src, out, num_negatives=2, num_candidates=2)
    assert (out / "keep.txt").read_text() == "mine"
    prepare_dataset("ml-100k", src, out, num_negatives=2, num_candidates=2, overwrite=True)
    assert (out / "stats.json").is_file() and not (out / "keep.txt").exists()


def test_errors_share_one_hierarchy():
    assert issubclass(DataFormatError, DataError) and issubclass(DataConfigError, DataError)
    assert issubclass(DataError, ValueError)
