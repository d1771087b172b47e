"""Both sides of the Hub round-trip test.

``build_artifacts(workdir)`` runs inside pytest (offline, local files only): it writes every artifact type and the
outputs each one must reproduce (``expected.json``). ``python hub_roundtrip_client.py online|offline WORKDIR`` runs
in a subprocess pointed at the loopback Hub: ``online`` pushes everything with the real clients and pulls it back,
``offline`` (HF_HUB_OFFLINE=1, same HF_HOME) only pulls, from the cache. Both print ``RESULT=<json>``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

BASE = "tester/tiny-llama"
REPOS = {
    "dataset": "tester/toy-seqrec",
    "sasrec": "tester/sasrec",
    "gru4rec": "tester/gru4rec",
    "caser": "tester/caser",
    "bert4rec": "tester/bert4rec",
    "soft_prompt": "tester/delrec-stage1",
    "delrec": "tester/delrec",
    "llmsrec": "tester/llmsrec",
}
HISTORIES = [[1, 2, 3], [4, 5, 6, 7, 8], [9]]
CANDIDATES = [[4, 10, 11, 12], [9, 1, 2, 3], [10, 2, 5, 7]]
TEACHERS = ("sasrec", "gru4rec", "caser", "bert4rec")


# ------------------------------------------------------------------------------------------ probes (both sides)
def teacher_probe(model) -> list:
    import torch

    from hf_delrec.models.sequential_base import pad_left

    with torch.no_grad():
        scores = model.score_all(pad_left(HISTORIES, model.config.max_seq_length))
    return scores[:, 1:].tolist()  # column 0 is padding (-inf)


def delrec_probe(model) -> list:
    return model.score_candidates(HISTORIES, CANDIDATES).tolist()


def llmsrec_probe(model, titles) -> list:
    import torch

    from hf_delrec.models.llmsrec import LLMSRecPromptBuilder

    prompts = LLMSRecPromptBuilder(model.tokenizer, titles, model.config)
    batch = prompts.users(HISTORIES)
    items = prompts.items([i for row in CANDIDATES for i in row])
    items["item_ids"] = torch.tensor(CANDIDATES)
    width = max(len(h) for h in HISTORIES)
    teacher_ids = torch.tensor([[0] * (width - len(h)) + list(h) for h in HISTORIES])
    model.eval()
    with torch.no_grad():
        out = model(**batch, **items, teacher_input_ids=teacher_ids, teacher_attention_mask=(teacher_ids > 0).long())
    return out.logits.tolist()


def max_diff(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    finite = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("inf")
    return float(np.abs(a[finite] - b[finite]).max()) if finite.any() else 0.0


# ------------------------------------------------------------------------------------------ build (pytest side)
def build_artifacts(workdir: Path) -> dict:
    """Every artifact type, small: a prepared dataset (real data layer, synthetic rows) with SASRec predictions,
    four teachers, a tiny Llama base, a stage-1 soft prompt, a full DELRec (soft prompt + LoRA in lora/) and an
    LLM-SRec model whose LLM and teacher are referenced by Hub id."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tiny_models import make_tiny_causal_lm

    from hf_delrec.data import load_prepared, prepare_dataset
    from hf_delrec.evaluation import export_teacher_predictions
    from hf_delrec.models.bert4rec import BERT4RecConfig, BERT4RecModel
    from hf_delrec.models.caser import CaserConfig, CaserModel
    from hf_delrec.models.delrec import DELRec, DELRecConfig
    from hf_delrec.models.gru4rec import GRU4RecConfig, GRU4RecModel
    from hf_delrec.models.llmsrec import LLMSRecConfig, LLMSRecModel
    from hf_delrec.models.sasrec import SASRecConfig, SASRecModel
    from hf_delrec.models.soft_prompt import SoftPrompt

    rng = random.Random(0)
    raw = workdir / "raw"
    raw.mkdir(parents=True)
    with open(raw / "interactions.csv", "w") as fh:
        fh.write("user_id,item_id,timestamp\n")
        for user in range(1, 16):
            for k, item in enumerate(rng.sample(range(1, 31), rng.randint(4, 9))):
                fh.write(f"u{user},i{item},{1_000_000 + 10 * k + user}\n")
    with open(raw / "items.csv", "w") as fh:
        fh.write("item_id,title\n")
        for item in range(1, 31):
            fh.write(f'i{item},"movie {item} ( 19{80 + item % 20} )"\n')
    data_dir = workdir / "data"
    prepare_dataset("interactions", raw / "interactions.csv", data_dir, items_path=str(raw / "items.csv"),
                    num_negatives=6, num_candidates=4, name="toy-seqrec")
    prepared = load_prepared(data_dir)
    n, fp = prepared.num_items, prepared.catalogue_fingerprint
    expected: dict = {"repos": REPOS, "data_dir": str(data_dir), "teachers": {}}

    shared = dict(num_items=n, hidden_size=16, catalogue_fingerprint=fp)
    configs = {
        "sasrec": (SASRecModel, SASRecConfig(max_seq_length=8, num_attention_heads=2, intermediate_size=32, **shared)),
        "gru4rec": (GRU4RecModel, GRU4RecConfig(max_seq_length=8, **shared)),
        "caser": (CaserModel, CaserConfig(max_seq_length=5, num_horizontal_filters=4, num_vertical_filters=2,
                                          max_filter_height=3, **shared)),
        "bert4rec": (BERT4RecModel, BERT4RecConfig(max_seq_length=8, num_attention_heads=2, intermediate_size=32,
                                                   **shared)),
    }
    teachers = {}
    for name, (cls, config) in configs.items():
        torch.manual_seed(1)
        model = cls(config).eval()
        teachers[name] = model
        path = workdir / name
        model.save_pretrained(path)
        (path / "eval_results.json").write_text(json.dumps({"test": {"HR@10": 0.5 + len(name) / 100, "NDCG@10": 0.25}}))
        expected["teachers"][name] = {"dir": str(path), "probe": teacher_probe(model)}
    export_teacher_predictions(teachers["sasrec"], prepared, data_dir / "teacher_predictions" / "sasrec", k=5,
                               splits=("train",))

    base_dir = workdir / "tiny-llama"
    llm, tok = make_tiny_causal_lm(base_dir, seed=0)
    expected["base_dir"] = str(base_dir)

    torch.manual_seed(2)
    prompt = SoftPrompt.for_llm(llm, tok, num_soft_tokens=3, base_model_name_or_path=BASE,
                                teacher_name_or_path=REPOS["sasrec"], teacher_model_type="delrec_sasrec",
                                dataset=REPOS["dataset"])
    with torch.no_grad():
        prompt.weight.normal_(0, 0.5)
    sp_dir = workdir / "soft_prompt"
    prompt.save_pretrained(sp_dir)
    tok.save_pretrained(sp_dir)
    (sp_dir / "distill_results.json").write_text(json.dumps({"eval_HR@1": 0.3, "eval_NDCG@5": 0.4}))
    expected["soft_prompt"] = {"dir": str(sp_dir), "weight": prompt.weight.tolist()}

    delrec_llm, delrec_tok = make_tiny_causal_lm(None, seed=0)
    config = DELRecConfig(base_model_name_or_path=BASE, teacher_name="SASRec", teacher_name_or_path=REPOS["sasrec"],
                          soft_prompt_name_or_path=REPOS["soft_prompt"], dataset=REPOS["dataset"], num_candidates=4,
                          max_history_items=5, num_items=n, catalogue_fingerprint=fp)
    model = DELRec.from_parts(config, delrec_llm, delrec_tok, soft_prompt=prompt, item_titles=prepared.titles)
    probe_without_lora = delrec_probe(model.eval())
    torch.manual_seed(3)
    model.llm = get_peft_model(model.llm, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                                     init_lora_weights=False))  # non-zero B: LoRA changes outputs
    model.eval()
    delrec_dir = workdir / "delrec"
    model.save_pretrained(delrec_dir)
    (delrec_dir / "sft_results.json").write_text(json.dumps({"stage": "delrec_stage2_sft", "learning_rate": 2e-4,
                                                             "test": {"HR@1": 0.25, "NDCG@5": 0.5}}))
    expected["delrec"] = {"dir": str(delrec_dir), "probe": delrec_probe(model), "probe_without_lora": probe_without_lora}

    llmsrec_llm, llmsrec_tok = make_tiny_causal_lm(None, seed=0)
    torch.manual_seed(4)
    lcfg = LLMSRecConfig(base_model_name_or_path=BASE, teacher_name_or_path=REPOS["sasrec"], llm_hidden_size=32,
                         teacher_hidden_size=16, num_items=n, projection_dim=8, head_hidden_size=16, cf_hidden_size=8,
                         max_history_items=3, teacher_max_seq_length=8, catalogue_fingerprint=fp)
    lmodel = LLMSRecModel(lcfg).attach(llm=llmsrec_llm, tokenizer=llmsrec_tok, teacher=teachers["sasrec"],
                                       init_out_tokens=True)
    llmsrec_dir = workdir / "llmsrec"
    lmodel.save_pretrained(llmsrec_dir)
    expected["llmsrec"] = {"dir": str(llmsrec_dir), "probe": llmsrec_probe(lmodel, prepared.titles)}
    (workdir / "expected.json").write_text(json.dumps(expected))
    return expected


# ------------------------------------------------------------------------------------------ client (subprocess)
def _push_all(expected: dict) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_delrec import cli, hub

    urls = {}
    # the dataset through the library, one teacher through the CLI verb, the rest through hub.push_to_hub
    urls["dataset"] = hub.push_to_hub(expected["data_dir"], REPOS["dataset"], private=True,
                                      source_licence="synthetic rows written by the test (no restrictions)")
    assert cli.main(["push", expected["teachers"]["sasrec"]["dir"], "--repo-id", REPOS["sasrec"],
                     "--dataset", REPOS["dataset"], "--commit-message", "teacher via CLI"]) == 0
    for name in TEACHERS[1:]:
        urls[name] = hub.push_to_hub(expected["teachers"][name]["dir"], REPOS[name], dataset=REPOS["dataset"])
    base = AutoModelForCausalLM.from_pretrained(expected["base_dir"])  # the LLM travels the transformers way
    base.push_to_hub(BASE)
    AutoTokenizer.from_pretrained(expected["base_dir"]).push_to_hub(BASE)
    for name in ("soft_prompt", "delrec"):
        urls[name] = hub.push_to_hub(expected[name]["dir"], REPOS[name])
    # the end-of-run push of a recipe with `push_to_hub: true` (TrainingArguments fields)
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=expected["llmsrec"]["dir"] + "-trainer", push_to_hub=True, report_to=[],
                             hub_model_id=REPOS["llmsrec"], use_cpu=True)
    urls["llmsrec"] = hub.push_after_training(expected["llmsrec"]["dir"], args, dataset=REPOS["dataset"])
    return urls


def _pull_all(expected: dict) -> dict:
    import torch
    from datasets import load_dataset, load_from_disk
    from huggingface_hub import DatasetCard, ModelCard
    from transformers import AutoModel

    from hf_delrec import hub
    from hf_delrec.data import load_prepared

    out: dict = {}
    data_dir = Path(expected["data_dir"])
    local = {"items": load_from_disk(str(data_dir / "items")), "examples": load_from_disk(str(data_dir / "examples")),
             "teacher_predictions_sasrec": load_from_disk(str(data_dir / "teacher_predictions" / "sasrec"))}
    same = {}
    for config, loc in local.items():
        remote = load_dataset(REPOS["dataset"], config)
        if config == "items":
            same[config] = list(remote) == ["train"] and remote["train"].to_list() == loc.to_list() \
                and remote["train"].features == loc.features
        else:
            same[config] = set(remote) == set(loc) and all(
                remote[s].to_list() == loc[s].to_list() and remote[s].features == loc[s].features for s in loc)
    out["load_dataset_equal"] = same
    mine, theirs = load_prepared(data_dir), hub.load_prepared_from_hub(REPOS["dataset"])
    out["prepared_equal"] = {
        "items": theirs.items.to_list() == mine.items.to_list(),
        "examples": all(theirs.examples[s].to_list() == mine.examples[s].to_list() for s in mine.examples),
        "stats": theirs.stats == hub.public_stats(mine.stats),
        "fingerprint": theirs.catalogue_fingerprint == mine.catalogue_fingerprint,
        "titles": theirs.titles == mine.titles,
        "teacher_info": (theirs.path / "teacher_predictions" / "sasrec" / "teacher_info.json").is_file(),
    }
    card = DatasetCard.load(REPOS["dataset"], repo_type="dataset")
    out["dataset_card_problems"] = hub.validate_dataset_card(
        str(card), ["examples", "items", "teacher_predictions_sasrec"])

    out["teachers"] = {}
    for name in TEACHERS:
        model = AutoModel.from_pretrained(REPOS[name]).eval()
        out["teachers"][name] = {
            "class": type(model).__name__,
            "diff": max_diff(teacher_probe(model), expected["teachers"][name]["probe"]),
            "card_problems": hub.validate_model_card(str(ModelCard.load(REPOS[name])), "teacher"),
        }
    sp = AutoModel.from_pretrained(REPOS["soft_prompt"])
    out["soft_prompt"] = {"class": type(sp).__name__, "diff": max_diff(sp.weight.tolist(), expected["soft_prompt"]["weight"]),
                          "card_problems": hub.validate_model_card(str(ModelCard.load(REPOS["soft_prompt"])),
                                                                   "soft_prompt")}
    model = AutoModel.from_pretrained(REPOS["delrec"])
    scores = delrec_probe(model)
    out["delrec"] = {"class": type(model).__name__, "has_lora": bool(model.has_lora),
                     "diff": max_diff(scores, expected["delrec"]["probe"]),
                     "diff_to_no_lora": max_diff(scores, expected["delrec"]["probe_without_lora"]),
                     "card_problems": hub.validate_model_card(str(ModelCard.load(REPOS["delrec"])), "delrec")}
    from huggingface_hub import list_repo_files

    if not hub_offline():
        out["delrec"]["files"] = sorted(list_repo_files(REPOS["delrec"]))
    lmodel = AutoModel.from_pretrained(REPOS["llmsrec"]).attach()  # LLM + teacher fetched by their Hub ids
    titles = load_prepared(data_dir).titles
    out["llmsrec"] = {"class": type(lmodel).__name__,
                      "diff": max_diff(llmsrec_probe(lmodel, titles), expected["llmsrec"]["probe"]),
                      "card_problems": hub.validate_model_card(str(ModelCard.load(REPOS["llmsrec"])), "llmsrec")}
    torch.set_num_threads(1)
    return out


def hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    phase, workdir = argv[0], Path(argv[1])
    expected = json.loads((workdir / "expected.json").read_text())
    result = {"offline": hub_offline()}
    if phase == "online":
        result["urls"] = _push_all(expected)
    result.update(_pull_all(expected))
    if phase == "offline":  # repos that were never downloaded: the error must say which and what to do
        from hf_delrec import hub

        for name, call in (("dataset", lambda: hub.load_prepared_from_hub("tester/never-pushed-data")),
                           ("model", lambda: hub.from_pretrained("tester/never-pushed-model"))):
            try:
                call()
                result[f"uncached_{name}"] = "no error"
            except hub.NotCachedError as err:
                result[f"uncached_{name}"] = str(err)
    print("RESULT=" + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
