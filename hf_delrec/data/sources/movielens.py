"""MovieLens-100K (``u.data`` + ``u.item``) and MovieLens-1M (``ratings.dat`` + ``movies.dat``), both latin-1.

When no path is given, the official GroupLens archive is downloaded (only if the network is reachable and the
offline switches ``HF_DELREC_OFFLINE`` / ``HF_DATASETS_OFFLINE`` / ``HF_HUB_OFFLINE`` are off), its MD5 checked
against the published value, extracted to the cache, and the extracted ratings file checked too.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from ...utils.io import atomic_directory
from ..errors import DataFormatError, DataSourceNotFoundError
from ..raw import ItemsTable, RawInteractions, read_delimited_text, read_text, to_int64

logger = logging.getLogger(__name__)

# Published by GroupLens next to each archive (ml-100k.zip.md5 / ml-1m.zip.md5).
MOVIELENS = {
    "ml-100k": {
        "title": "MovieLens-100K",
        "url": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        "page": "https://grouplens.org/datasets/movielens/100k/",
        "zip_md5": "0e33842e24a9c977be4e0107933c0723",
        "ratings": "u.data",
        "items": "u.item",
        # sha256 of the extracted u.data of the official archive.
        "ratings_sha256": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    },
    "ml-1m": {
        "title": "MovieLens-1M",
        "url": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        "page": "https://grouplens.org/datasets/movielens/1m/",
        "zip_md5": "c4d9eecfca2ab87c1945afe126590906",
        "ratings": "ratings.dat",
        "items": "movies.dat",
        # git blob id of the official ratings.dat (`git hash-object ratings.dat`).
        "ratings_git_blob": "77a7c4b150f588c23bb9e1f068aa996c0b413695",
    },
}

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def cache_dir(name: str) -> Path:
    root = os.environ.get("HF_DELREC_DATA_CACHE") or Path.home() / ".cache" / "hf_delrec" / "data"
    return Path(root) / name


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in {"1", "true", "yes"} for v in
               ("HF_DELREC_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))  # fmt: skip


def missing_message(name: str, looked_in: Path | None, reason: str = "") -> str:
    spec = MOVIELENS[name]
    where = f" in {looked_in}" if looked_in is not None else ""
    return (
        f"{spec['title']} files ({spec['ratings']}, {spec['items']}) not found{where}{reason}.\n"
        f"Download {spec['url']} (MD5 {spec['zip_md5']}; licence and details: {spec['page']}),\n"
        f"unzip it, and either pass the folder that contains {spec['ratings']} with --source PATH "
        f"(e.g. --source ./{name}) or put the files in {cache_dir(name)}/."
    )


def _has_files(path: Path, name: str) -> bool:
    spec = MOVIELENS[name]
    return (path / spec["ratings"]).is_file() and (path / spec["items"]).is_file()


def resolve_path(name: str, path: str | os.PathLike | None) -> Path:
    """The folder holding the files: ``path`` (or ``path/<name>``), else the cache, else a verified download."""
    if path is not None:
        path = Path(path)
        for candidate in (path, path / name):
            if _has_files(candidate, name):
                return candidate
        raise DataSourceNotFoundError(missing_message(name, path))
    cached = cache_dir(name)
    if _has_files(cached, name):
        return cached
    if _offline():
        raise DataSourceNotFoundError(missing_message(name, cached, " and downloading is switched off (offline mode)"))
    return download(name, cached)


def _fetch(url: str, timeout: float = 30.0) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https URL)
        return response.read()


def download(name: str, target: Path) -> Path:
    spec = MOVIELENS[name]
    logger.info("downloading %s from %s", spec["title"], spec["url"])
    try:
        blob = _fetch(spec["url"])
    except OSError as exc:  # URLError, timeouts, DNS failures
        raise DataSourceNotFoundError(missing_message(name, target, f" and the download failed ({exc})")) from None
    md5 = hashlib.md5(blob).hexdigest()
    if md5 != spec["zip_md5"]:
        raise DataSourceNotFoundError(
            f"downloaded {spec['url']} has MD5 {md5}, expected {spec['zip_md5']}: refusing to use it.\n"
            + missing_message(name, target)
        )
    with atomic_directory(target, overwrite=True) as tmp, zipfile.ZipFile(io.BytesIO(blob)) as archive:
        for member in archive.infolist():
            base = Path(member.filename).name
            if member.is_dir() or not base:
                continue
            (tmp / base).write_bytes(archive.read(member))
    ok = verify_ratings_file(name, target)
    if ok is False:
        raise DataSourceNotFoundError(f"{target / spec['ratings']} does not match the official checksum")
    return target


def verify_ratings_file(name: str, folder: Path) -> bool | None:
    """True/False when the ratings file matches/differs from the official one."""
    spec = MOVIELENS[name]
    data = (folder / spec["ratings"]).read_bytes()
    if "ratings_sha256" in spec:
        return hashlib.sha256(data).hexdigest() == spec["ratings_sha256"]
    blob = hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()
    return blob == spec["ratings_git_blob"]


def _read_latin1(path: Path) -> str:
    """GroupLens files are ISO-8859-1; a copy that is valid UTF-8 with non-ASCII bytes was probably re-encoded."""
    data = path.read_bytes() if path.is_file() else b""
    if data and not data.isascii():
        try:
            data.decode("utf-8")
            logger.warning(
                "%s decodes as UTF-8 although MovieLens files are latin-1: it was probably re-encoded, so accented "
                "titles will read as mojibake (e.g. 'MisÃ©rables'); prefer the original GroupLens file",
                path,
            )
        except UnicodeDecodeError:
            pass
    return read_text(path, "latin-1")


def _ratings(path: Path, sep: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    text = _read_latin1(path)
    table = read_delimited_text(text, path, sep, ["user", "item", "rating", "timestamp"])

    def line_of(i: int) -> dict:
        return {"line": i + 1}

    users = to_int64(table["user"], path, "user id", line_of)
    items = to_int64(table["item"], path, "item id", line_of)
    ratings = to_int64(table["rating"], path, "rating", line_of)
    ts = to_int64(table["timestamp"], path, "timestamp", line_of)
    lines = np.arange(1, len(users) + 1, dtype=np.int64)
    return users, items, ratings, ts, lines


def load_ml100k(path: str | os.PathLike | None, items_path: str | os.PathLike | None = None) -> RawInteractions:
    folder = resolve_path("ml-100k", path)
    data_file = folder / "u.data"
    users, items, ratings, ts, lines = _ratings(data_file, "\t")
    items_file = Path(items_path) if items_path else folder / "u.item"
    genres = ML100K_GENRES
    if (folder / "u.genre").is_file():
        names = [ln.split("|")[0] for ln in read_text(folder / "u.genre", "latin-1").splitlines() if ln.strip()]
        if len(names) == len(ML100K_GENRES):
            genres = names
    text = _read_latin1(items_file)
    raw_ids, titles, release, video, imdb, item_genres, item_lines = [], [], [], [], [], [], []
    for i, line in enumerate(text.rstrip("\r\n").split("\n")):
        parts = _split_item_line(line, "|", 5 + len(genres), items_file, i + 1)
        flags = parts[5:]
        if any(f not in {"0", "1"} for f in flags):
            raise DataFormatError(f"genre flags must be 0/1, got {flags}", file=items_file, line=i + 1, field="genres")
        raw_ids.append(str(int(parts[0])))
        titles.append(parts[1].strip())
        release.append(parts[2])
        video.append(parts[3])
        imdb.append(parts[4])
        item_genres.append([g for g, f in zip(genres, flags) if f == "1"])
        item_lines.append(i + 1)
    from datasets import List, Value

    table = ItemsTable(
        file=str(items_file),
        raw_ids=raw_ids,
        titles=titles,
        metadata={"release_date": release, "video_release_date": video, "imdb_url": imdb, "genres": item_genres},
        metadata_features={
            "release_date": Value("string"),
            "video_release_date": Value("string"),
            "imdb_url": Value("string"),
            "genres": List(Value("string")),
        },
        lines=item_lines,
    )
    return RawInteractions.from_columns(
        users, items, ts, lines, [str(data_file)], ratings=ratings, items_table=table
    )


def _split_item_line(line: str, sep: str, expected: int, items_file: Path, lineno: int) -> list[str]:
    """Split one MovieLens item-file line, checking the field count and the integer movie id."""
    line = line.rstrip("\r")
    parts = line.split(sep)
    if len(parts) != expected:
        kind = "too few" if len(parts) < expected else "too many"
        raise DataFormatError(
            f"{kind} fields: expected {expected} separated by '{sep}', got {len(parts)}: {line[:80]!r}",
            file=items_file,
            line=lineno,
        )
    if not parts[0].strip().isdigit():
        raise DataFormatError(f"expected an integer, got {parts[0]!r}", file=items_file, line=lineno, field="movie id")
    return parts


def load_ml1m(path: str | os.PathLike | None, items_path: str | os.PathLike | None = None) -> RawInteractions:
    folder = resolve_path("ml-1m", path)
    data_file = folder / "ratings.dat"
    users, items, ratings, ts, lines = _ratings(data_file, "::")
    items_file = Path(items_path) if items_path else folder / "movies.dat"
    text = _read_latin1(items_file)
    raw_ids, titles, item_genres, item_lines = [], [], [], []
    for i, line in enumerate(text.rstrip("\r\n").split("\n")):
        parts = _split_item_line(line, "::", 3, items_file, i + 1)
        raw_ids.append(str(int(parts[0])))
        titles.append(parts[1].strip())
        item_genres.append([g for g in parts[2].split("|") if g])
        item_lines.append(i + 1)
    from datasets import List, Value

    table = ItemsTable(
        file=str(items_file),
        raw_ids=raw_ids,
        titles=titles,
        metadata={"genres": item_genres},
        metadata_features={"genres": List(Value("string"))},
        lines=item_lines,
    )
    return RawInteractions.from_columns(
        users,
        items,
        ts,
        lines,
        [str(data_file)],
        ratings=ratings,
        items_table=table,
        load_report=Counter(),
    )
