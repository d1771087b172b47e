"""Evaluate a trained teacher on a prepared dataset: hf-delrec evaluate MODEL_DIR --data DIR --protocol {full,sampled,both}"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hf-delrec evaluate", description=__doc__)
    parser.add_argument("model_dir", help="directory written by train-teacher (config.json + model.safetensors)")
    parser.add_argument("--data", required=True, help="prepared dataset directory (hf-delrec data prepare)")
    parser.add_argument("--protocol", choices=["full", "sampled", "both"], default="both")
    parser.add_argument("--split", choices=["train", "validation", "test"], default="test")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--ks", default="1,5,10", help="cut-offs, comma separated (default 1,5,10)")
    parser.add_argument("--no-exclude-seen", action="store_true", help="keep history items in the full ranking")
    parser.add_argument("--output", help="also write the metrics to this JSON file")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModel

    import hf_delrec  # noqa: F401  (registers the teachers with AutoModel)
    from ..data import load_prepared
    from ..evaluation import CatalogueMismatchError, evaluate_teacher
    from ..utils.io import write_json_atomic

    try:
        ks = tuple(int(k) for k in args.ks.split(","))
        model = AutoModel.from_pretrained(args.model_dir, dtype=torch.float32)
        prepared = load_prepared(args.data)
        metrics = evaluate_teacher(
            model, prepared, args.split, args.protocol, args.batch_size, ks=ks, exclude_seen=not args.no_exclude_seen
        )
    except (CatalogueMismatchError, ValueError, OSError) as exc:
        print(f"hf-delrec evaluate: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"split": args.split, **metrics}, indent=2))
    if args.output:
        write_json_atomic(args.output, {"split": args.split, **metrics})
    return 0
