"""Export a teacher's top-k predictions for distillation: hf-delrec export-teacher MODEL_DIR --data DIR [--k 10] [--name NAME]

Writes DATA_DIR/teacher_predictions/NAME/ (DatasetDict: user_id, teacher_topk, teacher_scores per split), each row
computed from that row's history only (strictly before its target).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hf-delrec export-teacher", description=__doc__)
    parser.add_argument("model_dir")
    parser.add_argument("--data", required=True, help="prepared dataset directory; predictions are written inside it")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--name", help="sub-directory name (default: the teacher type, e.g. sasrec)")
    parser.add_argument("--splits", default="train,validation,test")
    parser.add_argument("--keep-seen", action="store_true", help="allow already-seen items in the top-k")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModel

    import hf_delrec  # noqa: F401
    from ..data import load_prepared
    from ..evaluation import CatalogueMismatchError, export_teacher_predictions
    from ..utils.io import OutputExistsError

    try:
        model = AutoModel.from_pretrained(args.model_dir, dtype=torch.float32)
        prepared = load_prepared(args.data)
        name = args.name or model.config.model_type.removeprefix("delrec_")
        out = export_teacher_predictions(
            model,
            prepared,
            Path(args.data) / "teacher_predictions" / name,
            k=args.k,
            splits=[s for s in args.splits.split(",") if s],
            exclude_seen=not args.keep_seen,
            overwrite=args.overwrite,
            name=name,
        )
    except (CatalogueMismatchError, OutputExistsError, ValueError, OSError) as exc:
        print(f"hf-delrec export-teacher: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
