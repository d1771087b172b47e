"""Recommend items with a trained DELRec model: prints the ranked titles with their scores.

    hf-delrec recommend MODEL --history "Toy Story (1995)" "Heat (1995)" [--k 10] [--candidates ID ...]

MODEL is a directory written by ``hf-delrec sft``/``run`` or a Hub repo id. History items are titles (as in the
catalogue; "Godfather, The (1972)" and "The Godfather (1972)" both work) or item ids. Without --candidates the
whole catalogue is ranked (chunks of the model's num_candidates titles, then a final round over the best ones).
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hf-delrec recommend", description=__doc__.strip().splitlines()[0])
    p.add_argument("model", help="DELRec model directory or Hub repo id")
    p.add_argument("--history", nargs="+", required=True, help="titles (or item ids), oldest first")
    p.add_argument("--k", type=int, default=10, help="how many items to print (default 10)")
    p.add_argument("--candidates", nargs="+", type=int, default=None, help="rank only these item ids")
    p.add_argument("--include-seen", action="store_true", help="allow items of the history in the ranking")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.k < 1:
        print("hf-delrec recommend: --k must be >= 1", file=sys.stderr)
        return 2
    import hf_delrec  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModel

    model = AutoModel.from_pretrained(args.model)
    if not hasattr(model, "recommend"):
        print(f"hf-delrec recommend: {args.model} is a {type(model).__name__}, not a DELRec model", file=sys.stderr)
        return 2
    history = [int(h) if h.isdigit() else h for h in args.history]
    try:
        recs = model.recommend(history, k=args.k, candidates=args.candidates, exclude_seen=not args.include_seen)
    except (KeyError, ValueError) as exc:
        print(f"hf-delrec recommend: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    width = max((len(t) for _, t, _ in recs), default=5)
    print(f"{'rank':>4}  {'item':>6}  {'title':<{width}}  score")
    for r, (item_id, title, score) in enumerate(recs, start=1):
        print(f"{r:>4}  {item_id:>6}  {title:<{width}}  {score:.3f}")
    return 0
