"""Push an artifact directory (prepared dataset, teacher, soft prompt, DELRec, LLM-SRec) to the Hugging Face Hub.

    hf-delrec push DIR --repo-id NAME [--private] [--commit-message MSG]
                   [--base-model ID] [--teacher ID] [--dataset ID] [--license ID] [--source-licence TEXT]
                   [--redistribution-permitted] [--card-only]

The artifact type is detected from DIR's own files. Models get a README.md rendered from hf_delrec/model_cards
(refreshed on every push unless it is hand-written); prepared datasets become one dataset repo with the configs
``examples``, ``items`` and ``teacher_predictions_<name>``. The card is validated before anything is uploaded.
Set HF_TOKEN (or run ``hf auth login``) first; HF_ENDPOINT selects another Hub-compatible server.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-delrec push", description=__doc__.strip().splitlines()[0])
    parser.add_argument("directory", help="artifact directory written by hf-delrec (a model or a prepared dataset)")
    parser.add_argument("--repo-id", required=True, help="target repo, e.g. your-name/delrec-ml100k")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--commit-message", default=None)
    parser.add_argument("--base-model", default=None, help="model card: the base LLM id (default: from config.json)")
    parser.add_argument("--teacher", default=None, help="model card: the teacher repo/id (default: from config.json)")
    parser.add_argument("--dataset", default=None, help="model card: the dataset repo/name (default: from config.json)")
    parser.add_argument("--license", default=None, help="model card: licence id of the weights (default apache-2.0)")
    parser.add_argument("--source-licence", default=None,
                        help="dataset card: licence of the source data (movielens, amazon, steam, or free text)")
    parser.add_argument("--redistribution-permitted", action="store_true",
                        help="dataset: push publicly although the source licence forbids redistribution (you hold "
                        "the provider's permission)")
    parser.add_argument("--card-only", action="store_true",
                        help="only write/validate README.md in DIR (models) or print the card (datasets); no upload")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from .. import hub

    fields = {k: v for k, v in {"base_model": args.base_model, "teacher": args.teacher, "dataset": args.dataset,
                                "license": args.license, "source_licence": args.source_licence,
                                "redistribution_permitted": args.redistribution_permitted}.items() if v}
    try:
        artifact = hub.detect_artifact(args.directory)
        if args.card_only:
            if artifact.kind == "prepared_dataset":
                print(hub.render_dataset_body(artifact.path, args.repo_id, **fields))
                return 0
            readme = hub.write_model_card(artifact.path, args.repo_id, **fields)
            problems = hub.validate_model_card(readme.read_text(encoding="utf-8"), artifact.kind)
            if problems:
                raise hub.CardValidationError(str(readme), problems)
            print(f"wrote {readme} ({artifact.kind})")
            return 0
        url = hub.push_to_hub(artifact.path, args.repo_id, private=args.private, commit_message=args.commit_message,
                              **fields)
    except hub.HubError as err:
        print(f"hf-delrec push: {err}", file=sys.stderr)
        return 1
    print(f"pushed {artifact.kind} {artifact.path} -> {url}")
    return 0
