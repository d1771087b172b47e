"""Stage-2 training overhead of DELRec vs a plain TRL SFTTrainer + LoRA, side by side in one run, and peak memory.

    python benchmarks/sft_overhead.py [--model HuggingFaceTB/SmolLM2-135M-Instruct] [--batch 4] [--steps 6]
                                      [--rounds 2] [--rss-batch 8]

Both runs use the same LLM, LoRA settings, batch size and prompt-completion rows (20 candidates, 10 history titles).
"ours" is ``DELRecSFTTrainer`` on the LLM carrying the soft prompt (K placeholder tokens embedded by
``SoftPromptEmbedding``); "plain" is ``trl.SFTTrainer(peft_config=LoraConfig)`` on the untouched LLM, with the K
placeholders replaced by K ordinary tokens so the sequences have the same length. The two alternate for --rounds
rounds; the step time is the median over all steps after the first of each run. Peak RSS is measured in a fresh
child process that loads the LLM and runs stage 2 at --rss-batch (the whole process: weights, activations, optimizer).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch


def make_data(model, titles, n: int, candidates: int, seed: int = 0):
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        hist = rng.sample(range(1, len(titles)), 10)
        cands = rng.sample([i for i in range(1, len(titles)) if i not in hist], candidates)
        rows.append({"prompt": model.format_prompt([titles[i] for i in hist], [titles[i] for i in cands]),
                     "completion": model.format_completion(titles[cands[0]])})
    return rows


class StepTimer:
    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class _CB(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                timer._t = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                timer.times.append(time.perf_counter() - timer._t)

        self.times: list[float] = []
        self.callback = _CB()


def run_once(kind: str, model_id: str, batch: int, steps: int, soft_tokens: int, threads: int,
             checkpointing: bool = False) -> list[float]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    import hf_delrec  # noqa: F401
    from hf_delrec.backbones import load_backbone
    from hf_delrec.models.delrec import DELRec, DELRecConfig
    from hf_delrec.models.soft_prompt import SoftPrompt
    from hf_delrec.trainers.sft_config import DELRecSFTConfig
    from hf_delrec.trainers.sft_trainer import DELRecSFTTrainer

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from scoring import synthetic_titles

    titles = synthetic_titles(1600)
    llm, tok = load_backbone(model_id, dtype="float32")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    prompt = SoftPrompt.for_llm(llm, num_soft_tokens=soft_tokens)
    config = DELRecConfig(base_model_name_or_path=model_id, num_candidates=20)
    if kind == "ours":
        model = DELRec.from_parts(config, llm, tok, soft_prompt=prompt, item_titles=titles)
        rows = make_data(model, titles, batch * steps, 20)
    else:
        # Same text with the placeholders swapped for ordinary tokens: same lengths, no soft prompt module.
        model = DELRec.from_parts(config, llm, tok, soft_prompt=prompt, item_titles=titles)
        rows = make_data(model, titles, batch * steps, 20)
        for r in rows:
            for t in model.soft_tokens:
                r["prompt"] = r["prompt"].replace(t, " x")
        from hf_delrec.injection import detach_soft_prompt

        detach_soft_prompt(llm)
    common = dict(output_dir=tempfile.mkdtemp(prefix="sft_overhead_"), use_cpu=True, report_to=[], bf16=False,
                  activation_checkpointing=checkpointing, save_strategy="no", logging_steps=1000, max_steps=steps,
                  per_device_train_batch_size=batch, learning_rate=2e-4, disable_tqdm=True, seed=0,
                  shuffle_dataset=False, max_length=1024)
    lora = dict(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    timer = StepTimer()
    ds = Dataset.from_list(rows)
    if kind == "ours":
        args = DELRecSFTConfig(**common, lora_r=8, lora_alpha=16, lora_dropout=0.05,
                               lora_target_modules=["q_proj", "v_proj"])
        trainer = DELRecSFTTrainer(model=llm, args=args, train_dataset=ds, processing_class=tok,
                                   callbacks=[timer.callback])
    else:
        trainer = SFTTrainer(model=llm, args=SFTConfig(**common), train_dataset=ds, processing_class=tok,
                             peft_config=LoraConfig(**lora), callbacks=[timer.callback])
    lengths = [len(x) for x in trainer.train_dataset["input_ids"]]
    trainer.train()
    return timer.times, statistics.mean(lengths)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--model", default="HuggingFaceTB/SmolLM2-135M-Instruct")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--soft-tokens", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rss-batch", type=int, default=8)
    p.add_argument("--rss-steps", type=int, default=3)
    p.add_argument("--activation-checkpointing", action="store_true",
                   help="recompute activations in the backward pass (both trainers): less memory, more time")
    p.add_argument("--rss-only", action="store_true", help="skip the timed rounds, measure peak RSS only")
    p.add_argument("--child", choices=["ours", "plain"], default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        times, length = run_once(args.child, args.model, args.batch, args.steps, args.soft_tokens, args.threads,
                                 args.activation_checkpointing)
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"times": times, "mean_length": length, "peak_rss_gb": peak_kb / 1024**2}))
        return 0

    def child(kind, batch, steps):
        cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--model", args.model, "--batch",
               str(batch), "--steps", str(steps), "--soft-tokens", str(args.soft_tokens), "--threads",
               str(args.threads)] + (["--activation-checkpointing"] if args.activation_checkpointing else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    per = {"plain": [], "ours": []}
    lengths = {}
    for _ in range(0 if args.rss_only else args.rounds):
        for kind in ("plain", "ours"):
            res = child(kind, args.batch, args.steps)
            per[kind] += res["times"][1:]  # the first step pays one-off costs
            lengths[kind] = res["mean_length"]
    rss = child("ours", args.rss_batch, args.rss_steps)
    rss_plain = child("plain", args.rss_batch, args.rss_steps)
    ckpt = "on" if args.activation_checkpointing else "off"
    if not args.rss_only:
        med = {k: statistics.median(v) for k, v in per.items()}
        print(f"model {args.model} | batch {args.batch} | {args.steps} steps x {args.rounds} rounds per trainer | "
              f"mean sequence {lengths['ours']:.0f} tokens (ours) / {lengths['plain']:.0f} (plain) | threads {args.threads}")
        print(f"{'trainer':<40}{'median s/step':>14}{'steps timed':>13}")
        print(f"{'plain SFTTrainer + LoRA':<40}{med['plain']:>14.3f}{len(per['plain']):>13}")
        print(f"{'DELRec stage 2 (soft prompt + LoRA)':<40}{med['ours']:>14.3f}{len(per['ours']):>13}")
        print(f"step time ours / plain: {med['ours'] / med['plain']:.3f}   (goal <= 1.1)")
    print(f"peak RSS of stage 2 at batch {args.rss_batch} (activation checkpointing {ckpt}): ours {rss['peak_rss_gb']:.2f} GB, plain "
          f"{rss_plain['peak_rss_gb']:.2f} GB   (goal <= 4 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
