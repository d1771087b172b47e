"""The README's quick start: a short DELRec run on MovieLens-100K that prints the results table (minutes on 2 cores).

    hf-delrec demo --data DATA_ROOT --output DIR [key=value ...]

Runs ``recipes/quickstart_ml100k.yaml`` with the ML-100K files from DATA_ROOT/ml-100k (the folder holding u.data and
u.item). Extra key=value arguments override the recipe (as for ``hf-delrec run``). Finished stages in DIR are reused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "quickstart_ml100k.yaml"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hf-delrec demo", description=__doc__.strip().splitlines()[0])
    p.add_argument("--data", required=True, help="folder that contains ml-100k/ (with u.data and u.item)")
    p.add_argument("--output", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--recipe", default=str(RECIPE), help="recipe to run (default: the quick-start recipe)")
    p.add_argument("overrides", nargs="*", help="key=value recipe overrides")
    args = p.parse_args(argv)

    source = Path(args.data) / "ml-100k"
    missing = [f for f in ("u.data", "u.item") if not (source / f).is_file()]
    if missing:
        print(
            f"hf-delrec demo: MovieLens-100K not found: {source.absolute()} lacks {', '.join(missing)}.\n"
            f"Download {ML100K_URL} and unzip it into {Path(args.data).absolute()} so that\n"
            f"{(source / 'u.data').absolute()} exists, e.g.:\n"
            f"    mkdir -p {Path(args.data).absolute()} && cd {Path(args.data).absolute()} && "
            f"curl -LO {ML100K_URL} && unzip ml-100k.zip\n"
            "(or run `make demo DATA=/path/to/folder-containing-ml-100k`). The licence of MovieLens forbids "
            "redistribution, so this project does not ship it.",
            file=sys.stderr,
        )
        return 2
    if not Path(args.recipe).is_file():
        print(f"hf-delrec demo: recipe {args.recipe} not found (run from a clone of the repository, or pass "
              "--recipe)", file=sys.stderr)
        return 2
    from . import run

    return run.main([args.recipe, f"data_source={source}", f"output_dir={args.output}", *args.overrides])
