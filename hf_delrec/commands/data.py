"""Prepare a dataset (ml-100k, ml-1m, amazon, steam, interactions) for sequential recommendation, or show its stats.

    hf-delrec data prepare ml-100k --source ../shared/data/ml-100k --output data/ml-100k
    hf-delrec data prepare amazon --source ../shared/data/amazon-beauty-5core --output data/beauty
    hf-delrec data prepare interactions --source events.parquet --user-column uid --item-column sku \\
        --timestamp-column ts --items items.csv --title-column name --output data/shop
    hf-delrec data stats data/ml-100k
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing

from ..utils.io import OutputExistsError


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    from ..data.config import PrepareConfig

    hints = typing.get_type_hints(PrepareConfig)
    for f in dataclasses.fields(PrepareConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        hint = hints[f.name]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is bool:
            parser.add_argument(flag, action="store_true", default=f.default, help=help_text)
            continue
        if origin is typing.Literal:
            parser.add_argument(flag, choices=list(args), default=f.default, help=f"{help_text} (default: {f.default})")
            continue
        base = next((a for a in args if a is not type(None)), hint) if origin is typing.Union else hint
        parser.add_argument(
            flag, type=_nullable(base), default=f.default, metavar=f.name.upper(),
            help=f"{help_text} (default: {f.default})",
        )  # fmt: skip
    # a friendlier alias
    parser.add_argument("--items", dest="items_path", default=argparse.SUPPRESS, help="same as --items-path")


def _nullable(kind):
    def convert(text: str):
        if text.strip().lower() in {"none", "null", ""}:
            return None
        return kind(text)

    convert.__name__ = kind.__name__
    return convert


def build_parser() -> argparse.ArgumentParser:
    from ..data.config import SOURCES

    parser = argparse.ArgumentParser(prog="hf-delrec data", description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    prep = sub.add_parser("prepare", help="load, filter, split leave-one-out, sample candidates, write DIR")
    prep.add_argument("source_name", choices=SOURCES, metavar="SOURCE", help=f"one of {', '.join(SOURCES)}")
    prep.add_argument(
        "--source", dest="source_path", default=None,
        help="file or folder of the raw data (MovieLens: downloaded from GroupLens when omitted and online)",
    )  # fmt: skip
    prep.add_argument("--output", required=True, help="output directory (must not exist unless --overwrite)")
    prep.add_argument("--quiet", action="store_true", help="do not print the statistics")
    _add_config_flags(prep)
    stats = sub.add_parser("stats", help="print the statistics of a prepared dataset")
    stats.add_argument("dir", help="prepared dataset directory")
    stats.add_argument("--json", action="store_true", help="print stats.json as is")
    return parser


def main(argv: list[str]) -> int:
    from ..data import DataError, PrepareConfig, format_stats, load_prepared, prepare_dataset

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.action == "stats":
            ds = load_prepared(args.dir)
            print(json.dumps(ds.stats, indent=2, ensure_ascii=False) if args.json else format_stats(ds.stats))
            return 0
        names = {f.name for f in dataclasses.fields(PrepareConfig)}
        cfg = PrepareConfig(**{k: v for k, v in vars(args).items() if k in names})
        stats = prepare_dataset(args.source_name, args.source_path, args.output, config=cfg)
    except (DataError, OutputExistsError) as exc:
        print(f"hf-delrec data: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(format_stats(stats))
        print(f"written to {args.output}")
    return 0
