"""Candidate-scoring throughput, side by side in one run: users/s of

  ours            full-title log-likelihood, prompt run once, all C titles packed after it (hf_delrec.scoring)
  first-sub-word  the paper's verbaliser: one forward, log-prob of each title's first token (ties possible)
  naive batched   one forward per candidate (prompt + title re-encoded for every candidate), C rows in one batch
  naive           one forward per candidate, one at a time

    python benchmarks/scoring.py [--model HuggingFaceTB/SmolLM2-135M-Instruct] [--data PREPARED_DIR]
                                 [--users 8] [--candidates 20] [--soft-tokens 20] [--repeats 5]

Titles and histories come from a prepared dataset when --data is given, else from a fixed synthetic catalogue with
titles of MovieLens length. Each method scores the same prompts; medians of --repeats runs are reported (after one
warm-up run), plus the ratios the goals are stated in (ours <= 2x first-sub-word cost; >= 5x faster than naive).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import torch


def synthetic_titles(n: int, seed: int = 0) -> list[str]:
    words = ("Story Night Man Love House Dead City Blue Dark Star Last King Return Secret Wild Heart Time Life Road "
             "Girl Boy War Dream Game Ghost Fire River Moon Sun Little Big Lost Red White Black").split()
    rng = random.Random(seed)
    return [""] + [f"{' '.join(rng.sample(words, rng.randint(1, 4)))} ({rng.randint(1930, 1998)})" for _ in range(n)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    p.add_argument("--data", default=None, help="prepared dataset directory (real titles/histories)")
    p.add_argument("--users", type=int, default=8, help="users (prompts) per timed run")
    p.add_argument("--batch", type=int, default=4, help="prompts per scoring batch (ours / first-sub-word)")
    p.add_argument("--candidates", type=int, default=20)
    p.add_argument("--soft-tokens", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-naive-single", action="store_true", help="skip the slowest (one-at-a-time) method")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    import hf_delrec  # noqa: F401
    from hf_delrec.backbones import load_backbone
    from hf_delrec.models.delrec import DELRec, DELRecConfig
    from hf_delrec.models.soft_prompt import SoftPrompt
    from hf_delrec.scoring import collate_scoring_features, encode_scoring_example, score_candidates

    llm, tok = load_backbone(args.model, dtype="float32")
    llm.eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    prompt = SoftPrompt.for_llm(llm, num_soft_tokens=args.soft_tokens) if args.soft_tokens else None
    rng = random.Random(0)
    if args.data:
        from hf_delrec.data import load_prepared

        prepared = load_prepared(args.data)
        titles = prepared.titles
        rows = [r for r in prepared.examples["test"]][: args.users]
        users = [(list(r["history"]), list(r["candidates"])[: args.candidates]) for r in rows]
    else:
        titles = synthetic_titles(1600)
        users = [(rng.sample(range(1, 1600), 10), rng.sample(range(1, 1600), args.candidates))
                 for _ in range(args.users)]
    config = DELRecConfig(base_model_name_or_path=args.model, num_candidates=args.candidates)
    model = DELRec.from_parts(config, llm, tok, soft_prompt=prompt, item_titles=titles)
    prompts = [model.format_prompt([titles[i] for i in h], [titles[i] for i in c]) for h, c in users]
    answers = [[model.format_completion(titles[i]) for i in c] for _, c in users]
    ph = tok.convert_tokens_to_ids(model.soft_tokens) if model.soft_tokens else []
    feats = [encode_scoring_example(tok, p, a, placeholder_ids=ph) for p, a in zip(prompts, answers)]
    prompt_len = statistics.mean(len(f["prompt_input_ids"]) for f in feats)
    title_len = statistics.mean(len(t) for f in feats for t in f["candidate_input_ids"])

    def run_ours(method):
        out = []
        for s in range(0, len(feats), args.batch):
            batch = collate_scoring_features(feats[s : s + args.batch], tok.pad_token_id, "left")
            out.append(score_candidates(llm, **batch, method=method))
        return torch.cat(out)

    def naive_rows(f):
        seqs = [f["prompt_input_ids"] + t for t in f["candidate_input_ids"]]
        return seqs, len(f["prompt_input_ids"])

    def naive_score(seqs, plen):
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), tok.pad_token_id)
        mask = torch.zeros_like(ids)
        for i, s in enumerate(seqs):  # right padding: the prompt sits at the same positions in every row
            ids[i, : len(s)] = torch.as_tensor(s)
            mask[i, : len(s)] = 1
        logits = llm(input_ids=ids, attention_mask=mask).logits.float().log_softmax(-1)
        scores = []
        for i, s in enumerate(seqs):
            tgt = torch.as_tensor(s[plen:])
            scores.append(logits[i, plen - 1 : len(s) - 1].gather(-1, tgt[:, None]).sum())
        return torch.stack(scores)

    def run_naive_batched():
        return torch.stack([naive_score(*naive_rows(f)) for f in feats])

    def run_naive_single():
        out = []
        for f in feats:
            seqs, plen = naive_rows(f)
            out.append(torch.cat([naive_score([s], plen) for s in seqs]))
        return torch.stack(out)

    methods = {"ours (full title, shared prompt)": lambda: run_ours("full_title"),
               "first-sub-word (1 forward)": lambda: run_ours("first_subword"),
               "naive, batched per user": run_naive_batched}
    if not args.skip_naive_single:
        methods["naive, one forward per candidate"] = run_naive_single
    times = {}
    results = {}
    with torch.no_grad():
        for name, fn in methods.items():
            results[name] = fn()  # warm-up (and the scores for the agreement check)
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - t0)
            times[name] = statistics.median(runs)
    ours = results["ours (full title, shared prompt)"]
    agree = max((ours - results[n]).abs().max().item() for n in results if n.startswith("naive"))
    ties_first = sum(len(r) - len(set(r.tolist())) for r in results["first-sub-word (1 forward)"])
    ties_ours = sum(len(r) - len(set(r.tolist())) for r in ours)

    print(f"model {args.model} | {args.users} users x {args.candidates} candidates | prompt {prompt_len:.0f} tokens "
          f"(incl. {args.soft_tokens} soft tokens), title {title_len:.1f} tokens | threads {args.threads} | "
          f"median of {args.repeats}")
    print(f"{'method':<36}{'s/run':>9}{'users/s':>10}")
    for name, t in times.items():
        print(f"{name:<36}{t:>9.3f}{args.users / t:>10.2f}")
    t_ours, t_first = times["ours (full title, shared prompt)"], times["first-sub-word (1 forward)"]
    print(f"ours / first-sub-word cost: {t_ours / t_first:.2f}x   (goal <= 2x)")
    print(f"naive batched / ours: {times['naive, batched per user'] / t_ours:.2f}x faster   (goal >= 5x vs naive)")
    if "naive, one forward per candidate" in times:
        print(f"naive one-at-a-time / ours: {times['naive, one forward per candidate'] / t_ours:.2f}x faster")
    print(f"max |ours - naive| score difference: {agree:.2e} (same log-likelihoods); tied pairs: "
          f"first-sub-word {ties_first}, ours {ties_ours}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
